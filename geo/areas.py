"""Read a user's area polygons (districts, wards, ...) into a validated analysis-CRS layer."""

from __future__ import annotations

import logging
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.tables import (
    Source,
    columns_found,
    find_column,
    has_geometry,
    read_frame,
    read_notes,
)

log = logging.getLogger(__name__)

#: A polygon repair may change an area by at most this fraction (a loss beyond it is an error).
MAX_REPAIR_LOSS = 0.01

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
    layer: str | None = None,
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
    layer
        The layer to read from a file with several (GeoPackage, zip of shapefiles); a file
        with several layers and no ``layer`` is an error that lists them.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``area_code``, ``area_name``, ``geometry`` (valid polygons) in the analysis CRS.
        ``attrs["read_notes"]`` says what was decided or repaired (e.g. a self-intersecting
        polygon, with the change in its area); these are also logged as warnings.
    """
    src = Source.of(source)
    gdf = read_frame(src, layer=layer)
    notes = read_notes(gdf)
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
    empty = pd.Series(~has_geometry(gdf), index=gdf.index)
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
    _check_coordinates_match_crs(gdf, src.name)
    code, name = detect_id_columns(gdf, code_col, name_col, src.name)
    codes = gdf[code].astype("string").str.strip()
    if codes.isna().any() or (codes == "").any():
        row = int(codes.index[(codes.isna() | (codes == "")).to_numpy()][0])
        raise InputError(
            "empty area code.",
            file=src.name,
            row=row,
            column=code,
            fix="give every area a code.",
        )
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
        x0, y0, x1, y1 = crsmod.to_crs(gdf, settings.WGS84_EPSG).total_bounds
        target = crsmod.analysis_crs((x0, y0, x1, y1))
    else:
        target = CRS.from_user_input(crs)
    geoms = crsmod.to_crs(gdf.geometry, target).values
    geoms = repair_polygons(geoms, codes.to_numpy(), gdf.index.to_numpy(), src.name, notes)
    out = gpd.GeoDataFrame(
        {
            "area_code": codes.to_numpy(),
            "area_name": gdf[name].astype("string").str.strip().fillna("").to_numpy(),
        },
        geometry=geoms,
        crs=target,
    )
    out.attrs["read_notes"] = notes
    return out


def _check_coordinates_match_crs(gdf: gpd.GeoDataFrame, file: str) -> None:
    """Coordinates that cannot be in the declared CRS (degrees vs metres), or a mix of both."""
    b = gdf.geometry.bounds
    degree_like = (
        (b["minx"].abs() <= 180) & (b["maxx"].abs() <= 180) & (b["miny"].abs() <= 90)
    ) & (b["maxy"].abs() <= 90)
    declared = f"EPSG:{gdf.crs.to_epsg()}" if gdf.crs.to_epsg() else gdf.crs.name
    fix_mixed = "save every feature in one CRS and declare it (in QGIS: Export > Save Features As)."
    if gdf.crs.is_geographic and not degree_like.all():
        row = int(degree_like.index[~degree_like.to_numpy()][0])
        if degree_like.any():
            raise InputError(
                f"the file mixes coordinate systems: {int((~degree_like).sum())} feature(s) "
                f"have coordinates in metres, {int(degree_like.sum())} in degrees.",
                file=file,
                row=row,
                fix=fix_mixed,
            )
        x0, y0, x1, y1 = gdf.total_bounds
        bng = bool(crsmod.in_gb_bng(np.array([x0, x1]), np.array([y0, y1])).all())
        raise InputError(
            f"the file declares {declared} (degrees) but its coordinates are not degrees"
            + ("; they look like eastings/northings (EPSG:27700)." if bng else "."),
            file=file,
            row=row,
            fix="set the layer's real CRS"
            + (" (EPSG:27700)" if bng else "")
            + " in QGIS (Layer > Set CRS) and save it again.",
        )
    if gdf.crs.is_projected and degree_like.any():
        row = int(degree_like.index[degree_like.to_numpy()][0])
        if not degree_like.all():
            raise InputError(
                f"the file mixes coordinate systems: {int(degree_like.sum())} feature(s) have "
                f"coordinates that look like degrees, {int((~degree_like).sum())} in metres.",
                file=file,
                row=row,
                fix=fix_mixed,
            )
        raise InputError(
            f"the file declares {declared} (metres) but its coordinates look like degrees (WGS84).",
            file=file,
            row=row,
            fix="set the layer's CRS to EPSG:4326 in QGIS (Layer > Set CRS) and save it again.",
        )


def repair_polygons(
    geoms: np.ndarray,
    codes: np.ndarray,
    rows: np.ndarray,
    file: str,
    notes: list[str],
    *,
    max_loss: float = MAX_REPAIR_LOSS,
) -> np.ndarray:
    """Repair invalid polygons (self-intersections), saying how much each area changed.

    The repair is ``make_valid(method="structure")``: shells are unioned and holes cut out,
    so a ring that crosses itself keeps every lobe and nothing turns into a line. The
    change is measured against the area GIS software shows for the original (the shoelace
    area); a repair that loses more than ``max_loss`` of it is an error (the polygon is
    ambiguous, e.g. a region traced twice or overlapping parts), any other repair a
    warning with the change in per cent.
    """
    valid = shapely.is_valid(geoms)
    if valid.all():
        return geoms
    geoms = geoms.copy()
    for i in np.flatnonzero(~valid):
        before = float(shapely.area(geoms[i]))
        fixed = shapely.make_valid(geoms[i], method="structure", keep_collapsed=False)
        after = float(shapely.area(fixed))
        reason = shapely.is_valid_reason(geoms[i])
        change = (after - before) / before if before > 0 else math.inf
        what = (
            f"area '{codes[i]}' (feature {rows[i]}) is not a valid polygon ({reason}); "
            f"repairing it changes its area from {before / 1e6:,.4f} to {after / 1e6:,.4f} km²"
        )
        if after <= 0 or (before > 0 and change < -max_loss):
            raise InputError(
                what + f" ({100 * change:+.1f}%), more than the {100 * max_loss:g}% allowed.",
                file=file,
                row=int(rows[i]),
                fix="fix the polygon in QGIS (Vector > Geometry Tools > Check Validity, "
                "then Fix Geometries) and check its outline before using it.",
            )
        pct = f"{100 * change:+.2f}%" if math.isfinite(change) else "from zero"
        note = what + f" ({pct})"
        log.warning("%s: %s", file, note)
        notes.append(note)
        if fixed.geom_type not in ("Polygon", "MultiPolygon"):
            fixed = shapely.MultiPolygon(
                [g for g in shapely.get_parts(fixed) if g.geom_type == "Polygon"]
            )
        geoms[i] = fixed
    return geoms
