"""Disclosure-safe layers (areas, sites, demand, gaps, hotspots): all that is shown or exported."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from harmreach.analysis import coverage as cov
from harmreach.analysis.disclosure import suppress_group, suppress_table
from harmreach.analysis.gaps import LINK_M, find_gaps
from harmreach.analysis.scenario import CoverageResult, site_xy
from harmreach.geo import settings
from harmreach.geo.dataset import Dataset, read_demo_areas

#: Columns of the proposals layer, in order (the CLI's ``plan --out`` writes the same).
PROPOSAL_COLUMNS = [
    "rank",
    "nearest_postcode",
    "ward_name",
    "district_name",
    "nearest_site_km",
    "need_added",
    "share_covered_after",
    "areas_gaining",
    "lon",
    "lat",
]

AREA_COUNTS = [
    "need",
    "need_covered",
    "need_uncovered",
    "need_backup",
    "residents",
    "residents_covered",
]


@dataclass
class Layers:
    """Published layers plus the metadata every export carries."""

    areas: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    hotspots: gpd.GeoDataFrame | None
    curve: pd.DataFrame
    by_type: pd.DataFrame
    table: pd.DataFrame  # published per-area table with the ALL row
    metadata: dict[str, object] = field(default_factory=dict)
    suppressed_cells: int = 0
    hotspot_cells: gpd.GeoDataFrame | None = None
    proposals: gpd.GeoDataFrame | None = None

    def as_dict(self) -> dict[str, gpd.GeoDataFrame]:
        """Spatial layers by name (hotspots and proposals only when computed)."""
        out = {"areas": self.areas, "sites": self.sites, "gaps": self.gaps, "demand": self.demand}
        if self.hotspots is not None:
            out["hotspots"] = self.hotspots
        if self.hotspot_cells is not None:
            out["hotspot_cells"] = self.hotspot_cells
        if self.proposals is not None:
            out["proposals"] = self.proposals
        return out


@functools.lru_cache(maxsize=1)
def _demo_ward_names() -> dict[str, str]:
    """Ward code → name from the demo county's ward layer (read once)."""
    wards = read_demo_areas("wards")
    return dict(zip(wards["area_code"].astype(str), wards["area_name"].astype(str), strict=True))


def postcode_sector(postcode: object) -> str | None:
    """``WR9 8AB`` → ``WR9 8`` (None when not a postcode)."""
    if not isinstance(postcode, str) or len(postcode.strip()) < 5:
        return None
    pc = postcode.strip().upper()
    return pc[:-2].strip()


def ward_names(demand: pd.DataFrame) -> np.ndarray:
    """Per demand point, its ward's name when known (demo wards), else None."""
    if "ward_code" not in demand.columns:
        return np.full(len(demand), None, dtype=object)
    names = _demo_ward_names()
    return demand["ward_code"].map(lambda c: names.get(str(c))).to_numpy(dtype=object)


def place_names(demand: pd.DataFrame) -> np.ndarray:
    """Per demand point, a place people know: its ward's name, else its postcode sector."""
    ward = ward_names(demand)
    if "postcode" in demand.columns:
        sector = demand["postcode"].map(postcode_sector).to_numpy(dtype=object)
    else:
        sector = np.full(len(demand), None, dtype=object)
    out = np.where(
        pd.notna(ward), ward, np.where(pd.notna(sector), "sector " + sector.astype(str), "")
    )
    return np.where(out == "", "unnamed place", out).astype(object)


def gap_threshold(result: CoverageResult) -> float:
    """Need at or above which an uncovered cluster is a gap (the suppression threshold)."""
    return float(result.params.suppress)


def gap_rule(result: CoverageResult) -> str:
    """What a gap is, in words, for metadata and the dashboard's headline."""
    return (
        f"a gap is a cluster of postcodes beyond {result.params.minutes:g} minutes, each within "
        f"{LINK_M:g} m of another, in one district, with estimated need of at least "
        f"{gap_threshold(result):g}; its outline contains no site in play"
    )


def proposal_table(
    ds: Dataset, result: CoverageResult, proposed: gpd.GeoDataFrame, threshold: int | None = None
) -> gpd.GeoDataFrame:
    """Proposed sites as decisions: where each is and what it adds, ready to publish.

    Parameters
    ----------
    ds
        The dataset of the run (areas for district names).
    result
        The coverage run the plan was made for (demand points, sites in play).
    proposed
        The plan's proposed sites (``SitePlan.proposed``: ``order``, ``need_added``,
        ``share_covered_after``, ``areas_gaining``, points in the analysis CRS).
    threshold
        Suppress ``need_added`` under this (default: the run's threshold), with secondary
        suppression, since the gains add up to the published change in need covered.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per proposal, in the order chosen: ``rank``, ``nearest_postcode``,
        ``ward_name`` (None when the ward is not known), ``district_name``,
        ``nearest_site_km`` (straight line to the nearest site in play), ``need_added``
        (suppressed under the threshold), ``share_covered_after``, ``areas_gaining``,
        ``lon``, ``lat`` and the point (analysis CRS).
    """
    thr = result.params.suppress if threshold is None else threshold
    if proposed is None or len(proposed) == 0:
        return gpd.GeoDataFrame(
            {c: [] for c in PROPOSAL_COLUMNS}, geometry=[], crs=result.demand.crs
        )
    p = proposed.sort_values("order").reset_index(drop=True)
    pxy = site_xy(p)
    d = result.demand
    _, near = cKDTree(site_xy(d)).query(pxy)
    nearest = d.iloc[near]
    play = result.sites[result.sites["in_play"]]
    if len(play):
        dist_m, _ = cKDTree(site_xy(play)).query(pxy)
        site_km = np.round(dist_m / 1000, 2)
    else:
        site_km = np.full(len(p), np.nan)
    # district: the area that holds the point, else the nearest postcode's area
    areas = ds.areas
    hit = gpd.sjoin(
        gpd.GeoDataFrame(geometry=p.geometry.values, crs=p.crs),
        areas[["area_name", "geometry"]],
        how="left",
        predicate="within",
    )
    district = hit[~hit.index.duplicated()]["area_name"].to_numpy(dtype=object)
    names = areas.set_index("area_code")["area_name"]
    fallback = nearest["area_code"].map(names).to_numpy(dtype=object)
    district = np.where(pd.notna(district), district, fallback)
    hide = suppress_group(p["need_added"].to_numpy(float), True, thr)
    ll = p.geometry.to_crs(settings.WGS84_EPSG)
    out = gpd.GeoDataFrame(
        {
            "rank": p["order"].astype(int).to_numpy(),
            "nearest_postcode": nearest["postcode"].to_numpy(dtype=object)
            if "postcode" in nearest.columns
            else np.full(len(p), None, dtype=object),
            "ward_name": ward_names(nearest),
            "district_name": district,
            "nearest_site_km": site_km,
            "need_added": np.where(hide, np.nan, p["need_added"].to_numpy(float)),
            "share_covered_after": p["share_covered_after"].to_numpy(float),
            "areas_gaining": p["areas_gaining"].to_numpy(dtype=object),
            "lon": ll.x.round(6).to_numpy(),
            "lat": ll.y.round(6).to_numpy(),
        },
        geometry=p.geometry.values,
        crs=p.crs,
    )
    return out


def metadata(ds: Dataset, result: CoverageResult, extra: dict | None = None) -> dict[str, object]:
    """Parameters, travel model, data sources, attribution and what is illustrative."""
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
        "suppression": (
            f"counts of people under {result.params.suppress} are suppressed (null), with "
            "secondary suppression so they cannot be recovered from totals"
        ),
        "attribution": settings.ATTRIBUTION
        + ("" if "estimated" in result.model else " " + settings.OSM_ATTRIBUTION),
    }
    meta.update(extra or {})
    return meta


def build_layers(
    ds: Dataset,
    result: CoverageResult,
    *,
    hotspots: gpd.GeoDataFrame | None = None,
    hotspot_cells: gpd.GeoDataFrame | None = None,
    round_to: int | None = None,
    extra_meta: dict | None = None,
) -> Layers:
    """Apply disclosure control to a coverage run and return the layers to publish."""
    thr = result.params.suppress
    minutes = result.params.minutes
    # Areas: counts are additive down each column (to ALL) and across (covered + uncovered).
    table, n_hidden = suppress_table(
        result.table,
        [c for c in AREA_COUNTS if c in result.table.columns],
        total_row=cov.TOTAL_CODE,
        parts={"need": ["need_covered", "need_uncovered"], "residents": ["residents_covered"]},
        shares={"share_covered": "need_covered", "share_backup": "need_backup"},
        threshold=thr,
        round_to=round_to,
    )
    # share_covered also reveals need_uncovered's size relative to need: hide with it
    table["share_covered"] = table["share_covered"].where(table["need_uncovered"].notna())
    areas = ds.areas.merge(table, on=["area_code", "area_name"], how="left")
    total = table[table["area_code"] == cov.TOTAL_CODE]

    d = result.demand
    play = result.sites[result.sites["in_play"]]
    gaps, rank = find_gaps(
        site_xy(d),
        d["need"].to_numpy(),
        d["residents"].to_numpy(float),
        d["area_code"].to_numpy(),
        d["nearest_min"].to_numpy(),
        minutes,
        crs=ds.crs,
        min_need=gap_threshold(result),
        sites_xy=site_xy(play) if len(play) else None,
        place=place_names(d),
        areas=ds.areas.set_index("area_code").geometry,
    )
    small_clusters = int(gaps.attrs.get("small_clusters", 0))
    small_need = float(gaps.attrs.get("small_need", 0.0))
    if len(gaps):
        # The gaps partition the published uncovered need: secondary suppression applies.
        for col in ("need", "residents"):
            hide = suppress_group(gaps[col].to_numpy(), True, thr)
            n_hidden += int(hide.sum())
            gaps[col] = gaps[col].astype(float).where(~hide)
        names = ds.areas.set_index("area_code")["area_name"]
        gaps.insert(5, "area_name", gaps["area_code"].map(names))

    demand = d[
        [
            "postcode",
            "area_code",
            "nearest_min",
            "second_min",
            "nearest_site",
            "n_within",
            "covered",
            "need",
            "residents",
            "geometry",
        ]
    ].copy()
    demand["gap"] = rank
    for col in ("need", "residents"):
        vals = demand[col].to_numpy(float)
        hide = np.zeros(len(demand), dtype=bool)
        for _, idx in demand.groupby("area_code").indices.items():
            hide[idx] = suppress_group(vals[idx], True, thr)
        n_hidden += int(hide.sum())
        demand[col] = np.where(hide, np.nan, vals)

    sites = result.sites[
        [
            "site_id",
            "name",
            "type",
            "opening_hours",
            "capacity",
            "active",
            "in_play",
            "illustrative",
            "geometry",
        ]
    ].copy()
    hs = None
    if hotspots is not None:
        hs = hotspots.copy()
        hide = suppress_group(hs["need"].to_numpy(float), False, thr)
        n_hidden += int(hide.sum())
        hs["need"] = hs["need"].astype(float).where(~hide)
    cells = None
    if hotspot_cells is not None:
        # 1 km cells with kernel density and Gi*; their counts add up to the total.
        cells = hotspot_cells.drop(columns=["row", "col"]).copy()
        hide = suppress_group(cells["need"].to_numpy(float), True, thr)
        n_hidden += int(hide.sum())
        cells["need"] = cells["need"].astype(float).where(~hide)
        # Density and z are linear in the counts: coarsen them so that small counts cannot
        # be reconstructed by inverting the kernel or the Gi* sums to full precision.
        cells["density_km2"] = cells["density_km2"].round(1)
        cells["gi_z"] = cells["gi_z"].round(1)
        cells["gi_p"] = cells["gi_p"].round(3)
    by_type = result.by_type.copy()
    meta = metadata(ds, result, extra_meta)
    meta["gaps"] = gap_rule(result)
    meta["gaps_count"] = len(gaps)
    meta["smaller_clusters"] = small_clusters
    # the need outside gaps is a count of people: published only at or above the threshold
    meta["smaller_clusters_need"] = (
        round(small_need) if small_need >= thr or small_need == 0 else None
    )
    if len(total):
        meta["need_covered_share"] = (
            None
            if pd.isna(total["share_covered"].iloc[0])
            else round(float(total["share_covered"].iloc[0]), 4)
        )
    return Layers(
        hotspot_cells=cells,
        areas=areas,
        sites=sites,
        demand=demand,
        gaps=gaps,
        hotspots=hs,
        curve=result.curve,
        by_type=by_type,
        table=table,
        metadata=meta,
        suppressed_cells=n_hidden,
    )
