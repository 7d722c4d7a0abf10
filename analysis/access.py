"""Capacity-aware access: enhanced two-step floating catchment area (E2SFCA), sparse within T."""

from __future__ import annotations

import numpy as np

from harmreach.geo.travel import EstimatedEngine, NetworkEngine, SparseTimes

#: Luo & Qi (2009) step weights for three equal travel-time zones within T.
STEP_WEIGHTS = (1.0, 0.68, 0.22)


def step_weights(
    t_min: np.ndarray, minutes: float, weights: tuple[float, ...] = STEP_WEIGHTS
) -> np.ndarray:
    """Distance-decay weight of each travel time: equal zones within T, 0 beyond."""
    t = np.asarray(t_min, float)
    zones = len(weights)
    edges = minutes * np.arange(1, zones + 1) / zones
    zone = np.searchsorted(edges, t, side="left")  # t == edge belongs to the inner zone
    w = np.concatenate([np.asarray(weights, float), [0.0]])
    return w[np.minimum(zone, zones)]


def e2sfca_pairs(
    point: np.ndarray,
    site: np.ndarray,
    t_min: np.ndarray,
    demand: np.ndarray,
    supply: np.ndarray,
    minutes: float,
    weights: tuple[float, ...] = STEP_WEIGHTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Enhanced 2SFCA from the (point, site, minutes) pairs in reach: no dense matrix.

    Step 1: each site's supply-to-demand ratio R_j = S_j / Σ_i P_i W(t_ij).
    Step 2: each demand point's access A_i = Σ_j R_j W(t_ij).
    Pairs not listed have weight 0 (beyond T), so memory follows the pairs within T.

    Parameters
    ----------
    point, site, t_min
        One entry per (demand point, site) pair within reach, and its travel minutes.
    demand
        P_i, need at each demand point (its length is the number of points).
    supply
        S_j, site capacity (e.g. packs a week; its length is the number of sites).
    minutes
        Catchment T.

    Returns
    -------
    tuple of numpy.ndarray
        A (per demand point: supply per unit of need within reach) and R (per site).
    """
    p = np.asarray(demand, float)
    s = np.asarray(supply, float)
    point = np.asarray(point, dtype=np.int64)
    site = np.asarray(site, dtype=np.int64)
    w = step_weights(t_min, minutes, weights)
    keep = w > 0
    point, site, w = point[keep], site[keep], w[keep]
    denom = np.bincount(site, weights=p[point] * w, minlength=len(s))
    r = np.divide(s, denom, out=np.zeros_like(s), where=denom > 0)
    a = np.bincount(point, weights=w * r[site], minlength=len(p))
    return a, r


def e2sfca(
    t_min: np.ndarray,
    demand: np.ndarray,
    supply: np.ndarray,
    minutes: float,
    weights: tuple[float, ...] = STEP_WEIGHTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Enhanced 2SFCA from a dense (n_demand, n_sites) matrix of minutes (inf: unreachable).

    For small cases; large ones should pass pairs within T to :func:`e2sfca_pairs`.
    """
    t = np.asarray(t_min, float)
    i, j = np.nonzero(t <= minutes)
    return e2sfca_pairs(i, j, t[i, j], demand, supply, minutes, weights)


def e2sfca_sparse(
    times: SparseTimes,
    demand: np.ndarray,
    supply: np.ndarray,
    minutes: float,
    weights: tuple[float, ...] = STEP_WEIGHTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Enhanced 2SFCA from an engine's sparse times within T (``engine.within``)."""
    if times.limit_s < minutes * 60.0:
        raise ValueError(
            f"the times reach only {times.limit_s / 60:g} min but the catchment is {minutes:g}"
        )
    return e2sfca_pairs(
        times.point, times.site, times.time_s / 60.0, demand, supply, minutes, weights
    )


def access_scores(
    engine: EstimatedEngine | NetworkEngine,
    demand_xy: np.ndarray,
    site_xy: np.ndarray,
    demand: np.ndarray,
    supply: np.ndarray,
    minutes: float,
    weights: tuple[float, ...] = STEP_WEIGHTS,
) -> tuple[np.ndarray, np.ndarray, int]:
    """E2SFCA access of every demand point, searching only within T.

    Returns
    -------
    tuple
        A (per demand point), R (per site) and the number of (point, site) pairs in reach.
    """
    times = engine.within(demand_xy, site_xy, minutes * 60.0)
    a, r = e2sfca_sparse(times, demand, supply, minutes, weights)
    return a, r, times.nnz
