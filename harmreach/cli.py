"""The ``harmreach`` command line: one verb per job, defaults = the embedded demo county."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from harmreach.geo import settings
from harmreach.geo.errors import InputError

log = logging.getLogger("harmreach")


def _common(p: argparse.ArgumentParser, *, travel: bool = True) -> None:
    g = p.add_argument_group("inputs (default: the embedded demo county)")
    g.add_argument(
        "--area",
        help="English local authorities or counties by name or ONS code, comma-separated "
        '(e.g. "Rotherham", E08000018, "Worcestershire"); built from national data',
    )
    g.add_argument(
        "--level",
        choices=("districts", "wards", "lsoas"),
        default="districts",
        help="with --area or only a sites file: report by districts, wards or LSOAs",
    )
    g.add_argument("--sites", help="sites file: CSV, XLSX, GeoJSON or GeoPackage")
    g.add_argument("--areas", help="area polygons: GeoPackage, GeoJSON, shapefile zip")
    g.add_argument("--layer", help="layer of a multi-layer areas file (GeoPackage, zip)")
    g.add_argument("--sheet", help="sheet of an XLSX sites or need file (default: the first)")
    g.add_argument("--sites-layer", help="layer of a multi-layer sites file")
    g.add_argument("--area-code", help="identifier column of the areas file (else detected)")
    g.add_argument("--area-name", help="name column of the areas file (else detected)")
    g.add_argument(
        "--need",
        help="need: per-area table, counts by postcode sector/district, or weighted points "
        "(default: the built-in need model; the demo's illustrative need with no inputs)",
    )
    g.add_argument(
        "--need-code",
        help="column of a per-area need table holding the area codes (else detected)",
    )
    g.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip (and list) bad site rows instead of stopping",
    )
    if travel:
        t = p.add_argument_group("travel")
        t.add_argument(
            "--network",
            help="OpenStreetMap extract (.osm.pbf); without one, "
            "travel times are estimated from straight-line distance",
        )
        t.add_argument("--mode", choices=settings.MODES, default=settings.DEFAULT_MODE)
        t.add_argument(
            "--minutes",
            type=float,
            default=settings.DEFAULT_MINUTES,
            help="travel-time threshold (default 15)",
        )
        t.add_argument("--at", help='time of week, e.g. "Tue 19:00": only sites open then')
        t.add_argument("--types", help="site types to include, comma-separated (default all)")
        t.add_argument(
            "--assume-open",
            action="store_true",
            help="with --at: treat sites without opening_hours as always open",
        )
    p.add_argument(
        "--suppress",
        type=int,
        default=settings.SUPPRESSION_THRESHOLD,
        help="suppress counts of people under this (default 5; lower needs the unsafe option)",
    )
    p.add_argument(
        "--unsafe-suppress-below-5",
        action="store_true",
        help="allow --suppress under 5: UNSAFE, small counts of people may be published; "
        "stamped on every output",
    )
    p.add_argument(
        "--round",
        type=int,
        dest="round_to",
        help="round published counts to a multiple of this (e.g. 5)",
    )
    p.add_argument("--out", help="write results: .geojson, .gpkg or .csv")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb."""
    parser = argparse.ArgumentParser(
        prog="harmreach",
        description="Where needle & syringe programmes reach people who need them, "
        "and where they don't. Every verb defaults to the embedded demo county "
        "(Worcestershire; illustrative sites and need).",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
        "coverage": ("need covered within T minutes, by area", _run("coverage")),
        "gaps": ("clusters of need beyond T minutes, ranked", _run("gaps")),
        "hotspots": ("hotspots of need (kernel density, Getis-Ord Gi*)", _run("hotspots")),
        "plan": ("where the next K satellite sites cover the most unmet need", _run("plan")),
        "validate": ("read and check the input files, report what was used", _validate),
    }
    for name, (help_text, fn) in verbs.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p, travel=name != "validate")
        if name == "hotspots":
            p.add_argument("--counts", help="client counts by postcode sector/district")
            p.add_argument("--alpha", type=float, default=0.05, help="significance level")
            p.add_argument(
                "--by-area",
                action="store_true",
                help="Gi* on need per resident among the reporting areas (choose them with "
                "--level wards|lsoas) instead of on 1 km cells",
            )
        if name == "coverage":
            p.add_argument(
                "--close",
                help="what if these sites close: site_id[,site_id...]; prints the change "
                "per area and the need that loses access",
            )
            p.add_argument(
                "--profile",
                help="also write the weekly profile (share covered for every hour of the "
                "week, per area) to this CSV",
            )
            p.add_argument(
                "--activity",
                help="site activity (site_id, period_start, period_end, transactions, "
                "syringes or packs): prints syringes per person who injects per year",
            )
            p.add_argument(
                "--pack-size",
                type=int,
                default=None,
                help="syringes per pack when the activity file counts packs (default 10)",
            )
            p.add_argument(
                "--need-is",
                choices=("ocu", "pwid"),
                default="ocu",
                help="whether need counts opiate/crack users (default; people who inject are "
                "taken as 0.20 of them) or people who inject",
            )
            p.add_argument(
                "--treatment",
                help="people in treatment per area (area_code, in_treatment): prints met need",
            )
        if name == "plan":
            p.add_argument("--add", type=int, default=3, help="number of new sites (K)")
            p.add_argument(
                "--candidates", help="candidate sites file (else generated over uncovered need)"
            )
            p.add_argument(
                "--objective",
                choices=("coverage", "backup", "equity"),
                default="coverage",
                help="need newly covered (default), need "
                "newly with two sites in reach, or the least-covered area first",
            )
            p.add_argument(
                "--solver",
                choices=("auto", "exact", "greedy"),
                default="auto",
                help="exact integer program (HiGHS) or greedy; auto picks by size",
            )
            p.add_argument(
                "--min-distance",
                type=float,
                default=400.0,
                help="candidates at least this many metres from existing sites",
            )
            p.add_argument("--avoid", help="polygons where no candidate may go (vector file)")
            p.add_argument(
                "--sessions",
                type=int,
                help="choose N satellite sessions a week (site + time slot) "
                "that add the most need-hours of access, instead of sites",
            )
            p.add_argument(
                "--session-hours",
                type=int,
                default=3,
                help="length of a session in hours (default 3)",
            )
        p.set_defaults(func=fn)
    return parser


def _load(args: argparse.Namespace):  # noqa: ANN202 - returns geo.dataset.Dataset
    from harmreach.geo.dataset import load_dataset

    return load_dataset(
        sites=args.sites,
        areas=args.areas,
        need=args.need,
        area=args.area,
        level=args.level,
        need_code=args.need_code,
        sheet=args.sheet,
        layer=args.layer,
        sites_layer=args.sites_layer,
        area_code=args.area_code,
        area_name=args.area_name,
        strict=not args.skip_bad_rows,
    )


def _validate(args: argparse.Namespace) -> int:
    ds = _load(args)
    print(f"areas: {len(ds.areas)} ({ds.crs.name})")
    print(f"sites: {len(ds.sites)} ({ds.sites['type'].value_counts().to_dict()})")
    print(f"demand points: {len(ds.demand)}")
    if ds.need is not None:
        # The only count validate prints: shown as the publishing gate shows a lone total.
        total = ds.need.total
        shown = "under 5" if 0 < total < settings.SUPPRESSION_THRESHOLD else f"{total:,.0f}"
        print(f"need: {ds.need.kind}, total {shown}")
    for rep in ds.reports:
        print(rep.summary())
    for line in ds.provenance():
        print(line)
    for note in ds.notes:
        print(f"note: {note}")
    for ref in ds.references:
        print(f"published reference: {ref}")
    return 0


def _run(verb: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from harmreach import commands

        return getattr(commands, verb)(args, _load(args))

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; bad input exits 2 with a one-line reason, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Long steps say what they are doing even without -v: reading large files, building a
    # place from national data, parsing a street network.
    for name in ("harmreach.geo.tables", "harmreach.geo.places", "harmreach.geo.network"):
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"harmreach {args.verb}: error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:  # pragma: no cover
        print(f"harmreach {args.verb}: error: out of memory; try a smaller area.", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, details with -v
        if args.verbose:
            log.exception("internal error")
        print(
            f"harmreach {args.verb}: internal error ({type(exc).__name__}: {exc}); "
            "rerun with -v for details and please report it.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
