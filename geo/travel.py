"""Travel-time engine: every demand point to its k nearest open sites, on streets or estimated."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.network import KernelGraph, StreetNetwork

log = logging.getLogger(__name__)

#: Site chunk size for per-site Dijkstra runs (bounds memory at chunk × nodes floats).
_SITE_CHUNK = 64
#: Threads for the nearest-site search by default: two searches from halves of the sites,
#: each stopping where the other is already nearer (no gain beyond two on street networks).
DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))
#: A search stops at a node only when the other search is nearer there by more than this
#: (seconds): far above rounding over any path, so exact ties are seen by both.
_PRUNE_TOL_S = 1e-6


#: Per-point reach status: attached and able to reach the sites.
REACH_OK = "ok"
#: Farther than the snap limit from any usable street: no travel time.
OFF_NETWORK = "off_network"
#: Near a street, but no site can be reached from it (a street piece not joined to the main
#: network, or no site attached at all).
UNREACHABLE = "unreachable"


@dataclass
class Snap:
    """Where points attach to a network: nearest connected node, distance, and which failed.

    Points attach only to nodes of the network's largest strongly connected component, from
    which every attached site can be reached.
    """

    node: np.ndarray  # (n,) node index, -1 where not attached
    dist_m: np.ndarray  # (n,) distance to that node (to the nearest node of any kind if not)
    too_far: np.ndarray  # (n,) bool: not attached (no connected street within the limit)
    off_network: np.ndarray | None = None  # (n,) bool: no street at all within the limit
    moved: np.ndarray | None = None  # (n,) bool: nearest street is detached; attached farther

    @property
    def n_too_far(self) -> int:
        """How many points were not attached."""
        return int(self.too_far.sum())

    @property
    def detached(self) -> np.ndarray:
        """Near a street, but only a street not joined to the main network."""
        off = self.off_network if self.off_network is not None else self.too_far
        return self.too_far & ~off


@dataclass
class SparseTimes:
    """Travel times within a limit as (point, site, time) triples: a sparse matrix.

    Only pairs within the limit are stored (a time of zero is a stored pair, not a gap),
    so memory follows the number of pairs in reach, not points × sites.
    """

    point: np.ndarray
    site: np.ndarray
    time_s: np.ndarray
    shape: tuple[int, int]
    limit_s: float

    @property
    def nnz(self) -> int:
        """Number of (point, site) pairs within the limit."""
        return int(len(self.time_s))


@dataclass
class NearestSites:
    """The k nearest sites of every demand point.

    ``time_s[i, j]`` is the travel time of point i to its (j+1)-th nearest site,
    ``site[i, j]`` that site's position in the site list (-1 and inf when fewer are
    reachable). With ``minutes`` given, ``n_within`` counts the sites within ``minutes``
    and the second to k-th nearest are kept only within ``minutes`` (inf beyond: coverage
    uses them only there, and the search stops at T); the nearest is always searched in
    full. ``reach_status`` says per point ``ok``, ``off_network`` (too far from any street)
    or ``unreachable`` (no site can be reached from its street).
    """

    time_s: np.ndarray
    site: np.ndarray
    model: str
    mode: str
    unreached: np.ndarray  # bool: reach_status is not "ok" (times are inf)
    minutes: float | None = None
    n_within: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    reach_status: np.ndarray | None = None
    sites_unattached: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if self.reach_status is None:
            self.reach_status = np.where(self.unreached, UNREACHABLE, REACH_OK)

    @property
    def k(self) -> int:
        """How many nearest sites are stored per point."""
        return int(self.time_s.shape[1])

    @property
    def nearest_min(self) -> np.ndarray:
        """Minutes to the nearest site."""
        return self.time_s[:, 0] / 60.0

    @property
    def n_off_network(self) -> int:
        """Demand points farther than the snap limit from any usable street."""
        return int((self.reach_status == OFF_NETWORK).sum())

    @property
    def n_unreachable(self) -> int:
        """Demand points near a street from which no site can be reached."""
        return int((self.reach_status == UNREACHABLE).sum())


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
        if minutes is not None and k > 1:
            # Same contract as the network engine: past the nearest, only sites within T.
            beyond = times[:, 1:] > minutes * 60.0
            times[:, 1:][beyond] = np.inf
            idx[:, 1:][beyond] = -1
        return NearestSites(
            time_s=times,
            site=idx,
            model=self.model,
            mode=self.mode,
            unreached=np.full(n, len(site_xy) == 0),  # no site at all: none reachable
            minutes=minutes,
            n_within=counts,
        )

    def within(self, demand_xy: np.ndarray, site_xy: np.ndarray, limit_s: float) -> SparseTimes:
        """Every (demand point, site) pair within ``limit_s`` seconds, as sparse triples."""
        demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
        shape = (len(demand_xy), len(site_xy))
        if 0 in shape:
            z = np.zeros(0, dtype=np.int64)
            return SparseTimes(z, z.copy(), np.zeros(0), shape, float(limit_s))
        radius = float(limit_s) * self.speed_ms / self.detour
        pairs = cKDTree(demand_xy).sparse_distance_matrix(
            cKDTree(site_xy), radius, output_type="ndarray"
        )
        t = pairs["v"] * self.detour / self.speed_ms
        keep = t <= limit_s
        return SparseTimes(
            pairs["i"][keep].astype(np.int64),
            pairs["j"][keep].astype(np.int64),
            t[keep],
            shape,
            float(limit_s),
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


def _spatial_order(xy: np.ndarray, cell_m: float = 1000.0) -> np.ndarray | None:
    """An order of the points by 1 km cells, row by row (None for few points).

    Nearest-node queries in that order walk the KD-tree's memory in step, about twice as
    fast as queries in random order on a large network.
    """
    if len(xy) < 5000:
        return None
    kx = ((xy[:, 0] - xy[:, 0].min()) // cell_m).astype(np.int64)
    ky = ((xy[:, 1] - xy[:, 1].min()) // cell_m).astype(np.int64)
    return np.argsort(ky * (int(kx.max()) + 1) + kx, kind="stable")


def _query_in_order(
    tree: cKDTree,
    xy: np.ndarray,
    order: np.ndarray | None,
    bound: float = np.inf,
    workers: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest point of ``tree`` for each of ``xy``, queried in ``order``, returned as given.

    Only within ``bound`` (distance inf beyond it): the tree then prunes more, about a
    quarter faster on a large network.
    """
    if order is None:
        d, j = tree.query(xy, k=1, workers=workers, distance_upper_bound=bound)
        return np.asarray(d, dtype=float), np.asarray(j, dtype=np.int64)
    d_o, j_o = tree.query(xy[order], k=1, workers=workers, distance_upper_bound=bound)
    d = np.empty(len(xy))
    j = np.empty(len(xy), dtype=np.int64)
    d[order] = d_o
    j[order] = j_o
    return d, j


class NetworkEngine:
    """Travel times along a street network (compiled multi-source Dijkstra on a CSR graph).

    Sites and demand points attach to their nearest node of the network's largest strongly
    connected component (from there every attached site can be reached); the snap distance
    is added at walking speed. Points farther than ``max_snap_m`` from it are reported, not
    attached: ``off_network`` when no street at all is that close, ``unreachable`` when the
    only streets that close are pieces not joined to the main network. For driving, times
    run from home to site (one-way streets).

    Searches run on :meth:`StreetNetwork.kernel_graph` (nodes in Hilbert order). ``threads``
    (default :data:`DEFAULT_THREADS`) runs the nearest-site search as two searches from
    halves of the sites on two threads; results are the same with one thread (exact ties
    name the first site in the list either way).
    """

    is_network = True

    def __init__(
        self,
        network: StreetNetwork,
        max_snap_m: float | None = None,
        threads: int | None = None,
    ) -> None:
        self.net = network
        self.mode = network.mode
        self.max_snap_m = settings.MAX_SNAP_M if max_snap_m is None else max_snap_m
        #: threads for the unbounded nearest-site search (1: one search)
        self.threads = DEFAULT_THREADS if threads is None else max(1, int(threads))
        self._main = network.main_component()
        self._main_idx = np.flatnonzero(self._main)
        self._tree_all = cKDTree(network.node_xy)
        self._whole = bool(self._main.all())
        self._tree = self._tree_all if self._whole else cKDTree(network.node_xy[self._main])
        self._walk_ms = settings.SPEED_KPH["walk"] / 3.6

    @property
    def n_main(self) -> int:
        """Nodes in the largest strongly connected component (where points attach)."""
        return int(len(self._main_idx))

    @property
    def model(self) -> str:
        """How times are made, for labels and exports."""
        part = (
            ""
            if self._whole
            else f" ({self.n_main:,} in its largest strongly connected part, where points attach)"
        )
        return (
            f"street network ({self.mode}) from {self.net.source}: "
            f"{self.net.n_nodes:,} nodes{part}; snap distance walked at "
            f"{self._walk_ms * 3.6:g} km/h"
        )

    def snap(self, xy: np.ndarray, workers: int = -1) -> Snap:
        """Nearest connected node of every point; points beyond the snap limit are flagged.

        ``workers``: threads for the KD-tree queries (-1: all cores).
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if len(xy) == 0:
            z = np.zeros(0, bool)
            return Snap(np.zeros(0, np.int64), np.zeros(0), z, z.copy(), z.copy())
        if len(self._main_idx) == 0:
            d_all, _ = self._tree_all.query(xy, k=1, workers=-1)
            far = np.ones(len(xy), bool)
            return Snap(np.full(len(xy), -1, np.int64), d_all, far, d_all > self.max_snap_m, ~far)
        order = _spatial_order(xy)
        # searched within the snap limit (a hair above it, so a point exactly at the limit is
        # found and judged below as before); beyond it a point is not attached anyway
        bound = self.max_snap_m * (1 + 1e-9) + 1e-9
        d, j = _query_in_order(self._tree, xy, order, bound, workers)
        if self._whole:
            d_all = d.copy()
        else:
            d_all, _ = _query_in_order(self._tree_all, xy, order, bound, workers)
            j = self._main_idx[np.minimum(j, len(self._main_idx) - 1)]
        miss = ~np.isfinite(d_all)
        if miss.any():  # no street within the limit: how far the nearest is, for the notes
            d_all[miss] = self._tree_all.query(xy[miss], k=1, workers=-1)[0]
        far = d > self.max_snap_m
        off = d_all > self.max_snap_m
        moved = ~far & (d > d_all)
        node = np.where(far, -1, j).astype(np.int64)
        return Snap(
            node=node, dist_m=np.where(far, d_all, d), too_far=far, off_network=off, moved=moved
        )

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
        from harmreach.geo._dijkstra import merge_nearest

        snap = self.snap(site_xy)
        ok = np.flatnonzero(~snap.too_far)
        n = self.net.n_nodes
        if len(ok) == 0:
            return np.full(n, np.inf), np.full(n, -1)
        kg = self.net.kernel_graph(reverse=towards_sites)
        dist, lab = self._nearest_search(kg, snap, ok)
        return merge_nearest(dist, lab, kg.rank)  # back to node ids

    def _positions(self, snap: Snap) -> np.ndarray:
        """Positions in the search graph of snapped points' nodes (-1 where not attached)."""
        rank = self.net.kernel_graph(reverse=True).rank
        return np.where(snap.too_far, -1, rank[np.where(snap.too_far, 0, snap.node)])

    def _nearest_search(
        self, kg: KernelGraph, ssnap: Snap, ok: np.ndarray, pool: ThreadPoolExecutor | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest attached site of every position of ``kg``: one row per search thread.

        With two threads the sites are split in two halves along the graph's memory order
        (so each half holds a region) and each half's search stops where the other's is
        already nearer; :func:`merge_nearest` takes the smaller time per node (ties: the
        smaller site position, as within one search). Sites at one node stay together.
        """
        from harmreach.geo._dijkstra import nearest_source

        src = kg.rank[ssnap.node[ok]]
        offsets = ssnap.dist_m[ok] / self._walk_ms
        labels = ok.astype(np.int32)  # half the memory traffic of int64 labels
        by_pos = np.argsort(src, kind="stable")
        cut = len(by_pos) // 2
        while 0 < cut < len(by_pos) and src[by_pos[cut]] == src[by_pos[cut - 1]]:
            cut += 1
        halves = [by_pos[:cut], by_pos[cut:]]
        if self.threads < 2 or cut in (0, len(by_pos)):
            halves = [by_pos]
        dist = np.full((len(halves), kg.n), np.inf)
        lab = np.empty((len(halves), kg.n), dtype=np.int32)
        empty = np.zeros(0)

        def run(g: int) -> int:
            h = halves[g]
            other = dist[1 - g] if len(halves) == 2 else empty
            return nearest_source(
                kg.indptr,
                kg.indices,
                kg.data,
                src[h],
                offsets[h],
                labels[h],
                dist[g],
                lab[g],
                other,
                _PRUNE_TOL_S,
            )

        if len(halves) == 1:
            run(0)
            return dist, lab
        own = pool is None
        pool = pool or ThreadPoolExecutor(max_workers=1)
        try:
            second: Future = pool.submit(run, 1)
            run(0)
            second.result()
        finally:
            if own:
                pool.shutdown()
        return dist, lab

    def _node_labels(
        self, ssnap: Snap, ok: np.ndarray, k: int, limit_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each node's k nearest attached sites (home → site) plus all within ``limit_s``.

        Returned as CSR over the positions of :meth:`StreetNetwork.kernel_graph` (``ptr``,
        site position in the full site list, time), each node's labels in any order.
        With k = 0 (only the pairs within the limit) one bounded search runs per site,
        touching only what is in reach (with two threads, the first half of the sites on
        one and the rest on the other); otherwise one search with (node, site) labels
        (fine for a few labels per node).
        """
        from harmreach.geo._dijkstra import group_by_node, k_labels, pairs_within

        g = self.net.kernel_graph(reverse=True)
        src_nodes = g.rank[ssnap.node[ok]]
        offsets = ssnap.dist_m[ok] / self._walk_ms
        if k == 0:
            lim = float(limit_s)
            half = len(ok) // 2 if self.threads >= 2 else 0
            if half:
                # independent searches: the halves' pairs, put one after the other, are
                # exactly the one-thread output (grouped by site, in site order)
                with ThreadPoolExecutor(max_workers=1) as pool:
                    rest = pool.submit(
                        pairs_within,
                        g.indptr,
                        g.indices,
                        g.data,
                        src_nodes[half:],
                        offsets[half:],
                        lim,
                    )
                    first = pairs_within(
                        g.indptr, g.indices, g.data, src_nodes[:half], offsets[:half], lim
                    )
                    second = rest.result()
                node = np.concatenate([first[0], second[0]])
                src = np.concatenate([first[1], second[1] + half])
                t = np.concatenate([first[2], second[2]])
            else:
                node, src, t = pairs_within(g.indptr, g.indices, g.data, src_nodes, offsets, lim)
            ptr, src, t = group_by_node(node, src, t, g.n)
        else:
            ptr, src, t = k_labels(
                g.indptr, g.indices, g.data, src_nodes, offsets, int(k), float(limit_s)
            )
        return ptr, ok[src] if len(src) else src, t

    def _reach_notes(self, dsnap: Snap, ssnap: Snap, n_sites: int) -> list[str]:
        notes = []
        main = f"largest strongly connected part: {self.n_main:,} of {self.net.n_nodes:,} nodes"
        n_off = int(dsnap.off_network.sum())
        if n_off:
            notes.append(
                f"{n_off} demand point(s) are more than {self.max_snap_m:g} m from any usable "
                f"{self.mode} street and were not attached (off_network: no travel time)."
            )
        n_det = int(dsnap.detached.sum())
        if n_det:
            notes.append(
                f"{n_det} demand point(s) are within {self.max_snap_m:g} m only of street "
                f"pieces not joined to the main {self.mode} network ({main}); no site can be "
                "reached from them (unreachable: no travel time)."
            )
        n_moved = int(dsnap.moved.sum())
        if n_moved:
            extra = np.median(dsnap.dist_m[dsnap.moved])
            notes.append(
                f"{n_moved} demand point(s) were nearest to a street piece not joined to the "
                f"main {self.mode} network and were attached to the nearest joined street "
                f"instead (median walk to it {extra:.0f} m, included in their times)."
            )
        n_site_far = ssnap.n_too_far
        if n_site_far:
            pos = ", ".join(str(i) for i in np.flatnonzero(ssnap.too_far)[:10])
            notes.append(
                f"{n_site_far} of {n_sites} site(s) are more than {self.max_snap_m:g} m from "
                f"the main {self.mode} network and were left out of street travel times "
                f"(positions in the site list: {pos}{' …' if n_site_far > 10 else ''})."
            )
        if n_sites and n_site_far == n_sites:
            notes.append("no site could be attached to the street network: none is reachable.")
        return notes

    def _site_labels(
        self,
        ssnap: Snap,
        ok: np.ndarray,
        k: int,
        minutes: float | None,
        limit_s: float | None,
        pool: ThreadPoolExecutor | None = None,
    ) -> tuple | None:
        """Node labels for :meth:`nearest`: CSR labels, the nearest per node, and k_exact.

        The nearest per node comes as one row per search thread (merge them at the points'
        nodes with :func:`merge_nearest`), or empty when the labels hold everything.
        """
        if len(ok) == 0:
            return None
        empty, empty_i = np.zeros((0, 0)), np.zeros((0, 0), dtype=np.int64)
        if limit_s is not None:
            # Every site within the bound, none beyond: the bound cuts the nearest too.
            ptr, lab_s, lab_t = self._node_labels(ssnap, ok, 0, float(limit_s))
            return ptr, lab_s, lab_t, empty, empty_i, k
        if minutes is None and k > 1:
            ptr, lab_s, lab_t = self._node_labels(ssnap, ok, k, -1.0)
            return ptr, lab_s, lab_t, empty, empty_i, k
        kg = self.net.kernel_graph(reverse=True)
        near_t, near_s = self._nearest_search(kg, ssnap, ok, pool)
        if minutes is None:
            ptr = np.zeros(kg.n + 1, dtype=np.int64)
            return ptr, np.zeros(0, dtype=np.int64), np.zeros(0), near_t, near_s, 1
        ptr, lab_s, lab_t = self._node_labels(ssnap, ok, 0, minutes * 60.0)
        return ptr, lab_s, lab_t, near_t, near_s, 1

    def nearest(
        self,
        demand_xy: np.ndarray,
        site_xy: np.ndarray,
        k: int = settings.DEFAULT_K,
        minutes: float | None = None,
        limit_s: float | None = None,
    ) -> NearestSites:
        """K nearest sites of every demand point along the network, in one search.

        The nearest site is searched without a bound (one multi-source Dijkstra, or two
        halves of it on two threads, each stopping where the other is nearer). With
        ``minutes``, every site within T of every node is collected too (one search per
        site stopped at T, touching only the nodes in reach), which gives the second to
        k-th nearest within T and the count within T. Without ``minutes``, the k nearest
        are searched in full (one search with up to k (node, site) labels per node).
        ``limit_s`` bounds everything, the nearest included (times beyond it are inf).
        Points attach to the largest strongly connected part only; ``reach_status`` and
        ``notes`` say which could not (``off_network``, ``unreachable``) and why.
        """
        from harmreach.geo._dijkstra import merge_nearest, point_labels

        if k < 1:
            raise InputError(f"k must be at least 1, not {k}.", fix="ask for k >= 1.")
        demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
        ssnap = self.snap(site_xy)
        n = len(demand_xy)
        ok = np.flatnonzero(~ssnap.too_far)
        t_lim = np.inf if minutes is None else minutes * 60.0
        # The searches start from the sites only: snap the demand points meanwhile on
        # another thread (the KD-tree query and the compiled kernels release the GIL), one
        # thread for the query so that it does not take the searches' cores.
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            pending = pool.submit(self.snap, demand_xy, 1)
            labels = self._site_labels(ssnap, ok, k, minutes, limit_s, pool)
            dsnap = pending.result()
        notes = self._reach_notes(dsnap, ssnap, len(site_xy))
        walk_in = dsnap.dist_m / self._walk_ms
        node = self._positions(dsnap)
        if labels is None:
            times = np.full((n, k), np.inf)
            idx = np.full((n, k), -1, dtype=np.int64)
            counts = np.zeros(n, dtype=np.int32)
        else:
            ptr, lab_s, lab_t, near_rows, near_lab, k_exact = labels
            if len(near_rows):
                near_t, near_s = merge_nearest(near_rows, near_lab, node)
            else:
                near_t, near_s = np.zeros(0), np.zeros(0, dtype=np.int64)
            if limit_s is not None:
                t_lim = min(t_lim, float(limit_s))
            times, idx, counts = point_labels(
                ptr, lab_s, lab_t, near_t, near_s, node, walk_in, int(k), int(k_exact), t_lim
            )
        status = np.full(n, REACH_OK, dtype="<U11")
        status[dsnap.detached] = UNREACHABLE
        if len(ok) == 0:
            status[~dsnap.too_far] = UNREACHABLE
        status[dsnap.off_network] = OFF_NETWORK
        unreached = status != REACH_OK
        times[unreached] = np.inf
        idx[unreached] = -1
        if limit_s is not None:
            beyond = times > limit_s
            if minutes is not None:
                beyond[:, 1:] |= times[:, 1:] > minutes * 60.0
            times[beyond] = np.inf
            idx[beyond] = -1
        return NearestSites(
            time_s=times,
            site=idx,
            model=self.model,
            mode=self.mode,
            unreached=unreached,
            minutes=minutes,
            n_within=counts if minutes is not None else None,
            notes=notes,
            reach_status=status,
            sites_unattached=np.flatnonzero(ssnap.too_far),
        )

    def within(self, demand_xy: np.ndarray, site_xy: np.ndarray, limit_s: float) -> SparseTimes:
        """Every (demand point, site) pair within ``limit_s`` seconds, as sparse triples.

        One search per site stopped at the limit, touching only the nodes in reach: the
        work and memory follow the pairs in reach, not points × sites.
        """
        from harmreach.geo._dijkstra import point_pairs_within

        demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
        shape = (len(demand_xy), len(site_xy))
        dsnap = self.snap(demand_xy)
        ssnap = self.snap(site_xy)
        ok = np.flatnonzero(~ssnap.too_far)
        if len(ok) == 0 or shape[0] == 0:
            z = np.zeros(0, dtype=np.int64)
            return SparseTimes(z, z.copy(), np.zeros(0), shape, float(limit_s))
        ptr, lab_s, lab_t = self._node_labels(ssnap, ok, 0, float(limit_s))
        node = self._positions(dsnap)
        rows, cols, vals = point_pairs_within(
            ptr, lab_s, lab_t, node, dsnap.dist_m / self._walk_ms, float(limit_s)
        )
        return SparseTimes(rows, cols, vals, shape, float(limit_s))

    def matrix(
        self,
        demand_xy: np.ndarray,
        site_xy: np.ndarray,
        limit_s: float | None = None,
        _dsnap: Snap | None = None,
    ) -> np.ndarray:
        """(n_demand, n_sites) travel times in seconds along the network (inf if unreachable).

        Dense: for many sites use :meth:`within` (sparse, bounded) or :meth:`nearest`.
        """
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
