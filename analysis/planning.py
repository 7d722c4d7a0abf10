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

from analysis.scenario import CoverageResult, site_xy
from geo.errors import InputError
from geo.travel import EstimatedEngine, NetworkEngine

log = logging.getLogger(__name__)

OBJECTIVES = ("coverage", "backup", "equity")
#: Generated candidates lie on a grid of this spacing over uncovered need.
CANDIDATE_GRID_M = 250.0
#: Candidates closer than this to an existing site are left out.
MIN_DISTANCE_M = 400.0
#: Above this many candidate × demand pairs the exact solver is not tried by default.
EXACT_MAX_PAIRS = 5_000_000


@dataclass
class PlanResult:
    """Chosen candidates in pick order, with each one's marginal gain."""

    chosen: np.ndarray  # candidate indices, in incremental order
    gains: np.ndarray  # need newly covered by each, in that order
    objective: float  # need newly covered by all chosen (for the chosen objective)
    method: str  # "exact (HiGHS)" or "greedy"
    optimal: bool
    bound: float | None = None  # upper bound on the objective (LP/MIP dual bound)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        """Relative gap to the bound (0 when optimal)."""
        if self.bound is None or self.objective <= 0:
            return None
        return max(0.0, (self.bound - self.objective) / self.bound)


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
        t = engine.matrix(demand_xy, cand_xy, limit_s=minutes * 60.0)
        rows, cols = np.nonzero(t <= minutes * 60.0)
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
    Returns the chosen candidates and the need each one completed.
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
    return np.asarray(chosen, dtype=np.int64), np.asarray(gains)


def _program(a: sp.csr_matrix, weight: np.ndarray, k: int, deficit: np.ndarray):
    """Max Σ w_i z_i  s.t.  r_i z_i ≤ Σ_j a_ij x_j,  Σ_j x_j ≤ k,  x binary, z in [0, 1]."""
    n_d, n_c = a.shape
    c = np.concatenate([np.zeros(n_c), -weight])
    cover = sp.hstack([-sp.csr_matrix(a, dtype=np.float64), sp.diags(deficit.astype(float))])
    budget = sp.hstack([sp.csr_matrix(np.ones((1, n_c))), sp.csr_matrix((1, n_d))])
    cons = [LinearConstraint(cover.tocsr(), -np.inf, 0.0), LinearConstraint(budget, 0, k)]
    # z may stay continuous when every deficit is 1 (its optimum is then integral anyway)
    z_int = 1 if (deficit > 1).any() else 0
    integrality = np.concatenate([np.ones(n_c), np.full(n_d, z_int)])
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
    """Order a chosen set site by site, each time taking the one adding the most."""
    sub = sp.csr_matrix(a)[:, chosen]
    order, gains = greedy(sub, weight, len(chosen), deficit)
    rest = [j for j in range(len(chosen)) if j not in set(order.tolist())]
    order = np.concatenate([order, np.asarray(rest, dtype=np.int64)])
    gains = np.concatenate([gains, np.zeros(len(rest))])
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
    """Choose k candidates (existing sites kept) to maximise need newly covered.

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
        sites), or ``equity`` (raise the least-covered area's share first; greedy).
    exact
        Force the integer program (True) or greedy (False); default: exact when the matrix
        has at most 5 million pairs.
    bound
        For greedy, also solve the LP relaxation to report the gap to optimal.
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
        return _equity(a, need, k, existing, area_code, t0)
    level = 1 if objective == "coverage" else 2
    deficit = np.clip(level - existing, 0, level).astype(float)
    weight = np.where(deficit > 0, need, 0.0)
    bc, wc, rc = _compress(sp.csr_matrix(a), weight, deficit)
    use_exact = exact if exact is not None else (a.nnz <= EXACT_MAX_PAIRS)
    notes = []
    if use_exact:
        chosen, obj, optimal, bound = exact_mclp(bc, wc, k, time_limit_s, rc)
        method = "exact (HiGHS integer program)"
        if not optimal:
            notes.append("time limit reached: best plan found, not proven optimal")
        chosen, gains = order_by_gain(a, weight, chosen, deficit)
    else:
        chosen, gains = greedy(bc, wc, k, rc)
        obj = float(gains.sum())
        optimal = False
        bound = _lp_bound(bc, wc, k, rc) if bound else None
        method = "greedy"
    if len(chosen) < k:
        notes.append(f"only {len(chosen)} candidate(s) add coverage; more would add none")
    return PlanResult(
        chosen=chosen,
        gains=gains,
        objective=float(obj),
        method=method,
        optimal=optimal,
        bound=bound,
        seconds=time.perf_counter() - t0,
        notes=notes,
    )


def _lp_bound(a: sp.csr_matrix, w: np.ndarray, k: int, deficit: np.ndarray) -> float | None:
    """Upper bound from the LP relaxation (for the greedy plan's optimality gap)."""
    if a.shape[0] == 0:
        return 0.0
    c, cons, _ = _program(a, w, k, deficit)
    res = milp(c=c, constraints=cons, bounds=Bounds(0, 1), options={"time_limit": 60.0})
    return None if res.x is None else -float(res.fun)


def _equity(a, need, k, existing, area_code, t0) -> PlanResult:
    if area_code is None:
        raise InputError("the equity objective needs the area of each demand point.")
    a = sp.csc_matrix(a, dtype=np.float64)
    codes, inv = np.unique(np.asarray(area_code), return_inverse=True)
    total = np.bincount(inv, weights=need, minlength=len(codes))
    covered = existing >= 1
    chosen, gains = [], []
    for _ in range(k):
        share = np.bincount(inv, weights=np.where(covered, need, 0.0), minlength=len(codes))
        share = np.where(total > 0, share / np.where(total > 0, total, 1), 1.0)
        worst = int(np.argmin(share))
        # the candidate that adds the most need in the worst-covered area (ties: overall gain)
        w_worst = np.where(~covered & (inv == worst), need, 0.0)
        w_all = np.where(~covered, need, 0.0)
        score = a.T @ w_worst + 1e-9 * (a.T @ w_all)
        score[chosen] = -np.inf
        j = int(np.argmax(score))
        if score[j] <= 0:
            break
        col = a.indices[a.indptr[j] : a.indptr[j + 1]]
        newly = col[~covered[col]]
        chosen.append(j)
        gains.append(float(need[newly].sum()))
        covered[newly] = True
    return PlanResult(
        np.asarray(chosen, np.int64),
        np.asarray(gains),
        float(np.sum(gains)),
        "greedy (raise the least-covered area first)",
        False,
        seconds=time.perf_counter() - t0,
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


def incremental_table(
    plan: PlanResult,
    a: sp.csr_matrix,
    need: np.ndarray,
    existing_count: np.ndarray,
    area_code: np.ndarray,
    area_names: pd.Series,
    cand_xy: np.ndarray,
) -> pd.DataFrame:
    """Site by site: need newly covered, cumulative share covered, and the areas that gain."""
    need = np.asarray(need, float)
    covered = np.asarray(existing_count) >= 1
    total = need.sum()
    rows = []
    a = sp.csc_matrix(a)
    codes = np.asarray(area_code)
    base = need[covered].sum()
    for step, j in enumerate(plan.chosen, start=1):
        col = a.indices[a.indptr[j] : a.indptr[j + 1]]
        newly = col[~covered[col]]
        covered[newly] = True
        gain_by_area = (
            pd.Series(need[newly]).groupby(codes[newly]).sum().sort_values(ascending=False)
        )
        gain_by_area = gain_by_area[gain_by_area > 0]
        rows.append(
            {
                "order": step,
                "candidate": int(j),
                "x": float(cand_xy[j, 0]),
                "y": float(cand_xy[j, 1]),
                "need_added": float(need[newly].sum()),
                "share_covered_after": float(need[covered].sum() / total) if total else np.nan,
                "areas_gaining": ", ".join(
                    str(area_names.get(c, c)) for c in gain_by_area.index[:3]
                ),
                "area_code": gain_by_area.index[0] if len(gain_by_area) else None,
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["share_covered_before"] = base / total if total else np.nan
    return df


def proposed_sites(table: pd.DataFrame, crs: object) -> gpd.GeoDataFrame:
    """The plan as points (analysis CRS)."""
    return gpd.GeoDataFrame(
        table.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(table["x"], table["y"]), crs=crs
    )


@dataclass
class SitePlan:
    """A plan for a coverage run: proposed sites, the incremental table, before and after."""

    proposed: gpd.GeoDataFrame
    table: pd.DataFrame
    result: PlanResult
    share_before: float
    share_after: float
    n_candidates: int
    candidates_from: str


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
    before = float(table.attrs.get("share_covered_before", run.share_covered))
    after = float(table["share_covered_after"].iloc[-1]) if len(table) else before
    return SitePlan(
        proposed=proposed_sites(table, d.crs)
        if len(table)
        else gpd.GeoDataFrame(table, geometry=[], crs=d.crs),
        table=table,
        result=res,
        share_before=before,
        share_after=after,
        n_candidates=len(cand),
        candidates_from=candidates_from,
    )
