"""Site activity and treatment files: reading, annualising, and every documented error."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from harmreach.geo.activity import SYRINGES_PER_PACK, read_activity
from harmreach.geo.dataset import DEMO_NEED, DEMO_SITES
from harmreach.geo.errors import InputError
from harmreach.geo.settings import DATA_DIR
from harmreach.geo.tables import Source
from harmreach.geo.treatment import read_treatment

SITES = ["PHA01", "DRU01", "HOS01"]
HEADER = "site_id,period_start,period_end,transactions,syringes,returns\n"


def test_reads_and_annualises_by_covered_days(write):
    path = write(
        "activity.csv",
        HEADER + "PHA01,2024-04-01,2024-06-30,212,2140,1530\n"
        "PHA01,2024-10-01,2024-12-31,200,2000,\n"  # a gap: July-September not reported
        "DRU01,2024-04-01,2025-03-31,1000,12000,9000\n",
    )
    act = read_activity(path, site_ids=SITES)
    assert list(act.table["days"]) == [91, 92, 365]  # both days included
    per = act.per_site().set_index("site_id")
    # PHA01: 91 + 92 = 183 covered days (the gap is not covered); 4,140 syringes.
    assert per.loc["PHA01", "covered_days"] == 183
    assert per.loc["PHA01", "syringes_per_year"] == pytest.approx(4140 / 183 * 365.25)
    assert per.loc["PHA01", "transactions_per_year"] == pytest.approx(412 / 183 * 365.25)
    # Returns only in the first quarter: rate and annual figure over that quarter alone.
    assert per.loc["PHA01", "return_rate"] == pytest.approx(1530 / 2140)
    assert per.loc["PHA01", "returns_per_year"] == pytest.approx(1530 / 91 * 365.25)
    assert per.loc["DRU01", "syringes_per_year"] == pytest.approx(12000 / 365 * 365.25)
    assert act.total_syringes == 4140 + 12000
    assert act.missing_sites(SITES) == ["HOS01"]
    assert act.report.rows_used == 3
    assert act.syringes_per_pack is None


def test_short_cover_is_noted(write):
    path = write("a.csv", HEADER + "PHA01,2024-04-01,2024-04-30,20,200,\n")
    act = read_activity(path, site_ids=SITES)
    assert any("PHA01 (30 days)" in n for n in act.notes)


def test_packs_use_the_default_setting_or_the_argument(write):
    path = write(
        "packs.csv",
        "site_id,period_start,period_end,transactions,packs\nPHA01,2024-04-01,2024-06-30,20,30\n",
    )
    act = read_activity(path, site_ids=SITES)
    assert SYRINGES_PER_PACK == 10
    assert act.table["syringes"].iloc[0] == 300
    assert act.syringes_per_pack == 10
    assert any("packs" in n for n in act.notes)
    assert read_activity(path, syringes_per_pack=4).table["syringes"].iloc[0] == 120


def test_packs_fill_empty_syringes_and_a_per_row_pack_size(write):
    path = write(
        "mixed.csv",
        "site_id,period_start,period_end,transactions,syringes,packs,syringes_per_pack\n"
        "PHA01,2024-04-01,2024-06-30,20,250,,\n"
        "DRU01,2024-04-01,2024-06-30,20,,30,5\n"
        "HOS01,2024-04-01,2024-06-30,20,,7,\n",
    )
    act = read_activity(path, site_ids=SITES)
    assert list(act.table["syringes"]) == [250, 150, 70]


def test_spreadsheet_date_cells(tmp_path):
    path = tmp_path / "activity.xlsx"
    pd.DataFrame(
        {
            "site_id": ["PHA01", "PHA01"],
            "period_start": [dt.datetime(2024, 4, 1), dt.datetime(2024, 7, 1)],
            "period_end": [dt.datetime(2024, 6, 30), dt.datetime(2024, 9, 30)],
            "transactions": [10, 12],
            "syringes": [100, 120],
        }
    ).to_excel(path, index=False)
    act = read_activity(path, site_ids=SITES)
    assert list(act.table["days"]) == [91, 92]
    assert np.isnan(act.table["returns"]).all()


def test_upload_in_memory():
    data = (HEADER + "PHA01,2024-04-01,2024-06-30,212,2140,1530\n").encode()
    act = read_activity(Source(name="up.csv", data=data), site_ids=SITES)
    assert act.file == "up.csv" and len(act.table) == 1


# Each bad file: (rows after the header, expected row, expected column, words in the message).
BAD = {
    "unknown site": (
        "PHA01,2024-04-01,2024-06-30,1,10,\nXYZ99,2024-04-01,2024-06-30,1,10,\n",
        3,
        "site_id",
        "unknown site_id 'XYZ99'",
    ),
    "empty site": (",2024-04-01,2024-06-30,1,10,\n", 2, "site_id", "empty site_id"),
    "negative syringes": ("PHA01,2024-04-01,2024-06-30,1,-10,\n", 2, "syringes", "negative"),
    "negative returns": ("PHA01,2024-04-01,2024-06-30,1,10,-1\n", 2, "returns", "negative"),
    "text count": ("PHA01,2024-04-01,2024-06-30,many,10,\n", 2, "transactions", "not a number"),
    "units in a count": ("PHA01,2024-04-01,2024-06-30,1,10 syr,\n", 2, "syringes", "not a number"),
    "fraction": ("PHA01,2024-04-01,2024-06-30,1,10.5,\n", 2, "syringes", "not a whole number"),
    "empty count": ("PHA01,2024-04-01,2024-06-30,,10,\n", 2, "transactions", "empty cell"),
    "UK date": ("PHA01,01/04/2024,2024-06-30,1,10,\n", 2, "period_start", "not a date in ISO"),
    "impossible date": ("PHA01,2024-02-30,2024-06-30,1,10,\n", 2, "period_start", "ISO form"),
    "empty date": ("PHA01,2024-04-01,,1,10,\n", 2, "period_end", "empty date"),
    "end before start": (
        "PHA01,2024-06-30,2024-04-01,1,10,\n",
        2,
        "period_end",
        "ends (2024-04-01) before it starts (2024-06-30)",
    ),
    "overlap": (
        "PHA01,2024-04-01,2024-06-30,1,10,\n"
        "DRU01,2024-04-01,2024-06-30,1,10,\n"
        "PHA01,2024-06-30,2024-09-30,1,10,\n",  # shares 30 June with row 2
        4,
        "period_start",
        "overlaps row 2 (2024-04-01 to 2024-06-30)",
    ),
    "same period twice": (
        "PHA01,2024-04-01,2024-06-30,1,10,\nPHA01,2024-04-01,2024-06-30,1,10,\n",
        3,
        "period_start",
        "overlaps row 2",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_activity_file_names_file_row_and_column(write, case):
    body, row, column, words = BAD[case]
    path = write("act.csv", HEADER + body)
    with pytest.raises(InputError) as err:
        read_activity(path, site_ids=SITES)
    e = err.value
    assert (e.file, e.row, e.column) == ("act.csv", row, column)
    assert words in e.problem
    assert e.fix
    line = e.one_line()
    assert line.startswith(f"act.csv, row {row}, column '{column}': ") and "Fix:" in line


def test_missing_columns(write):
    path = write("act.csv", "site_id,period_start,transactions\nPHA01,2024-04-01,3\n")
    with pytest.raises(InputError, match=r"missing required column\(s\) period_end, syringes"):
        read_activity(path)


def test_no_syringes_nor_packs_in_a_row(write):
    path = write(
        "act.csv",
        "site_id,period_start,period_end,transactions,syringes,packs\n"
        "PHA01,2024-04-01,2024-06-30,1,,\n",
    )
    with pytest.raises(InputError) as err:
        read_activity(path)
    assert (err.value.row, err.value.column) == (2, "syringes")
    assert "no syringes or packs" in err.value.problem


def test_bad_pack_size(write):
    path = write("act.csv", HEADER + "PHA01,2024-04-01,2024-06-30,1,10,\n")
    with pytest.raises(InputError, match="positive"):
        read_activity(path, syringes_per_pack=0)


def test_counts_further_bad_rows(write):
    path = write(
        "act.csv",
        HEADER + "PHA01,2024-04-01,2024-06-30,-1,10,\n"
        "PHA01,2024-07-01,2024-09-30,1,x,\n"
        "DRU01,2024-07-01,2024-09-30,1,10,\n",
    )
    with pytest.raises(InputError, match=r"\(1 more rows have problems\)") as err:
        read_activity(path, site_ids=SITES)
    assert err.value.row == 2


def test_skip_bad_rows_lists_every_one(write):
    path = write(
        "act.csv",
        HEADER + "PHA01,2024-04-01,2024-06-30,1,10,\n"
        "PHA01,2024-05-01,2024-07-31,1,10,\n"
        "NOPE,2024-04-01,2024-06-30,1,10,\n"
        "DRU01,2024-04-01,2024-06-30,1,10,\n",
    )
    act = read_activity(path, site_ids=SITES, strict=False)
    assert list(act.table["source_row"]) == [2, 5]
    assert [r for r, _ in act.report.skipped] == [3, 4]
    assert "overlaps row 2" in act.report.skipped[0][1]
    assert "2 of 4 rows used, 2 skipped" in act.report.summary()


def test_site_ids_unchecked_without_a_sites_list(write):
    path = write("act.csv", HEADER + "ANY,2024-04-01,2024-06-30,1,10,\n")
    assert read_activity(path).table["site_id"].tolist() == ["ANY"]


# ---------------------------------------------------------------- treatment


def test_treatment_reads(write):
    path = write("t.csv", "area_code,in_treatment\nA,10\nB,0\n")
    tr = read_treatment(path, area_codes=["A", "B", "C"])
    assert tr.by_area.to_dict() == {"A": 10.0, "B": 0.0}


@pytest.mark.parametrize(
    ("body", "row", "column", "words"),
    [
        ("A,10\nZ,3\n", 3, "area_code", "'Z' is not one of the areas"),
        ("A,10\nA,3\n", 3, "area_code", "more than once"),
        ("A,-2\n", 2, "in_treatment", "negative"),
        ("A,2.5\n", 2, "in_treatment", "not a whole number"),
        ("A,lots\n", 2, "in_treatment", "not a number"),
    ],
)
def test_bad_treatment_file(write, body, row, column, words):
    path = write("t.csv", "area_code,in_treatment\n" + body)
    with pytest.raises(InputError) as err:
        read_treatment(path, area_codes=["A", "B"])
    assert (err.value.file, err.value.row, err.value.column) == ("t.csv", row, column)
    assert words in err.value.problem


def test_treatment_needs_its_columns(write):
    path = write("t.csv", "area,people\nA,1\n")
    with pytest.raises(InputError, match="needs area_code and in_treatment"):
        read_treatment(path)


# ---------------------------------------------------------------- the demo files


def test_demo_activity_covers_every_demo_site_and_is_illustrative():
    sites = pd.read_csv(DEMO_SITES, dtype=str)
    act = read_activity(DATA_DIR / "sites" / "activity.csv", site_ids=sites["site_id"])
    assert act.illustrative
    assert act.missing_sites(sites["site_id"]) == []
    per = act.per_site()
    assert len(per) == 31
    # Four quarters of 2024/25 (365 days), except the one site that skips a quarter.
    assert (per["covered_days"] == 365).sum() == 30
    assert per.set_index("site_id").loc["PHA20", "covered_days"] == 365 - 92


def test_demo_treatment_matches_the_demo_districts_and_is_illustrative():
    need = pd.read_csv(DEMO_NEED, dtype={"area_code": str})
    tr = read_treatment(DATA_DIR / "need" / "treatment.csv", area_codes=need["area_code"])
    assert tr.illustrative
    assert sorted(tr.by_area.index) == sorted(need["area_code"])
    share = tr.by_area / need.set_index("area_code")["need"]
    assert share.between(0.3, 0.7).all()
