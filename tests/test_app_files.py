"""The dashboard's GeoPackage holds every layer the command line's does, and the proposals."""

import sys
from pathlib import Path

import pyogrio
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # app_pages lives next to app.py

from app_pages.files import gpkg_bytes  # noqa: E402


@pytest.fixture(scope="module")
def demo():
    from harmreach.analysis import publish
    from harmreach.analysis.hotspots import find_hotspots
    from harmreach.analysis.layers import proposal_table
    from harmreach.analysis.need import need_surface
    from harmreach.analysis.planning import plan_for_run
    from harmreach.analysis.scenario import Params, build_engine, run_coverage, site_xy
    from harmreach.geo.dataset import DEMO_COUNTS, load_dataset
    from harmreach.geo.need import read_need

    ds = load_dataset()
    r = run_coverage(ds, Params())
    w = need_surface(ds.demand, read_need(DEMO_COUNTS)).need
    cells, hs = find_hotspots(
        site_xy(ds.demand),
        w,
        ds.areas.union_all(),
        residents=ds.demand["residents"].to_numpy(float),
        crs=ds.crs,
    )
    pub = publish.coverage(ds, r)
    sp = plan_for_run(r, build_engine(r.params, None), 3, bound=False)
    pp = publish.plan(pub, sp, proposal_table(ds, r, sp.proposed))
    return pub, pp, cells, hs


def layers_of(path):
    return {name for name, _ in pyogrio.list_layers(path)}


def test_app_geopackage_has_the_cli_coverage_layers_hotspots_and_proposals(tmp_path, demo):
    from harmreach.cli import main

    pub, pp, _, hs = demo
    out = tmp_path / "coverage.gpkg"
    assert main(["coverage", "--out", str(out)]) == 0
    cli_layers = layers_of(out)
    app_file = tmp_path / "app.gpkg"
    app_file.write_bytes(gpkg_bytes(pub, pp.proposed, (None, hs, False)))
    app_layers = layers_of(app_file)
    assert cli_layers <= app_layers, cli_layers - app_layers
    assert {"hotspots", "proposals"} <= app_layers
    prop = pyogrio.read_dataframe(app_file, layer="proposals")
    for col in (
        "rank",
        "nearest_postcode",
        "ward_name",
        "district_name",
        "nearest_site_km",
        "need_added",
    ):
        assert col in prop.columns, col
    assert pub.proposals is None and pub.hotspots is None  # the cached one is unchanged


@pytest.mark.slow
def test_app_geopackage_with_cells_has_every_cli_hotspot_layer(tmp_path, demo):
    # the gate checks thousands of 1 km cells: minutes on a busy machine
    from harmreach.cli import main

    pub, pp, cells, hs = demo
    out = tmp_path / "hotspots.gpkg"
    assert main(["hotspots", "--out", str(out)]) == 0
    app_file = tmp_path / "app.gpkg"
    app_file.write_bytes(gpkg_bytes(pub, pp.proposed, (cells, hs, False)))
    assert layers_of(out) <= layers_of(app_file)
