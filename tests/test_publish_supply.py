"""The gate's rules for equipment coverage and met need."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from harmreach.analysis.publish_supply import equipment, met_need


def _pub(need: dict[str, float]) -> SimpleNamespace:
    t = pd.DataFrame({"area_code": list(need), "need": list(need.values())})
    return SimpleNamespace(table=t, threshold=5)


def _met(in_treatment: dict[str, float], need: dict[str, float]) -> SimpleNamespace:
    codes = [*in_treatment, "ALL"]
    it = [*in_treatment.values(), sum(in_treatment.values())]
    nd = [need[c] for c in in_treatment] + [sum(need[c] for c in in_treatment)]
    t = pd.DataFrame({"area_code": codes, "area_name": codes, "in_treatment": it, "need": nd})
    t["met_need"] = t["in_treatment"] / t["need"]
    return SimpleNamespace(table=t, reference=None, notes=[])


def test_met_need_small_count_cannot_be_recovered_from_the_total() -> None:
    need = {"A": 100.0, "B": 80.0, "C": 60.0, "ALL": 240.0}
    met = _met({"A": 3.0, "B": 40.0, "C": 30.0}, need)
    pub = met_need(_pub(need), met)
    t = pub.table.set_index("area_code")
    assert np.isnan(t.loc["A", "in_treatment"]) and np.isnan(t.loc["A", "met_need"])
    assert t.loc["ALL", "in_treatment"] == 73
    hidden = t.index[t["in_treatment"].isna()].tolist()
    assert len(hidden) >= 2  # secondary suppression
    # LP: the hidden cells add up to the total minus the published ones; how narrowly is A
    # pinned? Its feasible interval must be at least the threshold wide.
    rest = 73 - t["in_treatment"].drop("ALL").sum(skipna=True)
    n = len(hidden)
    a = hidden.index("A")
    bounds = [(0, None)] * n
    lo = linprog(np.eye(n)[a], A_eq=[np.ones(n)], b_eq=[rest], bounds=bounds).fun
    hi = -linprog(-np.eye(n)[a], A_eq=[np.ones(n)], b_eq=[rest], bounds=bounds).fun
    assert hi - lo >= 5


def test_met_need_share_hidden_where_area_need_is_hidden() -> None:
    need = {"A": np.nan, "B": 80.0, "ALL": 180.0}
    met = _met({"A": 40.0, "B": 40.0}, {"A": 100.0, "B": 80.0})
    t = met_need(_pub(need), met).table.set_index("area_code")
    assert t.loc["A", "in_treatment"] == 40 and np.isnan(t.loc["A", "met_need"])
    assert t.loc["B", "met_need"] == pytest.approx(0.5)


def test_equipment_numbers_only_beside_published_need() -> None:
    table = pd.DataFrame(
        {
            "area_code": ["A", "B", "ALL"],
            "area_name": ["A", "B", "All"],
            "need": [3.0, 200.0, 203.0],
            "pwid_need": [0.6, 40.0, 40.6],
            "syringes_per_year": [150.0, 6000.0, 6150.0],
            "syringes_per_pwid": [250.0, 150.0, 151.5],
            "band": ["high", "medium", "medium"],
            "meets_2030_target": [False, False, False],
        }
    )
    eq = SimpleNamespace(
        table=table,
        sites=pd.DataFrame({"site_id": ["S"], "syringes_per_year": [6154.0]}),
        minutes=15.0,
        basis="ocu",
        supplied=6154.0,
        unattributed=4.0,
        notes=[],
    )
    pe = equipment(_pub({"A": np.nan, "B": 200.0, "ALL": 203.0}), eq)
    t = pe.table.set_index("area_code")
    assert np.isnan(t.loc["A", "syringes_per_year"]) and np.isnan(t.loc["A", "syringes_per_pwid"])
    assert t.loc["A", "band"] == "high"  # the band alone says nothing about a count
    assert t.loc["B", "syringes_per_year"] == 6000 and t.loc["B", "syringes_per_pwid"] == 150
    assert "pwid_need" not in pe.table.columns and "pwid_in_reach" not in pe.sites.columns
    # over the published need: 6,150 / (203 x 0.2) = 151.5, rounded
    assert pe.headline() == "syringes per person who injects per year: 151 (medium)"


def _eq_for(need_b: float) -> SimpleNamespace:
    need = [100.0, need_b, 100.0 + need_b]
    table = pd.DataFrame(
        {
            "area_code": ["A", "B", "ALL"],
            "area_name": ["A", "B", "All"],
            "need": need,
            "pwid_need": [0.2 * x for x in need],
            "syringes_per_year": [3000.0, 6000.0, 9000.0],
        }
    )
    table["syringes_per_pwid"] = table["syringes_per_year"] / table["pwid_need"]
    table["band"] = "medium"
    table["meets_2030_target"] = False
    return SimpleNamespace(
        table=table,
        sites=pd.DataFrame({"site_id": ["S"], "syringes_per_year": [9000.0]}),
        minutes=15.0,
        basis="ocu",
        supplied=9000.0,
        unattributed=0.0,
        notes=[],
    )


def test_syringes_per_person_do_not_pin_a_rounded_need() -> None:
    """With counts rounded to 5, area B's need of 203 or 204 is published as 205. The rate
    per person who injects is over the published need, so both give the same outputs (a
    rate over the raw need, 6,000 / (203 x 0.2) = 147.8 against 147.1, told them apart)."""
    outs = []
    for raw in (203.0, 204.0):
        pe = equipment(_pub({"A": 100.0, "B": 205.0, "ALL": 305.0}), _eq_for(raw))
        outs.append(pe)
    pd.testing.assert_frame_equal(outs[0].table, outs[1].table)
    assert outs[0].headline() == outs[1].headline()
    # by hand: 6,000 / (205 x 0.2) = 146.3 syringes a year
    assert outs[0].table.set_index("area_code").loc["B", "syringes_per_pwid"] == 146


def test_figures_are_not_rounded_across_a_band_edge() -> None:
    from harmreach.analysis.publish_supply import _per_pwid_text

    out = _per_pwid_text(pd.Series([99.6, 99.4, 150.5, 200.2, 200.0, 199.7]))
    assert out.tolist() == [99.6, 99.0, 150.0, 200.2, 200.0, 200.0]
