"""The report map: the same bands as the dashboard legend, numbered proposals, PNG and PDF."""

import pytest

from harmreach.analysis.report_map import SHARE_BANDS, SUPPRESSED_COLOUR, band_colour, report_map


@pytest.mark.parametrize(
    ("share", "band"),
    [(0.0, 0), (0.1999, 0), (0.2, 1), (0.3999, 1), (0.4, 2), (0.6, 3), (0.8, 4), (1.0, 4)],
)
def test_band_colour_lower_bound_inclusive(share, band):
    assert band_colour(share) == SHARE_BANDS[band][2]


def test_hidden_share_is_grey():
    assert band_colour(None) == SUPPRESSED_COLOUR
    assert band_colour(float("nan")) == SUPPRESSED_COLOUR


def test_png_and_pdf_with_numbered_proposals():
    from harmreach.analysis import publish
    from harmreach.analysis.layers import proposal_table
    from harmreach.analysis.planning import plan_for_run
    from harmreach.analysis.scenario import Params, build_engine, run_coverage
    from harmreach.geo.dataset import load_dataset

    ds = load_dataset()
    r = run_coverage(ds, Params())
    pub = publish.coverage(ds, r)
    sp = plan_for_run(r, build_engine(r.params, None), 2, bound=False)
    pp = publish.plan(pub, sp, proposal_table(ds, r, sp.proposed))
    assert pp.proposed["rank"].tolist() == [1, 2]
    png = report_map(pub, "t", "png", pp.proposed)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    pdf = report_map(pub, "t", "pdf", pp.proposed)
    assert pdf[:5] == b"%PDF-"
