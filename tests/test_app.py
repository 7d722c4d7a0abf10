"""Streamlit AppTest: every control path runs without an exception and says what it should."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


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
    assert float(cyc.rstrip("%")) > float(after.rstrip("%"))


def test_time_of_week_and_types(app):
    app.sidebar.selectbox[1].set_value("Sun").run()
    app.sidebar.slider[1].set_value(3).run()
    assert not app.exception
    night = metric(app, "Need within 15 min walk (Sun 03:00)")
    assert float(night.rstrip("%")) < 10
    assert metric(app, "Sites in play").startswith("2 of")
    app.sidebar.multiselect[0].set_value(["pharmacy"]).run()
    assert not app.exception


@pytest.mark.parametrize(
    "view",
    ["Areas", "Coverage curve", "Across the week", "Plan & what-if", "Downloads", "About the data"],
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


def test_bad_upload_shows_the_validation_message(app):
    app.sidebar.radio[0].set_value("My files").run()
    up = app.sidebar.get("file_uploader")[0]
    up.set_value(
        ("sites.csv", b"site_id,name,type,postcode\nA,a,pharmacy,ZZ9 9ZZ\n", "text/csv")
    ).run()
    assert not app.exception
    err = " ".join(e.value for e in app.error)
    assert "ZZ9 9ZZ" in err and "row 2" in err and "Traceback" not in err


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
