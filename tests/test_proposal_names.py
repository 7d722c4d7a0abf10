"""Proposals at ward level name their ward and their district (issue 12's proposal
properties), on a real area: Rutland is one district, so every proposal's district is
Rutland and its ward is one of the wards the run reports."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

SITES = """site_id,name,type,postcode
P1,Oakham pharmacy,pharmacy,LE15 6DW
P2,Uppingham pharmacy,pharmacy,LE15 9QJ
"""


def test_ward_level_plan_names_ward_and_district(tmp_path):
    (tmp_path / "sites.csv").write_text(SITES)
    args = ["plan", "--add", "2", "--area", "Rutland", "--level", "wards"]
    args += ["--sites", "sites.csv", "--out", "plan.csv"]
    p = subprocess.run(
        [sys.executable, "-m", "harmreach", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    t = pd.read_csv(tmp_path / "plan.csv")
    assert len(t) >= 1
    assert (t["district_name"] == "Rutland").all(), t[["ward_name", "district_name"]]
    # the ward named is a ward of the run: its own published area names
    q = subprocess.run(
        [sys.executable, "-m", "harmreach", "coverage", *args[3:7], "--sites", "sites.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert q.returncode == 0, q.stdout + q.stderr
    for ward in t["ward_name"]:
        assert isinstance(ward, str) and ward in q.stdout, ward
