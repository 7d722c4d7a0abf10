"""Equipment coverage (syringes per person who injects) and met need, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from harmreach.analysis.access import e2sfca
from harmreach.analysis.coverage import TOTAL_CODE
from harmreach.analysis.equipment import (
    DERBY_REFERENCE,
    POSITIONS,
    PWID_PER_OCU,
    MetNeedReference,
    attribute_supply,
    equipment_by_area,
    met_need_share,
    met_need_table,
    near_vs_served,
    pwid_from_need,
    run_equipment,
    run_met_need,
    travel_minutes,
    who_band,
)
from harmreach.analysis.scenario import site_xy, with_sites_changed
from harmreach.geo.activity import read_activity
from harmreach.geo.dataset import load_dataset
from harmreach.geo.errors import InputError
from harmreach.geo.settings import DATA_DIR
from harmreach.geo.travel import EstimatedEngine
from harmreach.geo.treatment import read_treatment

INF = np.inf

# ---------------------------------------------------------------- the hand-computed case
#
# Three sites, five demand points in four areas, T = 15 minutes: step weights 1 for
# 0-5 min, 0.68 for 5-10, 0.22 for 10-15, 0 beyond (Luo & Qi, as in E2SFCA).
#
#   point  area  people who inject   S1 (20,100)   S2 (10,800)   S3 (500)
#   p0     A     100                 0 min (w 1)   16 (beyond)   -
#   p1     B      50                 8 (w 0.68)    4 (w 1)       -
#   p2     C     100                 -             12 (w 0.22)   -
#   p3     D       0                 -             -             2 (w 1)
#   p4     D      40                 -             -             40 (beyond)
#
# S1: need in reach 100×1 + 50×0.68 = 134; 20,100 / 134 = 150 syringes per unit.
#     p0 gets 100×1×150 = 15,000; p1 gets 50×0.68×150 = 5,100.
# S2: need in reach 50×1 + 100×0.22 = 72; 10,800 / 72 = 150.
#     p1 gets 50×1×150 = 7,500; p2 gets 100×0.22×150 = 3,300.
# S3: need in reach 0×1 = 0: its 500 syringes are unattributed.
# Areas: A 15,000 / 100 = 150 (medium); B (5,100 + 7,500) / 50 = 252 (high);
#        C 3,300 / 100 = 33 (low); D 0 / 40 = 0 (low).
# County: (15,000 + 12,600 + 3,300) / (100 + 50 + 100 + 40) = 30,900 / 290 = 106.55 (medium).
# Supplied 31,400 = attributed 30,900 + unattributed 500.

T_HAND = np.array(
    [
        [0.0, 16.0, INF],
        [8.0, 4.0, INF],
        [INF, 12.0, INF],
        [INF, INF, 2.0],
        [INF, INF, 40.0],
    ]
)
NEED_HAND = np.array([100.0, 50.0, 100.0, 0.0, 40.0])
AREA_HAND = np.array(["A", "B", "C", "D", "D"], dtype=object)
SUPPLY_HAND = np.array([20_100.0, 10_800.0, 500.0])


def _sparse_hand() -> sp.csr_array:
    """The same case as stored pairs; S1 → p0 is an explicitly stored 0-minute trip."""
    i, j = np.nonzero(np.isfinite(T_HAND))
    return sp.csr_array(sp.coo_array((T_HAND[i, j], (i, j)), shape=T_HAND.shape))


@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_hand_computed_three_sites_four_areas(form):
    t = T_HAND if form == "dense" else _sparse_hand()
    if form == "sparse":
        assert t.nnz == 7  # the explicit zero is stored, not dropped
    att = attribute_supply(t, NEED_HAND, SUPPLY_HAND, 15.0)
    assert att.per_demand == pytest.approx([15_000, 12_600, 3_300, 0, 0])
    assert att.need_in_reach == pytest.approx([134, 72, 0])
    assert att.attributed == pytest.approx([20_100, 10_800, 0])
    assert att.unattributed == pytest.approx([0, 0, 500])

    res = equipment_by_area(
        t,
        NEED_HAND,
        AREA_HAND,
        SUPPLY_HAND,
        15.0,
        site_ids=["S1", "S2", "S3"],
        need_basis="pwid",
    )
    tab = res.table.set_index("area_code")
    assert list(tab.index) == ["A", "B", "C", "D", TOTAL_CODE]
    assert tab["syringes_per_year"].to_numpy() == pytest.approx([15_000, 12_600, 3_300, 0, 30_900])
    assert tab["pwid_need"].to_numpy() == pytest.approx([100, 50, 100, 40, 290])
    assert tab["syringes_per_pwid"].to_numpy() == pytest.approx([150, 252, 33, 0, 30_900 / 290])
    assert list(tab["band"]) == ["medium", "high", "low", "low", "medium"]
    assert list(tab["meets_2030_target"]) == [False, False, False, False, False]
    assert res.county_per_pwid == pytest.approx(106.5517, abs=1e-4)
    assert res.county_band == "medium"
    assert res.supplied == 31_400
    assert res.unattributed == 500
    assert any("500 syringes" in n and "S3" in n for n in res.notes)


def test_need_counting_opiate_crack_users_is_converted_to_people_who_inject():
    # The same case with need as opiate/crack users: attribution is unchanged (shares of a
    # scaled need), people who inject = need × 0.2, so every rate is 5 times higher.
    res = equipment_by_area(T_HAND, NEED_HAND, AREA_HAND, SUPPLY_HAND, 15.0, need_basis="ocu")
    tab = res.table.set_index("area_code")
    assert PWID_PER_OCU == 0.20
    assert tab["need"].to_numpy() == pytest.approx([100, 50, 100, 40, 290])
    assert tab["pwid_need"].to_numpy() == pytest.approx([20, 10, 20, 8, 58])
    assert tab["syringes_per_pwid"].to_numpy() == pytest.approx([750, 1260, 165, 0, 30_900 / 58])
    assert list(tab["band"]) == ["high", "high", "medium", "low", "high"]
    assert list(tab["meets_2030_target"]) == [True, True, False, False, True]
    assert "× 0.2" in res.basis
    custom = equipment_by_area(
        T_HAND, NEED_HAND, AREA_HAND, SUPPLY_HAND, 15.0, need_basis="ocu", pwid_per_ocu=0.5
    )
    assert custom.county_per_pwid == pytest.approx(30_900 / 145)


def test_need_basis_is_checked():
    with pytest.raises(InputError, match="unknown need basis"):
        pwid_from_need(NEED_HAND, "people")
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        pwid_from_need(NEED_HAND, "ocu", 1.5)


def test_step_weight_edges_follow_e2sfca():
    # One site, points at 5 (end of the first third), 10, 15 (= T) and 15.01 minutes.
    t = np.array([[5.0], [10.0], [15.0], [15.01]])
    att = attribute_supply(t, np.ones(4), np.array([190.0]), 15.0)
    # weights 1, 0.68, 0.22, 0 → need in reach 1.9; 100 syringes per unit of weight.
    assert att.per_demand == pytest.approx([100, 68, 22, 0])


def _brute_force(t, need, supply, minutes):
    """Loops, written from the formula: a_i = Σ_j S_j P_i W_ij / Σ_k P_k W_kj."""

    def w(x):
        if not x <= minutes:
            return 0.0
        return 1.0 if x <= minutes / 3 else 0.68 if x <= 2 * minutes / 3 else 0.22

    n, m = t.shape
    out = [0.0] * n
    lost = 0.0
    for j in range(m):
        denom = sum(need[k] * w(t[k, j]) for k in range(n))
        if denom == 0:
            lost += supply[j]
            continue
        for i in range(n):
            out[i] += supply[j] * need[i] * w(t[i, j]) / denom
    return np.array(out), lost


@pytest.mark.parametrize("seed", range(8))
def test_attribution_conserves_the_total_and_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m = 40, 7
    t = rng.uniform(0, 30, (n, m))
    t[rng.random((n, m)) < 0.3] = np.inf
    need = rng.gamma(1.0, 3.0, n) * (rng.random(n) < 0.8)
    supply = rng.integers(0, 5_000, m).astype(float)
    att = attribute_supply(t, need, supply, 15.0)
    # Conserved: everything supplied is attributed or reported as unattributed.
    assert att.per_demand.sum() + att.unattributed.sum() == pytest.approx(supply.sum())
    assert att.attributed + att.unattributed == pytest.approx(supply)
    want, lost = _brute_force(t, need, supply, 15.0)
    assert att.per_demand == pytest.approx(want)
    assert att.unattributed.sum() == pytest.approx(lost)
    # Per point, syringes = need × E2SFCA access (the same step-weighted shares).
    access, _ = e2sfca(t, need, supply, 15.0)
    assert att.per_demand == pytest.approx(need * access)
    # Sparse input (only the finite pairs stored) gives the same answer.
    i, j = np.nonzero(np.isfinite(t))
    sparse = sp.coo_array((t[i, j], (i, j)), shape=t.shape)
    assert attribute_supply(sparse, need, supply, 15.0).per_demand == pytest.approx(want)


def test_area_table_conserves_and_lists_areas_without_points():
    names = pd.Series({"A": "Aa", "B": "Bb", "C": "Cc", "D": "Dd", "E": "Ee"})
    res = equipment_by_area(
        T_HAND, NEED_HAND, AREA_HAND, SUPPLY_HAND, 15.0, area_names=names, need_basis="pwid"
    )
    tab = res.table.set_index("area_code")
    assert tab.loc["E", "pwid_need"] == 0 and np.isnan(tab.loc["E", "syringes_per_pwid"])
    assert pd.isna(tab.loc["E", "band"]) and pd.isna(tab.loc["E", "meets_2030_target"])
    assert tab.loc[TOTAL_CODE, "area_name"] == "All areas"
    body = tab.drop(TOTAL_CODE)
    assert body["syringes_per_year"].sum() + res.unattributed == pytest.approx(res.supplied)


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="expected"):
        attribute_supply(T_HAND[:, :2], NEED_HAND, SUPPLY_HAND, 15.0)
    with pytest.raises(ValueError, match="supply"):
        attribute_supply(T_HAND, NEED_HAND, -SUPPLY_HAND, 15.0)
    with pytest.raises(ValueError, match="need"):
        attribute_supply(T_HAND, NEED_HAND * np.nan, SUPPLY_HAND, 15.0)


# ---------------------------------------------------------------- WHO bands


def test_who_bands_at_their_edges():
    got = who_band([0, 99.9, 100, 150, 200, 200.1, 300, np.nan])
    assert list(got) == ["low", "low", "medium", "medium", "medium", "high", "high", None]
    # Floating-point noise at an edge does not move a figure into the next band.
    assert list(who_band([200 + 1e-10, 100 - 1e-10])) == ["medium", "medium"]


# ---------------------------------------------------------------- met need


def test_derby_met_need_is_83_percent():
    assert met_need_share(1660, 2000) == pytest.approx(0.83)
    assert DERBY_REFERENCE.share == pytest.approx(0.83)
    res = met_need_table(
        pd.Series({"DERBY": 1660.0}),
        pd.Series({"DERBY": 2000.0}),
        area_names=pd.Series({"DERBY": "Derby"}),
        reference=DERBY_REFERENCE,
    )
    tab = res.table.set_index("area_code")
    assert tab.loc["DERBY", "met_need"] == pytest.approx(0.83)
    assert tab.loc[TOTAL_CODE, "met_need"] == pytest.approx(0.83)
    assert any("83%" in n for n in res.notes)


def test_met_need_table_by_hand():
    res = met_need_table(
        pd.Series({"A": 30.0, "B": 12.0, "D": 9.0}),
        pd.Series({"A": 60.0, "B": 40.0, "C": 25.0, "D": 6.0}),
        reference=MetNeedReference("elsewhere", 100, 50),
    )
    tab = res.table.set_index("area_code")
    assert tab["met_need"].drop(["C", TOTAL_CODE]).to_numpy() == pytest.approx([0.5, 0.3, 1.5])
    assert np.isnan(tab.loc["C", "in_treatment"]) and np.isnan(tab.loc["C", "met_need"])
    # County: (30 + 12 + 9) / (60 + 40 + 6) over the areas with a figure; C's need is still
    # in the total need column.
    assert tab.loc[TOTAL_CODE, "met_need"] == pytest.approx(51 / 106)
    assert tab.loc[TOTAL_CODE, "need"] == 131
    assert tab.loc[TOTAL_CODE, "in_treatment"] == 51
    assert res.areas_without_figure == ["C"]
    assert any("no treatment figure (C)" in n for n in res.notes)
    assert any("more people in treatment than the estimated need" in n for n in res.notes)
    assert res.people_counts["table"] == ("need", "in_treatment")
    assert res.derived["met_need"] == ("in_treatment", "need")


def test_met_need_unknown_area():
    with pytest.raises(InputError, match="not in the areas: Z"):
        met_need_table(pd.Series({"Z": 3.0}), pd.Series({"A": 10.0}))


# ---------------------------------------------------------------- side by side


def test_near_vs_served_labels():
    coverage = pd.DataFrame(
        {
            "area_code": ["A", "B", "C", "D", TOTAL_CODE],
            "share_covered": [0.9, 0.9, 0.1, 0.1, 0.5],
        }
    )
    equipment = pd.DataFrame(
        {
            "area_code": ["A", "B", "C", "D", TOTAL_CODE],
            "syringes_per_pwid": [250.0, 50.0, 150.0, 10.0, 120.0],
            "band": ["high", "low", "medium", "low", "medium"],
        }
    )
    out = near_vs_served(coverage, equipment).set_index("area_code")
    assert list(out["position"].drop(TOTAL_CODE)) == list(POSITIONS)
    assert pd.isna(out.loc[TOTAL_CODE, "position"])


# ---------------------------------------------------------------- the demo county


@pytest.fixture(scope="module")
def demo():
    ds = load_dataset()
    act = read_activity(DATA_DIR / "sites" / "activity.csv", site_ids=ds.sites["site_id"])
    return ds, act


def test_demo_equipment_conserves_what_the_sites_gave_out(demo):
    ds, act = demo
    res = run_equipment(ds, act)
    supplied = act.per_site()["syringes_per_year"].sum()
    assert res.supplied == pytest.approx(supplied)
    tab = res.table.set_index("area_code")
    assert tab.drop(TOTAL_CODE)["syringes_per_year"].sum() + res.unattributed == pytest.approx(
        supplied
    )
    # County figure = all attributed syringes ÷ all people who inject (0.2 × the demo need).
    pwid = 0.2 * pd.read_csv(DATA_DIR / "need" / "district_need.csv")["need"].sum()
    assert tab.loc[TOTAL_CODE, "pwid_need"] == pytest.approx(pwid)
    assert res.county_per_pwid == pytest.approx((supplied - res.unattributed) / pwid)
    assert set(tab["band"]) <= {"low", "medium", "high"}
    assert len(res.sites) == 31 and res.sites["reported_activity"].all()
    assert res.model.startswith("estimated")


def test_demo_site_out_of_reach_is_unattributed_but_conserved(demo):
    ds, act = demo
    # Move one site 30 km outside the county: no need within its reach.
    x0, y0, _, _ = ds.areas.total_bounds
    moved = with_sites_changed(ds, move={"DRU04": (x0 - 30_000.0, y0)})
    res = run_equipment(moved, act)
    dru04 = act.per_site().set_index("site_id").loc["DRU04", "syringes_per_year"]
    assert res.unattributed == pytest.approx(dru04)
    body = res.table.set_index("area_code").drop(TOTAL_CODE)
    assert body["syringes_per_year"].sum() + res.unattributed == pytest.approx(res.supplied)
    assert any("DRU04" in n and "not attributed" in n for n in res.notes)


def test_demo_site_without_activity_is_reported(demo, write):
    ds, act = demo
    act.table = act.table[act.table["site_id"] != "DRU01"].reset_index(drop=True)
    res = run_equipment(ds, act)
    assert any("1 site(s) have no activity rows" in n and "DRU01" in n for n in res.notes)
    row = res.sites.set_index("site_id").loc["DRU01"]
    assert row["syringes_per_year"] == 0 and not row["reported_activity"]


def test_demo_activity_for_an_unknown_site_is_refused(demo):
    ds, act = demo
    act = read_activity(DATA_DIR / "sites" / "activity.csv")
    act.table.loc[0, "site_id"] = "GHOST"
    with pytest.raises(InputError, match="not in the sites file: GHOST"):
        run_equipment(ds, act)


def test_sparse_estimated_times_match_the_dense_matrix(demo):
    ds, _ = demo
    eng = EstimatedEngine("walk")
    dxy, sxy = site_xy(ds.demand), site_xy(ds.sites)
    sparse = travel_minutes(eng, dxy, sxy, 15.0)
    dense = eng.matrix(dxy, sxy, limit_s=15 * 60.0) / 60.0
    coo = sp.coo_array(sparse)
    s = np.full(sparse.shape, np.inf)
    s[coo.row, coo.col] = coo.data  # stored pairs; 0 where a site sits on a postcode unit
    assert (s == 0).sum() == 31
    within = np.isfinite(dense)
    np.testing.assert_allclose(s[within], dense[within], rtol=1e-5)
    assert (np.isfinite(s) == within).mean() > 0.9999  # float32 rounding at the radius only


def test_demo_met_need(demo):
    ds, _ = demo
    tr = read_treatment(DATA_DIR / "need" / "treatment.csv", area_codes=ds.areas["area_code"])
    res = run_met_need(ds, tr.by_area)
    tab = res.table.set_index("area_code")
    need = pd.read_csv(DATA_DIR / "need" / "district_need.csv").set_index("area_code")["need"]
    assert tab["need"].drop(TOTAL_CODE).to_numpy() == pytest.approx(need.sort_index().to_numpy())
    want = tr.by_area.sum() / need.sum()
    assert tab.loc[TOTAL_CODE, "met_need"] == pytest.approx(want)
    assert not math.isnan(tab.loc[TOTAL_CODE, "in_treatment"])


def test_street_network_times_by_hand():
    # A straight street: nodes every 300 m, walked at 4.8 km/h (80 m a minute), so
    # 3.75 min between neighbours. Sites at both ends; people who inject at the nodes.
    from harmreach.geo.network import network_from_arrays
    from harmreach.geo.travel import NetworkEngine

    xy = np.column_stack([np.arange(4) * 300.0, np.zeros(4)])
    net = network_from_arrays(xy, np.arange(3), np.arange(1, 4), np.full(3, 300.0))
    t = travel_minutes(NetworkEngine(net), xy, xy[[0, 3]], 15.0)
    np.testing.assert_allclose(t, [[0, 11.25], [3.75, 7.5], [7.5, 3.75], [11.25, 0]], atol=1e-6)
    # Site W: weights 1, 1, 0.68, 0.22 → need in reach 10 + 20 + 20.4 + 8.8 = 59.2;
    #   5,920 syringes → 100 per unit: 1,000, 2,000, 2,040, 880.
    # Site E: weights 0.22, 0.68, 1, 1 → 2.2 + 13.6 + 30 + 40 = 85.8;
    #   8,580 syringes → 100 per unit: 220, 1,360, 3,000, 4,000.
    res = equipment_by_area(
        t,
        np.array([10.0, 20.0, 30.0, 40.0]),
        np.array(["west", "west", "east", "east"], dtype=object),
        np.array([5_920.0, 8_580.0]),
        15.0,
        need_basis="pwid",
    )
    assert res.per_demand == pytest.approx([1_220, 3_360, 5_040, 4_880])
    tab = res.table.set_index("area_code")
    assert tab.loc["west", "syringes_per_pwid"] == pytest.approx(4_580 / 30)
    assert tab.loc["east", "syringes_per_pwid"] == pytest.approx(9_920 / 70)
    assert tab.loc[TOTAL_CODE, "syringes_per_year"] == pytest.approx(14_500)
