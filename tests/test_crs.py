"""Coordinates against Ordnance Survey's published answers (independent of the code under test).

References:
- OS, "A guide to coordinate systems in Great Britain", Annex C worked example
  (Caister Water Tower): OSGB36 52°39'27.2531"N 1°43'4.5177"E is E 651409.903 m,
  N 313177.270 m on the National Grid. This checks the projection itself.
- OS, OSTN15/OSGM15 developer pack (ordnancesurvey.co.uk, "OSTN15 for developers", 2016),
  test files OSTN15_OSGM15_TestInput_ETRStoOSGB.txt / OSTN15_OSGM15_TestOutput_ETRStoOSGB.txt
  and OSTN15_OSGM15_TestInput_OSGBtoETRS.txt / OSTN15_OSGM15_TestOutput_OSGBtoETRS.txt
  (points TP01-TP40, copied verbatim below; a public copy of the four files is in
  github.com/thruston/grid-banger, osgb/test/). ETRS89 latitude/longitude (= WGS84 to well
  under 1 m for this purpose) and the National Grid easting/northing OS gives for them, to
  the millimetre. This checks the datum shift. Place names are for orientation only (after
  the same repository's plot script); "E" marks the English points.

harmreach converts WGS84 <-> EPSG:27700 with OSTN15 (convertbng, which embeds OS's grid). pyproj
alone, offline, lacks OS's grid file and falls back on the national 7-parameter Helmert
"OSGB36 to WGS 84 (6)": measured here 0.13-4.94 m off on TP01-TP40 (4.74 m on Scilly,
4.94 m on St Kilda, 1.1-2.7 m in most of England). That gap is why geo/crs.py uses OSTN15.
"""

import logging

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from pyproj.transformer import TransformerGroup

from harmreach.geo import crs

# id, ETRS89 latitude, longitude, OSGB36 National Grid easting, northing (OS, to the mm)
OS_TEST_POINTS = [
    ("TP01", 49.92226393730, -6.29977752014, 91492.146, 11318.804),  # E St Mary's, Scilly
    ("TP02", 49.96006137820, -5.20304609998, 170370.718, 11572.405),  # E Lizard Point
    ("TP03", 50.43885825610, -4.10864563561, 250359.811, 62016.569),  # E Plymouth
    ("TP04", 50.57563665000, -1.29782277240, 449816.371, 75335.861),  # E Isle of Wight
    ("TP05", 50.93127937910, -1.45051433700, 438710.920, 114792.250),  # E Southampton
    ("TP06", 51.40078220140, -3.55128349240, 292184.870, 168003.465),  # Nash Point, Wales
    ("TP07", 51.37447025550, 1.44454730409, 639821.835, 169565.858),  # E North Foreland
    ("TP08", 51.42754743020, -2.54407618349, 362269.991, 169978.690),  # E Bristol
    ("TP09", 51.48936564950, -0.11992557180, 530624.974, 178388.464),  # E Lambeth
    ("TP10", 51.85890896400, -4.30852476960, 241124.584, 220332.641),  # Carmarthen
    ("TP11", 51.89436637350, 0.89724327012, 599445.590, 225722.826),  # E Colchester
    ("TP12", 52.25529381630, -2.15458614387, 389544.190, 261912.153),  # E Droitwich
    ("TP13", 52.25160951230, -0.91248956970, 474335.969, 262047.755),  # E Northampton
    ("TP14", 52.75136687170, 0.40153547065, 562180.547, 319784.995),  # E King's Lynn
    ("TP15", 52.96219109410, -1.19747655922, 454002.834, 340834.943),  # E Nottingham
    ("TP16", 53.34480280190, -2.64049320810, 357455.843, 383290.436),  # E Daresbury
    ("TP17", 53.41628516040, -4.28918069756, 247958.971, 393492.909),  # Anglesey
    ("TP18", 53.41630925420, -4.28917792869, 247959.241, 393495.583),  # Anglesey
    ("TP19", 53.77911025760, -3.04045490691, 331534.564, 431920.794),  # E Blackpool
    ("TP20", 53.80021519630, -1.66379168242, 422242.186, 433818.701),  # E Pudsey
    ("TP21", 54.08666318080, -4.63452168212, 227778.330, 468847.388),  # Isle of Man
    ("TP22", 54.11685144290, -0.07773133187, 525745.670, 470703.214),  # E Flamborough
    ("TP23", 54.32919541010, -4.38849118133, 244780.636, 495254.887),  # Isle of Man
    ("TP24", 54.89542340420, -2.93827741149, 339921.145, 556034.761),  # E Carlisle
    ("TP25", 54.97912273660, -1.61657685184, 424639.355, 565012.703),  # E Newcastle
    ("TP26", 55.85399952950, -4.29649016251, 256340.925, 664697.269),  # Glasgow
    ("TP27", 55.92478265510, -3.29479219337, 319188.434, 670947.534),  # Edinburgh
    ("TP28", 57.00606696050, -5.82836691850, 167634.202, 797067.144),  # Mallaig
    ("TP29", 57.13902518960, -2.04856030746, 397160.491, 805349.736),  # Girdle Ness
    ("TP30", 57.48625000720, -4.21926398555, 267056.768, 846176.972),  # Inverness
    ("TP31", 57.81351838410, -8.57854456076, 9587.909, 899448.996),  # St Kilda
    ("TP32", 58.21262247180, -7.59255560556, 71713.132, 938516.404),  # sea, Flannan Isles
    ("TP33", 58.51560361300, -6.26091455533, 151968.652, 966483.780),  # Butt of Lewis
    ("TP34", 58.58120461280, -3.72631022121, 299721.891, 967202.992),  # Dounreay
    ("TP35", 59.03743871190, -3.21454001115, 330398.323, 1017347.016),  # Orkney
    ("TP36", 59.09335035320, -4.41757674598, 261596.778, 1025447.602),  # sea, Sule Skerry
    ("TP37", 59.09671617400, -5.82799339844, 180862.461, 1029604.114),  # sea, North Rona
    ("TP38", 59.53470794490, -1.62516966058, 421300.525, 1072147.239),  # Fair Isle
    ("TP39", 59.85409913890, -1.27486910356, 440725.073, 1107878.448),  # Sumburgh Head
    ("TP40", 60.13308091660, -2.07382822798, 395999.668, 1138728.951),  # Foula
]
ENGLISH = [
    "TP01", "TP02", "TP03", "TP04", "TP05", "TP07", "TP08", "TP09", "TP11", "TP12", "TP13",
    "TP14", "TP15", "TP16", "TP19", "TP20", "TP22", "TP24", "TP25",
]  # fmt: skip
IDS = [p[0] for p in OS_TEST_POINTS]
TP = np.array([p[1:] for p in OS_TEST_POINTS])
LAT, LON, E, N = TP.T
#: The OSGB -> ETRS89 test file starts from these two points' grid positions rounded the other
#: way (OSTN15_OSGM15_TestInput_OSGBtoETRS.txt); its results are the latitudes/longitudes above.
OSGB_TO_ETRS_INPUT = {"TP31": (9587.906, 899449.000), "TP32": (71713.131, 938516.405)}
#: OS rounds eastings/northings to the millimetre; OSTN15 itself is exact at its test points.
OSTN15_TOLERANCE_M = 0.01
#: The national Helmert's accuracy: OS quotes a few metres for a single transformation over
#: Great Britain; 5 m holds for every test point (a datum slip of ~100 m does not pass).
HELMERT_TOLERANCE_M = 5.0


def metres_between(lon1, lat1, lon2, lat2):
    """Local flat-earth distance in metres (ample for differences of a few metres)."""
    dx = (np.asarray(lon1) - lon2) * 111_320 * np.cos(np.radians(lat2))
    dy = (np.asarray(lat1) - lat2) * 110_570
    return np.hypot(dx, dy)


def ostn15_available_to_proj() -> bool:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyproj warns when the grid is missing
        group = TransformerGroup(4326, 27700, always_xy=True)
    return bool(group.best_available)


def test_projection_matches_os_worked_example_to_1_mm():
    lat = 52 + 39 / 60 + 27.2531 / 3600
    lon = 1 + 43 / 60 + 4.5177 / 3600
    e, n = Transformer.from_crs(4277, 27700, always_xy=True).transform(lon, lat)
    assert e == pytest.approx(651409.903, abs=0.001)
    assert n == pytest.approx(313177.270, abs=0.001)


def test_os_test_points_cover_england():
    assert len(ENGLISH) >= 3 and set(ENGLISH) <= set(IDS)


def test_wgs84_to_national_grid_to_1_m_with_ostn15():
    x, y = crs.lonlat_to(27700, LON, LAT)
    err = np.hypot(x - E, y - N)
    assert err.max() < OSTN15_TOLERANCE_M, dict(zip(IDS, err.round(4), strict=True))
    english = np.isin(IDS, ENGLISH)
    assert english.sum() == len(ENGLISH) and err[english].max() < OSTN15_TOLERANCE_M
    # the same through the named function, with any array shape
    x2, y2 = crs.wgs84_to_bng(LON.reshape(4, 10), LAT.reshape(4, 10))
    assert x2.shape == (4, 10) and np.array_equal(x2.ravel(), x)


def test_national_grid_to_wgs84_to_1_m_with_ostn15():
    e, n = E.copy(), N.copy()
    for tp, (ee, nn) in OSGB_TO_ETRS_INPUT.items():
        e[IDS.index(tp)], n[IDS.index(tp)] = ee, nn
    lon, lat = crs.to_lonlat(27700, e, n)
    err = metres_between(lon, lat, LON, LAT)
    assert err.max() < OSTN15_TOLERANCE_M, dict(zip(IDS, err.round(4), strict=True))


@pytest.mark.skipif(
    ostn15_available_to_proj(),
    reason="OS's OSTN15 grid is installed for PROJ here, so pyproj is not the Helmert",
)
def test_pyproj_alone_is_the_helmert_a_few_metres_off_which_is_why_we_use_ostn15():
    helmert = Transformer.from_crs(4326, 27700, always_xy=True)
    x, y = helmert.transform(LON, LAT)
    err = np.hypot(x - E, y - N)
    # within the Helmert's few metres (a datum slip of ~100 m would fail) ...
    assert err.max() < HELMERT_TOLERANCE_M, dict(zip(IDS, err.round(2), strict=True))
    # ... but metres off, not millimetres: 4.7 m on Scilly, over 1 m at most English points
    assert err[IDS.index("TP01")] > 4.0
    english = np.isin(IDS, ENGLISH)
    assert np.median(err[english]) > 1.0
    ox, oy = crs.lonlat_to(27700, LON, LAT)
    gap = np.hypot(x - ox, y - oy)
    assert 1.0 < gap.max() < 10.0
    # and back: pyproj's National Grid -> WGS84 lands within the same few metres
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(E, N)
    back = metres_between(lon, lat, LON, LAT)
    assert back.max() < HELMERT_TOLERANCE_M and back.max() > 1.0


def test_round_trip_is_within_a_centimetre():
    rng = np.random.default_rng(13)
    lon = rng.uniform(-6.0, 1.7, 5_000)
    lat = rng.uniform(50.0, 58.5, 5_000)
    e, n = crs.lonlat_to(27700, lon, lat)
    assert np.isfinite(e).all() and np.isfinite(n).all()
    lon2, lat2 = crs.to_lonlat(27700, e, n)
    assert metres_between(lon2, lat2, lon, lat).max() < 0.01
    e2, n2 = crs.lonlat_to(27700, lon2, lat2)
    assert np.hypot(e2 - e, n2 - n).max() < 0.01


def test_geodataframe_both_ways_matches_os_points():
    gdf = gpd.GeoDataFrame(
        {"id": IDS, "k": np.arange(len(IDS))},
        geometry=gpd.points_from_xy(LON, LAT),
        crs=4326,
        index=np.arange(100, 100 + len(IDS)),
    )
    bng = crs.to_crs(gdf, 27700)
    assert bng.crs.to_epsg() == 27700 and list(bng.columns) == ["id", "k", "geometry"]
    assert bng.index.equals(gdf.index) and list(bng["id"]) == IDS
    assert np.hypot(bng.geometry.x - E, bng.geometry.y - N).max() < OSTN15_TOLERANCE_M
    assert gdf.crs.to_epsg() == 4326  # the input is left alone

    back = crs.to_crs(bng, "EPSG:4326")
    assert back.crs.to_epsg() == 4326
    assert metres_between(back.geometry.x, back.geometry.y, LON, LAT).max() < 0.01

    # lines and polygons: every vertex moves exactly as the points do
    line = shapely.LineString(np.column_stack([LON[:12], LAT[:12]]))
    poly = shapely.Polygon(np.column_stack([LON[[8, 10, 11, 12]], LAT[[8, 10, 11, 12]]]))
    s = crs.to_crs(gpd.GeoSeries([line, poly, None], crs=4326, name="g"), 27700)
    assert s.name == "g" and s.crs.to_epsg() == 27700 and s.iloc[2] is None
    assert np.abs(shapely.get_coordinates(s.iloc[0]) - np.column_stack([E, N])[:12]).max() < 0.01
    ring = shapely.get_coordinates(s.iloc[1])[:4]
    assert np.abs(ring - np.column_stack([E, N])[[8, 10, 11, 12]]).max() < 0.01


def test_geodataframe_other_crs_pairs_are_pyprojs():
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(LON[:5], LAT[:5]), crs=4326)
    utm = crs.to_crs(gdf, 32630)
    expected = gdf.to_crs(32630)
    assert utm.crs == expected.crs and utm.geometry.geom_equals(expected.geometry).all()


def test_outside_the_ostn15_grid_falls_back_on_the_helmert_with_a_log(caplog):
    # Jersey (St Helier) and the Dutch coast lie outside OS's grid (0-700 km E, 0-1,250 km N)
    lon = np.array([-2.1049, 4.0, -1.5])
    lat = np.array([49.1858, 52.5, 52.0])
    helmert = Transformer.from_crs(4326, 27700, always_xy=True)
    with caplog.at_level(logging.INFO, logger="harmreach.geo.crs"):
        e, n = crs.lonlat_to(27700, lon, lat)
    assert np.isfinite(e).all() and np.isfinite(n).all()  # no crash, no NaN
    he, hn = helmert.transform(lon[:2], lat[:2])
    assert np.array_equal(e[:2], he) and np.array_equal(n[:2], hn)  # exactly pyproj's answer
    assert n[0] < 0 and e[1] > 700_000
    assert "2 of 3 positions lie outside OS's OSTN15 grid" in caplog.text
    # and the other way: a grid position west of the grid's edge
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="harmreach.geo.crs"):
        lon2, lat2 = crs.to_lonlat(27700, np.array([-20_000.0]), np.array([900_000.0]))
    assert np.isfinite(lon2).all() and lon2[0] < -8.6
    assert "1 of 1 positions lie outside" in caplog.text


def test_not_a_number_in_gives_not_a_number_out():
    e, n = crs.lonlat_to(27700, np.array([np.nan, -1.5, np.inf]), np.array([52.0, 52.0, 52.0]))
    assert np.isnan(e[[0, 2]]).all() and np.isnan(n[[0, 2]]).all() and np.isfinite(e[1])
    lon, lat = crs.to_lonlat(27700, np.array([np.nan, 400_000.0]), np.array([300_000.0, np.nan]))
    assert np.isnan(lon).all() and np.isnan(lat).all()


def test_grid_corners_convertbng_refuses_still_get_ostn15():
    # convert_bng's lon/lat box stops at 49.922 N and 1.78 E, inside OS's grid: St Agnes
    # (Isles of Scilly, 49.89 N) and the sea east of Lowestoft go through the ETRS89 plane and
    # the same OSTN15 shift; OS's inverse (convert_lonlat, which covers them) brings them back.
    lon = np.array([-6.3446, 1.90])
    lat = np.array([49.8925, 52.45])
    e, n = crs.lonlat_to(27700, lon, lat)
    lon2, lat2 = crs.to_lonlat(27700, e, n)
    assert metres_between(lon2, lat2, lon, lat).max() < 0.01
    hx, hy = Transformer.from_crs(4326, 27700, always_xy=True).transform(lon, lat)
    assert 1.0 < np.hypot(e - hx, n - hy).min() and np.hypot(e - hx, n - hy).max() < 6.0


def test_analysis_crs_choice():
    assert crs.analysis_crs(None).to_epsg() == 27700
    assert crs.analysis_crs((-2.4, 52.0, -1.8, 52.4)).to_epsg() == 27700  # Worcestershire
    assert crs.analysis_crs((24.9, 60.15, 24.96, 60.18)).to_epsg() == 32635  # Helsinki
    assert crs.utm_epsg(-70.0, -33.0) == 32719  # Chile, southern hemisphere
