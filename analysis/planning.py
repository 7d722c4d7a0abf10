"""Where the next k sites cover the most unmet need: candidates, MCLP (exact or greedy), tables."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from harmreach.analysis.scenario import CoverageResult, site_xy
from harmreach.geo.errors import InputError
from harmreach.geo.travel import EstimatedEngine, NetworkEngine

log = logging.getLogger(__name__)

OBJECTIVES = ("coverage", "backup", "equity")
#: What each objective measures (its gains and value are in these terms).
OBJECTIVE_LABELS = {
    "coverage": "need newly within reach of a site",
    "backup": "need newly within reach of two sites",
    "equity": "rise of the lowest area share of need within reach (areas a candidate can reach)",
}
#: Generated candidates lie on a grid of this spacing over uncovered need.
CANDIDATE_GRID_M = 250.0
#: Candidates closer than this to an existing site are left out.
MIN_DISTANCE_M = 400.0
#: Above this many candidate × demand pairs the exact solver is not tried by default.
EXACT_MAX_PAIRS = 5_000_000


@dataclass
class PlanResult:
    """Chosen candidates in pick order, with each one's gain in the objective.

    ``objective`` is what the plan adds to the objective's value (``value_after -
    value_before``) and ``gains`` add up to it, step by step:

    - ``coverage``: need newly within T of a site;
    - ``backup``: need newly within T of two sites;
    - ``equity``: the rise of the lowest share of need within T among the areas a candidate
      can reach (areas whose need beyond T no candidate reaches are left out, and named in
      ``notes``); ties are broken by the next-lowest share, then by need newly covered.
    """

    chosen: np.ndarray  # candidate indices, in incremental order
    gains: np.ndarray  # each one's gain in the objective, in that order
    objective: float  # the gain of all chosen (= gains.sum())
    method: str  # "exact (HiGHS integer program)" or "greedy"
    optimal: bool
    bound: float | None = None  # upper bound on the objective (LP/MIP dual bound)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    objective_name: str = "coverage"
    value_before: float = 0.0  # the objective's level before: need, or a share for equity
    value_after: float = 0.0
    shortfall: str | None = None  # why fewer sites than asked for, when so
    excluded_areas: list[str] = field(default_factory=list)  # equity: left out of the minimum

    @property
    def gap(self) -> float | None:
        """Relative gap to the bound (0 when optimal)."""
        if self.bound is None or self.objective <= 0 or self.bound <= 0:
            return None
        return max(0.0, (self.bound - self.objective) / self.bound)

    @property
    def label(self) -> str:
        """What the objective measures, in words."""
        return OBJECTIVE_LABELS[self.objective_name]


def coverage_matrix(
    engine: EstimatedEngine | NetworkEngine,
    demand_xy: np.ndarray,
    cand_xy: np.ndarray,
    minutes: float,
) -> sp.csr_matrix:
    """Sparse (n_demand, n_candidates) 0/1: candidate within ``minutes`` of the demand point."""
    demand_xy = np.asarray(demand_xy, float).reshape(-1, 2)
    cand_xy = np.asarray(cand_xy, float).reshape(-1, 2)
    if isinstance(engine, EstimatedEngine):
        r = engine.reach_radius_m(minutes)
        tree = cKDTree(cand_xy)
        lists = tree.query_ball_point(demand_xy, r=r, workers=-1)
        rows = np.repeat(np.arange(len(demand_xy)), [len(x) for x in lists])
        cols = (
            np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
            if len(rows)
            else (np.zeros(0, np.int64))
        )
    else:
        # sparse pairs within T (the engine's bounded searches), never a points x
        # candidates matrix
        pairs = engine.within(demand_xy, cand_xy, minutes * 60.0)
        rows, cols = pairs.point, pairs.site
    return sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(len(demand_xy), len(cand_xy))
    )


def _compress(
    a: sp.csr_matrix,
    weight: np.ndarray,
    deficit: np.ndarray,
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Drop rows that need nothing or that no candidate reaches; merge identical rows.

    Rows with the same candidate set and the same deficit behave identically in the
    problem, so they become one row carrying their summed need: much smaller programs.
    """
    reach = np.diff(a.indptr) > 0
    keep = reach & (weight > 0) & (deficit > 0)
    a = a[keep]
    w = weight[keep]
    r = deficit[keep]
    if a.shape[0] == 0:
        return a, w, r
    keys = [
        a.indices[a.indptr[i] : a.indptr[i + 1]].tobytes() + bytes([int(r[i])])
        for i in range(a.shape[0])
    ]
    codes, _ = pd.factorize(pd.Series(keys))
    w2 = np.bincount(codes, weights=w)
    uniq = np.unique(codes, return_index=True)[1]
    return a[uniq], w2, r[uniq]


def greedy(
    a: sp.csr_matrix, weight: np.ndarray, k: int, deficit: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy covering: repeatedly add the candidate with the largest gain.

    A point needing ``deficit`` more sites earns need/deficit per new site reaching it, so
    backup coverage (two sites) progresses too. With deficits of 1 this is the classic
    maximal-covering greedy with its (1 - 1/e) guarantee (coverage is submodular).
    Returns the chosen candidates and the need each one completed; it stops early, with
    fewer than k, when no candidate would complete any more need.
    """
    a = sp.csc_matrix(a, dtype=np.float64)
    r = np.ones(a.shape[0]) if deficit is None else np.asarray(deficit, float)
    w = np.asarray(weight, float)
    credit = np.divide(w, r, out=np.zeros_like(w), where=r > 0)
    count = np.zeros(a.shape[0])
    done = r <= 0
    chosen: list[int] = []
    gains: list[float] = []
    gain = a.T @ np.where(done, 0.0, credit)
    for _ in range(min(k, a.shape[1])):
        j = int(np.argmax(gain))
        if gain[j] <= 1e-12:
            break
        col = a.indices[a.indptr[j] : a.indptr[j + 1]]
        open_ = col[~done[col]]
        count[open_] += 1
        newly = open_[count[open_] >= r[open_]]
        done[newly] = True
        chosen.append(j)
        gains.append(float(w[newly].sum()))
        if len(newly):
            gain = gain - a[newly].T @ credit[newly]
        gain[j] = -np.inf
    # A last pick that completes nothing (it only reached points still short of a second
    # site) adds nothing to the objective: leave it out rather than report a useless site.
    while gains and gains[-1] <= 1e-12:
        gains.pop()
        chosen.pop()
    return np.asarray(chosen, dtype=np.int64), np.asarray(gains)


def _program(a: sp.csr_matrix, weight: np.ndarray, k: int, deficit: np.ndarray):
    """Max Σ w_i z_i  s.t.  r_i z_i ≤ Σ_j a_ij x_j,  Σ_j x_j ≤ k,  x binary, z in [0, 1]."""
    n_d, n_c = a.shape
    c = np.concatenate([np.zeros(n_c), -weight])
    cover = sp.hstack([-sp.csr_matrix(a, dtype=np.float64), sp.diags(deficit.astype(float))])
    budget = sp.hstack([sp.csr_matrix(np.ones((1, n_c))), sp.csr_matrix((1, n_d))])
    cons = [LinearConstraint(cover.tocsr(), -np.inf, 0.0), LinearConstraint(budget, 0, k)]
    # z may stay continuous where the deficit is 1: z <= min(1, integer) is integral at the
    # optimum anyway. A point short of two sites must be integral (one site would earn half).
    # On the demo's backup plan (k = 3) this took HiGHS from 47 s to 33 s.
    integrality = np.concatenate([np.ones(n_c), (deficit > 1).astype(float)])
    return c, cons, integrality


def undominated(a: sp.csr_matrix) -> np.ndarray:
    """Candidates whose covered set is not inside another's (ties: the first is kept).

    A dominated candidate can always be swapped for its dominator without loss, so the
    optimum over the rest is the optimum over all; on the demo a third of them go.
    """
    ac = sp.csc_matrix(a, dtype=np.float64)
    size = np.diff(ac.indptr)
    ov = (ac.T @ ac).tocsr()
    rows = np.repeat(np.arange(ov.shape[0]), np.diff(ov.indptr))
    cols = ov.indices
    inside = ov.data >= size[rows]  # cover(rows) ⊆ cover(cols)
    strict = inside & (rows != cols) & ((size[cols] > size[rows]) | (cols < rows))
    dominated = np.zeros(ov.shape[0], dtype=bool)
    dominated[rows[strict]] = True
    return np.flatnonzero(~dominated & (size > 0))


def exact_mclp(
    a: sp.csr_matrix,
    weight: np.ndarray,
    k: int,
    time_limit_s: float = 60.0,
    deficit: np.ndarray | None = None,
) -> tuple[np.ndarray, float, bool, float | None]:
    """Maximal covering by integer programming (HiGHS via ``scipy.optimize.milp``)."""
    n_d, n_c = a.shape
    r = np.ones(n_d) if deficit is None else np.asarray(deficit, float)
    if n_d == 0 or n_c == 0 or k == 0:
        return np.zeros(0, np.int64), 0.0, True, 0.0
    # Dominance holds only when one more site completes every point: a point needing two
    # may need both a candidate and the one that dominates it.
    keep = undominated(a) if (r <= 1).all() else np.arange(n_c)
    sub = sp.csr_matrix(a)[:, keep]
    c, cons, integrality = _program(sub, weight, k, r)
    # Presolve off: on covering programs like the demo's (8,800 rows × 3,500 candidates)
    # HiGHS spent 6 s of 8 s in presolve and then solved at the root; without it, 1.6 s.
    res = milp(
        c=c,
        constraints=cons,
        integrality=integrality,
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit_s, "disp": False, "presolve": False},
    )
    if res.x is None:
        raise InputError(f"the solver found no plan ({res.message}).")
    x = np.zeros(n_c)
    x[keep[res.x[: len(keep)] > 0.5]] = 1.0
    reached = np.asarray(a @ x).ravel()
    obj = float(weight[reached >= r].sum())
    bound = None if res.get("mip_dual_bound") is None else -float(res.mip_dual_bound)
    return np.flatnonzero(x), obj, res.status == 0, bound


def order_by_gain(
    a: sp.csr_matrix, weight: np.ndarray, chosen: np.ndarray, deficit: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Order a chosen set site by site, each time taking the one adding the most.

    Sites of the set that add nothing once the others are in are left out (a solver may
    fill its budget with them); the caller reports the shortfall.
    """
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        return chosen, np.zeros(0)
    sub = sp.csr_matrix(a)[:, chosen]
    order, gains = greedy(sub, weight, len(chosen), deficit)
    return chosen[order], gains


def plan_sites(
    a: sp.csr_matrix,
    need: np.ndarray,
    k: int,
    *,
    existing_count: np.ndarray | None = None,
    objective: str = "coverage",
    area_code: np.ndarray | None = None,
    exact: bool | None = None,
    time_limit_s: float = 60.0,
    bound: bool = True,
) -> PlanResult:
    """Choose up to k candidates (existing sites kept) that do best on the objective.

    Parameters
    ----------
    a
        (n_demand, n_candidates) coverage matrix.
    need
        Need per demand point.
    k
        Number of new sites.
    existing_count
        Existing sites within T of each demand point (default 0).
    objective
        ``coverage`` (need newly within T of a site), ``backup`` (need newly within T of two
        sites), or ``equity`` (raise the lowest area share of need within T; areas whose need
        beyond T no candidate reaches are left out of the minimum, with a note).
    area_code
        Area of each demand point (needed for ``equity``; also used for nothing else).
    exact
        Force the integer program (True) or greedy (False); default: exact when the matrix
        has at most 5 million pairs (for equity, at most ``EQUITY_EXACT_MAX_PAIRS``).
    bound
        For greedy, also solve the LP relaxation to report the gap to optimal.

    Returns
    -------
    PlanResult
        With ``gains`` per step adding up to ``objective`` in the objective's own terms,
        ``value_before``/``value_after``, and ``shortfall`` saying why when fewer than k
        sites are placed.
    """
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective '{objective}'.", fix=f"use {', '.join(OBJECTIVES)}.")
    if k < 1:
        raise InputError(f"cannot add {k} sites.", fix="ask for at least one (--add 1).")
    if a.shape[1] == 0:
        raise InputError(
            "there are no candidate sites.",
            fix="supply candidates, or lower the minimum distance from sites.",
        )
    need = np.asarray(need, float)
    existing = (
        np.zeros(len(need), np.int64) if existing_count is None else np.asarray(existing_count)
    )
    t0 = time.perf_counter()
    if objective == "equity":
        res = _equity(a, need, k, existing, area_code, exact, time_limit_s, bound)
    else:
        res = _covering(a, need, k, existing, objective, exact, time_limit_s, bound)
    res.seconds = time.perf_counter() - t0
    res.shortfall = _shortfall(res, k, a.shape[1])
    if res.shortfall:
        res.notes.append(res.shortfall)
    return res


def _covering(
    a: sp.csr_matrix,
    need: np.ndarray,
    k: int,
    existing: np.ndarray,
    objective: str,
    exact: bool | None,
    time_limit_s: float,
    bound: bool,
) -> PlanResult:
    """Coverage (one site within T) or backup (two sites within T), exact or greedy."""
    level = 1 if objective == "coverage" else 2
    deficit = np.clip(level - existing, 0, level).astype(float)
    weight = np.where(deficit > 0, need, 0.0)
    bc, wc, rc = _compress(sp.csr_matrix(a), weight, deficit)
    use_exact = exact if exact is not None else (a.nnz <= EXACT_MAX_PAIRS)
    notes = []
    if use_exact:
        chosen, obj, optimal, bnd = exact_mclp(bc, wc, k, time_limit_s, rc)
        method = "exact (HiGHS integer program)"
        if not optimal:
            notes.append("time limit reached: best plan found, not proven optimal")
        chosen, gains = order_by_gain(a, weight, chosen, deficit)
    else:
        chosen, gains = greedy(bc, wc, k, rc)
        optimal = False
        bnd = _lp_bound(bc, wc, k, rc) if bound else None
        method = "greedy"
    before = float(need[existing >= level].sum())
    obj = float(gains.sum())
    return PlanResult(
        chosen=chosen,
        gains=gains,
        objective=obj,
        method=method,
        optimal=optimal,
        bound=bnd,
        notes=notes,
        objective_name=objective,
        value_before=before,
        value_after=before + obj,
    )


def _shortfall(res: PlanResult, k: int, n_candidates: int) -> str | None:
    """Why fewer than k sites were placed (None when all k were)."""
    placed = len(res.chosen)
    if placed >= k:
        return None
    head = f"asked for {k} site(s), placed {placed}: "
    if n_candidates < k and placed == n_candidates:
        return head + f"only {n_candidates} candidate site(s) were available"
    why = {
        "coverage": "no other candidate reaches need that is still beyond reach of a site",
        "backup": "no other candidate brings more need within reach of a second site",
        "equity": "no other candidate raises the share of need within reach of any area "
        "it can reach",
    }[res.objective_name]
    return head + why


def _lp_bound(a: sp.csr_matrix, w: np.ndarray, k: int, deficit: np.ndarray) -> float | None:
    """Upper bound from the LP relaxation (for the greedy plan's optimality gap)."""
    if a.shape[0] == 0:
        return 0.0
    c, cons, _ = _program(a, w, k, deficit)
    res = milp(c=c, constraints=cons, bounds=Bounds(0, 1), options={"time_limit": 60.0})
    return None if res.x is None else -float(res.fun)


#: Above this many candidate × demand pairs the exact equity program is not tried by default
#: (max-min programs have weak relaxations: they take much longer than covering ones).
EQUITY_EXACT_MAX_PAIRS = 200_000


@dataclass
class _EquitySetup:
    """Areas, their need and covered need, and which areas the max-min ranges over."""

    inv: np.ndarray  # area index of each demand point
    codes: np.ndarray
    total: np.ndarray  # need per area
    base: np.ndarray  # need already within reach per area
    ranked: np.ndarray  # bool per area: part of the minimum
    excluded: list[str]  # areas with need beyond reach that no candidate reaches

    def shares(self, covered_need: np.ndarray) -> np.ndarray:
        """Share of need within reach per ranked area, given the need newly covered."""
        m = self.ranked
        return (self.base[m] + covered_need[m]) / self.total[m]


def equity_setup(
    a: sp.csr_matrix, need: np.ndarray, existing: np.ndarray, area_code: np.ndarray | None
) -> _EquitySetup:
    """Which areas the equity objective ranks: need > 0, and not beyond every candidate.

    An area with need beyond reach of the existing sites none of which any candidate
    reaches cannot be raised by any plan; keeping it would pin the minimum and make every
    plan equally "good", so it is left out (and named).
    """
    if area_code is None:
        raise InputError("the equity objective needs the area of each demand point.")
    need = np.asarray(need, float)
    codes, inv = np.unique(np.asarray(area_code).astype(str), return_inverse=True)
    inv = inv.ravel()
    n_a = len(codes)
    covered = np.asarray(existing) >= 1
    total = np.bincount(inv, weights=need, minlength=n_a)
    base = np.bincount(inv, weights=np.where(covered, need, 0.0), minlength=n_a)
    reached = np.diff(sp.csr_matrix(a).indptr) > 0
    reachable = np.bincount(inv, weights=np.where(~covered & reached, need, 0.0), minlength=n_a)
    tol = 1e-12 * max(1.0, float(total.max()) if n_a else 1.0)
    stuck = (total > tol) & (total - base > tol) & (reachable <= tol)
    ranked = (total > tol) & ~stuck
    return _EquitySetup(inv, codes, total, base, ranked, codes[stuck].tolist())


def _area_gain_matrix(
    a: sp.csr_matrix, need: np.ndarray, rows: np.ndarray, inv: np.ndarray, n_areas: int
) -> np.ndarray:
    """(n_candidates, n_areas): need of ``rows`` each candidate reaches, per area."""
    onehot = sp.csr_matrix(
        (need[rows], (np.arange(len(rows)), inv[rows])), shape=(len(rows), n_areas)
    )
    return np.asarray((sp.csr_matrix(a)[rows].T @ onehot).todense())


def _leximin_pick(
    shares: np.ndarray, add: np.ndarray, total_gain: np.ndarray, allowed: np.ndarray
) -> int | None:
    """The candidate whose sorted area shares are lexicographically highest (then most need).

    ``shares``: current shares of the ranked areas; ``add``: (n_candidates, n_ranked) share
    each candidate would add. None when no allowed candidate adds anything.
    """
    useful = allowed & (add.sum(axis=1) > 1e-12)
    if not useful.any():
        return None
    idx = np.flatnonzero(useful)
    after = np.round(np.sort(shares[None, :] + add[idx], axis=1), 12)
    keys = [total_gain[idx]] + [after[:, c] for c in range(after.shape[1] - 1, -1, -1)]
    return int(idx[np.lexsort(keys)[-1]])


def _equity_greedy(
    a: sp.csr_matrix, need: np.ndarray, k: int, existing: np.ndarray, st: _EquitySetup
) -> tuple[np.ndarray, np.ndarray]:
    """Leximin greedy: each step raises the lowest ranked share most (then the next lowest).

    Returns the chosen candidates and the rise of the minimum share at each step.
    """
    a = sp.csr_matrix(a, dtype=np.float64)
    n_c = a.shape[1]
    covered = np.asarray(existing) >= 1
    n_a = len(st.codes)
    open_rows = np.flatnonzero(~covered & (need > 0))
    gain = _area_gain_matrix(a, need, open_rows, st.inv, n_a)  # need newly covered, per area
    covered_need = np.zeros(n_a)
    m = st.ranked
    allowed = np.ones(n_c, bool)
    chosen: list[int] = []
    gains: list[float] = []
    ac = sp.csc_matrix(a)
    while len(chosen) < k and m.any():
        shares = st.shares(covered_need)
        j = _leximin_pick(shares, gain[:, m] / st.total[m], gain.sum(axis=1), allowed)
        if j is None:
            break
        col = ac.indices[ac.indptr[j] : ac.indptr[j + 1]]
        newly = col[~covered[col] & (need[col] > 0)]
        covered[newly] = True
        covered_need += np.bincount(st.inv[newly], weights=need[newly], minlength=n_a)
        if len(newly):
            gain -= _area_gain_matrix(a, need, newly, st.inv, n_a)
        allowed[j] = False
        chosen.append(j)
        gains.append(float(st.shares(covered_need).min() - shares.min()))
    return np.asarray(chosen, np.int64), np.asarray(gains)


def _equity_program(
    a: sp.csr_matrix, need: np.ndarray, existing: np.ndarray, st: _EquitySetup, k: int
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the max-min program: (matrix, weights, area per row, kept candidates, areas).

    Points already within reach, without need, out of every candidate's reach or in areas
    left out drop; points with the same area and candidate set merge.
    """
    a = sp.csr_matrix(a)
    covered = np.asarray(existing) >= 1
    reached = np.diff(a.indptr) > 0
    keep = ~covered & (need > 0) & reached & st.ranked[st.inv]
    ak = a[keep]
    w = need[keep]
    area = st.inv[keep]
    keys = [
        ak.indices[ak.indptr[i] : ak.indptr[i + 1]].tobytes() + int(area[i]).to_bytes(4, "little")
        for i in range(ak.shape[0])
    ]
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))
    w2 = np.bincount(codes, weights=w) if len(w) else np.zeros(0)
    first = np.unique(codes, return_index=True)[1] if len(w) else np.zeros(0, np.int64)
    ak, area = ak[first], area[first]
    cand = undominated(ak) if ak.shape[0] else np.zeros(0, np.int64)
    return ak[:, cand], w2, area, cand, np.flatnonzero(st.ranked)


def _equity_milp(
    ak: sp.csr_matrix,
    w: np.ndarray,
    area: np.ndarray,
    ranked: np.ndarray,
    st: _EquitySetup,
    k: int,
    *,
    t_min: float | None,
    relax: bool,
    time_limit_s: float,
):
    """Phase 1 (``t_min`` None): max t, the lowest share; phase 2: max need with t ≥ t_min.

    Variables x (candidates, binary), z (rows, [0, 1]), t; z_r ≤ Σ_j a_rj x_j;
    base_m + Σ_{r in m} w_r z_r ≥ t total_m for every ranked area m; Σ x ≤ k.
    """
    n_r, n_c = ak.shape
    pos = {int(m): i for i, m in enumerate(ranked)}
    cover = sp.hstack(
        [-sp.csr_matrix(ak, dtype=np.float64), sp.identity(n_r), sp.csr_matrix((n_r, 1))]
    )
    rows_m = np.array([pos[int(x)] for x in area], dtype=np.int64)
    area_w = sp.csr_matrix((w, (rows_m, np.arange(n_r))), shape=(len(ranked), n_r))
    t_col = sp.csr_matrix(st.total[ranked].reshape(-1, 1))
    share = sp.hstack([sp.csr_matrix((len(ranked), n_c)), -area_w, t_col])
    budget = sp.hstack([sp.csr_matrix(np.ones((1, n_c))), sp.csr_matrix((1, n_r + 1))])
    cons = [
        LinearConstraint(cover.tocsr(), -np.inf, 0.0),
        LinearConstraint(share.tocsr(), -np.inf, st.base[ranked]),
        LinearConstraint(budget.tocsr(), 0, k),
    ]
    lb = np.zeros(n_c + n_r + 1)
    ub = np.ones(n_c + n_r + 1)
    if t_min is None:
        c = np.zeros(n_c + n_r + 1)
        c[-1] = -1.0
    else:
        c = np.concatenate([np.zeros(n_c), -w, [0.0]])
        lb[-1] = t_min
    integrality = None if relax else np.concatenate([np.ones(n_c), np.zeros(n_r + 1)])
    return milp(
        c=c,
        constraints=cons,
        integrality=integrality,
        bounds=Bounds(lb, ub),
        options={"time_limit": time_limit_s, "disp": False},
    )


def _equity_exact(
    a: sp.csr_matrix,
    need: np.ndarray,
    k: int,
    existing: np.ndarray,
    st: _EquitySetup,
    time_limit_s: float,
) -> tuple[np.ndarray, bool, float | None]:
    """Max-min optimum (then the most need covered among max-min plans): (set, optimal, t)."""
    ak, w, area, cand, ranked = _equity_program(a, need, existing, st, k)
    if ak.shape[0] == 0 or len(cand) == 0:
        return np.zeros(0, np.int64), True, None
    t0 = time.perf_counter()
    p1 = _equity_milp(
        ak, w, area, ranked, st, k, t_min=None, relax=False, time_limit_s=time_limit_s
    )
    if p1.x is None:
        raise InputError(f"the solver found no equity plan ({p1.message}).")
    t_star = float(p1.x[-1])
    # Phase 2 keeps the lowest share at its optimum (less a rounding margin) and covers the
    # most need: among max-min plans, the one a planner would pick.
    p2 = _equity_milp(
        ak,
        w,
        area,
        ranked,
        st,
        k,
        t_min=max(0.0, t_star - 1e-9),
        relax=False,
        time_limit_s=max(1.0, time_limit_s - (time.perf_counter() - t0)),
    )
    x = p1.x if p2.x is None else p2.x
    chosen = cand[x[: len(cand)] > 0.5]
    bound = None if p1.get("mip_dual_bound") is None else float(-p1.mip_dual_bound)
    return chosen, p1.status == 0 and (p2.x is None or p2.status == 0), bound


def _equity(
    a: sp.csr_matrix,
    need: np.ndarray,
    k: int,
    existing: np.ndarray,
    area_code: np.ndarray | None,
    exact: bool | None,
    time_limit_s: float,
    bound: bool,
) -> PlanResult:
    """Raise the lowest area share of need within reach, greedily or exactly."""
    st = equity_setup(a, need, existing, area_code)
    notes = []
    if st.excluded:
        notes.append(
            f"{len(st.excluded)} area(s) have need beyond reach that no candidate reaches and "
            "are left out of the lowest share: " + ", ".join(st.excluded[:10])
        )
    before = float(st.shares(np.zeros(len(st.codes))).min()) if st.ranked.any() else 1.0
    use_exact = exact if exact is not None else (a.nnz <= EQUITY_EXACT_MAX_PAIRS)
    bnd_t = None
    if use_exact:
        chosen, optimal, bnd_t = _equity_exact(a, need, k, existing, st, time_limit_s)
        if not optimal:
            notes.append("time limit reached: best plan found, not proven optimal")
        # site by site in the same leximin order as greedy, dropping sites that add nothing
        sub_order, gains = _equity_greedy(sp.csr_matrix(a)[:, chosen], need, k, existing, st)
        chosen = chosen[sub_order]
        method = "exact (HiGHS integer program: max-min share, then most need)"
    else:
        chosen, gains = _equity_greedy(a, need, k, existing, st)
        optimal = False
        method = "greedy (raise the lowest area share first)"
        if bound and st.ranked.any():
            ak, w, area, cand, ranked = _equity_program(a, need, existing, st, k)
            if ak.shape[0]:
                lp = _equity_milp(
                    ak, w, area, ranked, st, k, t_min=None, relax=True, time_limit_s=time_limit_s
                )
                bnd_t = None if lp.x is None else float(-lp.fun)
    obj = float(gains.sum())
    if len(chosen) and obj <= 1e-12:
        low = st.shares(np.zeros(len(st.codes)))
        notes.append(
            f"the lowest area share stays at {100 * before:.1f}%: {int((low <= before).sum())} "
            f"area(s) share it and {k} site(s) cannot raise them all; the sites raise the "
            "lowest areas they can, in turn"
        )
    return PlanResult(
        chosen=np.asarray(chosen, np.int64),
        gains=gains,
        objective=obj,
        method=method,
        optimal=optimal,
        bound=None if bnd_t is None else max(0.0, bnd_t - before),
        notes=notes,
        objective_name="equity",
        value_before=before,
        value_after=before + obj,
        excluded_areas=st.excluded,
    )


def generate_candidates(
    demand_xy: np.ndarray,
    need: np.ndarray,
    uncovered: np.ndarray,
    site_xy: np.ndarray,
    *,
    grid_m: float = CANDIDATE_GRID_M,
    min_distance_m: float = MIN_DISTANCE_M,
    avoid: shapely.Geometry | None = None,
    max_candidates: int | None = None,
) -> np.ndarray:
    """Candidate points: grid cells holding uncovered need, placed at their need-weighted centre.

    Cells within ``min_distance_m`` of an existing site, or inside ``avoid``, are left out.
    """
    m = uncovered & (need > 0)
    xy = np.asarray(demand_xy, float)[m]
    w = np.asarray(need, float)[m]
    if len(xy) == 0:
        return np.zeros((0, 2))
    cell = np.floor(xy / grid_m).astype(np.int64)
    key = cell[:, 0] * 10_000_000 + cell[:, 1]
    codes, inv = np.unique(key, return_inverse=True)
    wsum = np.bincount(inv, weights=w)
    cx = np.bincount(inv, weights=w * xy[:, 0]) / wsum
    cy = np.bincount(inv, weights=w * xy[:, 1]) / wsum
    cand = np.column_stack([cx, cy])
    order = np.argsort(-wsum, kind="stable")
    cand = cand[order]
    if len(site_xy):
        d, _ = cKDTree(np.asarray(site_xy, float)).query(cand)
        cand = cand[d >= min_distance_m]
    if avoid is not None and not avoid.is_empty:
        cand = cand[~shapely.contains_xy(avoid, cand[:, 0], cand[:, 1])]
    if max_candidates:
        cand = cand[:max_candidates]
    return cand


TABLE_COLUMNS = [
    "order",
    "candidate",
    "x",
    "y",
    "need_added",
    "share_covered_after",
    "share_backup_after",
    "min_area_share_after",
    "areas_gaining",
    "area_code",
]


def incremental_table(
    plan: PlanResult,
    a: sp.csr_matrix,
    need: np.ndarray,
    existing_count: np.ndarray,
    area_code: np.ndarray,
    area_names: pd.Series,
    cand_xy: np.ndarray,
) -> pd.DataFrame:
    """Site by site, recomputed from the coverage matrix: what each one adds, and after it.

    Columns: ``need_added`` (the objective's gain in need: need newly within reach of a site
    for ``coverage`` and ``equity``, newly within reach of two sites for ``backup``),
    ``share_covered_after`` (one site within T), ``share_backup_after`` (two sites),
    ``min_area_share_after`` (the lowest share of need within reach among the areas a
    candidate can reach, the equity objective), ``areas_gaining`` (up to three names, most
    ``need_added`` first) and ``area_code`` (the first of them). ``attrs`` hold the values
    before the first site (``share_covered_before``, ``share_backup_before``,
    ``min_area_share_before``), ``objective``, ``objective_label``, ``objective_gains``
    (per step, in the objective's terms: they add up to ``plan.objective``), and
    ``need_added_share``/``need_added_base``: the running share ``need_added`` accumulates
    in (``share_backup_after`` for backup, else ``share_covered_after``) and the area-table
    count it starts from (``need_backup`` or ``need_covered``).
    """
    need = np.asarray(need, float)
    count = np.asarray(existing_count, dtype=np.int64).copy()
    total = need.sum()
    codes = np.asarray(area_code).astype(str)
    st = equity_setup(a, need, count, codes)
    a = sp.csc_matrix(a)
    objective = plan.objective_name

    def shares() -> tuple[float, float, float]:
        one = float(need[count >= 1].sum() / total) if total else np.nan
        two = float(need[count >= 2].sum() / total) if total else np.nan
        if not st.ranked.any():
            return one, two, np.nan
        covered_area = np.bincount(
            st.inv, weights=np.where(count >= 1, need, 0.0), minlength=len(st.codes)
        )
        low = float((covered_area[st.ranked] / st.total[st.ranked]).min())
        return one, two, low

    one0, two0, low0 = shares()
    rows = []
    prev = {"coverage": need[count >= 1].sum(), "backup": need[count >= 2].sum(), "equity": low0}
    steps = []
    for step, j in enumerate(plan.chosen, start=1):
        col = a.indices[a.indptr[j] : a.indptr[j + 1]]
        count[col] += 1
        level = 2 if objective == "backup" else 1
        gained = col[count[col] == level]  # reached the objective's level at this step
        gain_by_area = (
            pd.Series(need[gained]).groupby(codes[gained]).sum().sort_values(ascending=False)
        )
        gain_by_area = gain_by_area[gain_by_area > 0]
        one, two, low = shares()
        now = {"coverage": need[count >= 1].sum(), "backup": need[count >= 2].sum(), "equity": low}
        steps.append(float(now[objective] - prev[objective]))
        prev = now
        rows.append(
            {
                "order": step,
                "candidate": int(j),
                "x": float(cand_xy[j, 0]),
                "y": float(cand_xy[j, 1]),
                "need_added": float(need[gained].sum()),
                "share_covered_after": one,
                "share_backup_after": two,
                "min_area_share_after": low,
                "areas_gaining": ", ".join(
                    str(area_names.get(c, c)) for c in gain_by_area.index[:3]
                ),
                "area_code": gain_by_area.index[0] if len(gain_by_area) else None,
            }
        )
    df = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    df.attrs.update(
        {
            "share_covered_before": one0,
            "share_backup_before": two0,
            "min_area_share_before": low0,
            "objective": objective,
            "objective_label": OBJECTIVE_LABELS[objective],
            "objective_gains": steps,
            # need_added accumulates in this running share, from this area-table count:
            # share_after[i] * total need = before + need_added[1..i]
            "need_added_share": "share_backup_after"
            if objective == "backup"
            else "share_covered_after",
            "need_added_base": "need_backup" if objective == "backup" else "need_covered",
        }
    )
    return df


#: Table columns kept out of the proposed-sites layer: running shares whose differences are
#: counts the publishing gate does not (yet) protect. They stay in ``SitePlan.table``.
TABLE_ONLY = ["share_backup_after", "min_area_share_after"]


def proposed_sites(table: pd.DataFrame, crs: object) -> gpd.GeoDataFrame:
    """The plan as points (analysis CRS), without the table-only running shares."""
    return gpd.GeoDataFrame(
        table.drop(columns=["x", "y", *[c for c in TABLE_ONLY if c in table.columns]]),
        geometry=gpd.points_from_xy(table["x"], table["y"]),
        crs=crs,
    )


@dataclass
class SitePlan:
    """A plan for a coverage run: proposed sites, the incremental table, before and after.

    ``share_before``/``share_after`` are shares of need within reach of one site, whatever
    the objective; the objective's own values are ``result.value_before``/``value_after``
    (and the table's attrs), its per-step gains ``result.gains``.
    """

    proposed: gpd.GeoDataFrame
    table: pd.DataFrame
    result: PlanResult
    share_before: float
    share_after: float
    n_candidates: int
    candidates_from: str
    objective: str = "coverage"
    #: per step, the demand points whose count the objective measures it raises (newly
    #: within reach of a site; of two sites for backup): the gate audits the plan over them
    step_masks: list[np.ndarray] | None = None

    @property
    def shortfall(self) -> str | None:
        """Why fewer sites than asked for were proposed (None when all were)."""
        return self.result.shortfall


def plan_step_masks(
    a: sp.spmatrix, chosen: np.ndarray, existing_count: np.ndarray, objective: str
) -> list[np.ndarray]:
    """Per chosen candidate in order, the demand points it newly brings to the objective's level.

    The level is one site within T (``coverage``, ``equity``) or two (``backup``): a step's
    ``need_added`` is the need at exactly these points.
    """
    level = 2 if objective == "backup" else 1
    a = sp.csc_matrix(a)
    count = np.asarray(existing_count, dtype=np.int64).copy()
    out = []
    for j in np.asarray(chosen, dtype=np.int64):
        col = a.indices[a.indptr[j] : a.indptr[j + 1]]
        was = count[col] >= level
        count[col] += 1
        m = np.zeros(len(count), bool)
        m[col[~was & (count[col] >= level)]] = True
        out.append(m)
    return out


def plan_for_run(
    run: CoverageResult,
    engine: EstimatedEngine | NetworkEngine,
    k: int,
    *,
    candidates_xy: np.ndarray | None = None,
    candidates_from: str = "generated",
    objective: str = "coverage",
    exact: bool | None = None,
    min_distance_m: float = MIN_DISTANCE_M,
    area_names: pd.Series | None = None,
    bound: bool = True,
    avoid: shapely.Geometry | None = None,
) -> SitePlan:
    """Propose k new sites for a coverage run (its sites in play are kept).

    Candidates (generated or given) closer than ``min_distance_m`` to a site in play, or
    inside ``avoid``, are left out.
    """
    d = run.demand
    dxy = site_xy(d)
    play = run.sites[run.sites["in_play"]]
    sxy = site_xy(play)
    minutes = run.params.minutes
    existing = np.asarray(d["n_within"], dtype=np.int64)
    need = d["need"].to_numpy(float)
    if candidates_xy is None:
        cand = generate_candidates(
            dxy, need, existing == 0, sxy, min_distance_m=min_distance_m, avoid=avoid
        )
    else:
        cand = np.asarray(candidates_xy, float).reshape(-1, 2)
        if len(sxy) and len(cand):
            dist, _ = cKDTree(sxy).query(cand)
            cand = cand[dist >= min_distance_m]
        if avoid is not None and not avoid.is_empty and len(cand):
            cand = cand[~shapely.contains_xy(avoid, cand[:, 0], cand[:, 1])]
    if len(cand) == 0:
        raise InputError(
            "no candidate sites are left (all too close to existing sites or avoided).",
            fix="supply other candidates or lower the minimum distance.",
        )
    a = coverage_matrix(engine, dxy, cand, minutes)
    res = plan_sites(
        a,
        need,
        k,
        existing_count=existing,
        objective=objective,
        area_code=d["area_code"].to_numpy(),
        exact=exact,
        bound=bound,
    )
    names = area_names if area_names is not None else pd.Series(dtype=str)
    table = incremental_table(res, a, need, existing, d["area_code"].to_numpy(), names, cand)
    if not np.allclose(table.attrs["objective_gains"], res.gains, rtol=1e-9, atol=1e-9):
        # the solver's own account and the recount from the matrix must agree
        log.error("plan gains %s disagree with the recount %s", res.gains, table.attrs)
        res.notes.append("internal check: the per-site gains disagree with a recount")
    before = float(table.attrs.get("share_covered_before", run.share_covered))
    after = float(table["share_covered_after"].iloc[-1]) if len(table) else before
    return SitePlan(
        proposed=proposed_sites(table, d.crs)
        if len(table)
        else gpd.GeoDataFrame(table.drop(columns=["x", "y", *TABLE_ONLY]), geometry=[], crs=d.crs),
        table=table,
        result=res,
        share_before=before,
        share_after=after,
        n_candidates=len(cand),
        candidates_from=candidates_from,
        objective=objective,
        step_masks=plan_step_masks(a, res.chosen[: len(table)], existing, objective),
    )
