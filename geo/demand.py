"""Demand points: postcode unit centroids with an estimated resident count, tagged by area."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import settings
from geo.errors import InputError
from geo.postcodes import PostcodeIndex, get_index

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
    """Postcode units that fall inside user areas, one resident weight each.

    Code-Point Open carries no household counts, so outside the demo county every unit
    weighs the same (``residents`` = 1 per unit, labelled as such). Need is then spread in
    proportion to units, which follows where addresses are, not how many people live there.
    """
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
    inside["residents"] = 1.0
    if inside.empty:
        raise InputError(
            "no postcode units fall inside the areas.",
            fix="check the areas file's CRS and that it covers part of Great Britain.",
        )
    log.info("%d postcode units inside the areas (equal weights)", len(inside))
    return inside.reset_index(drop=True)


def tag_areas(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> np.ndarray:
    """Area code of each point (nearest area for points on no polygon, e.g. on a coastline)."""
    joined = gpd.sjoin_nearest(points[["geometry"]], areas[["area_code", "geometry"]], how="left")
    joined = joined[~joined.index.duplicated()]
    return joined["area_code"].reindex(points.index).to_numpy()
