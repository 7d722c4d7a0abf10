"""The audit across runs (issue 11): several invocations on one dataset with different
options (minutes, a closure, a plan), each a publication of its own, audited jointly from
their outputs, as someone holding all of them would combine them.

The runs publish on one register (``analysis/register.py``), as on one machine. The same
runs with a register each (as on separate machines) are the control: there nothing ties
the publications together, and the audit finds hidden values pinned, which shows that
this audit can fail and that the register is what passes it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from harmreach.geo.dataset import load_dataset
from tests import test_audit as T

#: seeded random small counties (HARMREACH_AUDIT_BATCHES=30 runs three times as many)
N_SEEDS = 4 * max(1, int(os.environ.get("HARMREACH_AUDIT_BATCHES", "10")) // 10)
SEEDS = [3000 + k for k in range(N_SEEDS)]


@pytest.fixture(scope="module")
def demo():
    return load_dataset()


def variants(ds, seed: int) -> list[dict]:
    """Three runs of one county: at T with a closure and a plan, at another T with a plan,
    and at T with another closure."""
    rng = np.random.default_rng(seed)
    m1 = float(rng.choice([5, 10, 15, 20]))
    m2 = m1 + float(rng.choice([-5, 5])) if m1 > 5 else m1 + 5
    ids = [str(s) for s in ds.sites["site_id"]]
    return [
        {"minutes": m1, "close": ids[0] if len(ids) > 1 else None, "plan_k": 2},
        {"minutes": m2, "close": None, "plan_k": 1},
        {"minutes": m1, "close": ids[-1] if len(ids) > 2 else None, "plan_k": 0},
    ]


def audit_across(ds, tmp, runs: list[dict], shared: bool, monkeypatch):
    """Every output of every run, in one audit; the findings over all of them."""
    audit = findings = None
    for i, v in enumerate(runs):
        sub = tmp / f"run{i}"
        sub.mkdir()
        if not shared:
            monkeypatch.setenv("HARMREACH_REGISTER", str(tmp / f"register{i}"))
        findings, stats, audit = T.audit_run(
            ds,
            sub,
            minutes=v["minutes"],
            close=v["close"],
            plan_k=v["plan_k"],
            formats=(".gpkg",),
            extra=("--assume-open",),
            gaps_verb=False,
            audit=audit,
        )
    return findings, stats, audit


@pytest.mark.parametrize("seed", SEEDS)
def test_runs_on_one_register_audit_jointly(demo, tmp_path, seed, monkeypatch):
    ds = T.random_county(demo, seed, tmp_path)
    findings, stats, audit = audit_across(ds, tmp_path, variants(ds, seed), True, monkeypatch)
    assert stats["hidden"] > 0
    assert not audit.failures(findings), T.report(findings, audit)


def test_control_runs_on_separate_registers_can_be_differenced(demo, tmp_path, monkeypatch):
    """The control: the same runs, each on a register of its own, fail the audit for some
    county (the audit has teeth; it is the register that protects)."""
    failed = []
    for seed in SEEDS + [3100 + k for k in range(12)]:
        sub = tmp_path / f"s{seed}"
        sub.mkdir()
        ds = T.random_county(demo, seed, sub)
        findings, _, audit = audit_across(ds, sub, variants(ds, seed), False, monkeypatch)
        if audit.failures(findings):
            failed.append(seed)
            break
    assert failed, "no county's separate publications could be differenced"
