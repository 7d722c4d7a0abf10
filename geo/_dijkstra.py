"""Compiled Dijkstra kernels for the travel engine (numba, 4-ary heaps with keys inside).

``nearest_source``: time from the nearest source to every node and its label, sources
starting at their own offsets (a site's walk from the street); exact ties name the smaller
label. Two of them can run at once on two threads, each from half the sources and each
stopping where the other is already nearer (``merge_nearest`` then takes the smaller time
per node); ``multi_source`` is the one-thread form. SciPy's
``csgraph.dijkstra(min_only=True)`` cannot start sources at different times, which would
force an augmented copy of the graph, and its Fibonacci heap chases pointers. The engine
runs them on a copy of the graph whose nodes are in Hilbert order (memory locality).

``k_labels``: the k nearest sources of every node plus every source within a time limit,
in one search whose labels are (node, source) pairs (for a few labels per node: the k
nearest when no threshold is given).

``pairs_within``: every (node, source) pair within a time limit, one bounded search per
source that touches and resets only the nodes in reach, so the work follows the pairs in
reach. With the nearest from ``nearest_source`` it is the coverage path (nearest, second
within T, count within T) and the sparse pairs for E2SFCA, never a points × sites matrix.
``matrix`` in the engine still runs SciPy once per site for dense matrices.

``group_by_node``, ``point_labels`` and ``point_pairs_within`` turn node labels into
per-point answers (adding each point's own walk). All are checked against networkx.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False)
def nearest_source(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    sources: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
    dist: np.ndarray,
    lab: np.ndarray,
    other: np.ndarray,
    tol: float,
) -> int:  # pragma: no cover - compiled; tested through callers
    """Time from the nearest source to every node (CSR rows = from-node), and its label.

    Fills ``dist`` (all ``inf`` on entry) and ``lab`` (read only where ``dist`` is finite).
    On an exact tie the smaller label wins, whatever the order of the search, so the result
    does not depend on how sources are split between threads.

    ``other`` is the ``dist`` of a search from the other sources running at the same time
    on another thread (empty when there is none). Its entries only ever decrease and each is
    the length of a real path, so a node whose time here exceeds ``other`` by more than
    ``tol`` cannot be nearest to a source of this search, nor can anything reached through
    it: the search stops there. Reading ``other`` while it is written is safe (an aligned
    8-byte load is atomic; an old value is a larger upper bound, which only prunes less).
    ``tol`` (well above rounding over a path) keeps exact ties on both sides.

    Returns
    -------
    int
        The number of nodes settled (the work done).
    """
    n = indptr.shape[0] - 1
    paired = other.shape[0] > 0
    hk = np.empty(n, dtype=np.float64)  # heap keys (4-ary heap, decrease-key)
    hv = np.empty(n, dtype=np.int32)  # heap nodes
    pos = np.empty(n, dtype=np.int32)  # heap position; valid while a node is in the heap
    size = 0
    settled = 0
    for s in range(sources.shape[0]):
        v = sources[s]
        k = offsets[s]
        dv = dist[v]
        if k < dv:
            if dv == np.inf:
                i = size
                size += 1
            else:
                i = pos[v]
            dist[v] = k
            lab[v] = labels[s]
            while i > 0:
                p = (i - 1) >> 2
                if hk[p] <= k:
                    break
                hk[i] = hk[p]
                hv[i] = hv[p]
                pos[hv[i]] = i
                i = p
            hk[i] = k
            hv[i] = v
            pos[v] = i
        elif k == dv and labels[s] < lab[v]:
            lab[v] = labels[s]
    while size > 0:
        u = hv[0]
        du = hk[0]
        settled += 1
        size -= 1
        if size > 0:
            lk = hk[size]
            lv = hv[size]
            i = 0
            while True:
                c = 4 * i + 1
                if c >= size:
                    break
                best = c
                bk = hk[c]
                e = min(c + 4, size)
                for cc in range(c + 1, e):
                    if hk[cc] < bk:
                        bk = hk[cc]
                        best = cc
                if bk >= lk:
                    break
                bv = hv[best]
                hk[i] = bk
                hv[i] = bv
                pos[bv] = i
                i = best
            hk[i] = lk
            hv[i] = lv
            pos[lv] = i
        lu = lab[u]
        for e in range(indptr[u], indptr[u + 1]):
            w = indices[e]
            nd = du + data[e]
            dw = dist[w]
            if nd < dw:
                if paired and nd > other[w] + tol:
                    continue
                # A finite time means the node is in the heap: a settled node has a time
                # at most du, below nd (weights are positive).
                if dw == np.inf:
                    i = size
                    size += 1
                else:
                    i = pos[w]
                dist[w] = nd
                lab[w] = lu
                while i > 0:
                    p = (i - 1) >> 2
                    if hk[p] <= nd:
                        break
                    hk[i] = hk[p]
                    hv[i] = hv[p]
                    pos[hv[i]] = i
                    i = p
                hk[i] = nd
                hv[i] = w
                pos[w] = i
            elif nd == dw and lu < lab[w]:
                # an exact tie before w is settled (its predecessors all settle first)
                lab[w] = lu
    return settled


@njit(cache=True, nogil=True, boundscheck=False)
def multi_source(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    sources: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested through callers
    """Time from the nearest source to every node and its label (-1 where none), one thread."""
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    lab = np.empty(n, dtype=np.int64)
    nearest_source(indptr, indices, data, sources, offsets, labels, dist, lab, np.empty(0), 0.0)
    for v in range(n):
        if dist[v] == np.inf:
            lab[v] = -1
    return dist, lab


@njit(cache=True, nogil=True, boundscheck=False)
def merge_nearest(
    dist: np.ndarray, lab: np.ndarray, nodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested through callers
    """Per entry of ``nodes``: the smallest time at that node over the rows of ``dist``.

    On an exact tie the smaller label wins, as within one search. Unreached, or ``nodes``
    negative: inf and -1.
    """
    g = dist.shape[0]
    m = nodes.shape[0]
    out_t = np.full(m, np.inf)
    out_l = np.full(m, -1, dtype=np.int64)
    for j in range(m):
        v = nodes[j]
        if v < 0:
            continue
        for r in range(g):
            t = dist[r, v]
            if t < out_t[j] or (t == out_t[j] and t < np.inf and lab[r, v] < out_l[j]):
                out_t[j] = t
                out_l[j] = lab[r, v]
    return out_t, out_l


@njit(cache=True, nogil=True, boundscheck=False)
def k_labels(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    sources: np.ndarray,
    offsets: np.ndarray,
    k: int,
    limit: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested via callers
    """The ``k`` nearest sources of every node, plus every further source within ``limit``.

    One multi-source Dijkstra whose labels are (node, source) pairs: a node accepts a
    source's label when it does not hold that source yet and it holds fewer than ``k``
    labels or the time is within ``limit``. A source stops spreading through a node that
    refuses it: the ``k`` sources that node holds reach everything beyond it at least as
    early, and a time beyond ``limit`` only grows. So ``k = 1, limit = T`` costs one
    nearest-site search plus the (node, site) pairs within T, not one search per site.

    Returns
    -------
    tuple
        CSR over nodes: ``ptr`` (n + 1), and per label the source's position in ``sources``
        and its time; each node's labels are in increasing time.
    """
    n = indptr.shape[0] - 1
    cnt = np.zeros(n, dtype=np.int64)
    head = np.full(n, -1, dtype=np.int64)  # newest label of a node (linked list)
    cap = max(16, n * max(k, 1) + sources.shape[0])
    nxt = np.empty(cap, dtype=np.int64)
    lsrc = np.empty(cap, dtype=np.int64)
    ltim = np.empty(cap, dtype=np.float64)
    lnod = np.empty(cap, dtype=np.int64)
    nl = 0
    hcap = max(16, 2 * n)
    hk = np.empty(hcap, dtype=np.float64)
    hv = np.empty(hcap, dtype=np.int64)
    hs = np.empty(hcap, dtype=np.int64)
    size = 0
    for s in range(sources.shape[0]):
        # push (offset, node, s)
        if size == hcap:
            hcap *= 2
            hk2 = np.empty(hcap, dtype=np.float64)
            hv2 = np.empty(hcap, dtype=np.int64)
            hs2 = np.empty(hcap, dtype=np.int64)
            hk2[:size] = hk[:size]
            hv2[:size] = hv[:size]
            hs2[:size] = hs[:size]
            hk, hv, hs = hk2, hv2, hs2
        key = offsets[s]
        i = size
        size += 1
        while i > 0:
            p = (i - 1) >> 2
            if hk[p] <= key:
                break
            hk[i] = hk[p]
            hv[i] = hv[p]
            hs[i] = hs[p]
            i = p
        hk[i] = key
        hv[i] = sources[s]
        hs[i] = s
    while size > 0:
        du = hk[0]
        u = hv[0]
        su = hs[0]
        size -= 1
        if size > 0:
            lk = hk[size]
            lv = hv[size]
            ls = hs[size]
            i = 0
            while True:
                c = 4 * i + 1
                if c >= size:
                    break
                best = c
                bk = hk[c]
                e = min(c + 4, size)
                for cc in range(c + 1, e):
                    if hk[cc] < bk:
                        bk = hk[cc]
                        best = cc
                if bk >= lk:
                    break
                hk[i] = bk
                hv[i] = hv[best]
                hs[i] = hs[best]
                i = best
            hk[i] = lk
            hv[i] = lv
            hs[i] = ls
        if cnt[u] >= k and du > limit:
            continue
        dup = False
        j = head[u]
        while j >= 0:
            if lsrc[j] == su:
                dup = True
                break
            j = nxt[j]
        if dup:
            continue
        if nl == cap:
            cap *= 2
            nxt2 = np.empty(cap, dtype=np.int64)
            lsrc2 = np.empty(cap, dtype=np.int64)
            ltim2 = np.empty(cap, dtype=np.float64)
            lnod2 = np.empty(cap, dtype=np.int64)
            nxt2[:nl] = nxt[:nl]
            lsrc2[:nl] = lsrc[:nl]
            ltim2[:nl] = ltim[:nl]
            lnod2[:nl] = lnod[:nl]
            nxt, lsrc, ltim, lnod = nxt2, lsrc2, ltim2, lnod2
        nxt[nl] = head[u]
        lsrc[nl] = su
        ltim[nl] = du
        lnod[nl] = u
        head[u] = nl
        nl += 1
        cnt[u] += 1
        for e in range(indptr[u], indptr[u + 1]):
            w = indices[e]
            nd = du + data[e]
            if cnt[w] >= k and nd > limit:
                continue
            dup = False
            j = head[w]
            while j >= 0:
                if lsrc[j] == su:
                    dup = True
                    break
                j = nxt[j]
            if dup:
                continue
            if size == hcap:
                hcap *= 2
                hk2 = np.empty(hcap, dtype=np.float64)
                hv2 = np.empty(hcap, dtype=np.int64)
                hs2 = np.empty(hcap, dtype=np.int64)
                hk2[:size] = hk[:size]
                hv2[:size] = hv[:size]
                hs2[:size] = hs[:size]
                hk, hv, hs = hk2, hv2, hs2
            i = size
            size += 1
            while i > 0:
                p = (i - 1) >> 2
                if hk[p] <= nd:
                    break
                hk[i] = hk[p]
                hv[i] = hv[p]
                hs[i] = hs[p]
                i = p
            hk[i] = nd
            hv[i] = w
            hs[i] = su
    # Labels were accepted in increasing time; lay them out per node, keeping that order.
    ptr = np.zeros(n + 1, dtype=np.int64)
    for v in range(n):
        ptr[v + 1] = ptr[v] + cnt[v]
    fill = ptr[:-1].copy()
    out_src = np.empty(nl, dtype=np.int64)
    out_t = np.empty(nl, dtype=np.float64)
    for j in range(nl):
        v = lnod[j]
        out_src[fill[v]] = lsrc[j]
        out_t[fill[v]] = ltim[j]
        fill[v] += 1
    return ptr, out_src, out_t


@njit(cache=True, nogil=True, boundscheck=False)
def point_labels(
    ptr: np.ndarray,
    lab_site: np.ndarray,
    lab_t: np.ndarray,
    near_t: np.ndarray,
    near_site: np.ndarray,
    node: np.ndarray,
    walk_s: np.ndarray,
    k: int,
    k_exact: int,
    limit: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested via callers
    """Per point: its node's ``k`` fastest labels plus its walk, and how many are in ``limit``.

    ``ptr``/``lab_*`` hold each node's labels (in any order); a point whose node has no
    labels falls back on ``near_t[i]``/``near_site[i]`` (its node's nearest site, searched
    without a bound; pass empty arrays when there is none). Places past the first
    ``k_exact`` are kept only within ``limit`` (beyond it the search did not look). Points
    with ``node < 0`` get nothing.
    """
    m = node.shape[0]
    t_out = np.full((m, k), np.inf)
    s_out = np.full((m, k), -1, dtype=np.int64)
    n_in = np.zeros(m, dtype=np.int32)
    fallback = near_t.shape[0] > 0
    for i in range(m):
        v = node[i]
        if v < 0:
            continue
        a = ptr[v]
        b = ptr[v + 1]
        w = walk_s[i]
        if a == b:
            if fallback and k > 0 and near_site[i] >= 0:
                t = near_t[i] + w
                t_out[i, 0] = t
                s_out[i, 0] = near_site[i]
                if t <= limit:
                    n_in[i] = 1
            continue
        for j in range(a, b):
            t = lab_t[j] + w
            if t <= limit:
                n_in[i] += 1
            if k > 0 and t < t_out[i, k - 1]:
                c = k - 1  # insertion into the point's sorted top k
                while c > 0 and t_out[i, c - 1] > t:
                    t_out[i, c] = t_out[i, c - 1]
                    s_out[i, c] = s_out[i, c - 1]
                    c -= 1
                t_out[i, c] = t
                s_out[i, c] = lab_site[j]
        for c in range(k_exact, k):
            if t_out[i, c] > limit:
                t_out[i, c] = np.inf
                s_out[i, c] = -1
    return t_out, s_out, n_in


@njit(cache=True, nogil=True, boundscheck=False)
def group_by_node(
    node: np.ndarray, site: np.ndarray, t: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested via callers
    """(node, site, time) triples as CSR over nodes, by counting sort (linear time)."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(node.shape[0]):
        ptr[node[j] + 1] += 1
    for v in range(n):
        ptr[v + 1] += ptr[v]
    fill = ptr[:-1].copy()
    out_s = np.empty(node.shape[0], dtype=np.int64)
    out_t = np.empty(node.shape[0], dtype=np.float64)
    for j in range(node.shape[0]):
        v = node[j]
        out_s[fill[v]] = site[j]
        out_t[fill[v]] = t[j]
        fill[v] += 1
    return ptr, out_s, out_t


@njit(cache=True, nogil=True, boundscheck=False)
def point_pairs_within(
    ptr: np.ndarray,
    lab_site: np.ndarray,
    lab_t: np.ndarray,
    node: np.ndarray,
    walk_s: np.ndarray,
    limit: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested via callers
    """Every (point, site, time) with the time, the point's walk included, within ``limit``."""
    m = node.shape[0]
    total = 0
    for i in range(m):
        v = node[i]
        if v < 0:
            continue
        for j in range(ptr[v], ptr[v + 1]):
            if lab_t[j] + walk_s[i] <= limit:
                total += 1
    rows = np.empty(total, dtype=np.int64)
    cols = np.empty(total, dtype=np.int64)
    vals = np.empty(total, dtype=np.float64)
    c = 0
    for i in range(m):
        v = node[i]
        if v < 0:
            continue
        for j in range(ptr[v], ptr[v + 1]):
            t = lab_t[j] + walk_s[i]
            if t <= limit:
                rows[c] = i
                cols[c] = lab_site[j]
                vals[c] = t
                c += 1
    return rows, cols, vals


@njit(cache=True, nogil=True, boundscheck=False)
def pairs_within(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    sources: np.ndarray,
    offsets: np.ndarray,
    limit: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested via callers
    """Every (node, source, time) with the time within ``limit``: one bounded run per source.

    Each run touches only the nodes within the limit and resets only those, so the work
    follows the number of pairs in reach, whatever the number of sources.

    Returns
    -------
    tuple
        Node, position of the source in ``sources``, and time, per pair (grouped by source).
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    pos = np.full(n, -1, dtype=np.int64)  # -1 never pushed, -2 settled
    touched = np.empty(n, dtype=np.int64)
    hk = np.empty(n, dtype=np.float64)
    hv = np.empty(n, dtype=np.int64)
    cap = max(16, 4 * sources.shape[0])
    out_v = np.empty(cap, dtype=np.int64)
    out_s = np.empty(cap, dtype=np.int64)
    out_t = np.empty(cap, dtype=np.float64)
    m = 0
    for s in range(sources.shape[0]):
        if offsets[s] > limit:
            continue
        nt = 0
        size = 1
        v0 = sources[s]
        dist[v0] = offsets[s]
        hk[0] = offsets[s]
        hv[0] = v0
        pos[v0] = 0
        touched[nt] = v0
        nt += 1
        while size > 0:
            u = hv[0]
            du = hk[0]
            pos[u] = -2
            size -= 1
            if size > 0:
                lk = hk[size]
                lv = hv[size]
                i = 0
                while True:
                    c = 4 * i + 1
                    if c >= size:
                        break
                    best = c
                    bk = hk[c]
                    e = min(c + 4, size)
                    for cc in range(c + 1, e):
                        if hk[cc] < bk:
                            bk = hk[cc]
                            best = cc
                    if bk >= lk:
                        break
                    hk[i] = bk
                    hv[i] = hv[best]
                    pos[hv[i]] = i
                    i = best
                hk[i] = lk
                hv[i] = lv
                pos[lv] = i
            if m == cap:
                cap *= 2
                v2 = np.empty(cap, dtype=np.int64)
                s2 = np.empty(cap, dtype=np.int64)
                t2 = np.empty(cap, dtype=np.float64)
                v2[:m] = out_v[:m]
                s2[:m] = out_s[:m]
                t2[:m] = out_t[:m]
                out_v, out_s, out_t = v2, s2, t2
            out_v[m] = u
            out_s[m] = s
            out_t[m] = du
            m += 1
            for e in range(indptr[u], indptr[u + 1]):
                w = indices[e]
                if pos[w] == -2:
                    continue
                nd = du + data[e]
                if nd > limit or nd >= dist[w]:
                    continue
                if dist[w] == np.inf:
                    touched[nt] = w
                    nt += 1
                dist[w] = nd
                i = pos[w]
                if i == -1:
                    i = size
                    size += 1
                while i > 0:
                    p = (i - 1) >> 2
                    if hk[p] <= nd:
                        break
                    hk[i] = hk[p]
                    hv[i] = hv[p]
                    pos[hv[i]] = i
                    i = p
                hk[i] = nd
                hv[i] = w
                pos[w] = i
        for j in range(nt):
            dist[touched[j]] = np.inf
            pos[touched[j]] = -1
    return out_v[:m].copy(), out_s[:m].copy(), out_t[:m].copy()
