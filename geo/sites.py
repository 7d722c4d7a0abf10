"""Read a user's exchange-site list into validated points in the analysis CRS."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo import crs as crsmod
from geo import settings
from geo.errors import InputError
from geo.postcodes import PostcodeIndex, get_index
from geo.tables import ReadReport, Source, columns_found, find_column, read_frame

#: Columns of the validated sites frame, in order.
SITE_COLUMNS = [
    "site_id",
    "name",
    "type",
    "opening_hours",
    "capacity",
    "services",
    "active",
    "postcode",
    "location_source",
    "illustrative",
]

_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}
#: Margin around the study area within which sites are accepted (people cross borders).
STUDY_MARGIN_M = 20_000.0


def read_sites(
    source: str | Source,
    *,
    crs: CRS | int | None = None,
    study_area: gpd.GeoDataFrame | None = None,
    strict: bool = True,
    postcodes: PostcodeIndex | None = None,
    defaults: dict[str, str] | None = None,
) -> tuple[gpd.GeoDataFrame, ReadReport]:
    """Read and validate a sites file.

    Parameters
    ----------
    source
        CSV, XLSX, GeoJSON, GeoPackage (path or in-memory upload).
    crs
        Analysis CRS of the result (default British National Grid).
    study_area
        Areas the sites serve; sites must lie within them (plus 20 km). Without one,
        sites must lie in Great Britain.
    strict
        If True, a bad row (unknown type, bad coordinates, unmatched postcode) is an error;
        if False it is skipped and listed in the report.
    postcodes
        Postcode index to geocode with (default: the bundled Code-Point Open).
    defaults
        Values for required columns the file lacks (e.g. candidate sites need no type);
        ``site_id`` is numbered from 1 when defaulted.

    Returns
    -------
    tuple of geopandas.GeoDataFrame and ReadReport
        Sites in ``crs`` with the columns of ``SITE_COLUMNS``, and what was skipped.
    """
    src = Source.of(source)
    df = read_frame(src)
    target = CRS.from_user_input(crs or settings.BNG_EPSG)
    report = ReadReport(file=src.name, rows_read=len(df))
    for col, value in (defaults or {}).items():
        if find_column(df, col) is None:
            df[col] = [f"{value}{i}" for i in range(1, len(df) + 1)] if col == "site_id" else value

    cols = {k: find_column(df, k) for k in ("site_id", "name", "type")}
    missing = [k for k, v in cols.items() if v is None]
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)}; found: {columns_found(df)}.",
            file=src.name,
            fix="add the columns site_id, name and type (see README, 'Sites').",
        )
    lon_c = find_column(df, "lon", "longitude", "lng")
    lat_c = find_column(df, "lat", "latitude")
    e_c = find_column(df, "easting", "x_bng")
    n_c = find_column(df, "northing", "y_bng")
    pc_c = find_column(df, "postcode", "post_code", "postcode_unit")
    has_geom = isinstance(df, gpd.GeoDataFrame) and df.geometry.notna().any()
    if not (has_geom or (lon_c and lat_c) or (e_c and n_c) or pc_c):
        raise InputError(
            "no location: need lon+lat, easting+northing, postcode or a point geometry; "
            f"found: {columns_found(df)}.",
            file=src.name,
            fix="add a postcode column or coordinates.",
        )

    problems: dict[int, str] = {}
    out = pd.DataFrame(index=df.index)
    out["site_id"] = df[cols["site_id"]].astype("string").str.strip()
    out["name"] = df[cols["name"]].astype("string").str.strip().fillna("")
    for row in out.index[out["site_id"].isna() | (out["site_id"] == "")]:
        problems.setdefault(int(row), "empty site_id")
    dup = out["site_id"].notna() & out["site_id"].duplicated(keep=False) & (out["site_id"] != "")
    if dup.any():
        first = out.loc[dup, "site_id"].iloc[0]
        rows = [int(r) for r in out.index[out["site_id"] == first]]
        raise InputError(
            f"duplicate site_id '{first}' in rows {', '.join(map(str, rows))} "
            f"({int(dup.sum())} rows share an id).",
            file=src.name,
            row=rows[1],
            column=cols["site_id"],
            fix="give every site a unique site_id.",
        )

    kind = (
        df[cols["type"]]
        .astype("string")
        .str.strip()
        .str.lower()
        .str.replace(r"[\s\-]+", "_", regex=True)
    )
    kind = kind.replace({"drug_services": "drug_service", "drugservice": "drug_service"})
    allowed = set(settings.SITE_TYPES)
    for row in kind.index[~kind.isin(allowed)]:
        problems.setdefault(
            int(row),
            f"unknown type '{df.loc[row, cols['type']]}' "
            f"(column '{cols['type']}'; allowed: {', '.join(settings.SITE_TYPES)})",
        )
    out["type"] = kind

    x = np.full(len(df), np.nan)
    y = np.full(len(df), np.nan)
    source_of = np.full(len(df), "", dtype=object)
    rows = df.index.to_numpy()

    if has_geom:
        gdf = df  # type: ignore[assignment]
        if gdf.crs is None:
            raise InputError(
                "the file declares no CRS.",
                file=src.name,
                fix="save it with a CRS (GeoJSON is always WGS84; in QGIS set the layer CRS).",
            )
        geom = gdf.geometry
        ok = geom.notna() & ~geom.is_empty
        not_point = ok & (geom.geom_type != "Point")
        if not_point.any():
            row = int(not_point[not_point].index[0])
            raise InputError(
                f"sites must be points; found a {geom.loc[row].geom_type}.",
                file=src.name,
                row=row,
                fix="use point geometries (or centroids) for sites.",
            )
        pts = geom[ok].to_crs(target)
        m = ok.to_numpy()
        x[m], y[m] = pts.x.to_numpy(), pts.y.to_numpy()
        source_of[m] = "geometry"
        if study_area is None and m.any():
            glon, glat = crsmod.to_lonlat(target, x[m], y[m])
            for i, inside in zip(np.flatnonzero(m), crsmod.in_gb_lonlat(glon, glat), strict=True):
                if not inside:
                    problems.setdefault(int(rows[i]), "point is outside Great Britain")

    need = np.isnan(x)
    if lon_c and lat_c and need.any():
        lon = pd.to_numeric(df[lon_c], errors="coerce").to_numpy()
        lat = pd.to_numeric(df[lat_c], errors="coerce").to_numpy()
        given = need & ~(np.isnan(lon) & np.isnan(lat))
        for i in np.flatnonzero(given & (np.isnan(lon) | np.isnan(lat))):
            problems.setdefault(
                int(rows[i]),
                f"lon/lat '{df[lon_c].iloc[i]}', '{df[lat_c].iloc[i]}' are not both numbers",
            )
        valid = given & ~np.isnan(lon) & ~np.isnan(lat)
        if study_area is None:
            ingb = crsmod.in_gb_lonlat(lon, lat)
            swapped = crsmod.in_gb_lonlat(lat, lon)
            for i in np.flatnonzero(valid & ~ingb):
                why = (
                    f"lon {lon[i]:g}, lat {lat[i]:g} look swapped (lat/lon order)"
                    if swapped[i]
                    else f"lon {lon[i]:g}, lat {lat[i]:g} is outside Great Britain"
                )
                problems.setdefault(int(rows[i]), why)
            valid &= ingb
        else:
            # Against the study area's extent: a swapped pair lands inside it when flipped.
            x0, y0, x1, y1 = study_area.to_crs(settings.WGS84_EPSG).total_bounds
            pad = 0.3  # degrees, about 20-30 km

            def inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                return (a >= x0 - pad) & (a <= x1 + pad) & (b >= y0 - pad) & (b <= y1 + pad)

            for i in np.flatnonzero(valid & ~inside(lon, lat) & inside(lat, lon)):
                problems.setdefault(
                    int(rows[i]), f"lon {lon[i]:g}, lat {lat[i]:g} look swapped (lat/lon order)"
                )
        if valid.any():
            px, py = crsmod.lonlat_to(target, lon[valid], lat[valid])
            x[valid], y[valid] = px, py
            source_of[valid] = "lonlat"

    need = np.isnan(x)
    if e_c and n_c and need.any():
        e = pd.to_numeric(df[e_c], errors="coerce").to_numpy()
        n = pd.to_numeric(df[n_c], errors="coerce").to_numpy()
        given = need & ~(np.isnan(e) & np.isnan(n))
        valid = given & ~np.isnan(e) & ~np.isnan(n)
        for i in np.flatnonzero(given & ~valid):
            problems.setdefault(int(rows[i]), "easting/northing are not both numbers")
        degrees = valid & (np.abs(e) <= 180) & (np.abs(n) <= 90)
        for i in np.flatnonzero(degrees):
            problems.setdefault(
                int(rows[i]),
                f"easting {e[i]:g}, northing {n[i]:g} look like degrees: put them in lon/lat",
            )
        valid &= ~degrees
        outside = valid & ~crsmod.in_gb_bng(e, n)
        for i in np.flatnonzero(outside):
            problems.setdefault(
                int(rows[i]), f"easting {e[i]:g}, northing {n[i]:g} is outside Great Britain"
            )
        valid &= ~outside
        if valid.any():
            if target.to_epsg() == settings.BNG_EPSG:
                x[valid], y[valid] = e[valid], n[valid]
            else:
                lon, lat = crsmod.to_lonlat(settings.BNG_EPSG, e[valid], n[valid])
                x[valid], y[valid] = crsmod.lonlat_to(target, lon, lat)
            source_of[valid] = "bng"

    out["postcode"] = df[pc_c].astype("string").str.strip() if pc_c else pd.NA
    need = np.isnan(x)
    if pc_c and need.any():
        raw = df[pc_c].astype("string").str.strip()
        given = need & raw.notna().to_numpy() & (raw != "").fillna(False).to_numpy()
        if given.any():
            index = postcodes or get_index()
            geo = index.geocode(raw[given])
            out.loc[geo.index, "postcode"] = geo["postcode"]
            hit = geo["matched"].to_numpy()
            gi = np.flatnonzero(given)
            for i, ok in zip(gi, hit, strict=True):
                if not ok:
                    problems.setdefault(
                        int(rows[i]),
                        f"postcode '{raw.iloc[i]}' not found in OS Code-Point Open",
                    )
            e = geo["easting"].to_numpy()[hit]
            n = geo["northing"].to_numpy()[hit]
            if target.to_epsg() == settings.BNG_EPSG:
                x[gi[hit]], y[gi[hit]] = e, n
            else:
                lon, lat = crsmod.to_lonlat(settings.BNG_EPSG, e, n)
                x[gi[hit]], y[gi[hit]] = crsmod.lonlat_to(target, lon, lat)
            source_of[gi[hit]] = "postcode"

    for i in np.flatnonzero(np.isnan(x)):
        problems.setdefault(int(rows[i]), "no location (no coordinates, postcode or geometry)")

    if study_area is not None:
        x0, y0, x1, y1 = study_area.to_crs(target).total_bounds
        m = STUDY_MARGIN_M
        far = ~np.isnan(x) & ((x < x0 - m) | (x > x1 + m) | (y < y0 - m) | (y > y1 + m))
        for i in np.flatnonzero(far):
            problems.setdefault(int(rows[i]), "location is more than 20 km outside the study area")

    cap_c = find_column(df, "capacity")
    out["capacity"] = np.nan
    if cap_c:
        cap = pd.to_numeric(df[cap_c], errors="coerce")
        for row in cap.index[(cap.isna() & df[cap_c].notna()) | (cap < 0)]:
            problems.setdefault(
                int(row), f"capacity '{df.loc[row, cap_c]}' is not a non-negative number"
            )
        out["capacity"] = cap
    hours_c = find_column(df, "opening_hours", "hours")
    out["opening_hours"] = df[hours_c].astype("string").str.strip() if hours_c else pd.NA
    svc_c = find_column(df, "services")
    out["services"] = df[svc_c].astype("string") if svc_c else pd.NA
    act_c = find_column(df, "active")
    out["active"] = True
    if act_c:
        txt = df[act_c].astype("string").str.strip().str.lower()
        out["active"] = ~txt.isin(_FALSE)
        for row in txt.index[txt.notna() & ~txt.isin(_TRUE | _FALSE)]:
            problems.setdefault(int(row), f"active '{df.loc[row, act_c]}' is not true/false")
    ill_c = find_column(df, "illustrative")
    out["illustrative"] = (
        df[ill_c].astype("string").str.strip().str.lower().isin(_TRUE) if ill_c else False
    )
    out["location_source"] = source_of

    if problems:
        rows_bad = sorted(problems)
        if strict:
            first = rows_bad[0]
            more = f" ({len(rows_bad) - 1} more rows have problems)" if len(rows_bad) > 1 else ""
            raise InputError(
                problems[first] + "." + more,
                file=src.name,
                row=first,
                fix="correct the row(s), or use --skip-bad-rows to leave them out "
                "(they are counted and listed).",
            )
        report.skipped = [(r, problems[r]) for r in rows_bad]

    keep = ~out.index.isin(list(problems))
    result = gpd.GeoDataFrame(
        out.loc[keep, SITE_COLUMNS].reset_index(names="source_row"),
        geometry=gpd.points_from_xy(x[keep], y[keep]),
        crs=target,
    )
    result["capacity"] = result["capacity"].astype(float)
    result["active"] = result["active"].astype(bool)
    result["illustrative"] = result["illustrative"].astype(bool)
    if result.empty:
        raise InputError(
            "no usable sites left after skipping bad rows.",
            file=src.name,
            fix="see the listed rows.",
        )
    return result, report
