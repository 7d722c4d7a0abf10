"""Suppression: no count under the threshold is published or recoverable by differencing."""

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.disclosure import suppress_group, suppress_table


def recoverable(published, total):
    """Cells recoverable as total - others (exactly one hidden cell), or hidden sum < 5."""
    hidden = [i for i, v in enumerate(published) if v is None]
    if not hidden or total is None:
        return False
    hidden_sum = total - sum(v for v in published if v is not None)
    return len(hidden) == 1 or 0 < hidden_sum < 5


def test_single_small_cell_gets_a_partner():
    m = suppress_group(np.array([3.0, 40.0, 12.0, 8.0]))
    assert m.tolist() == [True, False, False, True]  # 3 and the next smallest (8)


def test_partner_until_hidden_sum_reaches_threshold():
    m = suppress_group(np.array([1.0, 2.0, 30.0, 40.0]))
    # 1 and 2 are hidden but sum to 3 (< 5): the next smallest joins them
    assert m.tolist() == [True, True, True, False]


def test_zero_is_published_and_no_total_means_no_partner():
    assert not suppress_group(np.array([0.0, 50.0])).any()
    assert suppress_group(np.array([3.0, 50.0]), total_published=False).tolist() == [True, False]


@pytest.mark.parametrize("seed", range(30))
def test_random_groups_cannot_be_differenced(seed):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 12, rng.integers(2, 8)).astype(float)
    m = suppress_group(v)
    pub = [None if h else x for h, x in zip(m, v, strict=True)]
    assert not any(x is not None and 0 < x < 5 for x in pub)
    if v.sum() >= 5:
        assert not recoverable(pub, v.sum())


def test_table_with_total_row_and_parts():
    df = pd.DataFrame(
        {
            "area_code": ["A", "B", "C", "ALL"],
            "need": [40.0, 30.0, 2.0, 72.0],
            "need_covered": [38.0, 10.0, 0.0, 48.0],
            "need_uncovered": [2.0, 20.0, 2.0, 24.0],
        }
    )
    df["share_covered"] = df["need_covered"] / df["need"]
    out, n = suppress_table(
        df,
        ["need", "need_covered", "need_uncovered"],
        total_row="ALL",
        parts={"need": ["need_covered", "need_uncovered"]},
        shares={"share_covered": "need_covered"},
    )
    pub = out.set_index("area_code")
    # C's need (2) is hidden, and a partner in the need column
    assert np.isnan(pub.loc["C", "need"])
    col = pub["need"].drop("ALL")
    assert col.isna().sum() >= 2
    # A's uncovered (2) is hidden, so is A's covered (need - uncovered would give it away)
    assert np.isnan(pub.loc["A", "need_uncovered"]) and np.isnan(pub.loc["A", "need_covered"])
    assert np.isnan(pub.loc["A", "share_covered"])
    # no column can be differenced from its published total
    for c in ["need", "need_covered", "need_uncovered"]:
        vals = [None if np.isnan(x) else x for x in pub[c].drop("ALL")]
        tot = pub.loc["ALL", c]
        assert not recoverable(vals, None if np.isnan(tot) else tot), c
    # no row can be differenced: need = covered + uncovered
    for code in ["A", "B", "C"]:
        r = pub.loc[code]
        parts = [None if np.isnan(r[c]) else r[c] for c in ["need_covered", "need_uncovered"]]
        assert not recoverable(parts, None if np.isnan(r["need"]) else r["need"])
    # nothing under 5 is published anywhere
    body = pub[["need", "need_covered", "need_uncovered"]].to_numpy()
    assert not ((body > 0) & (body < 5)).any()
    assert n > 0


@pytest.mark.parametrize("seed", range(20))
def test_random_tables_are_safe(seed):
    rng = np.random.default_rng(100 + seed)
    k = rng.integers(2, 7)
    need = rng.integers(0, 30, k).astype(float)
    cov = np.floor(need * rng.random(k))
    df = pd.DataFrame(
        {
            "area_code": [f"a{i}" for i in range(k)],
            "need": need,
            "need_covered": cov,
            "need_uncovered": need - cov,
        }
    )
    df.loc[len(df)] = ["ALL", need.sum(), cov.sum(), (need - cov).sum()]
    out, _ = suppress_table(
        df,
        ["need", "need_covered", "need_uncovered"],
        total_row="ALL",
        parts={"need": ["need_covered", "need_uncovered"]},
    )
    pub = out.set_index("area_code")
    vals = pub[["need", "need_covered", "need_uncovered"]].to_numpy()
    assert not ((vals > 0) & (vals < 5)).any()
    for c in ["need", "need_covered", "need_uncovered"]:
        tot = pub.loc["ALL", c]
        col = [None if np.isnan(x) else x for x in pub[c].drop("ALL")]
        if not np.isnan(tot) and tot >= 5:
            assert not recoverable(col, tot)
    for code in pub.index.drop("ALL"):
        r = pub.loc[code]
        parts = [None if np.isnan(r[c]) else r[c] for c in ["need_covered", "need_uncovered"]]
        if not np.isnan(r["need"]) and r["need"] >= 5:
            assert not recoverable(parts, r["need"])


def test_rounding():
    df = pd.DataFrame({"area_code": ["A", "B"], "need": [12.0, 23.0]})
    out, _ = suppress_table(df, ["need"], round_to=5)
    assert out["need"].tolist() == [10.0, 25.0]
    assert list(itertools.chain(out["area_code"])) == ["A", "B"]
