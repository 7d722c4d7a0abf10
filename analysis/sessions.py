"""Satellite sessions: which site-and-time-slot sessions add the most need-hours of access."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from harmreach.analysis.hours import DAYS
from harmreach.analysis.planning import exact_mclp, greedy, order_by_gain
from harmreach.geo.errors import InputError

#: Sessions may start on the hour from FIRST_START to LAST_START (a satellite's day).
FIRST_START = 8
LAST_START = 19


@dataclass
class SessionPlan:
    """Chosen sessions in pick order with the need-hours each adds."""

    sessions: pd.DataFrame  # candidate, day, start, end, need_hours_added
    need_hours_before: float
    need_hours_after: float
    method: str
    notes: list[str] = field(default_factory=list)  # e.g. why fewer sessions than asked for


def session_slots(
    length_h: int, first: int = FIRST_START, last: int = LAST_START
) -> list[tuple[int, int]]:
    """(day, start hour) of every possible session of ``length_h`` hours in a week."""
    if not 1 <= length_h <= 12:
        raise InputError(f"a session of {length_h} hours is out of range.", fix="use 1 to 12.")
    return [(d, h) for d in range(7) for h in range(first, min(last, 24 - length_h) + 1)]


def plan_sessions(
    reach: np.ndarray,
    open_cover: np.ndarray,
    need: np.ndarray,
    n_sessions: int,
    *,
    length_h: int = 3,
    exact: bool = True,
) -> SessionPlan:
    """Choose sessions that add the most need-hours covered beyond the open sites.

    Parameters
    ----------
    reach
        (n_demand, n_candidates) bool: candidate within T of the demand point.
    open_cover
        (n_demand, 168) bool: the point already has an open site within T in that hour.
    need
        Need per demand point.
    n_sessions
        Sessions a week to place.
    length_h
        Hours per session.
    exact
        Integer program (HiGHS) if True, else greedy.
    """
    if n_sessions < 1:
        raise InputError("ask for at least one session (--sessions 1).")
    reach = np.asarray(reach, bool)
    open_cover = np.asarray(open_cover, bool)
    need = np.asarray(need, float)
    slots = session_slots(length_h)
    n_c = reach.shape[1]
    if n_c == 0:
        raise InputError("there are no candidate sites for sessions.")
    # Points with the same candidates in reach and the same open hours behave alike: group.
    key = np.concatenate([np.packbits(reach, axis=1), np.packbits(open_cover, axis=1)], axis=1)
    useful = reach.any(axis=1) & (need > 0) & ~open_cover.all(axis=1)
    if not useful.any():
        raise InputError("no session can add access: every reachable point is already served.")
    _, first, inv = np.unique(key[useful], axis=0, return_index=True, return_inverse=True)
    g_need = np.bincount(inv.ravel(), weights=need[useful])
    g_reach = reach[useful][first]
    g_open = open_cover[useful][first]
    rows, cols, weights = [], [], []
    row = 0
    for g in range(len(first)):
        cands = np.flatnonzero(g_reach[g])
        for h in np.flatnonzero(~g_open[g]):
            day, hour = divmod(int(h), 24)
            ss = [i for i, (d, s) in enumerate(slots) if d == day and s <= hour < s + length_h]
            if not ss:
                continue
            for c in cands:
                rows.extend([row] * len(ss))
                cols.extend(int(c) * len(slots) + i for i in ss)
            weights.append(g_need[g])
            row += 1
    a = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(row, n_c * len(slots)))
    w = np.asarray(weights)
    if exact:
        chosen, _obj, _opt, _bound = exact_mclp(a, w, n_sessions)
        chosen, gains = order_by_gain(a, w, chosen)
        method = "exact (HiGHS integer program)"
    else:
        chosen, gains = greedy(a, w, n_sessions)
        method = "greedy"
    before = float(need @ open_cover.sum(axis=1))
    out = pd.DataFrame(
        {
            "candidate": [int(j) // len(slots) for j in chosen],
            "day": [DAYS[slots[int(j) % len(slots)][0]] for j in chosen],
            "start": [f"{slots[int(j) % len(slots)][1]:02d}:00" for j in chosen],
            "end": [f"{slots[int(j) % len(slots)][1] + length_h:02d}:00" for j in chosen],
            "need_hours_added": gains,
        }
    )
    notes = []
    if len(chosen) < n_sessions:
        notes.append(
            f"asked for {n_sessions} session(s), placed {len(chosen)}: no other session adds "
            "need-hours of access (every hour its candidates reach is already served or taken)"
        )
    return SessionPlan(out, before, before + float(np.sum(gains)), method, notes)
