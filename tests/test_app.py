"""Streamlit AppTest: every control path runs without an exception and says what it should."""

import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
sys.path.insert(0, str(ROOT))  # app_pages lives next to app.py

from app_pages.format import app_message, closure_change, worst_periods  # noqa: E402
from app_pages.prefetch import Prefetcher, neighbours  # noqa: E402
from app_pages.safe import plain_markdown, safe_html  # noqa: E402


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=180).run()


def metric(at, start):
    return next(m.value for m in at.metric if m.label.startswith(start))


def test_demo_loads_with_honest_labels(app):
    assert not app.exception
    warn = " ".join(w.value for w in app.warning)
    assert "illustrative" in warn.lower()
    info = " ".join(i.value for i in app.info)
    assert "estimated" in info.lower()
    assert metric(app, "Sites in play") == "31 of 31"
    assert metric(app, "Need within 15 min walk").endswith("%")


def test_headline_changes_with_minutes_and_mode(app):
    before = metric(app, "Need within 15 min walk")
    app.sidebar.slider[0].set_value(30).run()
    assert not app.exception
    after = metric(app, "Need within 30 min walk")
    assert float(after.rstrip("%")) > float(before.rstrip("%"))
    app.sidebar.selectbox[0].set_value("cycle").run()
    cyc = metric(app, "Need within 30 min cycle")
    if cyc.endswith("%") and cyc[0].isdigit():
        assert float(cyc.rstrip("%")) > float(after.rstrip("%"))
    else:  # the publishing gate may show a band instead of a figure
        assert cyc == "hidden" or cyc.startswith(("over", "under"))


def test_time_of_week_and_types(app):
    app.sidebar.selectbox[1].set_value("Sun").run()
    app.sidebar.slider[1].set_value(3).run()
    assert not app.exception
    night = metric(app, "Need within 15 min walk")
    assert float(night.rstrip("%")) < 10
    # the time of week is said above the figures, not squeezed into a cut label
    assert any("Sun 03:00" in c.value for c in app.caption)
    assert all(len(m.label) <= 24 for m in app.metric)
    assert metric(app, "Sites in play").startswith("2 of")
    app.sidebar.multiselect[0].set_value(["pharmacy"]).run()
    assert not app.exception


@pytest.mark.parametrize(
    "view",
    [
        "Areas",
        "Coverage curve",
        "Across the week",
        "Plan & what-if",
        "Equipment & treatment",
        "Downloads",
        "About the data",
    ],
)
def test_every_view(app, view):
    app.segmented_control[0].set_value(view).run()
    assert not app.exception, view


def test_what_if_closure(app):
    app.segmented_control[0].set_value("Plan & what-if").run()
    sel = next(s for s in app.selectbox if s.label == "Site")
    sel.set_value(sel.options[1]).run()
    assert not app.exception
    assert any("Need losing access" in df.value.columns for df in app.dataframe)


def test_planning_controls(app):
    app.sidebar.slider[-1].set_value(0).run()
    assert not app.exception
    assert any(m.label.startswith("Backup") for m in app.metric)
    app.sidebar.slider[-1].set_value(2).run()
    app.sidebar.selectbox[-1].set_value("equity").run()
    assert not app.exception
    app.sidebar.checkbox[0].set_value(True).run()  # exact
    assert not app.exception


def test_backup_plan_is_labelled_as_backup(app):
    """The backup objective's headline and table speak of two sites, not of coverage."""
    app.sidebar.slider[-1].set_value(3).run()
    app.sidebar.selectbox[-1].set_value("backup").run()
    assert not app.exception
    head = next(m for m in app.metric if m.label.startswith("With 3 satellites"))
    assert "two sites" in head.label
    tables = [d.value for d in app.dataframe if "Rank" in d.value.columns]
    if tables:  # the proposals table is on the Map view
        assert "Share with two sites after" in tables[0].columns
    app.sidebar.selectbox[-1].set_value("coverage").run()


def test_bad_upload_shows_the_validation_message(app):
    app.sidebar.radio[0].set_value("My files").run()
    up = app.sidebar.get("file_uploader")[0]
    up.set_value(
        ("sites.csv", b"site_id,name,type,postcode\nA,a,pharmacy,ZZ9 9ZZ\n", "text/csv")
    ).run()
    assert not app.exception
    err = " ".join(e.value for e in app.error)
    assert "ZZ9 9ZZ" in err and "row 2" in err and "Traceback" not in err
    # the dashboard names its own checkbox, not the command line's flag
    assert "--skip-bad-rows" not in err
    assert "Skip bad site rows" in err


def test_markdown_in_an_error_is_shown_as_text(app):
    app.sidebar.radio[0].set_value("My files").run()
    up = app.sidebar.get("file_uploader")[0]
    bad = b"site_id,name,type,postcode\nA,a,pharmacy,[x](http://evil.example)\n"
    up.set_value(("sites.csv", bad, "text/csv")).run()
    assert not app.exception
    err = " ".join(e.value for e in app.error)
    # the file's text arrives with every markdown character escaped: no link is made
    assert r"\[x\]\(http\:\/\/evil\.example\)" in err
    assert "[x](http" not in err


def test_demo_results_come_from_the_cache(app):
    stats = dict(app.session_state["_cache_stats"])
    app.run()
    after = app.session_state["_cache_stats"]
    assert after["misses"] == stats["misses"]  # nothing recomputed
    assert after["hits"] > stats["hits"]
    app.sidebar.slider[0].set_value(35).run()  # settings no other test uses: computed now
    grew = app.session_state["_cache_stats"]["misses"]
    assert grew > stats["misses"]
    app.sidebar.slider[0].set_value(15).run()  # back to settings already computed
    assert app.session_state["_cache_stats"]["misses"] == grew


def test_map_view_lists_proposals_as_decisions(app):
    table = next(df.value for df in app.dataframe if "Rank" in df.value.columns)
    assert list(table.columns[:6]) == [
        "Rank",
        "Nearest postcode",
        "Ward",
        "District",
        "Nearest site",
        "Need newly in reach",
    ]
    assert table["Rank"].tolist() == [1, 2, 3]
    assert table["Nearest postcode"].str.match(r"^[A-Z]{1,2}\d").all()
    assert (
        table["District"]
        .isin(["Bromsgrove", "Malvern Hills", "Redditch", "Worcester", "Wychavon", "Wyre Forest"])
        .all()
    )


def test_gaps_headline_counts_gaps_with_need_at_the_threshold(app):
    label = next(m.label for m in app.metric if m.label.startswith("Gaps"))
    assert label == "Gaps (need ≥ 5)"
    n = int(metric(app, "Gaps").replace(",", ""))
    assert 0 < n < 100
    help_text = next(m.help for m in app.metric if m.label.startswith("Gaps"))
    assert "district" in help_text and "not counted" in help_text


def test_fewer_satellites_than_asked_are_explained(app):
    # 60 minutes by car reaches almost everyone: few candidates add anything
    app.sidebar.selectbox[0].set_value("drive").run()
    app.sidebar.slider[0].set_value(60).run()
    app.sidebar.slider[-1].set_value(10).run()
    assert not app.exception
    info = " ".join(i.value for i in app.info)
    with_label = [m.label for m in app.metric if m.label.startswith("With ")]
    if with_label and with_label[0] == "With 10 satellites":
        pytest.skip("all 10 placed")
    assert "You asked for 10 satellite(s)" in info or any(
        "No candidate adds coverage" in md.value for md in app.markdown
    )


# ---------------------------------------------------------------- pure helpers
def test_what_if_change_is_the_difference_of_the_shares_shown():
    assert closure_change(0.52104, 0.52049) == -0.1  # shown 52.1% → 52.0%
    assert closure_change(0.5, 0.5) == 0.0
    assert closure_change(None, 0.5) is None
    assert closure_change(0.40, float("nan")) is None


def test_worst_hours_join_the_night_and_the_days():
    rows = []
    for day in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]:
        for hour in range(24):
            night = hour < 7 or hour >= 22
            rows.append(
                {
                    "day": day,
                    "hour": hour,
                    "share_covered": 0.02 if night else 0.5,
                    "sites_open": 1 if night else 9,
                }
            )
    out = worst_periods(pd.DataFrame(rows))
    assert out[0] == "every day 22:00–07:00 (overnight): 2.0% (1 site open)"
    assert out[1] == "every day 07:00–22:00: 50.0% (9 sites open)"


def test_app_message_names_the_checkbox():
    msg = app_message("sites.csv row 2: bad. Fix: correct it, or use --skip-bad-rows to leave out.")
    assert "--skip-bad-rows" not in msg and "Skip bad site rows" in msg


@pytest.mark.parametrize(
    "payload",
    [
        "<img src=x onerror=alert(1)>",
        "${alert(1)}",
        "`);alert(1);//",
        "a\\`b",
        "</script><script>alert(1)</script>",
        "\"'><svg onload=alert(1)>",
    ],
)
def test_safe_html_leaves_nothing_that_runs(payload):
    out = safe_html(payload)
    for ch in "<>\"'`$\\{}":
        assert ch not in out
    import html

    assert html.unescape(out) == payload  # shown exactly as written


def test_plain_markdown_escapes_links_and_images():
    out = plain_markdown("[x](http://e) ![i](http://e/i.png) **b** :red[c] $x$")
    assert "[x](" not in out and "![i](" not in out and "**b**" not in out
    assert out.replace("\\", "") == "[x](http://e) ![i](http://e/i.png) **b** :red[c] $x$"


def test_good_upload_runs(app):
    app.sidebar.radio[0].set_value("My files").run()
    up = app.sidebar.get("file_uploader")[0]
    up.set_value(
        (
            "sites.csv",
            b"site_id,name,type,postcode\nA,a,pharmacy,WR1 2NA\nB,b,drug_service,B97 4HA\n",
            "text/csv",
        )
    ).run()
    assert not app.exception
    assert metric(app, "Sites in play") == "2 of 2"


def test_any_english_area_by_name(app):
    app.sidebar.radio[0].set_value("An English area, by name").run()
    assert not app.exception
    box = app.sidebar.selectbox[0]
    slough = next(o for o in box.options if o.startswith("Slough ("))
    box.set_value(slough).run()
    assert not app.exception
    text = " ".join(x.value for x in [*app.info, *app.warning, *app.markdown, *app.caption])
    text = text.replace("\\", "")  # user-facing text is markdown-escaped
    assert "Slough" in text
    assert "built in, real" in text and "estimated" in text
    assert "Worcestershire" not in " ".join(x.value for x in app.info)


def test_equipment_and_met_need_view(app):
    app.segmented_control[0].set_value("Equipment & treatment").run()
    assert not app.exception
    assert metric(app, "Syringes per person who injects").replace(",", "").isdigit()
    # Met need from the demo files themselves: people in treatment ÷ the demo need.
    data = ROOT / "data"
    treated = pd.read_csv(data / "need" / "treatment.csv")["in_treatment"].sum()
    need = pd.read_csv(data / "need" / "district_need.csv")["need"].sum()
    assert metric(app, "Met need") == f"{100 * treated / need:.1f}%"
    warn = " ".join(w.value for w in app.warning)
    assert "activity is ILLUSTRATIVE" in warn and "treatment counts are ILLUSTRATIVE" in warn


def test_prefetched_setting_is_served_and_equals_a_fresh_run(app):
    """After a page, the next minutes are run in the background; asking for them takes
    that run (only the gate decides it on the page: nothing is published ahead), and the
    headline equals a run of the same settings through the Python API."""
    import time

    import harmreach as hr

    time.sleep(4)  # the page is being read: the prefetcher works
    ahead = app.session_state["_cache_stats"].get("runs_ahead", 0)
    next(s for s in app.sidebar.slider if s.label.startswith("Minutes")).set_value(20).run()
    assert not app.exception
    assert app.session_state["_cache_stats"].get("runs_ahead", 0) == ahead + 1, "not run ahead"
    head = next(m for m in app.metric if m.label.startswith("Need within 20 min"))
    fresh = hr.coverage(minutes=20).headlines["need_covered"]
    assert head.value == fresh


# ---------------------------------------------------------------- prefetcher
def test_neighbours_are_one_change_away_and_new_runs_come_first():
    from harmreach.analysis.scenario import Params

    base = Params(minutes=15.0)
    got = neighbours(base, 3, "coverage")
    changed = []
    for q, k, objective in got:
        diff = {
            f
            for f in ("mode", "minutes", "at", "types", "suppress")
            if getattr(q, f) != getattr(base, f)
        }
        diff |= {"k"} if k != 3 else set()
        diff |= {"objective"} if objective != "coverage" else set()
        assert len(diff) == 1, (q, k, objective)  # exactly one control changed
        changed.append((diff.pop(), q, k, objective))
    kinds = [c[0] for c in changed]
    # every new coverage run (0.3-0.9 s when missed) comes before every plan (0.2 s)
    last_run = max(i for i, c in enumerate(kinds) if c not in ("k", "objective"))
    first_plan = min(i for i, c in enumerate(kinds) if c in ("k", "objective"))
    assert last_run < first_plan
    assert {q.minutes for kind, q, _, _ in changed if kind == "minutes"} == {10.0, 20.0}
    assert {q.mode for kind, q, _, _ in changed if kind == "mode"} == {"cycle", "drive"}
    days = [q.at for kind, q, _, _ in changed if kind == "at"]
    assert days == [f"{d} 19:00" for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    # never under the threshold of 5
    assert [q.suppress for kind, q, _, _ in changed if kind == "suppress"] == [6]
    assert sorted(k for kind, _, k, _ in changed if kind == "k") == [2, 4]
    assert sorted(o for kind, _, _, o in changed if kind == "objective") == ["backup", "equity"]


def test_neighbours_of_a_time_of_week_stay_within_the_day():
    from harmreach.analysis.scenario import Params

    got = [q.at for q, _, _ in neighbours(Params(at="Tue 23:00", suppress=6), 0, "coverage")]
    assert None in got and "Tue 22:00" in got
    assert not any(a and a.endswith("24:00") for a in got)
    # no satellites asked for: the plans are of one satellite, with the same objective
    assert {(k, o) for _, k, o in neighbours(Params(), 0, "coverage")} == {
        (0, "coverage"),
        (1, "coverage"),
    }
    assert 5 in [q.suppress for q, _, _ in neighbours(Params(suppress=6), 0, "coverage")]


def test_prefetcher_starts_no_job_while_a_page_is_drawn():
    import threading
    import time

    f = Prefetcher(enabled=True)
    ran = threading.Event()
    with f.page():
        f.want([(("a",), ran.set)])
        time.sleep(0.4)
        assert not ran.is_set()  # the page comes first
    assert ran.wait(5)  # and the job runs once the page is drawn


def test_prefetcher_pauses_between_stages_but_not_for_a_page_waiting_for_it():
    import threading
    import time

    f = Prefetcher(enabled=True)
    started, second, stage2_during_page = threading.Event(), threading.Event(), []

    def job():
        started.set()
        time.sleep(0.2)
        f.pause()  # a page is drawn: wait ...
        stage2_during_page.append(f.pages)
        second.set()

    f.want([(("k1",), job)])
    assert started.wait(5)
    with f.page():
        # ... unless the page waits for this very job: then it goes on at once
        t0 = time.perf_counter()
        f.wait_for("k1", timeout=10)
        assert time.perf_counter() - t0 < 2
        assert second.is_set() and stage2_during_page == [1]

    # a job whose page does not wait for it stays paused while the page is drawn
    started2, done2 = threading.Event(), threading.Event()

    def job2():
        started2.set()
        time.sleep(0.2)
        f.pause()
        done2.set()

    f.want([(("k2",), job2)])
    assert started2.wait(5)
    with f.page():
        time.sleep(0.6)
        assert not done2.is_set()
    assert done2.wait(5)


def test_prefetcher_keeps_older_requests_behind_newer_ones():
    f = Prefetcher(enabled=False)
    f.enabled = True  # queue only: no thread takes the jobs
    f.want([(("a",), None), (("b",), None)])
    f.want([(("c",), None), (("a",), None)])
    assert [k for k, _ in f.jobs] == [("c",), ("a",), ("b",)]


def test_collect_garbage_freezes_survivors_and_still_finds_old_cycles():
    import gc
    import time
    import weakref

    from app_pages import prefetch

    class Node:
        pass

    a = Node()
    a.me = a  # a cycle: only the garbage collector frees it
    ref = weakref.ref(a)
    try:
        prefetch._last_full_gc[0] = time.monotonic()  # no full pass due
        prefetch.collect_garbage()
        assert gc.get_freeze_count() > 0  # survivors frozen: pages do not scan them
        del a
        gc.collect()
        assert ref() is not None  # frozen, so not collected by an ordinary pass
        prefetch._last_full_gc[0] = 0.0  # a full pass is due: the frozen are scanned too
        prefetch.collect_garbage()
        assert ref() is None
    finally:
        gc.unfreeze()
