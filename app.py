"""harmreach dashboard (Streamlit): UI only; computation lives in analysis/ and geo/."""

from __future__ import annotations

import folium
import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.dataset import Dataset, load_dataset
from geo.errors import InputError

st.set_page_config(page_title="harmreach", page_icon="🗺️", layout="wide")

TYPE_STYLE = {
    "pharmacy": ("green", "plus"),
    "hospital": ("red", "h-square"),
    "drug_service": ("blue", "medkit"),
    "satellite": ("orange", "star"),
    "mobile": ("purple", "truck"),
    "clinic": ("cadetblue", "stethoscope"),
    "other": ("gray", "circle"),
}


@st.cache_resource(show_spinner="Loading the demo county…")
def demo_dataset() -> Dataset:
    """The embedded demo county, read once per server."""
    return load_dataset()


def site_map(ds: Dataset) -> folium.Map:
    """Districts and sites on a folium map that works without tiles."""
    areas = ds.areas.to_crs(settings.WGS84_EPSG)
    sites = ds.sites.to_crs(settings.WGS84_EPSG)
    x0, y0, x1, y1 = areas.total_bounds
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    # Tiles need the internet; the boundaries below are drawn from local data and show
    # on a plain background when the tile server cannot be reached.
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap (online)").add_to(m)
    folium.GeoJson(
        areas[["area_code", "area_name", "geometry"]].to_json(),
        name="Districts",
        style_function=lambda f: {"color": "#333", "weight": 2, "fillOpacity": 0.05},
        tooltip=folium.GeoJsonTooltip(["area_name", "area_code"], aliases=["Area", "Code"]),
    ).add_to(m)
    layer = folium.FeatureGroup(name="Exchange sites")
    for _, s in sites.iterrows():
        color, icon = TYPE_STYLE.get(s["type"], TYPE_STYLE["other"])
        hours = s["opening_hours"] if isinstance(s["opening_hours"], str) else "not given"
        popup = (
            f"<b>{s['name']}</b><br>type: {s['type']}<br>hours: {hours}"
            + ("<br><i>illustrative site</i>" if s["illustrative"] else "")
        )
        folium.Marker(
            [s.geometry.y, s.geometry.x],
            popup=folium.Popup(popup, max_width=260),
            tooltip=s["name"],
            icon=folium.Icon(color=color, icon=icon, prefix="fa"),
        ).add_to(layer)
    layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    return m


def main() -> None:
    """Draw the page."""
    st.title("harmreach: needle & syringe programme reach")
    try:
        ds = demo_dataset()
    except InputError as exc:
        st.error(exc.one_line())
        return
    if ds.is_demo:
        st.warning(
            "Demo county: Worcestershire. Boundaries and postcodes are real open data "
            "(approximated from OS Code-Point Open); **site locations, opening hours and "
            "need figures are illustrative, not the real service list.**"
        )
    counts = ds.sites["type"].value_counts()
    cols = st.columns(4)
    cols[0].metric("Areas", len(ds.areas))
    cols[1].metric("Exchange sites", len(ds.sites))
    cols[2].metric("Pharmacies", int(counts.get("pharmacy", 0)))
    cols[3].metric("Specialist (hospital + drug service)",
                   int(counts.get("hospital", 0) + counts.get("drug_service", 0)))
    legend = " · ".join(f":{c}[●] {t}" for t, (c, _) in TYPE_STYLE.items() if t in counts)
    st.caption(f"Legend: {legend}")
    st_folium(site_map(ds), height=600, use_container_width=True, returned_objects=[])
    with st.expander("Data sources"):
        for line in ds.provenance():
            st.write(line)
        st.caption(settings.ATTRIBUTION)


main()
