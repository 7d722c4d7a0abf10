"""A one-page map of published layers (PNG or PDF) for reports, with labels and attribution."""

from __future__ import annotations

import io
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from analysis.layers import Layers  # noqa: E402

TYPE_COLOURS = {
    "pharmacy": "#2e7d32",
    "hospital": "#c62828",
    "drug_service": "#1565c0",
    "satellite": "#ef6c00",
    "mobile": "#6a1b9a",
    "clinic": "#00838f",
    "other": "#616161",
}


def report_map(
    layers: Layers, title: str, fmt: str = "png", proposed: object | None = None
) -> bytes:
    """Render districts shaded by share covered, gaps, sites and proposed sites to bytes."""
    fig, ax = plt.subplots(figsize=(8.27, 11.69))  # A4 portrait
    areas = layers.areas
    areas.plot(
        ax=ax,
        column="share_covered",
        cmap="RdYlGn",
        vmin=0,
        vmax=1,
        edgecolor="#333",
        linewidth=0.8,
        missing_kwds={"color": "#ddd"},
        legend=True,
        legend_kwds={
            "label": "share of need within reach",
            "shrink": 0.5,
            "orientation": "horizontal",
            "pad": 0.02,
        },
    )
    gaps = layers.gaps
    if len(gaps):
        gaps.head(30).plot(ax=ax, facecolor="none", edgecolor="#b71c1c", linewidth=0.8, hatch="///")
    for kind, colour in TYPE_COLOURS.items():
        s = layers.sites[(layers.sites["type"] == kind) & layers.sites["in_play"]]
        if len(s):
            ax.scatter(
                s.geometry.x,
                s.geometry.y,
                s=30,
                c=colour,
                edgecolors="white",
                linewidths=0.6,
                zorder=5,
            )
    if proposed is not None and len(proposed):
        ax.scatter(
            proposed.geometry.x,
            proposed.geometry.y,
            s=160,
            marker="*",
            c="#ffab00",
            edgecolors="black",
            linewidths=0.7,
            zorder=6,
        )
    for _, r in areas.iterrows():
        p = r.geometry.representative_point()
        share = r["share_covered"]
        label = f"{r['area_name']}\n{'suppressed' if share != share else f'{100 * share:.0f}%'}"
        ax.annotate(
            label,
            (p.x, p.y),
            ha="center",
            fontsize=7,
            zorder=7,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7, "lw": 0},
        )
    handles = [
        Line2D([], [], marker="o", ls="", color=c, label=k.replace("_", " "))
        for k, c in TYPE_COLOURS.items()
        if (layers.sites["type"] == k).any()
    ]
    handles.append(
        Patch(facecolor="none", edgecolor="#b71c1c", hatch="///", label="gap (need beyond reach)")
    )
    if proposed is not None and len(proposed):
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                ls="",
                color="#ffab00",
                markersize=12,
                markeredgecolor="black",
                label="proposed satellite",
            )
        )
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.9)
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    meta = layers.metadata
    foot = (
        f"Travel: {meta.get('travel_model')}. Inputs: {meta.get('data_sources')}. "
        f"Illustrative inputs: {meta.get('illustrative_inputs')}. {meta.get('suppression')}. "
        f"{meta.get('attribution')} Generated {meta.get('generated')} by "
        f"{meta.get('generator')}."
    )
    fig.text(0.04, 0.02, "\n".join(textwrap.wrap(foot, 150)), fontsize=5.5, va="bottom")
    fig.subplots_adjust(left=0.03, right=0.97, top=0.95, bottom=0.12)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150)
    plt.close(fig)
    return buf.getvalue()
