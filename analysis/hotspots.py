"""Hotspots of need on a regular grid: kernel density and Getis-Ord Gi* (PySAL esda)."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely
from scipy import ndimage
from scipy.stats import norm

log = logging.getLogger(__name__)

CELL_M = 1000.0
BANDWIDTH_M = 1500.0


def grid_cells(
    xy: np.ndarray,
    weights: np.ndarray,
    bounds: tuple[float, float, float, float],
    cell_m: float = CELL_M,
) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
    """Sum weights into square cells over ``bounds``: (raster, origin, shape)."""
    x0, y0, x1, y1 = bounds
    nx_ = max(1, int(np.ceil((x1 - x0) / cell_m)))
    ny = max(1, int(np.ceil((y1 - y0) / cell_m)))
    ix = np.clip(((xy[:, 0] - x0) // cell_m).astype(int), 0, nx_ - 1)
    iy = np.clip(((xy[:, 1] - y0) // cell_m).astype(int), 0, ny - 1)
    raster = np.zeros((ny, nx_))
    np.add.at(raster, (iy, ix), weights)
    return raster, (x0, y0), (ny, nx_)


def kernel_density(
    raster: np.ndarray, cell_m: float = CELL_M, bandwidth_m: float = BANDWIDTH_M
) -> np.ndarray:
    """Gaussian kernel density of a need raster, in need per km² (mass preserved)."""
    dens = ndimage.gaussian_filter(raster, sigma=bandwidth_m / cell_m, mode="constant")
    return dens / (cell_m / 1000.0) ** 2


def getis_ord_gi_star(
    values: np.ndarray, neighbours: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores and two-sided p-values with binary weights (each cell its own neighbour).

    Computed with PySAL's ``esda.G_Local(star=True)``; ``neighbours[i]`` lists the cells
    adjacent to cell i (not including i).
    """
    import libpysal
    from esda import G_Local

    neigh = {i: [int(j) for j in nb] for i, nb in enumerate(neighbours)}
    w = libpysal.weights.W(neigh, silence_warnings=True)
    g = G_Local(np.asarray(values, float), w, transform="B", star=True, permutations=0)
    z = np.asarray(g.Zs, float)
    return z, 2.0 * norm.sf(np.abs(z))


def queen_neighbours(rows: np.ndarray, cols: np.ndarray) -> list[np.ndarray]:
    """Queen-contiguity neighbours among the given raster cells."""
    pos = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(rows, cols, strict=True))}
    out = []
    for r, c in zip(rows, cols, strict=True):
        nb = [
            pos[(r + dr, c + dc)]
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            if (dr or dc) and (r + dr, c + dc) in pos
        ]
        out.append(np.asarray(nb, dtype=np.int64))
    return out


def find_hotspots(
    xy: np.ndarray,
    need: np.ndarray,
    study_area: shapely.Geometry,
    *,
    cell_m: float = CELL_M,
    bandwidth_m: float = BANDWIDTH_M,
    alpha: float = 0.05,
    crs: object = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Grid cells with density and Gi*, and hotspot polygons (significant high clusters).

    Returns
    -------
    tuple of GeoDataFrame
        ``cells``: every cell touching the study area with ``need``, ``density_km2``,
        ``gi_z``, ``gi_p``, ``hot``; ``hotspots``: contiguous hot cells dissolved, ranked,
        with ``need``, ``max_z``, ``cells``.
    """
    bounds = tuple(shapely.bounds(study_area))
    raster, (x0, y0), (ny, nx_) = grid_cells(
        np.asarray(xy, float), np.asarray(need, float), bounds, cell_m
    )
    dens = kernel_density(raster, cell_m, bandwidth_m)
    rr, cc = np.mgrid[0:ny, 0:nx_]
    boxes = shapely.box(
        x0 + cc.ravel() * cell_m,
        y0 + rr.ravel() * cell_m,
        x0 + (cc.ravel() + 1) * cell_m,
        y0 + (rr.ravel() + 1) * cell_m,
    )
    keep = shapely.intersects(boxes, study_area)
    rows, cols = rr.ravel()[keep], cc.ravel()[keep]
    values = raster[rows, cols]
    z, p = getis_ord_gi_star(values, queen_neighbours(rows, cols))
    hot = (z > 0) & (p < alpha)
    cells = gpd.GeoDataFrame(
        {
            "row": rows,
            "col": cols,
            "need": values,
            "density_km2": dens[rows, cols],
            "gi_z": z,
            "gi_p": p,
            "hot": hot,
        },
        geometry=boxes[keep],
        crs=crs,
    )
    hs_cols = ["rank", "need", "max_z", "cells", "geometry"]
    if not hot.any():
        return cells, gpd.GeoDataFrame(columns=hs_cols, geometry="geometry", crs=crs)
    mask = np.zeros((ny, nx_), dtype=bool)
    mask[rows[hot], cols[hot]] = True
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))  # queen contiguity
    cells["cluster"] = labels[rows, cols]
    hs = (
        cells[cells["hot"]]
        .dissolve(by="cluster", aggfunc={"need": "sum", "gi_z": "max", "row": "size"})
        .rename(columns={"gi_z": "max_z", "row": "cells"})
    )
    hs["geometry"] = shapely.intersection(hs.geometry.values, study_area)
    hs = hs.sort_values("need", ascending=False).reset_index(drop=True)
    hs["rank"] = np.arange(1, len(hs) + 1)
    return cells.drop(columns="cluster"), hs[hs_cols]
