"""Exports: RFC 7946 GeoJSON, GeoPackage layers, CSV with metadata; nothing under 5 leaks."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from analysis.exports import export
from analysis.layers import build_layers
from analysis.scenario import run_coverage
from geo.dataset import load_dataset
from geo.errors import InputError


@pytest.fixture(scope="module")
def layers():
    ds = load_dataset()
    return build_layers(ds, run_coverage(ds))


def ring_area(ring):
    """Shoelace signed area: positive = counter-clockwise."""
    x, y = np.asarray(ring).T
    return 0.5 * np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])


def positions(c):
    """Every [lon, lat] in a GeoJSON coordinates array."""
    if isinstance(c[0], (int, float)):
        yield c
    else:
        for cc in c:
            yield from positions(cc)


def check_rfc7946(doc):
    """An independent RFC 7946 check (not using the writer's code)."""
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    for f in doc["features"]:
        g = f["geometry"]
        polys = {"Polygon": [g["coordinates"]], "MultiPolygon": g["coordinates"]}.get(g["type"])
        coords = list(positions(g["coordinates"]))
        for lon, lat in coords:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
            assert -9 < lon < 2 and 49 < lat < 61  # lon first: England, not swapped
            for v in (lon, lat):
                assert len(repr(v).split(".")[-1]) <= 6
        for poly in polys or []:
            assert ring_area(poly[0]) > 0  # exterior counter-clockwise
            for hole in poly[1:]:
                assert ring_area(hole) < 0  # holes clockwise
        if polys:
            assert shapely.from_geojson(json.dumps(g)).is_valid


def test_geojson_areas_rfc7946_and_metadata(layers, tmp_path):
    out = tmp_path / "areas.geojson"
    export(layers, out, "areas")
    doc = json.loads(out.read_text())
    check_rfc7946(doc)
    meta = doc["metadata"]
    assert "estimated" in meta["travel_model"] and meta["travel_times_estimated"] is True
    assert "sites" in meta["illustrative_inputs"] and "Crown copyright" in meta["attribution"]
    assert meta["minutes"] == 15 and meta["mode"] == "walk"
    assert "OpenStreetMap" not in meta["attribution"]  # no street network was used
    assert len(doc["features"]) == 6


def test_geojson_gaps_rfc7946(layers, tmp_path):
    out = tmp_path / "gaps.geojson"
    export(layers, out, "gaps")
    check_rfc7946(json.loads(out.read_text()))


def test_gpkg_layers(layers, tmp_path):
    out = tmp_path / "all.gpkg"
    export(layers, out)
    names = {row[0] for row in pyogrio.list_layers(out)}
    assert {"areas", "sites", "gaps", "demand", "metadata", "coverage_curve"} <= names
    meta = pyogrio.read_dataframe(out, layer="metadata")
    assert "attribution" in set(meta["key"])
    demand = gpd.read_file(out, layer="demand")
    v = demand["need"].dropna().to_numpy()
    assert not ((v > 0) & (v < 5)).any()


def test_csv_has_metadata_and_no_small_counts(layers, tmp_path):
    out = tmp_path / "areas.csv"
    export(layers, out, "areas")
    text = out.read_text()
    assert text.startswith("# generator: harmreach")
    assert "# illustrative_inputs: sites, need" in text
    df = pd.read_csv(out, comment="#")
    assert len(df) == 6 and "share_covered" in df.columns
    out2 = tmp_path / "demand.csv"
    export(layers, out2, "demand")
    d = pd.read_csv(out2, comment="#")
    for col in ("need", "residents"):
        v = d[col].dropna().to_numpy()
        assert not ((v > 0) & (v < 5)).any()
    assert {"lon", "lat"} <= set(d.columns)


def test_every_published_count_is_safe(layers):
    for name, gdf in layers.as_dict().items():
        for col in (
            "need",
            "residents",
            "need_covered",
            "need_uncovered",
            "need_backup",
            "residents_covered",
        ):
            if col in gdf.columns:
                v = gdf[col].dropna().to_numpy(float)
                assert not ((v > 0) & (v < 5)).any(), (name, col)


def test_bad_output_path(layers, tmp_path):
    with pytest.raises(InputError, match="unknown output type"):
        export(layers, tmp_path / "x.shp")
    with pytest.raises(InputError, match="does not exist"):
        export(layers, tmp_path / "nope" / "x.geojson")


def test_hotspot_cells_layer_is_safe(tmp_path):
    from analysis.hotspots import find_hotspots
    from analysis.scenario import site_xy

    ds = load_dataset()
    res = run_coverage(ds)
    cells, hs = find_hotspots(
        site_xy(ds.demand), res.demand["need"].to_numpy(), ds.areas.union_all(), crs=ds.crs
    )
    lay = build_layers(ds, res, hotspots=hs, hotspot_cells=cells)
    out = tmp_path / "h.gpkg"
    export(lay, out)
    got = gpd.read_file(out, layer="hotspot_cells")
    v = got["need"].dropna().to_numpy()
    assert not ((v > 0) & (v < 5)).any()
    assert got["need"].isna().sum() != 1  # never a lone suppressed cell beside a total
    assert (got["gi_z"] == got["gi_z"].round(1)).all()
