"""Spread need over demand points: by residents in areas or partial postcodes, or from points."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.need import NeedInput


@dataclass
class NeedSurface:
    """Need per demand point, and what could not be placed (counted, never dropped silently)."""

    need: np.ndarray
    method: str
    unplaced_total: float = 0.0
    unplaced: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI and the app."""
        text = f"need spread over demand points: {self.method}"
        if self.unplaced:
            shown = ", ".join(self.unplaced[:5])
            more = f" and {len(self.unplaced) - 5} more" if len(self.unplaced) > 5 else ""
            text += (
                f"; {self.unplaced_total:,.0f} need in {len(self.unplaced)} key(s) "
                f"had no demand point and was left out ({shown}{more})"
            )
        return text


def spread_by_weight(keys: np.ndarray, weights: np.ndarray, totals: pd.Series) -> np.ndarray:
    """Share each key's total over the points with that key, in proportion to their weights.

    Where a key's weights sum to zero (e.g. only business postcodes), the total is shared
    equally over its points instead, so no need is lost.
    """
    keys = pd.Series(keys)
    w = pd.Series(np.asarray(weights, dtype=float))
    wsum = w.groupby(keys).transform("sum").to_numpy()
    nkey = keys.groupby(keys).transform("size").to_numpy()
    tot = keys.map(totals).fillna(0.0).to_numpy(float)
    share = np.where(wsum > 0, w.to_numpy() / np.where(wsum > 0, wsum, 1.0), 1.0 / nkey)
    return tot * share


def _area_keys(demand: gpd.GeoDataFrame, wanted: set[str]) -> tuple[np.ndarray, str]:
    """The demand points' code column that the need table's keys match best.

    A need table may be keyed by the study areas' codes or by finer codes the demand
    points carry (LSOA, ward, district), whatever areas the results are reported by.
    """
    best, best_col, best_hits = demand["area_code"].astype(str).str.upper().to_numpy(), "", -1
    for col in ("area_code", "lsoa11cd", "ward_code", "district_code"):
        if col not in demand:
            continue
        k = demand[col].astype(str).str.upper().to_numpy()
        hits = len(wanted & set(pd.unique(k)))
        if hits > best_hits:
            best, best_col, best_hits = k, ("" if col == "area_code" else col), hits
    return best, best_col


def need_surface(demand: gpd.GeoDataFrame, need: NeedInput | None) -> NeedSurface:
    """Need at every demand point.

    Parameters
    ----------
    demand
        Demand points with ``residents``, ``area_code`` and ``postcode`` columns.
    need
        A validated need input; None spreads a national-rate estimate over residents
        (England's opiate/crack rate: 9 per 1,000 aged 15-64, 62% of residents).
    """
    residents = demand["residents"].to_numpy(float)
    if need is None:
        rate = settings.OCU_PER_1000_AGED_15_64 / 1000 * settings.SHARE_AGED_15_64
        return NeedSurface(residents * rate, "national OCU rate × residents (no need file)")
    if need.kind == "per_point":
        # The built-in need model gives a value per postcode unit directly.
        value = need.table.set_index("postcode")["value"]
        out = value.reindex(demand["postcode"].astype(str).to_numpy()).fillna(0.0).to_numpy(float)
        return NeedSurface(out, "need model per postcode unit")
    if need.kind == "per_area":
        totals = need.table.set_index("area_code")["value"]
        totals.index = totals.index.astype(str).str.strip().str.upper()
        keys, col = _area_keys(demand, set(totals.index))
        method = "per-area need shared by residents" + (f" (keyed by {col})" if col else "")
    elif need.kind in ("postcode_sector", "postcode_district"):
        level = need.kind.split("_")[1]
        pcs = demand["postcode"].astype(str)
        keys = (pcs.str[:-2] if level == "sector" else pcs.str.split(" ").str[0]).to_numpy()
        totals = need.table.set_index("postcode")["value"]
        method = f"counts by postcode {level} shared by residents"
    elif need.kind == "points":
        pts = need.table.to_crs(demand.crs)
        tree = cKDTree(np.column_stack([demand.geometry.x, demand.geometry.y]))
        _, j = tree.query(np.column_stack([pts.geometry.x, pts.geometry.y]))
        out = np.bincount(j, weights=pts["value"].to_numpy(float), minlength=len(demand))
        return NeedSurface(out, "weighted points, each moved to its nearest demand point")
    else:  # pragma: no cover - NeedInput only has these kinds
        raise InputError(f"unknown need kind {need.kind}")
    present = set(pd.unique(keys))
    missing = [k for k in totals.index if k not in present and totals[k] > 0]
    out = spread_by_weight(keys, residents, totals)
    return NeedSurface(
        out,
        method,
        unplaced_total=float(totals.loc[missing].sum()) if missing else 0.0,
        unplaced=[str(k) for k in missing],
    )
