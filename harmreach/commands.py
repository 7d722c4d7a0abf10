"""The verbs of the command line, each printing a short human summary."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from analysis.exports import export
from analysis.layers import Layers, build_layers
from analysis.scenario import CoverageResult, Params, build_engine, run_coverage, site_xy
from geo.dataset import Dataset
from geo.errors import InputError


def params_of(args: argparse.Namespace) -> Params:
    """CLI arguments → analysis parameters."""
    if args.minutes is None or not (0 < args.minutes <= 600):
        raise InputError(f"--minutes {args.minutes} is out of range.", fix="use 1 to 600.")
    types = tuple(t.strip() for t in args.types.split(",")) if args.types else None
    if args.suppress < 0:
        raise InputError("--suppress cannot be negative.", fix="use 0 (off) or more; default 5.")
    return Params(
        mode=args.mode,
        minutes=float(args.minutes),
        at=args.at,
        types=types,
        suppress=args.suppress,
        assume_open=getattr(args, "assume_open", False),
    )


def _network(args: argparse.Namespace, ds: Dataset):  # noqa: ANN202
    if not args.network:
        return None
    from geo.network import network_from_pbf

    return network_from_pbf(args.network, args.mode, crs=ds.crs)


def _pct(x: float | None) -> str:
    return (
        "suppressed" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"
    )


def _num(x: float | None) -> str:
    return "suppressed" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def _run(args: argparse.Namespace, ds: Dataset, steps: int) -> tuple[CoverageResult, tqdm]:
    """Coverage for the arguments; the travel engine is kept on ``args`` for later steps."""
    bar = tqdm(
        total=steps, desc="harmreach", unit="step", leave=False, disable=None
    )  # disable=None: no bar when stderr is not a terminal
    params = params_of(args)
    bar.set_postfix_str("travel network" if args.network else "estimated travel")
    args.engine = build_engine(params, _network(args, ds))
    bar.update()
    bar.set_postfix_str("coverage")
    result = run_coverage(ds, params, engine=args.engine)
    bar.update()
    return result, bar


def _candidates(args: argparse.Namespace, ds: Dataset) -> tuple[np.ndarray, str]:
    """Candidate sites from ``--candidates`` (site_id, name and type optional)."""
    from geo.sites import read_sites

    cands, rep = read_sites(
        args.candidates,
        crs=ds.crs,
        study_area=ds.areas,
        strict=not args.skip_bad_rows,
        defaults={"site_id": "C", "name": "candidate", "type": "satellite"},
    )
    return site_xy(cands), f"file {Path(args.candidates).name} ({rep.rows_used} candidates)"


def _header(ds: Dataset, result: CoverageResult, layers: Layers) -> list[str]:
    p = result.params
    lines = [f"travel model: {result.model}"]
    if "estimated" in result.model:
        lines.append("travel times are ESTIMATED (no street network given: use --network)")
    for line in ds.provenance():
        lines.append(f"input {line}")
    for rep in ds.reports:
        if rep.skipped:
            lines.append(rep.summary())
    if ds.need is None:
        lines.append("need: no need file; national OCU rate applied to residents")
    lines.append(result.need_info.summary())
    when = f" at {p.at}" if p.at else ""
    n_play = int(result.sites["in_play"].sum())
    lines.append(f"sites in play: {n_play} of {len(result.sites)}{when}")
    lines += [f"note: {n}" for n in result.notes]
    if layers.suppressed_cells:
        lines.append(
            f"suppressed cells (counts under {p.suppress}, and cells that would "
            f"reveal them): {layers.suppressed_cells}"
        )
    return lines


def _write(layers: Layers, out: str | None, layer: str) -> list[str]:
    if not out:
        return []
    paths = export(layers, out, layer=layer)
    return [f"wrote {p}" for p in paths]


def coverage(args: argparse.Namespace, ds: Dataset) -> int:
    """Need covered within T minutes, per area and overall."""
    result, bar = _run(args, ds, 3)
    layers = build_layers(ds, result, round_to=args.round_to)
    bar.update()
    bar.close()
    p = result.params
    pub = layers.table.set_index("area_code").loc["ALL"]
    lines = _header(ds, result, layers)
    lines.append(f"within {p.minutes:g} minutes by {p.mode}:")
    lines.append(f"need covered: {_pct(pub['share_covered'])}")
    lines.append(
        f"need beyond {p.minutes:g} minutes: {_num(pub['need_uncovered'])} of {_num(pub['need'])}"
    )
    lines.append(f"need with two or more sites within reach (backup): {_pct(pub['share_backup'])}")
    for _, r in result.by_type.iterrows():
        lines.append(f"covered by {r['site_group']} alone: {100 * r['share_covered']:.1f}%")
    if "access_e2sfca" in pub.index and pub["access_e2sfca"] == pub["access_e2sfca"]:
        lines.append(
            f"capacity per person in need within reach (E2SFCA, capacity units a "
            f"week): {pub['access_e2sfca']:.2f}"
        )
    lines.append("")
    lines.append(f"{'area':<28}{'need':>9}{'covered':>10}{'share':>9}{'median min':>12}")
    for _, r in layers.areas.sort_values("area_name").iterrows():
        lines.append(
            f"{str(r['area_name'])[:27]:<28}{_num(r['need']):>9}"
            f"{_num(r['need_covered']):>10}{_pct(r['share_covered']):>9}"
            f"{r['median_min']:>12.1f}"
        )
    if args.close:
        lines += _closure_lines(ds, result, args)
    if args.profile:
        lines += _profile(ds, result, args)
    lines += _write(layers, args.out, "areas")
    print("\n".join(lines))
    return 0


def _closure_lines(ds: Dataset, result: CoverageResult, args: argparse.Namespace) -> list[str]:
    """What if sites close: per-area change and need losing access (suppressed)."""
    from analysis.scenario import compare_runs, published_comparison, with_sites_changed

    ids = [x.strip() for x in args.close.split(",") if x.strip()]
    after = run_coverage(with_sites_changed(ds, close=ids), result.params)
    cmp = published_comparison(compare_runs(result, after), result.params.suppress)
    lost = cmp["need_losing_access"].to_numpy(float)
    lines = ["", f"if {', '.join(ids)} closed:"]
    lines.append(f"{'area':<28}{'before':>9}{'after':>9}{'change':>9}{'need losing access':>20}")
    for (_, r), lo in zip(cmp.iterrows(), lost, strict=True):
        lines.append(
            f"{str(r['area_name'])[:27]:<28}{_pct(r['share_before']):>9}"
            f"{_pct(r['share_after']):>9}{100 * r['change']:>+8.1f}p{_num(lo):>20}"
        )
    return lines


def _profile(ds: Dataset, result: CoverageResult, args: argparse.Namespace) -> list[str]:
    """Write the weekly profile CSV; report the worst hours."""
    from analysis.exports import csv_text
    from analysis.weekly import weekly_profile

    out = Path(args.profile)
    if out.suffix.lower() != ".csv" or not out.parent.exists():
        raise InputError(
            f"cannot write the profile to '{out}'.", fix="give a .csv path in an existing folder."
        )
    prof = weekly_profile(
        result,
        args.engine,
        assume_open_missing=result.params.assume_open,
    )
    names = ds.areas.set_index("area_code")["area_name"]
    by_area = prof.by_area.assign(area_name=prof.by_area["area_code"].map(names))
    overall = prof.overall.assign(area_code="ALL", area_name="All areas")
    table = pd.concat([overall, by_area], ignore_index=True)[
        ["area_code", "area_name", "day", "hour", "share_covered", "sites_open"]
    ]
    table["sites_open"] = table["sites_open"].astype("Int64")
    meta = {
        "layer": "weekly_profile",
        **result.params.describe(),
        "travel_model": result.model,
        "need_hours_per_week": round(prof.need_hours),
        "need_hours_if_always_open": round(prof.need_hours_max),
    }
    out.write_text(csv_text(table, meta), encoding="utf-8")
    worst = "; ".join(
        f"{r.day} {r.hour:02d}:00 {100 * r.share_covered:.1f}%" for r in prof.worst(3).itertuples()
    )
    return [
        "",
        f"worst hours: {worst}",
        f"need-hours of access a week: {prof.need_hours:,.0f} of {prof.need_hours_max:,.0f} "
        "if every site within reach were always open",
        f"wrote {out}",
    ]


def gaps(args: argparse.Namespace, ds: Dataset) -> int:
    """Clusters of need beyond T minutes, ranked by need."""
    result, bar = _run(args, ds, 3)
    layers = build_layers(ds, result, round_to=args.round_to)
    bar.update()
    bar.close()
    p = result.params
    g = layers.gaps
    lines = _header(ds, result, layers)
    lines.append(
        f"gaps (need beyond {p.minutes:g} minutes by {p.mode}, points within "
        f"500 m joined): {len(g)}"
    )
    lines.append(f"{'rank':>4}  {'area':<22}{'need':>9}{'residents':>11}{'min to site':>12}")
    for _, r in g.head(10).iterrows():
        lines.append(
            f"{r['rank']:>4}  {str(r['area_name'])[:21]:<22}{_num(r['need']):>9}"
            f"{_num(r['residents']):>11}{r['nearest_min']:>12.1f}"
        )
    if len(g) > 10:
        lines.append(f"… and {len(g) - 10} more (see --out)")
    lines += _write(layers, args.out, "gaps")
    print("\n".join(lines))
    return 0


def hotspots(args: argparse.Namespace, ds: Dataset) -> int:
    """Hotspots of need: kernel density and Getis-Ord Gi* on a 1 km grid."""
    from analysis.hotspots import find_hotspots
    from analysis.need import need_surface
    from geo.dataset import DEMO_COUNTS
    from geo.need import read_need

    counts_file = args.counts or (DEMO_COUNTS if args.areas is None else None)
    result, bar = _run(args, ds, 4)
    if counts_file:
        counts = read_need(counts_file)
        surf = need_surface(ds.demand, counts)
        label = f"client counts from {Path(str(counts_file)).name}"
        if counts.illustrative or counts_file == DEMO_COUNTS:
            label += " (ILLUSTRATIVE)"
    else:
        surf = result.need_info
        label = "need surface"
    if not 0 < args.alpha < 1:
        raise InputError(f"--alpha {args.alpha} must be between 0 and 1.", fix="e.g. 0.05.")
    cells, hs = find_hotspots(
        site_xy(ds.demand), surf.need, ds.areas.union_all(), alpha=args.alpha, crs=ds.crs
    )
    bar.update()
    names = ds.areas
    if len(hs):
        hs["area_name"] = [
            ", ".join(names[names.intersects(geom)]["area_name"].tolist()[:3])
            for geom in hs.geometry
        ]
    layers = build_layers(
        ds, result, hotspots=hs, hotspot_cells=cells, extra_meta={"hotspot_input": label}
    )
    bar.update()
    bar.close()
    lines = _header(ds, result, layers)
    lines.append(
        f"hotspots of {label}: Getis-Ord Gi* on 1 km cells, p < {args.alpha:g} "
        f"(two-sided): {len(hs)}"
    )
    pub = layers.hotspots
    for _, r in pub.head(10).iterrows():
        lines.append(
            f"{r['rank']:>4}  {str(r['area_name'])[:30]:<31}{_num(r['need']):>9}"
            f"   max z {r['max_z']:.1f}   {r['cells']} km²"
        )
    lines += _write(layers, args.out, "hotspots")
    print("\n".join(lines))
    return 0


def plan(args: argparse.Namespace, ds: Dataset) -> int:
    """Where the next K satellite sites cover the most unmet need."""
    import geopandas as gpd
    import numpy as np

    from analysis.disclosure import suppress_group
    from analysis.exports import write_geojson
    from analysis.planning import plan_for_run

    if args.sessions:
        return plan_sessions(args, ds)
    if args.add is None or args.add < 1:
        raise InputError(f"--add {args.add}: ask for at least one new site.", fix="e.g. --add 3.")
    result, bar = _run(args, ds, 4)
    engine = args.engine
    cand_xy = None
    cand_from = "generated: 250 m cells of uncovered need, at least 400 m from any site"
    if args.candidates:
        cand_xy, cand_from = _candidates(args, ds)
    exact = {"exact": True, "greedy": False, "auto": None}[args.solver]
    names = ds.areas.set_index("area_code")["area_name"]
    avoid = None
    if args.avoid:
        from geo.areas import read_areas

        avoid = read_areas(args.avoid, crs=ds.crs).union_all()
        cand_from += f"; avoiding {Path(args.avoid).name}"
    sp_ = plan_for_run(
        result,
        engine,
        args.add,
        candidates_xy=cand_xy,
        candidates_from=cand_from,
        objective=args.objective,
        exact=exact,
        min_distance_m=args.min_distance,
        area_names=names,
        avoid=avoid,
    )
    bar.update()
    layers = build_layers(ds, result, round_to=args.round_to)
    bar.update()
    bar.close()
    t = sp_.table.copy()
    thr = result.params.suppress
    hide = suppress_group(t["need_added"].to_numpy(float), True, thr) if len(t) else []
    t["need_added"] = t["need_added"].where(~np.asarray(hide, bool)) if len(t) else t["need_added"]
    lines = _header(ds, result, layers)
    r = sp_.result
    lines.append(f"candidates: {sp_.n_candidates} ({sp_.candidates_from})")
    gap = "" if r.gap is None else f", gap to bound {100 * r.gap:.2f}%"
    lines.append(
        f"method: {r.method}; {'optimal' if r.optimal else 'not proven optimal'}"
        f"{gap}; {r.seconds:.2f} s; objective: {args.objective}"
    )
    lines += [f"note: {n}" for n in r.notes]
    lines.append(f"need covered before: {100 * sp_.share_before:.1f}%")
    lines.append(f"need covered after: {100 * sp_.share_after:.1f}%")
    lines.append(
        f"{'#':>3}  {'need added':>10}  {'covered after':>13}  {'lon':>9} {'lat':>9}  areas gaining"
    )
    ll = gpd.GeoSeries(sp_.proposed.geometry, crs=ds.crs).to_crs(4326) if len(t) else []
    for i, row in t.iterrows():
        lines.append(
            f"{row['order']:>3}  {_num(row['need_added']):>10}  "
            f"{100 * row['share_covered_after']:>12.1f}%  {ll.iloc[i].x:>9.5f} "
            f"{ll.iloc[i].y:>9.5f}  {row['areas_gaining']}"
        )
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() != ".geojson":
            raise InputError("plan writes GeoJSON.", fix="end --out with .geojson.")
        if not out.parent.exists():
            raise InputError(f"folder '{out.parent}' does not exist.", fix="create it first.")
        prop = gpd.GeoDataFrame(
            t.drop(columns=["x", "y", "candidate"]),
            geometry=sp_.proposed.geometry.values,
            crs=ds.crs,
        )
        meta = {
            **layers.metadata,
            "layer": "proposed_sites",
            "plan_method": r.method,
            "plan_objective": args.objective,
            "candidates": sp_.candidates_from,
            "need_covered_before": round(sp_.share_before, 4),
            "need_covered_after": round(sp_.share_after, 4),
        }
        write_geojson(out, prop, meta)
        lines.append(f"wrote {out}")
    print("\n".join(lines))
    return 0


#: Generated candidates for sessions: the cells with the most need beyond reach.
SESSION_CANDIDATES = 30


def plan_sessions(args: argparse.Namespace, ds: Dataset) -> int:
    """Choose satellite sessions (site + time slot) adding the most need-hours of access."""
    import geopandas as gpd
    import numpy as np

    from analysis.hours import SLOTS_PER_DAY, weekly_masks
    from analysis.planning import coverage_matrix, generate_candidates
    from analysis.sessions import plan_sessions as choose
    from analysis.weekly import reach_matrix

    if args.sessions < 1:
        raise InputError("--sessions must be at least 1.", fix="e.g. --sessions 4.")
    result, bar = _run(args, ds, 3)
    engine = args.engine
    d = result.demand
    dxy = site_xy(d)
    need = d["need"].to_numpy(float)
    base = result.sites[result.sites["active"]]
    masks, _ = weekly_masks(base, assume_open_missing=args.assume_open)
    hourly = masks[:, :: SLOTS_PER_DAY // 24]
    reach_sites = reach_matrix(engine, dxy, site_xy(base), result.params.minutes)
    open_cover = (reach_sites.astype(np.float32) @ hourly.astype(np.float32)) > 0
    if args.candidates:
        cand_xy, cand_from = _candidates(args, ds)
    else:
        cand_xy = generate_candidates(
            dxy,
            need,
            ~open_cover.any(axis=1) | (d["n_within"] == 0).to_numpy(),
            site_xy(base),
            max_candidates=SESSION_CANDIDATES,
        )
        cand_from = "generated over need beyond reach"
    bar.update()
    reach = coverage_matrix(engine, dxy, cand_xy, result.params.minutes).toarray() > 0
    sp_ = choose(
        reach,
        open_cover,
        need,
        args.sessions,
        length_h=args.session_hours,
        exact=args.solver != "greedy",
    )
    bar.update()
    bar.close()
    layers = build_layers(ds, result, round_to=args.round_to)
    lines = _header(ds, result, layers)
    lines.append(
        f"candidates: {len(cand_xy)} ({cand_from}); sessions of "
        f"{args.session_hours} h starting 08:00-19:00; method: {sp_.method}"
    )
    lines.append(f"need-hours of access a week before: {sp_.need_hours_before:,.0f}")
    lines.append(f"need-hours of access a week after: {sp_.need_hours_after:,.0f}")
    ll = gpd.GeoSeries(gpd.points_from_xy(cand_xy[:, 0], cand_xy[:, 1]), crs=ds.crs).to_crs(4326)
    for i, r in enumerate(sp_.sessions.itertuples(), start=1):
        p = ll.iloc[r.candidate]
        lines.append(
            f"{i:>3}  {r.day} {r.start}-{r.end}  at {p.y:.5f}, {p.x:.5f}  "
            f"+{r.need_hours_added:,.0f} need-hours"
        )
    print("\n".join(lines))
    return 0
