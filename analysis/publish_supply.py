"""The publishing gate's rules for equipment coverage and met need (part of :mod:`publish`).

Reached as ``publish.equipment`` and ``publish.met_need``; faces never call it directly.
Both are published *on top of* a coverage publication, whose area need figures are frozen:

- **Equipment**: syringes are not people, but an area's attributed syringes follow its
  need, and people who inject are a fixed fraction of need. So per area the syringes and
  syringes per person who injects are published only where the coverage publication
  published the area's need (nothing new about a hidden need can be worked out); where
  it is hidden, the WHO band alone is shown. People who inject are never published per
  area (an estimate, but a count of people under 5 wherever need is under 25), nor per
  site (catchment need). Syringes are rounded to tens.
- **Met need**: people in treatment are counts of people from the user. Primary
  suppression under the threshold, and secondary suppression over the areas and their
  published total; the share in treatment is published only where both its count and the
  area's need are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harmreach.analysis import coverage as cov
from harmreach.analysis.disclosure import suppress_group
from harmreach.analysis.equipment import WHO_2030_TARGET, who_band

TOTAL = cov.TOTAL_CODE


def _published_need(pub: object) -> pd.Series:
    """The coverage publication's need per area code (NaN where hidden)."""
    t = pub.table  # type: ignore[attr-defined]
    return t.set_index("area_code")["need"].astype(float)


def _round10(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, float) / 10.0) * 10.0


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x == round(x) else f"{x:,.1f}"


def _per_pwid_text(x: pd.Series) -> np.ndarray:
    """Whole syringes, but never rounded across a WHO band edge (99.6 stays 99.6, not 100)."""
    v = x.astype(float).to_numpy()
    r = np.round(v)
    low_edge = (v < 100) & (r >= 100)
    high_edge = (v > 200) & (r <= 200)
    r = np.where(low_edge, np.floor(v * 10) / 10, r)
    return np.where(high_edge, np.ceil(v * 10) / 10, r)


@dataclass
class PublishedEquipment:
    """Equipment coverage as it may leave the tool."""

    table: pd.DataFrame  # area_code, area_name, syringes_per_year, syringes_per_pwid, band
    sites: pd.DataFrame  # site_id, syringes_per_year (supply), reported_activity
    county_per_pwid: float | None
    county_band: str | None
    supplied: float
    unattributed: float
    metadata: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def headline(self) -> str:
        """``syringes per person who injects per year: 152 (medium)``."""
        if self.county_per_pwid is None:
            return "syringes per person who injects per year: hidden (need too small to publish)"
        return (
            f"syringes per person who injects per year: {_fmt(self.county_per_pwid)} "
            f"({self.county_band})"
        )


def equipment(pub: object, eq: object) -> PublishedEquipment:
    """Publish an :class:`analysis.equipment.EquipmentResult` beside its coverage run."""
    need = _published_need(pub)
    t = eq.table.copy()  # type: ignore[attr-defined]
    ok = t["area_code"].map(need).notna().to_numpy() & t["need"].gt(0).to_numpy()
    out = pd.DataFrame({"area_code": t["area_code"], "area_name": t["area_name"]})
    out["syringes_per_year"] = np.where(ok, _round10(t["syringes_per_year"]), np.nan)
    # the rate over the *published* need (people who inject are a fixed share of it): a
    # rate over the raw need, beside syringes, would pin the need closer than its rounding
    rate = t["syringes_per_pwid"].astype(float).to_numpy()
    if "pwid_need" in t.columns:
        with np.errstate(invalid="ignore", divide="ignore"):
            share = t["pwid_need"].to_numpy(float) / t["need"].to_numpy(float)
            pub_rate = t["syringes_per_year"].to_numpy(float) / (
                t["area_code"].map(need).to_numpy(float) * share
            )
        rate = np.where(ok & np.isfinite(pub_rate), pub_rate, rate)
    band = pd.Series(who_band(rate), index=t.index).where(np.isfinite(rate), None)
    out["syringes_per_pwid"] = np.where(ok, _per_pwid_text(pd.Series(rate)), np.nan)
    out["band"] = band.to_numpy()
    out["meets_2030_target"] = np.where(ok, np.round(rate, 6) >= WHO_2030_TARGET, None)
    all_ok = bool(ok[t["area_code"].eq(TOTAL).to_numpy()].all())
    t["syringes_per_pwid"], t["band"] = rate, band.to_numpy()
    row = t.set_index("area_code").loc[TOTAL]
    sites = eq.sites[["site_id", "syringes_per_year"]].copy()  # type: ignore[attr-defined]
    sites["syringes_per_year"] = _round10(sites["syringes_per_year"])
    if "reported_activity" in eq.sites:  # type: ignore[attr-defined]
        sites["reported_activity"] = eq.sites["reported_activity"].to_numpy()  # type: ignore[attr-defined]
    meta = {
        "equipment_method": "each site's syringes shared over the people who inject within "
        f"{eq.minutes:g} minutes, weighted by travel time (E2SFCA steps 1, 0.68, 0.22); "  # type: ignore[attr-defined]
        "WHO/UNODC/UNAIDS bands: low < 100, medium 100-200, high > 200 a year",
        "equipment_basis": eq.basis,  # type: ignore[attr-defined]
        "equipment_published": "per area only where the area's need is published; "
        "people who inject are not published per area or site; syringes rounded to tens",
    }
    return PublishedEquipment(
        table=out,
        sites=sites,
        county_per_pwid=float(_per_pwid_text(pd.Series([row["syringes_per_pwid"]]))[0])
        if all_ok
        else None,
        county_band=row["band"] if all_ok else None,
        supplied=float(_round10(eq.supplied)),  # type: ignore[attr-defined]
        unattributed=float(_round10(eq.unattributed)),  # type: ignore[attr-defined]
        metadata=meta,
        notes=list(eq.notes),  # type: ignore[attr-defined]
    )


@dataclass
class PublishedMetNeed:
    """Met need as it may leave the tool."""

    table: pd.DataFrame  # area_code, area_name, in_treatment, met_need
    reference: str | None
    metadata: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def headline(self) -> str:
        """``met need (in treatment ÷ estimated need): 49.3%``."""
        share = self.table.set_index("area_code").loc[TOTAL, "met_need"]
        text = "hidden" if share != share else f"{100 * share:.1f}%"
        return f"met need (people in treatment ÷ estimated need): {text}"


def met_need(pub: object, met: object) -> PublishedMetNeed:
    """Publish an :class:`analysis.equipment.MetNeedResult` beside its coverage run."""
    thr = float(pub.threshold)  # type: ignore[attr-defined]
    need = _published_need(pub)
    t = met.table.copy()  # type: ignore[attr-defined]
    is_total = t["area_code"].eq(TOTAL).to_numpy()
    counts = t["in_treatment"].astype(float).to_numpy()
    known = ~np.isnan(counts)
    hide = np.zeros(len(t), dtype=bool)
    parts = known & ~is_total
    # The areas add up to the published total: a hidden area must not be the total minus
    # the others, so the smallest further areas are hidden with it (secondary suppression).
    hide[np.flatnonzero(parts)] = suppress_group(counts[parts], True, thr)
    total = counts[parts].sum()
    hide[is_total] = 0 < total < thr
    base = float(getattr(pub, "round_to", 1.0) or 1.0)
    pub_counts = np.where(known & ~hide, np.round(counts / base) * base, np.nan)
    area_need = t["area_code"].map(need).to_numpy(float)
    # the share of two published (rounded) figures: a share of the raw ones would pin the
    # need more closely than its rounding (9 in treatment ÷ 146.5% gives 6.14 when the
    # need is published as 5)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(
            ~np.isnan(pub_counts) & ~np.isnan(area_need) & (area_need > 0),
            pub_counts / area_need,
            np.nan,
        )
    out = pd.DataFrame(
        {
            "area_code": t["area_code"],
            "area_name": t["area_name"],
            "in_treatment": pub_counts,
            "met_need": np.round(share, 3),
        }
    )
    ref = getattr(met, "reference", None)
    ref_text = None
    if ref is not None:
        ref_text = str(getattr(ref, "label", None) or ref)
    meta = {
        "met_need_method": "people in treatment (your table) ÷ estimated need per area",
        "met_need_published": f"counts under {thr:g} and the cells that would reveal them "
        "hidden; a share only where its count and the area's need are published",
    }
    return PublishedMetNeed(
        table=out,
        reference=ref_text,
        metadata=meta,
        notes=list(getattr(met, "notes", [])),
    )
