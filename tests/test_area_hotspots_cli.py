"""Hotspots among reporting areas (``hotspots --by-area``), through the gate."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from harmreach.analysis import publish
from harmreach.analysis.hotspots import area_hotspots
from harmreach.analysis.scenario import Params, run_coverage
from harmreach.geo.dataset import load_dataset


def _cli(tmp_path, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "harmreach", "hotspots", "--by-area", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    return proc


def test_by_area_on_wards_writes_classes_and_lists_hot_areas(tmp_path):
    out = tmp_path / "hs.geojson"
    proc = _cli(tmp_path, "--area", "Worcestershire", "--level", "wards", "--out", str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc = json.loads(out.read_text())
    props = [f["properties"] for f in doc["features"]]
    assert len(props) == 112
    assert {p["hotspot"] for p in props} <= {"hot", "not hot", "not tested"}
    hot = [p["area_name"] for p in props if p["hotspot"] == "hot"]
    for name in hot:  # every hot ward is listed in the summary
        assert name[:40] in proc.stdout
    assert "Empirical Bayes" in proc.stdout and "false discovery rate" in proc.stdout
    assert doc["metadata"]["published_by"] == publish.GATE


def test_demo_refuses_wards_with_a_fix(tmp_path):
    proc = _cli(tmp_path, "--level", "wards")
    assert proc.returncode != 0
    assert "district only" in proc.stderr + proc.stdout
    assert "--area Worcestershire --level wards" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_z_and_rate_only_when_no_need_is_hidden():
    ds = load_dataset()
    run = run_coverage(ds, Params())
    pub = publish.coverage(ds, run)
    per = run.demand.groupby("area_code")[["need", "residents"]].sum()
    raw = area_hotspots(ds.areas.join(per, on="area_code"))
    shown = publish.area_hotspots(pub, raw)
    assert shown["need"].notna().all()
    assert "gi_z" in shown.columns and "need_per_1000" in shown.columns
    # rate from published figures: need per 1,000 residents
    res = per.loc[shown["area_code"], "residents"].to_numpy()
    assert np.allclose(shown["need_per_1000"], np.round(1000 * shown["need"] / res, 2))
    # one hidden need: a z-score depends on every rate, so only classes are published
    pub.areas.loc[pub.areas.index[0], "need"] = np.nan
    classes = publish.area_hotspots(pub, raw)
    assert "gi_z" not in classes.columns and "need_per_1000" not in classes.columns
    assert classes.attrs["published"].startswith("class only")
    assert pub.as_dict()["hotspot_areas"] is classes
