"""Run the coverage chain for a dataset and parameters: sites in play, travel, need, tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from harmreach.analysis import coverage as cov
from harmreach.analysis.access import access_scores
from harmreach.analysis.hours import open_at
from harmreach.analysis.need import NeedSurface, need_surface
from harmreach.geo import settings
from harmreach.geo.dataset import Dataset
from harmreach.geo.errors import InputError
from harmreach.geo.network import StreetNetwork
from harmreach.geo.travel import EstimatedEngine, NearestSites, NetworkEngine, make_engine

log = logging.getLogger(__name__)

#: Site-type groups reported on their own ("covered by pharmacies alone", ...).
TYPE_GROUPS: dict[str, tuple[str, ...]] = {
    "pharmacies": ("pharmacy",),
    "specialist (hospital + drug service)": ("hospital", "drug_service"),
    "satellite, mobile, clinic, other": ("satellite", "mobile", "clinic", "other"),
}


@dataclass(frozen=True)
class Params:
    """What the user asked for (shared by the CLI and the dashboard)."""

    mode: str = settings.DEFAULT_MODE
    minutes: float = settings.DEFAULT_MINUTES
    at: str | None = None
    types: tuple[str, ...] | None = None
    suppress: int = settings.SUPPRESSION_THRESHOLD
    assume_open: bool = False

    def describe(self) -> dict[str, object]:
        """Plain values for export metadata."""
        return {
            "mode": self.mode,
            "minutes": self.minutes,
            "time_of_week": self.at or "any (all active sites)",
            "site_types": ",".join(self.types) if self.types else "all",
            "suppression_threshold": self.suppress,
        }


@dataclass
class CoverageResult:
    """Everything one coverage run produced, before disclosure control."""

    params: Params
    model: str
    sites: gpd.GeoDataFrame  # all sites, with ``in_play`` (active, type, open at time)
    demand: gpd.GeoDataFrame  # with need, nearest_min, second_min, nearest_site, n_within
    table: pd.DataFrame  # per area + ALL (raw counts)
    curve: pd.DataFrame
    by_type: pd.DataFrame
    need_info: NeedSurface
    notes: list[str] = field(default_factory=list)
    #: E2SFCA: each capacity site's weighted need in reach (capacity ÷ its ratio), for the
    #: publishing gate (capacity ÷ access would reveal a small catchment).
    catchment_need: np.ndarray | None = None
    #: per kind of site (``TYPE_GROUPS``): which demand points one of its sites reaches
    #: within T, for the gate (the kinds' reaches overlap)
    type_reach: dict[str, np.ndarray] | None = None

    @property
    def overall(self) -> pd.Series:
        """The ``ALL`` row of the table."""
        return self.table.set_index("area_code").loc[cov.TOTAL_CODE]

    @property
    def share_covered(self) -> float:
        """Need-weighted share covered overall (0-1)."""
        return float(self.overall["share_covered"])


def sites_in_play(ds: Dataset, params: Params) -> np.ndarray:
    """Active sites of the chosen types, open at the chosen time of week."""
    sites = ds.sites
    mask = sites["active"].to_numpy(bool).copy()
    if params.types:
        unknown = set(params.types) - set(settings.SITE_TYPES)
        if unknown:
            raise InputError(
                f"unknown site type(s): {', '.join(sorted(unknown))}.",
                fix=f"choose from {', '.join(settings.SITE_TYPES)}.",
            )
        mask &= sites["type"].isin(params.types).to_numpy()
    if params.at:
        mask &= open_at(sites, params.at, assume_open_missing=params.assume_open)
    return mask


def site_xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Point coordinates as an (n, 2) array."""
    return np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])


def build_engine(params: Params, network: StreetNetwork | None) -> EstimatedEngine | NetworkEngine:
    """The travel engine for the parameters (network if given, else estimated)."""
    return make_engine(params.mode, network)


def run_coverage(
    ds: Dataset,
    params: Params | None = None,
    *,
    network: StreetNetwork | None = None,
    engine: EstimatedEngine | NetworkEngine | None = None,
    surface: NeedSurface | None = None,
) -> CoverageResult:
    """Coverage of need within T minutes for a dataset.

    Parameters
    ----------
    ds
        Validated inputs.
    params
        Mode, minutes, time of week, site types.
    network, engine
        A street network (or a ready engine, e.g. cached by the dashboard); without either,
        travel times are estimated.
    surface
        Need per demand point, if already computed.
    """
    params = params or Params()
    engine = engine or build_engine(params, network)
    if network is not None and network.crs != ds.crs:
        raise InputError(
            f"the network is in {network.crs.name} but the areas are in {ds.crs.name}.",
            fix="use a network extract of the same country as the areas.",
        )
    surface = surface or need_surface(ds.demand, ds.need, pool_below=params.suppress)
    play = sites_in_play(ds, params)
    sites = ds.sites.copy()
    sites["in_play"] = play
    demand = ds.demand.copy()
    demand["need"] = surface.need
    dxy = site_xy(demand)
    sxy = site_xy(sites[play])
    notes = []
    if not play.any():
        notes.append("no site is in play (check the time of week and site types)")
    near: NearestSites = engine.nearest(dxy, sxy, k=2, minutes=params.minutes)
    notes += near.notes
    demand["nearest_min"] = near.time_s[:, 0] / 60.0
    demand["second_min"] = near.time_s[:, 1] / 60.0
    # near.site indexes the sites in play; -1 (none reachable) becomes None
    ids_in_play = np.append(sites.loc[play, "site_id"].to_numpy(dtype=object), None)
    demand["nearest_site"] = ids_in_play[near.site[:, 0]]
    demand["n_within"] = near.n_within
    demand["reach_status"] = near.reach_status
    demand["covered"] = demand["nearest_min"] <= params.minutes
    names = ds.areas.set_index("area_code")["area_name"]
    table = cov.coverage_table(
        demand["area_code"].to_numpy(),
        surface.need,
        demand["residents"].to_numpy(float),
        demand["nearest_min"].to_numpy(),
        params.minutes,
        demand["second_min"].to_numpy(),
        area_names=names,
        reach_status=near.reach_status,
    )
    curve = cov.coverage_curve(
        surface.need, demand["nearest_min"].to_numpy(), settings.CURVE_MAX_MINUTES
    )
    rows = []
    type_reach: dict[str, np.ndarray] = {}
    for label, kinds in TYPE_GROUPS.items():
        sub = play & sites["type"].isin(kinds).to_numpy()
        if not sub.any():
            continue
        t = engine.nearest(dxy, site_xy(sites[sub]), k=1).time_s[:, 0] / 60.0
        covered = t <= params.minutes
        type_reach[label] = covered
        rows.append(
            {
                "site_group": label,
                "sites": int(sub.sum()),
                "need_covered": float(surface.need[covered].sum()),
                "share_covered": float(surface.need[covered].sum() / surface.need.sum())
                if surface.need.sum() > 0
                else float("nan"),
            }
        )
    by_type = pd.DataFrame(rows, columns=["site_group", "sites", "need_covered", "share_covered"])
    cap = sites.loc[play, "capacity"].to_numpy(float)
    catchment = None
    if play.any() and np.isfinite(cap).any() and np.nansum(cap) > 0:
        # Capacity-aware access (E2SFCA): capacity per person in need within reach.
        with_cap = np.isfinite(cap)
        # Pairs within T only: a dense matrix would be 11 GiB for England (1.5 M × 2,000).
        access, ratio, _ = access_scores(
            engine, dxy, sxy[with_cap], surface.need, cap[with_cap], params.minutes
        )
        catchment = np.divide(cap[with_cap], ratio, out=np.zeros_like(ratio), where=ratio > 0)
        demand["access_e2sfca"] = access
        need_w = pd.Series(surface.need).groupby(demand["area_code"].to_numpy())
        num = pd.Series(surface.need * access).groupby(demand["area_code"].to_numpy()).sum()
        per_area = num / need_w.sum()
        total_need = surface.need.sum()
        per_area.loc[cov.TOTAL_CODE] = (
            (surface.need * access).sum() / total_need if total_need > 0 else np.nan
        )
        table["access_e2sfca"] = table["area_code"].map(per_area)
        if (~with_cap).any():
            notes.append(
                f"{int((~with_cap).sum())} site(s) in play have no capacity and are "
                "left out of the E2SFCA access score"
            )
    return CoverageResult(
        params=params,
        model=engine.model,
        sites=sites,
        demand=demand,
        table=table,
        curve=curve,
        by_type=by_type,
        need_info=surface,
        notes=notes,
        catchment_need=catchment,
        type_reach=type_reach,
    )


def with_sites_changed(
    ds: Dataset,
    *,
    close: list[str] | None = None,
    add: gpd.GeoDataFrame | None = None,
    move: dict[str, tuple[float, float]] | None = None,
) -> Dataset:
    """A copy of the dataset with sites closed, moved (to x, y) or added."""
    import copy

    new = copy.copy(ds)
    sites = ds.sites.copy()
    unknown = set(close or []) | set(move or {})
    unknown -= set(sites["site_id"])
    if unknown:
        raise InputError(
            f"no site with id {', '.join(sorted(unknown))}.",
            fix="use site_id values from the sites file.",
        )
    if close:
        sites.loc[sites["site_id"].isin(close), "active"] = False
    for sid, (x, y) in (move or {}).items():
        import shapely

        sites.loc[sites["site_id"] == sid, "geometry"] = shapely.Point(x, y)
    if add is not None and len(add):
        sites = pd.concat([sites, add.to_crs(sites.crs)], ignore_index=True)
        sites["active"] = sites["active"].fillna(True).astype(bool)
        sites["illustrative"] = sites["illustrative"].fillna(False).astype(bool)
    new.sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=ds.sites.crs)
    return new


def compare_runs(before: CoverageResult, after: CoverageResult) -> pd.DataFrame:
    """Per area: share covered before and after, the change, and need that loses access."""
    b = before.table.set_index("area_code")
    a = after.table.set_index("area_code")
    lost = before.demand["covered"].to_numpy() & ~after.demand["covered"].to_numpy()
    gained = ~before.demand["covered"].to_numpy() & after.demand["covered"].to_numpy()
    need = before.demand["need"].to_numpy()
    codes = before.demand["area_code"].to_numpy()
    lost_by = pd.Series(np.where(lost, need, 0.0)).groupby(codes).sum()
    gained_by = pd.Series(np.where(gained, need, 0.0)).groupby(codes).sum()
    lost_by.loc[cov.TOTAL_CODE] = lost_by.sum()
    gained_by.loc[cov.TOTAL_CODE] = gained_by.sum()
    out = pd.DataFrame(
        {
            "area_name": b.get("area_name", pd.Series(b.index, index=b.index)),
            "need": b["need"],
            "share_before": b["share_covered"],
            "share_after": a["share_covered"],
        }
    )
    out["change"] = out["share_after"] - out["share_before"]
    out["need_losing_access"] = lost_by.reindex(out.index).fillna(0.0)
    out["need_gaining_access"] = gained_by.reindex(out.index).fillna(0.0)
    return out.reset_index(names="area_code")


def published_comparison(cmp: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """A scenario comparison with need losing/gaining access suppressed (with the ALL row)."""
    from harmreach.analysis.disclosure import suppress_table

    counts = ["need", "need_losing_access", "need_gaining_access"]
    out, _ = suppress_table(cmp, counts, total_row=cov.TOTAL_CODE, threshold=threshold)
    return out
