"""Suppression: no count under the threshold is published or recoverable by differencing."""

import itertools

import numpy as np
import pandas as pd
import pytest

from harmreach.analysis.disclosure import suppress_group, suppress_table


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


# ------------------------------------------------------------------ the engine (protect)
def test_protect_hides_a_partner_and_checks_virtual_differences():
    from harmreach.analysis.disclosure import protect

    # total 20 = a 3 + b 17; a is under 5, so b must go too
    h = protect(np.array([20.0, 3.0, 17.0]), [(0, [1, 2])], 5)
    assert h.tolist() == [False, True, True]
    # a curve: q5 = 10, q10 = 12, total 30; the step q10 - q5 = 2 is a small count of people
    v = np.array([30.0, 10.0, 12.0, 2.0, 18.0])  # n, q5, q10, step (virtual), tail (virtual)
    virt = np.array([False, False, False, True, True])
    h = protect(v, [(2, [1, 3]), (0, [2, 4])], 5, virtual=virt)
    assert h[1] or h[2]  # one of the two curve points is hidden
    # a hidden point between published ones is pinned to their interval: widen or hide
    v = np.array([30.0, 10.0, 12.0, 13.0, 2.0, 1.0, 17.0])  # n q5 q10 q15 s1 s2 tail
    virt = np.array([False, False, False, False, True, True, True])
    h = protect(v, [(2, [1, 4]), (3, [2, 5]), (0, [3, 6])], 5, virtual=virt)
    shown = [i for i in (1, 2, 3) if not h[i]]
    assert all(abs(v[a] - v[b]) >= 5 for a in shown for b in shown if a < b)


def test_protect_combined_relations_are_caught():
    """need = covered + beyond; beyond = gap + rest: need - gap = covered + rest is small."""
    from harmreach.analysis.disclosure import protect

    # cells: need 10, covered 1 (primary), beyond 9, gap 6, rest 3 (virtual)
    v = np.array([10.0, 1.0, 9.0, 6.0, 3.0])
    virt = np.array([False, False, False, False, True])
    h = protect(v, [(0, [1, 2]), (2, [3, 4])], 5, virtual=virt)
    # publishing need and the gap would pin covered + rest = 4 people
    assert h[0] or h[3]


# ------------------------------------------------------------------ issue 11's attacks
@pytest.fixture(scope="module")
def demo_run():
    from harmreach.analysis.scenario import run_coverage
    from harmreach.geo.dataset import load_dataset

    ds = load_dataset()
    return ds, run_coverage(ds)


def test_attack_residents_unlock_need_covered(demo_run):
    """need x residents_covered / residents gave hidden need_covered exactly: no longer."""
    from harmreach.analysis import publish

    ds, res = demo_run
    pub = publish.coverage(ds, res)
    assert "residents_covered" not in pub.table.columns
    assert "residents_covered" not in pub.areas.columns
    # residents only beside a published need
    assert (pub.table["residents"].isna() >= pub.table["need"].isna()).all()
    assert "residents" not in pub.demand.columns and "need" not in pub.demand.columns


def test_attack_curve_and_headline(demo_run):
    """The curve gave a hidden headline and 2.3 need within 1 minute: now coarse and safe."""
    from harmreach.analysis import publish

    ds, res = demo_run
    pub = publish.coverage(ds, res)
    assert set(pub.curve["minutes"]) <= set(range(5, 61, 5)) | {res.params.minutes}
    n = res.table.set_index("area_code").loc["ALL", "need"]
    counts = pub.curve["share_covered"].dropna().to_numpy() * n
    # no published point holds fewer than 5 people, and consecutive points differ by >= 5
    assert (counts >= 5 - 0.5).all()
    assert (np.diff(np.concatenate([counts, [n]])) >= 5 - 1).all()
    t = pub.curve.set_index("minutes")["share_covered"]
    head = pub.headlines["need_covered"]
    if head.value is None:
        assert np.isnan(t.loc[res.params.minutes])
    else:
        assert t.loc[res.params.minutes] == head.value


def small_run(counts: dict[str, int], minutes: float = 10.0):
    """A small county of real demo postcode sectors with client counts by sector."""
    import tempfile
    from pathlib import Path

    import geopandas as gpd
    import shapely

    from harmreach.analysis.scenario import Params, run_coverage
    from harmreach.geo.dataset import Dataset, load_dataset
    from harmreach.geo.need import read_need

    demo = load_dataset()
    d = demo.demand
    sector = d["postcode"].astype(str).str[:-2].str.strip()
    pts = d[sector.isin(list(counts))].copy().reset_index(drop=True)
    pts["area_code"] = "A1"
    half = pts.geometry.x > pts.geometry.x.median()
    pts.loc[half.to_numpy(), "area_code"] = "A2"
    areas = gpd.GeoDataFrame(
        {"area_code": ["A1", "A2"], "area_name": ["West", "East"]},
        geometry=[
            shapely.convex_hull(
                shapely.multipoints(pts[pts.area_code == c].get_coordinates())
            ).buffer(200)
            for c in ("A1", "A2")
        ],
        crs=demo.crs,
    )
    tmp = Path(tempfile.mkdtemp())
    pd.DataFrame({"postcode_sector": list(counts), "count": list(counts.values())}).to_csv(
        tmp / "c.csv", index=False
    )
    site_at = pts.geometry.iloc[[0, len(pts) // 2]]
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["S1", "S2"],
            "name": ["a", "b"],
            "type": ["pharmacy", "drug_service"],
            "opening_hours": pd.array([None, None], dtype="string"),
            "capacity": [40.0, 3.0],
            "services": pd.array(["", ""], dtype="string"),
            "active": True,
            "illustrative": True,
        },
        geometry=site_at.values,
        crs=demo.crs,
    )
    ds = Dataset(
        areas=areas,
        sites=sites,
        demand=pts,
        need=read_need(str(tmp / "c.csv")),
        crs=demo.crs,
        sources={"need": "test"},
        illustrative={"need": True},
        reports=[],
    )
    return ds, run_coverage(ds, Params(minutes=minutes))


def test_attack_headline_is_a_band_with_a_reason_not_suppressed():
    from harmreach.analysis import publish

    ds, res = small_run({"WR1 1": 3, "WR1 2": 4})
    pub = publish.coverage(ds, res)
    for h in pub.headlines.values():
        assert "suppressed / suppressed" not in str(h)
        if h.value is None:
            assert h.text in ("hidden",) or h.text.startswith(("under ", "over ")), h
            assert h.why, h
    assert "under 5 people" in pub.legend and "over X%" in pub.legend


def test_attack_plan_steps_cannot_be_differenced(demo_run):
    """need_added = total x the step in share_covered_after recovered 17 of 40: not now."""
    from harmreach.analysis import publish
    from harmreach.analysis.planning import plan_for_run
    from harmreach.analysis.scenario import build_engine

    ds, res = demo_run
    pub = publish.coverage(ds, res)
    sp = plan_for_run(res, build_engine(res.params, None), 6, exact=False, bound=False)
    pp = publish.plan(pub, sp)
    n = res.table.set_index("area_code").loc["ALL", "need"]
    after = pp.proposed["share_covered_after"].to_numpy()
    added = pp.proposed["need_added"].to_numpy()
    prev = pub.headlines["need_covered"].value
    for a, x in zip(after, added, strict=True):
        if np.isnan(x) and prev is not None and not np.isnan(a):
            # a hidden step: its neighbours' shares must not pin it to less than 5 people
            assert (a - prev) * n + 0.001 * n >= 5
        prev = None if np.isnan(a) else a
    raw = sp.table["need_added"].to_numpy()
    assert not np.any((raw > 0) & (raw < 5) & ~np.isnan(added))


def test_attack_what_if_need_losing_access(demo_run):
    """need and both shares gave the hidden need losing access exactly (23 cells): not now."""
    from harmreach.analysis import publish
    from harmreach.analysis.scenario import compare_runs, run_coverage, with_sites_changed

    ds, res = demo_run
    for sid in ("DRU01", "PHA01", "HOS01"):
        pub = publish.coverage(ds, res)
        after = run_coverage(with_sites_changed(ds, close=[sid]), res.params)
        cmp = publish.closure(pub, compare_runs(res, after), closed=[sid])
        for _, r in cmp.iterrows():
            if np.isnan(r["need_losing_access"]):
                published = [r["need"], r["share_before"], r["share_after"]]
                assert any(np.isnan(x) for x in published), (sid, r.to_dict())


def test_attack_hotspot_totals():
    """A hotspot's need is the sum of its cells': a lone hidden cell was recovered (4.5)."""
    import geopandas as gpd
    import shapely

    from harmreach.analysis import publish

    ds, res = small_run({"WR1 1": 20, "WR1 2": 12, "WR1 3": 9})
    cells = gpd.GeoDataFrame(
        {"need": [4.5, 30.0, 6.5, 0.0], "hot": [True, True, False, False]},
        geometry=[shapely.box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(4)],
        crs=ds.crs,
    )
    hs = gpd.GeoDataFrame(
        {"rank": [1], "need": [34.5], "max_z": [3.2], "cells": [2]},
        geometry=[shapely.box(0, 0, 2000, 1000)],
        crs=ds.crs,
    )
    pub = publish.coverage(ds, res, hotspots=hs, hotspot_cells=cells)
    c, h = pub.hotspot_cells, pub.hotspots
    assert np.isnan(c["need"].iloc[0])
    # the hotspot total minus the published cell would give 4.5 back
    assert np.isnan(h["need"].iloc[0]) or np.isnan(c["need"].iloc[1])
    assert "density_km2" not in c.columns and "gi_p" not in c.columns


def test_attack_access_capacity_over_access():
    """capacity / access gave the count of a small catchment (330/330 = 1; 140/46.667 = 3)."""
    from harmreach.analysis import publish

    ds, res = small_run({"WR1 1": 2, "WR1 2": 1})
    assert res.catchment_need is not None
    pub = publish.coverage(ds, res)
    small = ((res.catchment_need > 0) & (res.catchment_need < 5)).any()
    assert small
    assert pub.table["access_e2sfca"].isna().all()


def test_attack_notes_print_raw_small_counts(demo_run):
    from harmreach.analysis import publish

    ds, res = demo_run
    pub = publish.coverage(ds, res)
    assert publish.note(pub, "3 need in 1 key(s) had no demand point") == (
        "under 5 need in 1 key(s) had no demand point"
    )
    assert publish.note(pub, "2 cell(s) hold need (4.4) but no residents") == (
        "2 cell(s) hold need (under 5) but no residents"
    )
    assert publish.note(pub, "12.6 need lies outside") == "13 need lies outside"


def test_attack_threshold_zero_needs_the_unsafe_option(demo_run):
    from harmreach.analysis import publish
    from harmreach.analysis.scenario import Params, run_coverage
    from harmreach.geo.errors import InputError

    ds, _ = demo_run
    res0 = run_coverage(ds, Params(suppress=0))
    with pytest.raises(InputError, match="unsafe-suppress-below-5"):
        publish.coverage(ds, res0)
    pub = publish.coverage(ds, res0, unsafe=True)
    assert pub.metadata["suppression"].startswith("UNSAFE: NO SUPPRESSION")
    assert "are suppressed" not in pub.metadata["suppression"]
    res3 = run_coverage(ds, Params(suppress=3))
    pub3 = publish.coverage(ds, res3, unsafe=True)
    assert pub3.metadata["suppression"].startswith("UNSAFE: threshold 3")


# ---------------------------------------------------------------- range screening, set fixes
def _direct_widths(targets, a_ub, b_ub, lo, hi):
    """Each target's exact range: two linear programs per target, no screening."""
    from scipy.optimize import linprog

    out = []
    for t in targets:
        a = linprog(t, A_ub=a_ub, b_ub=b_ub, bounds=list(zip(lo, hi, strict=True)))
        b = linprog(-t, A_ub=a_ub, b_ub=b_ub, bounds=list(zip(lo, hi, strict=True)))
        out.append(-b.fun - a.fun)
    return np.array(out)


@pytest.mark.parametrize("seed", range(12))
def test_narrow_targets_finds_exactly_the_narrow_ones(seed):
    """Screening by aggregate objectives never misses a narrow target, and reports its
    exact width (against one pair of programs per target)."""
    from harmreach.analysis.disclosure import narrow_targets

    rng = np.random.default_rng(seed)
    n, m, k = 14, 7, 10
    x0 = rng.choice([0.0, 1.0, 2.0, 3.0, 8.0], n)
    sets = (rng.random((m, n)) < 0.4).astype(float)
    a_ub = np.vstack([sets, -sets])
    b_ub = np.concatenate([sets @ x0 + 0.5, -(sets @ x0 - 0.5)])
    targets = (rng.random((k, n)) < 0.3).astype(float)
    hi = np.full(n, 50.0)
    exact = _direct_widths(targets, a_ub, b_ub, np.zeros(n), hi)
    got = narrow_targets(targets, 5.0, a_ub=a_ub, b_ub=b_ub, lo=0.0, hi=hi, known=x0)
    assert set(got) == set(np.flatnonzero(exact < 5.0 - 1e-6))
    for i, w in got.items():
        assert w == pytest.approx(exact[i], abs=1e-6)


def test_set_fix_protects_a_small_cell_with_few_cells():
    """A 3 × 2 table with row and column totals and a grand total (hand-built): one cell
    is 2. Hiding it alone lets the row total give it back; the cheapest protection is a
    rectangle of four cells (two rows, two columns), which the linear program finds."""
    # rows r0..r2, columns c0, c1; cells, row totals, column totals, grand total
    cell = np.array([[2.0, 30.0], [20.0, 25.0], [40.0, 45.0]])
    rows_t = cell.sum(axis=1)
    cols_t = cell.sum(axis=0)
    values = np.concatenate([cell.ravel(), rows_t, cols_t, [cell.sum()]])
    c = lambda i, j: 2 * i + j  # noqa: E731
    r = lambda i: 6 + i  # noqa: E731
    k = lambda j: 9 + j  # noqa: E731
    groups = [(r(i), [c(i, 0), c(i, 1)]) for i in range(3)]
    groups += [(k(j), [c(0, j), c(1, j), c(2, j)]) for j in range(2)]
    groups += [(11, [r(0), r(1), r(2)])]
    from harmreach.analysis.disclosure import protect

    hid = protect(values, groups, 5.0)
    hidden_cells = {(i, j) for i in range(3) for j in range(2) if hid[c(i, j)]}
    assert (0, 0) in hidden_cells
    assert not hid[6:].any(), "totals stay published"
    assert len(hidden_cells) == 4  # a rectangle: two rows × two columns
    rows_ = {i for i, _ in hidden_cells}
    assert len(rows_) == 2 and all(
        ((i, 0) in hidden_cells) == ((i, 1) in hidden_cells) for i in rows_
    )
    # and the small cell really ranges over at least 5 (a direct program)
    from scipy.optimize import linprog

    n = len(values)
    a_eq = np.zeros((len(groups), n))
    for g, (t, parts) in enumerate(groups):
        a_eq[g, t] = 1
        a_eq[g, parts] = -1
    bounds = [(0, None) if hid[i] else (values[i] - 0.5, values[i] + 0.5) for i in range(n)]
    obj = np.zeros(n)
    obj[c(0, 0)] = 1
    lo = linprog(obj, A_eq=a_eq, b_eq=np.zeros(len(groups)), bounds=bounds).fun
    hi = -linprog(-obj, A_eq=a_eq, b_eq=np.zeros(len(groups)), bounds=bounds).fun
    assert hi - lo >= 5.0
