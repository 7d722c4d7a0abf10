"""Demand points: postcode unit centroids with an estimated resident count, tagged by area."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.postcodes import PostcodeIndex, get_index

log = logging.getLogger(__name__)

DEMO_UNITS = settings.DATA_DIR / "boundaries" / "postcode_units.csv"


def demo_demand_points() -> gpd.GeoDataFrame:
    """The demo county's postcode units with their estimated residents (BNG)."""
    df = pd.read_csv(DEMO_UNITS, dtype={"postcode": str, "district_code": str, "ward_code": str})
    return gpd.GeoDataFrame(
        df,
        geometry=gpd.points_from_xy(df["easting"], df["northing"]),
        crs=settings.BNG_EPSG,
    )


def demand_points_for(
    areas: gpd.GeoDataFrame, postcodes: PostcodeIndex | None = None
) -> gpd.GeoDataFrame:
    """Postcode units that fall inside user areas, weighted by their usual residents.

    Residents come from the built-in table (``data/residents/``, real published counts;
    see its README). Units missing from it (newer than the table) get none, and are
    counted in the log.
    """
    from harmreach.geo.places import residents_table

    if areas.crs is None or areas.crs.to_epsg() != settings.BNG_EPSG:
        raise InputError(
            "postcode demand points exist only in Great Britain (British National Grid).",
            fix="outside Great Britain, supply need as weighted points.",
        )
    units = (postcodes or get_index()).units
    x0, y0, x1, y1 = areas.total_bounds
    box = units[units["easting"].between(x0, x1) & units["northing"].between(y0, y1)].reset_index(
        drop=True
    )
    pts = gpd.GeoDataFrame(
        box[["postcode", "easting", "northing", "district_code", "ward_code"]],
        geometry=gpd.points_from_xy(box["easting"], box["northing"]),
        crs=settings.BNG_EPSG,
    )
    inside = gpd.sjoin(pts, areas[["area_code", "geometry"]], predicate="within", how="inner")
    inside = inside[~inside.index.duplicated()].drop(columns=["index_right", "area_code"])
    if inside.empty:
        raise InputError(
            "no postcode units fall inside the areas.",
            fix="check the areas file's CRS and that it covers part of Great Britain.",
        )
    res = residents_table().set_index("postcode").reindex(inside["postcode"].to_numpy())
    inside["residents"] = res["residents"].fillna(0.0).to_numpy(float)
    inside["lsoa11cd"] = res["lsoa11cd"].astype(object).fillna("").astype(str).to_numpy()
    missing = int(res["residents"].isna().sum())
    log.info(
        "%d postcode units inside the areas; %d not in the residents table (weight 0)",
        len(inside),
        missing,
    )
    return inside.reset_index(drop=True)


def tag_areas(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> np.ndarray:
    """Area code of each point: the polygon it lies in, else the nearest (e.g. on a coast).

    A point-in-polygon join goes first; only the few points on no polygon need the
    (much slower) nearest search.
    """
    out = np.full(len(points), None, dtype=object)
    pos = pd.Series(np.arange(len(points)), index=points.index)
    inside = gpd.sjoin(
        points[["geometry"]], areas[["area_code", "geometry"]], how="inner", predicate="within"
    )
    inside = inside[~inside.index.duplicated()]
    out[pos.loc[inside.index].to_numpy()] = inside["area_code"].to_numpy()
    rest = np.flatnonzero(pd.isna(out))
    if len(rest):
        near = gpd.sjoin_nearest(
            points.iloc[rest][["geometry"]], areas[["area_code", "geometry"]], how="left"
        )
        near = near[~near.index.duplicated()]
        out[rest] = near["area_code"].reindex(points.index[rest]).to_numpy()
    return out
