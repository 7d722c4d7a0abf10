"""Benchmark `harmreach coverage`: the demo by stage (warm), then a national-scale run.

Run: ``python bench/coverage.py [--skip-national]``. The national run takes every English
postcode unit (about 1.5 million) against 2,000 synthetic sites, k = 2, estimated mode,
aggregated to districts, in a fresh process so its peak memory (max RSS) is its own.
Ratios compare the travel stage with the obvious GeoPandas alternative
(``sjoin_nearest``, nearest site only), measured in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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

    from analysis import coverage as cov
    from analysis.exports import export
    from analysis.layers import build_layers
    from analysis.need import need_surface
    from analysis.scenario import Params, run_coverage, site_xy
    from geo.dataset import load_dataset
    from geo.travel import EstimatedEngine

    load_dataset()  # warm: postcode index and file caches
    t_load, ds = timed(load_dataset)
    t_need, surf = timed(lambda: need_surface(ds.demand, ds.need))
    eng = EstimatedEngine("walk")
    dxy, sxy = site_xy(ds.demand), site_xy(ds.sites)
    t_travel, near = timed(lambda: eng.nearest(dxy, sxy, k=2, minutes=15))
    t_agg, (res, layers) = timed(
        lambda: (lambda r: (r, build_layers(ds, r)))(
            run_coverage(ds, Params(), engine=eng, surface=surf)
        )
    )
    tmp = Path(tempfile.mkdtemp())
    t_export, _ = timed(lambda: export(layers, tmp / "areas.geojson", "areas"))
    # the run_coverage figure includes its own travel call; report aggregation net of it
    t_agg_net = max(0.0, t_agg - t_travel)
    total = t_load + t_need + t_travel + t_agg_net + t_export
    print("demo county (Worcestershire), warm, best of 3:")
    for name, t in [
        ("load", t_load),
        ("need", t_need),
        ("travel", t_travel),
        ("aggregate", t_agg_net),
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
    import pandas as pd

    from analysis.coverage import coverage_table
    from geo.postcodes import get_index
    from geo.travel import EstimatedEngine

    t0 = time.perf_counter()
    units = get_index().units
    eng_units = units[units["country_code"] == "E92000001"]
    xy = np.column_stack(
        [eng_units["easting"].to_numpy(float), eng_units["northing"].to_numpy(float)]
    )
    t_load = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    sites = xy[rng.choice(len(xy), 2000, replace=False)] + rng.normal(0, 50, (2000, 2))
    eng = EstimatedEngine("walk")
    t1 = time.perf_counter()
    near = eng.nearest(xy, sites, k=2, minutes=15)
    t_travel = time.perf_counter() - t1
    t2 = time.perf_counter()
    ones = np.ones(len(xy))
    table = coverage_table(
        eng_units["district_code"].to_numpy(),
        ones,
        ones,
        near.time_s[:, 0] / 60,
        15,
        near.time_s[:, 1] / 60,
    )
    t_agg = time.perf_counter() - t2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put(
        (
            len(xy),
            len(table) - 1,
            t_load,
            t_travel,
            t_agg,
            peak_mb,
            float(pd.Series(table["share_covered"]).iloc[-1]),
        )
    )


def national() -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_national, args=(q,))
    t0 = time.perf_counter()
    p.start()
    n, districts, t_load, t_travel, t_agg, peak, share = q.get(timeout=900)
    p.join()
    wall = time.perf_counter() - t0
    print(
        f"national: {n:,} English postcode units × 2,000 synthetic sites, k = 2, "
        f"estimated walk, {districts} districts"
    )
    print(
        f"  load {t_load:.2f} s, travel {t_travel:.2f} s, aggregate {t_agg:.2f} s; "
        f"process wall time {wall:.1f} s (with start-up); peak memory {peak / 1024:.2f} GiB"
    )
    print(f"  share of postcode units within 15 min of a synthetic site: {100 * share:.1f}%")
    print(f"national_total_s: {t_load + t_travel + t_agg:.2f}")
    print(f"national_peak_gib: {peak / 1024:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-national", action="store_true")
    args = ap.parse_args()
    demo_stages()
    if not args.skip_national:
        national()


if __name__ == "__main__":
    main()
