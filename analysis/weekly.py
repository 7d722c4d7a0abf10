"""Coverage hour by hour across the week: who has an open exchange within T, and when not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def reach_matrix(
    engine: EstimatedEngine | NetworkEngine,
    demand_xy: np.ndarray,
    site_xy_: np.ndarray,
    minutes: float,
) -> np.ndarray:
    """(n_demand, n_sites) bool: site within ``minutes``."""
    t = engine.matrix(demand_xy, site_xy_, limit_s=minutes * 60.0)
    return t <= minutes * 60.0 * (1 + 1e-9)


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
    hourly = masks[:, :: SLOTS_PER_DAY // 24]  # (n_sites, 168)
    d = run.demand
    need = d["need"].to_numpy(float)
    reach = reach_matrix(engine, site_xy(d), site_xy(s), run.params.minutes)
    covered = (reach.astype(np.float32) @ hourly.astype(np.float32)) > 0  # (n_demand, 168)
    total = need.sum()
    share = (need @ covered) / total if total > 0 else np.full(168, np.nan)
    hours = np.arange(168)
    overall = pd.DataFrame(
        {
            "day": [DAYS[h // 24] for h in hours],
            "hour": hours % 24,
            "share_covered": share,
            "sites_open": hourly.sum(axis=0),
        }
    )
    codes, inv = np.unique(d["area_code"].to_numpy(), return_inverse=True)
    rows = []
    for a, code in enumerate(codes):
        m = inv == a
        tot = need[m].sum()
        sh = (need[m] @ covered[m]) / tot if tot > 0 else np.full(168, np.nan)
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
    any_reach = reach.any(axis=1)
    return WeeklyProfile(
        overall=overall,
        by_area=by_area,
        need_hours=float(need @ covered.sum(axis=1)),
        need_hours_max=float(need[any_reach].sum() * 168),
    )
