"""Site planning: exact = brute force, greedy within its bound, scenarios behave."""

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from harmreach.analysis.planning import (
    coverage_matrix,
    generate_candidates,
    greedy,
    incremental_table,
    plan_for_run,
    plan_sites,
    undominated,
)
from harmreach.analysis.scenario import (
    Params,
    build_engine,
    compare_runs,
    run_coverage,
    with_sites_changed,
)
from harmreach.geo.dataset import load_dataset
from harmreach.geo.errors import InputError


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
    from harmreach.geo.travel import NetworkEngine

    net = grid(15, 15, spacing_m=100.0)
    eng = NetworkEngine(net)
    demand = net.node_xy[::7]
    cand = net.node_xy[[0, 112, 224]]
    a = coverage_matrix(eng, demand, cand, 5).toarray()
    t = eng.matrix(demand, cand)
    # on this grid some pairs are exactly 300 s away: SciPy's sum gives 300.000000001
    np.testing.assert_array_equal(a, (t <= 300 * (1 + 1e-9)).astype(int))
    est = build_engine(Params(), None)
    b = coverage_matrix(est, demand, cand, 5).toarray()
    np.testing.assert_array_equal(b, (est.matrix(demand, cand) <= 300 * (1 + 1e-9)).astype(int))


def test_published_comparison_cannot_be_differenced():
    import pandas as pd

    from harmreach.analysis.scenario import published_comparison

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


# --- every objective against brute force: values, per-step gains, shortfalls ---------------


def value(objective, a, need, existing, area, chosen):
    """The objective's level with ``chosen`` added, straight from the definition."""
    cnt = existing + np.asarray(a[:, list(chosen)].sum(axis=1)).ravel()
    if objective == "coverage":
        return need[cnt >= 1].sum()
    if objective == "backup":
        return need[cnt >= 2].sum()
    return min_share(a, need, existing, area, cnt)


def ranked_areas(a, need, existing, area):
    """Areas in the equity minimum: need > 0 and not with need beyond every candidate."""
    reach = np.asarray(a.sum(axis=1)).ravel() > 0
    out = []
    for c in np.unique(area):
        m = area == c
        total = need[m].sum()
        open_ = m & (existing < 1) & (need > 0)
        if total > 0 and not (open_.any() and not (open_ & reach).any()):
            out.append(c)
    return out


def min_share(a, need, existing, area, cnt):
    shares = [
        need[(area == c) & (cnt >= 1)].sum() / need[area == c].sum()
        for c in ranked_areas(a, need, existing, area)
    ]
    return min(shares) if shares else 1.0


def instance(seed, nd=30, nc=8, n_areas=4):
    rng = np.random.default_rng(seed)
    a = sp.csr_matrix((rng.random((nd, nc)) < 0.18).astype(np.int8))
    need = rng.integers(1, 10, nd).astype(float)
    existing = rng.choice([0, 0, 1, 2], nd)
    area = np.array([f"A{i}" for i in rng.integers(0, n_areas, nd)])
    return a, need, existing, area


def brute(objective, a, need, existing, area, k):
    """Best level over every set of k candidates (ties: the most need within reach)."""
    best = None
    for comb in itertools.combinations(range(a.shape[1]), k):
        key = (
            round(value(objective, a, need, existing, area, comb), 9),
            round(value("coverage", a, need, existing, area, comb), 9),
        )
        best = key if best is None or key > best else best
    return best


def recount_gains(objective, a, need, existing, area, chosen):
    levels = [value(objective, a, need, existing, area, chosen[:i]) for i in range(len(chosen) + 1)]
    return np.diff(levels), levels[0]


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("objective", ["coverage", "backup", "equity"])
def test_exact_objective_and_gains_equal_brute_force(seed, k, objective):
    a, need, existing, area = instance(1000 * k + seed)
    res = plan_sites(
        a, need, k, existing_count=existing, objective=objective, area_code=area, exact=True
    )
    best, best_cov = brute(objective, a, need, existing, area, k)
    base = value(objective, a, need, existing, area, [])
    assert res.optimal and "exact" in res.method and res.objective_name == objective
    assert res.value_after == pytest.approx(best, abs=1e-9)
    assert res.objective == pytest.approx(best - base, abs=1e-9)
    assert res.value_before == pytest.approx(base)
    gains, _ = recount_gains(objective, a, need, existing, area, res.chosen.tolist())
    np.testing.assert_allclose(res.gains, gains, atol=1e-9)
    assert res.gains.sum() == pytest.approx(res.objective, abs=1e-9)
    if objective == "equity":  # among max-min plans, the most need within reach
        cov = value("coverage", a, need, existing, area, res.chosen)
        assert cov == pytest.approx(best_cov)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("objective", ["coverage", "backup", "equity"])
def test_greedy_gains_and_table_equal_a_recount(seed, objective):
    a, need, existing, area = instance(500 + seed)
    k = 3
    res = plan_sites(
        a, need, k, existing_count=existing, objective=objective, area_code=area, exact=False
    )
    assert "greedy" in res.method and not res.optimal
    gains, base = recount_gains(objective, a, need, existing, area, res.chosen.tolist())
    np.testing.assert_allclose(res.gains, gains, atol=1e-9)
    assert res.objective == pytest.approx(gains.sum(), abs=1e-9)
    assert res.value_before == pytest.approx(base)
    best, _ = brute(objective, a, need, existing, area, k)
    assert res.value_after <= best + 1e-9
    if res.bound is not None:
        assert res.bound >= best - base - 1e-6
    # the table recounts the same thing from the matrix
    cand_xy = np.column_stack([np.arange(8.0), np.zeros(8)])
    t = incremental_table(res, a, need, existing, area, pd.Series(dtype=str), cand_xy)
    assert t.attrs["objective_gains"] == pytest.approx(list(gains), abs=1e-9)
    cnt = existing.copy()
    level = 2 if objective == "backup" else 1
    for j, row in zip(res.chosen, t.itertuples(), strict=True):
        before = cnt.copy()
        cnt = cnt + a[:, j].toarray().ravel()
        assert row.need_added == pytest.approx(need[(before < level) & (cnt >= level)].sum())
        assert row.share_covered_after == pytest.approx(need[cnt >= 1].sum() / need.sum())
        assert row.share_backup_after == pytest.approx(need[cnt >= 2].sum() / need.sum())
        assert row.min_area_share_after == pytest.approx(min_share(a, need, existing, area, cnt))
    if objective != "equity":
        assert t["need_added"].sum() == pytest.approx(res.objective)
    elif len(t):
        lows = [t.attrs["min_area_share_before"], *t["min_area_share_after"]]
        assert lows[-1] - lows[0] == pytest.approx(res.objective, abs=1e-9)


def test_equity_exact_beats_greedy_somewhere():
    # The exact solver is really used for equity: on some instance it does better.
    better = 0
    for seed in range(40):
        a, need, existing, area = instance(7000 + seed, nd=24, nc=8, n_areas=3)
        kw = {"existing_count": existing, "objective": "equity", "area_code": area}
        ex = plan_sites(a, need, 2, exact=True, **kw)
        gr = plan_sites(a, need, 2, exact=False, **kw)
        assert ex.value_after >= gr.value_after - 1e-9
        better += ex.value_after > gr.value_after + 1e-9
    assert better >= 1


def test_equity_leaves_out_an_area_no_candidate_reaches():
    # Area U: need beyond reach, no candidate reaches it (share 0 forever). Area A: share
    # 2/10, candidate 0 reaches 3 more. Area B: share 50/100, candidate 1 reaches 40 more.
    # Plain greedy (or "raise U first", stuck) takes candidate 1; the max-min over the areas
    # that can be raised takes candidate 0: A goes to 5/10 = 0.5, the lowest raised 0.2 -> 0.5.
    need = np.array([5.0, 2.0, 5.0, 3.0, 50.0, 40.0, 10.0])
    area = np.array(["U", "A", "A", "A", "B", "B", "B"])
    existing = np.array([0, 1, 0, 0, 1, 0, 0])
    a = sp.csr_matrix(np.array([[0, 0], [0, 0], [0, 0], [1, 0], [0, 0], [0, 1], [0, 0]]))
    for exact in (False, True):
        res = plan_sites(
            a, need, 1, existing_count=existing, objective="equity", area_code=area, exact=exact
        )
        assert res.chosen.tolist() == [0]
        assert res.value_before == pytest.approx(0.2)
        assert res.value_after == pytest.approx(0.5)
        assert res.gains.tolist() == pytest.approx([0.3])
        assert res.excluded_areas == ["U"]
        assert any("no candidate reaches" in n and "U" in n for n in res.notes)


@pytest.mark.parametrize("objective", ["coverage", "backup", "equity"])
@pytest.mark.parametrize("exact", [True, False])
def test_fewer_sites_than_asked_say_why(objective, exact):
    # Only candidate 0 reaches anything useful; candidates 1 and 2 reach covered points.
    need = np.array([4.0, 6.0, 5.0, 5.0])
    area = np.array(["A", "A", "B", "B"])
    existing = np.array([0, 1, 2, 2]) if objective != "backup" else np.array([1, 1, 2, 2])
    a = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]]))
    res = plan_sites(
        a, need, 3, existing_count=existing, objective=objective, area_code=area, exact=exact
    )
    assert res.chosen.tolist() == [0]
    assert res.shortfall.startswith("asked for 3 site(s), placed 1: no other candidate")
    assert res.shortfall in res.notes


def test_fewer_candidates_than_asked():
    a = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    res = plan_sites(a, np.array([1.0, 2.0]), 3, exact=False)
    assert len(res.chosen) == 2
    assert res.shortfall == "asked for 3 site(s), placed 2: only 2 candidate site(s) were available"


def test_demo_backup_gains_add_up_and_match_a_fresh_run(demo_run):
    import geopandas as gpd

    ds, run = demo_run
    eng = build_engine(run.params, None)
    plan = plan_for_run(run, eng, 3, objective="backup", exact=False, bound=False)
    r = plan.result
    assert r.objective_name == "backup" and len(plan.table) == 3
    assert plan.table["need_added"].sum() == pytest.approx(r.objective)
    assert r.gains.tolist() == pytest.approx(plan.table["need_added"].tolist())
    # an independent count: a fresh coverage run with the three sites added
    add = gpd.GeoDataFrame(
        {"site_id": ["N1", "N2", "N3"], "name": "new", "type": "satellite", "active": True},
        geometry=plan.proposed.geometry.values,
        crs=ds.crs,
    )
    after = run_coverage(with_sites_changed(ds, add=add)).demand
    need = after["need"].to_numpy()
    two = need[after["n_within"].to_numpy() >= 2].sum()
    assert two == pytest.approx(r.value_after)
    assert two - r.value_before == pytest.approx(r.objective)
    assert plan.table["share_backup_after"].iloc[-1] == pytest.approx(two / need.sum())
    assert plan.table.attrs["need_added_share"] == "share_backup_after"
    assert plan.table.attrs["need_added_base"] == "need_backup"
    assert "share_backup_after" not in plan.proposed.columns  # kept out of the map layer


def test_sessions_report_a_shortfall():
    from harmreach.analysis.sessions import plan_sessions

    reach = np.array([[True], [False]])
    open_cover = np.ones((2, 168), bool)
    open_cover[0, 24 * 2 + 10] = False  # Wednesday 10:00 is the one hour without a site
    plan = plan_sessions(reach, open_cover, np.array([3.0, 1.0]), 4, length_h=1, exact=True)
    assert len(plan.sessions) == 1
    assert plan.sessions["need_hours_added"].tolist() == [3.0]
    assert plan.notes and plan.notes[0].startswith("asked for 4 session(s), placed 1")


def test_equity_says_when_the_lowest_share_cannot_rise():
    # Three areas with nothing within reach and a candidate each: one site cannot lift all.
    a = sp.csr_matrix(np.eye(3, dtype=np.int8))
    need = np.array([2.0, 5.0, 3.0])
    res = plan_sites(a, need, 1, objective="equity", area_code=np.array(["A", "B", "C"]))
    assert res.chosen.tolist() == [1]  # the most need, since the minimum cannot move
    assert res.objective == 0.0 and res.gains.tolist() == [0.0]
    assert any("stays at 0.0%: 3 area(s)" in n for n in res.notes)
