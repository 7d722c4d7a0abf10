"""harmreach dashboard (Streamlit): UI only; computation lives in analysis/ and geo/."""

from __future__ import annotations

import hashlib
import json
import math

import altair as alt
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st
from branca.element import Element
from streamlit_folium import st_folium

from analysis import exports
from analysis.disclosure import suppress_group, suppress_values
from analysis.hotspots import find_hotspots
from analysis.hours import DAYS
from analysis.layers import Layers, build_layers
from analysis.planning import SitePlan, plan_for_run
from analysis.report_map import report_map
from analysis.scenario import (
    CoverageResult,
    Params,
    build_engine,
    compare_runs,
    published_comparison,
    run_coverage,
    site_xy,
    with_sites_changed,
)
from analysis.weekly import WeeklyProfile, weekly_profile
from geo import settings
from geo.dataset import DEMO_COUNTS, Dataset, load_dataset
from geo.errors import InputError
from geo.isochrones import reachable_area
from geo.need import read_need
from geo.tables import Source

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
    return st.session_state.setdefault("_results", {})


def cached(data_key: str, name: str, params: tuple, fn, *args):  # noqa: ANN001, ANN201
    """Memoise ``fn(*args)``: global for the demo, per session for uploads."""
    if data_key == "demo":
        return _demo_cached(name, params, fn, *args)
    store = _session_cache()
    key = (data_key, name, params)
    if key not in store:
        if len(store) > 40:
            store.clear()
        store[key] = fn(*args)
    return store[key]


_DEMO_STORE: dict = {}


def _demo_cached(name, params, fn, *args):  # noqa: ANN001, ANN202
    key = (name, params)
    if key not in _DEMO_STORE:
        if len(_DEMO_STORE) > 200:
            _DEMO_STORE.clear()
        _DEMO_STORE[key] = fn(*args)
    return _DEMO_STORE[key]


def compute(ds: Dataset, data_key: str, p: Params) -> tuple[CoverageResult, Layers]:
    """Coverage and its disclosure-safe layers for the current settings."""

    def go() -> tuple[CoverageResult, Layers]:
        result = run_coverage(ds, p)
        return result, build_layers(ds, result)

    return cached(data_key, "coverage", tuple(p.describe().items()), go)


def hotspot_layer(ds: Dataset, data_key: str, need: np.ndarray) -> gpd.GeoDataFrame:
    """Gi* hotspots of the demo's client counts (or of the need surface for uploads)."""

    def go() -> gpd.GeoDataFrame:
        if data_key == "demo":
            from analysis.need import need_surface

            weights = need_surface(ds.demand, read_need(DEMO_COUNTS)).need
        else:
            weights = need
        _, hs = find_hotspots(site_xy(ds.demand), weights, ds.areas.union_all(), crs=ds.crs)
        hs["need"] = suppress_values(hs["need"].to_numpy(float), settings.SUPPRESSION_THRESHOLD)
        return hs

    return cached(data_key, "hotspots", (), go)


def reach_polygon(ds: Dataset, data_key: str, result: CoverageResult):  # noqa: ANN201
    """Area within T of an open site, in WGS84."""
    p = result.params

    def go():  # noqa: ANN202
        play = result.sites[result.sites["in_play"]]
        geom = reachable_area(build_engine(p, None), site_xy(play), p.minutes)
        return (
            gpd.GeoSeries([geom], crs=ds.crs)
            .intersection(ds.areas.union_all())
            .to_crs(settings.WGS84_EPSG)
            .iloc[0]
        )

    return cached(data_key, "reach", tuple(p.describe().items()), go)


def plan(
    ds: Dataset, data_key: str, result: CoverageResult, k: int, objective: str, exact: bool
) -> SitePlan:
    """K proposed satellites for the current settings (greedy unless exact is asked for)."""

    def go() -> SitePlan:
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

    key = (tuple(result.params.describe().items()), k, objective, exact)
    return cached(data_key, "plan", key, go)


def week(ds: Dataset, data_key: str, result: CoverageResult) -> WeeklyProfile:
    """Coverage for every hour of the week."""
    p = result.params
    key = (p.mode, p.minutes, p.types, p.assume_open)
    return cached(
        data_key,
        "week",
        key,
        lambda: weekly_profile(result, build_engine(p, None), assume_open_missing=p.assume_open),
    )


def closure(ds: Dataset, data_key: str, result: CoverageResult, site_id: str) -> pd.DataFrame:
    """What if a site closes: per-area change and need that loses access."""

    def go() -> pd.DataFrame:
        after = run_coverage(with_sites_changed(ds, close=[site_id]), result.params)
        return compare_runs(result, after)

    return cached(data_key, "close", (tuple(result.params.describe().items()), site_id), go)


# ---------------------------------------------------------------- helpers
def pct(x: float | None) -> str:
    """A share as a percentage, or 'suppressed'."""
    return (
        "suppressed" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"
    )


def num(x: float | None) -> str:
    """A published count, or 'suppressed'."""
    return "suppressed" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


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


def sidebar() -> tuple[Dataset, str, Params, int, str, bool]:
    """Every control, written once; returns the data, its cache key and the parameters."""
    sb = st.sidebar
    sb.header("Data")
    choice = sb.radio(
        "Inputs", ["Demo county (Worcestershire)", "My files"], label_visibility="collapsed"
    )
    if choice.startswith("Demo"):
        ds, data_key = demo_dataset(), "demo"
    else:
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
        ds = store[(data_key, "dataset")]
    sb.header("Travel")
    mode = sb.selectbox("Mode", settings.MODES, index=settings.MODES.index(settings.DEFAULT_MODE))
    minutes = sb.slider("Minutes", 5, 60, int(settings.DEFAULT_MINUTES), step=5)
    day = sb.selectbox("Time of week", [ANY_TIME, *DAYS])
    at = None
    if day != ANY_TIME:
        hour = sb.slider("Hour", 0, 23, 19)
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
        ["coverage", "backup", "equity"],
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
LEGEND_HTML = """
<div style="position: fixed; bottom: 24px; left: 12px; z-index: 9999; background: white;
 padding: 8px 10px; border: 1px solid #999; border-radius: 4px; font: 12px sans-serif;"
 id="harmreach-legend">
<b>Legend</b><br>{rows}
<span style="display:inline-block;width:12px;height:12px;background:#1a9850;opacity:.6"></span>
 share of need within reach (red low, green high)<br>
<span style="display:inline-block;width:12px;height:12px;background:#2166ac;opacity:.5"></span>
 reachable within {minutes:g} min<br>
<span style="display:inline-block;width:12px;height:12px;border:2px dashed #67000d"></span>
 gap: need beyond reach (largest 15)<br>
<span style="color:#ffab00;font-size:14px">★</span> proposed satellite
</div>"""


def colour(share: float) -> str:
    """Red → yellow → green for a share 0-1 (grey when suppressed)."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "#bdbdbd"
    stops = [(0.0, (215, 48, 39)), (0.5, (254, 224, 139)), (1.0, (26, 152, 80))]
    for (a, ca), (b, cb) in zip(stops, stops[1:], strict=False):
        if share <= b:
            t = (share - a) / (b - a)
            return "#" + "".join(f"{int(ca[i] + t * (cb[i] - ca[i])):02x}" for i in range(3))
    return "#1a9850"


def build_map(
    ds: Dataset,
    layers: Layers,
    result: CoverageResult,
    reach,
    hotspots,  # noqa: ANN001
    proposed: gpd.GeoDataFrame | None,
) -> folium.Map:
    """The folium map: published layers only, so tooltips cannot leak small counts."""
    areas = layers.areas.to_crs(settings.WGS84_EPSG)
    x0, y0, x1, y1 = areas.total_bounds
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    # Serve Leaflet and the marker icons from the app (static/vendor), not folium's CDNs:
    # the map must draw offline and on networks that block CDNs.
    m.default_js = LOCAL_JS
    m.default_css = LOCAL_CSS
    # Tiles need the internet; everything else is drawn from local data and shows on a
    # plain background when the tile server cannot be reached.
    folium.TileLayer("OpenStreetMap", name="Streets (online tiles)").add_to(m)
    show = areas[
        [
            "area_code",
            "area_name",
            "share_covered",
            "need",
            "need_uncovered",
            "median_min",
            "geometry",
        ]
    ].copy()
    show["covered"] = show["share_covered"].map(pct)
    show["need_txt"] = show["need"].map(num)
    show["beyond"] = show["need_uncovered"].map(num)
    show["median"] = show["median_min"].map(
        lambda v: "no site" if not np.isfinite(v) else f"{v:.0f} min"
    )
    folium.GeoJson(
        show.drop(columns=["need", "need_uncovered", "median_min"]).to_json(),
        name="Areas: share of need within reach",
        style_function=lambda f: {
            "fillColor": colour(f["properties"]["share_covered"]),
            "color": "#333",
            "weight": 2,
            "fillOpacity": 0.55,
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
    ).add_to(m)
    if reach is not None and not reach.is_empty:
        folium.GeoJson(
            gpd.GeoSeries([reach], crs=4326).to_json(),
            name=f"Reachable within {result.params.minutes:g} min",
            style_function=lambda f: {
                "fillColor": "#2166ac",
                "color": "#2166ac",
                "weight": 1.5,
                "fillOpacity": 0.35,
            },
        ).add_to(m)
    gaps = layers.gaps.head(15)
    if len(gaps):
        g = gaps.to_crs(settings.WGS84_EPSG)[
            ["rank", "area_name", "need", "nearest_min", "geometry"]
        ].copy()
        g["need"] = g["need"].map(num)
        g["nearest_min"] = g["nearest_min"].map(lambda v: f"{v:.0f} min" if np.isfinite(v) else "—")
        folium.GeoJson(
            g.to_json(),
            name="Gaps (largest 15 by need)",
            style_function=lambda f: {
                "color": "#67000d",
                "weight": 1.2,
                "dashArray": "5 3",
                "fillColor": "#67000d",
                "fillOpacity": 0.12,
            },
            tooltip=folium.GeoJsonTooltip(
                ["rank", "area_name", "need", "nearest_min"],
                aliases=["Gap #", "Area", "Need (est.)", "To nearest site"],
            ),
        ).add_to(m)
    if hotspots is not None and len(hotspots):
        h = hotspots.to_crs(settings.WGS84_EPSG)[["rank", "need", "max_z", "geometry"]].copy()
        h["need"] = h["need"].map(num)
        h["max_z"] = h["max_z"].round(1)
        folium.GeoJson(
            h.to_json(),
            name="Hotspots (Gi*, p < 0.05)",
            show=False,
            style_function=lambda f: {
                "color": "#6a1b9a",
                "weight": 2,
                "dashArray": "4",
                "fillOpacity": 0.1,
            },
            tooltip=folium.GeoJsonTooltip(
                ["rank", "need", "max_z"], aliases=["Hotspot #", "Count", "Max z"]
            ),
        ).add_to(m)
    sites = layers.sites.to_crs(settings.WGS84_EPSG)
    fg = folium.FeatureGroup(name="Exchange sites")
    for _, s in sites.iterrows():
        col, icon, _ = TYPE_STYLE.get(s["type"], TYPE_STYLE["other"])
        hours = s["opening_hours"] if isinstance(s["opening_hours"], str) else "not given"
        state = "" if s["in_play"] else "<br><b>not in play</b> (closed then / filtered out)"
        popup = (
            f"<b>{s['name']}</b><br>type: {s['type'].replace('_', ' ')}<br>hours: {hours}"
            f"{state}" + ("<br><i>illustrative site</i>" if s["illustrative"] else "")
        )
        folium.Marker(
            [s.geometry.y, s.geometry.x],
            popup=folium.Popup(popup, max_width=280),
            tooltip=s["name"],
            icon=folium.Icon(color=col if s["in_play"] else "lightgray", icon=icon, prefix="fa"),
        ).add_to(fg)
    fg.add_to(m)
    if proposed is not None and len(proposed):
        pg = folium.FeatureGroup(name="Proposed satellites")
        for _, p in proposed.to_crs(settings.WGS84_EPSG).iterrows():
            folium.Marker(
                [p.geometry.y, p.geometry.x],
                tooltip=f"Proposed satellite #{p['order']}: +{num(p['need_added'])} need in reach",
                icon=folium.DivIcon(
                    html='<div style="font-size:26px;color:#ffab00;'
                    'text-shadow:0 0 3px #000">★</div>'
                ),
            ).add_to(pg)
        pg.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    rows = "".join(
        f'<span style="color:{hexc}">●</span> {t.replace("_", " ")}<br>'
        for t, (_, _, hexc) in TYPE_STYLE.items()
        if (sites["type"] == t).any()
    )
    m.get_root().html.add_child(
        Element(LEGEND_HTML.format(rows=rows, minutes=result.params.minutes))
    )
    m.fit_bounds([[y0, x0], [y1, x1]])
    return m


# ---------------------------------------------------------------- page
def main() -> None:
    """Draw the page."""
    st.title("Needle & syringe programme reach")
    try:
        ds, data_key, params, k, objective, exact = sidebar()
        with st.spinner("Computing travel times and coverage…"):
            result, layers = compute(ds, data_key, params)
    except InputError as exc:
        st.error(f"**Problem with the input:** {exc.one_line()}")
        st.stop()
        return
    banners(ds, result)
    proposed_plan = None
    if k > 0:
        try:
            with st.spinner("Choosing satellite sites…"):
                proposed_plan = plan(ds, data_key, result, k, objective, exact)
        except InputError as exc:
            st.warning(f"Planning: {exc.one_line()}")
    headline(layers, result, proposed_plan)
    # One view at a time (not st.tabs, which runs every tab on every rerun): keeps
    # changes of minutes or mode fast.
    view = (
        st.segmented_control("View", VIEWS, default="Map", key="view", label_visibility="collapsed")
        or "Map"
    )
    if view == "Map":
        hs = hotspot_layer(ds, data_key, result.demand["need"].to_numpy())
        reach = reach_polygon(ds, data_key, result)
        prop = None
        if proposed_plan is not None and len(proposed_plan.proposed):
            prop = published_plan(proposed_plan, params.suppress)
        st_folium(
            build_map(ds, layers, result, reach, hs, prop),
            height=620,
            use_container_width=True,
            returned_objects=[],
            key="map",
        )
        st.caption(
            "Click a site for its details. Grey markers: not in play at this time. "
            "Layers can be switched in the map's top-right control."
        )
    elif view == "Areas":
        areas_tab(layers, result)
    elif view == "Coverage curve":
        curve_tab(layers, result)
    elif view == "Across the week":
        week_tab(ds, data_key, result)
    elif view == "Plan & what-if":
        plan_tab(ds, data_key, result, proposed_plan)
    elif view == "Downloads":
        downloads_tab(layers, result, proposed_plan)
    else:
        about_tab(ds, result, layers)


def banners(ds: Dataset, result: CoverageResult) -> None:
    """Honest labels: illustrative inputs and estimated travel times."""
    ill = [k for k, v in ds.illustrative.items() if v]
    if ds.is_demo:
        st.warning(
            "**Demo county: Worcestershire.** Postcodes and boundaries are real open "
            "data (boundaries approximated from OS Code-Point Open); **the sites, their "
            "opening hours and the need figures are illustrative, not the real service "
            "list.**"
        )
    elif ill:
        st.warning(f"Illustrative inputs: {', '.join(ill)}.")
    if "estimated" in result.model:
        st.info(
            f"**Travel times are estimated**, not routed on streets: {result.model}. "
            "Use the command line with `--network county.osm.pbf` for street routing."
        )
    for rep in ds.reports:
        if rep.skipped:
            st.warning(rep.summary())
    for note in result.notes + ([result.need_info.summary()] if result.need_info.unplaced else []):
        st.caption(f"Note: {note}")


def headline(layers: Layers, result: CoverageResult, sp: SitePlan | None) -> None:
    """The figures people come for."""
    total = layers.table.set_index("area_code").loc["ALL"]
    p = result.params
    when = f" ({p.at})" if p.at else ""
    c = st.columns(5)
    c[0].metric(f"Need within {p.minutes:g} min {p.mode}{when}", pct(total["share_covered"]))
    c[1].metric(f"Need beyond {p.minutes:g} min", num(total["need_uncovered"]))
    big = layers.gaps["need"].fillna(0) >= p.suppress
    c[2].metric(
        "Gaps",
        f"{len(layers.gaps):,}",
        help=f"{int(big.sum())} with need ≥ {p.suppress}; "
        "uncovered postcodes within 500 m of each other form one gap",
    )
    c[3].metric("Sites in play", f"{int(result.sites['in_play'].sum())} of {len(result.sites)}")
    if sp is not None and len(sp.table):
        c[4].metric(
            f"With {len(sp.table)} proposed satellite(s)",
            pct(sp.share_after),
            delta=f"{100 * (sp.share_after - sp.share_before):+.1f} points",
        )
    else:
        c[4].metric("Backup (2+ sites in reach)", pct(total["share_backup"]))


def areas_tab(layers: Layers, result: CoverageResult) -> None:
    """The district table (published values)."""
    t = layers.table.copy()
    show = pd.DataFrame(
        {
            "Area": t["area_name"],
            "Need (est.)": t["need"].map(num),
            "Need within reach": t["need_covered"].map(num),
            "Share within reach": t["share_covered"].map(pct),
            "Backup (2+ sites)": t["share_backup"].map(pct),
            "Median minutes": t["median_min"].map(lambda v: f"{v:.1f}" if np.isfinite(v) else "—"),
            "Residents within reach": t["residents_covered"].map(num),
        }
    )
    if "access_e2sfca" in t.columns:
        show["Capacity per person in need (E2SFCA)"] = t["access_e2sfca"].round(2)
    st.dataframe(show, hide_index=True, width="stretch")
    if len(result.by_type):
        bt = result.by_type.copy()
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


def curve_tab(layers: Layers, result: CoverageResult) -> None:
    """Share of need covered against minutes."""
    c = layers.curve.copy()
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


def week_tab(ds: Dataset, data_key: str, result: CoverageResult) -> None:
    """Day × hour heatmap of coverage, and the worst hours."""
    try:
        prof = week(ds, data_key, result)
    except InputError as exc:
        st.warning(f"Weekly profile: {exc.one_line()}")
        return
    o = prof.overall.copy()
    o["share"] = o["share_covered"] * 100
    heat = (
        alt.Chart(o)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="hour of day"),
            y=alt.Y("day:O", sort=list(DAYS), title=None),
            color=alt.Color(
                "share:Q",
                title="% need in reach",
                scale=alt.Scale(scheme="redyellowgreen", domain=[0, 100]),
            ),
            tooltip=["day", "hour", alt.Tooltip("share:Q", format=".1f"), "sites_open"],
        )
    )
    st.altair_chart(heat, width="stretch")
    worst = prof.worst(5)
    st.markdown(
        "**Worst hours:** "
        + "; ".join(
            f"{r.day} {r.hour:02d}:00 ({100 * r.share_covered:.1f}%, {r.sites_open} sites open)"
            for r in worst.itertuples()
        )
    )
    st.caption(
        f"Need-hours of access a week: {prof.need_hours:,.0f} of {prof.need_hours_max:,.0f} "
        "possible if every site within reach were open around the clock."
    )
    st.download_button(
        "Weekly profile (CSV)",
        exports.csv_text(
            o.drop(columns="share"), {"layer": "weekly_profile", "travel_model": result.model}
        ),
        file_name="harmreach_weekly_profile.csv",
        mime="text/csv",
    )


def published_plan(sp: SitePlan, thr: int) -> gpd.GeoDataFrame:
    """Proposed sites with their gains suppressed under the threshold."""
    prop = sp.proposed.copy()
    hide = suppress_group(prop["need_added"].to_numpy(float), True, thr)
    prop["need_added"] = prop["need_added"].where(~hide)
    return prop


def plan_tab(ds: Dataset, data_key: str, result: CoverageResult, sp: SitePlan | None) -> None:
    """Proposed satellites site by site, and what happens if a site closes."""
    st.subheader("Proposed satellites")
    if sp is None:
        st.write("Choose a number of satellites in the sidebar.")
    elif not len(sp.table):
        st.write("No candidate adds coverage.")
    else:
        r = sp.result
        gap = "" if r.gap is None else f", {100 * r.gap:.2f}% from the bound"
        st.caption(
            f"{sp.n_candidates:,} candidates ({sp.candidates_from}); {r.method}, "
            f"{'optimal' if r.optimal else 'not proven optimal'}{gap}."
        )
        prop = published_plan(sp, result.params.suppress).to_crs(settings.WGS84_EPSG)
        st.dataframe(
            pd.DataFrame(
                {
                    "#": prop["order"],
                    "Need newly in reach": prop["need_added"].map(num),
                    "Share covered after": prop["share_covered_after"].map(pct),
                    "Areas gaining": prop["areas_gaining"],
                    "lat": prop.geometry.y.round(5),
                    "lon": prop.geometry.x.round(5),
                }
            ),
            hide_index=True,
            width="stretch",
        )
        st.write(f"Need within reach: **{pct(sp.share_before)} → {pct(sp.share_after)}**")
    st.subheader("What if a site closes?")
    options = result.sites["site_id"] + " · " + result.sites["name"]
    pick = st.selectbox("Site", ["(none)", *options.tolist()])
    if pick != "(none)":
        sid = pick.split(" · ")[0]
        cmp = published_comparison(closure(ds, data_key, result, sid), result.params.suppress)
        st.dataframe(
            pd.DataFrame(
                {
                    "Area": cmp["area_name"],
                    "Share before": cmp["share_before"].map(pct),
                    "Share after": cmp["share_after"].map(pct),
                    "Change (points)": (cmp["change"] * 100).round(1),
                    "Need losing access": cmp["need_losing_access"].map(num),
                }
            ),
            hide_index=True,
            width="stretch",
        )


def downloads_tab(layers: Layers, result: CoverageResult, sp: SitePlan | None) -> None:
    """The same exports as the command line, built in memory."""
    meta = layers.metadata
    st.write(
        "Every file carries its parameters, the travel model, data sources, what is "
        "illustrative and the attribution. Counts under the threshold are suppressed."
    )
    c = st.columns(3)
    # Files are built when a button is clicked (callables), not on every rerun.
    for i, name in enumerate(["areas", "gaps", "sites"]):
        c[i].download_button(
            f"{name}.geojson",
            lambda name=name: json.dumps(
                exports.to_geojson(layers.as_dict()[name], {**meta, "layer": name})
            ),
            file_name=f"harmreach_{name}.geojson",
            mime="application/geo+json",
        )
    c[0].download_button(
        "areas.csv",
        lambda: exports.csv_text(exports.table_of(layers.areas), {**meta, "layer": "areas"}),
        file_name="harmreach_areas.csv",
        mime="text/csv",
    )
    c[1].download_button(
        "All layers (GeoPackage)",
        lambda: gpkg_bytes(layers),
        file_name="harmreach.gpkg",
        mime="application/geopackage+sqlite3",
    )
    prop = published_plan(sp, result.params.suppress) if sp is not None and len(sp.table) else None
    title = (
        f"Need within {result.params.minutes:g} min {result.params.mode}: "
        f"{pct(meta.get('need_covered_share'))}"
        + (" (ILLUSTRATIVE inputs)" if meta.get("illustrative_inputs") != "none" else "")
    )
    c[2].download_button(
        "Map (PNG)",
        lambda: report_map(layers, title, "png", prop),
        file_name="harmreach_map.png",
        mime="image/png",
    )
    c[2].download_button(
        "Map (PDF)",
        lambda: report_map(layers, title, "pdf", prop),
        file_name="harmreach_map.pdf",
        mime="application/pdf",
    )


def gpkg_bytes(layers: Layers) -> bytes:
    """A GeoPackage written in a private temporary folder and read back into memory."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="harmreach-") as tmp:
        path = Path(tmp) / "harmreach.gpkg"
        exports.write_gpkg(path, layers)
        return path.read_bytes()


def about_tab(ds: Dataset, result: CoverageResult, layers: Layers) -> None:
    """Provenance and licences."""
    for line in ds.provenance():
        st.write(f"- {line}")
    st.write(f"- travel model: {result.model}")
    st.write(f"- need: {result.need_info.method}")
    st.write(f"- {layers.metadata['suppression']}")
    st.caption(settings.ATTRIBUTION)


main()
