"""Differencing audit: can a suppressed value be pinned down from everything published?

The attacker's view: every number printed or exported by a run (files in every format, CLI
text, a what-if, a plan, the weekly profile) is a linear fact about need in sets of demand
points: a count (rounded, so an interval), a share (count / count, an interval), a band
("under 5 people", "over 98.2%"). Need per point is unknown and non-negative. For each
hidden value, linear programs (SciPy's HiGHS) find the smallest and largest value it can
take under all published facts jointly; the audit fails when that interval is narrower
than the threshold. Named differences of published sets (a curve step, a plan step, the
need losing access) that hold a small positive count are checked the same way.

Points with the same membership in every published set are merged into one variable
(an atom): every fact is a sum over whole atoms, so this is exact and keeps the programs
small.

The truth (which points each published number is about) is computed here from the raw run
and the travel times, independently of :mod:`analysis.publish`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
from scipy.optimize import linprog

COUNT_RE = re.compile(r"^-?[\d,]+(\.\d+)?$")
PCT_RE = re.compile(r"^(-?[\d.]+)%$")


@dataclass
class Finding:
    """A hidden value and the interval the published facts leave it."""

    label: str
    true: float
    lo: float
    hi: float

    @property
    def width(self) -> float:
        return self.hi - self.lo


@dataclass
class LPAudit:
    """Published facts over sets of demand points, and the hidden values to test."""

    need: np.ndarray
    threshold: float
    sets: list[np.ndarray] = field(default_factory=list)
    keys: dict[bytes, int] = field(default_factory=dict)
    facts: list[tuple[str, list[tuple[float, int]], float, float]] = field(default_factory=list)
    hidden: dict[int, str] = field(default_factory=dict)
    published_numbers: int = 0

    def set_of(self, mask: np.ndarray) -> int:
        m = np.asarray(mask, bool)
        key = np.packbits(m).tobytes()
        if key not in self.keys:
            self.keys[key] = len(self.sets)
            self.sets.append(m)
        return self.keys[key]

    def linear(self, label: str, terms: list[tuple[float, np.ndarray]], lo: float, hi: float):
        """lo <= sum(coef * need(mask)) <= hi."""
        self.facts.append((label, [(c, self.set_of(m)) for c, m in terms], lo, hi))

    def count(self, label: str, mask: np.ndarray, lo: float, hi: float) -> None:
        """A published count (or band) of need in ``mask``: lo <= sum <= hi."""
        self.linear(label, [(1.0, mask)], lo, hi)
        self.published_numbers += 1

    def share(self, label: str, num: np.ndarray, den: np.ndarray, lo: float, hi: float) -> None:
        """A published share: lo <= need(num) / need(den) <= hi."""
        self.linear(label, [(1.0, num), (-hi, den)], -math.inf, 0.0)
        self.linear(label, [(1.0, num), (-lo, den)], 0.0, math.inf)
        self.published_numbers += 1

    def hide(self, label: str, mask: np.ndarray) -> None:
        """A value that an output suppressed."""
        self.hidden.setdefault(self.set_of(mask), label)

    def withhold(self, label: str, mask: np.ndarray) -> None:
        """A value not computed for publication (not a suppressed count): it must not be
        pinned when it is a small positive count."""
        self.hidden.setdefault(self.set_of(mask), "withheld " + label)

    # ------------------------------------------------------------------ solving
    def _atoms(self) -> tuple[np.ndarray, np.ndarray]:
        mat = np.column_stack(self.sets)
        packed = np.packbits(mat, axis=1)
        _, inv = np.unique(packed, axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        n_atoms = int(inv.max()) + 1
        truth = np.bincount(inv, weights=self.need, minlength=n_atoms)
        member = np.zeros((len(self.sets), n_atoms))
        for s, m in enumerate(self.sets):
            member[s, np.unique(inv[m])] = 1.0
        return member, truth

    def _differences(self) -> dict[int, str]:
        """Differences of nested published sets that hold a small positive count."""
        member, truth = self._atoms()
        pub = sorted({s for f in self.facts for _, s in f[1]})
        out: dict[int, str] = {}
        m = member[pub]
        size = m.sum(axis=1)
        inside = (m @ (1 - m).T) == 0  # inside[i, j]: set i within set j
        vals = m @ truth
        for a, b in zip(*np.nonzero(inside), strict=True):
            if a == b or size[a] >= size[b]:
                continue
            v = vals[b] - vals[a]
            if 1e-6 < v < self.threshold - 1e-6:
                s = self.set_of(self.sets[pub[b]] & ~self.sets[pub[a]])
                out.setdefault(s, f"difference of published sets {pub[b]} - {pub[a]}")
        return out

    def solve(self, derived: bool = True) -> tuple[list[Finding], dict[str, float]]:
        """Intervals of every hidden value (and of small named differences)."""
        # a set published as a count somewhere is not hidden, whatever else withholds it
        # (as a count, or as the numerator of a share: the same people, published)
        counted = {
            f[1][0][1]
            for f in self.facts
            if len(f[1]) in (1, 2)
            and f[1][0][0] == 1.0
            and not f[0].startswith("band:")
            and not f[0].endswith(" change")
        }
        targets = {s: lab for s, lab in self.hidden.items() if s not in counted}
        if derived:
            for s, label in self._differences().items():
                targets.setdefault(s, label)
        member, truth = self._atoms()
        rows, ub, labels = [], [], []
        for label, terms, lo, hi in self.facts:
            row = sum(c * member[s] for c, s in terms)
            if hi < math.inf:
                rows.append(row)
                ub.append(hi)
                labels.append(label)
            if lo > -math.inf:
                rows.append(-row)
                ub.append(-lo)
                labels.append(label)
        a_ub = np.asarray(rows) if rows else None
        b_ub = np.asarray(ub) if ub else None
        if a_ub is not None:
            slack = b_ub - a_ub @ truth
            bad = np.flatnonzero(slack < -1e-6 * np.maximum(1, np.abs(b_ub)))
            assert not len(bad), f"the truth breaks published facts: {[labels[i] for i in bad]}"
        findings = []
        for s, label in targets.items():
            c = member[s]
            lo = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
            hi = linprog(-c, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
            top = math.inf if hi.status == 3 else -hi.fun
            findings.append(Finding(label, float(c @ truth), float(lo.fun), float(top)))
        stats = {
            "published": self.published_numbers,
            "hidden": len(self.hidden),
            "checked": len(targets),
            "atoms": len(truth),
        }
        return findings, stats

    def failures(self, findings: list[Finding]) -> list[Finding]:
        """Hidden values pinned to an interval narrower than the threshold."""
        out = []
        for f in findings:
            if f.label.startswith(("difference", "withheld")) and not (
                1e-6 < f.true < self.threshold - 1e-6
            ):
                continue
            if abs(f.true) < 1e-9 and f.hi < self.threshold:
                continue  # nobody: zero is published anyway ("zero is no one")
            if f.width < self.threshold - 1e-6:
                out.append(f)
        return out


# ---------------------------------------------------------------------------- parsing
def count_interval(text: object, base: float) -> tuple[float, float] | None:
    """A published count → the interval it stands for (None: hidden)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    s = str(text).strip()
    if COUNT_RE.match(s):
        x = float(s.replace(",", ""))
        return (max(x - base / 2, 0.0), x + base / 2)
    return None


def share_interval(text: object) -> tuple[float, float] | None:
    """A published share (``0.351`` in files, ``35.1%`` in text) → its interval."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    s = str(text).strip()
    m = PCT_RE.match(s)
    if m:
        x = float(m.group(1)) / 100
        return (x - 0.0005, x + 0.0005)
    try:
        x = float(s)
    except ValueError:
        return None
    return (x - 0.0005, x + 0.0005)


def band_of(text: str) -> tuple[str, float] | None:
    """``under 5 people`` → ("under", 5); ``over 98.2%`` → ("over", 0.982)."""
    m = re.match(r"^under ([\d.]+) people", text.strip())
    if m:
        return ("under", float(m.group(1)))
    m = re.match(r"^over ([\d.]+)%", text.strip())
    if m:
        return ("over", float(m.group(1)) / 100)
    return None


@dataclass
class Truth:
    """Per demand point: which published set it belongs to (from the raw run)."""

    need: np.ndarray
    area: np.ndarray
    covered: np.ndarray
    backup: np.ndarray
    nearest_min: np.ndarray
    by_type: dict[str, np.ndarray]
    gap: np.ndarray
    names: dict[str, str]
    after: np.ndarray | None = None  # covered after the what-if
    plan_steps: list[np.ndarray] = field(default_factory=list)
    week: np.ndarray | None = None  # (n, 168) covered at each hour

    def area_mask(self, code: str) -> np.ndarray:
        return np.ones(len(self.need), bool) if code == "ALL" else self.area == code

    def code_of_name(self, name: str) -> str:
        if name.startswith("All areas"):
            return "ALL"
        hits = [c for c, n in self.names.items() if str(n)[:27] == name[:27]]
        assert len(hits) == 1, (name, hits)
        return hits[0]


AREA_SETS = {
    "need": lambda t, m: m,
    "need_covered": lambda t, m: m & t.covered,
    "need_uncovered": lambda t, m: m & ~t.covered,
    "need_backup": lambda t, m: m & t.backup,
}


def add_area_row(audit: LPAudit, t: Truth, code: str, row: dict, base: float, where: str) -> None:
    """One published row of the areas table (a file's properties or a CSV row)."""
    m = t.area_mask(code)
    for col, fn in AREA_SETS.items():
        if col not in row:
            continue
        iv = count_interval(row[col], base)
        if iv is None:
            audit.hide(f"{where}:{code}:{col}", fn(t, m))
        else:
            audit.count(f"{where}:{code}:{col}", fn(t, m), *iv)
    for col, num in (("share_covered", t.covered), ("share_backup", t.backup)):
        if col not in row:
            continue
        iv = share_interval(row[col])
        if iv is None:
            audit.hide(f"{where}:{code}:{col}", m & num)
        else:
            audit.share(f"{where}:{code}:{col}", m & num, m, *iv)


def add_text_value(
    audit: LPAudit, label: str, text: str, num: np.ndarray, den: np.ndarray | None, base: float
) -> None:
    """A headline value: a share (``den`` given), a count, a band, or ``hidden``."""
    text = text.strip()
    m = re.match(r"^([\d,]+(?:\.\d+)?) people \(the share is hidden", text)
    if m:  # a share's count, published when its total is hidden
        audit.count(label, num, *count_interval(m.group(1), base))
        return
    b = band_of(text)
    if b is not None:
        kind, x = b
        if kind == "under":
            audit.count("band:" + label, num, 0.0, x)
        else:
            audit.share("band:" + label, num, den, x, 1.0)
        audit.hide(label, num)
        return
    if text.startswith("hidden"):
        audit.hide(label, num)
        return
    if den is not None:
        iv = share_interval(text)
        assert iv is not None, (label, text)
        audit.share(label, num, den, *iv)
    else:
        iv = count_interval(text, base)
        assert iv is not None, (label, text)
        audit.count(label, num, *iv)


def add_geojson_areas(audit: LPAudit, t: Truth, path: Path, base: float) -> None:
    doc = json.loads(Path(path).read_text())
    for f in doc["features"]:
        p = f["properties"]
        add_area_row(audit, t, str(p["area_code"]), p, base, f"{Path(path).name}")
    meta = doc["metadata"]
    _add_meta(audit, t, meta, base, Path(path).name)


def _add_meta(audit: LPAudit, t: Truth, meta: dict, base: float, where: str) -> None:
    all_ = np.ones(len(t.need), bool)
    v = meta.get("need_covered_share")
    if v not in (None, "None", ""):
        audit.share(f"{where}:meta:need_covered_share", t.covered, all_, *share_interval(v))
    small = meta.get("smaller_clusters_need")
    mask = ~t.covered & (t.gap == 0) & (t.need > 0)
    if small in (None, "None", ""):
        audit.hide(f"{where}:meta:smaller_clusters_need", mask)
    else:
        audit.count(f"{where}:meta:smaller_clusters_need", mask, *count_interval(small, base))


def add_csv_areas(audit: LPAudit, t: Truth, path: Path, base: float) -> None:
    df = pd.read_csv(path, dtype={"area_code": str})
    for _, r in df.iterrows():
        add_area_row(audit, t, str(r["area_code"]), r.to_dict(), base, Path(path).name)
    meta = json.loads(Path(path).with_name(Path(path).stem + ".metadata.json").read_text())
    _add_meta(audit, t, meta, base, Path(path).name)


def add_gaps(audit: LPAudit, t: Truth, rows: pd.DataFrame, base: float, where: str) -> None:
    for _, r in rows.iterrows():
        m = t.gap == int(r["rank"])
        iv = count_interval(r["need"], base)
        if iv is None:
            audit.hide(f"{where}:gap {r['rank']}", m)
        else:
            audit.count(f"{where}:gap {r['rank']}", m, *iv)


def add_gpkg(audit: LPAudit, t: Truth, path: Path, base: float, minutes: float) -> None:
    areas = pyogrio.read_dataframe(path, layer="areas", read_geometry=False)
    for _, r in areas.iterrows():
        add_area_row(audit, t, str(r["area_code"]), r.to_dict(), base, "gpkg")
    layers = {row[0] for row in pyogrio.list_layers(path)}
    if "gaps" in layers:
        add_gaps(
            audit, t, pyogrio.read_dataframe(path, layer="gaps", read_geometry=False), base, "gpkg"
        )
    curve = pyogrio.read_dataframe(path, layer="coverage_curve")
    all_ = np.ones(len(t.need), bool)
    for _, r in curve.iterrows():
        m = t.nearest_min <= float(r["minutes"]) + 1e-9
        iv = share_interval(r["share_covered"])
        if iv is None:
            audit.hide(f"gpkg:curve {r['minutes']}", m)
        else:
            audit.share(f"gpkg:curve {r['minutes']}", m, all_, *iv)
    if "by_type" in layers:
        bt = pyogrio.read_dataframe(path, layer="by_type")
        for _, r in bt.iterrows():
            m = t.by_type[str(r["site_group"])]
            iv = count_interval(r["need_covered"], base)
            if iv is None:
                audit.hide(f"gpkg:by_type {r['site_group']}", m)
            else:
                audit.count(f"gpkg:by_type {r['site_group']}", m, *iv)
            iv = share_interval(r["share_covered"])
            if iv is not None:
                audit.share(f"gpkg:by_type share {r['site_group']}", m, all_, *iv)
    meta = pyogrio.read_dataframe(path, layer="metadata").set_index("key")["value"].to_dict()
    _add_meta(audit, t, meta, base, "gpkg")


def add_cli_coverage(audit: LPAudit, t: Truth, text: str, base: float, minutes: float) -> None:
    """The coverage verb's printed headlines, area table, what-if and worst hours."""
    all_ = np.ones(len(t.need), bool)
    lines = text.splitlines()
    for line in lines:
        if line.startswith("need covered: "):
            add_text_value(audit, "cli:need covered", line[14:], t.covered, all_, base)
        m = re.match(r"^need beyond [\d.]+ minutes: (.+) of (.+)$", line)
        if m:
            add_text_value(audit, "cli:need beyond", _strip_why(m.group(1)), ~t.covered, None, base)
            add_text_value(audit, "cli:need total", _strip_why(m.group(2)), all_, None, base)
        if line.startswith("need with two or more sites within reach (backup): "):
            add_text_value(audit, "cli:backup", line.split(": ", 1)[1], t.backup, all_, base)
        m = re.match(r"^covered by (.+) alone: (.+)$", line)
        if m:
            add_text_value(
                audit, f"cli:{m.group(1)}", m.group(2), t.by_type[m.group(1)], all_, base
            )
    # the area table
    try:
        start = next(i for i, x in enumerate(lines) if x.startswith("area") and "median min" in x)
    except StopIteration:
        start = None
    if start is not None:
        for line in lines[start + 1 :]:
            if not line.strip():
                break
            name = line[:28].strip()
            parts = line[28:].split()
            code = t.code_of_name(name)
            row = {"need": parts[0], "need_covered": parts[1], "share_covered": parts[2]}
            add_area_row(audit, t, code, row, base, "cli")
    # the what-if block
    try:
        start = next(
            i for i, x in enumerate(lines) if x.startswith("if ") and x.endswith("closed:")
        )
    except StopIteration:
        start = None
    if start is not None and t.after is not None:
        for line in lines[start + 2 :]:
            if not line.strip():
                break
            name = line[:28].strip()
            parts = line[28:].split()
            code = t.code_of_name(name)
            m = t.area_mask(code)
            before, after, lost = parts[0], parts[1], parts[-1]
            for label, txt, num in (("before", before, t.covered), ("after", after, t.after)):
                iv = share_interval(txt)
                if iv is None:
                    audit.hide(f"cli:whatif {code} {label}", m & num)
                else:
                    audit.share(f"cli:whatif {code} {label}", m & num, m, *iv)
            lm = m & t.covered & ~t.after
            iv = count_interval(lost, base)
            if iv is None:
                audit.hide(f"cli:whatif {code} losing", lm)
            else:
                audit.count(f"cli:whatif {code} losing", lm, *iv)
            if len(parts) == 4:  # a published change: after - before, to 0.1 of a point
                x = float(parts[2].rstrip("p")) / 100
                audit.linear(
                    f"cli:whatif {code} change",
                    [(1.0, m & t.after), (-1.0, m & t.covered), (-(x + 0.0011), m)],
                    -math.inf,
                    0.0,
                )
                audit.linear(
                    f"cli:whatif {code} change",
                    [(1.0, m & t.after), (-1.0, m & t.covered), (-(x - 0.0011), m)],
                    0.0,
                    math.inf,
                )
    # worst hours (overall shares at an hour)
    for line in lines:
        if line.startswith("worst hours: ") and t.week is not None:
            for day, hh, pct in re.findall(r"(\w{3}) (\d\d):00 ([\d.]+%)", line):
                h = DAYS.index(day) * 24 + int(hh)
                audit.share(f"cli:worst {day} {hh}", t.week[:, h], all_, *share_interval(pct))


DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _strip_why(s: str) -> str:
    return re.sub(r" \(.*\)$", "", s.strip())


def add_profile_csv(audit: LPAudit, t: Truth, path: Path) -> None:
    df = pd.read_csv(path, dtype={"area_code": str, "status": str}, keep_default_na=False)
    df["share_covered"] = pd.to_numeric(df["share_covered"], errors="coerce")
    for (code, day, hour), r in df.set_index(["area_code", "day", "hour"]).iterrows():
        h = DAYS.index(day) * 24 + int(hour)
        m = t.area_mask(str(code))
        iv = share_interval(r["share_covered"])
        if iv is None and str(r.get("status", "")).startswith("not shown"):
            audit.withhold(f"profile:{code} {day} {hour}", m & t.week[:, h])
        elif iv is None:
            audit.hide(f"profile:{code} {day} {hour}", m & t.week[:, h])
        else:
            audit.share(f"profile:{code} {day} {hour}", m & t.week[:, h], m, *iv)


def add_plan(audit: LPAudit, t: Truth, geojson: Path | None, text: str, base: float) -> None:
    all_ = np.ones(len(t.need), bool)
    cum = t.covered.copy()
    cums = []
    for s in t.plan_steps:
        cum = cum | s
        cums.append(cum.copy())
    if geojson is not None:
        doc = json.loads(Path(geojson).read_text())
        for i, f in enumerate(doc["features"]):
            p = f["properties"]
            iv = count_interval(p.get("need_added"), base)
            if iv is None:
                audit.hide(f"plan:{i + 1} need_added", t.plan_steps[i])
            else:
                audit.count(f"plan:{i + 1} need_added", t.plan_steps[i], *iv)
            iv = share_interval(p.get("share_covered_after"))
            if iv is None:
                audit.hide(f"plan:{i + 1} after", cums[i])
            else:
                audit.share(f"plan:{i + 1} after", cums[i], all_, *iv)
        for key, mask in (
            ("need_covered_before", t.covered),
            ("need_covered_after", cums[-1] if cums else t.covered),
        ):
            v = doc["metadata"].get(key)
            if v is not None:
                audit.share(f"plan:meta {key}", mask, all_, *share_interval(v))
    for line in text.splitlines():
        if line.startswith("need covered before: "):
            add_text_value(audit, "cli:plan before", line.split(": ", 1)[1], t.covered, all_, base)
        if line.startswith("need covered after: "):
            add_text_value(
                audit,
                "cli:plan after",
                line.split(": ", 1)[1],
                cums[-1] if cums else t.covered,
                all_,
                base,
            )
        m = re.match(r"^\s*(\d+)\s+(\S+)\s+(\S+%|hidden)\s+-?[\d.]+\s+-?[\d.]+", line)
        if m and t.plan_steps:
            i = int(m.group(1)) - 1
            iv = count_interval(m.group(2), base)
            if iv is None:
                audit.hide(f"cli:plan {i + 1} need_added", t.plan_steps[i])
            else:
                audit.count(f"cli:plan {i + 1} need_added", t.plan_steps[i], *iv)
            iv = share_interval(m.group(3))
            if iv is None:
                audit.hide(f"cli:plan {i + 1} after", cums[i])
            else:
                audit.share(f"cli:plan {i + 1} after", cums[i], all_, *iv)


def explain(audit: LPAudit, label: str, top: int = 12) -> list[tuple[str, float]]:
    """The published facts that bind a hidden value's interval (LP duals), for debugging."""
    s = next(k for k, v in audit.hidden.items() if v == label)
    member, _ = audit._atoms()
    rows, ub, labels = [], [], []
    for lab, terms, lo, hi in audit.facts:
        row = sum(c * member[x] for c, x in terms)
        if hi < math.inf:
            rows.append(row)
            ub.append(hi)
            labels.append(lab + " (<=)")
        if lo > -math.inf:
            rows.append(-row)
            ub.append(-lo)
            labels.append(lab + " (>=)")
    out = []
    for sign in (1, -1):
        res = linprog(sign * member[s], A_ub=np.asarray(rows), b_ub=np.asarray(ub), method="highs")
        duals = res.ineqlin.marginals
        order = np.argsort(duals)[:top]
        out += [
            (("min " if sign == 1 else "max ") + labels[i], float(duals[i]))
            for i in order
            if duals[i] < -1e-9
        ]
    return out
