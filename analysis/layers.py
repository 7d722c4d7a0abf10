"""What the published layers are named and described by: place names, the gap rule, proposals."""

from __future__ import annotations

import functools

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from harmreach.analysis.gaps import LINK_M
from harmreach.analysis.scenario import CoverageResult, site_xy
from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.dataset import Dataset, read_demo_areas

#: Where each proposal is (the gate, :func:`analysis.publish.plan`, adds the published
#: ``need_added`` and running share; the CLI's ``plan --out`` writes the same).
PROPOSAL_COLUMNS = [
    "rank",
    "nearest_postcode",
    "ward_name",
    "district_name",
    "nearest_site_km",
    "areas_gaining",
    "lon",
    "lat",
]


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


@functools.lru_cache(maxsize=1)
def _national_names() -> dict[str, str]:
    """Ward and district code → name for England (Code-Point Open's code list, shipped)."""
    from harmreach.geo.places import _area_names

    return _area_names()


def ward_names(demand: pd.DataFrame) -> np.ndarray:
    """Per demand point, its ward's name when known (demo or national wards), else None."""
    if "ward_code" not in demand.columns:
        return np.full(len(demand), None, dtype=object)
    names = {**_national_names(), **_demo_ward_names()}
    return demand["ward_code"].astype(str).map(names).to_numpy(dtype=object)


def place_names(demand: pd.DataFrame) -> np.ndarray:
    """Per demand point, a place people know: its ward's name, else its postcode sector."""
    ward = ward_names(demand)
    if "postcode" in demand.columns:
        # vectorised form of postcode_sector (a Python call per postcode took 40 ms a run)
        pc = demand["postcode"]
        text = pc.where(pc.map(lambda x: isinstance(x, str))).str.strip().str.upper()
        sector = text.str[:-2].str.strip().where(text.str.len() >= 5).to_numpy(dtype=object)
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
    ds: Dataset, result: CoverageResult, proposed: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Proposed sites as decisions: where each is, ready for the gate to add what it adds.

    Parameters
    ----------
    ds
        The dataset of the run (areas for district names).
    result
        The coverage run the plan was made for (demand points, sites in play).
    proposed
        The plan's proposed sites (``SitePlan.proposed``: ``order``, ``areas_gaining``,
        points in the analysis CRS).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per proposal, in the order chosen: ``rank``, ``nearest_postcode``,
        ``ward_name`` (None when the ward is not known), ``district_name``,
        ``nearest_site_km`` (straight line to the nearest site in play), ``areas_gaining``,
        ``lon``, ``lat`` and the point (analysis CRS). No count of people: those are
        published by :func:`analysis.publish.plan`.
    """
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
    if "district_code" in nearest.columns:
        # areas that are wards or LSOAs: the district is the nearest postcode's
        real = nearest["district_code"].astype(str).map(_national_names()).to_numpy(dtype=object)
        district = np.where(pd.notna(real), real, district)
    ll = crsmod.to_crs(p.geometry, settings.WGS84_EPSG)
    out = gpd.GeoDataFrame(
        {
            "rank": p["order"].astype(int).to_numpy(),
            "nearest_postcode": nearest["postcode"].to_numpy(dtype=object)
            if "postcode" in nearest.columns
            else np.full(len(p), None, dtype=object),
            "ward_name": ward_names(nearest),
            "district_name": district,
            "nearest_site_km": site_km,
            "areas_gaining": p["areas_gaining"].to_numpy(dtype=object),
            "lon": ll.x.round(6).to_numpy(),
            "lat": ll.y.round(6).to_numpy(),
        },
        geometry=p.geometry.values,
        crs=p.crs,
    )
    return out
