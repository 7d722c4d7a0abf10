"""Coverage gaps: contiguous clusters of need beyond T minutes, ranked by need."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

#: Uncovered demand points closer than this belong to the same gap.
LINK_M = 500.0


def cluster_points(xy: np.ndarray, link_m: float = LINK_M) -> np.ndarray:
    """Label points so that any two closer than ``link_m`` share a label (single linkage)."""
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(r=link_m, output_type="ndarray")
    adj = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    return labels


def find_gaps(
    xy: np.ndarray,
    need: np.ndarray,
    residents: np.ndarray,
    area_code: np.ndarray,
    time_min: np.ndarray,
    minutes: float,
    *,
    link_m: float = LINK_M,
    crs: object = None,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Clusters of demand points whose nearest site is beyond ``minutes``.

    Returns
    -------
    tuple
        A GeoDataFrame of gaps ranked by need (``rank``, ``need``, ``residents``,
        ``area_code`` with most of the gap's need, ``points``, ``nearest_min`` (need-weighted
        mean minutes to the nearest site), ``worst_min``, ``centre_x``/``centre_y`` (a
        suggested centre: the gap's demand point nearest its need-weighted centroid) and the
        gap outline), and each demand point's gap rank (0 = not in a gap).
    """
    xy = np.asarray(xy, float)
    need = np.asarray(need, float)
    t = np.asarray(time_min, float)
    out_rank = np.zeros(len(xy), dtype=np.int64)
    idx = np.flatnonzero((t > minutes) & (need > 0))
    cols = ["rank", "need", "residents", "area_code", "points", "nearest_min", "worst_min",
            "centre_x", "centre_y"]
    if len(idx) == 0:
        return gpd.GeoDataFrame(columns=[*cols, "geometry"], geometry="geometry", crs=crs), out_rank
    labels = cluster_points(xy[idx], link_m)
    df = pd.DataFrame({
        "label": labels, "need": need[idx], "residents": np.asarray(residents, float)[idx],
        "area_code": np.asarray(area_code)[idx], "x": xy[idx, 0], "y": xy[idx, 1],
        "t": np.where(np.isfinite(t[idx]), t[idx], np.nan),
    })
    rows = []
    geoms = []
    for label, g in df.groupby("label", sort=False):
        w = g["need"].to_numpy()
        cx, cy = np.average(g["x"], weights=w), np.average(g["y"], weights=w)
        j = int(np.argmin((g["x"].to_numpy() - cx) ** 2 + (g["y"].to_numpy() - cy) ** 2))
        by_area = g.groupby("area_code")["need"].sum()
        tt = g["t"].to_numpy()
        fin = np.isfinite(tt)
        rows.append({
            "label": label, "need": w.sum(), "residents": g["residents"].sum(),
            "area_code": by_area.idxmax(), "points": len(g),
            "nearest_min": float(np.average(tt[fin], weights=w[fin])) if fin.any() else np.inf,
            "worst_min": float(tt[fin].max()) if fin.any() else np.inf,
            "centre_x": float(g["x"].iloc[j]), "centre_y": float(g["y"].iloc[j]),
        })
        pts = shapely.points(g[["x", "y"]].to_numpy())
        geoms.append(shapely.union_all(shapely.buffer(pts, link_m / 2, quad_segs=4)).simplify(25))
    gaps = gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)
    gaps = gaps.sort_values(["need", "points"], ascending=False).reset_index(drop=True)
    gaps["rank"] = np.arange(1, len(gaps) + 1)
    rank_of = dict(zip(gaps["label"], gaps["rank"], strict=True))
    out_rank[idx] = [rank_of[lab] for lab in labels]
    return gaps[[*cols, "geometry"]], out_rank
