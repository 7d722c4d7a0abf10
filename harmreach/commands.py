"""The verbs of the command line, each printing a short human summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from harmreach.analysis import publish
from harmreach.analysis.exports import export, write_csv, write_geojson
from harmreach.analysis.publish import Published
from harmreach.analysis.scenario import CoverageResult, Params, build_engine, run_coverage, site_xy
from harmreach.geo import crs as crsmod
from harmreach.geo.dataset import Dataset
from harmreach.geo.errors import InputError


def params_of(args: argparse.Namespace) -> Params:
    """CLI arguments → analysis parameters."""
    if args.minutes is None or not (0 < args.minutes <= 600):
        raise InputError(f"--minutes {args.minutes} is out of range.", fix="use 1 to 600.")
    types = tuple(t.strip() for t in args.types.split(",")) if args.types else None
    publish.check_threshold(args.suppress, _unsafe(args))
    return Params(
        mode=args.mode,
        minutes=float(args.minutes),
        at=args.at,
        types=types,
        suppress=args.suppress,
        assume_open=getattr(args, "assume_open", False),
    )


def _unsafe(args: argparse.Namespace) -> bool:
    """Whether ``--unsafe-suppress-below-5`` was given."""
    return bool(getattr(args, "unsafe_suppress_below_5", False))


def _publish(ds: Dataset, result: CoverageResult, args: argparse.Namespace, **kw) -> Published:
    """The run through the publishing gate, with the CLI's rounding and safety options."""
    return publish.coverage(
        ds, result, unsafe=_unsafe(args), round_to=getattr(args, "round_to", None), **kw
    )


def _network(args: argparse.Namespace, ds: Dataset):  # noqa: ANN202
    if not args.network:
        return None
    from harmreach.geo.network import network_from_pbf

    return network_from_pbf(args.network, args.mode, crs=ds.crs)


_pct = publish.share_text
_num = publish.count_text


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
    from harmreach.geo.sites import read_sites

    cands, rep = read_sites(
        args.candidates,
        crs=ds.crs,
        study_area=ds.areas,
        strict=not args.skip_bad_rows,
        defaults={"site_id": "C", "name": "candidate", "type": "satellite"},
    )
    return site_xy(cands), f"file {Path(args.candidates).name} ({rep.rows_used} candidates)"


def _header(ds: Dataset, result: CoverageResult, pub: Published) -> list[str]:
    p = result.params
    lines = []
    if "UNSAFE" in str(pub.metadata["suppression"]):
        lines.append(f"WARNING: {pub.metadata['suppression']}")
    lines.append(f"travel model: {result.model}")
    if "estimated" in result.model:
        lines.append("travel times are ESTIMATED (no street network given: use --network)")
    for line in ds.provenance():
        lines.append(f"input {line}")
    for rep in ds.reports:
        if rep.skipped or rep.notes:
            lines.append(rep.summary())
    lines += [f"note: {publish.note(pub, n)}" for n in ds.notes]
    lines += [f"published reference: {r}" for r in ds.references]
    if ds.need is None:
        lines.append("need: no need file; national OCU rate applied to residents")
    lines.append(f"need spread over demand points: {result.need_info.method}")
    when = f" at {p.at}" if p.at else ""
    n_play = int(result.sites["in_play"].sum())
    lines.append(f"sites in play: {n_play} of {len(result.sites)}{when}")
    lines += [f"note: {publish.note(pub, n)}" for n in result.notes]
    lines += [f"note: {n}" for n in pub.notes]
    if pub.suppressed_cells:
        lines.append(
            f"hidden cells (counts under {p.suppress}, and cells that would "
            f"reveal them): {pub.suppressed_cells}"
        )
    return lines


def _write(pub: Published, out: str | None, layer: str) -> list[str]:
    if not out:
        return []
    paths = export(pub, out, layer=layer)
    return [f"wrote {p}" for p in paths]


def coverage(args: argparse.Namespace, ds: Dataset) -> int:
    """Need covered within T minutes, per area and overall."""
    result, bar = _run(args, ds, 3)
    pub = _publish(ds, result, args)
    bar.update()
    bar.close()
    p = result.params
    row = pub.table.set_index("area_code").loc["ALL"]
    h = pub.headlines
    lines = _header(ds, result, pub)
    lines.append(f"within {p.minutes:g} minutes by {p.mode}:")
    lines.append(f"need covered: {h['need_covered']}")
    lines.append(f"need beyond {p.minutes:g} minutes: {h['need_beyond']} of {h['need_total']}")
    if "backup" in h:
        lines.append(f"need with two or more sites within reach (backup): {h['backup']}")
    for key, head in h.items():
        if key.startswith("by_type:"):
            lines.append(f"{head.label}: {head}")
    if "access_e2sfca" in row.index and row["access_e2sfca"] == row["access_e2sfca"]:
        lines.append(
            f"capacity per person in need within reach (E2SFCA, capacity units a "
            f"week): {row['access_e2sfca']:.2f}"
        )
    lines.append("")
    lines.append(f"{'area':<28}{'need':>9}{'covered':>10}{'share':>9}{'median min':>12}")
    for _, r in pub.table.iloc[:-1].sort_values("area_name").iterrows():
        med = "" if r["median_min"] != r["median_min"] else f"{r['median_min']:.1f}"
        lines.append(
            f"{str(r['area_name'])[:27]:<28}{_num(r['need']):>9}"
            f"{_num(r['need_covered']):>10}{_pct(r['share_covered']):>9}{med:>12}"
        )
    if getattr(args, "activity", None) or getattr(args, "treatment", None):
        lines += _supply_lines(ds, result, pub, args)
    if args.close:
        lines += _closure_lines(ds, result, pub, args)
    if args.profile:
        lines += _profile(ds, result, pub, args)
    lines += ["", f"legend: {pub.legend}"]
    lines += _write(pub, args.out, "areas")
    print("\n".join(lines))
    return 0


def _supply_lines(
    ds: Dataset, result: CoverageResult, pub: Published, args: argparse.Namespace
) -> list[str]:
    """Equipment coverage and met need, published; their columns join the areas layer."""
    import pandas as pd

    from harmreach.analysis.equipment import run_equipment, run_met_need
    from harmreach.geo.activity import read_activity
    from harmreach.geo.treatment import read_treatment

    lines = [""]
    extra = pd.DataFrame({"area_code": pub.areas["area_code"].to_numpy()})
    if args.activity:
        act = read_activity(
            args.activity, site_ids=ds.sites["site_id"], syringes_per_pack=args.pack_size
        )
        eq = run_equipment(
            ds,
            act,
            result.params,
            engine=args.engine,
            surface=result.need_info,
            need_basis=args.need_is,
        )
        pe = publish.equipment(pub, eq)
        flag = " (ILLUSTRATIVE activity)" if act.illustrative else ""
        lines.append(f"input activity: {Path(args.activity).name}{flag}")
        lines.append(pe.headline())
        pub.metadata["activity_source"] = f"{Path(args.activity).name}{flag}"
        lines.append(
            f"syringes given out a year: {pe.supplied:,.0f}"
            + (
                f" ({pe.unattributed:,.0f} from sites with no need in reach)"
                if pe.unattributed
                else ""
            )
        )
        lines.append(f"{'area':<28}{'syringes/PWID':>14}{'band':>9}")
        for _, r in pe.table.iloc[:-1].iterrows():
            x = r["syringes_per_pwid"]
            v = "hidden" if x != x else (f"{x:,.0f}" if x == round(x) else f"{x:,.1f}")
            lines.append(f"{str(r['area_name'])[:27]:<28}{v:>14}{str(r['band'] or ''):>9}")
        lines += [f"note: {n}" for n in pe.notes]
        t = pe.table.rename(columns={"band": "who_band"})
        extra = extra.merge(t.drop(columns="area_name"), on="area_code", how="left")
        pub.metadata.update(pe.metadata)
    if args.treatment:
        tr = read_treatment(args.treatment, area_codes=ds.areas["area_code"])
        mn = run_met_need(ds, tr.by_area, surface=result.need_info)
        pm = publish.met_need(pub, mn)
        flag = " (ILLUSTRATIVE counts)" if tr.illustrative else ""
        lines.append(f"input treatment: {Path(args.treatment).name}{flag}")
        lines.append(pm.headline())
        pub.metadata["treatment_source"] = f"{Path(args.treatment).name}{flag}"
        for _, r in pm.table.iloc[:-1].iterrows():
            share = _pct(r["met_need"])
            lines.append(f"  {str(r['area_name'])[:27]:<28}{_num(r['in_treatment']):>9}{share:>9}")
        extra = extra.merge(pm.table.drop(columns="area_name"), on="area_code", how="left")
        pub.metadata.update(pm.metadata)
    for col in extra.columns.drop("area_code"):
        pub.areas[col] = extra[col].to_numpy()
    return lines


def _closure_lines(
    ds: Dataset, result: CoverageResult, pub: Published, args: argparse.Namespace
) -> list[str]:
    """What if sites close: per-area change and need losing access (published)."""
    from harmreach.analysis.scenario import compare_runs, with_sites_changed

    ids = [x.strip() for x in args.close.split(",") if x.strip()]
    after = run_coverage(with_sites_changed(ds, close=ids), result.params, engine=args.engine)
    covered_after = after.demand["nearest_min"].to_numpy() <= result.params.minutes
    cmp = publish.closure(pub, compare_runs(result, after), closed=ids, after_covered=covered_after)
    lines = ["", f"if {', '.join(ids)} closed:"]
    lines.append(f"{'area':<28}{'before':>9}{'after':>9}{'change':>9}{'need losing access':>20}")
    for _, r in cmp.iterrows():
        change = "" if r["change"] != r["change"] else f"{100 * r['change']:+.1f}p"
        lines.append(
            f"{str(r['area_name'])[:27]:<28}{_pct(r['share_before']):>9}"
            f"{_pct(r['share_after']):>9}{change:>9}{_num(r['need_losing_access']):>20}"
        )
    return lines


def _profile(
    ds: Dataset, result: CoverageResult, pub: Published, args: argparse.Namespace
) -> list[str]:
    """Write the weekly profile CSV; report the worst hours."""
    from harmreach.analysis.weekly import weekly_profile

    out = Path(args.profile)
    if out.suffix.lower() != ".csv":
        raise InputError(f"cannot write the profile to '{out}'.", fix="give a .csv path.")
    prof = weekly_profile(result, args.engine, assume_open_missing=result.params.assume_open)
    pp = publish.profile(pub, prof, result, _hour_covered(result, args.engine))
    paths = write_csv(out, pp.table, pp.metadata)
    worst = "; ".join(
        f"{r.day} {r.hour:02d}:00 {_pct(r.share_covered)}" for r in pp.worst.itertuples()
    )
    return [
        "",
        f"worst hours: {worst or 'hidden'}",
        f"need-hours of access a week: {pp.need_hours} of {pp.need_hours_max} "
        "if every site within reach were always open",
        *(f"wrote {p}" for p in paths),
    ]


def _hour_covered(result: CoverageResult, engine: object) -> np.ndarray:
    """(n_demand, 168): an open site within T at each hour (the weekly profile's sets)."""
    from harmreach.analysis.weekly import reach_matrix, week_sites

    s, hourly = week_sites(result)
    reach = reach_matrix(engine, site_xy(result.demand), site_xy(s), result.params.minutes)
    return (reach.astype(np.float32) @ hourly.astype(np.float32)) > 0


def gaps(args: argparse.Namespace, ds: Dataset) -> int:
    """Clusters of need beyond T minutes, ranked by need."""
    result, bar = _run(args, ds, 3)
    pub = _publish(ds, result, args)
    bar.update()
    bar.close()
    p = result.params
    g = pub.gaps
    lines = _header(ds, result, pub)
    lines.append(
        f"gaps (need beyond {p.minutes:g} minutes by {p.mode}, points within "
        f"500 m joined, need of at least {p.suppress:g}): {len(g)}"
    )
    lines.append(f"{'rank':>4}  {'area':<22}{'need':>9}{'residents':>11}{'min to site':>12}")
    for _, r in g.head(10).iterrows():
        lines.append(
            f"{r['rank']:>4}  {str(r['area_name'])[:21]:<22}{_num(r['need']):>9}"
            f"{_num(r['residents']):>11}{r['nearest_min']:>12.1f}"
        )
    if len(g) > 10:
        lines.append(f"… and {len(g) - 10} more (see --out)")
    lines.append(f"legend: {pub.legend}")
    lines += _write(pub, args.out, "gaps")
    print("\n".join(lines))
    return 0


def _area_hotspots(args: argparse.Namespace, ds: Dataset) -> int:
    """Hotspots among the reporting areas: Gi* on need per resident, FDR, published by class."""
    from harmreach.analysis.hotspots import area_hotspots

    if args.counts:
        raise InputError(
            "--by-area tests the run's need per resident; --counts cannot be combined with it.",
            fix="drop --counts, or drop --by-area for hotspots of the counts on 1 km cells.",
        )
    result, bar = _run(args, ds, 3)
    pub = _publish(ds, result, args)
    bar.update()
    d = result.demand
    per = (
        pd.DataFrame(
            {
                "area_code": d["area_code"].astype(str),
                "need": d["need"].to_numpy(float),
                "residents": d["residents"].to_numpy(float)
                if "residents" in d
                else np.zeros(len(d)),
            }
        )
        .groupby("area_code")[["need", "residents"]]
        .sum()
    )
    areas = ds.areas.assign(area_code=ds.areas["area_code"].astype(str))
    areas = areas.join(per, on="area_code").fillna({"need": 0.0, "residents": 0.0})
    raw = area_hotspots(areas, alpha=args.alpha)
    hs = publish.area_hotspots(pub, raw)
    bar.update()
    bar.close()
    lines = _header(ds, result, pub)
    lines += [f"note: {publish.note(pub, n)}" for n in raw.attrs.get("notes", [])]
    hot = hs[hs["hotspot"] == "hot"]
    lines.append(
        f"hotspots among {len(hs)} areas: {raw.attrs['method']}; published: "
        f"{hs.attrs['published']}: {len(hot)} hot"
    )
    for _, r in hot.iterrows():
        z = f"   z {r['gi_z']:.1f}" if "gi_z" in hot.columns else ""
        lines.append(f"  {str(r['area_name'])[:40]:<41}{_num(r['need']):>9}{z}")
    lines.append(f"legend: {pub.legend}")
    lines += _write(pub, args.out, "hotspot_areas")
    print("\n".join(lines))
    return 0


def hotspots(args: argparse.Namespace, ds: Dataset) -> int:
    """Hotspots of need: kernel density and Getis-Ord Gi* on a 1 km grid."""
    from harmreach.analysis.hotspots import find_hotspots
    from harmreach.analysis.need import need_surface
    from harmreach.geo.dataset import DEMO_COUNTS
    from harmreach.geo.need import read_need

    if not 0 < args.alpha < 1:
        raise InputError(f"--alpha {args.alpha} must be between 0 and 1.", fix="e.g. 0.05.")
    if getattr(args, "by_area", False):
        return _area_hotspots(args, ds)
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
    cells, hs = find_hotspots(
        site_xy(ds.demand),
        surf.need,
        ds.areas.union_all(),
        residents=ds.demand["residents"].to_numpy(float),
        alpha=args.alpha,
        crs=ds.crs,
    )
    bar.update()
    names = ds.areas
    if len(hs):
        hs["area_name"] = [
            ", ".join(names[names.intersects(geom)]["area_name"].tolist()[:3])
            for geom in hs.geometry
        ]
    pub = _publish(
        ds,
        result,
        args,
        hotspots=hs,
        hotspot_cells=cells,
        hotspot_surface_is_need=not counts_file,
        extra_meta={"hotspot_input": label, "hotspot_method": cells.attrs.get("method", "")},
    )
    bar.update()
    bar.close()
    lines = _header(ds, result, pub)
    lines += [f"note: {publish.note(pub, n)}" for n in cells.attrs.get("notes", [])]
    lines.append(
        f"hotspots of {label}: Getis-Ord Gi* on 1 km cells, false discovery rate "
        f"{args.alpha:g}: {len(hs)}"
    )
    for _, r in pub.hotspots.head(10).iterrows():
        lines.append(
            f"{r['rank']:>4}  {str(r['area_name'])[:30]:<31}{_num(r['need']):>9}"
            f"   max z {r['max_z']:.1f}   {r['cells']} km²"
        )
    lines.append(f"legend: {pub.legend}")
    lines += _write(pub, args.out, "hotspots")
    print("\n".join(lines))
    return 0


def plan(args: argparse.Namespace, ds: Dataset) -> int:
    """Where the next K satellite sites cover the most unmet need."""
    from harmreach.analysis.planning import plan_for_run

    if args.sessions is not None:
        return plan_sessions(args, ds)
    if args.add is None or args.add < 1:
        raise InputError(f"--add {args.add}: ask for at least one new site.", fix="e.g. --add 3.")
    if args.out and Path(args.out).suffix.lower() not in (".geojson", ".csv"):
        raise InputError("plan writes GeoJSON or CSV.", fix="end --out with .geojson or .csv.")
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
        from harmreach.geo.areas import read_areas

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
    pub = _publish(ds, result, args)
    decisions = None
    try:
        from harmreach.analysis.layers import proposal_table

        decisions = proposal_table(ds, result, sp_.proposed)
    except ImportError:  # pragma: no cover - older layers module
        pass
    pp = publish.plan(pub, sp_, decisions)  # the plan's own step masks: audited by points
    bar.update()
    bar.close()
    lines = _header(ds, result, pub)
    r = sp_.result
    lines.append(f"candidates: {sp_.n_candidates} ({sp_.candidates_from})")
    gap = "" if r.gap is None else f", gap to bound {100 * r.gap:.2f}%"
    lines.append(
        f"method: {r.method}; {'optimal' if r.optimal else 'not proven optimal'}"
        f"{gap}; {r.seconds:.2f} s; objective: {args.objective}"
    )
    lines += [f"note: {publish.note(pub, n)}" for n in r.notes]
    if len(sp_.table) < args.add:
        lines.append(
            f"note: {len(sp_.table)} of the {args.add} site(s) asked for add coverage; "
            "more would add none"
        )
    lines.append(f"{pp.what} before: {pp.headlines['before']}")
    lines.append(f"{pp.what} after: {pp.headlines['after']}")
    lines.append(
        f"{'#':>3}  {'need added':>10}  {pp.share_label:>15}  {'lon':>9} {'lat':>9}  areas gaining"
    )
    prop = pp.proposed
    ll = crsmod.to_crs(prop.geometry, 4326) if len(prop) else []
    for i, row in prop.iterrows():
        lines.append(
            f"{row['order']:>3}  {_num(row['need_added']):>10}  "
            f"{_pct(row[pp.share_column]):>15}  {ll.iloc[i].x:>9.5f} "
            f"{ll.iloc[i].y:>9.5f}  {row['areas_gaining']}"
        )
    lines.append(f"legend: {pub.legend}")
    if args.out:
        out = Path(args.out)
        meta = {
            **pp.metadata,
            "plan_method": r.method,
            "plan_objective": args.objective,
            "candidates": sp_.candidates_from,
        }
        if out.suffix.lower() == ".csv":
            from harmreach.analysis.exports import table_of

            paths = write_csv(out, table_of(prop), meta)
        else:
            paths = [write_geojson(out, prop, meta)]
        lines += [f"wrote {p}" for p in paths]
    print("\n".join(lines))
    return 0


#: Generated candidates for sessions: the cells with the most need beyond reach.
SESSION_CANDIDATES = 30


def plan_sessions(args: argparse.Namespace, ds: Dataset) -> int:
    """Choose satellite sessions (site + time slot) adding the most need-hours of access."""
    import geopandas as gpd

    from harmreach.analysis.hours import SLOTS_PER_DAY, weekly_masks
    from harmreach.analysis.planning import coverage_matrix, generate_candidates
    from harmreach.analysis.sessions import plan_sessions as choose
    from harmreach.analysis.weekly import reach_matrix

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
    pub = _publish(ds, result, args)
    ps = publish.sessions(pub, sp_, args.session_hours)
    lines = _header(ds, result, pub)
    lines.append(
        f"candidates: {len(cand_xy)} ({cand_from}); sessions of "
        f"{args.session_hours} h starting 08:00-19:00; method: {sp_.method}"
    )
    lines.append(f"need-hours of access a week before: {ps.headlines['before']}")
    lines.append(f"need-hours of access a week after: {ps.headlines['after']}")
    ll = crsmod.to_crs(
        gpd.GeoSeries(gpd.points_from_xy(cand_xy[:, 0], cand_xy[:, 1]), crs=ds.crs), 4326
    )
    for i, r in enumerate(ps.sessions.itertuples(), start=1):
        p = ll.iloc[r.candidate]
        lines.append(
            f"{i:>3}  {r.day} {r.start}-{r.end}  at {p.y:.5f}, {p.x:.5f}  "
            f"+{r.need_hours_added_text} need-hours"
        )
    lines.append(f"legend: {pub.legend}")
    print("\n".join(lines))
    return 0
