"""harmreach dashboard (Streamlit): UI only; computation lives in analysis/ and geo/."""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections import OrderedDict
from textwrap import dedent

import altair as alt
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st
from jinja2 import Template
from streamlit_folium import st_folium

from app_pages.files import gpkg_bytes
from app_pages.format import (
    app_message,
    closure_change,
    km,
    num,
    pct,
    shortfall_text,
    worst_periods,
)
from app_pages.prefetch import DEFAULT_HOUR, OBJECTIVES, Prefetcher, neighbours
from app_pages.safe import plain_markdown, safe_html
from harmreach.analysis import exports, publish
from harmreach.analysis.gaps import cluster_points
from harmreach.analysis.hotspots import find_hotspots
from harmreach.analysis.hours import DAYS
from harmreach.analysis.layers import gap_rule, proposal_table
from harmreach.analysis.planning import SitePlan, plan_for_run
from harmreach.analysis.publish import Published, PublishedPlan
from harmreach.analysis.report_map import SHARE_BANDS, SUPPRESSED_COLOUR, band_colour, report_map
from harmreach.analysis.scenario import (
    CoverageResult,
    Params,
    build_engine,
    compare_runs,
    run_coverage,
    site_xy,
    with_sites_changed,
)
from harmreach.analysis.weekly import weekly_profile
from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.dataset import DEMO_COUNTS, Dataset, load_dataset
from harmreach.geo.errors import InputError
from harmreach.geo.isochrones import reachable_area
from harmreach.geo.need import read_need
from harmreach.geo.tables import Source

st.set_page_config(page_title="harmreach: exchange coverage", page_icon="🗺️", layout="wide")

#: Upload limit per file (the server is also started with --server.maxUploadSize 20).
MAX_UPLOAD_MB = 20
TYPE_STYLE = {  # folium marker colour, Font Awesome icon, legend hex
    "pharmacy": ("green", "plus", "#72b026"),
    "hospital": ("red", "h-square", "#d63e2a"),
    "drug_service": ("darkblue", "medkit", "#0067a3"),
    "satellite": ("orange", "star", "#f69730"),
    "mobile": ("purple", "truck", "#d252b9"),
    "clinic": ("cadetblue", "stethoscope", "#436978"),
    "other": ("gray", "circle", "#575757"),
}
ANY_TIME = "Any time (all active sites)"
STATIC = "/app/static/vendor"
LOCAL_JS = [
    ("leaflet", f"{STATIC}/leaflet/leaflet.js"),
    ("jquery", f"{STATIC}/jquery/jquery.min.js"),  # folium's popups use it
    ("awesome_markers", f"{STATIC}/awesome-markers/leaflet.awesome-markers.min.js"),
]
LOCAL_CSS = [
    ("leaflet_css", f"{STATIC}/leaflet/leaflet.css"),
    ("awesome_markers_font_css", f"{STATIC}/fontawesome/css/all.min.css"),
    ("awesome_markers_css", f"{STATIC}/awesome-markers/leaflet.awesome-markers.css"),
]
VIEWS = [
    "Map",
    "Areas",
    "Coverage curve",
    "Across the week",
    "Plan & what-if",
    "Equipment & treatment",
    "Downloads",
    "About the data",
]


# ---------------------------------------------------------------- cached computation
@st.cache_resource(show_spinner="Loading the demo county…")
def demo_dataset() -> Dataset:
    """The embedded demo county, read once per server (shared, read-only, not user data)."""
    return load_dataset()


def _session_cache() -> dict:
    # Results for uploaded files live in this session only: never in a global cache, so
    # one user's data can never be served to another session.
    return st.session_state.setdefault("_results", OrderedDict())


@st.cache_resource(show_spinner=False)
def _demo_store() -> OrderedDict:
    """Results for the demo county, shared by every session of this server.

    Streamlit runs this file afresh on every rerun, so a module-level dict is rebuilt each
    time and never hits; ``st.cache_resource`` keeps one store for the server's life. Keys
    are plain values (the parameters); values are read-only results.
    """
    return OrderedDict()


#: Results kept per store (least recently used dropped first).
STORE_SIZE = {"demo": 300, "upload": 60}


@st.cache_resource(show_spinner=False)
def _store_lock() -> threading.RLock:
    """Guards the demo store, which the prefetcher also writes."""
    return threading.RLock()


def cached(data_key: str, name: str, params: tuple, fn, *args):  # noqa: ANN001, ANN201
    """Memoise ``fn(*args)`` by plain values: global for the demo, per session for uploads."""
    lock = _store_lock() if data_key == "demo" else threading.RLock()
    if data_key == "demo":
        store, key, size = _demo_store(), (name, params), STORE_SIZE["demo"]
    else:
        store, key, size = _session_cache(), (data_key, name, params), STORE_SIZE["upload"]
    stats = st.session_state.setdefault("_cache_stats", {"hits": 0, "misses": 0})
    for attempt in range(2):
        with lock:
            if key in store:
                store.move_to_end(key)
                stats["hits"] += 1
                return store[key]
        if attempt == 0 and data_key == "demo":
            # the prefetcher may be computing this very setting: wait for it, not beside it
            _prefetcher().wait_for(key)
    stats["misses"] += 1
    t0 = time.perf_counter()
    value = fn(*args)
    # seconds per computation on the last miss (read by bench/browser.py and tests)
    st.session_state.setdefault("_timings", {})[name] = time.perf_counter() - t0
    with lock:
        # first come, first kept: every later result builds on the same publication
        value = store.setdefault(key, value)
        while len(store) > size:
            store.popitem(last=False)
    return value


def _coverage_value(
    ds: Dataset,
    data_key: str,
    p: Params,
    pause=None,  # noqa: ANN001
    result: CoverageResult | None = None,
) -> tuple[CoverageResult, Published]:
    if result is None:  # else the run was computed ahead (not yet published)
        result = run_coverage(ds, p)
    if pause is not None:
        pause()  # in the background: let a page being drawn go first
    pub = publish.coverage(
        ds,
        result,
        extra_meta={"gaps": gap_rule(result), "hotspot_input": hotspot_input(data_key)},
    )
    return result, pub


def _plan_value(
    ds: Dataset, result: CoverageResult, k: int, objective: str, exact: bool
) -> SitePlan:
    names = ds.areas.set_index("area_code")["area_name"]
    return plan_for_run(
        result,
        build_engine(result.params, None),
        k,
        objective=objective,
        area_names=names,
        exact=exact,
        bound=exact,
    )


@st.cache_resource(show_spinner=False)
def _prefetcher() -> Prefetcher:
    return Prefetcher()


#: What the prefetcher computes ahead: "raw" (the default) the runs and plans only, published
#: when a page shows them; "publish" also their publications (faster pages, but every
#: setting guessed is published on the register, which then constrains later ones).
PREFETCH_MODE = os.environ.get("HARMREACH_PREFETCH", "raw")


def prefetch_neighbours(ds: Dataset, p: Params, k: int, objective: str, exact: bool) -> None:
    """Queue the demo settings next to ``p`` (see :class:`Prefetcher` and :func:`neighbours`).

    First the coverage run of every neighbouring setting, each stored as soon as it is
    done, then the plans on those runs. By default nothing is published ahead: the
    publishing gate decides each run on top of the publication register (every earlier
    publication of the demo), so a guess published ahead would constrain what later pages
    can show, and would hold the register while a page waits for it. A page then runs
    only the gate on a run computed ahead. With ``HARMREACH_PREFETCH=publish`` the
    coverage is published ahead too (with its hotspots), and the plans' proposals.
    """
    store, lock, fetcher = _demo_store(), _store_lock(), _prefetcher()
    ahead = PREFETCH_MODE == "publish"
    cov_jobs, plan_jobs = [], []
    for q, kq, oq in neighbours(p, k, objective):
        qk = tuple(q.describe().items())
        ckey, raw_key = ("coverage", qk), ("raw", qk)
        plan_key = ("plan", (qk, kq, oq, exact))
        prop_key = ("proposals", (qk, kq, oq, exact))
        with lock:
            need_cov = ckey not in store and (ahead or raw_key not in store)
            need_plan = kq > 0 and plan_key not in store

        def raw_job(q=q, ckey=ckey, raw_key=raw_key) -> None:
            with lock:
                if ckey in store or raw_key in store:
                    return
            result = run_coverage(ds, q)
            with lock:
                store.setdefault(raw_key, result)

        def cov_job(q=q, ckey=ckey, raw_key=raw_key) -> None:
            with lock:
                if ckey in store:
                    return
                raw = store.get(raw_key)
            have = _coverage_value(ds, "demo", q, pause=fetcher.pause, result=raw)
            with lock:
                # first come, first kept: if the page got there first, keep its publication
                result, pub = store.setdefault(ckey, have)
                store[raw_key] = result
                raw = store.get(("hotspots", ()))  # the demo's hotspots, before the gate
                hs_key = ("hotspots-published", hotspots_key("demo", q, pub))
                if raw is None or hs_key in store:
                    return
            fetcher.pause()
            hs = _hotspots_value("demo", pub, raw[1])
            with lock:
                store.setdefault(hs_key, hs)
                while len(store) > STORE_SIZE["demo"]:
                    store.popitem(last=False)

        def plan_job(
            kq=kq, oq=oq, ckey=ckey, raw_key=raw_key, plan_key=plan_key, prop_key=prop_key
        ) -> None:
            with lock:
                result = store.get(raw_key)
                have = store.get(ckey)
                if result is None or plan_key in store:
                    return  # no run to plan on (not computed, or dropped), or done
            sp = _plan_value(ds, result, kq, oq, exact)
            pp = None
            if have is not None and ahead and len(sp.table):
                fetcher.pause()
                pp = publish.plan(have[1], sp, proposal_table(ds, result, sp.proposed))
            with lock:
                if store.get(raw_key) is not result or plan_key in store:
                    return  # the page planned first, or the run was replaced
                store[plan_key] = sp
                if pp is not None and store.get(ckey) is have:
                    store[prop_key] = pp
                while len(store) > STORE_SIZE["demo"]:
                    store.popitem(last=False)

        if need_cov:
            cov_jobs.append(((ckey if ahead else raw_key,), cov_job if ahead else raw_job))
        if need_plan:
            plan_jobs.append(((plan_key, prop_key), plan_job))
    fetcher.want(cov_jobs + plan_jobs)


def compute(ds: Dataset, data_key: str, p: Params) -> tuple[CoverageResult, Published]:
    """Coverage for the current settings and its publication (the one publishing gate).

    Everything the page shows or exports comes from the publication; the raw result is
    only passed on to computations (plans, what-ifs, the weekly profile).
    """
    qk = tuple(p.describe().items())
    if data_key != "demo":
        return cached(data_key, "coverage", qk, lambda: _coverage_value(ds, data_key, p))
    store, lock = _demo_store(), _store_lock()

    def go() -> tuple[CoverageResult, Published]:
        _prefetcher().wait_for(("raw", qk))
        with lock:
            raw = store.get(("raw", qk))  # the run computed ahead, if it was
        if raw is not None:
            stats = st.session_state.setdefault("_cache_stats", {"hits": 0, "misses": 0})
            stats["runs_ahead"] = stats.get("runs_ahead", 0) + 1
        return _coverage_value(ds, data_key, p, result=raw)

    value = cached(data_key, "coverage", qk, go)
    with lock:
        store[("raw", qk)] = value[0]  # plans computed ahead use the run that was published
    return value


def hotspots_key(data_key: str, p: Params, pub: Published) -> tuple:
    """What the published hotspots depend on.

    On the demo the hotspots are of client counts, not the run's need: their publication
    depends only on the disclosure settings, so a new travel setting reuses it.
    """
    if data_key == "demo":
        return ("suppress", p.suppress, pub.round_to, pub.unsafe)
    return tuple(p.describe().items())


def _hotspots_value(data_key: str, pub: Published, hs: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    return publish.hotspot_layers(pub, None, hs, same_surface=data_key != "demo")[1]


def published_hotspots(
    ds: Dataset, data_key: str, result: CoverageResult, pub: Published
) -> gpd.GeoDataFrame | None:
    """The hotspots for the map, published by the gate on top of the run (an add-on).

    Only the hotspot areas: their 1 km cells are published for the GeoPackage download,
    when it is asked for (the gate takes long over thousands of cells).
    """
    return cached(
        data_key,
        "hotspots-published",
        hotspots_key(data_key, result.params, pub),
        lambda: _hotspots_value(
            data_key, pub, hotspot_raw(ds, data_key, result.demand["need"].to_numpy())[1]
        ),
    )


def hotspot_input(data_key: str) -> str:
    """What the hotspots are computed on."""
    if data_key == "demo":
        return f"client counts from {DEMO_COUNTS.name} (ILLUSTRATIVE)"
    return "the need surface"


def hotspot_raw(
    ds: Dataset, data_key: str, need: np.ndarray
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Cells and Gi* hotspots of the demo's client counts (of the need surface for uploads)."""

    def go() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        if data_key == "demo":
            from harmreach.analysis.need import need_surface

            weights = need_surface(ds.demand, read_need(DEMO_COUNTS)).need
        else:
            weights = need
        res = ds.demand["residents"].to_numpy(float) if "residents" in ds.demand else None
        return find_hotspots(
            site_xy(ds.demand), weights, ds.areas.union_all(), residents=res, crs=ds.crs
        )

    return cached(data_key, "hotspots", (), go)


def reach_polygon(ds: Dataset, data_key: str, result: CoverageResult):  # noqa: ANN201
    """Area within T of an open site, in WGS84."""
    p = result.params

    def go():  # noqa: ANN202
        play = result.sites[result.sites["in_play"]]
        geom = reachable_area(build_engine(p, None), site_xy(play), p.minutes)
        # 15 m is far below what the map can show at county zoom; it keeps the page light
        clipped = gpd.GeoSeries([geom], crs=ds.crs).intersection(ds.areas.union_all())
        return crsmod.to_crs(clipped.simplify(15), settings.WGS84_EPSG).iloc[0]

    return cached(data_key, "reach", tuple(p.describe().items()), go)


def plan(
    ds: Dataset, data_key: str, result: CoverageResult, k: int, objective: str, exact: bool
) -> SitePlan:
    """K proposed satellites for the current settings (greedy unless exact is asked for)."""

    def go() -> SitePlan:
        return _plan_value(ds, result, k, objective, exact)

    key = (tuple(result.params.describe().items()), k, objective, exact)
    return cached(data_key, "plan", key, go)


def proposals(
    ds: Dataset, data_key: str, result: CoverageResult, pub: Published, sp: SitePlan, key: tuple
) -> PublishedPlan:
    """The plan's proposals as decisions, published by the gate (need added per step)."""
    return cached(
        data_key,
        "proposals",
        (tuple(result.params.describe().items()), *key),
        lambda: publish.plan(pub, sp, proposal_table(ds, result, sp.proposed)),
    )


def week(
    ds: Dataset, data_key: str, result: CoverageResult, pub: Published
) -> publish.PublishedProfile:
    """Coverage for every hour of the week, published by the gate."""
    p = result.params

    def go() -> publish.PublishedProfile:
        prof = weekly_profile(result, build_engine(p, None), assume_open_missing=p.assume_open)
        return publish.profile(pub, prof, result)

    return cached(data_key, "week", tuple(p.describe().items()), go)


def closure(
    ds: Dataset, data_key: str, result: CoverageResult, pub: Published, site_id: str
) -> pd.DataFrame:
    """What if a site closes: per-area change and need that loses access, published."""

    def go() -> pd.DataFrame:
        after = run_coverage(with_sites_changed(ds, close=[site_id]), result.params)
        return publish.closure(pub, compare_runs(result, after), closed=[site_id])

    return cached(data_key, "close", (tuple(result.params.describe().items()), site_id), go)


# ---------------------------------------------------------------- helpers
def upload(label: str, types: list[str], key: str) -> Source | None:
    """A size-checked upload, read into memory (never written to disk, never unpickled)."""
    f = st.sidebar.file_uploader(label, type=types, key=key)
    if f is None:
        return None
    data = f.getvalue()
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise InputError(
            f"the file is larger than {MAX_UPLOAD_MB} MB.",
            file=f.name,
            fix="upload a smaller extract.",
        )
    return Source(name=f.name, data=data)


DEMO_CHOICE = "Demo county (Worcestershire)"
AREA_CHOICE = "An English area, by name"
FILES_CHOICE = "My files"
LEVELS = {"districts": "Districts", "wards": "Wards", "lsoas": "LSOAs (2011)"}


@st.cache_data(show_spinner=False)
def _authority_options() -> list[tuple[str, str]]:
    """(label, code) for every English district and county, alphabetical."""
    from harmreach.geo.places import authorities

    cat = authorities()
    kind = cat["kind"].map({"county": "county", "district": "local authority"})
    labels = cat["name"] + " (" + kind + ", " + cat["code"] + ")"
    return sorted(zip(labels, cat["code"], strict=True))


def area_source() -> tuple[Dataset, str]:
    """An English local authority or county chosen by name, with the user's sites if any."""
    sb = st.sidebar
    options = _authority_options()
    labels = [lab for lab, _ in options]
    default = next((i for i, (_, c) in enumerate(options) if c == "E10000034"), 0)
    label = sb.selectbox("Local authority or county", labels, index=default)
    code = dict(options)[label]
    level = sb.selectbox("Report by", list(LEVELS), format_func=LEVELS.__getitem__)
    sites = upload(
        "Your sites (optional; CSV, XLSX, GeoJSON, GeoPackage)",
        ["csv", "xlsx", "geojson", "json", "gpkg"],
        "up_area_sites",
    )
    need = upload("Need (optional; else the built-in model)", ["csv", "xlsx"], "up_area_need")
    skip = sb.checkbox("Skip bad site rows (they are listed)", value=False, key="area_skip")
    digest = hashlib.sha256()
    for src in (sites, need):
        digest.update(b"-" if src is None else src.name.encode() + src.data)  # type: ignore[operator]
    data_key = f"area-{code}-{level}-{digest.hexdigest()}-{skip}"
    store = _session_cache()
    if (data_key, "dataset") not in store:
        with st.spinner(f"Building {label} from national data (a few seconds, once)…"):
            store[(data_key, "dataset")] = load_dataset(
                sites=sites, need=need, area=code, level=level, strict=not skip
            )
    return store[(data_key, "dataset")], data_key


def data_source() -> tuple[Dataset, str]:
    """The data-source section of the sidebar: the dataset and its cache key.

    A new source (e.g. an English local authority chosen by name) is one more radio option
    here and one branch that returns ``(dataset, key)``; the key must be a plain string
    naming the source ("demo" is shared by every session, anything else is per session).
    """
    sb = st.sidebar
    sb.header("Data")
    choice = sb.radio(
        "Inputs", [DEMO_CHOICE, AREA_CHOICE, FILES_CHOICE], label_visibility="collapsed"
    )
    if choice == DEMO_CHOICE:
        return demo_dataset(), "demo"
    if choice == AREA_CHOICE:
        return area_source()
    sites = upload(
        "Sites (CSV, XLSX, GeoJSON, GeoPackage)",
        ["csv", "xlsx", "geojson", "json", "gpkg"],
        "up_sites",
    )
    areas = upload(
        "Areas (GeoPackage, GeoJSON, zipped shapefile)",
        ["gpkg", "geojson", "json", "zip"],
        "up_areas",
    )
    need = upload("Need (optional)", ["csv", "xlsx", "geojson", "gpkg"], "up_need")
    skip = sb.checkbox("Skip bad site rows (they are listed)", value=False)
    if sites is None and areas is None and need is None:
        sb.info("Upload a sites file (and areas, need) or switch to the demo.")
        st.stop()
    digest = hashlib.sha256()
    for s in (sites, areas, need):
        digest.update(b"-" if s is None else s.name.encode() + s.data)  # type: ignore[operator]
    data_key = f"upload-{digest.hexdigest()}-{skip}"
    store = _session_cache()
    if (data_key, "dataset") not in store:
        with st.spinner("Reading and checking your files…"):
            store[(data_key, "dataset")] = load_dataset(
                sites=sites, areas=areas, need=need, strict=not skip
            )
    return store[(data_key, "dataset")], data_key


def sidebar() -> tuple[Dataset, str, Params, int, str, bool]:
    """Every control, written once; returns the data, its cache key and the parameters."""
    sb = st.sidebar
    ds, data_key = data_source()
    sb.header("Travel")
    mode = sb.selectbox("Mode", settings.MODES, index=settings.MODES.index(settings.DEFAULT_MODE))
    minutes = sb.slider("Minutes", 5, 60, int(settings.DEFAULT_MINUTES), step=5)
    day = sb.selectbox("Time of week", [ANY_TIME, *DAYS])
    at = None
    if day != ANY_TIME:
        hour = sb.slider("Hour", 0, 23, DEFAULT_HOUR)
        at = f"{day} {hour:02d}:00"
    present = [t for t in settings.SITE_TYPES if (ds.sites["type"] == t).any()]
    types = sb.multiselect("Site types", present, default=present)
    if not types:
        sb.warning("No site type chosen: every type is included.")
    sb.header("Privacy")
    suppress = sb.number_input(
        "Suppress counts of people under",
        min_value=5,
        max_value=100,
        value=settings.SUPPRESSION_THRESHOLD,
        step=1,
    )
    sb.header("Planning")
    k = sb.slider("Satellites to propose", 0, 10, 3)
    objective = sb.selectbox(
        "Objective",
        OBJECTIVES,
        format_func={
            "coverage": "most need newly in reach",
            "backup": "most need newly with 2 sites",
            "equity": "least-covered area first",
        }.get,
    )
    exact = sb.checkbox("Exact optimum (slower; greedy otherwise)", value=False)
    params = Params(
        mode=mode,
        minutes=float(minutes),
        at=at,
        types=tuple(types) if types and len(types) < len(present) else None,
        suppress=int(suppress),
    )
    return ds, data_key, params, k, objective, exact


# ---------------------------------------------------------------- map
GAP_COLOUR = "#1a1a1a"
HOTSPOT_COLOUR = "#7b1fa2"
REACH_COLOUR = "#2166ac"
PROPOSAL_COLOUR = "#e65100"
#: The container of the map (Streamlit gives it the class ``st-key-`` + this).
MAP_BOX = "harmreach_map"
MAP_SHOWN_CSS = f".st-key-{MAP_BOX} {{visibility: visible}}"
#: Under other views the map keeps its size (Leaflet needs no redraw) but takes no room.
MAP_HIDDEN_CSS = (
    f".st-key-{MAP_BOX} {{height: 0 !important; min-height: 0 !important; "
    "max-height: 0 !important; overflow: hidden !important; visibility: hidden; "
    "margin-bottom: -1rem}"
)
#: Sites closer than this are drawn as one numbered marker listing them all.
COLOCATED_M = 60.0


def swatch(style: str) -> str:
    """A 14 px legend swatch with inline CSS."""
    return (
        f'<span style="display:inline-block;width:14px;height:12px;vertical-align:middle;'
        f'margin-right:5px;{style}"></span>'
    )


def legend_html(
    result: CoverageResult, types: list[str], n_gaps: int, hotspot_text: str | None
) -> str:
    """The map legend (text of our own only; no user text)."""
    p = result.params
    rows = [f"<b>Need within {p.minutes:g} min {p.mode}</b>"]
    for lo, hi, col in SHARE_BANDS:
        label = f"{lo}–{hi}%" if hi < 100 else f"{lo}% and over"
        rows.append(swatch(f"background:{col};opacity:.8;border:1px solid #555") + label)
    rows.append(
        swatch(f"background:{SUPPRESSED_COLOUR};border:1px solid #555")
        + f"not shown (under {p.suppress} people)"
    )
    rows.append(
        swatch(f"background:{REACH_COLOUR};opacity:.35") + f"reachable within {p.minutes:g} min"
    )
    rows.append(
        swatch(f"background:{GAP_COLOUR};opacity:.55;border:2px solid {GAP_COLOUR}")
        + f"gap: need ≥ {p.suppress} beyond reach ({n_gaps})"
    )
    if hotspot_text is not None:
        rows.append(swatch(f"border:2px dashed {HOTSPOT_COLOUR}") + hotspot_text)
    rows.append(
        " ".join(
            f'<span style="color:{TYPE_STYLE.get(t, TYPE_STYLE["other"])[2]};font-size:14px">'
            f"●</span>&nbsp;{t.replace('_', ' ')}"
            for t in types
        )
    )
    rows.append(
        '<span style="display:inline-block;min-width:16px;height:16px;border-radius:8px;'
        "background:#37474f;color:#fff;font-size:10px;text-align:center;line-height:16px;"
        'margin-right:5px">2</span>sites at one place'
    )
    rows.append(
        f'<span style="display:inline-block;width:16px;height:16px;border-radius:8px;'
        f"background:{PROPOSAL_COLOUR};color:#fff;font-size:10px;text-align:center;"
        f'line-height:16px;border:1px solid #000;margin-right:5px">1</span>'
        "proposed satellite (by rank)"
    )
    return "<br>".join(rows)


class MapLegend(folium.MacroElement):
    """A legend as a Leaflet control that comes and goes with its layer.

    It sits at the bottom right, so the scale bar at the bottom left stays clear.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var fg = {{ this._parent.get_name() }};
            var ctl = L.control({position: "bottomright"});
            ctl.onAdd = function () {
                var d = L.DomUtil.create("div", "harmreach-legend");
                d.id = "harmreach-legend";
                d.style.cssText = "background:#fff;padding:6px 9px;border:1px solid #999;"
                    + "border-radius:4px;font:11px/1.35 sans-serif;max-width:250px;";
                d.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(d);
                L.DomEvent.disableScrollPropagation(d);
                return d;
            };
            fg.on("add", function () { ctl.addTo(fg._map); });
            fg.on("remove", function () { ctl.remove(); });
            if (fg._map) { ctl.addTo(fg._map); }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, html: str) -> None:
        super().__init__()
        self._name = "MapLegend"
        self.html = html


def base_map(ds_bounds: tuple[float, float, float, float]) -> folium.Map:
    """The map without data (its script stays the same, so it is drawn once per dataset)."""
    x0, y0, x1, y1 = ds_bounds
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    # Serve Leaflet and the marker icons from the app (static/vendor), not folium's CDNs:
    # the map must draw offline and on networks that block CDNs.
    m.default_js = LOCAL_JS
    m.default_css = LOCAL_CSS
    # Tiles need the internet; everything else is drawn from local data and shows on a
    # plain background when the tile server cannot be reached.
    folium.TileLayer("OpenStreetMap", name="Streets (online tiles)").add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    return m


def county_view(bounds: tuple[float, float, float, float]) -> tuple[list[float], int]:
    """Centre and zoom (Web Mercator) that show the whole study area in a ~950 × 620 px map."""
    x0, y0, x1, y1 = bounds
    lat = (y0 + y1) / 2
    dlon = max(x1 - x0, 1e-6)
    # a degree of latitude is 1/cos(lat) times as tall as a degree of longitude is wide
    dlat = max(y1 - y0, 1e-6) / math.cos(math.radians(lat))
    zoom = math.floor(min(math.log2(900 * 360 / (256 * dlon)), math.log2(580 * 360 / (256 * dlat))))
    return [round(lat, 6), round((x0 + x1) / 2, 6)], max(min(zoom, 16), 3)


def number_icon(n: int, colour: str, size: int = 26, border: str = "#000") -> folium.DivIcon:
    """A round marker with a number in it."""
    return folium.DivIcon(
        html=(
            f'<div style="width:{size}px;height:{size}px;border-radius:{size // 2}px;'
            f"background:{colour};color:#fff;font:bold {size // 2 + 1}px sans-serif;"
            f"text-align:center;line-height:{size - 2}px;border:2px solid {border};"
            f'box-shadow:0 0 4px rgba(0,0,0,.6)">{int(n)}</div>'
        ),
        icon_size=(size, size),
        icon_anchor=(size // 2, size // 2),
    )


def site_popup(s: pd.Series) -> str:
    """A site's details as inert HTML (every value from the file is escaped)."""
    hours = s["opening_hours"] if isinstance(s["opening_hours"], str) else "not given"
    state = "" if s["in_play"] else "<br><b>not in play</b> (closed then / filtered out)"
    return (
        f"<b>{safe_html(s['name'])}</b><br>type: {safe_html(str(s['type']).replace('_', ' '))}"
        f"<br>hours: {safe_html(hours)}{state}"
        + ("<br><i>illustrative site</i>" if s["illustrative"] else "")
    )


class PrebuiltLayer(folium.FeatureGroup):
    """A feature group whose Leaflet script was generated once and is replayed.

    Building a layer with folium and rendering it takes about 0.3 s for the demo on every
    rerun; the script of a layer only depends on the settings, so it is kept in the results
    cache and handed to ``st_folium`` as it is.
    """

    _template = Template("{% macro script(this, kwargs) %}{{ this.js }}{% endmacro %}")

    def __init__(self, name: str, js: str) -> None:
        super().__init__(name=name)
        self.js = js

    def render(self, **kwargs) -> None:  # noqa: ANN003
        """Nothing to render: the script already holds the layer, its children and addTo."""


def layer_script(fg: folium.FeatureGroup, idx: int) -> str:
    """The script ``st_folium`` makes for ``fg`` as its ``idx``-th layer.

    Without the lines that add it to the map: ``st_folium`` adds those to any layer.
    """
    from streamlit_folium import generate_leaflet_string, get_full_id

    m = folium.Map(tiles=None)
    fg._id = f"feature_group_{idx}"
    fg.add_to(m)
    fg.render()
    js = generate_leaflet_string(fg, base_id=f"feature_group_{idx}")
    return dedent(js.replace(get_full_id(m), "map_div"))


def map_layers(
    ds: Dataset,
    data_key: str,
    pub: Published,
    result: CoverageResult,
    k_key: tuple,
    reach,  # noqa: ANN001
    hotspots: gpd.GeoDataFrame | None,
    prop: gpd.GeoDataFrame | None,
) -> list[folium.FeatureGroup]:
    """The data layers, bottom to top, each built once per settings and then replayed.

    Areas (with the legend), reach, gaps, hotspots, sites, labels, proposals. Published
    values only; every text from a file is escaped.
    """
    pkey = tuple(result.params.describe().items())
    wanted = [("areas", pkey, lambda: areas_layer(pub, result, hotspots))]
    if reach is not None and not reach.is_empty:
        wanted.append(("reach", pkey, lambda: reach_layer(reach, result)))
    if len(pub.gaps):
        wanted.append(("gaps", pkey, lambda: gaps_layer(pub, result)))
    if hotspots is not None and len(hotspots):
        wanted.append(("hotspots", pkey, lambda: hotspots_layer(hotspots)))
    # the sites layer only changes with which sites are in play
    in_play = tuple(pub.sites["in_play"].astype(bool))
    wanted.append(("sites", in_play, lambda: site_markers(pub.sites)))
    wanted.append(("labels", pkey, lambda: area_labels(pub.areas)))
    if prop is not None and len(prop):
        wanted.append(("proposals", (*pkey, *k_key), lambda: proposal_markers(prop)))
    out = []
    for idx, (kind, key, build) in enumerate(wanted):

        def go(build=build, idx=idx) -> tuple[str, str]:
            fg = build()
            return fg.layer_name, layer_script(fg, idx)

        name, js = cached(data_key, "map-layer", (kind, key, idx), go)
        out.append(PrebuiltLayer(name, js))
    return out


def light_json(gdf: gpd.GeoDataFrame, tolerance_deg: float = 0.0) -> str:
    """GeoJSON for the map: coordinates to 5 decimals (about 1 m), optionally simplified."""
    geoms = gdf.geometry.values
    if tolerance_deg:
        geoms = shapely.simplify(geoms, tolerance_deg, preserve_topology=True)
    out = gdf.copy()
    out.geometry = shapely.set_precision(geoms, 1e-5)
    return out.to_json(drop_id=True)


def areas_layer(
    pub: Published, result: CoverageResult, hotspots: gpd.GeoDataFrame | None
) -> folium.FeatureGroup:
    """Areas filled by band of share within reach, with tooltips and the map legend."""
    areas = crsmod.to_crs(pub.areas, settings.WGS84_EPSG)
    show = gpd.GeoDataFrame(
        {
            "area_name": areas["area_name"].map(safe_html),
            "share_covered": areas["share_covered"].astype(float),
            "covered": areas["share_covered"].map(pct),
            "need_txt": areas["need"].map(num),
            "beyond": areas["need_uncovered"].map(num),
            "median": areas["median_min"].map(
                lambda v: "no site" if not np.isfinite(v) else f"{v:.0f} min"
            ),
        },
        geometry=areas.geometry.values,
        crs=settings.WGS84_EPSG,
    )
    fg = folium.FeatureGroup(name="Areas: share of need within reach")
    folium.GeoJson(
        light_json(show, 0.0002),
        style_function=lambda f: {
            "fillColor": band_colour(f["properties"]["share_covered"]),
            "color": "#333",
            "weight": 2,
            "fillOpacity": 0.6,
        },
        tooltip=folium.GeoJsonTooltip(
            ["area_name", "covered", "need_txt", "beyond", "median"],
            aliases=[
                "Area",
                "Need within reach",
                "Need (est.)",
                "Need beyond reach",
                "Median travel",
            ],
        ),
    ).add_to(fg)
    present = [t for t in TYPE_STYLE if (pub.sites["type"] == t).any()]
    hs_text = None
    if hotspots is not None:
        hs_text = f"hotspot (Gi*): {len(hotspots)}"
    MapLegend(legend_html(result, present, len(pub.gaps), hs_text)).add_to(fg)
    return fg


def reach_layer(reach, result: CoverageResult) -> folium.FeatureGroup:  # noqa: ANN001
    """The area within T of a site in play."""
    fg = folium.FeatureGroup(name=f"Reachable within {result.params.minutes:g} min")
    folium.GeoJson(
        light_json(gpd.GeoDataFrame(geometry=[reach], crs=4326)),
        style_function=lambda f: {
            "fillColor": REACH_COLOUR,
            "color": REACH_COLOUR,
            "weight": 0.8,
            "fillOpacity": 0.25,
        },
    ).add_to(fg)
    return fg


def gaps_layer(pub: Published, result: CoverageResult) -> folium.FeatureGroup:
    """Gaps filled dark red (solid), distinct from hotspots (dashed purple outline)."""
    g = crsmod.to_crs(pub.gaps, settings.WGS84_EPSG)
    gshow = gpd.GeoDataFrame(
        {
            "rank": g["rank"].astype(int),
            "name": g["name"].map(safe_html),
            "area_name": g["area_name"].map(safe_html),
            "need": g["need"].map(num),
            "nearest_min": g["nearest_min"].map(
                lambda v: f"{v:.0f} min" if np.isfinite(v) else "no site"
            ),
        },
        geometry=g.geometry.values,
        crs=settings.WGS84_EPSG,
    )
    fg = folium.FeatureGroup(name=f"Gaps (need ≥ {result.params.suppress} beyond reach)")
    folium.GeoJson(
        light_json(gshow, 0.0001),
        style_function=lambda f: {
            "color": GAP_COLOUR,
            "weight": 2,
            "fillColor": GAP_COLOUR,
            "fillOpacity": 0.45,
        },
        tooltip=folium.GeoJsonTooltip(
            ["rank", "name", "area_name", "need", "nearest_min"],
            aliases=["Gap #", "Place", "District", "Need (est.)", "To nearest site"],
        ),
    ).add_to(fg)
    return fg


def hotspots_layer(hotspots: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """Hotspots as dashed purple outlines."""
    h = crsmod.to_crs(hotspots, settings.WGS84_EPSG)[["rank", "need", "max_z", "geometry"]].copy()
    h["need"] = h["need"].map(num)
    h["max_z"] = h["max_z"].round(1)
    fg = folium.FeatureGroup(name="Hotspots (Gi*)")
    folium.GeoJson(
        light_json(h),
        style_function=lambda f: {
            "color": HOTSPOT_COLOUR,
            "weight": 2.5,
            "dashArray": "6 4",
            "fill": False,
        },
        tooltip=folium.GeoJsonTooltip(
            ["rank", "need", "max_z"], aliases=["Hotspot #", "Count", "Max z"]
        ),
    ).add_to(fg)
    return fg


def site_markers(sites_bng: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """Sites by type; sites within ``COLOCATED_M`` of each other share one numbered marker."""
    fg = folium.FeatureGroup(name="Exchange sites")
    if not len(sites_bng):
        return fg
    groups = cluster_points(site_xy(sites_bng), COLOCATED_M)
    sites = crsmod.to_crs(sites_bng, settings.WGS84_EPSG)
    for lab in np.unique(groups):
        members = sites[groups == lab]
        first = members.iloc[0]
        at = [members.geometry.y.mean(), members.geometry.x.mean()]
        if len(members) == 1:
            col, icon, _ = TYPE_STYLE.get(first["type"], TYPE_STYLE["other"])
            folium.Marker(
                at,
                popup=folium.Popup(site_popup(first), max_width=280),
                tooltip=folium.Tooltip(safe_html(first["name"])),
                icon=folium.Icon(
                    color=col if first["in_play"] else "lightgray", icon=icon, prefix="fa"
                ),
            ).add_to(fg)
            continue
        popup = "<br><hr style='margin:3px 0'>".join(site_popup(s) for _, s in members.iterrows())
        names = "; ".join(safe_html(n) for n in members["name"])
        folium.Marker(
            at,
            popup=folium.Popup(f"<b>{len(members)} sites here</b><br>{popup}", max_width=300),
            tooltip=folium.Tooltip(f"{len(members)} sites: {names}"),
            icon=number_icon(
                len(members), "#37474f" if members["in_play"].any() else "#9e9e9e", 24, "#fff"
            ),
        ).add_to(fg)
    return fg


def area_labels(areas_bng: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """Each area's name and share within reach, at a point inside it."""
    fg = folium.FeatureGroup(name="Area labels")
    areas = crsmod.to_crs(areas_bng, settings.WGS84_EPSG)
    for _, r in areas.iterrows():
        pt = r.geometry.representative_point()
        html = (
            '<div style="transform:translate(-50%,-50%);white-space:nowrap;text-align:center;'
            "font:bold 12px sans-serif;color:#111;text-shadow:0 0 3px #fff,0 0 3px #fff,"
            f'0 0 2px #fff;pointer-events:none">{safe_html(r["area_name"])}<br>'
            f"{safe_html(pct(r['share_covered']))}</div>"
        )
        folium.Marker(
            [pt.y, pt.x],
            icon=folium.DivIcon(html=html, icon_size=(0, 0), icon_anchor=(0, 0)),
            interactive=False,
            z_index_offset=-1000,
        ).add_to(fg)
    return fg


def proposal_markers(prop: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """Proposed satellites as numbered markers drawn above everything else."""
    fg = folium.FeatureGroup(name="Proposed satellites")
    for _, r in crsmod.to_crs(prop, settings.WGS84_EPSG).iterrows():
        place = r["ward_name"] if isinstance(r["ward_name"], str) else r["nearest_postcode"]
        tip = (
            f"<b>Proposal {int(r['rank'])}</b>: {safe_html(place)}, "
            f"{safe_html(r['district_name'])}<br>+{num(r['need_added'])} need newly in reach; "
            f"{km(r['nearest_site_km'])} from the nearest site"
        )
        folium.Marker(
            [r.geometry.y, r.geometry.x],
            tooltip=folium.Tooltip(tip),
            icon=number_icon(int(r["rank"]), PROPOSAL_COLOUR),
            z_index_offset=10000,
        ).add_to(fg)
    return fg


def draw_map(
    ds: Dataset,
    data_key: str,
    pub: Published,
    result: CoverageResult,
    k_key: tuple,
    reach,  # noqa: ANN001
    hotspots: gpd.GeoDataFrame | None,
    prop: gpd.GeoDataFrame | None,
    focus: int | None,
) -> None:
    """The map: one Leaflet map per dataset; controls only swap its layers (no reload)."""
    bounds = tuple(crsmod.to_crs(ds.areas, settings.WGS84_EPSG).total_bounds)
    center, zoom = county_view(bounds)
    if focus is not None and prop is not None and focus < len(prop):
        pt = crsmod.to_crs(prop, settings.WGS84_EPSG).geometry.iloc[focus]
        center, zoom = [round(pt.y, 6), round(pt.x, 6)], 15
    st_folium(
        base_map(bounds),
        feature_group_to_add=map_layers(ds, data_key, pub, result, k_key, reach, hotspots, prop),
        layer_control=folium.LayerControl(collapsed=True),
        center=center,
        zoom=zoom,
        height=620,
        use_container_width=True,
        returned_objects=[],
        key="map",
    )


# ---------------------------------------------------------------- page
def main() -> None:
    """Draw the page."""
    st.title("Needle & syringe programme reach")
    try:
        ds, data_key, params, k, objective, exact = sidebar()
        with st.spinner("Computing travel times and coverage…"):
            result, pub = compute(ds, data_key, params)
    except InputError as exc:
        st.error("Problem with the input: " + app_message(exc.one_line()))
        st.stop()
        return
    banners(ds, result, pub)
    sp, pp = None, None
    if k > 0:
        try:
            with st.spinner("Choosing satellite sites…"):
                sp = plan(ds, data_key, result, k, objective, exact)
                if len(sp.table):
                    pp = proposals(ds, data_key, result, pub, sp, (k, objective, exact))
        except InputError as exc:
            st.warning("Planning: " + app_message(exc.one_line()))
    prop = pp.proposed if pp is not None else None
    headline(pub, result, sp, pp, k)
    # One view at a time (not st.tabs, which runs every tab on every rerun): keeps
    # changes of minutes or mode fast.
    view = (
        st.segmented_control("View", VIEWS, default="Map", key="view", label_visibility="collapsed")
        or "Map"
    )
    # The map stays in the page under every view, hidden under the others: coming back to
    # it, or changing a setting, only swaps its layers (building Leaflet afresh in a new
    # frame costs the browser about half a second).
    st.html(f"<style>{MAP_SHOWN_CSS if view == 'Map' else MAP_HIDDEN_CSS}</style>")
    with st.container(key=MAP_BOX):
        reach = reach_polygon(ds, data_key, result)
        focus = selected_row("map_proposals")
        hs = published_hotspots(ds, data_key, result, pub)
        draw_map(ds, data_key, pub, result, (k, objective, exact), reach, hs, prop, focus)
    if view == "Map":
        st.caption(
            "Numbered orange circles: proposed satellites (select a row below to zoom to one). "
            "Grey markers: not in play at this time; dark numbered circles: sites at one place "
            "(click for the list). Layers can be switched in the map's top-right control."
        )
        proposals_table(sp, pp, k, "map_proposals")
    elif view == "Areas":
        areas_tab(pub, result)
    elif view == "Coverage curve":
        curve_tab(pub, result)
    elif view == "Across the week":
        week_tab(ds, data_key, result, pub)
    elif view == "Plan & what-if":
        plan_tab(ds, data_key, result, pub, sp, pp, k)
    elif view == "Equipment & treatment":
        supply_tab(ds, data_key, result, pub)
    elif view == "Downloads":
        cells, hs = hotspot_raw(ds, data_key, result.demand["need"].to_numpy())
        downloads_tab(pub, result, pp, (cells, hs, data_key != "demo"))
    else:
        about_tab(ds, result, pub)
    if data_key == "demo":
        # while the user reads this page, compute the settings they are likely to try next
        prefetch_neighbours(ds, params, k, objective, exact)


def selected_row(key: str) -> int | None:
    """The row selected in the dataframe ``key`` (from the previous run), if any."""
    state = st.session_state.get(key)
    try:
        rows = state["selection"]["rows"]  # type: ignore[index]
    except (TypeError, KeyError):
        return None
    return int(rows[0]) if rows else None


def banners(ds: Dataset, result: CoverageResult, pub: Published) -> None:
    """Honest labels: illustrative inputs and estimated travel times."""
    ill = [k for k, v in ds.illustrative.items() if v]
    if ds.place_label == "Worcestershire (demo)":
        st.warning(
            "**Demo county: Worcestershire.** Postcodes and boundaries are real open "
            "data (boundaries approximated from OS Code-Point Open); **the sites, their "
            "opening hours and the need figures are illustrative, not the real service "
            "list.**"
        )
    elif ill:
        st.warning(f"Illustrative inputs: {', '.join(ill)}.")
    st.info(
        "**Where the inputs come from** "
        f"({app_message(ds.place_label or 'your areas')}):  \n"
        + "  \n".join(app_message(line) for line in ds.provenance())
    )
    for note in ds.notes:
        st.caption("Note: " + app_message(publish.note(pub, note)))
    for ref in ds.references:
        st.caption("Published reference: " + app_message(ref))
    if "estimated" in result.model:
        st.info(
            f"**Travel times are estimated**, not routed on streets: {result.model}. "
            "Use the command line with `--network county.osm.pbf` for street routing."
        )
    for rep in ds.reports:
        if rep.skipped:
            st.warning(app_message(rep.summary()))
    for note in [*(publish.note(pub, n) for n in result.notes), *pub.notes]:
        st.caption("Note: " + app_message(note))


def headline(
    pub: Published, result: CoverageResult, sp: SitePlan | None, pp: PublishedPlan | None, k: int
) -> None:
    """The figures people come for, as published (labels short enough not to be cut)."""
    h = pub.headlines
    p = result.params
    if p.at:
        st.caption(f"Sites open on {p.at} only.")
    c = st.columns(5)
    c[0].metric(
        f"Need within {p.minutes:g} min {p.mode}",
        h["need_covered"].text,
        help="Share of estimated need living where the nearest open site is within reach"
        + (f", counting only sites open on {p.at}." if p.at else ".")
        + (f" Shown as a band: {h['need_covered'].why}." if h["need_covered"].why else ""),
    )
    c[1].metric(
        f"Need beyond {p.minutes:g} min",
        h["need_beyond"].text,
        help=h["need_beyond"].why or "Estimated people in need beyond reach (rounded).",
    )
    meta = pub.metadata
    small = meta.get("smaller_clusters", 0)
    small_need = meta.get("smaller_clusters_need")
    c[2].metric(
        f"Gaps (need ≥ {p.suppress})",
        f"{len(pub.gaps):,}",
        help=f"Gaps counted: {meta.get('gaps', '')}. "
        f"{small:,} smaller clusters of uncovered postcodes "
        + (
            f"(need {small_need:,.0f} in all) "
            if isinstance(small_need, (int, float)) and small_need == small_need
            else "(their need not shown) "
        )
        + "are not counted as gaps.",
    )
    c[3].metric("Sites in play", f"{int(result.sites['in_play'].sum())} of {len(result.sites)}")
    if pp is not None and sp is not None and len(sp.table):
        n = len(sp.table)
        before, after = pp.headlines["before"], pp.headlines["after"]
        delta = (
            f"{100 * (after.value - before.value):+.1f} points"
            if after.value is not None and before.value is not None
            else None
        )
        c[4].metric(
            f"With {n} satellite{'s' if n > 1 else ''}"
            + (" (two sites)" if pp.share_column == "share_backup_after" else ""),
            after.text,
            delta=delta,
            help=after.why or None,
        )
    else:
        c[4].metric("Backup (2+ sites)", h["backup"].text if "backup" in h else "—")
    short = shortfall_text(sp, k)
    if short:
        st.info(short)


def proposals_table(sp: SitePlan | None, pp: PublishedPlan | None, k: int, key: str) -> None:
    """One row per proposal (published by the gate); selecting a row zooms the map to it."""
    if k == 0:
        return
    st.subheader("Proposed satellites")
    if sp is None or pp is None or not len(pp.proposed):
        st.write("No candidate adds coverage, so no satellite is proposed.")
        return
    prop = pp.proposed
    r = sp.result
    gap = "" if r.gap is None else f", {100 * r.gap:.2f}% from the bound"
    st.caption(
        f"Ranked by {pp.what.replace('need', 'need newly', 1)}. {sp.n_candidates:,} candidates "
        f"({sp.candidates_from}); {r.method}, "
        f"{'optimal' if r.optimal else 'not proven optimal'}{gap}. "
        f"{pp.what.capitalize()}: {pp.headlines['before'].text} → "
        f"{pp.headlines['after'].text}. "
        "Select a row to zoom the map to it."
    )
    st.dataframe(
        pd.DataFrame(
            {
                "Rank": prop["rank"].astype(int),
                "Nearest postcode": prop["nearest_postcode"],
                "Ward": prop["ward_name"].fillna("—"),
                "District": prop["district_name"],
                "Nearest site": prop["nearest_site_km"].map(km),
                (
                    "Need newly with two sites"
                    if pp.share_column == "share_backup_after"
                    else "Need newly in reach"
                ): prop["need_added"].map(num),
                (
                    "Share with two sites after"
                    if pp.share_column == "share_backup_after"
                    else "Share covered after"
                ): prop[pp.share_column].map(pct),
            }
        ),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=key,
    )


BAND_COLOURS = {"low": "#d7301f", "medium": "#fdae61", "high": "#1a9850"}


def supply_tab(ds: Dataset, data_key: str, result: CoverageResult, pub: Published) -> None:
    """Equipment per person who injects and met need, beside travel coverage (published)."""
    from harmreach.analysis.equipment import run_equipment, run_met_need
    from harmreach.geo.activity import DEMO_ACTIVITY, read_activity
    from harmreach.geo.treatment import DEMO_TREATMENT, read_treatment

    demo = data_key == "demo"
    c = st.columns(2)
    act_up = c[0].file_uploader("Site activity (CSV, XLSX)", type=["csv", "xlsx"], key="up_act")
    tr_up = c[1].file_uploader(
        "People in treatment (area_code, in_treatment)", type=["csv", "xlsx"], key="up_tr"
    )
    act_src = (
        Source(act_up.name, data=act_up.getvalue()) if act_up else (DEMO_ACTIVITY if demo else None)
    )
    tr_src = (
        Source(tr_up.name, data=tr_up.getvalue()) if tr_up else (DEMO_TREATMENT if demo else None)
    )
    if act_src is None and tr_src is None:
        st.info(
            "Upload site activity (syringes given out per site and period) and people in "
            "treatment per area to see equipment coverage and met need."
        )
        return
    try:
        table = pd.DataFrame({"area_code": pub.table["area_code"], "Area": pub.table["area_name"]})
        table["Share within reach"] = pub.table["share_covered"].map(pct).to_numpy()
        m = st.columns(2)
        bands = None
        if act_src is not None:
            act = read_activity(act_src, site_ids=ds.sites["site_id"])
            eq = run_equipment(ds, act, result.params, surface=result.need_info)
            pe = publish.equipment(pub, eq)
            m[0].metric(
                "Syringes per person who injects a year",
                "hidden" if pe.county_per_pwid is None else f"{pe.county_per_pwid:,.0f}",
                help="WHO/UNODC/UNAIDS: low < 100, medium 100-200, high > 200 (2030 target 300)",
            )
            m[0].caption(f"WHO band: {pe.county_band or 'hidden'}")
            t = pe.table
            table["Syringes per person who injects"] = (
                t["syringes_per_pwid"]
                .map(lambda x: "hidden" if x != x else (num(x) if x == round(x) else f"{x:.1f}"))
                .to_numpy()
            )
            table["WHO band"] = t["band"].fillna("—").to_numpy()
            bands = t.set_index("area_code")["band"]
            if act.illustrative:
                st.warning("The site activity is ILLUSTRATIVE (invented for the demo).")
        if tr_src is not None:
            tr = read_treatment(tr_src, area_codes=ds.areas["area_code"])
            mn = run_met_need(ds, tr.by_area, surface=result.need_info)
            pm = publish.met_need(pub, mn)
            share = pm.table.set_index("area_code").loc["ALL", "met_need"]
            m[1].metric("Met need (in treatment ÷ estimated need)", pct(share))
            table["In treatment"] = pm.table["in_treatment"].map(num).to_numpy()
            table["Met need"] = pm.table["met_need"].map(pct).to_numpy()
            if tr.illustrative:
                st.warning("The treatment counts are ILLUSTRATIVE (invented for the demo).")
        for ref in ds.references:
            st.caption("Published reference: " + app_message(ref))
    except InputError as exc:
        st.error("Problem with the input: " + app_message(exc.one_line()))
        return
    if bands is not None:
        areas = crsmod.to_crs(pub.areas, settings.WGS84_EPSG)
        fmap = folium.Map(tiles=None, prefer_canvas=True)
        for _, a in areas.iterrows():
            band = bands.get(a["area_code"])
            colour = BAND_COLOURS.get(str(band), SUPPRESSED_COLOUR)
            folium.GeoJson(
                a.geometry.__geo_interface__,
                style_function=lambda _f, col=colour: {
                    "fillColor": col,
                    "color": "#333",
                    "weight": 1,
                    "fillOpacity": 0.7,
                },
                tooltip=safe_html(f"{a['area_name']}: {band or 'not shown'}"),
            ).add_to(fmap)
        x0, y0, x1, y1 = areas.total_bounds
        fmap.fit_bounds([[y0, x0], [y1, x1]])
        st.markdown(
            "**WHO band of syringes per person who injects**: red low (< 100), amber medium "
            "(100-200), green high (> 200), grey not shown"
        )
        st_folium(fmap, height=420, returned_objects=[], key="supply_map")
    st.markdown(
        "**Near a site, and served?** Travel coverage beside equipment and treatment: an "
        "area near a site but in the low band, or with low met need, is reached poorly."
    )
    st.dataframe(table.drop(columns="area_code"), hide_index=True, width="stretch")


def areas_tab(pub: Published, result: CoverageResult) -> None:
    """The district table (published values)."""
    t = pub.table.copy()
    show = pd.DataFrame(
        {
            "Area": t["area_name"],
            "Need (est.)": t["need"].map(num),
            "Need within reach": t["need_covered"].map(num),
            "Share within reach": t["share_covered"].map(pct),
            "Backup (2+ sites)": t["share_backup"].map(pct),
            "Median minutes": t["median_min"].map(lambda v: f"{v:.1f}" if np.isfinite(v) else "—"),
            "Residents": t["residents"].map(num),
        }
    )
    if "access_e2sfca" in t.columns:
        show["Capacity per person in need (E2SFCA)"] = t["access_e2sfca"].map(
            lambda v: "hidden" if pd.isna(v) else f"{v:.2f}"
        )
    st.dataframe(show, hide_index=True, width="stretch")
    if len(pub.gaps):
        g = pub.gaps
        st.markdown(f"**Gaps: need ≥ {result.params.suppress} beyond reach, by need**")
        st.dataframe(
            pd.DataFrame(
                {
                    "Gap": g["rank"],
                    "Place": g["name"],
                    "District": g["area_name"],
                    "Need (est.)": g["need"].map(num),
                    "Postcodes": g["points"],
                    "To nearest site": g["nearest_min"].map(
                        lambda v: f"{v:.0f} min" if np.isfinite(v) else "no site"
                    ),
                }
            ),
            hide_index=True,
            width="stretch",
            height=260,
        )
    if len(pub.by_type):
        bt = pub.by_type.copy()
        bt["share_covered"] = bt["share_covered"].map(pct)
        st.markdown("**Covered by one kind of site alone**")
        st.dataframe(
            bt[["site_group", "sites", "share_covered"]].rename(
                columns={
                    "site_group": "Sites",
                    "sites": "Number",
                    "share_covered": "Need within reach",
                }
            ),
            hide_index=True,
        )


def curve_tab(pub: Published, result: CoverageResult) -> None:
    """Share of need covered against minutes."""
    c = pub.curve.copy()
    c["share_covered"] = c["share_covered"] * 100
    line = (
        alt.Chart(c)
        .mark_line()
        .encode(
            x=alt.X("minutes:Q", title=f"minutes by {result.params.mode}"),
            y=alt.Y(
                "share_covered:Q",
                title="% of need with a site within reach",
                scale=alt.Scale(domain=[0, 100]),
            ),
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"m": [result.params.minutes]}))
        .mark_rule(color="red", strokeDash=[4, 4])
        .encode(x="m:Q")
    )
    st.altair_chart(line + rule, width="stretch")
    st.caption(
        "Living within a 10-minute walk of an exchange makes consistent use about three "
        "times as likely; beyond 20 minutes use drops (rate ratio about 0.54)."
    )


def week_tab(ds: Dataset, data_key: str, result: CoverageResult, pub: Published) -> None:
    """Day × hour heatmap of coverage (published), and the worst stretches of the week."""
    try:
        prof = week(ds, data_key, result, pub)
    except InputError as exc:
        st.warning("Weekly profile: " + app_message(exc.one_line()))
        return
    o = prof.table[prof.table["area_code"] == publish.TOTAL].copy()
    o["share"] = o["share_covered"] * 100
    x = alt.X("hour:O", title="hour of day", scale=alt.Scale(domain=list(range(24))))
    y = alt.Y("day:O", title=None, scale=alt.Scale(domain=list(DAYS)))
    # every hour drawn grey underneath; the hours the gate publishes coloured on top
    grey = (
        alt.Chart(o.assign(status=o["status"].replace("", "shown")))
        .mark_rect(color="#d9d9d9")
        .encode(x=x, y=y, tooltip=["day", "hour", "sites_open", "status"])
    )
    shown = (
        alt.Chart(o.dropna(subset=["share"]))
        .mark_rect()
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "share:Q",
                title="% need in reach",
                scale=alt.Scale(scheme="redyellowgreen", domain=[0, 100]),
            ),
            tooltip=["day", "hour", alt.Tooltip("share:Q", format=".1f"), "sites_open"],
        )
    )
    heat = grey + shown
    st.altair_chart(heat, width="stretch")
    worst = worst_periods(o)
    n_hidden = int(o["share_covered"].isna().sum())
    st.markdown(
        ("**Worst hours of those shown:**\n" if n_hidden else "**Worst hours:**\n")
        + ("\n".join(f"- {w}" for w in worst) if worst else "- none of the hours can be shown")
    )
    if n_hidden:
        st.caption(
            f"{n_hidden} of 168 hours of the week are not shown (grey): their figures would "
            "let a count under the threshold be worked out."
        )
    st.caption(
        f"Need-hours of access a week: {prof.need_hours.text} of {prof.need_hours_max.text} "
        "possible if every site within reach were open around the clock."
    )
    c = st.columns(2)
    c[0].download_button(
        "Weekly profile (CSV)",
        lambda: exports.csv_text(prof.table),
        file_name="harmreach_weekly_profile.csv",
        mime="text/csv",
    )
    c[1].download_button(
        "Weekly profile metadata (JSON)",
        lambda: exports.metadata_json(prof.metadata),
        file_name="harmreach_weekly_profile.metadata.json",
        mime="application/json",
    )


def plan_tab(
    ds: Dataset,
    data_key: str,
    result: CoverageResult,
    pub: Published,
    sp: SitePlan | None,
    pp: PublishedPlan | None,
    k: int,
) -> None:
    """Proposed satellites site by site, and what happens if a site closes."""
    if k == 0:
        st.subheader("Proposed satellites")
        st.write("Choose a number of satellites in the sidebar.")
    else:
        proposals_table(sp, pp, k, "plan_proposals")
    st.subheader("What if a site closes?")
    options = result.sites["site_id"].astype(str) + " · " + result.sites["name"].astype(str)
    pick = st.selectbox("Site", ["(none)", *options.tolist()])
    if pick != "(none)":
        sid = result.sites["site_id"].astype(str).iloc[options.tolist().index(pick)]
        cmp = closure(ds, data_key, result, pub, sid)
        st.dataframe(
            pd.DataFrame(
                {
                    "Area": cmp["area_name"],
                    "Share before": cmp["share_before"].map(pct),
                    "Share after": cmp["share_after"].map(pct),
                    "Change (points)": [
                        closure_change(b, a)
                        for b, a in zip(cmp["share_before"], cmp["share_after"], strict=True)
                    ],
                    "Need losing access": cmp["need_losing_access"].map(num),
                }
            ),
            hide_index=True,
            width="stretch",
        )


def downloads_tab(
    pub: Published, result: CoverageResult, pp: PublishedPlan | None, hotspots: tuple
) -> None:
    """The same exports as the command line, from the gate, built when a button is clicked."""
    meta = pub.metadata
    prop = pp.proposed if pp is not None else None
    st.write(
        "Every file carries its parameters, the travel model, data sources, what is "
        "illustrative and the attribution (CSV files: in the .metadata.json beside them). "
        "Counts under the threshold, and anything that would reveal them, are not shown."
    )
    c = st.columns(4)
    layers = pub.as_dict()
    if prop is not None and len(prop):
        layers["proposals"] = prop
    # Files are built when a button is clicked (callables), not on every rerun.
    for i, name in enumerate(["areas", "gaps", "sites"]):
        c[i].download_button(
            f"{name}.geojson",
            lambda name=name: json.dumps(
                exports.to_geojson(layers[name], {**meta, "layer": name}), ensure_ascii=False
            ),
            file_name=f"harmreach_{name}.geojson",
            mime="application/geo+json",
        )
        c[i].download_button(
            f"{name}.csv",
            lambda name=name: exports.csv_text(exports.table_of(layers[name])),
            file_name=f"harmreach_{name}.csv",
            mime="text/csv",
        )
        c[i].download_button(
            f"{name}.metadata.json",
            lambda name=name: exports.metadata_json({**meta, "layer": name}),
            file_name=f"harmreach_{name}.metadata.json",
            mime="application/json",
        )
    if prop is not None and len(prop):
        pmeta = {**pp.metadata, "layer": "proposals"}
        c[3].download_button(
            "proposals.geojson",
            lambda: json.dumps(exports.to_geojson(prop, pmeta), ensure_ascii=False),
            file_name="harmreach_proposals.geojson",
            mime="application/geo+json",
        )
        c[3].download_button(
            "proposals.csv",
            lambda: exports.csv_text(exports.table_of(prop)),
            file_name="harmreach_proposals.csv",
            mime="text/csv",
        )
        c[3].download_button(
            "proposals.metadata.json",
            lambda: exports.metadata_json(pmeta),
            file_name="harmreach_proposals.metadata.json",
            mime="application/json",
        )
    cells, hs, same = hotspots
    c[3].download_button(
        "All layers (GeoPackage)",
        lambda: gpkg_bytes(pub, prop, (None, hs, same)),
        file_name="harmreach.gpkg",
        mime="application/geopackage+sqlite3",
        help="Areas, sites, gaps, demand points, hotspots, proposals, metadata, coverage "
        "curve. The 1 km hotspot cells are in the file below.",
    )
    c[3].download_button(
        "… with 1 km hotspot cells (slow)",
        lambda: gpkg_bytes(pub, prop, (cells, hs, same)),
        file_name="harmreach_with_cells.gpkg",
        mime="application/geopackage+sqlite3",
        help="Every layer the command line writes, including the 1 km hotspot cells; "
        "checking the cells for disclosure can take minutes.",
    )
    title = (
        f"Need within {result.params.minutes:g} min {result.params.mode}: "
        f"{pub.headlines['need_covered'].text}"
        + (" (ILLUSTRATIVE inputs)" if meta.get("illustrative_inputs") != "none" else "")
    )
    c[3].download_button(
        "Map (PNG)",
        lambda: report_map(pub, title, "png", prop),
        file_name="harmreach_map.png",
        mime="image/png",
    )
    c[3].download_button(
        "Map (PDF)",
        lambda: report_map(pub, title, "pdf", prop),
        file_name="harmreach_map.pdf",
        mime="application/pdf",
    )


def about_tab(ds: Dataset, result: CoverageResult, pub: Published) -> None:
    """Provenance and licences."""
    for line in ds.provenance():
        st.write("- " + plain_markdown(line))
    st.write(f"- travel model: {result.model}")
    st.write(f"- need: {result.need_info.method}")
    st.write(f"- {pub.metadata['suppression']}")
    st.write(f"- {pub.legend}")
    st.write(f"- gaps: {pub.metadata.get('gaps', '')}")
    st.caption(settings.ATTRIBUTION)


with _prefetcher().page():
    main()
