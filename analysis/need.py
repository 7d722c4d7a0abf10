"""Spread need over demand points: by residents in areas or partial postcodes, or from points."""

from __future__ import annotations

import functools
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
    #: the need is a known linear function of a few input counts (client counts by sector
    #: or district, a per-area table): ``need[p] == factor[p] * inputs[group[p]]`` (group -1:
    #: no input). The weights are public (residents), so the inputs are what must stay
    #: secret: the publishing gate audits over them (None when need is not such a mix).
    group: np.ndarray | None = None
    factor: np.ndarray | None = None
    inputs: np.ndarray | None = None
    input_names: list[str] = field(default_factory=list)

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


def spread_shares(keys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each point's share of its key's total: by weight, equally where the weights are 0."""
    keys = pd.Series(keys)
    w = pd.Series(np.asarray(weights, dtype=float))
    wsum = w.groupby(keys).transform("sum").to_numpy()
    nkey = keys.groupby(keys).transform("size").to_numpy()
    return np.where(wsum > 0, w.to_numpy() / np.where(wsum > 0, wsum, 1.0), 1.0 / nkey)


def spread_by_weight(keys: np.ndarray, weights: np.ndarray, totals: pd.Series) -> np.ndarray:
    """Share each key's total over the points with that key, in proportion to their weights.

    Where a key's weights sum to zero (e.g. only business postcodes), the total is shared
    equally over its points instead, so no need is lost.
    """
    tot = pd.Series(keys).map(totals).fillna(0.0).to_numpy(float)
    return tot * spread_shares(keys, weights)


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


#: the name of the group small input counts are pooled into
POOLED = "pooled small counts"


def pool_small(
    keys: np.ndarray, totals: pd.Series, below: float
) -> tuple[np.ndarray, pd.Series, list[str]]:
    """Pool input counts above 0 and under ``below`` so that none is spread on its own.

    A published figure made from client counts by sector is a fixed mix of those counts,
    with public weights (residents): enough published figures give the counts back. So a
    count of 1-4 clients is never used alone: every such key is pooled, the pool (with the
    smallest other key, if the pool is still under ``below``) is spread over all its
    postcodes by residents, and only the pool's total enters any figure.

    The pool is chosen from the *whole* input, not from the keys inside the area run: a
    run on another area would otherwise pool a small key with another partner, and two
    pools holding it with different partners tell it apart (an attacker's finding).
    """
    t = totals[totals > 0]
    small = t[t < below]
    if below <= 0 or small.empty:
        return keys, totals, []
    pool = list(small.index)
    if small.sum() < below:
        big = t[t >= below].sort_values()
        if len(big):
            pool.append(big.index[0])
    members = set(pool)
    new_keys = np.array([POOLED if k in members else k for k in keys], dtype=object)
    new_totals = totals.drop(index=pool)
    new_totals.loc[POOLED] = float(totals.loc[pool].sum())
    # named in a fixed order: listing the small keys first told which one was under the
    # threshold and which was the partner (an attacker's finding)
    return new_keys, new_totals, sorted(str(k) for k in pool)


@functools.lru_cache(maxsize=2)
def _national_residents_by(level: str) -> pd.Series:
    """Residents per postcode sector or district in England and Wales (shipped table)."""
    from harmreach.geo.places import residents_table

    r = residents_table()
    pc = r["postcode"].astype(str)
    key = pc.str[:-2] if level == "sector" else pc.str.split(" ").str[0]
    return r["residents"].groupby(key.to_numpy()).sum()


def need_surface(
    demand: gpd.GeoDataFrame, need: NeedInput | None, *, pool_below: float | None = None
) -> NeedSurface:
    """Need at every demand point.

    Parameters
    ----------
    demand
        Demand points with ``residents``, ``area_code`` and ``postcode`` columns.
    need
        A validated need input; None spreads a national-rate estimate over residents
        (England's opiate/crack rate: 9 per 1,000 aged 15-64, 62% of residents).
    pool_below
        Input counts (per sector, district or area) above 0 and under this are pooled
        before spreading (see :func:`pool_small`); default: the suppression threshold.
    """
    below = settings.SUPPRESSION_THRESHOLD if pool_below is None else pool_below
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
    totals = totals.groupby(level=0).sum()
    raw_keys = np.asarray(keys, dtype=object)
    keys, totals, pooled = pool_small(raw_keys, totals, below)
    pool_set = set(pooled)
    missing = [k for k in totals.index if k not in present and k != POOLED and totals[k] > 0]
    unplaced_total = float(totals.loc[missing].sum()) if missing else 0.0
    if pooled and need.kind in ("postcode_sector", "postcode_district"):
        # The pool is the whole input's; the area holds only part of its postcodes. Its
        # share here is the area's residents in the pool's keys over all their residents
        # (England and Wales, public), and the rest is left out: public weights on the
        # pool's total only, the same whatever area is run.
        nat = _national_residents_by(level)
        in_area = float(residents[np.isin(raw_keys, list(pool_set))].sum())
        everywhere = float(nat.reindex(list(pool_set)).fillna(0.0).sum())
        frac = min(1.0, in_area / everywhere) if everywhere > 0 else (1.0 if in_area else 0.0)
        pool_total = float(totals.loc[POOLED])
        totals.loc[POOLED] = pool_total * frac
        if frac < 1.0:
            unplaced_total += pool_total * (1.0 - frac)
            missing.append(f"part of the pooled keys ({1 - frac:.0%} of their residents)")
    if pooled:
        method += (
            f"; {len(pooled)} key(s) with under {below:g} (or pooled with them) spread together "
            "so that no small count is used alone: "
            + ", ".join(pooled[:8])
            + (" …" if len(pooled) > 8 else "")
        )
    names = [str(k) for k in totals.index]
    pos = {k: i for i, k in enumerate(totals.index)}
    group = np.array([pos.get(k, -1) for k in keys], dtype=np.int64)
    factor = spread_shares(keys, residents)
    inputs = totals.to_numpy(float)
    out = np.where(group >= 0, factor * inputs[np.maximum(group, 0)], 0.0)
    return NeedSurface(
        out,
        method,
        unplaced_total=unplaced_total,
        unplaced=[str(k) for k in missing],
        group=group,
        factor=np.where(group >= 0, factor, 0.0),
        inputs=inputs,
        input_names=names,
    )
