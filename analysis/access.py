"""Capacity-aware access: enhanced two-step floating catchment area (E2SFCA)."""

from __future__ import annotations

import numpy as np

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


def e2sfca(
    t_min: np.ndarray,
    demand: np.ndarray,
    supply: np.ndarray,
    minutes: float,
    weights: tuple[float, ...] = STEP_WEIGHTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Enhanced 2SFCA access scores.

    Step 1: each site's supply-to-demand ratio R_j = S_j / Σ_i P_i W(t_ij).
    Step 2: each demand point's access A_i = Σ_j R_j W(t_ij).

    Parameters
    ----------
    t_min
        (n_demand, n_sites) travel minutes (inf where unreachable).
    demand
        P_i, need at each demand point.
    supply
        S_j, site capacity (e.g. packs a week).
    minutes
        Catchment T.

    Returns
    -------
    tuple of numpy.ndarray
        A (per demand point: supply per unit of need within reach) and R (per site).
    """
    w = step_weights(t_min, minutes, weights)
    p = np.asarray(demand, float)
    s = np.asarray(supply, float)
    denom = p @ w
    r = np.divide(s, denom, out=np.zeros_like(s), where=denom > 0)
    return w @ r, r
