"""Benchmark site planning: 50 new sites from 5,000 candidates on the demo, T = 15 min walk.

Run: ``python bench/plan.py``. Prints the time and objective of the exact integer program
(HiGHS) and of greedy, and, if PySAL's spopt is installed, of spopt's MCLP (PuLP/CBC) on
the same coverage matrix, as the obvious alternative measured in the same run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

# This folder holds coverage.py, which would shadow the `coverage` package that numba
# imports: put the repository root in the script folder's place on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

K = 50
N_CANDIDATES = 5000


def main() -> None:
    from harmreach.analysis.planning import coverage_matrix, generate_candidates, plan_sites
    from harmreach.analysis.scenario import Params, build_engine, run_coverage, site_xy
    from harmreach.geo.dataset import load_dataset

    ds = load_dataset()
    run = run_coverage(ds, Params(minutes=15, mode="walk"))
    eng = build_engine(run.params, None)
    d = run.demand
    dxy = site_xy(d)
    need = d["need"].to_numpy(float)
    existing = d["n_within"].to_numpy()
    cand = generate_candidates(
        dxy, need, existing == 0, site_xy(run.sites), max_candidates=N_CANDIDATES
    )
    t0 = time.perf_counter()
    a = coverage_matrix(eng, dxy, cand, 15)
    t_matrix = time.perf_counter() - t0
    total = need.sum()
    print(
        f"{len(dxy):,} demand points, {len(cand):,} candidates, k = {K}, T = 15 min walk "
        f"(estimated); coverage matrix {a.nnz:,} pairs in {t_matrix:.2f} s"
    )
    print(f"{'method':<34}{'time s':>9}{'need added':>12}{'covered after':>15}{'gap':>9}")
    rows = {}
    for label, exact, bound in (
        ("exact (HiGHS integer program)", True, True),
        ("greedy", False, False),
        ("greedy + LP bound for its gap", False, True),
    ):
        t0 = time.perf_counter()
        r = plan_sites(a, need, K, existing_count=existing, exact=exact, bound=bound)
        dt = time.perf_counter() - t0
        after = (need[existing >= 1].sum() + r.objective) / total
        gap = "" if r.gap is None else f"{100 * r.gap:.2f}%"
        print(f"{label:<34}{dt:>9.2f}{r.objective:>12.1f}{100 * after:>14.1f}%{gap:>9}")
        rows[label] = (dt, r.objective)
    try:
        from spopt.locate import MCLP
    except ImportError:
        print("spopt not installed: no comparison with PySAL's MCLP")
    else:
        import pulp

        unc = existing == 0
        cost = np.where(a[unc].toarray() > 0, 1.0, 100.0)  # minutes proxy: in reach or not
        t0 = time.perf_counter()
        m = MCLP.from_cost_matrix(cost, need[unc], service_radius=2.0, p_facilities=K)
        m.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=600))
        dt = time.perf_counter() - t0
        chosen = [j for j, v in enumerate(m.fac_vars) if v.value() and v.value() > 0.5]
        obj = float(need[unc][(a[unc][:, chosen].sum(axis=1).A1 > 0)].sum())
        print(f"{'spopt MCLP (PuLP + CBC)':<34}{dt:>9.2f}{obj:>12.1f}")
        ex_t = rows["exact (HiGHS integer program)"][0]
        print(f"exact_speedup_vs_spopt: {dt / ex_t:.1f}")
    print(f"exact_s: {rows['exact (HiGHS integer program)'][0]:.2f}")


if __name__ == "__main__":
    main()
