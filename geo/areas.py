"""Read a user's area polygons (districts, wards, ...) into a validated analysis-CRS layer."""

from __future__ import annotations

import re

import geopandas as gpd
import shapely
from pyproj import CRS

from geo import crs as crsmod
from geo import settings
from geo.errors import InputError
from geo.tables import Source, columns_found, find_column, read_frame

_CODE_RE = re.compile(r"^[A-Z]{2,5}\d{2}CD$", re.I)  # LAD24CD, WD23CD, LSOA21CD, ...
_NAME_RE = re.compile(r"^[A-Z]{2,5}\d{2}NM$", re.I)


def detect_id_columns(
    gdf: gpd.GeoDataFrame, code_col: str | None, name_col: str | None, file: str
) -> tuple[str, str]:
    """Choose the code and name columns: given by flag, or detected (area_code, LAD24CD, ...)."""
    for given in (code_col, name_col):
        if given and given not in gdf.columns:
            raise InputError(
                f"column '{given}' not found; found: {columns_found(gdf)}.",
                file=file,
                fix="name one of the columns listed.",
            )
    code = (
        code_col
        or find_column(gdf, "area_code", "code")
        or next((c for c in gdf.columns if _CODE_RE.match(c)), None)
    )
    name = (
        name_col
        or find_column(gdf, "area_name", "name")
        or next((c for c in gdf.columns if _NAME_RE.match(c)), None)
    )
    if code is None:
        raise InputError(
            f"no area identifier column; found: {columns_found(gdf)}.",
            file=file,
            fix="add area_code (and area_name), or name them with --area-code/--area-name.",
        )
    return code, name or code


def read_areas(
    source: str | Source,
    *,
    code_col: str | None = None,
    name_col: str | None = None,
    crs: CRS | int | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate area polygons.

    Parameters
    ----------
    source
        Any vector format GDAL reads (GeoPackage, GeoJSON, shapefile zip, ...), with a CRS.
    code_col, name_col
        Identifier and name columns; detected when not given (``area_code``/``area_name``,
        ONS style ``LAD24CD``/``LAD24NM``, ``code``/``name``).
    crs
        Analysis CRS; default: BNG in Great Britain, else the local UTM zone.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``area_code``, ``area_name``, ``geometry`` (valid polygons) in the analysis CRS.
    """
    src = Source.of(source)
    gdf = read_frame(src)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(
            "areas must be polygons in a vector file, not a plain table.",
            file=src.name,
            fix="use GeoPackage, GeoJSON or a shapefile (zip) with area polygons.",
        )
    if gdf.crs is None:
        raise InputError(
            "the file declares no CRS.",
            file=src.name,
            fix="save it with a CRS (in QGIS: Layer > Set CRS, then export).",
        )
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        row = int(empty[empty].index[0])
        raise InputError(
            f"{int(empty.sum())} area(s) have no geometry.",
            file=src.name,
            row=row,
            fix="remove or redraw these features.",
        )
    bad = ~gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad.any():
        row = int(bad[bad].index[0])
        raise InputError(
            f"areas must be polygons; found {gdf.geometry.loc[row].geom_type}.",
            file=src.name,
            row=row,
            fix="use the polygon layer of your boundary file.",
        )
    code, name = detect_id_columns(gdf, code_col, name_col, src.name)
    codes = gdf[code].astype("string").str.strip()
    if codes.isna().any() or (codes == "").any():
        row = int(codes.index[(codes.isna() | (codes == "")).to_numpy()][0])
        raise InputError("empty area code.", file=src.name, row=row, column=code)
    dup = codes.duplicated(keep=False)
    if dup.any():
        first = codes[dup].iloc[0]
        rows = [int(r) for r in codes.index[codes == first]]
        raise InputError(
            f"area code '{first}' appears in features {', '.join(map(str, rows))}.",
            file=src.name,
            row=rows[1],
            column=code,
            fix="merge the parts into one multipolygon per area, or pick a unique code column.",
        )
    if crs is None:
        x0, y0, x1, y1 = gdf.to_crs(settings.WGS84_EPSG).total_bounds
        target = crsmod.analysis_crs((x0, y0, x1, y1))
    else:
        target = CRS.from_user_input(crs)
    out = gpd.GeoDataFrame(
        {
            "area_code": codes.to_numpy(),
            "area_name": gdf[name].astype("string").str.strip().fillna("").to_numpy(),
        },
        geometry=shapely.make_valid(gdf.geometry.to_crs(target).values),
        crs=target,
    )
    return out
