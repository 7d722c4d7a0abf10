"""Equipment coverage (syringes per person who injects per year) and met need, per area.

**Equipment coverage.** The WHO/UNODC/UNAIDS technical guide grades needle and syringe
programme coverage by syringes distributed per person who injects drugs (PWID) per year:
*low* under 100, *medium* 100 to 200, *high* over 200 (WHO, UNODC, UNAIDS, *Technical
guide for countries to set targets for universal access to HIV prevention, treatment and
care for injecting drug users*, 2009, revised 2012). Edges: exactly 100 and exactly 200 are
*medium*; only above 200 is *high*. The WHO 2030 target is 300 (WHO *Global health sector
strategies on HIV, viral hepatitis and sexually transmitted infections 2022-2030*).

Sites report what they gave out, not where their clients live, so each site's annual
syringes are shared over the people who inject within its reach, weighted by travel time
with the same step weights as E2SFCA (Luo & Qi 2009: 1, 0.68, 0.22 over the thirds of the
catchment T; ``analysis.access``). Demand point *i* receives::

    a_i = Σ_j S_j · P_i W_ij / Σ_k P_k W_kj

(S_j a site's syringes a year, P_i people who inject at point i, W_ij the step weight).
That is P_i times its E2SFCA access score, so the syringes per person who injects in an
area is the need-weighted mean of E2SFCA access. Every syringe of a site with need in reach
is attributed (Σ_i a_i = Σ_j S_j over those sites); syringes of a site with no need in
reach are reported as *unattributed*, never lost. Area figure = attributed syringes ÷
people who inject in the area; county figure = all attributed syringes ÷ all people who
inject.

**Which need is divided by.** The tool's need is an estimate of opiate and/or crack users
(OCU) unless the user's need file counts people who inject. With ``need_basis="ocu"`` (the
default, and what the built-in model and the demo are) people who inject = need ×
``PWID_PER_OCU``; with ``need_basis="pwid"`` the need is used as it is.
``PWID_PER_OCU`` = 0.20: the 2018/19 national estimates for England (OHID/UKHSA, revised
method, published October 2023) give 336,531 OCU of whom an estimated 67,715 currently
inject (0.201). The older series gave 87,302 people injecting opiates/crack in 2011/12 out
of 293,879 OCU (Hay, dos Santos & Worsley 2014, for PHE: 0.297); injecting has fallen since.
Comparing a PWID figure with an OCU figure of another year (87,000 in 2011/12 against
313,971 OCU in 2016/17) mixes methods and years; both figures here are same-year pairs.
Local shares differ a lot: give a PWID need file (``need_basis="pwid"``) when you have one.

**Met need.** People in treatment ÷ estimated need (NDTMS: the share of estimated opiate
and/or crack users in treatment), per area and for the county, with a published reference
when one is given (e.g. a city plan: about 2,000 estimated users, about 1,660 in treatment,
83%). Met need divides by the need as given (OCU), not by people who inject.

**Disclosure.** Everything here is raw. ``need``, ``pwid_need``, ``pwid_in_reach`` and
``in_treatment`` are counts of people; shares, rates and bands are derived from them (see
``EquipmentResult.people_counts``/``derived`` and the same on ``MetNeedResult``): the
publishing gate decides what may be shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from harmreach.analysis.access import STEP_WEIGHTS, step_weights
from harmreach.analysis.coverage import TOTAL_CODE
from harmreach.analysis.need import NeedSurface, need_surface
from harmreach.analysis.scenario import Params, build_engine, site_xy
from harmreach.geo.activity import ActivityInput
from harmreach.geo.dataset import Dataset
from harmreach.geo.errors import InputError
from harmreach.geo.network import StreetNetwork
from harmreach.geo.travel import EstimatedEngine, NetworkEngine

log = logging.getLogger(__name__)

#: WHO/UNODC/UNAIDS bands, syringes per person who injects per year: under 100 is low,
#: 100 to 200 (both included) medium, over 200 high.
WHO_LOW_BELOW: float = 100.0
WHO_HIGH_ABOVE: float = 200.0
#: WHO 2030 target, syringes per person who injects per year.
WHO_2030_TARGET: float = 300.0
#: People who inject per opiate/crack user, England 2018/19 (67,715 / 336,531; see above).
PWID_PER_OCU: float = 0.20
#: What the need figures count: opiate/crack users, or people who inject.
NEED_BASES: tuple[str, ...] = ("ocu", "pwid")
#: Band labels, lowest first.
BANDS: tuple[str, ...] = ("low", "medium", "high")


# --------------------------------------------------------------------------- core on arrays


@dataclass
class Attribution:
    """Each site's supply shared over the need within its reach.

    ``per_demand`` (n_demand,): syringes attributed to each demand point.
    ``need_in_reach`` (n_sites,): Σ_i P_i W_ij, the site's weighted need within T.
    ``attributed`` / ``unattributed`` (n_sites,): supply shared out, and supply of a site
    with no need within reach (all or nothing per site; they add up to the supply).
    """

    per_demand: np.ndarray
    need_in_reach: np.ndarray
    attributed: np.ndarray
    unattributed: np.ndarray


def attribute_supply(
    t_min: np.ndarray | sp.sparray | sp.spmatrix,
    need: np.ndarray,
    supply: np.ndarray,
    minutes: float,
    weights: tuple[float, ...] = STEP_WEIGHTS,
) -> Attribution:
    """Share each site's supply over the need within its reach, weighted by travel time.

    Parameters
    ----------
    t_min
        (n_demand, n_sites) travel minutes. Dense: ``inf`` (or anything over ``minutes``)
        where out of reach. Sparse (any SciPy format, no duplicate entries): the stored
        entries are the pairs that can be reached, an explicitly stored 0 being a 0-minute
        trip; pairs not stored are out of reach.
    need
        P_i, the people (who inject) at each demand point; non-negative.
    supply
        S_j, each site's syringes (a year); non-negative.
    minutes
        The catchment T; weights are ``weights`` over equal thirds of T, 0 beyond T.
    weights
        Step weights (default Luo & Qi's 1, 0.68, 0.22, as in E2SFCA).

    Returns
    -------
    Attribution
        Per demand point and per site; ``per_demand.sum() + unattributed.sum()`` equals
        ``supply.sum()`` up to rounding.
    """
    need = np.asarray(need, float)
    supply = np.asarray(supply, float)
    n_demand, n_sites = len(need), len(supply)
    if t_min.shape != (n_demand, n_sites):
        raise ValueError(
            f"travel times are {t_min.shape}, expected (n_demand, n_sites) = "
            f"({n_demand}, {n_sites})."
        )
    if not (np.isfinite(need).all() and (need >= 0).all()):
        raise ValueError("need must be finite and not negative.")
    if not (np.isfinite(supply).all() and (supply >= 0).all()):
        raise ValueError("supply must be finite and not negative.")
    if not minutes > 0:
        raise ValueError(f"minutes must be positive, not {minutes}.")
    if sp.issparse(t_min):
        coo = sp.coo_array(t_min)
        i, j, t = coo.row, coo.col, np.asarray(coo.data, float)
        keep = np.isfinite(t) & (t <= minutes)
        i, j, t = i[keep].astype(np.int64), j[keep].astype(np.int64), t[keep]
    else:
        dense = np.asarray(t_min, float)
        i, j = np.nonzero(np.isfinite(dense) & (dense <= minutes))
        t = dense[i, j]
    pw = need[i] * step_weights(t, minutes, weights)
    need_in_reach = np.bincount(j, weights=pw, minlength=n_sites)
    has_need = need_in_reach > 0
    ratio = np.divide(supply, need_in_reach, out=np.zeros(n_sites), where=has_need)
    per_demand = np.bincount(i, weights=pw * ratio[j], minlength=n_demand)
    attributed = np.where(has_need, supply, 0.0)
    return Attribution(
        per_demand=per_demand,
        need_in_reach=need_in_reach,
        attributed=attributed,
        unattributed=supply - attributed,
    )


def who_band(per_pwid: float | np.ndarray) -> np.ndarray:
    """WHO/UNODC/UNAIDS band of syringes per person who injects per year.

    ``low`` < 100 ≤ ``medium`` ≤ 200 < ``high`` (100 and 200 are medium); None where the
    figure is undefined (no estimated need). Values are compared after rounding to 6
    decimals, so 200.00000000001 from floating-point sums is still medium.
    """
    x = np.round(np.atleast_1d(np.asarray(per_pwid, float)), 6)
    out = np.full(x.shape, None, dtype=object)
    ok = np.isfinite(x)
    out[ok & (x < WHO_LOW_BELOW)] = "low"
    out[ok & (x >= WHO_LOW_BELOW) & (x <= WHO_HIGH_ABOVE)] = "medium"
    out[ok & (x > WHO_HIGH_ABOVE)] = "high"
    return out


def pwid_from_need(
    need: np.ndarray, need_basis: str = "ocu", pwid_per_ocu: float | None = None
) -> tuple[np.ndarray, str]:
    """People who inject from the tool's need, and a sentence saying how.

    Parameters
    ----------
    need
        Need figures (any shape).
    need_basis
        ``ocu``: need counts opiate/crack users, multiplied by ``pwid_per_ocu``;
        ``pwid``: need already counts people who inject.
    pwid_per_ocu
        Default ``PWID_PER_OCU`` (0.20, England 2018/19).
    """
    need = np.asarray(need, float)
    if need_basis not in NEED_BASES:
        raise InputError(
            f"unknown need basis '{need_basis}'.",
            fix="use 'ocu' (need counts opiate/crack users) or 'pwid' (people who inject).",
        )
    if need_basis == "pwid":
        return need, "need counts people who inject (used as it is)"
    share = PWID_PER_OCU if pwid_per_ocu is None else float(pwid_per_ocu)
    if not 0 < share <= 1:
        raise InputError(
            f"the share of opiate/crack users who inject must be in (0, 1], not {share:g}.",
            fix="give a share such as 0.2.",
        )
    src = " (England 2018/19: 67,715 of 336,531)" if pwid_per_ocu is None else ""
    return need * share, (
        f"need counts opiate/crack users; people who inject = need × {share:g}{src}"
    )


# --------------------------------------------------------------------------- by area


@dataclass
class EquipmentResult:
    """Equipment coverage per area, per site and per demand point (raw, before disclosure).

    ``table``: one row per area and a last row ``ALL``: ``area_code``, ``area_name``,
    ``need`` (as given), ``pwid_need`` (people who inject), ``syringes_per_year``
    (attributed to the area), ``syringes_per_pwid`` (= syringes_per_year ÷ pwid_need),
    ``band`` (WHO), ``meets_2030_target`` (syringes_per_pwid ≥ 300).
    ``sites``: ``site_id``, ``syringes_per_year`` (supply), ``pwid_in_reach`` (weighted
    people who inject within T), ``syringes_attributed``, ``syringes_unattributed``.
    ``per_demand`` / ``pwid``: syringes and people who inject at each demand point.
    """

    table: pd.DataFrame
    sites: pd.DataFrame
    per_demand: np.ndarray
    pwid: np.ndarray
    minutes: float
    basis: str
    model: str = ""
    notes: list[str] = field(default_factory=list)

    #: Columns that count people (suppressed under the threshold).
    people_counts: ClassVar[dict[str, tuple[str, ...]]] = {
        "table": ("need", "pwid_need"),
        "sites": ("pwid_in_reach",),
    }
    #: Derived column → the columns it is computed from (hide it when they are hidden).
    #: ``syringes_per_year`` of an area is listed too: its share of each site's supply is
    #: computed from the need, so with the sites' supply it can reveal a hidden need.
    derived: ClassVar[dict[str, tuple[str, ...]]] = {
        "syringes_per_year": ("pwid_need",),
        "syringes_per_pwid": ("syringes_per_year", "pwid_need"),
        "band": ("syringes_per_year", "pwid_need"),
        "meets_2030_target": ("syringes_per_year", "pwid_need"),
    }

    @property
    def overall(self) -> pd.Series:
        """The ``ALL`` row."""
        return self.table.set_index("area_code").loc[TOTAL_CODE]

    @property
    def county_per_pwid(self) -> float:
        """All attributed syringes ÷ all people who inject."""
        return float(self.overall["syringes_per_pwid"])

    @property
    def county_band(self) -> str | None:
        """The WHO band of the county figure."""
        return self.overall["band"]

    @property
    def supplied(self) -> float:
        """Syringes a year given out by all sites."""
        return float(self.sites["syringes_per_year"].sum())

    @property
    def unattributed(self) -> float:
        """Syringes a year of sites with no need within reach."""
        return float(self.sites["syringes_unattributed"].sum())


def equipment_by_area(
    t_min: np.ndarray | sp.sparray | sp.spmatrix,
    need: np.ndarray,
    area_code: np.ndarray,
    supply: np.ndarray,
    minutes: float,
    *,
    site_ids: list[str] | np.ndarray | None = None,
    area_names: pd.Series | None = None,
    need_basis: str = "ocu",
    pwid_per_ocu: float | None = None,
    weights: tuple[float, ...] = STEP_WEIGHTS,
) -> EquipmentResult:
    """Syringes per person who injects per year, per area and for the county.

    Parameters
    ----------
    t_min, minutes, weights
        As ``attribute_supply``.
    need
        The tool's need at each demand point (see ``need_basis``).
    area_code
        Area of each demand point.
    supply
        Syringes a year given out by each site (``ActivityInput.per_site``).
    site_ids
        Identifiers of the sites (columns of ``t_min``), for the per-site table.
    area_names
        Code → name; every area listed here gets a row, even without demand points.
    need_basis, pwid_per_ocu
        What the need counts (see ``pwid_from_need``).
    """
    area_code = np.asarray(area_code, dtype=object)
    if pd.isna(area_code).any():
        raise ValueError("every demand point needs an area code.")
    pwid, basis = pwid_from_need(need, need_basis, pwid_per_ocu)
    att = attribute_supply(t_min, pwid, supply, minutes, weights)
    df = pd.DataFrame(
        {
            "area_code": area_code,
            "need": np.asarray(need, float),
            "pwid_need": pwid,
            "syringes_per_year": att.per_demand,
        }
    )
    sums = ["need", "pwid_need", "syringes_per_year"]
    per = df.groupby("area_code", sort=True)[sums].sum()
    if area_names is not None:
        codes = sorted(set(per.index) | set(area_names.index))
        per = per.reindex(codes, fill_value=0.0)
    per.loc[TOTAL_CODE] = per[sums].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(per["pwid_need"] > 0, per["syringes_per_year"] / per["pwid_need"], np.nan)
    per["syringes_per_pwid"] = rate
    per["band"] = who_band(rate)
    per["meets_2030_target"] = np.where(
        np.isfinite(rate), np.round(rate, 6) >= WHO_2030_TARGET, None
    )
    per = per.reset_index(names="area_code")
    names = dict(area_names) if area_names is not None else {}
    names[TOTAL_CODE] = "All areas"
    per.insert(1, "area_name", per["area_code"].map(names).fillna(per["area_code"]))
    ids = (
        np.asarray(site_ids, dtype=object)
        if site_ids is not None
        else np.array([str(k) for k in range(len(att.attributed))], dtype=object)
    )
    sites = pd.DataFrame(
        {
            "site_id": ids,
            "syringes_per_year": np.asarray(supply, float),
            "pwid_in_reach": att.need_in_reach,
            "syringes_attributed": att.attributed,
            "syringes_unattributed": att.unattributed,
        }
    )
    notes = [f"people who inject: {basis}"]
    no_reach = sites[sites["syringes_unattributed"] > 0]
    if len(no_reach):
        shown = ", ".join(no_reach["site_id"].astype(str).head(5))
        more = f" and {len(no_reach) - 5} more" if len(no_reach) > 5 else ""
        notes.append(
            f"{no_reach['syringes_unattributed'].sum():,.0f} syringes a year from {len(no_reach)} "
            f"site(s) with no estimated need within {minutes:g} min are not attributed to "
            f"any area ({shown}{more})"
        )
    return EquipmentResult(
        table=per,
        sites=sites,
        per_demand=att.per_demand,
        pwid=pwid,
        minutes=float(minutes),
        basis=basis,
        notes=notes,
    )


def travel_minutes(
    engine: EstimatedEngine | NetworkEngine,
    demand_xy: np.ndarray,
    site_xy_: np.ndarray,
    minutes: float,
) -> np.ndarray | sp.coo_array:
    """Demand × site travel minutes within T: sparse for estimated times, dense on a network.

    Estimated times only need the pairs within the reach radius (a KD-tree finds them), so
    large counties stay small in memory; the network engine returns a dense matrix.
    """
    demand_xy = np.asarray(demand_xy, float).reshape(-1, 2)
    site_xy_ = np.asarray(site_xy_, float).reshape(-1, 2)
    if isinstance(engine, EstimatedEngine):
        shape = (len(demand_xy), len(site_xy_))
        if not len(demand_xy) or not len(site_xy_):
            return sp.coo_array(shape)
        pairs = cKDTree(demand_xy).sparse_distance_matrix(
            cKDTree(site_xy_), engine.reach_radius_m(minutes), output_type="ndarray"
        )
        t = pairs["v"] * engine.detour / engine.speed_ms / 60.0
        return sp.coo_array((t, (pairs["i"], pairs["j"])), shape=shape)
    return engine.matrix(demand_xy, site_xy_, limit_s=minutes * 60.0) / 60.0


def run_equipment(
    ds: Dataset,
    activity: ActivityInput,
    params: Params | None = None,
    *,
    network: StreetNetwork | None = None,
    engine: EstimatedEngine | NetworkEngine | None = None,
    surface: NeedSurface | None = None,
    need_basis: str = "ocu",
    pwid_per_ocu: float | None = None,
) -> EquipmentResult:
    """Equipment coverage for a dataset and an activity file.

    Every site of the sites file that reports activity counts, whether or not it is active
    or open at the chosen time of week: the activity is what it gave out in its periods.
    Sites with no activity rows are listed in the notes (their supply is unknown and
    counted as none).

    Parameters
    ----------
    ds
        Validated inputs.
    activity
        Validated activity (read with the sites' ids).
    params
        Mode and minutes (the time of week and site types do not apply).
    network, engine
        As ``run_coverage``.
    surface
        Need per demand point, if already computed.
    need_basis, pwid_per_ocu
        What the need counts (see ``pwid_from_need``); the built-in model and the demo
        count opiate/crack users.
    """
    params = params or Params()
    engine = engine or build_engine(params, network)
    surface = surface or need_surface(ds.demand, ds.need)
    per_site = activity.per_site().set_index("site_id")
    ids = ds.sites["site_id"].astype(str).to_numpy()
    unknown = sorted(set(per_site.index) - set(ids))
    if unknown:
        raise InputError(
            f"activity for site id(s) not in the sites file: {', '.join(unknown[:5])}"
            + (f" and {len(unknown) - 5} more." if len(unknown) > 5 else "."),
            file=activity.file,
            column="site_id",
            fix="use the site_id values of the sites file.",
        )
    supply = per_site["syringes_per_year"].reindex(ids).to_numpy(float)
    no_activity = ids[np.isnan(supply)]
    supply = np.nan_to_num(supply, nan=0.0)
    # Sites with no (or zero) supply stay in: the site table is complete and shows the need
    # within their reach.
    t_min = travel_minutes(engine, site_xy(ds.demand), site_xy(ds.sites), params.minutes)
    res = equipment_by_area(
        t_min,
        surface.need,
        ds.demand["area_code"].to_numpy(),
        supply,
        params.minutes,
        site_ids=ids,
        area_names=ds.areas.set_index("area_code")["area_name"],
        need_basis=need_basis,
        pwid_per_ocu=pwid_per_ocu,
    )
    res.sites["reported_activity"] = ~res.sites["site_id"].isin(no_activity)
    res.model = engine.model
    if len(no_activity):
        shown = ", ".join(no_activity[:5])
        more = f" and {len(no_activity) - 5} more" if len(no_activity) > 5 else ""
        res.notes.append(
            f"{len(no_activity)} site(s) have no activity rows, so their equipment is "
            f"unknown and counted as none ({shown}{more})"
        )
    if params.at or params.types:
        res.notes.append(
            "equipment counts every site that reported activity: the time of week and "
            "site types apply to travel coverage only"
        )
    if surface.unplaced:
        res.notes.append(
            "need that could not be placed on demand points is left out of the denominator"
        )
    res.notes += activity.notes
    return res


# --------------------------------------------------------------------------- met need


@dataclass(frozen=True)
class MetNeedReference:
    """A published met-need figure to show beside the computed one."""

    label: str
    need: float
    in_treatment: float
    source: str = ""

    @property
    def share(self) -> float:
        """People in treatment ÷ estimated need."""
        return met_need_share(self.in_treatment, self.need)


#: The seed plan's city figures (about 2,000 estimated opiate/crack users, about 1,660 in
#: treatment: 83%), as an example reference.
DERBY_REFERENCE = MetNeedReference(
    "Derby (city plan)",
    2000.0,
    1660.0,
    "a city drug plan: about 2,000 estimated users, about 1,660 in treatment",
)


def met_need_share(
    in_treatment: float | np.ndarray, need: float | np.ndarray
) -> float | np.ndarray:
    """People in treatment ÷ estimated need (NaN where the need is not positive)."""
    t = np.asarray(in_treatment, float)
    n = np.asarray(need, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, t / np.where(n > 0, n, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


@dataclass
class MetNeedResult:
    """Met need per area (raw).

    ``table``: one row per area and ``ALL``: ``area_code``, ``area_name``, ``need``
    (estimated), ``in_treatment`` (NaN where the table gives no figure), ``met_need``
    (in_treatment ÷ need, 0-1). The ``ALL`` row's ``met_need`` is over the areas with a
    figure only (listed in ``areas_without_figure`` and the notes).
    """

    table: pd.DataFrame
    reference: MetNeedReference | None = None
    areas_without_figure: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    people_counts: ClassVar[dict[str, tuple[str, ...]]] = {"table": ("need", "in_treatment")}
    derived: ClassVar[dict[str, tuple[str, ...]]] = {"met_need": ("in_treatment", "need")}

    @property
    def overall(self) -> pd.Series:
        """The ``ALL`` row."""
        return self.table.set_index("area_code").loc[TOTAL_CODE]


def met_need_table(
    in_treatment: pd.Series,
    need_by_area: pd.Series,
    *,
    area_names: pd.Series | None = None,
    reference: MetNeedReference | None = None,
) -> MetNeedResult:
    """Met need per area and for the county.

    Parameters
    ----------
    in_treatment
        People in treatment by area code (``TreatmentInput.by_area``).
    need_by_area
        Estimated need by area code (every area).
    area_names
        Code → name.
    reference
        A published figure to show beside the result.
    """
    unknown = sorted(set(in_treatment.index) - set(need_by_area.index))
    if unknown:
        raise InputError(
            f"treatment figures for area(s) not in the areas: {', '.join(map(str, unknown))}.",
            fix="use the codes of the areas file.",
        )
    per = pd.DataFrame({"need": need_by_area.astype(float)}).sort_index()
    per["in_treatment"] = in_treatment.astype(float).reindex(per.index)
    missing = [str(c) for c in per.index[per["in_treatment"].isna()]]
    with_fig = per["in_treatment"].notna()
    per["met_need"] = met_need_share(per["in_treatment"].to_numpy(), per["need"].to_numpy())
    treated = float(per.loc[with_fig, "in_treatment"].sum())
    per.loc[TOTAL_CODE] = {
        "need": float(per["need"].sum()),
        "in_treatment": treated if with_fig.any() else np.nan,
        # Over the areas with a figure only: an area without one is unknown, not zero.
        "met_need": met_need_share(treated, float(per.loc[with_fig, "need"].sum())),
    }
    per = per.reset_index(names="area_code")
    names = dict(area_names) if area_names is not None else {}
    names[TOTAL_CODE] = "All areas"
    per.insert(1, "area_name", per["area_code"].map(names).fillna(per["area_code"]))
    notes = []
    if missing:
        notes.append(
            f"{len(missing)} area(s) have no treatment figure ({', '.join(missing[:5])}"
            f"{' and more' if len(missing) > 5 else ''}); the county met need covers the "
            "others only"
        )
    over = per[(per["area_code"] != TOTAL_CODE) & (per["met_need"] > 1)]
    if len(over):
        notes.append(
            f"{len(over)} area(s) have more people in treatment than the estimated need "
            "(the estimate may be low, or the treatment figures count a wider group)"
        )
    if reference is not None:
        notes.append(
            f"reference: {reference.label}, {reference.share:.0%} "
            f"({reference.in_treatment:,.0f} in treatment of {reference.need:,.0f} estimated)"
        )
    return MetNeedResult(table=per, reference=reference, areas_without_figure=missing, notes=notes)


def need_by_area(ds: Dataset, surface: NeedSurface | None = None) -> pd.Series:
    """The need the tool uses, summed by area (every area, 0 where none)."""
    surface = surface or need_surface(ds.demand, ds.need)
    s = pd.Series(surface.need).groupby(ds.demand["area_code"].to_numpy()).sum()
    return s.reindex(sorted(ds.areas["area_code"]), fill_value=0.0)


def run_met_need(
    ds: Dataset,
    in_treatment: pd.Series,
    *,
    surface: NeedSurface | None = None,
    reference: MetNeedReference | None = None,
) -> MetNeedResult:
    """Met need for a dataset: people in treatment (by area code) ÷ the tool's need."""
    return met_need_table(
        in_treatment,
        need_by_area(ds, surface),
        area_names=ds.areas.set_index("area_code")["area_name"],
        reference=reference,
    )


# --------------------------------------------------------------------------- side by side

#: Labels of ``near_vs_served``.
POSITIONS: tuple[str, ...] = (
    "near a site and served",
    "near a site but poorly served",
    "far from sites but served",
    "far from sites and poorly served",
)


def near_vs_served(
    coverage: pd.DataFrame,
    equipment: pd.DataFrame | None = None,
    met: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Travel coverage beside equipment and met need, with where each area stands.

    An area is *near* when its share of need within T is at least the county's, and
    *served* when its equipment band is medium or high. Where equipment is not given, the
    position uses met need at or above the county's instead.

    Parameters
    ----------
    coverage
        The coverage table (``area_code``, ``share_covered``; ``ALL`` row).
    equipment, met
        ``EquipmentResult.table`` and ``MetNeedResult.table``.

    Returns
    -------
    pandas.DataFrame
        ``area_code``, ``area_name``, ``share_covered``, ``syringes_per_pwid``, ``band``,
        ``met_need``, ``position`` (one of ``POSITIONS``; None when undefined).
    """
    cov = coverage.set_index("area_code")
    out = pd.DataFrame(index=cov.index)
    out["area_name"] = cov.get("area_name", pd.Series(cov.index, index=cov.index))
    out["share_covered"] = cov["share_covered"]
    eq = equipment.set_index("area_code") if equipment is not None else None
    mt = met.set_index("area_code") if met is not None else None
    out["syringes_per_pwid"] = eq["syringes_per_pwid"] if eq is not None else np.nan
    out["band"] = eq["band"] if eq is not None else None
    out["met_need"] = mt["met_need"] if mt is not None else np.nan
    county_share = float(cov.loc[TOTAL_CODE, "share_covered"])
    near = out["share_covered"] >= county_share
    if eq is not None:
        served = out["band"].isin(["medium", "high"])
        known = out["band"].notna()
    elif mt is not None:
        served = out["met_need"] >= float(mt.loc[TOTAL_CODE, "met_need"])
        known = out["met_need"].notna()
    else:
        served = pd.Series(False, index=out.index)
        known = pd.Series(False, index=out.index)
    known &= out["share_covered"].notna()
    pos = np.where(
        near,
        np.where(served, POSITIONS[0], POSITIONS[1]),
        np.where(served, POSITIONS[2], POSITIONS[3]),
    ).astype(object)
    pos[~known.to_numpy()] = None
    out["position"] = pos
    out.loc[TOTAL_CODE, "position"] = None
    return out.reset_index(names="area_code")
