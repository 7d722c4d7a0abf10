"""The publication register: earlier runs' decisions on the same data, on disk.

Every new publication is decided on top of what the register holds.

Two runs of the same data with different options (site types, time of week, minutes, a
closure, a plan objective) are two publications; their difference can reveal a count the
gate hid in each (issue 11). The register remembers, per dataset (the demand points and
their need), every count cell the gate decided: the demand points it counts, whether it was
shown, and how closely its published figure pins it. A new publication loads those cells
first, frozen (what was shown stays shown, what was hidden stays protected), and the gate's
self-audit (:meth:`analysis.publish._Ledger.verify`) then checks every hidden value against
everything published so far, this run's and earlier runs' together. A cell of the new run
that counts the same points as an earlier one *is* that cell, with its decision.

This is how statistical offices handle repeated tables from one dataset: earlier releases
are constraints on later ones. The price is that a run's output can depend on what was
published before it (a figure shown in a first run may be hidden in a later, different
run, never the other way round for the same figure).

Where: ``$HARMREACH_REGISTER`` (a directory), else ``$XDG_DATA_HOME/harmreach/register``
(``~/.local/share/harmreach/register``). One compressed file per dataset, named by a hash
of the points and their need; it holds point sets as atoms (a label per point and the
atoms of each cell), never a count of people. When the register cannot be read or written
nothing is published (an error says how to fix it): failing open would let a run be
differenced against earlier ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Environment variable naming the register directory.
ENV = "HARMREACH_REGISTER"
#: Seed of the random 64-bit keys that fingerprint sets of demand points.
_SEED = 20261125
#: File format version (a file of another version is set aside, not misread).
VERSION = 1

_lock = threading.RLock()
#: Registers loaded by this process, by file path (the app reuses them between pages).
_open: dict[str, Register] = {}


def directory() -> Path:
    """The register directory (see the module docstring)."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "harmreach" / "register"


def dataset_key(xy: np.ndarray, need: np.ndarray) -> str:
    """A hash naming a dataset: its demand points (to the metre) and their need."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.round(np.asarray(xy, float), 0)).tobytes())
    h.update(np.ascontiguousarray(np.round(np.asarray(need, float), 6)).tobytes())
    return h.hexdigest()[:24]


def point_keys(n: int) -> np.ndarray:
    """Random 64-bit keys per demand point (fixed seed: the same for the same data)."""
    return np.random.default_rng(_SEED).integers(1, 2**63, n, dtype=np.uint64)


@dataclass
class Cell:
    """One decided count: the points it counts, shown or hidden, its published precision."""

    points: np.ndarray  # sorted demand-point indices
    shown: bool
    half: float
    name: str


@dataclass
class Band:
    """A published band: ``lo <= sum(coef * need over points) <= hi``."""

    terms: list[tuple[float, np.ndarray]]
    lo: float
    hi: float


@dataclass
class Register:
    """The decided cells of one dataset (see the module docstring)."""

    path: Path | None
    n_points: int
    cells: list[Cell] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    #: why the register is not on disk (None when it is)
    problem: str | None = None
    _keys: np.ndarray | None = field(default=None, repr=False)

    def __deepcopy__(self, memo: dict) -> Register:
        # a ledger copied for an add-on shares its register (one per dataset)
        return self

    @property
    def keys(self) -> np.ndarray:
        """Random 64-bit keys per demand point (see :func:`point_keys`)."""
        if self._keys is None:
            self._keys = point_keys(self.n_points)
        return self._keys

    def fingerprint(self, points: np.ndarray) -> tuple[int, int]:
        """A set's fingerprint: its points' keys summed (wrapping) and its size."""
        return int(self.keys[points].sum(dtype=np.uint64)), len(points)

    # ------------------------------------------------------------------ file format
    def _save(self) -> None:
        if self.path is None:
            return
        sets = [c.points for c in self.cells] + [p for b in self.bands for _, p in b.terms]
        labels, atoms = _atoms(sets, self.n_points)
        ptr = np.cumsum([0] + [len(a) for a in atoms])
        band_of = np.repeat(np.arange(len(self.bands)), [len(b.terms) for b in self.bands])
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            version=np.array(VERSION),
            n_points=np.array(self.n_points),
            labels=labels,
            ptr=ptr.astype(np.int64),
            atoms=np.concatenate(atoms or [np.zeros(0, np.int32)]).astype(np.int32),
            n_cells=np.array(len(self.cells)),
            shown=np.array([c.shown for c in self.cells], bool),
            half=np.array([c.half for c in self.cells], float),
            names=np.array([c.name for c in self.cells], dtype=str),
            band_of=band_of.astype(np.int64),
            band_coef=np.array([k for b in self.bands for k, _ in b.terms], float),
            band_lo=np.array([b.lo for b in self.bands], float),
            band_hi=np.array([b.hi for b in self.bands], float),
            history=np.array(json.dumps(self.history)),
        )
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(self.path)

    @classmethod
    def _read(cls, path: Path, n_points: int) -> Register:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != VERSION or int(z["n_points"]) != n_points:
                raise ValueError(f"{path}: another format or dataset")
            labels = z["labels"]
            ptr, at = z["ptr"], z["atoms"]
            order = np.argsort(labels, kind="stable")
            starts = np.searchsorted(labels[order], np.arange(int(labels.max(initial=-1)) + 2))

            def pts(j: int) -> np.ndarray:
                a = at[ptr[j] : ptr[j + 1]]
                got = np.concatenate([order[starts[k] : starts[k + 1]] for k in a] or [[]])
                return np.sort(got.astype(np.int64))

            n = int(z["n_cells"])
            reg = cls(path, n_points)
            reg.cells = [
                Cell(pts(j), bool(z["shown"][j]), float(z["half"][j]), str(z["names"][j]))
                for j in range(n)
            ]
            band_of = z["band_of"]
            coef = z["band_coef"]
            for b, (lo, hi) in enumerate(zip(z["band_lo"], z["band_hi"], strict=True)):
                terms = [(float(coef[t]), pts(n + t)) for t in np.flatnonzero(band_of == b)]
                reg.bands.append(Band(terms, float(lo), float(hi)))
            reg.history = json.loads(str(z["history"]))
        return reg

    # ------------------------------------------------------------------ merging
    def merge(self, cells: list[Cell], bands: list[Band], entry: dict | None) -> None:
        """Add decided cells and bands (a set already there keeps a shown decision)."""
        seen = {self.fingerprint(c.points): i for i, c in enumerate(self.cells)}
        for c in cells:
            fp = self.fingerprint(c.points)
            i = seen.get(fp)
            if i is None:
                seen[fp] = len(self.cells)
                self.cells.append(c)
            elif c.shown and not self.cells[i].shown:
                # shown since (by a concurrent run): it is out, so it is shown
                self.cells[i] = c
            elif c.shown and self.cells[i].shown:
                self.cells[i].half = min(self.cells[i].half, c.half)
        have = {_band_key(self, b) for b in self.bands}
        for b in bands:
            k = _band_key(self, b)
            if k not in have:
                have.add(k)
                self.bands.append(b)
        if entry is not None:
            self.history.append(entry)


def _band_key(reg: Register, b: Band) -> tuple:
    return (
        tuple((round(k, 9), reg.fingerprint(p)) for k, p in b.terms),
        round(b.lo, 9),
        round(b.hi, 9),
    )


def _atoms(sets: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A label per point (points in the same sets share one) and each set's labels."""
    rng = np.random.default_rng(_SEED + 1)
    key = rng.integers(1, 2**63, len(sets), dtype=np.uint64)
    tag = np.zeros(n, np.uint64)
    for k, ix in enumerate(sets):
        tag[ix] += key[k]
    _, inv = np.unique(tag, return_inverse=True)
    labels = np.asarray(inv).ravel().astype(np.int32)
    return labels, [np.unique(labels[ix]) for ix in sets]


class _Held(threading.local):
    depth = 0
    fh = None


_held = _Held()


@contextlib.contextmanager
def publishing(reg: Register):  # noqa: ANN201 - a context manager
    """Hold the register for one publication: from loading it to recording the result.

    One publication at a time per dataset: threads of this process (the dashboard's page
    and its prefetcher) and other processes (two commands at once) wait their turn, so
    each is decided on top of every earlier one. On entry, cells another process recorded
    since this one last read the file are merged in. Re-entrant.
    """
    with _lock:
        outer = _held.depth == 0
        if outer and reg.path is not None:
            try:
                fh = open(reg.path.with_suffix(".lock"), "a")  # noqa: SIM115 - held open
            except OSError as e:
                _refuse(reg, e)
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                _reload(reg)
            except BaseException:
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
                raise
            _held.fh = fh
        _held.depth += 1
        try:
            yield reg
        finally:
            _held.depth -= 1
            if outer and _held.fh is not None:
                fcntl.flock(_held.fh, fcntl.LOCK_UN)
                _held.fh.close()
                _held.fh = None


def _reload(reg: Register) -> None:
    """Merge cells recorded on disk since this process last read or wrote the file."""
    if reg.path is None or not reg.path.exists():
        return
    mtime = reg.path.stat().st_mtime_ns
    if mtime == getattr(reg, "_mtime", None):
        return
    try:
        disk = Register._read(reg.path, reg.n_points)
    except Exception as e:  # noqa: BLE001 - any unreadable file stops the run, said so
        # never start afresh on one's own: earlier publications would be forgotten
        _refuse(reg, e)
    reg.merge(disk.cells, disk.bands, None)
    reg.history = disk.history + [h for h in reg.history if h not in disk.history]
    reg._mtime = mtime  # type: ignore[attr-defined]


def _refuse(reg: Register, e: Exception) -> None:
    """Refuse to publish: without its register a run could undo earlier suppression."""
    from harmreach.geo.errors import InputError

    raise InputError(
        f"the publication register {reg.path} cannot be read or written ({e}); without it "
        "this run could be differenced against earlier runs of the same data, so nothing "
        "is published.",
        fix=f"make {reg.path.parent if reg.path else 'the directory'} writable, or set "
        f"{ENV} to a writable directory (and keep using it for these data).",
    )


def open_register(xy: np.ndarray, need: np.ndarray) -> Register:
    """The register of a dataset (empty when nothing was published from it yet).

    Use it inside :func:`publishing`, which brings it up to date with the file.
    """
    n = len(need)
    key = dataset_key(xy, need)
    d = directory()
    path = d / f"{key}.npz"
    with _lock:
        got = _open.get(str(path))
        if got is not None:
            return got
        reg = Register(path, n)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            _refuse(reg, e)
        _open[str(path)] = reg
        return reg


def record(reg: Register, cells: list[Cell], bands: list[Band], what: str, params: dict) -> None:
    """Add a publication's decided cells to its register (hold :func:`publishing`)."""
    entry = {
        "what": what,
        "when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        **{k: str(v) for k, v in params.items()},
    }
    with _lock:
        reg.merge(cells, bands, entry)
        if reg.path is None:
            return
        try:
            reg._save()
            reg._mtime = reg.path.stat().st_mtime_ns  # type: ignore[attr-defined]
        except OSError as e:
            _refuse(reg, e)
