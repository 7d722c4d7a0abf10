"""Site planning: exact = brute force, greedy within its bound, scenarios behave."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.planning import (
    coverage_matrix,
    generate_candidates,
    greedy,
    plan_for_run,
    plan_sites,
    undominated,
)
from analysis.scenario import (
    Params,
    build_engine,
    compare_runs,
    run_coverage,
    with_sites_changed,
)
from geo.dataset import load_dataset
from geo.errors import InputError


def brute_force(a, need, existing, k, level):
    best = 0.0
    for comb in itertools.combinations(range(a.shape[1]), k):
        cnt = existing + np.asarray(a[:, list(comb)].sum(axis=1)).ravel()
        best = max(best, need[(existing < level) & (cnt >= level)].sum())
    return best


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("objective", "level"), [("coverage", 1), ("backup", 2)])
def test_exact_equals_brute_force(seed, objective, level):
    rng = np.random.default_rng(seed)
    nd, nc, k = 30, 10, 3
    a = sp.csr_matrix((rng.random((nd, nc)) < 0.2).astype(np.int8))
    need = rng.integers(1, 10, nd).astype(float)
    existing = rng.integers(0, 3, nd)
    best = brute_force(a, need, existing, k, level)
    res = plan_sites(a, need, k, existing_count=existing, objective=objective, exact=True)
    assert res.objective == pytest.approx(best)
    assert res.optimal and len(res.chosen) <= k
    assert res.gains.sum() == pytest.approx(res.objective)


@pytest.mark.parametrize("seed", range(12))
def test_greedy_within_bound(seed):
    rng = np.random.default_rng(50 + seed)
    a = sp.csr_matrix((rng.random((40, 12)) < 0.15).astype(np.int8))
    need = rng.random(40) * 10
    best = brute_force(a, need, np.zeros(40, int), 4, 1)
    g = plan_sites(a, need, 4, exact=False)
    assert g.objective >= (1 - 1 / np.e) * best - 1e-9
    assert g.objective <= best + 1e-9
    assert g.bound is not None and g.bound >= best - 1e-6
    # gains are non-increasing (submodularity)
    assert (np.diff(g.gains) <= 1e-9).all()


def test_undominated_keeps_the_optimum():
    a = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=np.int8))
    # column 0 ⊂ column 1: dominated
    assert undominated(a).tolist() == [1, 2]


def test_greedy_hand_case():
    a = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=np.int8))
    chosen, gains = greedy(a, np.array([5.0, 1.0, 4.0]), 2)
    assert chosen.tolist() == [0, 1] and gains.tolist() == [6.0, 4.0]


def test_errors():
    a = sp.csr_matrix(np.ones((2, 0), dtype=np.int8))
    with pytest.raises(InputError, match="no candidate"):
        plan_sites(a, np.ones(2), 1)
    with pytest.raises(InputError, match="at least one"):
        plan_sites(sp.csr_matrix(np.ones((2, 2))), np.ones(2), 0)
    with pytest.raises(InputError, match="unknown objective"):
        plan_sites(sp.csr_matrix(np.ones((2, 2))), np.ones(2), 1, objective="fun")


@pytest.fixture(scope="module")
def demo_run():
    ds = load_dataset()
    return ds, run_coverage(ds)


def test_plan_on_demo_keeps_existing_sites_and_adds_coverage(demo_run):
    ds, run = demo_run
    eng = build_engine(run.params, None)
    plan = plan_for_run(run, eng, 3)
    assert len(plan.proposed) == 3
    assert plan.share_after > plan.share_before == pytest.approx(run.share_covered)
    # check against a fresh coverage run with the proposed sites added
    import geopandas as gpd

    add = gpd.GeoDataFrame(
        {"site_id": ["N1", "N2", "N3"], "name": "new", "type": "satellite", "active": True},
        geometry=plan.proposed.geometry.values,
        crs=ds.crs,
    )
    after = run_coverage(with_sites_changed(ds, add=add))
    assert after.share_covered == pytest.approx(plan.share_after)
    assert (after.sites["site_id"].iloc[:31] == ds.sites["site_id"]).all()


def test_generated_candidates_respect_min_distance(demo_run):
    ds, run = demo_run
    d = run.demand
    xy = np.column_stack([d.geometry.x, d.geometry.y])
    sxy = np.column_stack([ds.sites.geometry.x, ds.sites.geometry.y])
    cand = generate_candidates(
        xy, d["need"].to_numpy(), ~d["covered"].to_numpy(), sxy, min_distance_m=1000
    )
    dist = np.sqrt(((cand[:, None, :] - sxy[None]) ** 2).sum(-1)).min(1)
    assert (dist >= 1000).all() and len(cand) > 100


@pytest.mark.parametrize("site_id", ["PHA01", "HOS01", "DRU03"])
def test_closing_a_site_never_increases_coverage(demo_run, site_id):
    ds, run = demo_run
    closed = run_coverage(with_sites_changed(ds, close=[site_id]))
    assert closed.share_covered <= run.share_covered + 1e-12
    cmp = compare_runs(run, closed)
    assert (cmp["change"] <= 1e-12).all()
    assert (cmp["need_gaining_access"] == 0).all()
    total = cmp.set_index("area_code").loc["ALL"]
    assert total["need_losing_access"] == pytest.approx(
        (run.share_covered - closed.share_covered) * total["need"]
    )


def test_unknown_site_in_scenario(demo_run):
    ds, _ = demo_run
    with pytest.raises(InputError, match="no site with id XYZ"):
        with_sites_changed(ds, close=["XYZ"])


def test_coverage_matrix_network_equals_estimated_definition(grid):
    from geo.travel import NetworkEngine

    net = grid(15, 15, spacing_m=100.0)
    eng = NetworkEngine(net)
    demand = net.node_xy[::7]
    cand = net.node_xy[[0, 112, 224]]
    a = coverage_matrix(eng, demand, cand, 5).toarray()
    t = eng.matrix(demand, cand)
    np.testing.assert_array_equal(a, (t <= 300).astype(int))
    est = build_engine(Params(), None)
    b = coverage_matrix(est, demand, cand, 5).toarray()
    np.testing.assert_array_equal(b, (est.matrix(demand, cand) <= 300 * (1 + 1e-9)).astype(int))


def test_published_comparison_cannot_be_differenced():
    import pandas as pd

    from analysis.scenario import published_comparison

    cmp = pd.DataFrame(
        {
            "area_code": ["A", "B", "C", "ALL"],
            "area_name": list("ABC") + ["All"],
            "need": [100.0, 80.0, 60.0, 240.0],
            "need_losing_access": [3.0, 40.0, 0.0, 43.0],
            "need_gaining_access": [0.0, 0.0, 0.0, 0.0],
        }
    )
    out = published_comparison(cmp, 5).set_index("area_code")["need_losing_access"]
    assert np.isnan(out["A"]) and np.isnan(out["B"])  # 3 hidden, and 40 with it
    assert out["ALL"] == 43.0
