"""coverage --activity/--treatment: equipment coverage and met need, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from harmreach.geo import settings

DATA = settings.DATA_DIR


def test_coverage_prints_equipment_and_met_need(tmp_path: Path) -> None:
    out_csv = tmp_path / "areas.csv"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harmreach",
            "coverage",
            "--activity",
            str(DATA / "sites" / "activity.csv"),
            "--treatment",
            str(DATA / "need" / "treatment.csv"),
            "--out",
            str(out_csv),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "input activity: activity.csv (ILLUSTRATIVE activity)" in text
    line = next(x for x in text.splitlines() if x.startswith("syringes per person who injects"))
    n, band = line.split(": ")[1].split(" ")
    band = band.strip("()")
    # WHO bands (edges: 100 and 200 are medium).
    v = float(n.replace(",", ""))
    assert band == ("low" if v < 100 else "medium" if v <= 200 else "high")
    # Met need from the files themselves: people in treatment ÷ the demo need.
    treated = pd.read_csv(DATA / "need" / "treatment.csv")["in_treatment"].sum()
    need = pd.read_csv(DATA / "need" / "district_need.csv")["need"].sum()
    assert f"met need (people in treatment ÷ estimated need): {100 * treated / need:.1f}%" in text
    areas = pd.read_csv(out_csv)
    assert {"syringes_per_pwid", "who_band", "in_treatment", "met_need"} <= set(areas.columns)
    assert "pwid_need" not in areas.columns


def test_bad_activity_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "act.csv"
    bad.write_text(
        "site_id,period_start,period_end,transactions,syringes\nNOPE,2024-04-01,2024-06-30,5,50\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "harmreach", "coverage", "--activity", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 2
    assert "act.csv" in out.stderr and "row 2" in out.stderr and "Traceback" not in out.stderr
