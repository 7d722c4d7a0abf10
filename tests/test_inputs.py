"""Input readers: the documented contracts, and a test for every documented error."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from harmreach.geo.areas import read_areas
from harmreach.geo.errors import InputError
from harmreach.geo.need import read_need
from harmreach.geo.sites import read_sites
from harmreach.geo.tables import Source

THREE = """site_id,name,type,postcode
A,Chemist one,pharmacy,wr1 2na
B,Chemist two,pharmacy,ZZ9 9ZZ
C,Drug service,drug service,B974HA
"""


def test_three_postcodes_one_unknown_is_reported_with_its_row(write):
    p = write("sites.csv", THREE)
    with pytest.raises(InputError) as err:
        read_sites(p)
    assert err.value.row == 3  # spreadsheet row: header is row 1
    assert "ZZ9 9ZZ" in str(err.value) and "row 3" in str(err.value)


def test_skip_bad_rows_counts_and_geocodes_the_rest(write, postcode_index):
    sites, report = read_sites(write("sites.csv", THREE), strict=False)
    assert report.rows_read == 3 and report.rows_used == 2
    assert report.skipped == [(3, "postcode 'ZZ9 9ZZ' not found in OS Code-Point Open")]
    ref = postcode_index.units.loc[["WR1 2NA", "B97 4HA"]]
    d = np.hypot(
        sites.geometry.x.to_numpy() - ref["easting"].to_numpy(),
        sites.geometry.y.to_numpy() - ref["northing"].to_numpy(),
    )
    assert (d < 100).all()
    assert sites["type"].tolist() == ["pharmacy", "drug_service"]


def test_lonlat_and_easting_northing(write):
    p = write("s.csv", "site_id,name,type,lon,lat\nA,a,hospital,-2.2207,52.1936\n")
    sites, _ = read_sites(p)
    # Worcester city centre; BNG about (385 000, 254 800)
    assert abs(sites.geometry.x[0] - 384_800) < 1_000 and abs(sites.geometry.y[0] - 254_800) < 1_000
    p2 = write("s2.csv", "site_id,name,type,easting,northing\nA,a,clinic,385000,254800\n")
    s2, _ = read_sites(p2)
    assert s2.geometry.x[0] == 385000 and s2.location_source[0] == "bng"


def test_geojson_points(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"site_id": ["x"], "name": ["n"], "type": ["satellite"]},
        geometry=[shapely.Point(-2.22, 52.19)],
        crs=4326,
    )
    p = tmp_path / "s.geojson"
    gdf.to_file(p)
    sites, _ = read_sites(p)
    assert sites.crs.to_epsg() == 27700 and sites.location_source[0] == "geometry"


def test_xlsx(tmp_path):
    p = tmp_path / "s.xlsx"
    pd.DataFrame(
        {"site_id": ["a"], "name": ["n"], "type": ["mobile"], "postcode": ["WR1 2NA"]}
    ).to_excel(p, index=False)
    sites, _ = read_sites(p)
    assert sites["type"][0] == "mobile"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (
            "site_id,name,lon,lat\nA,a,-2.2,52.2\n",
            ["missing required column", "type", "found: site_id, name, lon, lat"],
        ),
        ("site_id,name,type\nA,a,pharmacy\n", ["no location"]),
        (
            "site_id,name,type,lon,lat\nA,a,pharmacy,-2.2,52.2\nA,b,pharmacy,-2.2,52.2\n",
            ["duplicate site_id 'A'", "rows 2, 3"],
        ),
        (
            "site_id,name,type,lon,lat\nA,a,chemist,-2.2,52.2\n",
            ["unknown type 'chemist'", "pharmacy, hospital, drug_service"],
        ),
        ("site_id,name,type,lon,lat\nA,a,pharmacy,2.35,48.85\n", ["outside Great Britain"]),
        ("site_id,name,type,lon,lat\nA,a,pharmacy,52.2,-2.2\n", ["swapped"]),
        ("site_id,name,type,easting,northing\nA,a,pharmacy,-2.2,52.2\n", ["look like degrees"]),
        ("site_id,name,type,lon,lat\nA,a,pharmacy,west,52.2\n", ["not both numbers"]),
        ("site_id,name,type,lon,lat,capacity\nA,a,pharmacy,-2.2,52.2,-3\n", ["capacity"]),
        ("site_id,name,type,lon,lat\n", ["no data rows"]),
        ("", ["empty"]),
    ],
)
def test_site_errors_name_the_problem(write, text, expect):
    p = write("bad.csv", text)
    with pytest.raises(InputError) as err:
        read_sites(p)
    msg = str(err.value)
    assert msg.startswith("bad.csv")
    for part in expect:
        assert part in msg


def test_unreadable_and_unsupported_files(tmp_path):
    p = tmp_path / "s.xlsx"
    p.write_bytes(b"this is not a spreadsheet")
    with pytest.raises(InputError, match="cannot read the file"):
        read_sites(p)
    q = tmp_path / "s.docx"
    q.write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported file type"):
        read_sites(q)
    with pytest.raises(InputError, match="file not found"):
        read_sites(tmp_path / "missing.csv")


def test_upload_from_memory():
    src = Source(
        name="up.csv", data=b"site_id,name,type,easting,northing\nA,a,clinic,385000,254800\n"
    )
    sites, _ = read_sites(src)
    assert len(sites) == 1


def _square(x, y, s=1000):
    return shapely.box(x, y, x + s, y + s)


def test_areas_missing_crs(tmp_path):
    gdf = gpd.GeoDataFrame({"area_code": ["E1"]}, geometry=[_square(380000, 250000)])
    p = tmp_path / "a.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        gdf.to_file(p)
    with pytest.raises(InputError, match="declares no CRS"):
        read_areas(p)


def test_areas_detects_ons_columns_and_reprojects(tmp_path):
    poly = gpd.GeoSeries([_square(380000, 250000)], crs=27700).to_crs(4326)
    gdf = gpd.GeoDataFrame(
        {"LAD24CD": ["E07000237"], "LAD24NM": ["Worcester"]}, geometry=poly, crs=4326
    )
    p = tmp_path / "a.geojson"
    gdf.to_file(p)
    areas = read_areas(p)
    assert areas.crs.to_epsg() == 27700
    assert areas["area_code"][0] == "E07000237" and areas["area_name"][0] == "Worcester"
    assert areas.geometry[0].area == pytest.approx(1e6, rel=1e-3)


def test_areas_outside_gb_use_utm(tmp_path):
    poly = shapely.box(24.93, 60.16, 24.95, 60.17)  # Helsinki
    gdf = gpd.GeoDataFrame({"area_code": ["H"]}, geometry=[poly], crs=4326)
    p = tmp_path / "h.geojson"
    gdf.to_file(p)
    assert read_areas(p).crs.to_epsg() == 32635


def test_areas_errors(tmp_path, write):
    pts = gpd.GeoDataFrame({"area_code": ["a"]}, geometry=[shapely.Point(0, 0)], crs=27700)
    p = tmp_path / "p.gpkg"
    pts.to_file(p)
    with pytest.raises(InputError, match="must be polygons"):
        read_areas(p)
    no_id = gpd.GeoDataFrame({"foo": [1]}, geometry=[_square(0, 0)], crs=27700)
    q = tmp_path / "q.gpkg"
    no_id.to_file(q)
    with pytest.raises(InputError, match="no area identifier column; found: foo"):
        read_areas(q)
    dup = gpd.GeoDataFrame(
        {"area_code": ["a", "a"]}, geometry=[_square(0, 0), _square(5, 5)], crs=27700
    )
    r = tmp_path / "r.gpkg"
    dup.to_file(r)
    with pytest.raises(InputError, match="area code 'a' appears in features 1, 2"):
        read_areas(r)
    with pytest.raises(InputError, match="not a plain table"):
        read_areas(write("t.csv", "area_code\nx\n"))


def test_need_kinds(write):
    a = read_need(write("n.csv", "area_code,need\nE1,10\nE2,5.5\n"))
    assert a.kind == "per_area" and a.total == 15.5
    s = read_need(write("c.csv", "postcode_sector,count\nwr1 1,7\nWR1 1,3\nB97 4,12\n"))
    assert s.kind == "postcode_sector"
    assert dict(zip(s.table["postcode"], s.table["value"], strict=True)) == {
        "WR1 1": 10,
        "B97 4": 12,
    }
    d = read_need(write("d.csv", "postcode_district,count\nWR1,7\n"))
    assert d.kind == "postcode_district"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("area_code,need\nE1,ten\n", ["row 2", "column 'need'", "'ten' is not a number"]),
        ("area_code,need\nE1,-4\n", ["row 2", "negative value -4"]),
        ("postcode_sector,count\nWR1 1,3\nWR1,2\n", ["row 3", "not a postcode sector"]),
        ("postcode_district,count\nWR1,x\n", ["'x' is not a number"]),
        ("foo,bar\n1,2\n", ["cannot tell what kind of need file", "found: foo, bar"]),
        ("area_code,need\nE1,1\nE1,2\n", ["appears more than once"]),
    ],
)
def test_need_errors(write, text, expect):
    with pytest.raises(InputError) as err:
        read_need(write("need.csv", text))
    for part in expect:
        assert part in str(err.value)
