"""Coverage of need within T minutes: per area and overall, backup coverage, coverage curve."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Code of the row that totals all areas.
TOTAL_CODE = "ALL"


def coverage_table(
    area_code: np.ndarray,
    need: np.ndarray,
    residents: np.ndarray,
    time_min: np.ndarray,
    minutes: float,
    second_min: np.ndarray | None = None,
    area_names: pd.Series | None = None,
    reach_status: np.ndarray | None = None,
) -> pd.DataFrame:
    """Need and residents within ``minutes`` of a site, per area plus a total row.

    Parameters
    ----------
    area_code, need, residents
        Per demand point.
    time_min
        Minutes to the nearest site (inf when none is reachable).
    minutes
        The threshold T; a point is covered when its nearest site is within T.
    second_min
        Minutes to the second-nearest site: backup coverage (two sites within T) for people
        who travel past their nearest for anonymity.
    area_names
        Optional code → name.
    reach_status
        Per demand point, the engine's ``ok`` / ``off_network`` / ``unreachable``: adds
        ``points_off_network`` and ``points_unreachable``, how many demand points (postcode
        units, not people) had no travel time, so that none counts as "not covered" unseen.

    Returns
    -------
    pandas.DataFrame
        One row per area and a last row ``ALL``: ``need``, ``need_covered``,
        ``need_uncovered``, ``share_covered`` (0-1), ``residents``, ``residents_covered``,
        ``need_backup``, ``share_backup``, ``median_min`` (need-weighted median minutes).
    """
    covered = np.asarray(time_min) <= minutes
    df = pd.DataFrame(
        {
            "area_code": np.asarray(area_code),
            "need": np.asarray(need, float),
            "need_covered": np.where(covered, need, 0.0),
            "residents": np.asarray(residents, float),
            "residents_covered": np.where(covered, residents, 0.0),
            "time_min": np.asarray(time_min, float),
        }
    )
    if second_min is not None:
        df["need_backup"] = np.where(np.asarray(second_min) <= minutes, need, 0.0)
    sums = ["need", "need_covered", "residents", "residents_covered"] + (
        ["need_backup"] if second_min is not None else []
    )
    if reach_status is not None:
        status = np.asarray(reach_status).astype(str)
        df["points_off_network"] = (status == "off_network").astype(np.int64)
        df["points_unreachable"] = (status == "unreachable").astype(np.int64)
        sums += ["points_off_network", "points_unreachable"]
    per = df.groupby("area_code", sort=True)[sums].sum()
    per.loc[TOTAL_CODE] = df[sums].sum()
    med = {
        code: weighted_median(g["time_min"].to_numpy(), g["need"].to_numpy())
        for code, g in df.groupby("area_code")
    }
    med[TOTAL_CODE] = weighted_median(df["time_min"].to_numpy(), df["need"].to_numpy())
    per["median_min"] = pd.Series(med)
    per["need_uncovered"] = per["need"] - per["need_covered"]
    with np.errstate(invalid="ignore", divide="ignore"):
        per["share_covered"] = np.where(per["need"] > 0, per["need_covered"] / per["need"], np.nan)
        if second_min is not None:
            per["share_backup"] = np.where(
                per["need"] > 0, per["need_backup"] / per["need"], np.nan
            )
    per = per.reset_index(names="area_code")
    if area_names is not None:
        names = dict(area_names)
        names[TOTAL_CODE] = "All areas"
        per.insert(1, "area_name", per["area_code"].map(names).fillna(per["area_code"]))
    return per


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half the weight lies (inf values allowed)."""
    w = np.asarray(weights, float)
    if len(w) == 0 or w.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order])
    return float(np.asarray(values)[order][np.searchsorted(cum, cum[-1] / 2.0)])


def coverage_curve(need: np.ndarray, time_min: np.ndarray, max_minutes: int = 60) -> pd.DataFrame:
    """Share of need whose nearest site is within m minutes, for m = 0 … ``max_minutes``."""
    need = np.asarray(need, float)
    t = np.asarray(time_min, float)
    total = need.sum()
    minutes = np.arange(0, max_minutes + 1)
    order = np.argsort(t)
    cum = np.concatenate([[0.0], np.cumsum(need[order])])
    idx = np.searchsorted(t[order], minutes, side="right")
    share = cum[idx] / total if total > 0 else np.full(len(minutes), np.nan)
    return pd.DataFrame({"minutes": minutes, "share_covered": share})
