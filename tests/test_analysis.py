"""Coverage, backup coverage, curve, E2SFCA, gaps, hotspots and need on hand-checkable cases."""

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely

from harmreach.analysis.access import e2sfca, step_weights
from harmreach.analysis.coverage import coverage_curve, coverage_table, weighted_median
from harmreach.analysis.gaps import cluster_points, find_gaps
from harmreach.analysis.hotspots import getis_ord_gi_star, queen_neighbours
from harmreach.analysis.need import need_surface, spread_by_weight
from harmreach.geo.need import NeedInput


def test_coverage_table_hand_case():
    # 5 homes in 2 areas; T = 15.
    area = np.array(["A", "A", "A", "B", "B"])
    need = np.array([10.0, 20.0, 30.0, 5.0, 35.0])
    residents = np.array([100, 200, 300, 50, 350.0])
    nearest = np.array([5.0, 15.0, 16.0, np.inf, 2.0])
    second = np.array([10.0, 30.0, 40.0, np.inf, 15.0])
    t = coverage_table(area, need, residents, nearest, 15, second).set_index("area_code")
    assert t.loc["A", "need_covered"] == 30 and t.loc["A", "need_uncovered"] == 30
    assert t.loc["A", "share_covered"] == pytest.approx(0.5)
    assert t.loc["B", "share_covered"] == pytest.approx(35 / 40)
    assert t.loc["ALL", "need_covered"] == 65 and t.loc["ALL", "share_covered"] == pytest.approx(
        65 / 100
    )
    assert t.loc["A", "need_backup"] == 10 and t.loc["B", "need_backup"] == 35
    assert t.loc["ALL", "residents_covered"] == 300 + 350
    # need-weighted median minutes in A: weights 10, 20, 30 at 5, 15, 16 → 15 (cum 30 of 60)
    assert t.loc["A", "median_min"] == 15


def test_coverage_table_counts_points_without_a_time():
    area = np.array(["A", "A", "B", "B"])
    need = np.array([1.0, 2.0, 3.0, 4.0])
    t = np.array([5.0, np.inf, np.inf, np.inf])
    status = np.array(["ok", "off_network", "unreachable", "unreachable"])
    tab = coverage_table(area, need, need, t, 15, reach_status=status).set_index("area_code")
    assert tab.loc["A", "points_off_network"] == 1 and tab.loc["A", "points_unreachable"] == 0
    assert tab.loc["B", "points_unreachable"] == 2
    assert tab.loc["ALL", "points_off_network"] == 1 and tab.loc["ALL", "points_unreachable"] == 2
    # they are not covered, and now not unseen either
    assert tab.loc["ALL", "need_covered"] == 1.0


def test_coverage_curve_monotone_and_exact():
    rng = np.random.default_rng(0)
    need = rng.random(500)
    t = rng.exponential(20, 500)
    t[:10] = np.inf
    c = coverage_curve(need, t, 60)
    assert (np.diff(c["share_covered"]) >= -1e-12).all()
    for m in (0, 7, 15, 60):
        assert c.loc[m, "share_covered"] == pytest.approx(need[t <= m].sum() / need.sum())
    assert c["share_covered"].iloc[-1] < 1.0  # unreachable points never count


def test_weighted_median():
    assert weighted_median(np.array([1.0, 2, 3]), np.array([1.0, 1, 10])) == 3
    assert np.isnan(weighted_median(np.array([]), np.array([])))


def test_e2sfca_hand_calculation():
    # 3 demand points, 2 sites, T = 30 min: zones 0-10 (1.0), 10-20 (0.68), 20-30 (0.22).
    t = np.array([[5.0, 25.0], [15.0, 35.0], [25.0, 5.0]])
    p = np.array([100.0, 200.0, 50.0])
    s = np.array([60.0, 30.0])
    a, r = e2sfca(t, p, s, 30)
    r1 = 60 / (100 * 1.0 + 200 * 0.68 + 50 * 0.22)  # 60/247
    r2 = 30 / (100 * 0.22 + 50 * 1.0)  # 30/72
    assert r == pytest.approx([r1, r2])
    assert a == pytest.approx([1.0 * r1 + 0.22 * r2, 0.68 * r1, 0.22 * r1 + 1.0 * r2])
    # total supply is conserved: Σ P_i A_i = Σ S_j when every site has demand in reach
    assert (p * a).sum() == pytest.approx(s.sum())
    assert step_weights(np.array([0, 10, 10.01, 30, 30.01]), 30).tolist() == [1, 1, 0.68, 0.22, 0]


def test_cluster_points_equals_brute_force():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 3000, (60, 2))
    labels = cluster_points(xy, 400)
    # brute force: union-find over all pairs
    parent = list(range(60))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(60), 2):
        if np.hypot(*(xy[i] - xy[j])) <= 400:
            parent[find(i)] = find(j)
    roots = [find(i) for i in range(60)]
    for i, j in itertools.combinations(range(60), 2):
        assert (labels[i] == labels[j]) == (roots[i] == roots[j])


def test_find_gaps_ranks_by_need():
    xy = np.array([[0, 0], [100, 0], [5000, 0], [5100, 0], [9000, 0]], float)
    need = np.array([1.0, 2.0, 10.0, 10.0, 3.0])
    t = np.array([20.0, 30.0, 40.0, 16.0, 5.0])  # last one covered
    gaps, rank = find_gaps(xy, need, need * 100, np.array(list("AABBC")), t, 15)
    assert gaps["need"].tolist() == [20.0, 3.0]
    assert rank.tolist() == [2, 2, 1, 1, 0]
    assert gaps.loc[0, "area_code"] == "B"
    assert gaps.loc[0, "nearest_min"] == pytest.approx(28.0)
    assert gaps.loc[0, "worst_min"] == 40.0


def test_gi_star_matches_formula():
    # 8x8 lattice, queen neighbours; Gi* with binary weights including self (Getis & Ord 1995).
    rng = np.random.default_rng(5)
    rows, cols = np.divmod(np.arange(64), 8)
    x = rng.poisson(5, 64).astype(float)
    spike = 3 * 8 + 3
    x[spike] += 60
    nb = queen_neighbours(rows, cols)
    z, p = getis_ord_gi_star(x, nb)
    n = 64
    xbar = x.mean()
    s = np.sqrt((x**2).mean() - xbar**2)
    for i in range(n):
        w = np.zeros(n)
        w[nb[i]] = 1
        w[i] = 1
        wsum = w.sum()
        num = w @ x - xbar * wsum
        den = s * np.sqrt((n * (w**2).sum() - wsum**2) / (n - 1))
        assert z[i] == pytest.approx(num / den, rel=1e-6)
    top = int(np.argmax(z))
    assert top == spike or top in nb[spike]
    assert p[spike] < 0.05


def test_spread_by_weight():
    out = spread_by_weight(
        np.array(["a", "a", "b", "b", "c"]),
        np.array([1.0, 3.0, 0.0, 0.0, 2.0]),
        pd.Series({"a": 8.0, "b": 4.0}),
    )
    assert out.tolist() == [2.0, 6.0, 2.0, 2.0, 0.0]  # zero weights: equal shares; c has none


def test_need_surface_reports_unplaced():
    import geopandas as gpd

    demand = gpd.GeoDataFrame(
        {
            "postcode": ["WR1 1AA", "WR1 1AB", "WR2 5XX"],
            "area_code": ["A", "A", "B"],
            "residents": [10.0, 30.0, 20.0],
        },
        geometry=shapely.points([(0, 0), (1, 1), (2, 2)]),
        crs=27700,
    )
    tab = pd.DataFrame({"postcode": ["WR1 1", "WR9 9"], "value": [8.0, 5.0]})
    surf = need_surface(demand, NeedInput("postcode_sector", tab, "c.csv"))
    assert surf.need.tolist() == [2.0, 6.0, 0.0]
    assert surf.unplaced == ["WR9 9"] and surf.unplaced_total == 5.0
    assert "WR9 9" in surf.summary()


def test_run_coverage_e2sfca_matches_brute_force():
    from harmreach.analysis.scenario import Params, run_coverage
    from harmreach.geo.dataset import load_dataset

    ds = load_dataset()
    res = run_coverage(ds, Params(minutes=20))
    d = res.demand
    assert ds.sites["active"].all() and ds.sites["capacity"].notna().all()
    # independent: every pair by NumPy, straight line × 1.3 detour at 4.8 km/h, then the
    # E2SFCA formula written out densely (zones 0-6.67, 6.67-13.33, 13.33-20 min)
    dxy = np.column_stack([d.geometry.x, d.geometry.y])
    sxy = np.column_stack([ds.sites.geometry.x, ds.sites.geometry.y])
    t = np.sqrt(((dxy[:, None, :] - sxy[None, :, :]) ** 2).sum(-1)) * 1.3 / (4.8 / 3.6) / 60
    w = np.select([t <= 20 / 3, t <= 40 / 3, t <= 20], [1.0, 0.68, 0.22], 0.0)
    need = d["need"].to_numpy()
    cap = ds.sites["capacity"].to_numpy(float)
    denom = need @ w
    r = np.where(denom > 0, cap / np.where(denom > 0, denom, 1), 0.0)
    a = w @ r
    np.testing.assert_allclose(d["access_e2sfca"], a, rtol=1e-6)
    tot = res.table.set_index("area_code").loc["ALL", "access_e2sfca"]
    assert tot == pytest.approx((need * a).sum() / need.sum(), rel=1e-6)
