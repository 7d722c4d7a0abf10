"""A one-page map of published layers (PNG or PDF) for reports, styled like the dashboard map."""

from __future__ import annotations

import io
import math
import textwrap
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.patheffects as pe  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

if TYPE_CHECKING:  # only for the annotation: the map draws what the gate published
    from harmreach.analysis.publish import Published


TYPE_COLOURS = {
    "pharmacy": "#2e7d32",
    "hospital": "#c62828",
    "drug_service": "#1565c0",
    "satellite": "#ef6c00",
    "mobile": "#6a1b9a",
    "clinic": "#00838f",
    "other": "#616161",
}
#: Stated bands of the share of need within reach (percent, lower inclusive), ColorBrewer
#: RdYlGn 5-class: the dashboard's legend and this map use the same classes.
SHARE_BANDS: list[tuple[int, int, str]] = [
    (0, 20, "#d7191c"),
    (20, 40, "#fdae61"),
    (40, 60, "#ffffbf"),
    (60, 80, "#a6d96a"),
    (80, 100, "#1a9641"),
]
SUPPRESSED_COLOUR = "#bdbdbd"
GAP_COLOUR = "#1a1a1a"
HOTSPOT_COLOUR = "#7b1fa2"
PROPOSAL_COLOUR = "#e65100"


def band_colour(share: float | None) -> str:
    """The band colour of a share (0-1); grey when suppressed (None/NaN)."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return SUPPRESSED_COLOUR
    pct = 100 * float(share)
    for _lo, hi, colour in SHARE_BANDS:
        if pct < hi:
            return colour
    return SHARE_BANDS[-1][2]


def _scale_bar(ax: plt.Axes) -> None:
    """A scale bar (metric CRS) at the bottom left of the axes, with a round length."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    length = 10 ** math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * length <= target:
            length *= m
            break
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.03 * (y1 - y0)
    h = 0.006 * (y1 - y0)
    ax.add_patch(Rectangle((bx, by), length, h, fc="black", ec="black", zorder=9))
    ax.add_patch(Rectangle((bx + length / 2, by), length / 2, h, fc="white", ec="black", zorder=9))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx + length / 2, by + 2.2 * h, label, ha="center", va="bottom", fontsize=7, zorder=9)


def report_map(
    layers: Published, title: str, fmt: str = "png", proposed: object | None = None
) -> bytes:
    """Render districts by band of share covered, gaps, hotspots, sites and numbered proposals.

    ``proposed`` is the proposals layer (``analysis.layers.proposal_table``: ``rank`` and
    points), drawn last so that no label or site hides it.
    """
    fig, ax = plt.subplots(figsize=(8.27, 11.69))  # A4 portrait
    areas = layers.areas.copy()
    areas["_colour"] = [band_colour(v) for v in areas["share_covered"].astype(float)]
    areas.plot(ax=ax, color=areas["_colour"], edgecolor="#333", linewidth=0.8, alpha=0.85)
    gaps = layers.gaps
    if len(gaps):
        gaps.plot(ax=ax, facecolor=GAP_COLOUR, edgecolor=GAP_COLOUR, linewidth=0.8, alpha=0.45)
    hs = layers.hotspots
    if hs is not None and len(hs):
        hs.plot(ax=ax, facecolor="none", edgecolor=HOTSPOT_COLOUR, linewidth=1.4, linestyle="--")
    sites = layers.sites[layers.sites["in_play"]]
    for kind, colour in TYPE_COLOURS.items():
        s = sites[sites["type"] == kind]
        if len(s):
            ax.scatter(
                s.geometry.x,
                s.geometry.y,
                s=26,
                c=colour,
                edgecolors="white",
                linewidths=0.6,
                zorder=5,
            )
    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    has_prop = proposed is not None and len(proposed)
    pxy = (
        np.column_stack([proposed.geometry.x, proposed.geometry.y])
        if has_prop
        else np.zeros((0, 2))
    )
    span = max(np.ptp(areas.total_bounds[[0, 2]]), np.ptp(areas.total_bounds[[1, 3]]))
    clear = 0.05 * span  # a label this close to a proposal moves below it
    for _, r in areas.iterrows():
        p = r.geometry.representative_point()
        x, y = p.x, p.y
        if len(pxy):
            # the first of: here, below, above, left, right that is clear of every proposal
            # (else the one farthest from them)
            tries = [(0, 0), (0, -1.2), (0, 1.2), (-1.6, 0), (1.6, 0), (0, -2.2), (0, 2.2)]
            spots = [(x + dx * clear, y + dy * clear) for dx, dy in tries]
            far = [np.hypot(pxy[:, 0] - sx, pxy[:, 1] - sy).min() for sx, sy in spots]
            ok = [i for i, f in enumerate(far) if f >= clear]
            x, y = spots[ok[0] if ok else int(np.argmax(far))]
        share = r["share_covered"]
        label = f"{r['area_name']}\n{'not shown' if share != share else f'{100 * share:.0f}%'}"
        ax.annotate(
            label,
            (x, y),
            ha="center",
            va="center",
            fontsize=7.5,
            fontweight="bold",
            zorder=7,
            path_effects=halo,
        )
    if has_prop:
        xs, ys = proposed.geometry.x.to_numpy(), proposed.geometry.y.to_numpy()
        ranks = np.asarray(proposed["rank"] if "rank" in proposed else proposed["order"])
        ax.scatter(xs, ys, s=230, c=PROPOSAL_COLOUR, edgecolors="black", linewidths=1.0, zorder=10)
        for x, y, r in zip(xs, ys, ranks, strict=True):
            ax.text(
                x,
                y,
                str(int(r)),
                ha="center",
                va="center",
                color="white",
                fontsize=8,
                fontweight="bold",
                zorder=11,
            )
    ax.set_axis_off()
    ax.set_aspect("equal")
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    # room below the county for the scale bar, clear of the legend (top left)
    ax.set_ylim(y0 - 0.06 * (y1 - y0), y1)
    _scale_bar(ax)
    thr = layers.metadata.get("suppression_threshold", 5)
    handles = [
        Patch(facecolor=c, edgecolor="#555", label=f"{lo}–{hi}%" if hi < 100 else f"{lo}% and over")
        for lo, hi, c in SHARE_BANDS
    ]
    handles.append(
        Patch(
            facecolor=SUPPRESSED_COLOUR, edgecolor="#555", label=f"not shown (under {thr:g} people)"
        )
    )
    handles.append(
        Patch(
            facecolor=GAP_COLOUR,
            alpha=0.45,
            edgecolor=GAP_COLOUR,
            label=f"gap: need ≥ {thr:g} beyond reach",
        )
    )
    if hs is not None and len(hs):
        handles.append(
            Patch(facecolor="none", edgecolor=HOTSPOT_COLOUR, linestyle="--", label="hotspot (Gi*)")
        )
    handles += [
        Line2D([], [], marker="o", ls="", color=c, label=k.replace("_", " "))
        for k, c in TYPE_COLOURS.items()
        if (sites["type"] == k).any()
    ]
    if has_prop:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                color=PROPOSAL_COLOUR,
                markersize=11,
                markeredgecolor="black",
                label="proposed satellite (numbered by rank)",
            )
        )
    ax.legend(
        handles=handles,
        # bottom left, above the scale bar: the county rarely fills that corner
        loc="lower left",
        bbox_to_anchor=(0.0, 0.08),
        fontsize=7,
        framealpha=0.95,
        title="share of need within reach",
        title_fontsize=7.5,
    )
    ax.set_title(title, fontsize=11)
    meta = layers.metadata
    foot = (
        f"Travel: {meta.get('travel_model')}. Inputs: {meta.get('data_sources')}. "
        f"Illustrative inputs: {meta.get('illustrative_inputs')}. {meta.get('suppression')}. "
        + (f"Gaps: {meta['gaps']}. " if meta.get("gaps") else "")
        + f"{meta.get('attribution')} Generated {meta.get('generated')} by "
        f"{meta.get('generator')}."
    )
    fig.text(0.04, 0.02, "\n".join(textwrap.wrap(foot, 150)), fontsize=5.5, va="bottom")
    fig.subplots_adjust(left=0.03, right=0.97, top=0.95, bottom=0.12)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150)
    plt.close(fig)
    return buf.getvalue()
