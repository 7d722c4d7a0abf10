"""Reachable areas of a site set within T minutes: buffered street segments, or circles."""

from __future__ import annotations

import logging

import numpy as np
import shapely

from harmreach.geo.travel import EstimatedEngine, NetworkEngine

log = logging.getLogger(__name__)

#: Half-width of the band around reachable streets (people live beside streets, not on them).
STREET_BUFFER_M = 60.0


def reachable_area(
    engine: EstimatedEngine | NetworkEngine,
    site_xy: np.ndarray,
    minutes: float,
    buffer_m: float = STREET_BUFFER_M,
) -> shapely.Geometry:
    """The area within ``minutes`` of any site, in the engine's CRS.

    On a network: every street segment reachable in time (partly reachable segments are cut
    where time runs out), buffered by ``buffer_m`` and merged; not a convex hull, so rivers
    and railways without crossings stay outside. Estimated mode: circles of the radius that
    the detour factor and speed allow.
    """
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    if len(site_xy) == 0:
        return shapely.Polygon()
    if isinstance(engine, EstimatedEngine):
        r = engine.reach_radius_m(minutes)
        return shapely.union_all(shapely.buffer(shapely.points(site_xy), r, quad_segs=16))
    net = engine.net
    limit = minutes * 60.0
    n_far = engine.snap(site_xy).n_too_far
    if n_far:
        log.warning(
            "%d of %d site(s) are more than %g m from the main %s network: no reachable area "
            "is drawn around them",
            n_far,
            len(site_xy),
            engine.max_snap_m,
            engine.mode,
        )
    # Times *from* the sites outward (for driving, reachable from a site), so use the
    # forward graph: a node is in the area if some site reaches it in time, counting the
    # site's own walk from the street as coverage does.
    node_t = _node_times_from_sites(engine, site_xy, limit)
    tu, tv = node_t[net.u], node_t[net.v]
    full = (tu <= limit) & (tv <= limit)
    part = (tu <= limit) & (tv > limit) & np.isfinite(net.time_s)
    xy = net.node_xy
    lines = [shapely.linestrings(np.stack([xy[net.u[full]], xy[net.v[full]]], axis=1))]
    if part.any():
        frac = np.clip((limit - tu[part]) / np.maximum(net.time_s[part], 1e-9), 0.0, 1.0)
        a = xy[net.u[part]]
        b = a + (xy[net.v[part]] - a) * frac[:, None]
        lines.append(shapely.linestrings(np.stack([a, b], axis=1)))
    segs = np.concatenate(lines)
    if len(segs) == 0:
        return shapely.union_all(shapely.buffer(shapely.points(site_xy), buffer_m))
    return shapely.union_all(shapely.buffer(segs, buffer_m, quad_segs=4))


def _node_times_from_sites(
    engine: NetworkEngine, site_xy: np.ndarray, limit_s: float
) -> np.ndarray:
    """Time from the nearest site out to every node, inf beyond the limit."""
    dist, _ = engine.node_times(site_xy, towards_sites=False)
    return np.where(dist <= limit_s, dist, np.inf)
