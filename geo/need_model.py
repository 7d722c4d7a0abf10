"""The documented default need model: prevalence × adults aged 15-64, shaped by deprivation.

Used whenever the user gives no need file. Every rate and its source is in
``data/need/README.md``; the method string returned with the need says which were used.

1. Each district's total = its residents aged 15-64 × an opiate and/or crack cocaine use
   (OCU) rate per 1,000 aged 15-64: the published local estimate for the upper-tier
   authority that holds the district when one is shipped (``ocu_prevalence.csv``),
   otherwise England's rate (``settings.MODEL_OCU_PER_1000_AGED_15_64``, 2019/20).
2. Within the district, the total is shared over postcode units in proportion to
   residents aged 15-64 × a deprivation weight from the unit's LSOA decile of the Index of
   Multiple Deprivation 2019 (``DEPRIVATION_RR``: 5 in the most deprived decile falling
   linearly to 1 in the least deprived, a modelling assumption of the size of the social
   gradient in drug-poisoning deaths; see the README).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from harmreach.geo import settings
from harmreach.geo.need import NeedInput

NEED_DIR = settings.DATA_DIR / "need"
IMD_FILE = NEED_DIR / "imd2019_lsoa.parquet"
PREVALENCE_FILE = NEED_DIR / "ocu_prevalence.csv"
AGE_FILE = NEED_DIR / "district_age.csv"
REFERENCES_FILE = NEED_DIR / "local_references.csv"

#: Relative weight of need by IMD 2019 decile (1 = most deprived 10% of LSOAs in England).
DEPRIVATION_RR: dict[int, float] = {d: 1.0 + 4.0 * (10 - d) / 9.0 for d in range(1, 11)}


def _read_optional(path: object, **kw: object) -> pd.DataFrame | None:
    from pathlib import Path

    p = Path(str(path))
    if not p.exists():
        return None
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, **kw)  # type: ignore[arg-type]


def district_rates(codes: np.ndarray) -> tuple[pd.Series, pd.Series, list[str]]:
    """OCU rate per 1,000 aged 15-64 and share aged 15-64 for each district code.

    Returns (rate, share_15_64, sources used).
    """
    uniq = pd.unique(pd.Series(codes).astype(str))
    rate = pd.Series(settings.MODEL_OCU_PER_1000_AGED_15_64, index=uniq, dtype=float)
    share = pd.Series(settings.SHARE_AGED_15_64, index=uniq, dtype=float)
    used = []
    age = _read_optional(AGE_FILE, dtype={"code": str})
    if age is not None:
        a = age.set_index("code")["share_15_64"]
        hit = rate.index.isin(a.index)
        share[hit] = a.reindex(rate.index[hit]).to_numpy(float)
        if hit.any():
            used.append("share aged 15-64 by district (ONS mid-2020 estimates)")
    prev = _read_optional(PREVALENCE_FILE, dtype={"code": str})
    if prev is not None:
        from harmreach.geo.places import authorities

        cat = authorities().set_index("code")
        p = prev.set_index("code")["ocu_per_1000"]
        local = 0
        for code in rate.index:
            county = cat["county_code"].get(code, "")
            for key in (code, county):
                if key and key in p.index and np.isfinite(p[key]):
                    rate[code] = float(p[key])
                    local += 1
                    break
        if local:
            used.append(f"local OCU estimates 2016/17 for {local} of {len(rate)} district(s)")
    return rate, share, used


def model_need(demand: gpd.GeoDataFrame) -> tuple[NeedInput, str]:
    """Need per demand point from the default model (see the module docstring).

    Parameters
    ----------
    demand
        Postcode units with ``postcode``, ``residents``, ``district_code`` and, where known,
        ``lsoa11cd``.

    Returns
    -------
    tuple
        A ``per_point`` NeedInput (``postcode``, ``value``) and a one-line method statement.
    """
    res = demand["residents"].to_numpy(float)
    dist = demand.get("district_code", pd.Series("", index=demand.index)).astype(str).to_numpy()
    rate, share, used = district_rates(dist)
    adults = res * share.reindex(dist).to_numpy(float)
    totals = (
        pd.Series(adults).groupby(dist).sum()
        * rate.reindex(pd.Series(adults).groupby(dist).sum().index)
        / 1000.0
    )
    weight = adults.copy()
    imd = _read_optional(IMD_FILE)
    shaped = False
    if imd is not None and "lsoa11cd" in demand:
        dec = (
            imd.set_index("lsoa11cd")["imd_decile"]
            .reindex(demand["lsoa11cd"].astype(str).to_numpy())
            .to_numpy(float)
        )
        rr = np.array(
            [DEPRIVATION_RR.get(int(d), np.nan) if np.isfinite(d) else np.nan for d in dec]
        )
        # Units with no LSOA decile (newer postcodes, Wales) take their district's mean weight.
        mean_rr = pd.Series(rr).groupby(dist).transform("mean").fillna(1.0).to_numpy()
        rr = np.where(np.isfinite(rr), rr, mean_rr)
        weight = adults * rr
        shaped = bool(np.isfinite(dec).any())
        if shaped:
            used.append("IMD 2019 deciles by LSOA (MHCLG)")
    wsum = pd.Series(weight).groupby(dist).transform("sum").to_numpy()
    value = np.where(wsum > 0, weight / np.where(wsum > 0, wsum, 1.0), 0.0) * totals.reindex(
        dist
    ).to_numpy(float)
    table = pd.DataFrame({"postcode": demand["postcode"].astype(str).to_numpy(), "value": value})
    national = (
        f"England's OCU rate {settings.MODEL_OCU_PER_1000_AGED_15_64:g} per 1,000 aged 15-64 "
        "(2019/20)"
    )
    method = (
        f"model: {national if not any('local' in u for u in used) else 'local OCU rates'}"
        " × residents aged 15-64"
        + (", shaped by deprivation (IMD 2019)" if shaped else "")
        + (f"; sources: {'; '.join(used)}" if used else "")
        + "; rates and counts: OHID/UKHSA, ONS, MHCLG, Open Government Licence v3.0"
    )
    return NeedInput(kind="per_point", table=table, file="built-in need model"), method


def references_for(codes: tuple[str, ...]) -> list[str]:
    """Published local figures for these districts, to show beside the model's."""
    ref = _read_optional(REFERENCES_FILE, dtype=str, keep_default_na=False)
    if ref is None:
        return []
    rows = ref[ref["code"].isin(codes)]
    return [f"{r['name']}: {r['figure']} (source: {r['source']})" for _, r in rows.iterrows()]
