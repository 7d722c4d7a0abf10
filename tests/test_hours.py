"""Opening hours: real-world strings → weekly masks; coverage at a time = coverage of open sites."""

import numpy as np
import pandas as pd
import pytest

from harmreach.analysis.hours import SLOTS_PER_DAY, parse_at, parse_hours, slot_label, weekly_masks
from harmreach.analysis.scenario import Params, run_coverage
from harmreach.geo.dataset import load_dataset
from harmreach.geo.errors import InputError


def slots(day, start, end):
    """Mask slots for day (0=Mon) from start to end hours (end may pass 24)."""
    m = np.zeros(7 * SLOTS_PER_DAY, bool)
    a = day * SLOTS_PER_DAY + int(start * 4)
    b = day * SLOTS_PER_DAY + int(end * 4)
    idx = np.arange(a, b) % (7 * SLOTS_PER_DAY)
    m[idx] = True
    return m


def union(*masks):
    return np.logical_or.reduce(masks)


CASES = [
    ("24/7", np.ones(7 * SLOTS_PER_DAY, bool)),
    ("Mo-Fr 09:00-17:30", union(*[slots(d, 9, 17.5) for d in range(5)])),
    (
        "Mo-Fr 09:00-18:00; Sa 09:00-13:00",
        union(*[slots(d, 9, 18) for d in range(5)], slots(5, 9, 13)),
    ),
    (
        "Mo,We,Fr 10:00-16:00; Tu 13:00-19:00",
        union(slots(0, 10, 16), slots(2, 10, 16), slots(4, 10, 16), slots(1, 13, 19)),
    ),
    (
        "Mo-Fr 08:00-12:00,13:00-17:00",
        union(*[slots(d, 8, 12) for d in range(5)], *[slots(d, 13, 17) for d in range(5)]),
    ),
    ("Mo-Sa 09:00-17:00; We off", union(*[slots(d, 9, 17) for d in (0, 1, 3, 4, 5)])),
    ("Fr-Sa 22:00-02:00", union(slots(4, 22, 26), slots(5, 22, 26))),
    ("Su 20:00-02:00", slots(6, 20, 26)),  # Sunday night runs into Monday morning
    ("Mo-Fr 09:00-17:00; PH off", union(*[slots(d, 9, 17) for d in range(5)])),
    ('Tu 10:00-12:00 "needle exchange session"', slots(1, 10, 12)),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_real_world_strings(text, expected):
    mask, notes = parse_hours(text)
    np.testing.assert_array_equal(mask, expected)
    if "PH" in text:
        assert any("public-holiday" in n for n in notes)
    if '"' in text:
        assert any("comments" in n for n in notes)


@pytest.mark.parametrize(
    "bad", ["9 to 5 weekdays", "Mo-Fr 25:00-26:00", "closed on sundays", "Mo-Fr 09:00-"]
)
def test_rejected_strings_name_the_site(bad):
    sites = pd.DataFrame({"site_id": ["S1"], "name": ["Chemist"], "opening_hours": [bad]})
    with pytest.raises(InputError) as err:
        weekly_masks(sites)
    assert "site S1 (Chemist)" in str(err.value) and bad in str(err.value)


def test_missing_hours_only_open_when_told():
    sites = pd.DataFrame({"site_id": ["S1"], "name": ["x"], "opening_hours": [None]})
    with pytest.raises(InputError, match="no opening_hours"):
        weekly_masks(sites)
    masks, _ = weekly_masks(sites, assume_open_missing=True)
    assert masks.all()


def test_parse_at():
    assert parse_at("Mon 00:00") == 0
    assert parse_at("tue 19:00") == SLOTS_PER_DAY + 76
    assert slot_label(parse_at("Sunday 3:15")) == "Sun 03:15"
    for bad in ["Funday 10:00", "Tue", "Tue 25:00", ""]:
        with pytest.raises(InputError):
            parse_at(bad)


def test_coverage_at_time_equals_open_subset():
    ds = load_dataset()
    at = "Tue 19:00"
    timed = run_coverage(ds, Params(at=at))
    masks, _ = weekly_masks(ds.sites)
    open_now = masks[:, parse_at(at)]
    assert 0 < open_now.sum() < len(ds.sites)
    ds_open = load_dataset()
    ds_open.sites = ds_open.sites[open_now].reset_index(drop=True)
    subset = run_coverage(ds_open, Params())
    assert timed.share_covered == pytest.approx(subset.share_covered, abs=1e-12)
    np.testing.assert_allclose(timed.demand["nearest_min"], subset.demand["nearest_min"])


def test_night_lower_than_day():
    ds = load_dataset()
    night = run_coverage(ds, Params(at="Sun 03:00")).share_covered
    day = run_coverage(ds, Params(at="Tue 11:00")).share_covered
    assert night < day


def test_weekly_profile_consistent_with_coverage_at_each_hour():
    from harmreach.analysis.scenario import build_engine
    from harmreach.analysis.weekly import weekly_profile

    ds = load_dataset()
    run = run_coverage(ds, Params())
    prof = weekly_profile(run, build_engine(run.params, None))
    assert len(prof.overall) == 168
    for day, hour in [("Tue", 11), ("Tue", 19), ("Sun", 3), ("Sat", 12), ("Mon", 0)]:
        at = run_coverage(ds, Params(at=f"{day} {hour:02d}:00")).share_covered
        row = prof.overall[(prof.overall["day"] == day) & (prof.overall["hour"] == hour)]
        assert row["share_covered"].iloc[0] == pytest.approx(at, abs=1e-9), (day, hour)
    assert prof.worst(1)["share_covered"].iloc[0] == prof.overall["share_covered"].min()
    assert 0 < prof.need_hours < prof.need_hours_max


def test_sessions_equal_brute_force():
    import itertools

    from harmreach.analysis.sessions import plan_sessions, session_slots

    rng = np.random.default_rng(3)
    nd, nc, length = 12, 2, 4
    reach = rng.random((nd, nc)) < 0.5
    open_cover = np.zeros((nd, 168), bool)
    open_cover[:, 24 * 0 + 9 : 24 * 0 + 17] = True  # Monday 9-17 already served
    open_cover[::3, 24 * 2 + 10 : 24 * 2 + 14] = True
    need = rng.integers(1, 6, nd).astype(float)
    slots = session_slots(length)
    sessions = [(c, d, s) for c in range(nc) for d, s in slots]

    def value(chosen):
        cov = open_cover.copy()
        for c, d, s in chosen:
            cov[np.ix_(reach[:, c], range(24 * d + s, 24 * d + s + length))] = True
        return float(need @ cov.sum(axis=1))

    best = max(value(comb) for comb in itertools.combinations(sessions, 2))
    plan = plan_sessions(reach, open_cover, need, 2, length_h=length)
    assert plan.need_hours_after == pytest.approx(best)
    chosen = [
        (int(r.candidate), DAYS_IDX[r.day], int(r.start[:2])) for r in plan.sessions.itertuples()
    ]
    assert value(chosen) == pytest.approx(best)
    assert plan.need_hours_before == pytest.approx(value([]))


DAYS_IDX = {d: i for i, d in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])}
