"""Coverage hour by hour across the week: who has an open exchange within T, and when not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from harmreach.analysis.hours import DAYS, SLOTS_PER_DAY, weekly_masks
from harmreach.analysis.scenario import CoverageResult, site_xy
from harmreach.geo.travel import EstimatedEngine, NetworkEngine


@dataclass
class WeeklyProfile:
    """Share of need covered for each hour of the week, overall and per area."""

    overall: pd.DataFrame  # day, hour, share_covered, sites_open
    by_area: pd.DataFrame  # area_code, day, hour, share_covered
    need_hours: float  # need-weighted hours of access per week (Σ need × hours covered)
    need_hours_max: float  # if every site were open all week

    def worst(self, n: int = 5) -> pd.DataFrame:
        """The n hours with the lowest share covered."""
        return self.overall.nsmallest(n, "share_covered", keep="first")


def week_sites(result: CoverageResult) -> tuple[pd.DataFrame, np.ndarray]:
    """The sites the week is about (active, of the run's types) and (n_sites, 168) open."""
    sites = result.sites
    keep = sites["active"].to_numpy(bool)
    if result.params.types:
        keep &= sites["type"].isin(result.params.types).to_numpy()
    s = sites[keep]
    masks, _ = weekly_masks(s, assume_open_missing=result.params.assume_open)
    return s, masks[:, :: SLOTS_PER_DAY // 24]


def reach_matrix(
    engine: EstimatedEngine | NetworkEngine,
    demand_xy: np.ndarray,
    site_xy_: np.ndarray,
    minutes: float,
) -> sp.csr_matrix:
    """(n_demand, n_sites) sparse bool: site within ``minutes`` (only those pairs stored).

    From the engine's pairs within T (one search per site stopped at T), never a dense
    points × sites matrix: ``reach @ hourly`` still gives a dense (n_demand, hours) result.
    """
    pairs = engine.within(demand_xy, site_xy_, minutes * 60.0)
    return sp.csr_matrix(
        (np.ones(pairs.nnz, dtype=bool), (pairs.point, pairs.site)), shape=pairs.shape
    )


#: Demand points per block when hours covered are summed (bounds the dense block's memory).
_BLOCK = 65_536


def weekly_profile(
    run: CoverageResult,
    engine: EstimatedEngine | NetworkEngine,
    *,
    assume_open_missing: bool = False,
) -> WeeklyProfile:
    """Coverage at the start of every hour of the week, with the run's other settings.

    The run's time-of-week filter is ignored (every hour is computed); its active and type
    filters apply. Consistent by construction with coverage at a single time: each hour
    uses exactly the sites open then.
    """
    sites = run.sites
    base = sites["active"].to_numpy(bool)
    if run.params.types:
        base &= sites["type"].isin(run.params.types).to_numpy()
    s = sites[base]
    masks, _ = weekly_masks(s, assume_open_missing=assume_open_missing)
    open_h = masks[:, :: SLOTS_PER_DAY // 24]  # (n_sites, 168)
    hourly = open_h.astype(np.float32)
    d = run.demand
    need = d["need"].to_numpy(float)
    reach = reach_matrix(engine, site_xy(d), site_xy(s), run.params.minutes).astype(np.float32)
    codes, inv = np.unique(d["area_code"].to_numpy(), return_inverse=True)
    n = len(d)
    # need × covered summed per hour, overall and per area, a block of points at a time
    need_cov = np.zeros(168)
    area_cov = np.zeros((len(codes), 168))
    need_hours = 0.0
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        covered = np.asarray(reach[a:b] @ hourly) > 0  # (block, 168)
        w = need[a:b]
        need_cov += w @ covered
        area_cov += sp.csr_matrix(
            (w, (inv[a:b], np.arange(b - a))), shape=(len(codes), b - a)
        ) @ covered.astype(np.float64)
        need_hours += float(w @ covered.sum(axis=1))
    total = need.sum()
    share = need_cov / total if total > 0 else np.full(168, np.nan)
    hours = np.arange(168)
    overall = pd.DataFrame(
        {
            "day": [DAYS[h // 24] for h in hours],
            "hour": hours % 24,
            "share_covered": share,
            "sites_open": open_h.sum(axis=0),
        }
    )
    area_need = np.bincount(inv, weights=need, minlength=len(codes))
    rows = []
    for a, code in enumerate(codes):
        tot = area_need[a]
        sh = area_cov[a] / tot if tot > 0 else np.full(168, np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "area_code": code,
                    "day": overall["day"],
                    "hour": overall["hour"],
                    "share_covered": sh,
                }
            )
        )
    by_area = pd.concat(rows, ignore_index=True)
    any_reach = np.diff(reach.indptr) > 0
    return WeeklyProfile(
        overall=overall,
        by_area=by_area,
        need_hours=need_hours,
        need_hours_max=float(need[any_reach].sum() * 168),
    )
