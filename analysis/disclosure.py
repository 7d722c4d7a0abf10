"""Disclosure control: suppress counts of people under the threshold, and what would reveal them.

The national monitoring service suppresses counts under 5. A suppressed cell must not be
recoverable by subtracting the other cells from a published total, so every group that
sums to a published total is given *secondary* suppression: if any cell in it is suppressed,
further cells (smallest first) are suppressed until at least two are and the suppressed
cells together reach the threshold. A total under the threshold is itself suppressed.

:func:`protect` is the general engine the publishing gate (:mod:`analysis.publish`) uses:
cells of any number of outputs, linked by additive relations (a total and its parts),
some of them *virtual* (never published, but revealed when the others are, such as the
difference between two consecutive points of a coverage curve). It hides further cells
until no hidden cell and no small virtual cell can be worked out exactly from a relation,
and the hidden parts of every relation with a known total add up to the threshold.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd

from harmreach.geo import settings


def _complete(hidden: np.ndarray, values: np.ndarray, thr: float) -> np.ndarray:
    """Secondary suppression in one additive group whose total is published."""
    h = hidden.copy()
    if not h.any():
        return h
    while not h.all() and not (h.sum() >= 2 and values[h].sum() >= thr):
        h[int(np.argmin(np.where(h, np.inf, values)))] = True
    return h


def primary(values: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Cells under the threshold (zero is no one and is published)."""
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    r = np.round(np.asarray(values, float), 6)
    return (r > 0) & (r < thr)


def suppress_group(
    values: np.ndarray, total_published: bool = True, threshold: int | None = None
) -> np.ndarray:
    """Which cells of one additive group to suppress.

    Parameters
    ----------
    values
        Counts that add up to a total.
    total_published
        Whether the group's total is published (then one suppressed cell is not enough).
    threshold
        Suppress counts below this (default: settings, 5).

    Returns
    -------
    numpy.ndarray
        Boolean mask, True where the cell must not be published.
    """
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    v = np.asarray(values, float)
    mask = primary(v, thr)
    return _complete(mask, v, thr) if total_published else mask


def suppress_table(
    df: pd.DataFrame,
    count_cols: list[str],
    *,
    total_row: str | None = None,
    key: str = "area_code",
    parts: dict[str, list[str]] | None = None,
    shares: dict[str, str] | None = None,
    threshold: int | None = None,
    round_to: int | None = None,
) -> tuple[pd.DataFrame, int]:
    """Suppress counts of people in a per-area table that may carry a total row.

    Parameters
    ----------
    df
        One row per area (and optionally a total row).
    count_cols
        Columns holding counts of people (need, residents, …).
    total_row
        Key of the row holding the column totals: each column is then an additive group.
    parts
        Within a row, a total column and the columns that add up to it
        (e.g. ``{"need": ["need_covered", "need_uncovered"]}``): another additive group.
    shares
        Share column → the count column it derives from (hidden with it).
    round_to
        Round published counts to a multiple of this (e.g. 5), after suppression.

    Returns
    -------
    tuple of pandas.DataFrame and int
        The table with suppressed cells set to NaN, and how many cells were suppressed.
    """
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    out = df.reset_index(drop=True).copy()
    vals = out[count_cols].astype(float).to_numpy()
    hidden = primary(vals, thr)
    col_of = {c: i for i, c in enumerate(count_cols)}
    is_total = (
        (out[key] == total_row).to_numpy() if total_row is not None else np.zeros(len(out), bool)
    )
    body = np.flatnonzero(~is_total)
    tot = np.flatnonzero(is_total)
    while True:
        before = hidden.copy()
        if len(tot):
            for j in range(len(count_cols)):
                if hidden[tot, j].any():
                    continue  # the total is hidden: the cells cannot be differenced from it
                hidden[body, j] = _complete(hidden[body, j], vals[body, j], thr)
        for total_col, part_cols in (parts or {}).items():
            tj = col_of[total_col]
            pj = [col_of[c] for c in part_cols]
            for i in range(len(out)):
                if hidden[i, tj]:
                    hidden[i, pj] |= vals[i, pj] > 0  # published parts would add up to it
                else:
                    hidden[i, pj] = _complete(hidden[i, pj], vals[i, pj], thr)
        if (hidden == before).all():
            break
    for j, col in enumerate(count_cols):
        col_vals = np.where(hidden[:, j], np.nan, vals[:, j])
        if round_to:
            col_vals = np.round(col_vals / round_to) * round_to
        out[col] = col_vals
    for share, base in (shares or {}).items():
        if share in out.columns:
            out[share] = out[share].where(~hidden[:, col_of[base]])
    return out, int(hidden.sum())


def suppress_values(values: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Independent counts (no published total): values under the threshold become NaN."""
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    v = np.asarray(values, float)
    return np.where((np.round(v, 6) > 0) & (np.round(v, 6) < thr), np.nan, v)


def protect(
    values: np.ndarray,
    groups: Sequence[tuple[int, Sequence[int]]],
    threshold: float,
    *,
    virtual: np.ndarray | None = None,
    hidden: np.ndarray | None = None,
    frozen: np.ndarray | None = None,
    exact_max: int = 300,
    lp_max: int = 1500,
    precision: float = 0.5,
) -> np.ndarray:
    """Primary and secondary suppression over cells linked by additive relations.

    Parameters
    ----------
    values
        Every cell's true value (counts of people, possibly fractional, >= 0).
    groups
        Additive relations ``(total, parts)``: ``values[total] == values[parts].sum()``.
    threshold
        Counts above 0 and under this are never published nor recoverable.
    virtual
        Cells that are never published themselves (differences that the published cells
        imply). A virtual cell worked out exactly must be 0 or at least the threshold.
    hidden
        Cells already hidden (besides those under the threshold).
    frozen
        Cells whose state is already decided (published earlier): never hidden here.
    exact_max
        Up to this many hidden cells, rule 2 is finally checked exactly (linear algebra:
        a cell is worked out when every solution of the relations agrees on it), which
        also catches values worked out by combining several relations.
    lp_max
        Up to this many cells, a last check solves linear programs (HiGHS) over the cells
        themselves (non-negative, published ones within their rounding): no hidden cell,
        and no small difference, may be left an interval narrower than the threshold
        (this catches a hidden point of a curve pinned between two published ones).
    precision
        How closely a published cell pins its value (half the rounding step; a share to
        0.1 of a percent of a total pins its count closer than whole people do).

    Returns
    -------
    numpy.ndarray
        True where a cell is not published (virtual cells are always True).

    Notes
    -----
    Rules, applied until nothing changes:

    1. a real cell above 0 and under the threshold is hidden (primary), unless frozen;
    2. cells are *determined* when published, or when they are the only unknown in a
       relation whose other cells are determined (propagated to a fixed point);
    3. a hidden real cell must not be determined, and a determined virtual cell must be
       0 or at least the threshold: otherwise the smallest positive published cell of the
       relation that determined it is hidden too;
    4. in a relation whose total is determined, the undetermined parts must add up to at
       least the threshold: otherwise the smallest positive published part is hidden.

    Of the cells that would fix a breach, the one in the fewest relations (then the
    smallest) is hidden, one per pass, so that fixes do not cascade needlessly. Relations
    are also composed one level deep (a part that is itself a total is replaced by its
    parts), so that rule 4 sees, e.g., need = within reach + each gap + the rest.
    """
    v = np.asarray(values, float)
    n = len(v)
    virt = np.zeros(n, bool) if virtual is None else np.asarray(virtual, bool).copy()
    frz = np.zeros(n, bool) if frozen is None else np.asarray(frozen, bool).copy()
    hid = np.zeros(n, bool) if hidden is None else np.asarray(hidden, bool).copy()
    hid |= virt | (primary(v, threshold) & ~frz)
    members = [np.asarray([t, *parts], dtype=np.int64) for t, parts in _composed(groups)]
    n_base = len(groups)  # composed relations follow: redundant for linear programs
    of_cell: list[list[int]] = [[] for _ in range(n)]
    for g, m in enumerate(members):
        for c in m:
            of_cell[int(c)].append(g)
    small = (np.round(v, 6) > 0) & (np.round(v, 6) < threshold)

    degree = np.array([len(g) for g in of_cell], dtype=np.int64)
    import scipy.sparse as sp

    lens = np.array([len(m) for m in members], dtype=np.int64)
    incidence = sp.csr_matrix(
        (
            np.ones(int(lens.sum()), np.int64),
            (
                np.repeat(np.arange(len(members)), lens),
                np.concatenate(members or [np.zeros(0, np.int64)]),
            ),
        ),
        shape=(len(members), n),
    )

    def cost(c: int) -> tuple[int, float]:
        # Hiding a cell in fewer relations cascades less; then the smaller the better.
        return (int(degree[c]), float(v[c]))

    def propagate(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which cells are known (published or worked out), and the relation that gave each."""
        det = ~h
        via = np.full(n, -1)
        unknown = np.asarray(incidence @ h.astype(np.int64)).ravel()
        queue = np.flatnonzero(unknown == 1).tolist()
        while queue:
            g = queue.pop()
            if unknown[g] != 1:
                continue
            m = members[g]
            c = int(m[~det[m]][0])
            det[c] = True
            via[c] = g
            for g2 in of_cell[c]:
                unknown[g2] -= 1
                if unknown[g2] == 1:
                    queue.append(g2)
        return det, via

    def pick(cells: np.ndarray) -> int | None:
        """The cheapest positive published cell whose hiding leaves it unknown."""
        ok = cells[~hid[cells] & ~frz[cells] & ~virt[cells] & (v[cells] > 1e-9)]
        if len(ok) == 0:
            return None
        order = sorted(ok.tolist(), key=cost)
        for c in order[:8]:
            trial = hid.copy()
            trial[c] = True
            if not propagate(trial)[0][c]:
                return int(c)
        return int(order[0])

    for _ in range(n + 1):
        det, via = propagate(hid)

        def fix_for(c: int, via: np.ndarray = via, det: np.ndarray = det) -> int | None:
            """A cell to hide so that ``c`` is no longer worked out.

            Candidates come from the relation that gave ``c`` and, back along the chain,
            from the relations that gave the other hidden cells in it; the cheapest whose
            hiding leaves ``c`` unknown is taken.
            """
            levels: list[list[int]] = []
            own = {
                int(x)
                for g in of_cell[c]
                for x in members[g]
                if not hid[x] and not frz[x] and not virt[x] and v[x] > 1e-9
            }
            if own:
                levels.append(sorted(own, key=cost))
            seen: set[int] = set()
            frontier = [c]
            while frontier:
                level: list[int] = []
                nxt: list[int] = []
                for x in frontier:
                    g = int(via[x])
                    if g < 0 or g in seen:
                        continue
                    seen.add(g)
                    m = members[g]
                    level += m[~hid[m] & ~frz[m] & ~virt[m] & (v[m] > 1e-9)].tolist()
                    nxt += [int(o) for o in m if o != x and hid[o] and via[o] >= 0]
                if level:
                    levels.append(sorted(set(level), key=cost))
                frontier = nxt
            if not levels:
                return None
            # nearest relations first: a fix far along the chain tends to cascade
            tried = 0
            for level in levels:
                for cand in level[:6]:
                    trial = hid.copy()
                    trial[cand] = True
                    tried += 1
                    if not propagate(trial)[0][c]:
                        return int(cand)
                if tried >= 12:
                    break
            # no single cell does: the cheapest set that does, from a linear program
            return _lp_fix(v, members[:n_base], hid, virt, frz, c, threshold, precision) or int(
                levels[0][0]
            )

        fix = None
        for c in np.flatnonzero(det & hid):
            if virt[c] and not small[c]:
                continue
            fix = fix_for(int(c))
            if fix is not None:
                break
        if fix is None:
            for m in members:
                if not det[m[0]]:
                    continue
                parts = m[1:]
                und = parts[~det[parts]]
                left = v[und].sum()
                if len(und) and 1e-9 < left < threshold - 1e-9:
                    fix = pick(parts)
                    if fix is None:
                        fix = pick(m[:1])
                    if fix is not None:
                        break
        if fix is None:
            fix = _exact_check(
                v,
                members[:n_base],
                hid,
                virt,
                small,
                frz,
                cost,
                max_cells=exact_max,
                threshold=threshold,
                half=precision,
            )
        if fix is None and lp_max and len(v) <= lp_max:
            fix = _lp_check(v, members[:n_base], hid, virt, small, frz, cost, threshold, precision)
        if fix is None:
            return hid
        hid[fix] = True  # one cell (or one set) per pass: fixes found together often overlap
    return hid  # pragma: no cover - every pass hides at least one more cell


def _composed(
    groups: Sequence[tuple[int, Sequence[int]]], limit: int = 20_000
) -> list[tuple[int, list[int]]]:
    """The relations, plus each one with a part replaced by that part's own parts."""
    base = [(int(t), [int(p) for p in parts]) for t, parts in groups]
    by_total: dict[int, list[list[int]]] = {}
    for t, parts in base:
        by_total.setdefault(t, []).append(parts)
    seen = {(t, tuple(sorted(parts))) for t, parts in base}
    out = list(base)
    for t, parts in base:
        for p in parts:
            for sub in by_total.get(p, []):
                new = sorted([q for q in parts if q != p] + sub)
                key = (t, tuple(new))
                if t in new or key in seen or len(new) > 64:
                    continue
                seen.add(key)
                out.append((t, new))
                if len(out) > limit:
                    return out
    return out


def _determined(members: list[np.ndarray], hid: np.ndarray) -> np.ndarray:
    """Hidden cells whose value every solution of the relations agrees on (null space)."""
    from scipy.linalg import null_space

    cols = np.flatnonzero(hid)
    pos = {int(c): i for i, c in enumerate(cols)}
    rows = []
    for m in members:
        h = [int(c) for c in m if hid[c]]
        if not h:
            continue
        r = np.zeros(len(cols))
        for k, c in enumerate(m):
            if hid[c]:
                r[pos[int(c)]] += 1.0 if k == 0 else -1.0
        rows.append(r)
    out = np.zeros(len(hid), bool)
    if not rows:
        return out
    ns = null_space(np.asarray(rows))
    if ns.size == 0:
        out[cols] = True
        return out
    out[cols] = np.abs(ns).max(axis=1) < 1e-9
    return out


def _exact_check(
    v, members, hid, virt, small, frz, cost, *, max_cells: int, threshold: float, half: float
) -> int | list[int] | None:
    """A cell to hide when a hidden cell is worked out by combining relations (or None)."""
    if hid.sum() > max_cells:
        return None
    det = _determined(members, hid)
    bad = np.flatnonzero(det & hid & (~virt | small))
    if len(bad) == 0:
        return None
    target = int(bad[0])
    # candidates: published cells sharing a relation with a hidden cell of the same block
    near: set[int] = set()
    for m in members:
        if hid[m].any():
            near.update(
                int(c) for c in m if not hid[c] and not frz[c] and not virt[c] and v[c] > 1e-9
            )
    for cand in sorted(near, key=cost)[:12]:
        trial = hid.copy()
        trial[cand] = True
        if not _determined(members, trial)[target]:
            return cand
    return _lp_fix(v, members, hid, virt, frz, target, threshold, half) or (
        min(near, key=cost) if near else None
    )


#: Variables are capped here in range programs so that none is unbounded (a range this
#: wide is as good as infinite against a threshold of a few people).
_BIG = 1e9


_HIGHS_LOCK = threading.Lock()


def _highs():  # noqa: ANN202 - a highspy.Highs
    """A silent HiGHS solver.

    Recent highspy prints a banner to the process's standard output when a solver is made
    (before any option can be set); that would land in the command line's output and in
    piped results. It is made with file descriptor 1 sent to /dev/null.
    """
    import highspy

    with _HIGHS_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


class WarmLP:
    """One linear program solved for many objectives, HiGHS keeping its basis between them.

    ``a_ub x <= b_ub, a_eq x = b_eq, lo <= x <= hi``. SciPy's ``linprog`` (HiGHS too)
    builds and solves each program from scratch; the gate solves dozens over the same
    polytope with only the objective changing, and with ``relax`` a few rows dropped.
    Through ``highspy`` the model is passed once and each solve starts from the last
    optimal basis (a warm start), a few dozen simplex iterations instead of hundreds.
    """

    def __init__(
        self,
        a_ub: object,
        b_ub: np.ndarray | None,
        a_eq: object = None,
        b_eq: np.ndarray | None = None,
        lo: np.ndarray | float = 0.0,
        hi: np.ndarray | float | None = None,
        n: int | None = None,
    ) -> None:
        import highspy
        import scipy.sparse as sp

        blocks, rlo, rhi = [], [], []
        if a_ub is not None:
            blocks.append(sp.csr_matrix(a_ub))
            rlo.append(np.full(blocks[-1].shape[0], -highspy.kHighsInf))
            rhi.append(np.asarray(b_ub, float))
        if a_eq is not None:
            blocks.append(sp.csr_matrix(a_eq))
            rlo.append(np.asarray(b_eq, float))
            rhi.append(np.asarray(b_eq, float))
        n = blocks[0].shape[1] if blocks else int(n or 0)
        a = sp.vstack(blocks).tocsc() if blocks else sp.csc_matrix((0, n))
        a.sort_indices()
        self.n, self.m = n, a.shape[0]
        self.row_lo = np.concatenate(rlo) if rlo else np.zeros(0)
        self.row_hi = np.concatenate(rhi) if rhi else np.zeros(0)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, self.m
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.broadcast_to(np.asarray(lo, float), (n,)).copy()
        lp.col_upper_ = (
            np.full(n, highspy.kHighsInf)
            if hi is None
            else np.broadcast_to(np.asarray(hi, float), (n,)).copy()
        )
        lp.row_lower_, lp.row_upper_ = self.row_lo.copy(), self.row_hi.copy()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        self.h = _highs()
        # primal simplex without presolve: a new objective leaves the last basis primal
        # feasible, so each solve continues from it (dual simplex restarts; on the gate's
        # programs 5-20 ms a solve instead of 150 ms)
        self.h.setOptionValue("presolve", "off")
        self.h.setOptionValue("simplex_strategy", 4)
        self.h.passModel(lp)
        self._inf = highspy.kHighsInf
        self._optimal = highspy.HighsModelStatus.kOptimal
        self._cols = np.arange(n, dtype=np.int32)
        self.relaxed: list[int] = []

    def minimize(self, c: np.ndarray) -> np.ndarray | None:
        """An optimal point for objective ``c`` (None when there is none)."""
        self.h.changeColsCost(self.n, self._cols, np.asarray(c, float))
        self.h.run()
        if self.h.getModelStatus() != self._optimal:
            return None
        return np.asarray(self.h.getSolution().col_value, float)

    def relax(self, rows: list[int]) -> None:
        """Drop rows (free bounds) until :meth:`restore`."""
        for r in rows:
            self.h.changeRowBounds(int(r), -self._inf, self._inf)
        self.relaxed += list(rows)

    def restore(self) -> None:
        """Put back the rows :meth:`relax` dropped."""
        for r in self.relaxed:
            self.h.changeRowBounds(int(r), float(self.row_lo[r]), float(self.row_hi[r]))
        self.relaxed = []


def narrow_targets(
    targets: np.ndarray,
    threshold: float,
    *,
    a_ub: object = None,
    b_ub: np.ndarray | None = None,
    a_eq: object = None,
    b_eq: np.ndarray | None = None,
    lo: np.ndarray | float = 0.0,
    hi: np.ndarray | float | None = None,
    known: np.ndarray | None = None,
    rng_seed: int = 0,
    lp: WarmLP | None = None,
) -> dict[int, float]:
    """Targets whose range over a polytope is narrower than ``threshold``, with that width.

    The polytope is ``a_ub x <= b_ub, a_eq x = b_eq, lo <= x <= hi``; a target is a row of
    ``targets`` (coefficients over ``x``). The exact range of one target takes two linear
    programs; solving them for every target is what made the gate slow (thousands of
    programs on a national run). Any two feasible points bound a target's range from
    below, so the programs are first spent on *aggregate* objectives (the sum of the
    targets still in doubt, both ways, then random signs): each vertex found widens many
    targets' observed spread at once, and a target whose spread already reaches the
    threshold is safe without a program of its own. Only the targets left in doubt get
    their own pair, whose optima are exact. ``known`` is a feasible point (the true values)
    to start from. ``lp``: the polytope already built (:class:`WarmLP`, warm-started).

    Returns
    -------
    dict
        Index of each target narrower than the threshold → its exact width.
    """
    import scipy.sparse as sp

    tmat = sp.csr_matrix(targets)
    k, n = tmat.shape
    if lp is None:
        hi_ = None if hi is None else np.minimum(np.broadcast_to(hi, (n,)), _BIG)
        lp = WarmLP(a_ub, b_ub, a_eq, b_eq, lo, hi_, n=n)
    solve = lp.minimize

    lo_seen = np.full(k, np.inf)
    hi_seen = np.full(k, -np.inf)

    def see(x: np.ndarray | None) -> None:
        if x is None:
            return
        y = tmat @ x
        np.minimum(lo_seen, y, out=lo_seen)
        np.maximum(hi_seen, y, out=hi_seen)

    if known is not None:
        see(np.asarray(known, float))
    tol = threshold - 1e-6
    rng = np.random.default_rng(rng_seed)
    doubt = np.flatnonzero(hi_seen - lo_seen < tol)
    stale = 0
    for round_ in range(12):
        if len(doubt) <= 2:
            break
        # all targets up and down, then random signs (some up while others go down)
        w = np.ones(len(doubt)) if round_ == 0 else rng.choice([-1.0, 1.0], len(doubt))
        c = np.asarray(tmat[doubt].T @ w).ravel()
        see(solve(c))
        see(solve(-c))
        left = np.flatnonzero(hi_seen - lo_seen < tol)
        # a round is worth its two programs while it settles more than two targets
        stale = stale + 1 if len(doubt) - len(left) <= 2 else 0
        doubt = left
        if stale >= 2:
            break
    out: dict[int, float] = {}
    for t in doubt:
        if hi_seen[t] - lo_seen[t] >= tol:
            continue  # widened by an earlier target's optima
        c = tmat[t].toarray().ravel()
        a, b = solve(c), solve(-c)
        if a is None or b is None:
            continue  # no feasible point: nothing is pinned
        see(a)
        see(b)
        width = float(c @ b - c @ a)
        if width < tol:
            out[int(t)] = width
    return out


def _relation_matrix(members, n: int):  # noqa: ANN001, ANN202
    """Relations as rows of a sparse matrix: +1 for the total, -1 for each part (rows = 0)."""
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(members)), [len(m) for m in members])
    cols = np.concatenate(members).astype(int) if members else np.zeros(0, int)
    vals = np.concatenate([np.r_[1.0, -np.ones(len(m) - 1)] for m in members]) if members else []
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(members), n))


def _lp_narrow(v, members, hid, targets, threshold, fixed_half: float = 0.5) -> dict[int, float]:
    """Targets left a range narrower than the threshold by the relations and published values."""
    import scipy.sparse as sp

    n = len(v)
    a_eq = _relation_matrix(members, n)
    pub = ~hid
    lo = np.where(pub, np.maximum(v - fixed_half, 0.0), 0.0)
    hi = np.where(pub, v + fixed_half, np.inf)
    tmat = sp.csr_matrix(
        (np.ones(len(targets)), (np.arange(len(targets)), np.asarray(targets, int))),
        shape=(len(targets), n),
    )
    narrow = narrow_targets(
        tmat, threshold, a_eq=a_eq, b_eq=np.zeros(len(members)), lo=lo, hi=hi, known=v
    )
    return {int(targets[i]): w for i, w in narrow.items()}


def _lp_check(v, members, hid, virt, small, frz, cost, threshold, half) -> int | None:
    """A cell to hide when a hidden value or a small difference is pinned (or None)."""
    targets = [int(c) for c in np.flatnonzero(hid & (~virt | small)) if v[c] > 1e-9 or not virt[c]]
    if not targets:
        return None
    narrow = _lp_narrow(v, members, hid, targets, threshold, half)
    bad = [t for t in targets if t in narrow and v[t] > 1e-9]
    if not bad:
        return None
    target = bad[0]
    near: set[int] = set()
    for m in members:
        if target in m:
            near.update(
                int(c) for c in m if not hid[c] and not frz[c] and not virt[c] and v[c] > 1e-9
            )
    if not near:
        for m in members:
            if hid[m].any():
                near.update(
                    int(c) for c in m if not hid[c] and not frz[c] and not virt[c] and v[c] > 1e-9
                )
    for cand in sorted(near, key=cost)[:8]:
        trial = hid.copy()
        trial[cand] = True
        if target not in _lp_narrow(v, members, trial, [target], threshold, half):
            return cand
    return _lp_fix(v, members, hid, virt, frz, target, threshold, half) or (
        min(near, key=cost) if near else None
    )


def _lp_fix(v, members, hid, virt, frz, target, threshold, half) -> list[int] | None:
    """The cells to hide so that ``target`` ranges over at least the threshold (or None).

    Two copies of the table, ``up`` and ``down``, must both satisfy every relation and
    non-negativity, keep each cell already decided within its rounding, and differ by the
    threshold at the target; a published cell may take another value only at a cost (per
    cell, by how far it moves). The cells that move are the ones to hide: with them hidden,
    both copies are consistent with what is published, so the target is left a range of
    at least the threshold. A linear program (HiGHS) finds the cheapest such pair: this is
    the textbook optimal secondary suppression (as in tau-argus), relaxed to L1, which
    replaces hiding one cheap cell at a time when no single cell is enough (that cascaded:
    Slough's wards lost 60 figures to five small counts).
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    n = len(v)
    if not members:
        return None
    a = _relation_matrix(members, n)
    free = np.flatnonzero(~hid & ~frz & ~virt)  # published now, may still be hidden
    nf = len(free)
    # variables: up (n), down (n), then per free cell: up+, up-, down+, down- deviations
    nv = 2 * n + 4 * nf
    zero = sp.csr_matrix((len(members), n))
    eq_rel = sp.vstack([sp.hstack([a, zero]), sp.hstack([zero, a])])
    eq_rel = sp.hstack([eq_rel, sp.csr_matrix((2 * len(members), 4 * nf))])
    sel = sp.csr_matrix((np.ones(nf), (np.arange(nf), free)), shape=(nf, n))
    eye = sp.identity(nf, format="csr")
    znf = sp.csr_matrix((nf, n))
    zdev = sp.csr_matrix((nf, 2 * nf))
    dev_up = sp.hstack([sel, znf, -eye, eye, zdev])
    dev_dn = sp.hstack([znf, sel, zdev, -eye, eye])
    a_eq = sp.vstack([eq_rel, dev_up, dev_dn]).tocsr()
    b_eq = np.concatenate([np.zeros(2 * len(members)), v[free], v[free]])
    # up[target] - down[target] >= threshold
    a_ub = sp.csr_matrix(([-1.0, 1.0], ([0, 0], [target, n + target])), shape=(1, nv))
    b_ub = np.array([-float(threshold)])
    lo = np.zeros(nv)
    hi = np.full(nv, _BIG)
    fixed = ~hid & ~virt & frz  # decided: within rounding
    for off in (0, n):
        lo[off : off + n] = np.where(fixed, np.maximum(v - half, 0.0), 0.0)
        hi[off : off + n] = np.where(fixed, v + half, _BIG)
    # moving a cell costs per person moved, more for larger figures (totals, headlines):
    # between two equally small fixes, interior cells are hidden rather than totals
    w = 1.0 + v[free] / max(float(v.max()), 1e-9)
    cost = np.zeros(nv)
    cost[2 * n :] = np.tile(w, 4)
    res = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=np.column_stack([lo, hi]),
        method="highs",
    )
    if res.status != 0:
        return None
    d = res.x[2 * n :].reshape(4, nf)
    moved = free[(np.abs(d) > 1e-7).any(axis=0)]
    return [int(c) for c in moved] or None
