"""Generate the messy and hostile input files of issue 15 (no hand-edited binaries).

Run ``python tests/make_messy_fixtures.py [DIR]`` to write them to ``DIR`` (default
``tests/data/messy``); the tests call :func:`make_fixtures` with a temporary folder. Every
file is built from text or with the library that a user's own software would have used
(openpyxl for Excel, GDAL for GeoPackage and shapefiles), so each case is reproducible and
reviewable here.

The positions used are real places in Worcester (BNG metres, EPSG:27700) and real postcode
units from OS Code-Point Open: WR1 2NA (385153, 254591) and B97 4HA.
"""

from __future__ import annotations

import gzip
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import shapely

#: A square district in Worcester, 1 km a side (BNG).
X0, Y0 = 384_000.0, 254_000.0

HEADER = "site_id,name,type,postcode\n"


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def sites_tbc_postcodes(d: Path) -> Path:
    """Postcode cells that are no postcode: 'TBC', prose, a shifted value, and one good one."""
    return _text(
        d / "sites_tbc_postcodes.csv",
        HEADER
        + "A,Chemist one,pharmacy,TBC\n"
        + "B,Chemist two,pharmacy,not a postcode\n"
        + "C,Chemist three,pharmacy,pharmacy\n"
        + "D,Chemist four,pharmacy,WR1 2NA\n",
    )


def sites_shifted_row(d: Path) -> Path:
    """An unquoted comma in a name on data row 3 (spreadsheet row 4) shifts its columns."""
    return _text(
        d / "sites_shifted_row.csv",
        HEADER
        + "A,Chemist one,pharmacy,WR1 2NA\n"
        + "B,Chemist two,pharmacy,B97 4HA\n"
        + "C,Boots, High Street,pharmacy,WR1 2NA\n",
    )


def sites_shifted_first_row(d: Path) -> Path:
    """The shifted row is the first data row (pandas would make the id the index)."""
    return _text(
        d / "sites_shifted_first_row.csv",
        HEADER + "A,Boots, High Street,pharmacy,WR1 2NA\nB,Chemist two,pharmacy,B97 4HA\n",
    )


def sites_stray_cp1252(d: Path) -> Path:
    """UTF-8 names ('Café', 'Łódź') and one '£' saved by Excel as a single cp1252 byte."""
    raw = (
        HEADER.encode()
        + "A,Café Santé,pharmacy,WR1 2NA\n".encode()
        + b"B,\xa35 Pharmacy,pharmacy,B97 4HA\n"
        + "C,Łódź Drug Service,drug_service,WR1 2NA\n".replace("WR1 2NA", "WR1 2AS").encode()
    )
    p = d / "sites_stray_cp1252.csv"
    p.write_bytes(raw)
    return p


def sites_all_cp1252(d: Path) -> Path:
    """A whole file saved as Windows-1252 ('CSV' in older Excel)."""
    text = HEADER + "A,Café Santé,pharmacy,WR1 2NA\nB,£5 Pharmacy,pharmacy,B97 4HA\n"
    p = d / "sites_all_cp1252.csv"
    p.write_bytes(text.encode("cp1252"))
    return p


def sites_utf16_tab(d: Path) -> Path:
    """Excel's 'Unicode Text' export: UTF-16 with a BOM, tab separated."""
    text = "site_id\tname\ttype\tpostcode\r\nA\tCafé Santé\tpharmacy\tWR1 2NA\r\n"
    p = d / "sites_utf16.txt"
    p.write_bytes(text.encode("utf-16"))
    return p


def sites_nul(d: Path) -> Path:
    """A NUL byte inside a name on spreadsheet row 3."""
    p = d / "sites_nul.csv"
    p.write_bytes(
        HEADER.encode() + b"A,Chemist one,pharmacy,WR1 2NA\nB,Chem\x00ist two,pharmacy,B97 4HA\n"
    )
    return p


def sites_title_rows(d: Path) -> Path:
    """A title and a blank line above the header; row 5 has an unknown type."""
    return _text(
        d / "sites_title_rows.csv",
        "Needle exchange sites - Worcestershire,,,\n"
        ",,,\n" + HEADER + "A,Chemist one,pharmacy,WR1 2NA\n" + "B,Chemist two,chemist,B97 4HA\n",
    )


def sites_semicolon(d: Path) -> Path:
    """Semicolon separated (Excel in a European locale), decimal commas in lon/lat."""
    return _text(
        d / "sites_semicolon.csv",
        "site_id;name;type;lon;lat;services\n"
        'A;Chemist, one;pharmacy;-2,2207;52,1936;"needles;foil"\n'
        "B;Chemist two;pharmacy;-2,2100;52,1900;needles\n",
    )


def sites_semicolon_plain(d: Path) -> Path:
    """Semicolon separated with a name that contains a comma."""
    return _text(
        d / "sites_semicolon_plain.csv",
        "site_id;name;type;postcode\nA;Boots, High Street;pharmacy;WR1 2NA\n"
        "B;Chemist two;pharmacy;B97 4HA\n",
    )


def _workbook():  # noqa: ANN202
    import openpyxl

    return openpyxl.Workbook()


def sites_second_sheet(d: Path) -> Path:
    """The sites are on the second sheet; the first is a cover note."""
    wb = _workbook()
    cover = wb.active
    cover.title = "Cover"
    cover["A1"] = "Exchange sites, prepared for the needs assessment"
    ws = wb.create_sheet("Sites")
    ws.append(["site_id", "name", "type", "postcode"])
    ws.append(["A", "Chemist one", "pharmacy", "WR1 2NA"])
    ws.append(["B", "Chemist two", "pharmacy", "B97 4HA"])
    p = d / "sites_second_sheet.xlsx"
    wb.save(p)
    return p


def sites_merged_title(d: Path) -> Path:
    """A merged title across A1:D1, a blank row, the header on row 3; row 5 is bad."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Sites"
    ws["A1"] = "Needle exchange sites"
    ws.merge_cells("A1:D1")
    ws.append([])
    ws.append(["Site ID", "Name", "Type", "Postcode"])
    ws.append(["A", "Chemist one", "pharmacy", "WR1 2NA"])
    ws.append(["B", "Chemist two", "pharmacy", "WR1"])
    p = d / "sites_merged_title.xlsx"
    wb.save(p)
    return p


def sites_formula(d: Path) -> Path:
    """lat in E3 is a formula written by a script: no saved value until Excel opens it."""
    wb = _workbook()
    ws = wb.active
    ws.append(["site_id", "name", "type", "lon", "lat"])
    ws.append(["A", "Chemist one", "pharmacy", -2.2207, 52.1936])
    ws.append(["B", "Chemist two", "pharmacy", -2.2100, "=E2-0.0036"])
    p = d / "sites_formula.xlsx"
    wb.save(p)
    return p


def sites_gzip(d: Path) -> Path:
    """sites.csv.gz: a gzip of a plain sites file."""
    p = d / "sites.csv.gz"
    p.write_bytes(gzip.compress((HEADER + "A,Chemist one,pharmacy,WR1 2NA\n").encode()))
    return p


def sites_gzip_named_csv(d: Path) -> Path:
    """Gzip bytes under a .csv name (a download saved without decompressing)."""
    p = d / "sites_gzipped.csv"
    p.write_bytes(gzip.compress((HEADER + "A,Chemist one,pharmacy,WR1 2NA\n").encode()))
    return p


def sites_dms(d: Path) -> Path:
    """Degrees-minutes-seconds and hemisphere letters in lon/lat (and the decimal twin)."""
    _text(
        d / "sites_decimal.csv",
        "site_id,name,type,lon,lat\n"
        f"A,Guildhall,clinic,{-(2 + 13 / 60 + 12 / 3600)!r},{52 + 11 / 60 + 32 / 3600!r}\n"
        f"B,Cathedral,clinic,{-(2 + 13 / 60)!r},{52 + 11 / 60!r}\n",
    )
    return _text(
        d / "sites_dms.csv",
        "site_id,name,type,lon,lat\n"
        'A,Guildhall,clinic,"2°13\'12""W","52°11\'32""N"\n'
        "B,Cathedral,clinic,2°13′W,52°11′N\n",
    )


def sites_bng_in_lonlat(d: Path) -> Path:
    """British National Grid metres typed into lon/lat columns."""
    return _text(
        d / "sites_bng_in_lonlat.csv",
        "site_id,name,type,lon,lat\nA,Chemist one,pharmacy,385153,254591\n"
        "B,Chemist two,pharmacy,384898,255798\n",
    )


def sites_mixed_lonlat(d: Path) -> Path:
    """Row 2 in degrees, row 3 in BNG metres, in the same lon/lat columns."""
    return _text(
        d / "sites_mixed_lonlat.csv",
        "site_id,name,type,lon,lat\nA,Chemist one,pharmacy,-2.2207,52.1936\n"
        "B,Chemist two,pharmacy,384898,255798\n",
    )


def sites_partial_postcodes(d: Path) -> Path:
    """A district (WR1) and a sector (WR1 2) as site locations, beside one full postcode."""
    return _text(
        d / "sites_partial_postcodes.csv",
        HEADER
        + "A,Chemist one,pharmacy,WR1 2NA\n"
        + "B,Chemist two,pharmacy,WR1\n"
        + "C,Chemist three,pharmacy,WR1 2\n",
    )


def sites_bad_hours(d: Path) -> Path:
    """Opening hours: two in OSM syntax, one in office shorthand the analysis cannot read."""
    return _text(
        d / "sites_bad_hours.csv",
        "site_id,name,type,postcode,opening_hours\n"
        'A,Chemist one,pharmacy,WR1 2NA,"Mo-Fr 09:00-17:30; Sa 09:00-12:00"\n'
        "B,Chemist two,pharmacy,B97 4HA,Mon-Fri 9-5\n"
        "C,Chemist three,pharmacy,WR1 2AS,24/7\n",
    )


def _feature(coords: list[float], props: dict) -> dict:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": coords},
    }


def sites_geojson_bng(d: Path) -> Path:
    """A GeoJSON written with BNG metres and no CRS (so it claims WGS84 degrees)."""
    fc = {
        "type": "FeatureCollection",
        "features": [
            _feature([385153, 254591], {"site_id": "A", "name": "one", "type": "pharmacy"}),
            _feature([384898, 255798], {"site_id": "B", "name": "two", "type": "pharmacy"}),
        ],
    }
    p = d / "sites_geojson_bng.geojson"
    p.write_text(json.dumps(fc), encoding="utf-8")
    return p


def sites_geojson_mixed(d: Path) -> Path:
    """A GeoJSON whose first point is in degrees and second in BNG metres."""
    fc = {
        "type": "FeatureCollection",
        "features": [
            _feature([-2.2207, 52.1936], {"site_id": "A", "name": "one", "type": "pharmacy"}),
            _feature([384898, 255798], {"site_id": "B", "name": "two", "type": "pharmacy"}),
        ],
    }
    p = d / "sites_geojson_mixed.geojson"
    p.write_text(json.dumps(fc), encoding="utf-8")
    return p


# --- areas -----------------------------------------------------------------------------------


def _square(x: float, y: float, s: float = 1000.0) -> shapely.Polygon:
    return shapely.box(x, y, x + s, y + s)


def _areas(codes: list[str], geoms: list, crs: int = 27700) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_code": codes, "area_name": [f"Area {c}" for c in codes]}, geometry=geoms, crs=crs
    )


def areas_two_layers_gpkg(d: Path) -> Path:
    """A GeoPackage with 'districts' (2 squares) and 'wards' (4 half-size squares)."""
    p = d / "areas_two_layers.gpkg"
    _areas(["D1", "D2"], [_square(X0, Y0), _square(X0 + 1000, Y0)]).to_file(p, layer="districts")
    wards = [_square(X0 + i * 500, Y0, 500) for i in range(4)]
    _areas(["W1", "W2", "W3", "W4"], wards).to_file(p, layer="wards")
    return p


def areas_two_layers_zip(d: Path) -> Path:
    """A zip of two shapefiles (districts.shp, wards.shp)."""
    work = d / "_shp"
    work.mkdir(exist_ok=True)
    _areas(["D1"], [_square(X0, Y0)]).to_file(work / "districts.shp")
    _areas(["W1", "W2"], [_square(X0, Y0, 500), _square(X0 + 500, Y0, 500)]).to_file(
        work / "wards.shp"
    )
    p = d / "areas_two_layers.zip"
    with zipfile.ZipFile(p, "w") as z:
        for f in sorted(work.iterdir()):
            z.write(f, f.name)
    return p


def areas_small_twist(d: Path) -> Path:
    """A 1 km square whose top edge has a small bow-tie 'hat' (two 50 m² triangles).

    The ring runs along the top edge from x=510 to x=490 through (500, 1010) and (490,
    1010)/(510, 1010) so that it crosses itself at (500, 1005): the lower triangle is traced
    anticlockwise (+50 m²), the upper one clockwise (-50 m²). The shoelace area is therefore
    1,000,000 m²; the repaired polygon holds both triangles: 1,000,100 m² (+0.01%).
    """
    x, y = X0, Y0
    ring = [
        (x, y),
        (x + 1000, y),
        (x + 1000, y + 1000),
        (x + 510, y + 1000),
        (x + 490, y + 1010),
        (x + 510, y + 1010),
        (x + 490, y + 1000),
        (x, y + 1000),
    ]
    p = d / "areas_small_twist.gpkg"
    _areas(["T1", "OK"], [shapely.Polygon(ring), _square(X0 + 1000, Y0)]).to_file(p)
    return p


def areas_traced_twice(d: Path) -> Path:
    """A 1 km square whose ring goes round an inner 600 m square a second time.

    The inner square is inside the outer one and traced in the same direction, so its
    winding number is 2: the shoelace area is 1,000,000 + 360,000 = 1,360,000 m². Any
    repair gives 1,000,000 m² at most (-26.5%): the outline is ambiguous and must be fixed.
    """
    x, y = X0, Y0
    ring = [
        (x, y),
        (x + 1000, y),
        (x + 1000, y + 1000),
        (x, y + 1000),
        (x, y + 100),
        (x + 200, y + 200),
        (x + 800, y + 200),
        (x + 800, y + 800),
        (x + 200, y + 800),
        (x + 200, y + 200),
        (x, y + 100),
    ]
    p = d / "areas_traced_twice.gpkg"
    _areas(["OK", "T2"], [_square(X0 + 1000, Y0), shapely.Polygon(ring)]).to_file(p)
    return p


def _polygon_feature(ring: list[tuple[float, float]], code: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"area_code": code, "area_name": f"Area {code}"},
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
    }


def _ring(x: float, y: float, s: float) -> list[tuple[float, float]]:
    return [(x, y), (x + s, y), (x + s, y + s), (x, y + s), (x, y)]


def areas_geojson_bng(d: Path) -> Path:
    """Area polygons in BNG metres in a GeoJSON with no CRS member (it claims degrees)."""
    fc = {
        "type": "FeatureCollection",
        "features": [_polygon_feature(_ring(X0, Y0, 1000), "B1")],
    }
    p = d / "areas_geojson_bng.geojson"
    p.write_text(json.dumps(fc), encoding="utf-8")
    return p


def areas_geojson_mixed(d: Path) -> Path:
    """Two areas: the first in degrees, the second in BNG metres."""
    fc = {
        "type": "FeatureCollection",
        "features": [
            _polygon_feature(_ring(-2.23, 52.19, 0.01), "M1"),
            _polygon_feature(_ring(X0, Y0, 1000), "M2"),
        ],
    }
    p = d / "areas_geojson_mixed.geojson"
    p.write_text(json.dumps(fc), encoding="utf-8")
    return p


# --- need ------------------------------------------------------------------------------------


def need_inf(d: Path) -> Path:
    """need of 'inf' on row 3."""
    return _text(d / "need_inf.csv", "area_code,need\nD1,10\nD2,inf\n")


def need_huge(d: Path) -> Path:
    """need of 1e308 on row 2 (finite, but the total overflows)."""
    return _text(d / "need_huge.csv", "area_code,need\nD1,1e308\nD2,1e308\n")


def need_blank(d: Path) -> Path:
    """A blank need cell on row 3."""
    return _text(d / "need_blank.csv", "area_code,need\nD1,10\nD2,\n")


def need_lower_case(d: Path) -> Path:
    """The right codes in lower case."""
    return _text(d / "need_lower_case.csv", "area_code,need\nd1,10\nd2,5.5\n")


def need_no_match(d: Path) -> Path:
    """Codes for other areas entirely."""
    return _text(d / "need_no_match.csv", "area_code,need\nE07000234,10\nE07000235,5\n")


def need_lsoa11cd(d: Path) -> Path:
    """Keyed by an ONS LSOA 2011 code column."""
    return _text(
        d / "need_lsoa11cd.csv", "LSOA11CD,need\nE01032345,3\nE01032346,4.5\nE01032347,0\n"
    )


def need_lad24cd(d: Path) -> Path:
    """Keyed by LAD24CD, with the district name beside it."""
    return _text(
        d / "need_lad24cd.csv",
        "LAD24CD,LAD24NM,need\nE07000237,Worcester,812\nE07000238,Wychavon,541\n",
    )


def need_code_value(d: Path) -> Path:
    """Plain 'code,value'."""
    return _text(d / "need_code_value.csv", "code,value\nD1,7\nD2,3\n")


def need_any_column(d: Path) -> Path:
    """The codes are in a column called 'Zone' (matched by value, or named with code_col)."""
    return _text(d / "need_any_column.csv", "Zone,Label,need\nD1,north,7\nD2,south,3\n")


def need_title_semicolon(d: Path) -> Path:
    """A title row above a semicolon-separated need table."""
    return _text(
        d / "need_title_semicolon.csv", "Estimated need 2024\n\narea_code;need\nD1;7\nD2;3\n"
    )


FIXTURES: dict[str, Callable[[Path], Path]] = {
    f.__name__: f
    for f in (
        sites_tbc_postcodes,
        sites_shifted_row,
        sites_shifted_first_row,
        sites_stray_cp1252,
        sites_all_cp1252,
        sites_utf16_tab,
        sites_nul,
        sites_title_rows,
        sites_semicolon,
        sites_semicolon_plain,
        sites_second_sheet,
        sites_merged_title,
        sites_formula,
        sites_gzip,
        sites_gzip_named_csv,
        sites_dms,
        sites_bng_in_lonlat,
        sites_mixed_lonlat,
        sites_partial_postcodes,
        sites_bad_hours,
        sites_geojson_bng,
        sites_geojson_mixed,
        areas_two_layers_gpkg,
        areas_two_layers_zip,
        areas_small_twist,
        areas_traced_twice,
        areas_geojson_bng,
        areas_geojson_mixed,
        need_inf,
        need_huge,
        need_blank,
        need_lower_case,
        need_no_match,
        need_lsoa11cd,
        need_lad24cd,
        need_code_value,
        need_any_column,
        need_title_semicolon,
    )
}


def make_fixtures(out_dir: Path) -> dict[str, Path]:
    """Write every fixture to ``out_dir``; return their paths by builder name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: build(out_dir) for name, build in FIXTURES.items()}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data" / "messy"
    for name, path in make_fixtures(target).items():
        print(f"{name}: {path}")
