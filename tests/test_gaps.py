"""Gaps people can act on: need at or above the threshold, per district, named, no site inside."""

import itertools

import numpy as np
import pytest
import shapely

from harmreach.analysis.gaps import cluster_within, find_gaps


def brute_labels(xy, group, link):
    """Union-find over every pair: the independent truth for single linkage within groups."""
    n = len(xy)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(n), 2):
        if group[i] == group[j] and np.hypot(*(xy[i] - xy[j])) <= link:
            parent[find(i)] = find(j)
    return [find(i) for i in range(n)]


def test_cluster_within_matches_brute_force():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 3000, (80, 2))
    group = np.where(xy[:, 0] < 1500, "A", "B")
    labels = cluster_within(xy, group, 400)
    roots = brute_labels(xy, group, 400)
    for i, j in itertools.combinations(range(80), 2):
        assert (labels[i] == labels[j]) == (roots[i] == roots[j])


@pytest.fixture
def constructed():
    """A row of points across a district boundary at x = 1000, a small cluster, and a ring
    of uncovered points around a site (a site across a river: near, but out of reach)."""
    row = np.array([[x, 0.0] for x in range(0, 2000, 200)])  # 10 points, 200 m apart
    row_code = np.where(row[:, 0] < 1000, "A", "B")
    row_need = np.full(10, 2.0)  # 5 points each side: need 10 per district
    small = np.array([[0.0, 5000.0], [100.0, 5000.0]])  # need 1 + 2 = 3 < 5
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = np.column_stack([6000 + 800 * np.cos(angles), 800 * np.sin(angles)])
    xy = np.vstack([row, small, ring])
    code = np.concatenate([row_code, ["A", "A"], ["B"] * 24])
    need = np.concatenate([row_need, [1.0, 2.0], np.full(24, 1.0)])
    t = np.full(len(xy), 40.0)
    place = np.concatenate(
        [
            ["West"] * 3 + ["Middle"] * 2 + ["East"] * 5,
            ["Hamlet", "Hamlet"],
            ["Riverside"] * 20 + ["Mill"] * 4,
        ]
    )
    site = np.array([[6000.0, 0.0], [20000.0, 0.0]])
    return xy, code, need, t, place, site


def test_constructed_gaps_follow_the_rules(constructed):
    xy, code, need, t, place, site = constructed
    gaps, rank = find_gaps(xy, need, need * 50, code, t, 15, min_need=5, sites_xy=site, place=place)
    # three gaps: the row split at the boundary (10 and 10), the ring (24); the pair of
    # points with need 3 is not a gap but is counted
    assert sorted(gaps["need"].tolist()) == [10.0, 10.0, 24.0]
    assert gaps.attrs["small_clusters"] == 1 and gaps.attrs["small_need"] == pytest.approx(3.0)
    assert (gaps["need"] >= 5).all()
    # per district: every gap's points share one area code
    for r in gaps["rank"]:
        assert len(set(code[rank == r])) == 1
    assert rank[10] == rank[11] == 0  # the small cluster is in no gap
    # named after the place holding most of the gap's need
    by_code = dict(zip(gaps["area_code"] + gaps["need"].astype(str), gaps["name"], strict=True))
    assert by_code["A10.0"] == "West"  # West 6 > Middle 4
    assert by_code["B10.0"] == "East"
    assert by_code["B24.0"] == "Riverside"
    # no site inside any outline, and every point of a gap inside its outline
    for _, g in gaps.iterrows():
        assert not shapely.contains_xy(g.geometry, site[:, 0], site[:, 1]).any()
        pts = xy[rank == g["rank"]]
        assert shapely.covers(g.geometry, shapely.points(pts)).all()


def test_outline_clipped_to_district():
    xy = np.array([[x, 0.0] for x in range(0, 1000, 200)])
    areas = __import__("geopandas").GeoSeries([shapely.box(-100, -100, 900, 100)], index=["A"])
    gaps, _ = find_gaps(
        xy,
        np.full(5, 2.0),
        np.full(5, 100.0),
        np.array(["A"] * 5),
        np.full(5, 30.0),
        15,
        min_need=5,
        areas=areas,
    )
    assert len(gaps) == 1
    assert areas.loc["A"].buffer(1e-6).contains(gaps.geometry.iloc[0])


def test_threshold_counts_exactly_at_the_threshold():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [5000.0, 0.0]])
    need = np.array([2.5, 2.5, 4.999])
    gaps, rank = find_gaps(xy, need, need, np.array(["A"] * 3), np.full(3, 20.0), 15, min_need=5)
    assert gaps["need"].tolist() == [5.0]
    assert rank.tolist() == [1, 1, 0]
    assert gaps.attrs["small_clusters"] == 1


def test_demo_gaps_follow_the_rules(demo_run):
    from harmreach.analysis import publish
    from harmreach.analysis.scenario import site_xy

    ds, result = demo_run
    g, ranks = publish.raw_gaps(ds, result)  # the gaps the gate publishes, before rounding
    meta = publish.coverage(ds, result, gaps=(g, ranks)).metadata
    d = result.demand
    assert 0 < len(g) < 200
    assert (g["need"] >= result.params.suppress).all()
    # one district per gap, from the demand points themselves
    codes = d["area_code"].to_numpy()
    for r in g["rank"]:
        assert len(set(codes[ranks == r])) == 1
    play = site_xy(result.sites[result.sites["in_play"]])
    for geom in g.geometry:
        assert not shapely.contains_xy(geom, play[:, 0], play[:, 1]).any()
    # named by ward or postcode sector, never blank
    assert g["name"].str.len().gt(0).all()
    # every uncovered point with need is in a gap or in a counted smaller cluster
    unc = (d["nearest_min"] > result.params.minutes) & (d["need"] > 0)
    in_gaps = d["need"][unc & (ranks > 0)].sum()
    assert in_gaps == pytest.approx(g["need"].sum())
    assert meta["gaps_count"] == len(g)
    assert meta["smaller_clusters"] > 0
    assert g.geometry.is_valid.all()
    assert {"centre_lon", "centre_lat"} <= set(g.columns)
    assert g["centre_lon"].between(-3, -1.5).all() and g["centre_lat"].between(51.9, 52.6).all()


@pytest.fixture(scope="module")
def demo_run():
    from harmreach.analysis.scenario import Params, run_coverage
    from harmreach.geo.dataset import load_dataset

    ds = load_dataset()
    return ds, run_coverage(ds, Params(minutes=15, mode="walk"))
