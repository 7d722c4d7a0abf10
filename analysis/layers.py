"""Disclosure-safe layers (areas, sites, demand, gaps, hotspots): all that is shown or exported."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis import coverage as cov
from analysis.disclosure import suppress_group, suppress_table
from analysis.gaps import find_gaps
from analysis.scenario import CoverageResult, site_xy
from geo import settings
from geo.dataset import Dataset

AREA_COUNTS = [
    "need",
    "need_covered",
    "need_uncovered",
    "need_backup",
    "residents",
    "residents_covered",
]


@dataclass
class Layers:
    """Published layers plus the metadata every export carries."""

    areas: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    hotspots: gpd.GeoDataFrame | None
    curve: pd.DataFrame
    by_type: pd.DataFrame
    table: pd.DataFrame  # published per-area table with the ALL row
    metadata: dict[str, object] = field(default_factory=dict)
    suppressed_cells: int = 0
    hotspot_cells: gpd.GeoDataFrame | None = None

    def as_dict(self) -> dict[str, gpd.GeoDataFrame]:
        """Spatial layers by name (hotspots only when computed)."""
        out = {"areas": self.areas, "sites": self.sites, "gaps": self.gaps, "demand": self.demand}
        if self.hotspots is not None:
            out["hotspots"] = self.hotspots
        if self.hotspot_cells is not None:
            out["hotspot_cells"] = self.hotspot_cells
        return out


def metadata(ds: Dataset, result: CoverageResult, extra: dict | None = None) -> dict[str, object]:
    """Parameters, travel model, data sources, attribution and what is illustrative."""
    from harmreach import __version__

    meta: dict[str, object] = {
        "generator": f"harmreach {__version__}",
        "generated": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        **result.params.describe(),
        "travel_model": result.model,
        "travel_times_estimated": "estimated" in result.model,
        "need_method": result.need_info.method,
        "data_sources": "; ".join(ds.provenance()),
        "illustrative_inputs": ", ".join(k for k, v in ds.illustrative.items() if v) or "none",
        "suppression": (
            f"counts of people under {result.params.suppress} are suppressed (null), with "
            "secondary suppression so they cannot be recovered from totals"
        ),
        "attribution": settings.ATTRIBUTION
        + ("" if "estimated" in result.model else " " + settings.OSM_ATTRIBUTION),
    }
    meta.update(extra or {})
    return meta


def build_layers(
    ds: Dataset,
    result: CoverageResult,
    *,
    hotspots: gpd.GeoDataFrame | None = None,
    hotspot_cells: gpd.GeoDataFrame | None = None,
    round_to: int | None = None,
    extra_meta: dict | None = None,
) -> Layers:
    """Apply disclosure control to a coverage run and return the layers to publish."""
    thr = result.params.suppress
    minutes = result.params.minutes
    # Areas: counts are additive down each column (to ALL) and across (covered + uncovered).
    table, n_hidden = suppress_table(
        result.table,
        [c for c in AREA_COUNTS if c in result.table.columns],
        total_row=cov.TOTAL_CODE,
        parts={"need": ["need_covered", "need_uncovered"], "residents": ["residents_covered"]},
        shares={"share_covered": "need_covered", "share_backup": "need_backup"},
        threshold=thr,
        round_to=round_to,
    )
    # share_covered also reveals need_uncovered's size relative to need: hide with it
    table["share_covered"] = table["share_covered"].where(table["need_uncovered"].notna())
    areas = ds.areas.merge(table, on=["area_code", "area_name"], how="left")
    total = table[table["area_code"] == cov.TOTAL_CODE]

    d = result.demand
    gaps, rank = find_gaps(
        site_xy(d),
        d["need"].to_numpy(),
        d["residents"].to_numpy(float),
        d["area_code"].to_numpy(),
        d["nearest_min"].to_numpy(),
        minutes,
        crs=ds.crs,
    )
    if len(gaps):
        # The gaps partition the published uncovered need: secondary suppression applies.
        for col in ("need", "residents"):
            hide = suppress_group(gaps[col].to_numpy(), True, thr)
            n_hidden += int(hide.sum())
            gaps[col] = gaps[col].astype(float).where(~hide)
        names = ds.areas.set_index("area_code")["area_name"]
        gaps.insert(4, "area_name", gaps["area_code"].map(names))

    demand = d[
        [
            "postcode",
            "area_code",
            "nearest_min",
            "second_min",
            "nearest_site",
            "n_within",
            "covered",
            "need",
            "residents",
            "geometry",
        ]
    ].copy()
    demand["gap"] = rank
    for col in ("need", "residents"):
        vals = demand[col].to_numpy(float)
        hide = np.zeros(len(demand), dtype=bool)
        for _, idx in demand.groupby("area_code").indices.items():
            hide[idx] = suppress_group(vals[idx], True, thr)
        n_hidden += int(hide.sum())
        demand[col] = np.where(hide, np.nan, vals)

    sites = result.sites[
        [
            "site_id",
            "name",
            "type",
            "opening_hours",
            "capacity",
            "active",
            "in_play",
            "illustrative",
            "geometry",
        ]
    ].copy()
    hs = None
    if hotspots is not None:
        hs = hotspots.copy()
        hide = suppress_group(hs["need"].to_numpy(float), False, thr)
        n_hidden += int(hide.sum())
        hs["need"] = hs["need"].astype(float).where(~hide)
    cells = None
    if hotspot_cells is not None:
        # 1 km cells with kernel density and Gi*; their counts add up to the total.
        cells = hotspot_cells.drop(columns=["row", "col"]).copy()
        hide = suppress_group(cells["need"].to_numpy(float), True, thr)
        n_hidden += int(hide.sum())
        cells["need"] = cells["need"].astype(float).where(~hide)
        # Density and z are linear in the counts: coarsen them so that small counts cannot
        # be reconstructed by inverting the kernel or the Gi* sums to full precision.
        cells["density_km2"] = cells["density_km2"].round(1)
        cells["gi_z"] = cells["gi_z"].round(1)
        cells["gi_p"] = cells["gi_p"].round(3)
    by_type = result.by_type.copy()
    meta = metadata(ds, result, extra_meta)
    if len(total):
        meta["need_covered_share"] = (
            None
            if pd.isna(total["share_covered"].iloc[0])
            else round(float(total["share_covered"].iloc[0]), 4)
        )
    return Layers(
        hotspot_cells=cells,
        areas=areas,
        sites=sites,
        demand=demand,
        gaps=gaps,
        hotspots=hs,
        curve=result.curve,
        by_type=by_type,
        table=table,
        metadata=meta,
        suppressed_cells=n_hidden,
    )
