"""Benchmark `harmreach coverage`: the demo by stage (warm), then a national-scale run.

Run: ``python bench/coverage.py [--skip-national]``. The national run takes every English
postcode unit (about 1.5 million) against 2,000 synthetic sites, estimated mode, through
every stage a coverage run has (need, travel k = 2 within T, coverage table and curve,
coverage by site type, E2SFCA access from sparse pairs within T, gaps, suppression),
aggregated to districts, in a fresh process so its peak memory (max RSS) is its own.
Ratios compare the travel stage with the obvious GeoPandas alternative
(``sjoin_nearest``, nearest site only), measured in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# This folder holds coverage.py, which would shadow the `coverage` package that numba
# imports: put the repository root in the script folder's place on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)


def timed(fn, repeat=3):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def demo_stages() -> None:
    import geopandas as gpd

    from harmreach.analysis import coverage as cov
    from harmreach.analysis import publish
    from harmreach.analysis.exports import export
    from harmreach.analysis.need import need_surface
    from harmreach.analysis.scenario import Params, run_coverage, site_xy
    from harmreach.geo.dataset import load_dataset
    from harmreach.geo.travel import EstimatedEngine

    load_dataset()  # warm: postcode index and file caches
    t_load, ds = timed(load_dataset)
    t_need, surf = timed(lambda: need_surface(ds.demand, ds.need))
    eng = EstimatedEngine("walk")
    dxy, sxy = site_xy(ds.demand), site_xy(ds.sites)
    t_travel, near = timed(lambda: eng.nearest(dxy, sxy, k=2, minutes=15))
    t_agg, res = timed(lambda: run_coverage(ds, Params(), engine=eng, surface=surf))
    t_pub, layers = timed(lambda: publish.coverage(ds, res))
    tmp = Path(tempfile.mkdtemp())
    t_export, _ = timed(lambda: export(layers, tmp / "areas.geojson", "areas"))
    # the run_coverage figure includes its own travel call; report aggregation net of it
    t_agg_net = max(0.0, t_agg - t_travel)
    total = t_load + t_need + t_travel + t_agg_net + t_pub + t_export
    print("demo county (Worcestershire), warm, best of 3:")
    for name, t in [
        ("load", t_load),
        ("need", t_need),
        ("travel", t_travel),
        ("aggregate", t_agg_net),
        ("publish", t_pub),
        ("export", t_export),
        ("total", total),
    ]:
        print(f"  {name:<10}{t:>8.3f} s")
    pts = gpd.GeoDataFrame(geometry=ds.demand.geometry.values, crs=ds.crs)
    sites = gpd.GeoDataFrame(geometry=ds.sites.geometry.values, crs=ds.crs)
    t_sj, joined = timed(lambda: gpd.sjoin_nearest(pts, sites, distance_col="d"))
    d_ours = near.time_s[:, 0] * eng.speed_ms / eng.detour
    d_ref = joined.groupby(level=0)["d"].min().to_numpy()
    agree = np.allclose(d_ours, d_ref, atol=1e-6)
    print(
        f"  travel stage vs geopandas sjoin_nearest (k=1 only): {t_sj / t_travel:.1f}x "
        f"faster; distances agree: {'yes' if agree else 'NO'}"
    )
    print(f"  need covered: {100 * res.share_covered:.1f}%  (cov total row {cov.TOTAL_CODE})")
    print(f"demo_total_s: {total:.3f}")


def _national(q: mp.Queue) -> None:
    """Every stage `coverage` runs, at national scale, estimated mode, in this process."""
    import geopandas as gpd
    import pandas as pd

    from harmreach.analysis import coverage as cov
    from harmreach.analysis.access import access_scores
    from harmreach.analysis.disclosure import suppress_group, suppress_table
    from harmreach.analysis.gaps import find_gaps
    from harmreach.analysis.need import need_surface
    from harmreach.geo import settings
    from harmreach.geo.postcodes import get_index
    from harmreach.geo.travel import EstimatedEngine

    minutes = 15.0
    thr = settings.SUPPRESSION_THRESHOLD
    stages: dict[str, float] = {}

    def stage(name, fn):
        t0 = time.perf_counter()
        out = fn()
        stages[name] = time.perf_counter() - t0
        return out

    def load():
        units = get_index().units
        eng_units = units[units["country_code"] == "E92000001"].reset_index(drop=True)
        demand = gpd.GeoDataFrame(
            {
                "postcode": eng_units["postcode"].to_numpy(),
                "area_code": eng_units["district_code"].to_numpy(),
                "residents": np.ones(len(eng_units)),  # Code-Point Open: one weight per unit
            },
            geometry=gpd.points_from_xy(eng_units["easting"], eng_units["northing"]),
            crs=settings.BNG_EPSG,
        )
        return demand

    demand = stage("load", load)
    xy = np.column_stack([demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()])
    rng = np.random.default_rng(0)
    n_sites = 2000
    sxy = xy[rng.choice(len(xy), n_sites, replace=False)] + rng.normal(0, 50, (n_sites, 2))
    kinds = rng.choice(["pharmacy", "drug_service", "hospital"], n_sites, p=[0.7, 0.15, 0.15])
    capacity = rng.uniform(50, 500, n_sites)
    eng = EstimatedEngine("walk")
    surf = stage("need", lambda: need_surface(demand, None))
    need = surf.need
    near = stage("travel k=2", lambda: eng.nearest(xy, sxy, k=2, minutes=minutes))
    nearest_min = near.time_s[:, 0] / 60
    codes = demand["area_code"].to_numpy()
    residents = demand["residents"].to_numpy(float)

    def coverage():
        table = cov.coverage_table(
            codes, need, residents, nearest_min, minutes, near.time_s[:, 1] / 60
        )
        curve = cov.coverage_curve(need, nearest_min, settings.CURVE_MAX_MINUTES)
        return table, curve

    table, _ = stage("coverage table + curve", coverage)

    def by_type():
        rows = []
        for kind in ("pharmacy", "drug_service", "hospital"):
            sub = kinds == kind
            t = eng.nearest(xy, sxy[sub], k=1).time_s[:, 0] / 60
            rows.append((kind, float(need[t <= minutes].sum())))
        return rows

    stage("by site type (k=1 each)", by_type)

    def access():
        a, _, nnz = access_scores(eng, xy, sxy, need, capacity, minutes)
        per_area = pd.Series(need * a).groupby(codes).sum() / pd.Series(need).groupby(codes).sum()
        return nnz, per_area

    nnz, _ = stage("E2SFCA (sparse within T)", access)

    def gaps():
        return find_gaps(
            xy,
            need,
            residents,
            codes,
            nearest_min,
            minutes,
            crs=settings.BNG_EPSG,
            min_need=thr,
            sites_xy=sxy,
        )

    gap_df, _ = stage("gaps", gaps)

    def suppression():
        pub, hidden = suppress_table(
            table,
            [
                "need",
                "need_covered",
                "need_uncovered",
                "need_backup",
                "residents",
                "residents_covered",
            ],
            total_row=cov.TOTAL_CODE,
            parts={"need": ["need_covered", "need_uncovered"], "residents": ["residents_covered"]},
            shares={"share_covered": "need_covered", "share_backup": "need_backup"},
            threshold=thr,
        )
        if len(gap_df):
            hidden += int(suppress_group(gap_df["need"].to_numpy(float), True, thr).sum())
        # per demand point, within each area (the demand layer)
        hide = np.zeros(len(need), dtype=bool)
        for idx in pd.Series(np.arange(len(need))).groupby(codes).indices.values():
            hide[idx] = suppress_group(need[idx], True, thr)
        return hidden + int(hide.sum())

    n_hidden = stage("suppression (disclosure)", suppression)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put(
        (
            len(xy),
            len(table) - 1,
            stages,
            peak_mb,
            float(table["share_covered"].iloc[-1]),
            nnz,
            len(gap_df),
            n_hidden,
        )
    )


def national() -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_national, args=(q,))
    t0 = time.perf_counter()
    p.start()
    while True:
        try:
            got = q.get(timeout=5)
            break
        except Exception:  # noqa: BLE001 - queue.Empty: still running, or the child died
            if not p.is_alive():
                raise SystemExit(f"the national run died (exit code {p.exitcode})") from None
            if time.perf_counter() - t0 > 900:
                p.kill()
                raise SystemExit("the national run took over 900 s") from None
    p.join()
    n, districts, stages, peak, share, nnz, n_gaps, n_hidden = got
    wall = time.perf_counter() - t0
    print(
        f"national: {n:,} English postcode units × 2,000 synthetic sites (with capacity), "
        f"estimated walk, T = 15 min, {districts} districts; every stage of a coverage run"
    )
    for name, t in stages.items():
        print(f"  {name:<52}{t:>8.2f} s")
    total = sum(stages.values())
    print(
        f"  pairs within T for E2SFCA: {nnz:,} (a dense matrix would be "
        f"{n * 2000 * 4 / 2**30:.1f} GiB as float32); gaps: {n_gaps:,}; cells hidden: {n_hidden:,}"
    )
    print(
        f"  total {total:.1f} s; process wall time {wall:.1f} s (with start-up); "
        f"peak memory (max RSS) {peak / 1024:.2f} GiB"
    )
    print(f"  share of need within 15 min of a synthetic site: {100 * share:.1f}%")
    print(f"national_total_s: {total:.2f}")
    print(f"national_peak_gib: {peak / 1024:.2f}")


def _national_dataset():
    """Every English postcode unit, 2,000 synthetic sites with capacity, districts as hulls."""
    import geopandas as gpd
    import pandas as pd
    import shapely
    from pyproj import CRS

    from harmreach.geo import settings
    from harmreach.geo.dataset import Dataset
    from harmreach.geo.postcodes import get_index

    units = get_index().units
    u = units[units["country_code"] == "E92000001"].reset_index(drop=True)
    demand = gpd.GeoDataFrame(
        {
            "postcode": u["postcode"].to_numpy(),
            "area_code": u["district_code"].to_numpy(),
            "district_code": u["district_code"].to_numpy(),
            "ward_code": u["ward_code"].to_numpy(),
            "residents": np.ones(len(u)),  # Code-Point Open: one weight per unit
        },
        geometry=gpd.points_from_xy(u["easting"], u["northing"]),
        crs=settings.BNG_EPSG,
    )
    xy = np.column_stack([u["easting"].to_numpy(float), u["northing"].to_numpy(float)])
    groups = pd.Series(np.arange(len(u))).groupby(u["district_code"].to_numpy()).indices
    codes = list(groups)
    hulls = [
        shapely.buffer(shapely.convex_hull(shapely.multipoints(xy[groups[c]])), 100.0)
        for c in codes
    ]
    areas = gpd.GeoDataFrame(
        {"area_code": codes, "area_name": codes}, geometry=hulls, crs=settings.BNG_EPSG
    )
    rng = np.random.default_rng(0)
    n = 2000
    sxy = xy[rng.choice(len(xy), n, replace=False)] + rng.normal(0, 50, (n, 2))
    sites = gpd.GeoDataFrame(
        {
            "site_id": [f"S{i}" for i in range(n)],
            "name": [f"site {i}" for i in range(n)],
            "type": rng.choice(["pharmacy", "drug_service", "hospital"], n, p=[0.7, 0.15, 0.15]),
            "opening_hours": [None] * n,
            "capacity": rng.uniform(50, 500, n),
            "services": [None] * n,
            "active": np.ones(n, bool),
            "illustrative": np.ones(n, bool),
        },
        geometry=gpd.points_from_xy(sxy[:, 0], sxy[:, 1]),
        crs=settings.BNG_EPSG,
    )
    return Dataset(
        areas=areas, sites=sites, demand=demand, need=None, crs=CRS.from_epsg(settings.BNG_EPSG)
    )


def _national_as_used(q: mp.Queue) -> None:
    """``run_coverage`` then ``publish.coverage``, the calls the CLI makes, under 12 GiB."""
    # An address-space cap: a dense points × sites matrix fails here with MemoryError
    # instead of taking the machine's memory.
    cap = 12 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # a register of its own: the first publication of these data, as on a fresh machine
    os.environ["HARMREACH_REGISTER"] = tempfile.mkdtemp(prefix="harmreach_register_")
    from harmreach.analysis import publish
    from harmreach.analysis.scenario import Params, run_coverage
    from harmreach.geo.travel import EstimatedEngine

    stages: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        ds = _national_dataset()
        stages["build dataset"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = run_coverage(ds, Params(), engine=EstimatedEngine("walk"))
        stages["run_coverage"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        publish.coverage(ds, res)
        stages["publish.coverage"] = time.perf_counter() - t0
        # a second run of the same data (another T), published on top of the first one
        # through the register (analysis/register.py), as a user's next run would be
        res20 = run_coverage(ds, Params(minutes=20), engine=EstimatedEngine("walk"))
        t0 = time.perf_counter()
        publish.coverage(ds, res20)
        stages["publish.coverage, 20 min on top of the 15-min run"] = time.perf_counter() - t0
        err = ""
    except MemoryError:
        err = "MemoryError (over the 12 GiB cap)"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put((stages, peak_mb, err))


def national_as_used() -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_national_as_used, args=(q,))
    t0 = time.perf_counter()
    p.start()
    while True:
        try:
            stages, peak, err = q.get(timeout=5)
            break
        except Exception:  # noqa: BLE001 - queue.Empty: still running, or the child died
            if not p.is_alive():
                print(f"national as used: the run died (exit code {p.exitcode})")
                return
            if time.perf_counter() - t0 > 1200:
                p.kill()
                print("national as used: over 1,200 s, stopped")
                return
    p.join()
    print("national as used (run_coverage + publish.coverage, as the CLI calls them):")
    for name, t in stages.items():
        print(f"  {name:<52}{t:>8.2f} s")
    if err:
        print(f"  stopped: {err}")
    print(f"  peak memory (max RSS) {peak / 1024:.2f} GiB")
    if not err:
        first = sum(t for name, t in stages.items() if "on top" not in name)
        print(f"national_as_used_total_s: {first:.2f} (the first run)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-national", action="store_true")
    ap.add_argument("--national-only", action="store_true")
    ap.add_argument(
        "--as-used",
        action="store_true",
        help="also run the national case through run_coverage + publish.coverage",
    )
    args = ap.parse_args()
    if not args.national_only:
        demo_stages()
    if not args.skip_national:
        national()
        if args.as_used:
            national_as_used()


if __name__ == "__main__":
    main()
