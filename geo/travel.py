"""Travel-time engine: every demand point to its k nearest open sites, on streets or estimated."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo import settings
from geo.errors import InputError
from geo.network import StreetNetwork

log = logging.getLogger(__name__)

#: Site chunk size for per-site Dijkstra runs (bounds memory at chunk × nodes floats).
_SITE_CHUNK = 64


@dataclass
class Snap:
    """Where points attach to a network: nearest node, distance, and which are too far."""

    node: np.ndarray  # (n,) node index, -1 where not snapped
    dist_m: np.ndarray  # (n,) distance to that node
    too_far: np.ndarray  # (n,) bool: farther than the limit from any usable street

    @property
    def n_too_far(self) -> int:
        """How many points were not attached."""
        return int(self.too_far.sum())


@dataclass
class NearestSites:
    """The k nearest sites of every demand point.

    ``time_s[i, j]`` is the travel time of point i to its (j+1)-th nearest site,
    ``site[i, j]`` that site's position in the site list (-1 and inf when fewer are
    reachable). ``n_within`` counts the sites within ``minutes``, when asked for.
    """

    time_s: np.ndarray
    site: np.ndarray
    model: str
    mode: str
    unreached: np.ndarray  # bool: point not attached to the network (times are inf)
    minutes: float | None = None
    n_within: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        """How many nearest sites are stored per point."""
        return int(self.time_s.shape[1])

    @property
    def nearest_min(self) -> np.ndarray:
        """Minutes to the nearest site."""
        return self.time_s[:, 0] / 60.0


class EstimatedEngine:
    """Travel time estimated as straight-line distance × detour factor ÷ speed (no network).

    Parameters
    ----------
    mode
        ``walk``, ``cycle`` or ``drive``.
    speed_kph, detour
        Defaults from settings (walking 4.8 km/h, detour 1.3).
    """

    is_network = False

    def __init__(
        self, mode: str = "walk", speed_kph: float | None = None, detour: float | None = None
    ) -> None:
        if mode not in settings.MODES:
            raise InputError(
                f"unknown mode '{mode}'.", fix=f"use one of {', '.join(settings.MODES)}."
            )
        self.mode = mode
        self.speed_ms = (speed_kph or settings.SPEED_KPH[mode]) / 3.6
        self.detour = detour or settings.DETOUR_FACTOR[mode]

    @property
    def model(self) -> str:
        """How times are made, for labels and exports."""
        return (
            f"estimated ({self.mode}): straight-line distance × {self.detour:g} detour "
            f"at {self.speed_ms * 3.6:g} km/h; no street network"
        )

    def nearest(
        self,
        demand_xy: np.ndarray,
        site_xy: np.ndarray,
        k: int = settings.DEFAULT_K,
        minutes: float | None = None,
    ) -> NearestSites:
        """K nearest sites by a KD-tree, and the number of sites within ``minutes``."""
        demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
        n = len(demand_xy)
        kk = min(k, len(site_xy))
        times = np.full((n, k), np.inf)
        idx = np.full((n, k), -1, dtype=np.int64)
        if kk > 0 and n > 0:
            tree = cKDTree(site_xy)
            d, j = tree.query(demand_xy, k=kk, workers=-1)
            d = d.reshape(n, kk)
            j = j.reshape(n, kk)
            times[:, :kk] = d * self.detour / self.speed_ms
            idx[:, :kk] = j
        counts = None
        if minutes is not None and len(site_xy) and n:
            radius = minutes * 60.0 * self.speed_ms / self.detour
            tree = cKDTree(site_xy)
            counts = tree.query_ball_point(demand_xy, r=radius, return_length=True, workers=-1)
            counts = np.asarray(counts, dtype=np.int32)
        elif minutes is not None:
            counts = np.zeros(n, dtype=np.int32)
        return NearestSites(
            time_s=times,
            site=idx,
            model=self.model,
            mode=self.mode,
            unreached=np.zeros(n, dtype=bool),
            minutes=minutes,
            n_within=counts,
        )

    def matrix(
        self, demand_xy: np.ndarray, site_xy: np.ndarray, limit_s: float | None = None
    ) -> np.ndarray:
        """(n_demand, n_sites) travel times in seconds (inf beyond ``limit_s``)."""
        demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
        d = np.sqrt(((demand_xy[:, None, :] - site_xy[None, :, :]) ** 2).sum(-1))
        t = (d * self.detour / self.speed_ms).astype(np.float32)
        if limit_s is not None:
            t[t > limit_s] = np.inf
        return t

    def reach_radius_m(self, minutes: float) -> float:
        """Straight-line radius reachable in ``minutes``."""
        return minutes * 60.0 * self.speed_ms / self.detour


class NetworkEngine:
    """Travel times along a street network (SciPy's compiled Dijkstra on a CSR graph).

    Sites and demand points attach to their nearest network node; the snap distance is
    added at walking speed. Points farther than ``max_snap_m`` from the network are
    reported, not attached. For driving, times run from home to site (one-way streets).
    """

    is_network = True

    def __init__(self, network: StreetNetwork, max_snap_m: float | None = None) -> None:
        self.net = network
        self.mode = network.mode
        self.max_snap_m = settings.MAX_SNAP_M if max_snap_m is None else max_snap_m
        self._tree = cKDTree(network.node_xy)
        self._walk_ms = settings.SPEED_KPH["walk"] / 3.6

    @property
    def model(self) -> str:
        """How times are made, for labels and exports."""
        return (
            f"street network ({self.mode}) from {self.net.source}: "
            f"{self.net.n_nodes:,} nodes; snap distance walked at "
            f"{self._walk_ms * 3.6:g} km/h"
        )

    def snap(self, xy: np.ndarray) -> Snap:
        """Nearest node of every point; points beyond the snap limit are flagged."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if len(xy) == 0:
            return Snap(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))
        d, j = self._tree.query(xy, k=1, workers=-1)
        far = d > self.max_snap_m
        node = np.where(far, -1, j).astype(np.int64)
        return Snap(node=node, dist_m=d, too_far=far)

    def _site_graph(self, site_snap: Snap) -> tuple[sp.csr_matrix, np.ndarray]:
        """Reversed graph plus one virtual node per site, linked to its node by the snap time.

        Dijkstra from the virtual nodes over reversed edges gives, at every node, the time
        *from* that node *to* the site (home → site), including the site's own snap walk.
        """
        n = self.net.n_nodes
        rev = self.net.csgraph_reversed()
        ok = np.flatnonzero(~site_snap.too_far)
        m = len(ok)
        w = np.maximum(site_snap.dist_m[ok] / self._walk_ms, 1e-9)
        # Append one row per virtual node straight onto the CSR arrays: O(E) copies, no sort
        # (sparse addition would sort and rebuild the whole graph).
        indptr = np.concatenate([rev.indptr, rev.indptr[-1] + np.arange(1, m + 1)])
        indices = np.concatenate([rev.indices, site_snap.node[ok].astype(rev.indices.dtype)])
        data = np.concatenate([rev.data, w])
        return sp.csr_matrix((data, indices, indptr), shape=(n + m, n + m)), ok

    def node_times_nearest(self, site_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Time from every node *to* its nearest site (home → site), and which site."""
        return self.node_times(site_xy, towards_sites=True)

    def node_times(
        self, site_xy: np.ndarray, *, towards_sites: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-site time and site for every node, in one multi-source run.

        ``towards_sites`` runs over reversed edges (time from a node to a site, as people
        travel); otherwise over forward edges (time from a site out to a node, for reachable
        areas). Each site starts at its own snap walk from the street.
        """
        from geo._dijkstra import multi_source

        snap = self.snap(site_xy)
        ok = np.flatnonzero(~snap.too_far)
        n = self.net.n_nodes
        if len(ok) == 0:
            return np.full(n, np.inf), np.full(n, -1)
        graph = self.net.csgraph_reversed() if towards_sites else self.net.csgraph()
        return multi_source(
            graph.indptr,
            graph.indices,
            graph.data,
            snap.node[ok].astype(np.int64),
            snap.dist_m[ok] / self._walk_ms,
            ok.astype(np.int64),
        )

    def nearest(
        self,
        demand_xy: np.ndarray,
        site_xy: np.ndarray,
        k: int = settings.DEFAULT_K,
        minutes: float | None = None,
        limit_s: float | None = None,
    ) -> NearestSites:
        """K nearest sites of every demand point along the network.

        k = 1 is one multi-source Dijkstra; k > 1 runs one Dijkstra per site (in chunks,
        bounded by ``limit_s`` when given) and keeps the k smallest per point.
        """
        demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
        dsnap = self.snap(demand_xy)
        n = len(demand_xy)
        walk_in = dsnap.dist_m / self._walk_ms
        notes = []
        if dsnap.n_too_far:
            notes.append(
                f"{dsnap.n_too_far} demand point(s) are more than {self.max_snap_m:g} m from "
                "any usable street and were not attached (no travel time)."
            )
        times = np.full((n, k), np.inf)
        idx = np.full((n, k), -1, dtype=np.int64)
        counts = np.zeros(n, dtype=np.int32) if minutes is not None else None
        att = np.flatnonzero(~dsnap.too_far)
        if k == 1 and minutes is None:
            node_t, node_site = self.node_times_nearest(site_xy)
            t = node_t[dsnap.node[att]] + walk_in[att]
            times[att, 0] = t
            idx[att, 0] = np.where(np.isfinite(t), node_site[dsnap.node[att]], -1)
        else:
            mat = self.matrix(demand_xy, site_xy, limit_s=limit_s, _dsnap=dsnap)
            kk = min(k, mat.shape[1])
            if kk:
                part = (
                    np.argpartition(mat, kk - 1, axis=1)[:, :kk]
                    if kk < mat.shape[1]
                    else (np.tile(np.arange(mat.shape[1]), (n, 1)))
                )
                vals = np.take_along_axis(mat, part, axis=1)
                order = np.argsort(vals, axis=1, kind="stable")
                vals = np.take_along_axis(vals, order, axis=1)
                part = np.take_along_axis(part, order, axis=1)
                times[:, :kk] = vals
                idx[:, :kk] = np.where(np.isfinite(vals), part, -1)
            if counts is not None:
                counts = (mat <= minutes * 60.0).sum(axis=1).astype(np.int32)
        if dsnap.n_too_far:
            times[dsnap.too_far] = np.inf
            idx[dsnap.too_far] = -1
        return NearestSites(
            time_s=times,
            site=idx,
            model=self.model,
            mode=self.mode,
            unreached=dsnap.too_far,
            minutes=minutes,
            n_within=counts,
            notes=notes,
        )

    def matrix(
        self,
        demand_xy: np.ndarray,
        site_xy: np.ndarray,
        limit_s: float | None = None,
        _dsnap: Snap | None = None,
    ) -> np.ndarray:
        """(n_demand, n_sites) travel times in seconds along the network (inf if unreachable)."""
        demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
        dsnap = _dsnap or self.snap(demand_xy)
        ssnap = self.snap(site_xy)
        graph, ok = self._site_graph(ssnap)
        n_nodes = self.net.n_nodes
        out = np.full((len(demand_xy), len(site_xy)), np.inf, dtype=np.float64)
        att = np.flatnonzero(~dsnap.too_far)
        walk_in = dsnap.dist_m[att] / self._walk_ms
        lim = np.inf if limit_s is None else float(limit_s)
        for start in range(0, len(ok), _SITE_CHUNK):
            chunk = np.arange(start, min(start + _SITE_CHUNK, len(ok)))
            dist = dijkstra(graph, directed=True, indices=n_nodes + chunk, limit=lim)
            block = dist[:, dsnap.node[att]] + walk_in[None, :]
            out[np.ix_(att, ok[chunk])] = block.T
        if limit_s is not None:
            out[out > limit_s] = np.inf
        return out


def make_engine(
    mode: str = settings.DEFAULT_MODE, network: StreetNetwork | None = None
) -> EstimatedEngine | NetworkEngine:
    """A network engine when a network is given, else the estimated one."""
    if network is None:
        return EstimatedEngine(mode)
    if network.mode != mode:
        raise InputError(
            f"the network was built for {network.mode}, not {mode}.",
            fix="load the network again for this mode.",
        )
    return NetworkEngine(network)
