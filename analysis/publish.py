"""The one publishing gate: every number that leaves harmreach passes through here.

Counts of people under the suppression threshold (5) never leave the tool, and neither does
anything that lets them be worked out: totals and their parts, before/after pairs,
consecutive plan steps, points of the coverage curve, the hours of the week, shares whose
counts are hidden. Faces (the command line, the exports, the dashboard, the report map)
display what this module returns and decide nothing themselves.

How it works
------------
Every count the outputs would carry is a *cell* of one ledger, with the additive relations
between cells (``need = covered + beyond`` per area, the areas add up to the county, the
curve's consecutive points differ by the need in between, a plan step adds its need to the
share after the previous one, ...). Differences that are never printed but follow from
printed cells are *virtual* cells. :func:`analysis.disclosure.protect` hides cells until no
hidden cell and no small virtual cell can be worked out from a relation. Then:

- counts are rounded to whole people (or to ``round_to``);
- a share is published (to 0.1 of a percent) only when its numerator and denominator both
  are; otherwise it is a band with its reason (:class:`Headline`): "under 5 people",
  "over 98.2%" (fewer than 5 people outside it), or "hidden" (it would reveal a small count
  elsewhere);
- residents are published only beside a published need (need is shared by residents, so
  residents would otherwise unlock it); ``residents_covered`` is never published;
- the coverage curve is published at 5-minute steps (and at T) only;
- E2SFCA access is published only where the area's need is, and only when every site's
  catchment need (capacity ÷ ratio) is 0 or at least the threshold;
- free-text notes carrying counts are rewritten with the same rules.

Add-ons (what-if, plan, weekly profile, hotspots) are published *on top of* a coverage
publication whose cells are frozen: the same run always publishes the same base figures.
Add-ons accumulate on ``pub`` (a later one never undoes what an earlier one hid); call
them on one ``Published`` per run and session.

Earlier runs of the same data are part of every publication: :mod:`analysis.register`
keeps each decided count cell (its demand points, shown or hidden) per dataset, and a run
loads them first, frozen; a cell counting the same points is that cell, with its
decision. One publication is decided at a time (a lock per register).

Before anything is returned the gate audits itself over the demand points
(:meth:`_Ledger.verify`): every published count is an interval over sums of need at
points; linear programs (HiGHS) give each hidden value's range and that of every small
difference of two nested published sets, and cells are hidden until none is narrower than
the threshold. ``tests/test_audit.py`` repeats this from the outputs themselves (files in
every format and CLI text), independently of this module.

Cost on the demo (one core): about 1 s for a coverage run, 5 s more for the weekly profile
(168 hours × 7 areas of overlapping sets); cache results per settings.

API
---
``coverage(ds, result, *, unsafe=False, round_to=None, gaps=None, hotspots=None,
hotspot_cells=None, hotspot_surface_is_need=False, extra_meta=None) -> Published``
    The base publication: ``.areas`` (GeoDataFrame), ``.table`` (per area + ``ALL``),
    ``.gaps``, ``.sites``, ``.demand`` (no counts of people), ``.curve``, ``.by_type``,
    ``.hotspots``/``.hotspot_cells`` (when given), ``.headlines`` (dict of
    :class:`Headline`: ``need_covered``, ``need_beyond``, ``need_total``, ``backup`` and
    ``by_type:<group>``), ``.legend`` (text explaining bands), ``.notes`` (published
    notes), ``.metadata`` (stamped ``published_by``, ``suppression``), ``.as_dict()``.
``closure(pub, comparison, closed=None, after_covered=None) -> pandas.DataFrame``
    A what-if from :func:`analysis.scenario.compare_runs`, per area and ``ALL``; pass the
    closed site ids and, per demand point, whether it is within reach after the change.
``plan(pub, site_plan, decisions=None, step_need_by_area=None, step_masks=None)``
    ``-> PublishedPlan``: proposed sites step by step (``need_added``,
    ``share_covered_after``) with headlines ``before``/``after``; ``decisions`` (e.g.
    ``layers.proposal_table``) adds columns; :func:`step_need_by_area` and
    :func:`step_masks` (from the proposals' coverage matrix) tell the gate which people
    each step reaches.
``profile(pub, weekly, result, hour_covered=None) -> PublishedProfile``
    The weekly profile per area and overall (``status`` says why a value is not shown),
    the worst hours and need-hours; ``hour_covered`` ((n_demand, 168) bool: an open site
    within reach at each hour) lets every hour be considered (without it, only hours whose
    open sites nest with every other published set).
``sessions(pub, session_plan, length_h) -> PublishedSessions``
    Satellite sessions with need-hours (small ones banded; weekly totals rounded).
``check_threshold(threshold, unsafe)``
    Refuses a threshold under 5 without the unsafe option (the CLI's and the app's check).
``note(pub, text) -> str``
    A free-text note with its counts of people published by the rules.
``count_text(x)`` / ``share_text(x)``
    Text for a published value (``"hidden"`` for a hidden one).

A threshold under 5 is refused unless ``unsafe=True``; it is then stamped on every output
(``metadata["suppression"]`` starts with ``UNSAFE``), and with 0 the metadata says that
nothing is suppressed.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import math
import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from harmreach.analysis import coverage as cov
from harmreach.analysis import register as register_
from harmreach.analysis.disclosure import WarmLP, narrow_targets, protect
from harmreach.analysis.scenario import TYPE_GROUPS, CoverageResult, site_xy
from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.dataset import Dataset
from harmreach.geo.errors import InputError

log = logging.getLogger(__name__)

#: Stamped on the metadata of everything this module publishes (tests check it).
GATE = "harmreach.publish"
#: Stage 1 decides the total's need within each grid minute (the curve) before anything
#: else, so runs at different minutes agree on it; per area too when this is True, which
#: also makes each area's figure at T agree across runs, at a high price in hidden cells
#: (the demo at night lost its headline), so it is off.
STAGE1_PER_AREA = False

#: Stage 1 (need within each grid minute per area) keeps point masks for the self-audit
#: up to this many bytes (areas x grid minutes x points); beyond, only the total's.
STAGE1_MASK_BYTES = 1_500_000_000

#: Minutes at which the coverage curve is published (plus T itself).
CURVE_STEP_MIN = 5
#: Shares are published to 0.1 of a percent.
SHARE_DECIMALS = 3
TOTAL = cov.TOTAL_CODE
#: Status of a value that is not shown in a table with a ``status`` column.
HIDDEN = "hidden"
NOT_SHOWN = "not shown: its open sites overlap other published hours without nesting"


# --------------------------------------------------------------------------- values and text
def count_text(x: float | None) -> str:
    """A published count as text (``hidden`` when not published)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "hidden"
    return f"{x:,.0f}"


def share_text(x: float | None) -> str:
    """A published share (0-1) as a percentage with one decimal (``hidden`` when not)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "hidden"
    return f"{100 * x:.1f}%"


@dataclass
class Headline:
    """One headline figure: its text (a value or a band) and, when banded, why."""

    label: str
    text: str
    value: float | None = None
    why: str = ""

    def __str__(self) -> str:
        """``52.1%``, or ``under 5 people (why)``."""
        return f"{self.text} ({self.why})" if self.why else self.text


def legend(threshold: float) -> str:
    """What the bands mean."""
    t = f"{threshold:g}"
    return (
        f"Counts of people under {t} are never shown. 'under {t} people': the figure is "
        f"above 0 and below {t}. 'over X%': fewer than {t} people are outside the share. "
        "'hidden': shown, it would let a small count elsewhere be worked out. Counts are "
        "rounded to whole people and shares to 0.1 of a percent; a share is shown only "
        "when the counts it comes from are."
    )


def suppression_text(threshold: float, unsafe: bool) -> str:
    """The metadata's ``suppression`` stamp (never claims suppression when it is off)."""
    if threshold <= 0:
        return (
            "UNSAFE: NO SUPPRESSION (--suppress 0 with --unsafe-suppress-below-5): counts "
            "of people of any size are published"
        )
    text = (
        f"counts of people under {threshold:g} are suppressed (null), with secondary "
        "suppression over every published relation (totals, parts, before/after, plan "
        "steps, curve points, hours) so they cannot be worked out; shares only where their "
        "counts are published, else a band"
    )
    if unsafe or threshold < settings.SUPPRESSION_THRESHOLD:
        text = (
            f"UNSAFE: threshold {threshold:g} is under {settings.SUPPRESSION_THRESHOLD} "
            f"(--unsafe-suppress-below-5); {text}"
        )
    return text


def check_threshold(threshold: float, unsafe: bool) -> None:
    """Refuse a threshold under 5 unless the unsafe option is given."""
    if threshold < 0:
        raise InputError("--suppress cannot be negative.", fix="use 5 or more (default 5).")
    if threshold < settings.SUPPRESSION_THRESHOLD and not unsafe:
        raise InputError(
            f"--suppress {threshold:g} would publish counts of people under "
            f"{settings.SUPPRESSION_THRESHOLD}.",
            fix="use 5 or more; if you really must, add --unsafe-suppress-below-5 "
            "(stamped on every output).",
        )


# --------------------------------------------------------------------------- the ledger
class _Ledger:
    """Cells (counts) and the additive relations between them; solved by ``protect``."""

    def __init__(self, threshold: float) -> None:
        self.thr = threshold
        self.values: list[float] = []
        self.virtual: list[bool] = []
        self.names: list[str] = []
        self.groups: list[tuple[int, list[int]]] = []
        self.hidden = np.zeros(0, bool)
        self.frozen = 0
        #: how closely a published figure pins its count (set from the total need: a share
        #: to 0.1 of a percent of it)
        self.precision = 0.5
        #: the demand points each cell counts (when known) and their need: the gate audits
        #: itself over them before publishing (see :meth:`verify`)
        self.need: np.ndarray | None = None
        self.masks: dict[int, np.ndarray] = {}
        #: published bands as facts over points: ([(coefficient, mask)], low, high)
        self.bands: list[tuple[list[tuple[float, np.ndarray]], float, float]] = []
        self.index: dict[str, int] = {}
        #: need covered in an area by a set of sites: one cell per (area, set), whichever
        #: output shows it (the run, a what-if, an hour of the week, one kind of site)
        self.cover: dict[tuple[str, frozenset], int] = {}
        #: the first ``base`` cells are earlier publications' (the register), always frozen
        self.base = 0
        #: how closely a published cell pins its count, where not ``precision`` (register)
        self.half: dict[int, float] = {}
        #: the publication register of these data and its cells by fingerprint
        self.register: register_.Register | None = None
        self.prior: dict[tuple[int, int], int] = {}
        self.n_prior_publications = 0

    def attach(self, reg: register_.Register) -> None:
        """Load what earlier runs published about these data as decided, frozen cells."""
        self.register = reg
        self.n_prior_publications = len(reg.history)
        n_pts = len(self.need) if self.need is not None else reg.n_points
        hidden = []
        for c in reg.cells:
            self._load(c)
            hidden.append(not c.shown)
        for b in reg.bands:
            terms = []
            for k, pts in b.terms:
                m = np.zeros(n_pts, bool)
                m[pts] = True
                terms.append((k, m))
            self.bands.append((terms, b.lo, b.hi))
        self.hidden = np.array(hidden, bool)
        self.base = self.frozen = len(self.values)

    def _load(self, c: register_.Cell) -> int:
        """A register cell as a cell of this ledger (its decision is set by the caller)."""
        pts, n_pts = c.points, len(self.need)
        m = pts
        if len(pts) * 8 > n_pts:  # most points: a boolean mask is the smaller form
            m = np.zeros(n_pts, bool)
            m[pts] = True
        i = self.add(f"register:{c.name}", float(self.need[pts].sum()), mask=m)
        self.half[i] = c.half
        self.prior[self.register.fingerprint(pts)] = i
        return i

    def mask(self, c: int | None) -> np.ndarray | None:
        """Cell ``c``'s demand points as a boolean mask (None when unknown)."""
        m = self.masks.get(c) if c is not None else None
        if m is None or m.dtype == bool:
            return m
        out = np.zeros(len(self.need), bool)
        out[m] = True
        return out

    def points(self, c: int) -> np.ndarray:
        """Indices of the demand points cell ``c`` counts."""
        m = self.masks[c]
        return np.flatnonzero(m) if m.dtype == bool else m

    def record(self, what: str, params: dict) -> None:
        """Add every decided count cell and band to the register of these data."""
        if self.register is None:
            return
        cells = [
            register_.Cell(
                np.asarray(self.points(c), np.int64),
                not bool(self.hidden[c]),
                self.half.get(c, self.precision),
                self.names[c].removeprefix("register:"),
            )
            for c in self.masks
            if not self.virtual[c]
        ]
        bands = [
            register_.Band([(k, np.flatnonzero(m)) for k, m in terms], lo, hi)
            for terms, lo, hi in self.bands
        ]
        register_.record(self.register, cells, bands, what, params)

    def add(
        self, name: str, value: float, virtual: bool = False, mask: np.ndarray | None = None
    ) -> int:
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != bool:
                mask = mask.astype(np.int64)
            if self.prior and len(self.values) >= self.base:
                # counted by an earlier publication: the same cell, with its decision
                pts = np.flatnonzero(mask) if mask.dtype == bool else mask
                same = self.prior.get(self.register.fingerprint(pts))
                if same is not None:
                    self.index[name] = same
                    return same
            self.masks[len(self.values)] = mask
        v = float(value) if np.isfinite(value) else 0.0
        self.values.append(max(v, 0.0))
        self.virtual.append(virtual)
        self.names.append(name)
        self.index[name] = len(self.values) - 1
        return len(self.values) - 1

    def group(self, total: int, parts: list[int]) -> None:
        if parts:
            self.groups.append((total, list(parts)))

    def solve(self, max_rounds: int = 40) -> None:
        n = len(self.values)
        prev = np.zeros(n, bool)
        prev[: len(self.hidden)] = self.hidden
        frz = np.zeros(n, bool)
        frz[: max(self.frozen, self.base)] = True
        self._safe: set[bytes] = set()
        for _ in range(max_rounds):
            self.hidden = protect(
                np.asarray(self.values),
                self.groups,
                self.thr,
                virtual=np.asarray(self.virtual, bool),
                hidden=prev,
                frozen=frz,
                precision=self.precision,
            )
            # cells this solve has decided (shown because frozen cells pin them): never
            # candidates to hide, or the rounds would go back and forth
            self._decided = set(np.flatnonzero(frz).tolist())
            extra = self.verify()
            if extra is None:
                return
            prev = self.hidden.copy()
            if isinstance(extra, list):
                prev[extra] = True
            elif extra < 0:
                # a hidden figure that what is already published pins anyway (an add-on
                # whose earlier cells cannot change): hiding it protects nothing, so it is
                # shown, and decided
                prev[~extra] = False
                frz[~extra] = True
                # a cell shown narrows intervals: targets found safe are checked again
                self._safe = set()
            else:
                prev[extra] = True

    def verify(self) -> list[int] | int | None:
        """Audit the publication over the demand points; cells to hide more, or None.

        A negative return ``~c`` names a hidden cell (not small) that frozen, published
        cells already pin: it is to be shown, since hiding it hides nothing.

        The relations above are what the gate knows in general; the points are what an
        attacker can combine (an area's part of a curve step, of a gap, of a plan step).
        With every published cell an interval (its rounding) over sums of need at points
        (non-negative, merged into atoms of equal membership), linear programs (HiGHS)
        find each hidden cell's range and that of each small difference of two nested
        published cells; one narrower than the threshold is widened by hiding the
        cheapest cell that does so.
        """
        import scipy.sparse as sp

        if self.need is None or not self.masks or self.thr <= 0:
            return None
        n_pts = len(self.need)
        cache = self.__dict__.setdefault("_points_of", {})

        def points(c: int) -> np.ndarray:
            """Indices of the demand points cell ``c`` counts (cached: masks never change)."""
            got = cache.get(c)
            if got is None:
                got = cache[c] = self.points(c)
            return got

        # Sets are compared and merged into atoms by random 64-bit keys summed over their
        # points (a set's fingerprint) or over the sets a point is in (a point's atom):
        # linear in the points, where comparing boolean columns was quadratic. Two
        # different sets share a key with probability about 2^-64.
        rng = np.random.default_rng(20261125)
        key_pt = rng.integers(1, 2**63, n_pts, dtype=np.uint64)

        def fingerprint(ix: np.ndarray) -> tuple[int, int]:
            return int(key_pt[ix].sum(dtype=np.uint64)), len(ix)

        real = [c for c in self.masks if not self.virtual[c]]
        pub_all = [c for c in real if not self.hidden[c]]
        hid = [c for c in real if self.hidden[c]]
        pub_sets: dict[tuple[int, int], int] = {}
        for c in pub_all:
            pub_sets.setdefault(fingerprint(points(c)), c)
        pub = list(pub_sets.values())
        band_sets = [points_ for terms, _, _ in self.bands for _, points_ in terms]
        hid_t = [c for c in hid if fingerprint(points(c)) not in pub_sets]
        all_sets = (
            [points(c) for c in pub]
            + [points(c) for c in hid_t]
            + [np.flatnonzero(m) for m in band_sets]
        )
        key_set = rng.integers(1, 2**63, len(all_sets), dtype=np.uint64)
        tag = np.zeros(n_pts, np.uint64)
        for k, ix in enumerate(all_sets):
            tag[ix] += key_set[k]
        _, inv = np.unique(tag, return_inverse=True)
        inv = np.asarray(inv).ravel()
        n_atoms = int(inv.max()) + 1 if n_pts else 0

        def atoms(ix: np.ndarray) -> np.ndarray:
            return np.unique(inv[ix])

        def rows_of(list_: list[np.ndarray]) -> sp.csr_matrix:
            ats = [atoms(ix) for ix in list_]
            lens = [len(a) for a in ats]
            return sp.csr_matrix(
                (
                    np.ones(sum(lens)),
                    (np.repeat(np.arange(len(ats)), lens), np.concatenate(ats or [[]]).astype(int)),
                ),
                shape=(len(ats), n_atoms),
            )

        a_pub = rows_of([points(c) for c in pub])
        targets: list[tuple[str, sp.csr_matrix, float, list[int]]] = []
        for c, r_ in zip(hid_t, rows_of([points(c) for c in hid_t]), strict=True):
            targets.append(("hidden", r_, self.values[c], [c]))
        # nested published sets whose difference holds a small count (in atoms: a within
        # b when all of a's atoms are b's)
        if len(pub) > 1:
            size = np.asarray(a_pub.sum(axis=1)).ravel()
            inter = (a_pub @ a_pub.T).tocoo()
            vals = np.asarray(self.values)[pub]
            for a, b, k in zip(inter.row, inter.col, inter.data, strict=True):
                if a == b or k != size[a] or size[b] <= size[a]:
                    continue
                d = vals[b] - vals[a]
                if 1e-6 < d < self.thr - 1e-6:
                    targets.append(("difference", a_pub[b] - a_pub[a], d, [pub[a], pub[b]]))
        if not targets:
            return None

        half = self.precision
        band_rows, band_ub = [], []
        for terms, lo_, hi_ in self.bands:
            r_ = sum(k * rows_of([np.flatnonzero(m)]) for k, m in terms)
            if hi_ < np.inf:
                band_rows.append(r_)
                band_ub.append(hi_)
            if lo_ > -np.inf:
                band_rows.append(-r_)
                band_ub.append(-lo_)

        truth = np.bincount(inv, weights=self.need, minlength=n_atoms)
        pub_v = np.asarray(self.values)[pub]
        pub_half = np.array([self.half.get(c, half) for c in pub], float)

        # The programs' variables are the atoms' need and, last, their total t (t = sum).
        # A set holding most atoms is written as t minus its complement: the same
        # constraint, with few coefficients (curve points and areas covered at long
        # minutes hold most atoms; written out in full they made each program dense).
        def sparse_form(m: sp.spmatrix) -> sp.csr_matrix:
            m = sp.csr_matrix(m)
            m.sum_duplicates()
            rows, cols, vals = [], [], []
            for i_ in range(m.shape[0]):
                ix = m.indices[m.indptr[i_] : m.indptr[i_ + 1]]
                dv = m.data[m.indptr[i_] : m.indptr[i_ + 1]]
                if len(ix) * 2 > n_atoms and np.all(dv == dv[0]) and dv[0] != 0:
                    comp = np.setdiff1d(np.arange(n_atoms), ix, assume_unique=True)
                    rows += [i_] * (len(comp) + 1)
                    cols += [*comp.tolist(), n_atoms]
                    vals += [-dv[0]] * len(comp) + [dv[0]]
                else:
                    rows += [i_] * len(ix)
                    cols += ix.tolist()
                    vals += dv.tolist()
            return sp.csr_matrix((vals, (rows, cols)), shape=(m.shape[0], n_atoms + 1))

        a_pub_s = sparse_form(a_pub)
        band_rows_s = [sparse_form(b_) for b_ in band_rows]
        a_eq = sp.csr_matrix(np.append(-np.ones(n_atoms), 1.0)[None, :])
        truth_t = np.append(truth, truth.sum())

        # one program for every check of this round (warm-started, disclosure.WarmLP): a
        # cell hidden on trial has its two rows dropped, then put back
        a_all = sp.vstack([a_pub_s, -a_pub_s, *band_rows_s]).tocsr()
        b_all = np.concatenate([pub_v + pub_half, -np.maximum(pub_v - pub_half, 0.0), band_ub])
        lp = WarmLP(
            a_all if a_all.shape[0] else None,
            b_all if a_all.shape[0] else None,
            a_eq,
            np.zeros(1),
            n=n_atoms + 1,
        )
        row_of = {c: k for k, c in enumerate(pub)}

        def narrow(rows: list[sp.csr_matrix], hidden_more: list[int] = ()) -> dict[int, float]:
            lp.relax([r for c in hidden_more for r in (row_of[c], row_of[c] + len(pub))])
            try:
                return narrow_targets(sparse_form(sp.vstack(rows)), self.thr, known=truth_t, lp=lp)
            finally:
                lp.restore()

        # per atom, the sum of its points' keys (wrapping uint64; np.add.at is slow)
        order = np.argsort(inv, kind="stable")
        starts = np.searchsorted(inv[order], np.arange(n_atoms))
        atom_key = np.add.reduceat(key_pt[order], starts) if n_atoms else key_pt[:0]
        atom_n = np.bincount(inv, minlength=n_atoms)

        def key_of(kind: str, r_: sp.csr_matrix) -> tuple:
            # the fingerprint of the target's points, as a set's (stable across rounds)
            at = r_.indices[r_.data > 0]
            return (kind, int(atom_key[at].sum(dtype=np.uint64)), int(atom_n[at].sum()))

        # hiding more only widens intervals: a target found safe stays safe in this solve
        safe = getattr(self, "_safe", set())
        todo = []
        for kind, r_, true, owners in targets:
            if kind == "hidden" and abs(true) < 1e-9:
                continue
            key = key_of(kind, r_)
            if key not in safe:
                todo.append((key, kind, r_, owners))
        if not todo:
            return None
        bad = narrow([t[2] for t in todo])
        for i, (key, *_rest) in enumerate(todo):
            if i not in bad:
                safe.add(key)
        self._safe = safe
        # every narrow target gets a cell to hide in this one round (hiding more only
        # widens intervals: a later target may already be fixed by an earlier choice)
        chosen: list[int] = []
        show: int | None = None
        frozen = set(range(max(self.frozen, self.base))) | getattr(self, "_decided", set())
        for i in sorted(bad):
            _, kind, r_, owners = todo[i]
            if kind == "difference":
                # two published sets a small count apart: hiding either ends it (no program
                # needed); the next round checks what that leaves
                if not set(owners) & set(chosen):
                    free_ = sorted(
                        (c for c in owners if c not in frozen), key=self.values.__getitem__
                    )
                    if free_:
                        chosen.append(free_[0])
                continue
            if chosen and not narrow([r_], hidden_more=chosen):
                continue
            # overlapping cells first; then any (a complement pins just as well)
            overlap = np.asarray((a_pub @ r_.T).todense()).ravel() > 0
            free = [
                (c, ov)
                for c, ov in zip(pub, overlap, strict=True)
                if c not in frozen and c not in chosen
            ]
            cands = [c for c, ov in sorted(free, key=lambda x: (not x[1], self.values[x[0]]))]
            pick = next((c for c in cands[:10] if not narrow([r_], [*chosen, c])), None)
            if pick is None and cands:
                pick = cands[0]
            if pick is not None:
                chosen.append(pick)
            elif kind == "hidden" and not self.small(owners[0]) and show is None:
                show = ~owners[0]  # pinned by frozen cells alone: known already, so shown
        if chosen:
            return chosen
        return show

    def cover_cell(
        self,
        code: str,
        sites: frozenset,
        name: str,
        value: float,
        mask: np.ndarray | None = None,
    ) -> int:
        """The cell of need in ``code`` within reach of ``sites`` (shared by every output).

        A new set is linked to every set of the same area that holds it or that it holds
        (the difference is need reached by the extra sites), and to the area's need.
        """
        key = (code, frozenset(sites))
        if key in self.cover:
            return self.cover[key]
        c = self.add(name, value, mask=mask)
        for (code2, other), c2 in list(self.cover.items()):
            if code2 != code:
                continue
            if key[1] < other:
                self.group(c2, [c, self.add(f"{name}<{c2}", self.values[c2] - value, True)])
            elif other < key[1]:
                self.group(c, [c2, self.add(f"{name}>{c2}", value - self.values[c2], True)])
        self.cover[key] = c
        n = self.index.get(f"areas:{code}:need")
        if n is not None:
            rest = self.add(f"{name}:beyond", self.values[n] - value, virtual=True)
            self.group(n, [c, rest])
        return c

    def prehide(self, cells: list[int]) -> None:
        """Hide cells before solving (e.g. a count whose share cannot be shown)."""
        n = len(self.values)
        h = np.zeros(n, bool)
        h[: len(self.hidden)] = self.hidden
        h[list(cells)] = True
        self.hidden = h

    def extend(self) -> _Ledger:
        """A copy whose cells are all decided (frozen), for an add-on."""
        new = copy.deepcopy(self)
        new.refresh()
        new.frozen = len(new.values)
        return new

    def refresh(self) -> None:
        """Load cells the register gained since this ledger was made.

        They are other publications of the same data in between, decided and frozen like
        the earlier ones.
        """
        reg = self.register
        if reg is None or self.need is None:
            return
        own = {reg.fingerprint(self.points(c)) for c in self.masks}
        hidden = list(np.asarray(self.hidden, bool)) + [False] * (
            len(self.values) - len(self.hidden)
        )
        for c in reg.cells:
            fp = reg.fingerprint(c.points)
            if fp in own or fp in self.prior:
                continue
            self._load(c)
            own.add(fp)
            hidden.append(not c.shown)
        self.hidden = np.array(hidden, bool)

    def shown(self, i: int) -> bool:
        return not self.hidden[i]

    def small(self, i: int) -> bool:
        v = round(self.values[i], 6)
        return 0 < v < self.thr

    def n_hidden_real(self, start: int = 0) -> int:
        real = ~np.asarray(self.virtual[start:], bool)
        return int((self.hidden[start:] & real).sum())


def _on_register(fn):  # noqa: ANN001, ANN202 - a decorator
    """Publish an add-on holding its run's register (one publication at a time)."""

    @functools.wraps(fn)
    def wrapper(pub, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        reg = pub.ledger.register if pub.ledger is not None else None
        if reg is None:
            return fn(pub, *args, **kwargs)
        with register_.publishing(reg):
            return fn(pub, *args, **kwargs)

    return wrapper


def _data_register(result: CoverageResult) -> register_.Register:
    dem = result.demand
    return register_.open_register(site_xy(dem), dem["need"].to_numpy(float))


def _on_data_register(fn):  # noqa: ANN001, ANN202 - a decorator
    """Publish a run holding the register of its data (one publication at a time)."""

    @functools.wraps(fn)
    def wrapper(ds, result, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        with register_.publishing(_data_register(result)):
            return fn(ds, result, *args, **kwargs)

    return wrapper


def _register_line(led: _Ledger) -> str:
    """What the register added to a publication (the file's name, not the server's path)."""
    if led.register is None:
        return "no register (the points carry no need)"
    name = led.register.path.name if led.register.path is not None else "none"
    return (
        f"{led.n_prior_publications} earlier publication(s) of these data were taken into "
        f"account ({led.base} count cells; register file {name})"
    )


def _play_set(led: _Ledger) -> frozenset | None:
    """The run's sites in play (the set of the base's need covered)."""
    c = led.index.get(f"areas:{TOTAL}:need_covered")
    for (code, sites), cell in led.cover.items():
        if code == TOTAL and cell == c:
            return sites
    return None


def _round_count(x: float, base: float) -> float:
    return float(np.round(x / base) * base)


def _share_headline(
    led: _Ledger,
    label: str,
    num: int,
    den: int,
    comp: int | None,
    round_to: float,
    band: bool = True,
) -> Headline:
    """A share num/den: its value when both counts are published, else a band and why.

    ``band=False``: no band (for shares of overlapping sets, whose bands combine).
    """
    thr = led.thr
    vn, vd = led.values[num], led.values[den]
    if led.shown(num) and led.shown(den):
        val = round(vn / vd, SHARE_DECIMALS) if vd > 0 else float("nan")
        return Headline(label, share_text(val), None if math.isnan(val) else val)
    if not led.shown(den):
        why = (
            f"fewer than {thr:g} people in total"
            if led.small(den)
            else "it would reveal a small count elsewhere"
        )
        if led.shown(num) and band:
            # the count itself is published (e.g. in the table's ALL row): say it, and
            # why its share is not
            return Headline(
                label,
                f"{count_text(_round_count(vn, round_to))} people",
                None,
                f"the share is hidden: the total is hidden, {why}",
            )
        return Headline(label, "hidden", None, why)
    comp_small = comp is not None and led.small(comp)
    if not band:
        why = "a count under the threshold" if led.small(num) else "it would reveal a small count"
        return Headline(label, "hidden", None, why)
    if led.small(num) and not comp_small:
        return Headline(label, f"under {thr:g} people", None, "a count under the threshold")
    if comp_small and not led.small(num) and vd > 0:
        d = _round_count(vd, round_to)
        pct = math.floor(1000 * max(d - thr, 0) / d) / 10 if d > 0 else 0.0
        return Headline(
            label,
            f"over {pct:.1f}%",
            None,
            f"fewer than {thr:g} people are outside it",
        )
    return Headline(label, "hidden", None, "it would reveal a small count elsewhere")


def _check_bands(led: _Ledger, heads: dict, cells: dict[str, tuple[int, int | None]]) -> None:
    """Keep a band only when, with it, nothing hidden is pinned; else show "hidden"."""
    for key, (num, den) in cells.items():
        h = heads.get(key)
        if h is None or not h.text.startswith(("under ", "over ")):
            continue
        m_num = led.mask(num)
        m_den = led.mask(den) if den is not None else None
        if m_num is None:
            continue
        if h.text.startswith("under "):
            fact = ([(1.0, m_num)], 0.0, led.thr)
        elif m_den is not None:
            p = float(h.text.split()[1].rstrip("%")) / 100
            fact = ([(1.0, m_num), (-p, m_den)], 0.0, np.inf)
        else:
            continue
        led.bands.append(fact)
        # a new fact narrows intervals: what the last solve found safe is to be checked again
        led._safe = set()
        if led.verify() is not None:
            led.bands.pop()
            heads[key] = Headline(h.label, "hidden", None, "a band here would pin a small count")


def _count_headline(
    led: _Ledger, label: str, i: int, round_to: float, band: bool = True
) -> Headline:
    """A count, or a band ("under 5 people"; ``band=False`` when its partner is banded)."""
    if led.shown(i):
        v = _round_count(led.values[i], round_to)
        return Headline(label, count_text(v), v)
    if led.small(i) and band:
        return Headline(label, f"under {led.thr:g} people", None, "a count under the threshold")
    return Headline(label, "hidden", None, "it would reveal a small count elsewhere")


# --------------------------------------------------------------------------- the base
@dataclass
class Published:
    """Everything of one coverage run that may leave the tool."""

    areas: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    curve: pd.DataFrame
    by_type: pd.DataFrame
    table: pd.DataFrame
    metadata: dict[str, object]
    headlines: dict[str, Headline]
    legend: str
    notes: list[str]
    threshold: float
    unsafe: bool
    round_to: float
    suppressed_cells: int = 0
    hotspots: gpd.GeoDataFrame | None = None
    hotspot_cells: gpd.GeoDataFrame | None = None
    proposals: gpd.GeoDataFrame | None = None
    hotspot_areas: gpd.GeoDataFrame | None = None
    ledger: _Ledger | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, gpd.GeoDataFrame]:
        """Spatial layers by name (hotspots and proposals only when computed)."""
        out = {"areas": self.areas, "sites": self.sites, "gaps": self.gaps, "demand": self.demand}
        if self.hotspots is not None:
            out["hotspots"] = self.hotspots
        if self.hotspot_cells is not None:
            out["hotspot_cells"] = self.hotspot_cells
        if self.proposals is not None:
            out["proposals"] = self.proposals
        if self.hotspot_areas is not None:
            out["hotspot_areas"] = self.hotspot_areas
        return out

    def count(self, x: float, *, cell: str | None = None) -> float:
        """A published count, rounded (NaN stays NaN)."""
        return x if x != x else _round_count(x, self.round_to)


def _metadata(
    ds: Dataset, result: CoverageResult, thr: float, unsafe: bool, extra: dict | None
) -> dict[str, object]:
    from harmreach import __version__

    meta: dict[str, object] = {
        "generator": f"harmreach {__version__}",
        "generated": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        **result.params.describe(),
        "travel_model": result.model,
        "travel_times_estimated": "estimated" in result.model,
        "need_method": result.need_info.method,
        "data_sources": "; ".join(ds.provenance()),
        "illustrative_inputs": ", ".join(k for k, v in ds.illustrative.items() if v) or "none",
        "published_by": GATE,
        "suppression_threshold": thr,
        "suppression": suppression_text(thr, unsafe),
        "attribution": settings.ATTRIBUTION
        + ("" if "estimated" in result.model else " " + settings.OSM_ATTRIBUTION),
    }
    meta.update(extra or {})
    return meta


def raw_gaps(ds: Dataset, result: CoverageResult) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Gaps of a run before disclosure control (as the dashboard computes them)."""
    from harmreach.analysis.gaps import find_gaps
    from harmreach.analysis.layers import gap_threshold, place_names

    d = result.demand
    play = result.sites[result.sites["in_play"]]
    return find_gaps(
        site_xy(d),
        d["need"].to_numpy(),
        d["residents"].to_numpy(float),
        d["area_code"].to_numpy(),
        d["nearest_min"].to_numpy(),
        result.params.minutes,
        crs=ds.crs,
        min_need=gap_threshold(result),
        sites_xy=site_xy(play) if len(play) else None,
        place=place_names(d),
        areas=ds.areas.set_index("area_code").geometry,
    )


def _curve_minutes(minutes: float) -> list[float]:
    grid = list(range(CURVE_STEP_MIN, settings.CURVE_MAX_MINUTES + 1, CURVE_STEP_MIN))
    return sorted({float(m) for m in grid} | {float(minutes)})


@_on_data_register
def coverage(
    ds: Dataset,
    result: CoverageResult,
    *,
    unsafe: bool = False,
    round_to: float | None = None,
    gaps: tuple[gpd.GeoDataFrame, np.ndarray] | None = None,
    hotspots: gpd.GeoDataFrame | None = None,
    hotspot_cells: gpd.GeoDataFrame | None = None,
    hotspot_surface_is_need: bool = False,
    extra_meta: dict | None = None,
) -> Published:
    """Publish a coverage run: every table, layer, headline and note, disclosure-safe.

    Parameters
    ----------
    ds, result
        The inputs and the raw run (``result.params.suppress`` is the threshold).
    unsafe
        Allow a threshold under 5 (stamped on every output).
    round_to
        Round published counts to a multiple of this (default: whole people).
    gaps
        Raw gaps and each demand point's gap rank (default: computed by :func:`raw_gaps`).
    hotspots, hotspot_cells, hotspot_surface_is_need
        Raw hotspot layers, and whether their need is the run's need surface (then the
        cells add up to the published total).
    extra_meta
        More metadata (e.g. what the hotspots were computed on).
    """
    reg = _data_register(result)
    thr = float(result.params.suppress)
    check_threshold(thr, unsafe)
    base = float(round_to) if round_to else 1.0
    led = _Ledger(thr)
    t = result.table.reset_index(drop=True)
    codes = t["area_code"].astype(str).tolist()
    is_tot = [c == TOTAL for c in codes]
    body = [i for i, x in enumerate(is_tot) if not x]
    has_b = "need_backup" in t.columns
    cols = ["need", "need_covered", "need_uncovered"] + (["need_backup"] if has_b else [])
    cell: dict[tuple[str, str], int] = {}
    play_ids = frozenset(result.sites.loc[result.sites["in_play"], "site_id"].astype(str))
    dem = result.demand
    led.need = dem["need"].to_numpy(float)
    # earlier publications of these data come first, decided (the publication register)
    led.attach(reg)
    pt_area = dem["area_code"].astype(str).to_numpy()
    pt_cov = dem["nearest_min"].to_numpy() <= result.params.minutes
    pt_bk = (
        dem["second_min"].to_numpy() <= result.params.minutes
        if "second_min" in dem.columns
        else np.zeros(len(dem), bool)
    )
    # Stage 1, the same whatever T: each area's need and its need within m minutes for m
    # on the curve's grid, decided and frozen first. Runs at other minutes then agree on
    # these figures (one run's hidden curve point is not another run's headline), and an
    # area's need within T is its stage-1 figure when T is on the grid.
    near = dem["nearest_min"].to_numpy()
    grid = [float(m) for m in range(CURVE_STEP_MIN, settings.CURVE_MAX_MINUTES + 1, CURVE_STEP_MIN)]
    masks_ok = len(codes) * len(grid) * len(dem) <= STAGE1_MASK_BYTES
    reach_cell: dict[tuple[str, float], int] = {}
    area_mask: dict[str, np.ndarray] = {}
    for i, code in enumerate(codes):
        am = np.ones(len(dem), bool) if code == TOTAL else pt_area == code
        area_mask[code] = am
        cell[(code, "need")] = led.add(f"areas:{code}:need", t.at[i, "need"], mask=am)
        if code != TOTAL and not STAGE1_PER_AREA:
            continue
        for m in grid:
            within = am & (near <= m)
            reach_cell[(code, m)] = led.add(
                f"reach:{code}:{m:g}",
                float(led.need[within].sum()),
                mask=within if (masks_ok or code == TOTAL) else None,
            )
    for code in codes:
        if (code, grid[0]) not in reach_cell:
            continue
        prev_ = None
        for m in grid:
            if prev_ is not None:
                step = led.add(
                    f"reach:{code}:{m:g}:step",
                    led.values[reach_cell[(code, m)]] - led.values[prev_],
                    virtual=True,
                )
                led.group(reach_cell[(code, m)], [prev_, step])
            prev_ = reach_cell[(code, m)]
        rest = led.add(
            f"reach:{code}:beyond", led.values[cell[(code, "need")]] - led.values[prev_], True
        )
        led.group(cell[(code, "need")], [prev_, rest])
    body_codes = [codes[i] for i in body]
    if TOTAL in codes:
        led.group(cell[(TOTAL, "need")], [cell[(c, "need")] for c in body_codes])
        if STAGE1_PER_AREA:
            for m in grid:
                led.group(reach_cell[(TOTAL, m)], [reach_cell[(c, m)] for c in body_codes])
    # how closely a published figure pins its count: a share to 0.1 of a percent of the
    # smallest area's need
    area_needs = [
        led.values[cell[(c_, "need")]] for c_ in codes if led.values[cell[(c_, "need")]] > 0
    ]
    led.precision = max(min(0.5 * base, 0.0005 * min(area_needs, default=0.0)), 1e-3)
    led.solve()
    led.frozen = len(led.values)  # stage 1 is decided: stage 2 cannot change it
    T = float(result.params.minutes)
    for i, code in enumerate(codes):
        am = area_mask[code]
        part = {"need": am, "need_uncovered": am & ~pt_cov, "need_backup": am & pt_bk}
        for c in cols:
            if c in ("need_covered", "need"):
                continue
            cell[(code, c)] = led.add(f"areas:{code}:{c}", t.at[i, c], mask=part[c])
        if (code, T) in reach_cell:
            c_ = reach_cell[(code, T)]
            led.cover[(code, frozenset(play_ids))] = c_
            led.index[f"areas:{code}:need_covered"] = c_
            cell[(code, "need_covered")] = c_
        else:
            cell[(code, "need_covered")] = led.cover_cell(
                code, play_ids, f"areas:{code}:need_covered", t.at[i, "need_covered"], am & pt_cov
            )
            # between the grid's neighbours of T
            lo_m = max((m for m in grid if m < T and (code, m) in reach_cell), default=None)
            hi_m = min((m for m in grid if m > T and (code, m) in reach_cell), default=None)
            if lo_m is not None:
                d_ = led.add(
                    f"reach:{code}:{lo_m:g}-T",
                    led.values[cell[(code, "need_covered")]] - led.values[reach_cell[(code, lo_m)]],
                    virtual=True,
                )
                led.group(cell[(code, "need_covered")], [reach_cell[(code, lo_m)], d_])
            if hi_m is not None:
                d_ = led.add(
                    f"reach:{code}:T-{hi_m:g}",
                    led.values[reach_cell[(code, hi_m)]] - led.values[cell[(code, "need_covered")]],
                    virtual=True,
                )
                led.group(reach_cell[(code, hi_m)], [cell[(code, "need_covered")], d_])
        if has_b:
            cell[(code, "single")] = led.add(
                f"areas:{code}:covered_single",
                t.at[i, "need_covered"] - t.at[i, "need_backup"],
                virtual=True,
            )
    for code in codes:
        led.group(
            cell[(code, "need")], [cell[(code, "need_covered")], cell[(code, "need_uncovered")]]
        )
        if has_b:
            led.group(
                cell[(code, "need_covered")], [cell[(code, "need_backup")], cell[(code, "single")]]
            )
    for c in [*cols, "single"] if has_b else cols:
        led.group(cell[(TOTAL, c)], [cell[(codes[i], c)] for i in body])
    n_all, c_all, u_all = (cell[(TOTAL, c)] for c in ("need", "need_covered", "need_uncovered"))

    # by site type, overall: covered by one kind alone, and the rest of covered
    bt = result.by_type.reset_index(drop=True)
    bt_cells = []
    play_sites = result.sites[result.sites["in_play"]]
    for _, r in bt.iterrows():
        kinds = TYPE_GROUPS.get(str(r["site_group"]), ())
        ids = frozenset(play_sites.loc[play_sites["type"].isin(kinds), "site_id"].astype(str))
        reach_g = (getattr(result, "type_reach", None) or {}).get(str(r["site_group"]))
        bt_cells.append(
            led.cover_cell(TOTAL, ids, f"by_type:{r['site_group']}", r["need_covered"], reach_g)
        )
    reach_by = getattr(result, "type_reach", None) or {}
    if len(bt) and all(str(g) in reach_by for g in bt["site_group"]):
        # the kinds' reaches overlap: need covered splits into regions by which kinds reach
        # it (a Venn diagram), each a count that the shares must not isolate
        need_pts = result.demand["need"].to_numpy(float)
        flags = np.column_stack([reach_by[str(g)] for g in bt["site_group"]])
        cov_pts = result.demand["nearest_min"].to_numpy() <= result.params.minutes
        area_pts = result.demand["area_code"].astype(str).to_numpy()
        by_cell: dict[int, list[int]] = {}
        for code in codes:
            if code == TOTAL:
                continue
            sel = cov_pts & (area_pts == code)
            if not sel.any():
                continue
            keys_, inv_ = np.unique(flags[sel], axis=0, return_inverse=True)
            vals_ = np.bincount(np.asarray(inv_).ravel(), weights=need_pts[sel])
            regions = []
            for k_, v_ in zip(keys_, vals_, strict=True):
                tag = "".join("1" if x else "0" for x in k_)
                reg = led.add(f"by_type:region:{code}:{tag}", v_, virtual=True)
                regions.append(reg)
                for gi, hit in enumerate(k_):
                    if hit:
                        by_cell.setdefault(bt_cells[gi], []).append(reg)
            led.group(cell[(code, "need_covered")], regions)
        for k, regs in by_cell.items():
            led.group(k, regs)

    # coverage curve at coarse minutes; the point at T is the covered total itself
    total_need = led.values[n_all]
    curve_raw = result.curve
    mins = _curve_minutes(result.params.minutes)
    # the curve's grid points are stage 1's (their steps are related there); T is c_all
    del curve_raw
    q_cells: list[int] = [
        c_all if m == float(result.params.minutes) else reach_cell[(TOTAL, m)] for m in mins
    ]

    # gaps: they partition the uncovered need of their area (plus smaller clusters)
    g_raw, rank = gaps if gaps is not None else raw_gaps(ds, result)
    g_raw = g_raw.reset_index(drop=True)
    g_cells = [
        led.add(f"gaps:{int(r)}", v, mask=np.asarray(rank) == int(r))
        for r, v in zip(g_raw["rank"], g_raw["need"], strict=True)
    ]
    d = result.demand
    gap_area = pd.Series(d["area_code"].to_numpy(), index=np.asarray(rank))
    single_area = True
    by_area_gaps: dict[str, list[int]] = {c: [] for c in codes if c != TOTAL}
    for gi, r in enumerate(g_raw["rank"]):
        a = pd.unique(gap_area[gap_area.index == int(r)])
        if len(a) != 1:
            single_area = False
            break
        by_area_gaps.setdefault(str(a[0]), []).append(g_cells[gi])
    small_need = float(g_raw.attrs.get("small_need", 0.0))
    small_all = led.add(
        "gaps:smaller_clusters_need",
        small_need,
        mask=~pt_cov & (np.asarray(rank) == 0) & (led.need > 0),
    )
    if single_area:
        rest = []
        for code in codes:
            if code == TOTAL:
                continue
            parts = by_area_gaps.get(code, [])
            r_ = led.add(
                f"gaps:{code}:rest",
                led.values[cell[(code, "need_uncovered")]] - sum(led.values[p] for p in parts),
                virtual=True,
            )
            led.group(cell[(code, "need_uncovered")], [*parts, r_])
            rest.append(r_)
        led.group(small_all, rest)
    # the county-wide sum of the same relations
    led.group(u_all, [*g_cells, small_all])

    # a note's count of need left out (no demand point)
    unplaced = led.add("notes:unplaced_need", result.need_info.unplaced_total)

    # a share to 0.1 of a percent of an area's need pins its count to 0.0005 x that need
    led.solve()
    # Stage 1 was decided without the relations above: if they need a stage-1 figure hidden
    # after all, hide it (safety first; that run then no longer agrees with runs at other
    # minutes on that figure)
    before_ = int(led.hidden.sum())
    led.frozen = 0
    led.solve()
    if int(led.hidden.sum()) > before_:
        log.info("stage 1 of the gate needed %d more hidden cells", int(led.hidden.sum()) - before_)

    # ---------------------------------------------------------------- published frames
    def val(i: int) -> float:
        return _round_count(led.values[i], base) if led.shown(i) else float("nan")

    out = pd.DataFrame({"area_code": codes})
    if "area_name" in t.columns:
        out["area_name"] = t["area_name"].to_numpy()
    for c in cols:
        out[c] = [val(cell[(code, c)]) for code in codes]
    shown = {c: np.array([led.shown(cell[(code, c)]) for code in codes]) for c in cols}
    raw_n = t["need"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sh = np.round(t["need_covered"].to_numpy(float) / raw_n, SHARE_DECIMALS)
        out["share_covered"] = np.where(
            shown["need"] & shown["need_covered"] & (raw_n > 0), sh, np.nan
        )
        if has_b:
            sb = np.round(t["need_backup"].to_numpy(float) / raw_n, SHARE_DECIMALS)
            out["share_backup"] = np.where(
                shown["need"] & shown["need_backup"] & (raw_n > 0), sb, np.nan
            )
    if "residents" in t.columns:
        # residents unlock need (need is shared by residents): only beside a published need
        out["residents"] = np.where(shown["need"], np.round(t["residents"].to_numpy(float)), np.nan)
    if "median_min" in t.columns:
        out["median_min"] = np.where(
            shown["need"], np.round(t["median_min"].to_numpy(float), 1), np.nan
        )
    notes: list[str] = []
    if "access_e2sfca" in t.columns:
        catch = getattr(result, "catchment_need", None)
        ok = catch is None or not (((np.round(catch, 6) > 0) & (np.round(catch, 6) < thr)).any())
        acc = np.round(t["access_e2sfca"].to_numpy(float), 2)
        out["access_e2sfca"] = np.where(shown["need"] & ok, acc, np.nan)
        if not ok:
            notes.append(
                f"E2SFCA access is hidden: a site's catchment holds fewer than {thr:g} "
                "people in need, which capacity ÷ access would reveal"
            )

    areas = ds.areas.merge(
        out.drop(columns=["area_name"], errors="ignore"), on="area_code", how="left"
    )

    gpub = g_raw.copy()
    if len(gpub):
        gpub["need"] = [val(c) for c in g_cells]
        if "residents" in gpub.columns:
            gpub["residents"] = np.where(
                [led.shown(c) for c in g_cells], np.round(gpub["residents"].astype(float)), np.nan
            )
        for c in ("nearest_min", "worst_min"):
            if c in gpub.columns:
                gpub[c] = gpub[c].astype(float).round(1)
        if "area_name" not in gpub.columns:
            names = ds.areas.set_index("area_code")["area_name"]
            gpub.insert(min(5, len(gpub.columns)), "area_name", gpub["area_code"].map(names))
    gpub = gpub.drop(columns=[c for c in ("centre_x", "centre_y") if c in gpub.columns])
    if "centre_lon" not in g_raw.columns and "centre_x" in g_raw.columns and len(g_raw):
        lon, lat = crsmod.to_lonlat(
            ds.crs, g_raw["centre_x"].to_numpy(float), g_raw["centre_y"].to_numpy(float)
        )
        gpub["centre_lon"] = np.round(lon, 6)
        gpub["centre_lat"] = np.round(lat, 6)

    keep = [
        c
        for c in (
            "postcode",
            "area_code",
            "nearest_min",
            "second_min",
            "nearest_site",
            "n_within",
            "covered",
        )
        if c in d.columns
    ]
    demand = d[[*keep, "geometry"]].copy()
    for c in ("nearest_min", "second_min"):
        if c in demand.columns:
            demand[c] = demand[c].astype(float).round(1)
    demand["gap"] = np.asarray(rank)

    site_cols = [
        c
        for c in (
            "site_id",
            "name",
            "type",
            "opening_hours",
            "capacity",
            "active",
            "in_play",
            "illustrative",
        )
        if c in result.sites.columns
    ]
    sites = result.sites[[*site_cols, "geometry"]].copy()

    curve = pd.DataFrame(
        {
            "minutes": mins,
            "share_covered": [
                round(led.values[q] / total_need, SHARE_DECIMALS)
                if led.shown(q) and led.shown(n_all) and total_need > 0
                else np.nan
                for q in q_cells
            ],
        }
    )
    by_type = pd.DataFrame(
        {
            "site_group": bt["site_group"].to_numpy() if len(bt) else [],
            "sites": bt["sites"].to_numpy() if len(bt) else [],
            "need_covered": [val(k) for k in bt_cells],
            "share_covered": [
                round(led.values[k] / total_need, SHARE_DECIMALS)
                if led.shown(k) and led.shown(n_all) and total_need > 0
                else np.nan
                for k in bt_cells
            ],
        }
    )
    p = result.params
    heads = {
        "need_covered": _share_headline(
            led, f"need within {p.minutes:g} min by {p.mode}", c_all, n_all, u_all, base
        ),
        "need_beyond": _count_headline(
            led, f"need beyond {p.minutes:g} min", u_all, base, band=not led.small(c_all)
        ),
        "need_total": _count_headline(led, "need (estimated)", n_all, base),
    }
    if has_b:
        heads["backup"] = _share_headline(
            led,
            "need with two or more sites within reach (backup)",
            cell[(TOTAL, "need_backup")],
            n_all,
            None,
            base,
        )
    for (_, r), k in zip(bt.iterrows(), bt_cells, strict=True):
        heads[f"by_type:{r['site_group']}"] = _share_headline(
            led, f"covered by {r['site_group']} alone", k, n_all, None, base, band=False
        )
    _check_bands(led, heads, {"need_covered": (c_all, n_all), "need_beyond": (u_all, None)})
    if has_b:
        _check_bands(led, heads, {"backup": (cell[(TOTAL, "need_backup")], n_all)})
    if result.need_info.unplaced:
        shown_pc = ", ".join(result.need_info.unplaced[:5])
        more = (
            f" and {len(result.need_info.unplaced) - 5} more"
            if len(result.need_info.unplaced) > 5
            else ""
        )
        amount = _count_headline(led, "need left out", unplaced, base)
        notes.append(
            f"need in {len(result.need_info.unplaced)} key(s) had no demand point and was "
            f"left out ({shown_pc}{more}): {amount.text} need"
        )
    meta = _metadata(ds, result, thr, unsafe, extra_meta)
    meta["rounding"] = f"counts to a multiple of {base:g}, shares to 0.1 of a percent"
    meta["need_covered"] = str(heads["need_covered"])
    meta["need_covered_share"] = heads["need_covered"].value
    meta["gaps_count"] = len(g_raw)
    meta["smaller_clusters"] = int(g_raw.attrs.get("small_clusters", 0))
    meta["smaller_clusters_need"] = None if not led.shown(small_all) else val(small_all)
    meta["legend"] = legend(thr)
    meta["publication_register"] = _register_line(led)
    if led.n_prior_publications:
        notes.append(f"Published on top of earlier runs of the same data: {_register_line(led)}")
    pub = Published(
        areas=areas,
        sites=sites,
        demand=demand,
        gaps=gpub,
        curve=curve,
        by_type=by_type,
        table=out,
        metadata=meta,
        headlines=heads,
        legend=legend(thr),
        notes=notes,
        threshold=thr,
        unsafe=unsafe,
        round_to=base,
        suppressed_cells=led.n_hidden_real(led.base),
        ledger=led,
    )
    led.record("coverage", result.params.describe())
    if hotspot_cells is not None or hotspots is not None:
        pub.hotspot_cells, pub.hotspots = hotspot_layers(
            pub, hotspot_cells, hotspots, same_surface=hotspot_surface_is_need
        )
    return pub


# --------------------------------------------------------------------------- what-if
@_on_register
def closure(
    pub: Published,
    cmp: pd.DataFrame,
    closed: list[str] | None = None,
    after_covered: np.ndarray | None = None,
) -> pd.DataFrame:
    """Publish a what-if (:func:`analysis.scenario.compare_runs`) on top of its run.

    ``closed``: the site ids closed (then need covered after is the same figure as any
    other output's need within reach of the remaining sites, e.g. an hour of the week).
    ``after_covered``: per demand point, within reach after the change (lets the gate
    audit the what-if against the run point by point).
    Publications accumulate on ``pub``: later ones cannot undo what this one hides.

    Returns one row per area and ``ALL``: ``area_code``, ``area_name``, ``need``,
    ``share_before``, ``share_after``, ``change`` (points of a share, only when both shares
    are published), ``need_losing_access``, ``need_gaining_access``.
    """
    led = pub.ledger.extend()
    start = len(led.values)
    base = pub.round_to
    c = cmp.reset_index(drop=True)
    codes = c["area_code"].astype(str).tolist()
    idx = led.index
    play = _play_set(led)
    after, lost, gain = {}, {}, {}
    base_cov = led.mask(idx.get(f"areas:{TOTAL}:need_covered", -1))
    base_all = led.mask(idx.get(f"areas:{TOTAL}:need", -1))
    for i, code in enumerate(codes):
        n = float(c.at[i, "need"])
        ca = float(c.at[i, "share_after"]) * n if n > 0 else 0.0
        am = led.mask(idx.get(f"areas:{code}:need", -1))
        m_after = m_lost = m_gain = None
        if after_covered is not None and am is not None and base_cov is not None:
            aft = np.asarray(after_covered, bool)
            m_after, m_lost, m_gain = am & aft, am & base_cov & ~aft, am & ~base_cov & aft
        if closed is not None and play is not None:
            after[code] = led.cover_cell(
                code, play - frozenset(closed), f"whatif:{code}:covered_after", ca, m_after
            )
        else:
            after[code] = led.add(f"whatif:{code}:covered_after", ca, mask=m_after)
        lost[code] = led.add(
            f"whatif:{code}:need_losing_access", c.at[i, "need_losing_access"], mask=m_lost
        )
        gain[code] = led.add(
            f"whatif:{code}:need_gaining_access", c.at[i, "need_gaining_access"], mask=m_gain
        )
    del base_all
    kept = {}
    for code in codes:
        cb = idx[f"areas:{code}:need_covered"]
        kept[code] = led.add(
            f"whatif:{code}:kept", led.values[cb] - led.values[lost[code]], virtual=True
        )
        led.group(cb, [kept[code], lost[code]])
        led.group(after[code], [kept[code], gain[code]])
    body = [x for x in codes if x != TOTAL]
    if TOTAL in codes:
        for d_ in (after, lost, gain, kept):
            led.group(d_[TOTAL], [d_[x] for x in body])
    # need covered after is shown only as a share of the area's need: where that need is
    # hidden, so is the count (and it must stay unknown, like any hidden figure)
    led.prehide(
        [after[x] for x in codes if not led.shown(idx[f"areas:{x}:need"]) and after[x] >= start]
    )
    led.solve()
    out = pd.DataFrame({"area_code": codes})
    if "area_name" in c.columns:
        out["area_name"] = c["area_name"].to_numpy()
    shown_n = np.array([led.shown(idx[f"areas:{x}:need"]) for x in codes])
    raw_n = c["need"].to_numpy(float)
    out["need"] = np.where(shown_n, np.round(raw_n / base) * base, np.nan)
    sb = [
        round(led.values[idx[f"areas:{x}:need_covered"]] / led.values[idx[f"areas:{x}:need"]], 3)
        if led.shown(idx[f"areas:{x}:need_covered"])
        and led.shown(idx[f"areas:{x}:need"])
        and led.values[idx[f"areas:{x}:need"]] > 0
        else np.nan
        for x in codes
    ]
    sa = [
        round(led.values[after[x]] / led.values[idx[f"areas:{x}:need"]], 3)
        if led.shown(after[x])
        and led.shown(idx[f"areas:{x}:need"])
        and led.values[idx[f"areas:{x}:need"]] > 0
        else np.nan
        for x in codes
    ]
    out["share_before"] = sb
    out["share_after"] = sa
    out["change"] = np.round(np.asarray(sa) - np.asarray(sb), 3)
    for name, d_ in (("need_losing_access", lost), ("need_gaining_access", gain)):
        out[name] = [
            _round_count(led.values[d_[x]], base) if led.shown(d_[x]) else np.nan for x in codes
        ]
    out.attrs["published_by"] = GATE
    out.attrs["suppressed_cells"] = led.n_hidden_real(start)
    pub.ledger = led
    led.record("what-if", {"closed": sorted(map(str, closed or []))})
    return out


# --------------------------------------------------------------------------- plan
@dataclass
class PublishedPlan:
    """Proposed sites with published gains, and the before/after headlines."""

    proposed: gpd.GeoDataFrame
    headlines: dict[str, Headline]
    metadata: dict[str, object]
    suppressed_cells: int = 0
    #: the running share beside each step, and how to label it
    share_column: str = "share_covered_after"
    share_label: str = "covered after"
    #: what the before/after headlines count
    what: str = "need covered"


@_on_register
def plan(
    pub: Published,
    site_plan: object,
    decisions: gpd.GeoDataFrame | None = None,
    step_need_by_area: pd.DataFrame | None = None,
    step_masks: list[np.ndarray] | None = None,
) -> PublishedPlan:
    """Publish a site plan (:class:`analysis.planning.SitePlan`) on top of its run.

    ``need_added`` per step is a count: the objective's gain in need (newly within reach of
    a site; of two sites for ``backup``), so the steps add up to the change in the running
    count the objective measures, whose share is published beside each step
    (``share_covered_after``, or ``share_backup_after`` for backup). ``decisions`` (one row
    per proposal, in order, e.g. from ``analysis.layers.proposal_table``) contributes its
    other columns. The demand points each step raises (``step_masks``, by default the
    plan's own ``SitePlan.step_masks``) let the gate audit the plan point by point, and give
    each area's part of a step (``step_need_by_area`` overrides it), so that a step cannot
    be differenced against one area's figures.
    """
    led = pub.ledger.extend()
    base = pub.round_to
    idx = led.index
    t = site_plan.table.reset_index(drop=True)
    backup = str(t.attrs.get("objective", getattr(site_plan, "objective", ""))) == "backup"
    share_col = "share_backup_after" if backup else "share_covered_after"
    base_col = "need_backup" if backup else "need_covered"
    if step_masks is None:
        step_masks = getattr(site_plan, "step_masks", None)
    n_all = idx[f"areas:{TOTAL}:need"]
    c_all = idx.get(f"areas:{TOTAL}:{base_col}")
    total = led.values[n_all]
    steps, cums = [], []
    prev = c_all
    cum_m = led.mask(c_all) if c_all is not None else None
    for i in range(len(t)):
        sm = None
        if step_masks is not None and cum_m is not None and i < len(step_masks):
            sm = np.asarray(step_masks[i], bool)
            cum_m = cum_m | sm
        s = led.add(f"plan:{i + 1}:need_added", t.at[i, "need_added"], mask=sm)
        cum_v = float(t.at[i, share_col]) * total
        w = led.add(f"plan:{i + 1}:after", cum_v, mask=None if sm is None else cum_m.copy())
        if prev is not None:
            led.group(w, [prev, s])
        beyond = led.add(f"plan:{i + 1}:beyond_after", total - cum_v, virtual=True)
        led.group(n_all, [w, beyond])
        steps.append(s)
        cums.append(w)
        prev = w
    if (
        step_need_by_area is None
        and step_masks is not None
        and led.need is not None
        and len(step_masks) >= len(steps)
    ):
        # each area's part of each step (NaN: no demand point of the area is in the step)
        codes_ = [k.split(":")[1] for k in idx if k.endswith(":need") and k.startswith("areas:")]
        codes_ = [c for c in codes_ if c != TOTAL]
        area_m = {c: led.mask(idx[f"areas:{c}:need"]) for c in codes_}
        rows = []
        for i in range(len(steps)):
            sm = np.asarray(step_masks[i], bool)
            rows.append(
                [
                    float(led.need[sm & area_m[c]].sum())
                    if area_m[c] is not None and (sm & area_m[c]).any()
                    else np.nan
                    for c in codes_
                ]
            )
        step_need_by_area = pd.DataFrame(rows, columns=codes_)
    pool = "covered_single" if backup else "need_uncovered"
    if steps and step_need_by_area is not None and len(step_need_by_area) == len(steps):
        sba = step_need_by_area.reset_index(drop=True)
        per_area: dict[str, list[int]] = {}
        for i, s_ in enumerate(steps):
            parts = []
            for code in sba.columns:
                if not np.isfinite(sba.at[i, code]):
                    continue
                x = led.add(f"plan:{i + 1}:{code}", float(sba.at[i, code]), virtual=True)
                parts.append(x)
                per_area.setdefault(str(code), []).append(x)
            led.group(s_, parts)
        if not backup:
            # coverage steps take need from beyond reach (backup steps may also take need
            # from beyond reach of any site, when two proposals reach it: no such relation)
            for code, parts in per_area.items():
                u = idx.get(f"areas:{code}:{pool}")
                if u is None:
                    continue
                rest_a = led.add(
                    f"plan:{code}:rest_beyond",
                    led.values[u] - sum(led.values[x] for x in parts),
                    virtual=True,
                )
                led.group(u, [*parts, rest_a])
    u_all = idx[f"areas:{TOTAL}:need_uncovered"]
    if steps and not backup:
        rest = led.add(
            "plan:rest_beyond",
            led.values[u_all] - sum(led.values[s] for s in steps),
            virtual=True,
        )
        led.group(u_all, [*steps, rest])
    if not led.shown(n_all):
        # the running figure is shown only as a share of the total: with the total hidden,
        # so is the count (and it must stay unknown, like any hidden figure)
        led.prehide(cums)
    led.solve()
    prop = site_plan.proposed.reset_index(drop=True).copy()
    if decisions is not None and len(decisions) == len(prop):
        dec = decisions.reset_index(drop=True)
        for col in dec.columns:
            if col not in ("geometry", "need_added", "share_covered_after", "share_backup_after"):
                prop[col] = dec[col].to_numpy()
    prop["need_added"] = [
        _round_count(led.values[s], base) if led.shown(s) else np.nan for s in steps
    ]
    for col in ("share_covered_after", "share_backup_after"):
        if col in prop.columns:
            prop = prop.drop(columns=col)
    prop[share_col] = [
        round(led.values[w] / total, SHARE_DECIMALS)
        if led.shown(w) and led.shown(n_all) and total > 0
        else np.nan
        for w in cums
    ]
    for c in ("x", "y", "candidate"):
        if c in prop.columns:
            prop = prop.drop(columns=c)
    before_key = "backup" if backup and "backup" in pub.headlines else "need_covered"
    what = "need within reach of two sites" if backup else "need covered"
    heads = {"before": pub.headlines.get(before_key, pub.headlines["need_covered"])}
    heads["after"] = (
        _share_headline(led, f"{what} after the plan", cums[-1], n_all, None, base)
        if cums
        else heads["before"]
    )
    meta = {
        **pub.metadata,
        "layer": "proposed_sites",
        "plan_objective": "backup" if backup else str(t.attrs.get("objective", "coverage")),
        "plan_share_column": share_col,
        f"{base_col}_before": heads["before"].value,
        f"{base_col}_after": heads["after"].value,
    }
    hidden = led.n_hidden_real(len(pub.ledger.values))
    pub.ledger = led
    led.record(
        "plan", {"objective": getattr(site_plan, "objective", ""), "k": len(site_plan.table)}
    )
    return PublishedPlan(
        prop,
        heads,
        meta,
        hidden,
        share_column=share_col,
        share_label="two sites after" if backup else "covered after",
        what=what,
    )


def step_masks(run: CoverageResult, reach: object, order: list[int] | np.ndarray) -> list:
    """Per plan step, the demand points it newly brings within reach (raw, for :func:`plan`)."""
    import scipy.sparse as sps

    a = sps.csc_matrix(reach)
    covered = run.demand["nearest_min"].to_numpy() <= run.params.minutes
    out = []
    for j in order:
        col = a.indices[a.indptr[j] : a.indptr[j + 1]]
        m = np.zeros(len(covered), bool)
        m[col[~covered[col]]] = True
        covered = covered | m
        out.append(m)
    return out


def step_need_by_area(
    run: CoverageResult, reach: object, order: list[int] | np.ndarray
) -> pd.DataFrame:
    """Need newly within reach at each step of a plan, per area (raw, for :func:`plan`).

    ``reach``: (n_demand, n_candidates) 0/1 matrix of the candidates within T (e.g.
    :func:`analysis.planning.coverage_matrix` of the proposals, in order).
    """
    import scipy.sparse as sps

    a = sps.csc_matrix(reach)
    d = run.demand
    need = d["need"].to_numpy(float)
    covered = d["nearest_min"].to_numpy() <= run.params.minutes
    codes = d["area_code"].astype(str).to_numpy()
    areas = sorted(set(codes))
    rows = []
    for j in order:
        col = a.indices[a.indptr[j] : a.indptr[j + 1]]
        newly = col[~covered[col]]
        covered[newly] = True
        s = pd.Series(need[newly]).groupby(codes[newly]).sum()
        # NaN: no demand point of the area is newly in reach (known to be nobody)
        rows.append([float(s[c]) if c in s.index else np.nan for c in areas])
    return pd.DataFrame(rows, columns=areas)


# --------------------------------------------------------------------------- weekly profile
@dataclass
class PublishedProfile:
    """The weekly profile (per area and overall), the worst hours and need-hours."""

    table: pd.DataFrame  # area_code, area_name, day, hour, share_covered, sites_open
    worst: pd.DataFrame
    need_hours: Headline
    need_hours_max: Headline
    metadata: dict[str, object]


@_on_register
def profile(
    pub: Published,
    weekly: object,
    result: CoverageResult,
    hour_covered: np.ndarray | None = None,
) -> PublishedProfile:
    """Publish a :class:`analysis.weekly.WeeklyProfile` on top of its run.

    The hours of the week whose sets of open sites are the same have the same coverage;
    where one hour's open sites include another's, the difference is a count of people, so
    hours are linked like the points of a curve.
    """
    from harmreach.analysis.weekly import week_sites

    led = pub.ledger.extend()
    idx = led.index
    s, hourly = week_sites(result)
    hourly = hourly.T  # (168, n_sites)
    keys, inv = np.unique(hourly, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    need_by = result.table.set_index("area_code")["need"]
    codes = [c for c in result.table["area_code"].astype(str) if c != TOTAL]
    by_area = weekly.by_area
    overall = weekly.overall
    ids = s["site_id"].astype(str).to_numpy()
    # Only hours whose open sites include, or are included in, every other set of sites
    # published (the run's, a what-if's, one kind's, other hours'): sets that overlap
    # without nesting can be combined to isolate small groups of people.
    order = np.argsort(-np.bincount(inv, minlength=len(keys)), kind="stable")
    accepted: list[int] = []
    if hour_covered is not None and led.need is not None:
        # with the points known, every hour is a candidate: the self-audit over points
        # (verify) hides whatever overlapping hours would let be worked out
        accepted = [int(k) for k in order]
    else:
        chain = [sites_ for _, sites_ in led.cover] + [frozenset(ids)]
        for k in order:
            open_ids = frozenset(ids[np.asarray(keys[k], bool)])
            if all(open_ids <= c or c <= open_ids for c in chain):
                chain.append(open_ids)
                accepted.append(int(k))
    pt_area = result.demand["area_code"].astype(str).to_numpy()
    cells: dict[tuple[str, int], int] = {}
    for k in sorted(accepted):
        h = int(np.flatnonzero(inv == k)[0])
        open_ids = frozenset(ids[np.asarray(keys[k], bool)])
        hm = None if hour_covered is None else np.asarray(hour_covered, bool)[:, h]
        tot = led.cover_cell(
            TOTAL,
            open_ids,
            f"week:{TOTAL}:{k}",
            float(overall["share_covered"].iloc[h]) * need_by[TOTAL],
            hm,
        )
        cells[(TOTAL, k)] = tot
        parts = []
        for code in codes:
            r = by_area[(by_area["area_code"] == code)]
            share = float(r["share_covered"].iloc[h]) if len(r) else 0.0
            v = share * float(need_by.get(code, 0.0)) if share == share else 0.0
            cells[(code, k)] = led.cover_cell(
                code,
                open_ids,
                f"week:{code}:{k}",
                v,
                None if hm is None else hm & (pt_area == code),
            )
            parts.append(cells[(code, k)])
        led.group(tot, parts)
    # need within reach of any of these sites: the need-hours if they were always open
    full_cell = led.cover_cell(
        TOTAL, frozenset(ids), f"week:{TOTAL}:all_sites", weekly.need_hours_max / 168.0
    )
    start = len(pub.ledger.values)
    # an hour's need within reach is shown only as a share of the area's need: where that
    # need is hidden, so is the count
    led.prehide(
        [
            cell
            for (code, _), cell in cells.items()
            if cell >= start and not led.shown(idx[f"areas:{code}:need"])
        ]
    )
    led.solve()
    names = result.table.set_index("area_code").get("area_name", pd.Series(dtype=str))
    rows = []
    for code in [TOTAL, *codes]:
        n_i = idx[f"areas:{code}:need"]
        for h in range(168):
            k = int(inv[h])
            ci = cells.get((code, k))
            ok = ci is not None and led.shown(ci) and led.shown(n_i) and led.values[n_i] > 0
            rows.append(
                {
                    "area_code": code,
                    "area_name": names.get(code, code) if code != TOTAL else "All areas",
                    "day": overall["day"].iloc[h],
                    "hour": int(overall["hour"].iloc[h]),
                    "share_covered": round(led.values[ci] / led.values[n_i], SHARE_DECIMALS)
                    if ok
                    else np.nan,
                    "sites_open": int(overall["sites_open"].iloc[h]),
                    "status": "" if ok else (HIDDEN if ci is not None else NOT_SHOWN),
                }
            )
    table = pd.DataFrame(rows)
    ov = table[table["area_code"] == TOTAL]
    worst = ov.dropna(subset=["share_covered"]).nsmallest(3, "share_covered", keep="first")
    all_shown = all((TOTAL, k) in cells and led.shown(cells[(TOTAL, k)]) for k in range(len(keys)))
    if all_shown:
        nh = Headline(
            "need-hours of access a week", f"{weekly.need_hours:,.0f}", round(weekly.need_hours)
        )
    else:
        nh = Headline("need-hours of access a week", "hidden", None, "some hours are hidden")
    if led.shown(full_cell):
        nhm = Headline(
            "need-hours if every site within reach were always open",
            f"{weekly.need_hours_max:,.0f}",
            round(weekly.need_hours_max),
        )
    else:
        nhm = Headline("need-hours if always open", "hidden", None, "it would reveal a small count")
    meta = {
        **{k: v for k, v in pub.metadata.items() if k != "layer"},
        "layer": "weekly_profile",
        "need_hours_per_week": nh.value,
        "need_hours_if_always_open": nhm.value,
    }
    pub.ledger = led
    led.record("weekly profile", {})
    meta["hidden_cells"] = led.n_hidden_real(start)
    return PublishedProfile(table, worst, nh, nhm, meta)


# --------------------------------------------------------------------------- hotspots
DENSITY_BANDS = (0.0, 1.0, 5.0, 10.0, 25.0, 50.0)


def density_band(x: float) -> str:
    """A kernel density (need per km²) as a class: the values are linear in hidden counts."""
    if not np.isfinite(x) or x <= 0:
        return "0"
    for lo, hi in zip(DENSITY_BANDS, DENSITY_BANDS[1:], strict=False):
        if x < hi:
            return f"{lo:g}-{hi:g}"
    return f"{DENSITY_BANDS[-1]:g}+"


def p_band(p: float) -> str:
    """A p-value as a class (exact p-values are monotone in z, itself linear in counts)."""
    if not np.isfinite(p):
        return ""
    for cut in (0.001, 0.01, 0.05):
        if p < cut:
            return f"<{cut:g}"
    return ">=0.05"


def hotspot_layers(
    pub: Published,
    cells: gpd.GeoDataFrame | None,
    hotspots: gpd.GeoDataFrame | None,
    *,
    same_surface: bool = False,
) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """Publish hotspot cells and hotspots on top of a run.

    Cell needs add up to the surface's total (the run's need when ``same_surface``), and
    a hotspot's need is the sum of its cells'. Density and p-values are published as
    classes, z to one decimal.
    """
    led = pub.ledger.extend()
    base = pub.round_to
    c_cells: list[int] = []
    if cells is not None:
        c = cells.reset_index(drop=True)
        c_cells = [led.add(f"cells:{i}", v) for i, v in enumerate(c["need"].astype(float))]
        total = sum(led.values[i] for i in c_cells)
        if same_surface:
            n_all = led.index[f"areas:{TOTAL}:need"]
            out_ = led.add("cells:outside", led.values[n_all] - total, virtual=True)
            led.group(n_all, [*c_cells, out_])
        else:
            t_ = led.add("cells:total", total, virtual=True)
            led.group(t_, c_cells)
    h_cells: list[int] = []
    if hotspots is not None:
        h = hotspots.reset_index(drop=True)
        for i, v in enumerate(h["need"].astype(float)):
            h_cells.append(led.add(f"hotspots:{i}", v))
        if cells is not None and "hot" in cells.columns and len(h):
            # hotspots are dissolved hot cells: find the cells inside each
            hot = c[c["hot"].astype(bool)]
            rp = hot.geometry.representative_point()
            for i, geom in enumerate(h.geometry):
                inside = [c_cells[j] for j in hot.index[rp.within(geom.buffer(1e-6))]]
                led.group(h_cells[i], inside)
    led.solve()
    out_cells = None
    if cells is not None:
        out_cells = c.drop(columns=[x for x in ("row", "col") if x in c.columns]).copy()
        out_cells["need"] = [
            _round_count(led.values[i], base) if led.shown(i) else np.nan for i in c_cells
        ]
        if "density_km2" in out_cells.columns:
            out_cells["density_class"] = out_cells["density_km2"].map(density_band)
            out_cells = out_cells.drop(columns="density_km2")
        if "gi_p" in out_cells.columns:
            out_cells["gi_p_class"] = out_cells["gi_p"].map(p_band)
            out_cells = out_cells.drop(columns="gi_p")
        if "gi_z" in out_cells.columns:
            out_cells["gi_z"] = out_cells["gi_z"].astype(float).round(1)
        out_cells.attrs.update(cells.attrs)
    out_hs = None
    if hotspots is not None:
        out_hs = h.copy()
        out_hs["need"] = [
            _round_count(led.values[i], base) if led.shown(i) else np.nan for i in h_cells
        ]
        if "max_z" in out_hs.columns:
            out_hs["max_z"] = out_hs["max_z"].astype(float).round(1)
        out_hs.attrs.update(hotspots.attrs)
    return out_cells, out_hs


def area_hotspots(pub: Published, raw: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Publish Gi* hotspots of need per resident among the run's areas (wards, LSOAs).

    ``raw`` is :func:`analysis.hotspots.area_hotspots` of the run's areas (raw need and
    residents). A z-score is a function of every area's rate, hidden ones included, so
    z (one decimal) and the rate per 1,000 residents are published only when no area's
    need is hidden; otherwise each area gets only its class (``hot``, ``not hot``, ``not
    tested``), one bit that pins no count. Need is the published need of the areas layer.
    """
    areas = pub.areas.set_index("area_code")
    r = raw.set_index(raw["area_code"].astype(str))
    codes = [c for c in areas.index if c in r.index]
    need = areas.loc[codes, "need"].astype(float)
    all_shown = bool(need.notna().all())
    out = gpd.GeoDataFrame(
        {
            "area_code": codes,
            "area_name": areas.loc[codes, "area_name"].to_numpy(),
            "hotspot": np.where(
                ~r.loc[codes, "tested"].to_numpy(bool),
                "not tested",
                np.where(r.loc[codes, "hot"].to_numpy(bool), "hot", "not hot"),
            ),
            "need": need.to_numpy(),
        },
        geometry=areas.loc[codes].geometry.to_numpy(),
        crs=pub.areas.crs,
    )
    if all_shown:
        out["gi_z"] = r.loc[codes, "gi_z"].astype(float).round(1).to_numpy()
        res = r.loc[codes, "residents"].astype(float).to_numpy() if "residents" in r else None
        if res is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                out["need_per_1000"] = np.where(res > 0, np.round(1000 * need / res, 2), np.nan)
    out.attrs.update(raw.attrs)
    out.attrs["published"] = (
        "class, z and rate" if all_shown else "class only (some area's need is hidden)"
    )
    pub.hotspot_areas = out
    return out


# --------------------------------------------------------------------------- notes
_NEED_NUM = re.compile(r"(\d[\d,]*(?:\.\d+)?)(\s+need\b)|(\bneed\s*\()(\d[\d,]*(?:\.\d+)?)(\))")


def note(pub: Published, text: str) -> str:
    """A free-text note whose counts of need are published by the rules.

    A count under the threshold becomes ``under 5``; others are rounded to whole people.
    """

    def fix(m: re.Match) -> str:
        raw = m.group(1) or m.group(4)
        x = float(raw.replace(",", ""))
        shown = (
            f"under {pub.threshold:g}"
            if 0 < x < pub.threshold
            else f"{_round_count(x, pub.round_to):,.0f}"
        )
        if m.group(1):
            return shown + m.group(2)
        return m.group(3) + shown + m.group(5)

    return _NEED_NUM.sub(fix, text)


# --------------------------------------------------------------------------- sessions
@dataclass
class PublishedSessions:
    """Satellite sessions with published need-hours."""

    sessions: pd.DataFrame  # candidate, day, start, end, need_hours_added(_text)
    headlines: dict[str, Headline]


def sessions(pub: Published, plan_: object, length_h: float) -> PublishedSessions:
    """Publish a session plan (:class:`analysis.sessions.SessionPlan`).

    A session's need-hours divided by its length is at least the people it serves: under
    the threshold it is shown as a band. The weekly totals before and after are rounded
    to 168 × the threshold (a week of the threshold's people), so that the hidden hours of
    the weekly profile and hidden sessions cannot be worked out from them.
    """
    thr = pub.threshold
    week = 168.0 * max(thr, 1.0)
    s = plan_.sessions.copy()
    added = s["need_hours_added"].to_numpy(float)
    small = (added > 0) & (added / max(length_h, 1e-9) < thr)
    s["need_hours_added"] = np.where(small, np.nan, np.round(added))
    s["need_hours_added_text"] = [
        f"under {thr * length_h:g}" if sm else f"{a:,.0f}"
        for sm, a in zip(small, np.round(added), strict=True)
    ]

    def coarse(x: float) -> Headline:
        v = float(np.round(x / week) * week)
        return Headline("need-hours a week", f"about {v:,.0f}", v, f"rounded to {week:,.0f}")

    return PublishedSessions(
        s,
        {"before": coarse(plan_.need_hours_before), "after": coarse(plan_.need_hours_after)},
    )


# Equipment coverage and met need are published by the same gate (their rules live in
# publish_supply to keep this module to coverage and its add-ons).
from harmreach.analysis.publish_supply import equipment, met_need  # noqa: E402, F401
