"""Read a user's exchange-site list into validated points in the analysis CRS."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import opening_hours as oh
import pandas as pd
import shapely
from pyproj import CRS

from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.postcodes import PostcodeIndex, get_index, normalise_postcode, postcode_level
from harmreach.geo.tables import (
    ReadReport,
    Source,
    columns_found,
    find_column,
    has_geometry,
    read_frame,
    read_notes,
)

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


#: Column names that mark the header row of a sites table.
_EXPECT = (
    "site_id",
    "name",
    "type",
    "postcode",
    "lon",
    "lat",
    "longitude",
    "latitude",
    "easting",
    "northing",
    "opening_hours",
)
_FULL_POSTCODE_FIX = "give the site's full unit postcode (e.g. WR1 2NA), or its coordinates."
#: A time to evaluate hours at once, so rules that parse but cannot be evaluated are caught.
_HOURS_PROBE = dt.datetime(2024, 6, 10, 12, 0)
_HOURS_FIX = "use OpenStreetMap syntax, e.g. 'Mo-Fr 09:00-17:30; Sa 09:00-12:00'."
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3},\d+$")
_DMS_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_DMS_SEPARATORS = re.compile(r"^[\s°º˚d:'′’‘\"″”“,]*$", re.I)


def parse_coordinate(text: object) -> tuple[float, str | None] | None:
    """Degrees from decimal or degrees-minutes-seconds text, with its hemisphere letter.

    Accepts ``52.19``, ``-2.22``, ``52.19N``, ``2°13'W``, ``52°11'37"N``, ``N 52 11 37``,
    ``52:11:37``. Returns ``(degrees, 'N'|'S'|'E'|'W'|None)`` with S and W negative, or None
    when the text is not a coordinate.
    """
    if text is None:
        return None
    s = str(text).strip().upper().replace("''", '"').replace("\u2212", "-").replace("\u2013", "-")
    if not s:
        return None
    hemi = None
    if s[-1] in "NSEW":
        hemi, s = s[-1], s[:-1].strip()
    elif s[0] in "NSEW":
        hemi, s = s[0], s[1:].strip()
    sign = 1.0
    if s.startswith(("-", "+")):
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:].strip()
    numbers = _DMS_NUMBER.findall(s)
    if not numbers or len(numbers) > 3 or not _DMS_SEPARATORS.match(_DMS_NUMBER.sub("", s)):
        return None
    parts = [float(n) for n in numbers]
    if any(p >= 60 for p in parts[1:]):
        return None
    value = parts[0] + sum(p / 60**k for k, p in enumerate(parts[1:], start=1))
    if hemi in ("S", "W"):
        if sign < 0:
            return None  # "-2°W" is ambiguous
        sign = -1.0
    return sign * value, hemi


def _coordinates(raw: pd.Series, axis: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a lon or lat column: values (NaN where blank or unreadable), blank, wrong axis."""
    text = raw.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy()
    values = pd.to_numeric(text.mask(blank), errors="coerce").to_numpy(dtype=float)
    wrong_axis = np.zeros(len(raw), dtype=bool)
    letters = ("E", "W") if axis == "lon" else ("N", "S")
    for i in np.flatnonzero(np.isnan(values) & ~blank):
        if _DECIMAL_COMMA.match(text.iloc[i]):
            # "52,1936": a decimal comma (semicolon-separated files from European locales).
            values[i] = float(text.iloc[i].replace(",", "."))
            continue
        parsed = parse_coordinate(text.iloc[i])
        if parsed is not None:
            values[i] = parsed[0]
            wrong_axis[i] = parsed[1] is not None and parsed[1] not in letters
    return values, blank, wrong_axis


def _hours_problem(text: str) -> str | None:
    """Why an opening_hours value does not parse (the analysis's parser), or None."""
    try:
        oh.OpeningHours(text).is_open(_HOURS_PROBE)
    except Exception as exc:  # noqa: BLE001 - the parser's error type varies by version
        at = re.search(r"-->\s*\d+:(\d+)", str(exc))
        where = f" at character {at.group(1)}" if at else ""
        return f"opening_hours '{text}' cannot be read{where}"
    return None


def read_sites(
    source: str | Source,
    *,
    crs: CRS | int | None = None,
    study_area: gpd.GeoDataFrame | None = None,
    strict: bool = True,
    postcodes: PostcodeIndex | None = None,
    defaults: dict[str, str] | None = None,
    sheet: str | None = None,
    layer: str | None = None,
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
        If True, a bad row (unknown type, bad coordinates, unmatched or partial postcode,
        unreadable opening hours, a row shifted by an unquoted comma) is an error; if False
        it is skipped and listed in the report.
    postcodes
        Postcode index to geocode with (default: the bundled Code-Point Open).
    defaults
        Values for required columns the file lacks (e.g. candidate sites need no type);
        ``site_id`` is numbered from 1 when defaulted.
    sheet
        XLSX: the sheet to read (needed when the sites are not on the first sheet).
    layer
        GeoPackage/zip: the layer to read (needed when the file has several).

    Returns
    -------
    tuple of geopandas.GeoDataFrame and ReadReport
        Sites in ``crs`` with the columns of ``SITE_COLUMNS``, and what was skipped.
    """
    src = Source.of(source)
    df = read_frame(src, expect=_EXPECT, sheet=sheet, layer=layer, strict=strict)
    target = CRS.from_user_input(crs or settings.BNG_EPSG)
    report = ReadReport(file=src.name, rows_read=len(df), notes=read_notes(df))
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
    has_geom = bool(has_geometry(df).any())
    if not (has_geom or (lon_c and lat_c) or (e_c and n_c) or pc_c):
        raise InputError(
            "no location: need lon+lat, easting+northing, postcode or a point geometry; "
            f"found: {columns_found(df)}.",
            file=src.name,
            fix="add a postcode column or coordinates.",
        )

    # row -> (why, column, fix); the first problem found for a row is the one reported.
    problems: dict[int, tuple[str, str | None, str | None]] = {}

    def add(row: object, why: str, column: str | None = None, fix: str | None = None) -> None:
        problems.setdefault(int(row), (why, column, fix))  # type: ignore[call-overload]

    for row, why in df.attrs.get("bad_rows", {}).items():
        add(row, why, None, "put double quotes around values that contain the separator.")

    out = pd.DataFrame(index=df.index)
    out["site_id"] = df[cols["site_id"]].astype("string").str.strip()
    out["name"] = df[cols["name"]].astype("string").str.strip().fillna("")
    for row in out.index[(out["site_id"].isna() | (out["site_id"] == "")).to_numpy(bool)]:
        add(row, "empty site_id", cols["site_id"], "give every site a site_id.")
    dup = out["site_id"].notna() & out["site_id"].duplicated(keep=False) & (out["site_id"] != "")
    dup = dup.fillna(False).astype(bool)
    if dup.any():
        first = out.loc[dup, "site_id"].iloc[0]
        rows = [int(r) for r in out.index[(out["site_id"] == first).fillna(False).to_numpy(bool)]]
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
    for row in kind.index[~kind.isin(allowed).fillna(False).to_numpy(bool)]:
        add(
            row,
            f"unknown type '{df.loc[row, cols['type']]}' "
            f"(column '{cols['type']}'; allowed: {', '.join(settings.SITE_TYPES)})",
            cols["type"],
            f"use one of: {', '.join(settings.SITE_TYPES)}.",
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
        ok = has_geometry(gdf)
        not_point = ok & (geom.geom_type != "Point").to_numpy(bool)
        if not_point.any():
            row = int(rows[np.flatnonzero(not_point)[0]])
            raise InputError(
                f"sites must be points; found a {geom.loc[row].geom_type}.",
                file=src.name,
                row=row,
                fix="use point geometries (or centroids) for sites.",
            )
        arr = np.asarray(geom.values, dtype=object)
        gx = np.full(len(arr), np.nan)
        gy = np.full(len(arr), np.nan)
        gx[ok], gy[ok] = shapely.get_x(arr[ok]), shapely.get_y(arr[ok])
        declared = f"EPSG:{gdf.crs.to_epsg()}" if gdf.crs.to_epsg() else gdf.crs.name
        if gdf.crs.is_geographic:
            metres = ok & ((np.abs(gx) > 180) | (np.abs(gy) > 90))
            mixed = metres.any() and (ok & ~metres).any()
            for i in np.flatnonzero(metres):
                add(
                    rows[i],
                    f"point ({gx[i]:g}, {gy[i]:g}) is not in degrees although the file "
                    f"declares {declared}"
                    + (
                        "; the file mixes coordinate systems"
                        if mixed
                        else (
                            "; it looks like eastings/northings (EPSG:27700)"
                            if bool(crsmod.in_gb_bng(gx[i : i + 1], gy[i : i + 1])[0])
                            else ""
                        )
                    ),
                    None,
                    "save every feature in one CRS and declare it (in QGIS: Export > Save "
                    "Features As, choosing the CRS).",
                )
            ok = ok & ~metres
        elif gdf.crs.is_projected:
            degrees = ok & (np.abs(gx) <= 180) & (np.abs(gy) <= 90)
            if degrees.any() and (ok & ~degrees).any():
                for i in np.flatnonzero(degrees):
                    add(
                        rows[i],
                        f"point ({gx[i]:g}, {gy[i]:g}) looks like degrees although the file "
                        f"declares {declared}; the file mixes coordinate systems",
                        None,
                        "save every feature in one CRS and declare it.",
                    )
                ok = ok & ~degrees
        m = ok
        if m.any():
            pts = crsmod.to_crs(geom[m], target)
            x[m], y[m] = pts.x.to_numpy(), pts.y.to_numpy()
            source_of[m] = "geometry"
        if study_area is None and m.any():
            glon, glat = crsmod.to_lonlat(target, x[m], y[m])
            for i, inside in zip(np.flatnonzero(m), crsmod.in_gb_lonlat(glon, glat), strict=True):
                if not inside:
                    add(rows[i], "point is outside Great Britain")
                    x[i] = y[i] = np.nan

    need = np.isnan(x) & ~np.isin(rows, list(problems))
    if lon_c and lat_c and need.any():
        lon, lon_blank, lon_axis = _coordinates(df[lon_c], "lon")
        lat, lat_blank, lat_axis = _coordinates(df[lat_c], "lat")
        given = need & ~(lon_blank & lat_blank)
        both = ~np.isnan(lon) & ~np.isnan(lat)
        for i in np.flatnonzero(given & ~both):
            add(
                rows[i],
                f"lon/lat '{df[lon_c].iloc[i]}', '{df[lat_c].iloc[i]}' are not both numbers",
                lon_c if np.isnan(lon[i]) else lat_c,
                "write decimal degrees (e.g. -2.2207, 52.1936) or degrees-minutes-seconds "
                "(e.g. 52°11'37\"N).",
            )
        for i in np.flatnonzero(given & both & (lon_axis | lat_axis)):
            add(
                rows[i],
                f"lon '{df[lon_c].iloc[i]}', lat '{df[lat_c].iloc[i]}' look swapped "
                "(lat/lon order)",
                lon_c,
                "put the E/W value in lon and the N/S value in lat.",
            )
        valid = given & both & ~lon_axis & ~lat_axis
        not_deg = valid & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
        bngish = not_deg & (crsmod.in_gb_bng(lon, lat) | crsmod.in_gb_bng(lat, lon))
        mixed = bngish.any() and (valid & ~not_deg).any()
        for i in np.flatnonzero(not_deg):
            if bngish[i] and mixed:
                why = (
                    f"lon {lon[i]:g}, lat {lat[i]:g} look like eastings/northings "
                    "(EPSG:27700, metres) while other rows are degrees: the file mixes "
                    "coordinate systems"
                )
                fix = "put metres in easting,northing columns and degrees in lon,lat."
            elif bngish[i]:
                why = (
                    f"lon {lon[i]:g}, lat {lat[i]:g} are not degrees: these look like "
                    "eastings/northings (EPSG:27700, metres)"
                )
                fix = "name the columns easting,northing."
            else:
                why = f"lon {lon[i]:g}, lat {lat[i]:g} are not degrees (lon -180..180, lat -90..90)"
                fix = "use WGS84 decimal degrees in lon/lat."
            add(rows[i], why, lon_c, fix)
        valid &= ~not_deg
        if study_area is None:
            ingb = crsmod.in_gb_lonlat(lon, lat)
            swapped = crsmod.in_gb_lonlat(lat, lon)
            for i in np.flatnonzero(valid & ~ingb):
                why = (
                    f"lon {lon[i]:g}, lat {lat[i]:g} look swapped (lat/lon order)"
                    if swapped[i]
                    else f"lon {lon[i]:g}, lat {lat[i]:g} is outside Great Britain"
                )
                add(rows[i], why, lon_c)
            valid &= ingb
        else:
            # Against the study area's extent: a swapped pair lands inside it when flipped.
            x0, y0, x1, y1 = crsmod.to_crs(study_area, settings.WGS84_EPSG).total_bounds
            pad = 0.3  # degrees, about 20-30 km

            def inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                return (a >= x0 - pad) & (a <= x1 + pad) & (b >= y0 - pad) & (b <= y1 + pad)

            for i in np.flatnonzero(valid & ~inside(lon, lat) & inside(lat, lon)):
                add(
                    rows[i],
                    f"lon {lon[i]:g}, lat {lat[i]:g} look swapped (lat/lon order)",
                    lon_c,
                    "swap the lon and lat values.",
                )
            valid &= ~(~inside(lon, lat) & inside(lat, lon))
        if valid.any():
            px, py = crsmod.lonlat_to(target, lon[valid], lat[valid])
            x[valid], y[valid] = px, py
            source_of[valid] = "lonlat"

    need = np.isnan(x) & ~np.isin(rows, list(problems))
    if e_c and n_c and need.any():
        e = pd.to_numeric(df[e_c], errors="coerce").to_numpy(dtype=float)
        n = pd.to_numeric(df[n_c], errors="coerce").to_numpy(dtype=float)
        given = need & (df[e_c].notna() | df[n_c].notna()).to_numpy(bool)
        valid = given & np.isfinite(e) & np.isfinite(n)
        for i in np.flatnonzero(given & ~valid):
            add(
                rows[i],
                "easting/northing are not both numbers",
                e_c if not np.isfinite(e[i]) else n_c,
                "use plain numbers in metres (British National Grid).",
            )
        degrees = valid & (np.abs(e) <= 180) & (np.abs(n) <= 90)
        for i in np.flatnonzero(degrees):
            add(
                rows[i],
                f"easting {e[i]:g}, northing {n[i]:g} look like degrees: put them in lon/lat",
                e_c,
                "name the columns lon,lat.",
            )
        valid &= ~degrees
        outside = valid & ~crsmod.in_gb_bng(e, n)
        for i in np.flatnonzero(outside):
            add(rows[i], f"easting {e[i]:g}, northing {n[i]:g} is outside Great Britain", e_c)
        valid &= ~outside
        if valid.any():
            if target.to_epsg() == settings.BNG_EPSG:
                x[valid], y[valid] = e[valid], n[valid]
            else:
                lon, lat = crsmod.to_lonlat(settings.BNG_EPSG, e[valid], n[valid])
                x[valid], y[valid] = crsmod.lonlat_to(target, lon, lat)
            source_of[valid] = "bng"

    out["postcode"] = df[pc_c].astype("string").str.strip() if pc_c else pd.NA
    need = np.isnan(x) & ~np.isin(rows, list(problems))
    if pc_c and need.any():
        _geocode_postcodes(df[pc_c], pc_c, need, rows, x, y, source_of, out, add, target, postcodes)

    for i in np.flatnonzero(np.isnan(x)):
        add(
            rows[i],
            "no location (no coordinates, postcode or geometry)",
            None,
            "add the site's full postcode or its coordinates.",
        )

    if study_area is not None:
        x0, y0, x1, y1 = crsmod.to_crs(study_area, target).total_bounds
        m = STUDY_MARGIN_M
        far = ~np.isnan(x) & ((x < x0 - m) | (x > x1 + m) | (y < y0 - m) | (y > y1 + m))
        for i in np.flatnonzero(far):
            add(rows[i], "location is more than 20 km outside the study area")

    cap_c = find_column(df, "capacity")
    out["capacity"] = np.nan
    if cap_c:
        cap = pd.to_numeric(df[cap_c], errors="coerce")
        bad_cap = (cap.isna() & df[cap_c].notna()) | (cap < 0) | ~np.isfinite(cap.fillna(0))
        for row in cap.index[bad_cap.to_numpy(bool)]:
            add(
                row,
                f"capacity '{df.loc[row, cap_c]}' is not a non-negative number",
                cap_c,
                "use a plain finite number (e.g. packs a week), or leave it blank.",
            )
        out["capacity"] = cap
    hours_c = find_column(df, "opening_hours", "hours")
    out["opening_hours"] = df[hours_c].astype("string").str.strip() if hours_c else pd.NA
    if hours_c:
        hours = out["opening_hours"]
        known: dict[str, str | None] = {}
        for row, text in hours[(hours.notna() & (hours != "")).fillna(False)].items():
            if text not in known:
                known[text] = _hours_problem(str(text))
            if known[text]:
                add(row, known[text], hours_c, _HOURS_FIX)  # type: ignore[arg-type]
    svc_c = find_column(df, "services")
    out["services"] = df[svc_c].astype("string") if svc_c else pd.NA
    act_c = find_column(df, "active")
    out["active"] = True
    if act_c:
        txt = df[act_c].astype("string").str.strip().str.lower()
        out["active"] = ~txt.isin(_FALSE).fillna(False)
        for row in txt.index[(txt.notna() & ~txt.isin(_TRUE | _FALSE)).fillna(False)]:
            add(
                row, f"active '{df.loc[row, act_c]}' is not true/false", act_c, "use true or false."
            )
    ill_c = find_column(df, "illustrative")
    out["illustrative"] = (
        df[ill_c].astype("string").str.strip().str.lower().isin(_TRUE).fillna(False)
        if ill_c
        else False
    )
    out["location_source"] = source_of

    if problems:
        rows_bad = sorted(problems)
        if strict:
            first = rows_bad[0]
            why, column, fix = problems[first]
            more = f" ({len(rows_bad) - 1} more rows have problems)" if len(rows_bad) > 1 else ""
            skip = "or use --skip-bad-rows to leave the bad rows out (they are counted and listed)."
            raise InputError(
                why + "." + more,
                file=src.name,
                row=first,
                column=column,
                fix=(fix.rstrip(".") + "; " + skip) if fix else "correct the row(s), " + skip,
            )
        report.skipped = [(r, problems[r][0]) for r in rows_bad]

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
        shown = "; ".join(f"row {r}: {why}" for r, why in report.skipped[:3])
        more = " …" if len(report.skipped) > 3 else ""
        raise InputError(
            f"no usable sites left: all {len(report.skipped)} rows have problems ({shown}{more}).",
            file=src.name,
            fix="correct the rows listed.",
        )
    return result, report


def _geocode_postcodes(
    raw_col: pd.Series,
    pc_c: str,
    need: np.ndarray,
    rows: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    source_of: np.ndarray,
    out: pd.DataFrame,
    add: Callable[..., None],
    target: CRS,
    postcodes: PostcodeIndex | None,
) -> None:
    """Geocode the rows still without a location; only full unit postcodes are looked up.

    A district (``WR1``) or sector (``WR1 2``) would put the site at the mean of thousands of
    addresses, so it is a problem for the row, as is text that is no postcode (``TBC``).
    Values are normalised to plain Python strings before the index sees them, so a missing
    value can never reach a boolean mask as ``pd.NA``.
    """
    # Invisible characters pasted from web pages (zero-width space, BOM, soft hyphen) go.
    text = [None if pd.isna(v) else _INVISIBLE.sub("", str(v)).strip() for v in raw_col.to_list()]
    unit_pos: list[int] = []
    canon_units: list[str] = []
    for i in np.flatnonzero(need):
        value = text[i]
        if not value:
            continue
        canon = normalise_postcode(value)
        level = postcode_level(canon)
        if level == "unit":
            unit_pos.append(int(i))
            canon_units.append(canon)
        elif level in ("sector", "district"):
            add(
                rows[i],
                f"postcode '{value}' is only a postcode {level}: a site needs a full unit "
                "postcode (e.g. WR1 2NA) or coordinates",
                pc_c,
                _FULL_POSTCODE_FIX,
            )
        else:
            add(rows[i], f"'{value}' is not a postcode", pc_c, _FULL_POSTCODE_FIX)
    if not unit_pos:
        return
    index = postcodes or get_index()
    geo = index.geocode(pd.Series(canon_units, dtype=object))
    hit = geo["matched"].to_numpy(dtype=bool)
    gi = np.asarray(unit_pos)
    out.iloc[gi, out.columns.get_loc("postcode")] = geo["postcode"].to_numpy(dtype=object)
    for i, ok in zip(gi, hit, strict=True):
        if not ok:
            add(
                rows[i],
                f"postcode '{text[i]}' not found in OS Code-Point Open",
                pc_c,
                "check the postcode (a new-build postcode may be missing), or give coordinates.",
            )
    e = geo["easting"].to_numpy(dtype=float)[hit]
    n = geo["northing"].to_numpy(dtype=float)[hit]
    if target.to_epsg() == settings.BNG_EPSG:
        x[gi[hit]], y[gi[hit]] = e, n
    else:
        lon, lat = crsmod.to_lonlat(settings.BNG_EPSG, e, n)
        x[gi[hit]], y[gi[hit]] = crsmod.lonlat_to(target, lon, lat)
    source_of[gi[hit]] = "postcode"
