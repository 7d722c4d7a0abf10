"""Disclosure control: suppress counts of people under the threshold, and what would reveal them.

The national monitoring service suppresses counts under 5. A suppressed cell must not be
recoverable by subtracting the other cells from a published total, so every group that
sums to a published total is given *secondary* suppression: if any cell in it is suppressed,
further cells (smallest first) are suppressed until at least two are and the suppressed
cells together reach the threshold. A total under the threshold is itself suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo import settings


def _complete(hidden: np.ndarray, values: np.ndarray, thr: float) -> np.ndarray:
    """Secondary suppression in one additive group whose total is published."""
    h = hidden.copy()
    if not h.any():
        return h
    while not h.all() and not (h.sum() >= 2 and values[h].sum() >= thr):
        h[int(np.argmin(np.where(h, np.inf, values)))] = True
    return h


def primary(values: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Cells under the threshold (zero is no one and is published)."""
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    r = np.round(np.asarray(values, float), 6)
    return (r > 0) & (r < thr)


def suppress_group(
    values: np.ndarray, total_published: bool = True, threshold: int | None = None
) -> np.ndarray:
    """Which cells of one additive group to suppress.

    Parameters
    ----------
    values
        Counts that add up to a total.
    total_published
        Whether the group's total is published (then one suppressed cell is not enough).
    threshold
        Suppress counts below this (default: settings, 5).

    Returns
    -------
    numpy.ndarray
        Boolean mask, True where the cell must not be published.
    """
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    v = np.asarray(values, float)
    mask = primary(v, thr)
    return _complete(mask, v, thr) if total_published else mask


def suppress_table(
    df: pd.DataFrame,
    count_cols: list[str],
    *,
    total_row: str | None = None,
    key: str = "area_code",
    parts: dict[str, list[str]] | None = None,
    shares: dict[str, str] | None = None,
    threshold: int | None = None,
    round_to: int | None = None,
) -> tuple[pd.DataFrame, int]:
    """Suppress counts of people in a per-area table that may carry a total row.

    Parameters
    ----------
    df
        One row per area (and optionally a total row).
    count_cols
        Columns holding counts of people (need, residents, …).
    total_row
        Key of the row holding the column totals: each column is then an additive group.
    parts
        Within a row, a total column and the columns that add up to it
        (e.g. ``{"need": ["need_covered", "need_uncovered"]}``): another additive group.
    shares
        Share column → the count column it derives from (hidden with it).
    round_to
        Round published counts to a multiple of this (e.g. 5), after suppression.

    Returns
    -------
    tuple of pandas.DataFrame and int
        The table with suppressed cells set to NaN, and how many cells were suppressed.
    """
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    out = df.reset_index(drop=True).copy()
    vals = out[count_cols].astype(float).to_numpy()
    hidden = primary(vals, thr)
    col_of = {c: i for i, c in enumerate(count_cols)}
    is_total = (
        (out[key] == total_row).to_numpy() if total_row is not None else np.zeros(len(out), bool)
    )
    body = np.flatnonzero(~is_total)
    tot = np.flatnonzero(is_total)
    while True:
        before = hidden.copy()
        if len(tot):
            for j in range(len(count_cols)):
                if hidden[tot, j].any():
                    continue  # the total is hidden: the cells cannot be differenced from it
                hidden[body, j] = _complete(hidden[body, j], vals[body, j], thr)
        for total_col, part_cols in (parts or {}).items():
            tj = col_of[total_col]
            pj = [col_of[c] for c in part_cols]
            for i in range(len(out)):
                if hidden[i, tj]:
                    hidden[i, pj] |= vals[i, pj] > 0  # published parts would add up to it
                else:
                    hidden[i, pj] = _complete(hidden[i, pj], vals[i, pj], thr)
        if (hidden == before).all():
            break
    for j, col in enumerate(count_cols):
        col_vals = np.where(hidden[:, j], np.nan, vals[:, j])
        if round_to:
            col_vals = np.round(col_vals / round_to) * round_to
        out[col] = col_vals
    for share, base in (shares or {}).items():
        if share in out.columns:
            out[share] = out[share].where(~hidden[:, col_of[base]])
    return out, int(hidden.sum())


def suppress_values(values: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Independent counts (no published total): values under the threshold become NaN."""
    thr = settings.SUPPRESSION_THRESHOLD if threshold is None else threshold
    v = np.asarray(values, float)
    return np.where((np.round(v, 6) > 0) & (np.round(v, 6) < thr), np.nan, v)
