"""The weekly profile from sparse pairs within T, against the dense points × sites way."""

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest

from harmreach.analysis.hours import SLOTS_PER_DAY, weekly_masks
from harmreach.analysis.weekly import reach_matrix, weekly_profile
from harmreach.geo.travel import EstimatedEngine, NetworkEngine

HOURS = [
    "Mo-Fr 09:00-17:00",
    "Mo-Sa 08:00-20:00",
    "24/7",
    "Tu,Th 18:00-22:00",
    "Sa-Su 10:00-14:00",
    "Mo-Fr 09:00-12:00",
]


def _run(demand_xy, site_xy, minutes, rng):
    sites = gpd.GeoDataFrame(
        {
            "site_id": [f"S{i}" for i in range(len(site_xy))],
            "name": [f"site {i}" for i in range(len(site_xy))],
            "type": ["pharmacy"] * len(site_xy),
            "active": [True] * (len(site_xy) - 1) + [False],
            "opening_hours": [HOURS[i % len(HOURS)] for i in range(len(site_xy))],
        },
        geometry=gpd.points_from_xy(site_xy[:, 0], site_xy[:, 1]),
        crs=27700,
    )
    demand = gpd.GeoDataFrame(
        {
            "need": rng.integers(0, 7, len(demand_xy)).astype(float),
            "area_code": rng.choice(["A", "B", "C"], len(demand_xy)),
        },
        geometry=gpd.points_from_xy(demand_xy[:, 0], demand_xy[:, 1]),
        crs=27700,
    )
    params = SimpleNamespace(types=None, minutes=minutes)
    return SimpleNamespace(sites=sites, demand=demand, params=params)


def _dense_reference(run, engine):
    """The profile as it was computed before: a dense points × sites matrix of times."""
    s = run.sites[run.sites["active"]]
    masks, _ = weekly_masks(s)
    hourly = masks[:, :: SLOTS_PER_DAY // 24]
    dxy = np.column_stack([run.demand.geometry.x, run.demand.geometry.y])
    sxy = np.column_stack([s.geometry.x, s.geometry.y])
    t = engine.matrix(dxy, sxy, limit_s=run.params.minutes * 60.0)
    reach = t <= run.params.minutes * 60.0 * (1 + 1e-9)
    covered = (reach.astype(np.float32) @ hourly.astype(np.float32)) > 0
    need = run.demand["need"].to_numpy(float)
    share = need @ covered / need.sum()
    by_area = {}
    for code in ["A", "B", "C"]:
        m = run.demand["area_code"].to_numpy() == code
        by_area[code] = need[m] @ covered[m] / need[m].sum()
    return (
        reach,
        share,
        by_area,
        float(need @ covered.sum(axis=1)),
        float(need[reach.any(axis=1)].sum() * 168),
    )


@pytest.mark.parametrize("kind", ["network", "estimated"])
def test_weekly_profile_sparse_equals_dense(grid, kind, monkeypatch):
    import harmreach.analysis.weekly as weekly

    rng = np.random.default_rng(4)
    if kind == "network":
        net = grid(30, 25, seed=4)
        engine = NetworkEngine(net)
        lo, hi = net.node_xy.min(0), net.node_xy.max(0)
        minutes = 8.0
    else:
        engine = EstimatedEngine("walk")
        lo, hi = np.zeros(2), np.array([3000.0, 2500.0])
        minutes = 10.0
    demand_xy = rng.uniform(lo, hi, (400, 2))
    site_xy = rng.uniform(lo, hi, (8, 2))
    run = _run(demand_xy, site_xy, minutes, rng)
    reach_d, share_d, area_d, nh_d, nhmax_d = _dense_reference(run, engine)
    active = run.sites["active"].to_numpy()
    sparse = reach_matrix(engine, demand_xy, site_xy[active], minutes)
    np.testing.assert_array_equal(sparse.toarray(), reach_d)
    assert 0 < sparse.nnz < reach_d.size  # a real mix of pairs in and out of reach
    monkeypatch.setattr(weekly, "_BLOCK", 37)  # several blocks of points
    prof = weekly_profile(run, engine)
    np.testing.assert_allclose(prof.overall["share_covered"], share_d, rtol=1e-12)
    assert 0 < prof.overall["share_covered"].min() < prof.overall["share_covered"].max() < 1
    for code, want in area_d.items():
        got = prof.by_area.loc[prof.by_area["area_code"] == code, "share_covered"]
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert prof.need_hours == pytest.approx(nh_d, rel=1e-12)
    assert prof.need_hours_max == pytest.approx(nhmax_d, rel=1e-12)
