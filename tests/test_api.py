"""The Python API: files or frames in, published layers out, the same figures as the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd
import pytest

import harmreach as hr
from harmreach.geo import settings
from harmreach.geo.errors import InputError

DEMO_SITES = settings.DATA_DIR / "sites" / "sites.csv"


def test_demo_matches_the_cli(tmp_path: Path) -> None:
    run = hr.coverage()
    assert run.metadata["published_by"]
    out = subprocess.run(
        [sys.executable, "-m", "harmreach", "coverage"],
        capture_output=True,
        text=True,
        cwd=settings.REPO_ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert f"need covered: {run.headlines['need_covered']}" in out.stdout
    paths = run.to_file(tmp_path / "demo.gpkg")
    assert (
        gpd.read_file(paths[0], layer="areas")["area_code"].tolist()
        == run.areas["area_code"].tolist()
    )


def test_frames_in_give_the_same_as_files() -> None:
    from_file = hr.coverage(sites=DEMO_SITES, area="Worcestershire")
    sites = pd.read_csv(DEMO_SITES)
    from_frame = hr.coverage(sites=sites, area="Worcestershire")
    pd.testing.assert_frame_equal(from_file.table, from_frame.table)
    # A GeoDataFrame in any CRS is reprojected, then validated like a file.
    gdf = gpd.GeoDataFrame(
        sites.drop(columns=["postcode", "easting", "northing"]),
        geometry=gpd.points_from_xy(sites["easting"], sites["northing"]),
        crs=27700,
    )
    from_gdf = hr.coverage(sites=gdf, area="Worcestershire")
    a = from_file.table.set_index("area_code")["share_covered"]
    b = from_gdf.table.set_index("area_code")["share_covered"]
    # Positions survive the trip through WGS84 to well under a metre.
    pd.testing.assert_series_equal(a, b, atol=1e-3)


def test_osmnx_graph_network() -> None:
    # A straight street 0-1-2 of 200 m edges, with one site at node 0 and homes along it.
    g = nx.MultiDiGraph(crs="EPSG:27700")
    x0, y0 = 385_000.0, 255_000.0  # Worcester
    for i in range(30):
        g.add_node(i, x=x0 + 200 * i, y=y0)
    for i in range(29):
        g.add_edge(i, i + 1, length=200.0)
        g.add_edge(i + 1, i, length=200.0)
    sites = pd.DataFrame(
        {
            "site_id": ["A"],
            "name": ["Site A"],
            "type": ["pharmacy"],
            "easting": [x0],
            "northing": [y0],
        }
    )
    run = hr.coverage(sites=sites, area="Worcester", network=g, minutes=15)
    assert run.metadata["travel_model"].startswith("street network (walk) from OSMnx graph")
    assert run.metadata["travel_times_estimated"] is False
    # By hand: a home snaps to its nearest node (within 500 m), walks there, then along the
    # street to node 0; covered when the whole walk is at most 15 min at 4.8 km/h (1,200 m).
    import numpy as np

    d = run.dataset.demand
    need = d["postcode"].map(run.dataset.need.table.set_index("postcode")["value"]).fillna(0)
    k = np.clip(np.round((d["easting"] - x0) / 200), 0, 29)
    snap = np.hypot(d["easting"] - (x0 + 200 * k), d["northing"] - y0)
    walk = snap + 200 * k
    covered = need[(snap <= 500) & (walk <= 1200 + 1e-6)].sum()
    share = run.table.set_index("area_code").loc["ALL", "share_covered"]
    assert share == pytest.approx(covered / need.sum(), abs=5e-4)


def test_bad_inputs_are_clear() -> None:
    with pytest.raises(InputError, match="file path or a"):
        hr.coverage(sites=42)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no CRS"):
        hr.coverage(sites=gpd.GeoDataFrame(geometry=gpd.points_from_xy([0], [0])))
    with pytest.raises(InputError, match="network must be"):
        hr.coverage(network=3.5)
    with pytest.raises(InputError, match="under 5"):
        hr.coverage(suppress=2)
