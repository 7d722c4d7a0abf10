"""Streamlit AppTest: the page runs without an exception and says what is illustrative."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_app_runs_on_demo():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "illustrative" in text.lower()
    assert any(m.label == "Exchange sites" and m.value == "31" for m in at.metric)
