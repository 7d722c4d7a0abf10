"""Exports: RFC 7946 GeoJSON, GeoPackage layers, CSV with metadata; nothing under 5 leaks."""

import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from harmreach.analysis import publish
from harmreach.analysis.exports import export
from harmreach.analysis.scenario import run_coverage
from harmreach.geo.dataset import load_dataset
from harmreach.geo.errors import InputError


def build_layers(ds, result, **kw):
    """Everything exported goes through the publishing gate."""
    return publish.coverage(ds, result, **kw)


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
    assert "need" not in demand.columns  # no per-postcode counts of people
    assert {"by_type", "coverage_curve"} <= names


def test_csv_is_a_plain_table_with_a_metadata_sidecar(layers, tmp_path):
    out = tmp_path / "areas.csv"
    paths = export(layers, out, "areas")
    assert out.read_text().splitlines()[0].startswith("area_code,")  # header on line 1
    df = pd.read_csv(out)  # plain pandas, no comment= needed
    assert len(df) == 6 and "share_covered" in df.columns
    meta = json.loads((tmp_path / "areas.metadata.json").read_text())
    assert tmp_path / "areas.metadata.json" in paths
    assert meta["illustrative_inputs"] == "sites, need" and meta["published_by"] == publish.GATE
    out2 = tmp_path / "demand.csv"
    export(layers, out2, "demand")
    d = pd.read_csv(out2)
    assert "need" not in d.columns and "residents" not in d.columns  # no per-postcode counts
    assert {"lon", "lat"} <= set(d.columns)


def test_counts_are_rounded_and_shares_have_one_decimal_of_a_percent(layers):
    t = layers.table
    for col in ("need", "need_covered", "need_uncovered"):
        v = t[col].dropna()
        assert (v == v.round()).all(), col
    for col in ("share_covered", "share_backup"):
        v = t[col].dropna()
        assert (v == v.round(3)).all(), col


def test_formula_injection_is_neutralised_but_numbers_are_not(tmp_path):
    from harmreach.analysis.exports import csv_text

    df = pd.DataFrame(
        {
            "area_name": [
                '=HYPERLINK("http://x","y")',
                "=cmd|' /C calc'!A0",
                "+1",
                "@SUM(A1)",
                "-2+3",
                "\tx",
                "Worcester",
            ],
            "change": [-0.5, 1.0, -2.0, 0.0, 3.0, -1.0, 2.0],
        }
    )
    back = pd.read_csv(io.StringIO(csv_text(df)))
    assert back["area_name"].tolist()[:6] == [
        '\'=HYPERLINK("http://x","y")',
        "'=cmd|' /C calc'!A0",
        "'+1",
        "'@SUM(A1)",
        "'-2+3",
        "'\tx",
    ]
    assert back["area_name"].iloc[6] == "Worcester"
    assert back["change"].tolist() == [-0.5, 1.0, -2.0, 0.0, 3.0, -1.0, 2.0]  # untouched


def test_geojson_positions_are_lon_lat_only(layers, tmp_path):
    out = tmp_path / "gaps.geojson"
    export(layers, out, "gaps")
    doc = json.loads(out.read_text())
    props = doc["features"][0]["properties"]
    assert "centre_x" not in props and "centre_y" not in props
    assert -9 < props["centre_lon"] < 2 and 49 < props["centre_lat"] < 61


def test_writes_are_atomic_and_keep_the_old_file_on_failure(layers, tmp_path, monkeypatch):
    import errno

    out = tmp_path / "areas.geojson"
    export(layers, out, "areas")
    good = out.read_bytes()

    def disk_full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(InputError, match="disk is full"):
        export(layers, out, "areas")
    monkeypatch.undo()
    assert out.read_bytes() == good  # the existing file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["areas.geojson"]  # no temporary left


def test_existing_gpkg_is_not_deleted_before_the_new_one_is_complete(layers, tmp_path, monkeypatch):
    out = tmp_path / "all.gpkg"
    export(layers, out)
    before = out.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    with pytest.raises(InputError):
        export(layers, out)
    monkeypatch.undo()
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.gpkg"]


def test_unwritable_out_path_is_a_clear_message(layers, tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "access", lambda p, mode: False)
    with pytest.raises(InputError, match="not writable") as e:
        export(layers, tmp_path / "x.geojson")
    assert "choose a folder you can write to" in str(e.value)
    monkeypatch.undo()
    (tmp_path / "dir.geojson").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        export(layers, tmp_path / "dir.geojson")


def test_only_gate_output_can_be_exported(tmp_path):
    from types import SimpleNamespace

    fake = SimpleNamespace(metadata={}, as_dict=dict)
    with pytest.raises(TypeError, match="publish"):
        export(fake, tmp_path / "x.geojson")


def test_every_published_count_is_safe(layers):
    for name, gdf in layers.as_dict().items():
        for col in (
            "need",
            "residents",
            "need_covered",
            "need_uncovered",
            "need_backup",
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
    from harmreach.analysis.hotspots import find_hotspots
    from harmreach.analysis.scenario import site_xy

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
