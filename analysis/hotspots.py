"""Hotspots of need relative to population: Gi* on standardised rates, with FDR control.

A count of need per 1 km cell mostly maps where people live (on the demo the two correlate
0.96), so the statistic here runs on the *rate* of need per resident instead, standardised
the Empirical Bayes way so that cells or areas with few residents do not dominate
(Assunção & Reis 1999, the rate standardisation PySAL's ``esda`` uses for Moran's I):

    x_i = (need_i / residents_i - b) / sqrt(a + b / residents_i)

with ``b`` the study area's rate and ``a`` the variance of the rates beyond Poisson noise
(set to 0 when negative). ``x`` is about 0 where need follows residents, so a dense town whose
need is in proportion to its residents is *not* a hotspot. Getis-Ord Gi* (binary queen
weights, each unit its own neighbour) then asks whether a unit and its neighbours together
have unusually high ``x``; the p-values of all tested units are held to a
Benjamini-Hochberg false discovery rate (``esda.fdr``). Kernel density (need per km²) is
kept in the cell layer as a picture of where need is, with its edges corrected so that the
mass over the study area's cells equals the need in it.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage
from scipy.stats import norm

from harmreach.geo.errors import InputError

log = logging.getLogger(__name__)

CELL_M = 1000.0
BANDWIDTH_M = 1500.0
#: Seed of the permutation test (used only when ``permutations > 0``): same input, same map.
SEED = 20240613

#: What the hotspot layers mean; exports stamp it (``cells.attrs["method"]`` carries the
#: filled-in version with alpha and the p-value cut-off).
HOTSPOT_METHOD = (
    "Getis-Ord Gi* (binary queen contiguity, each unit its own neighbour) on the Empirical "
    "Bayes standardised rate of need per resident (Assuncao & Reis 1999: "
    "(need/residents - study-area rate) / sqrt(a + rate/residents)); hot = positive z with "
    "two-sided p under the Benjamini-Hochberg false discovery rate alpha across all tested "
    "units; units without residents are not tested. Hotspots are places where need is high "
    "for the number of residents, not places with many residents."
)
#: The fallback when no residents are given: a map of need counts (mostly of population).
HOTSPOT_METHOD_COUNTS = (
    "Getis-Ord Gi* (binary queen contiguity, each unit its own neighbour) on need COUNTS per "
    "unit (no residents given, so not relative to population); hot = positive z with "
    "two-sided p under the Benjamini-Hochberg false discovery rate alpha across all units."
)
KERNEL_METHOD = (
    "Gaussian kernel density of need per km² (bandwidth {bw:g} m), edge-corrected: each "
    "cell's need is spread over the study area's cells only, so their densities add up to "
    "the need in the study area."
)


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
    raster: np.ndarray,
    cell_m: float = CELL_M,
    bandwidth_m: float = BANDWIDTH_M,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Edge-corrected Gaussian kernel density of a need raster, in need per km².

    Each cell's need is spread with a Gaussian kernel renormalised over the cells in
    ``mask`` (default: the whole raster), so nothing leaks past the edge: the densities of
    the mask's cells times the cell area add up to the need in every cell that has a mask
    cell within reach of the kernel (4 bandwidths), i.e. mass is preserved. Cells outside
    the mask get density 0.
    """
    raster = np.asarray(raster, float)
    mask = np.ones(raster.shape, bool) if mask is None else np.asarray(mask, bool)
    sigma = bandwidth_m / cell_m
    # Share of each cell's kernel that falls on mask cells (the kernel is symmetric, so this
    # is the filter of the mask itself); dividing by it gives each source a kernel of mass 1
    # over the mask. Filters with mode="constant" drop what leaves the raster, which this
    # share accounts for exactly.
    share = ndimage.gaussian_filter(mask.astype(float), sigma=sigma, mode="constant")
    src = np.divide(raster, share, out=np.zeros_like(raster), where=share > 1e-12)
    dens = ndimage.gaussian_filter(src, sigma=sigma, mode="constant") * mask
    return dens / (cell_m / 1000.0) ** 2


def standardised_rate(need: np.ndarray, residents: np.ndarray) -> np.ndarray:
    """Empirical Bayes standardised rate of need per resident (Assunção & Reis 1999).

    ``(need/residents - b) / sqrt(a + b/residents)`` with ``b`` the overall rate and ``a``
    the weighted variance of the rates less the Poisson part ``b / mean residents``, set to
    0 when negative (then the value is the Pearson residual ``(need - E) / sqrt(E)``).
    Every unit must have residents > 0.
    """
    need = np.asarray(need, float)
    pop = np.asarray(residents, float)
    if len(pop) == 0:
        return np.zeros(0)
    if (pop <= 0).any():
        raise ValueError("standardised_rate needs residents > 0 in every unit")
    b = need.sum() / pop.sum()
    if b <= 0:
        return np.zeros(len(need))
    rate = need / pop
    s2 = float((pop * (rate - b) ** 2).sum() / pop.sum())
    a = max(0.0, s2 - b / pop.mean())
    return (rate - b) / np.sqrt(a + b / pop)


def _gi_parts(neighbours: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every weight 1 (self included, duplicates removed)."""
    rows, cols = [], []
    for i, nb in enumerate(neighbours):
        js = np.unique(np.concatenate([np.asarray(nb, np.int64), [i]]))
        rows.append(np.full(len(js), i))
        cols.append(js)
    return np.concatenate(rows) if rows else np.zeros(0, np.int64), (
        np.concatenate(cols) if cols else np.zeros(0, np.int64)
    )


def getis_ord_gi_star(
    values: np.ndarray,
    neighbours: list[np.ndarray],
    *,
    permutations: int = 0,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores and two-sided p-values with binary weights (each unit its own neighbour).

    ``neighbours[i]`` lists the units adjacent to unit i (not including i). The z-score is
    Getis & Ord (1995)'s ``(Σ_j w_ij x_j - x̄ W_i) / (s sqrt((n W_i - W_i²) / (n - 1)))``
    with ``s`` the population standard deviation, the value PySAL's
    ``esda.G_Local(star=True, transform="B")`` reports as ``Zs`` for positive data (this one
    also takes negative values, such as standardised rates). p-values are normal, or with
    ``permutations > 0`` from conditional randomisation (unit i's value kept, its
    neighbours drawn from the other units; seeded; twice the one-sided
    ``(min(#≥, #≤) + 1) / (permutations + 1)``, at most 1). When all values are equal
    nothing stands out: z = 0, p = 1.
    """
    x = np.asarray(values, float)
    n = len(x)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    rows, cols = _gi_parts(neighbours, n)
    wsum = np.bincount(rows, minlength=n).astype(float)
    local = np.bincount(rows, weights=x[cols], minlength=n)
    xbar = x.mean()
    s = float(np.sqrt(max(0.0, (x**2).mean() - xbar**2)))
    if n < 2 or s <= 1e-9 * max(1.0, float(np.abs(x).max())):
        return np.zeros(n), np.ones(n)
    den = s * np.sqrt(np.maximum(n * wsum - wsum**2, 0.0) / (n - 1))
    z = np.divide(local - xbar * wsum, den, out=np.zeros(n), where=den > 0)
    if permutations <= 0:
        return z, 2.0 * norm.sf(np.abs(z))
    return z, _permutation_p(x, wsum.astype(np.int64) - 1, local, permutations, seed)


def _permutation_p(
    x: np.ndarray, k: np.ndarray, local: np.ndarray, permutations: int, seed: int
) -> np.ndarray:
    """Two-sided conditional-randomisation p-values of the local sums (unit's own value kept).

    One draw of ``max(k)`` distinct other units per permutation serves every unit (the
    indices skip the unit itself), as PySAL's ``esda`` does.
    """
    n = len(x)
    kmax = int(k.max()) if len(k) else 0
    if kmax == 0:
        return np.ones(n)
    rng = np.random.default_rng(seed)
    draws = np.argsort(rng.random((permutations, n - 1)), axis=1)[:, :kmax]  # no repeats
    ge = np.zeros(n)
    le = np.zeros(n)
    obs = local - x  # neighbours' sum without the unit itself
    for i in range(n):
        if k[i] == 0:
            ge[i] = le[i] = permutations
            continue
        idx = draws[:, : k[i]]
        idx = idx + (idx >= i)  # skip unit i
        sims = x[idx].sum(axis=1)
        tol = 1e-9 * max(1.0, abs(obs[i]))
        ge[i] = np.count_nonzero(sims >= obs[i] - tol)
        le[i] = np.count_nonzero(sims <= obs[i] + tol)
    return np.minimum(1.0, 2.0 * (np.minimum(ge, le) + 1.0) / (permutations + 1.0))


def fdr_threshold(p: np.ndarray, alpha: float) -> float:
    """Benjamini-Hochberg cut-off (``esda.fdr``): p-values below it are significant."""
    from esda import fdr

    p = np.asarray(p, float)
    if len(p) == 0:
        return 0.0
    return float(fdr(p, alpha))


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


def _permutation_note(permutations: int, n_tested: int, alpha: float) -> str | None:
    """A warning when permutation p-values are too coarse for the false discovery rate."""
    if permutations <= 0 or n_tested == 0:
        return None
    floor = 2.0 / (permutations + 1)
    if floor <= alpha / n_tested:
        return None
    fewest = int(np.ceil(floor * n_tested / alpha))
    need = int(np.ceil(2.0 * n_tested / alpha)) - 1
    return (
        f"with {permutations} permutations no p-value is below {floor:.2g}, so fewer than "
        f"{fewest} significant units cannot pass the false discovery rate over {n_tested}; "
        f"use at least {need} permutations (or normal p-values)"
    )


def _method_text(base: str, alpha: float, threshold: float, permutations: int) -> str:
    inference = (
        "normal p-values"
        if permutations <= 0
        else f"p-values from {permutations} seeded conditional permutations"
    )
    return f"{base} {inference}; alpha {alpha:g}, p-value cut-off {threshold:.3g}."


def find_hotspots(
    xy: np.ndarray,
    need: np.ndarray,
    study_area: shapely.Geometry,
    *,
    residents: np.ndarray | None = None,
    cell_m: float = CELL_M,
    bandwidth_m: float = BANDWIDTH_M,
    alpha: float = 0.05,
    crs: object = None,
    permutations: int = 0,
    seed: int = SEED,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Grid cells with density and Gi* on need per resident, and hotspot polygons.

    Parameters
    ----------
    xy
        Demand point coordinates (metres).
    need
        Need per demand point.
    study_area
        Polygon of the study area; cells touching it are analysed.
    residents
        Residents per demand point. Without them the statistic falls back to need counts,
        which mostly map population (the method text says so).
    cell_m, bandwidth_m
        Cell size and kernel bandwidth.
    alpha
        False discovery rate over all tested cells.
    crs
        CRS of the output.
    permutations, seed
        Conditional permutations for the p-values (0: normal p-values) and their seed.

    Returns
    -------
    tuple of GeoDataFrame
        ``cells``: every cell touching the study area with ``need``, ``density_km2``,
        ``gi_z``, ``gi_p``, ``tested`` (cells without residents are not: z 0, p 1), ``hot``;
        ``hotspots``: contiguous hot cells dissolved, ranked by need, with ``need``,
        ``max_z``, ``cells``. Both carry ``attrs`` ``method``, ``alpha``, ``p_threshold``,
        ``n_tested`` and ``notes`` (what was not tested and why).
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha {alpha} must be between 0 and 1.", fix="e.g. 0.05.")
    xy = np.asarray(xy, float).reshape(-1, 2)
    need = np.asarray(need, float)
    for name, v in (("need", need), ("residents", residents)):
        if v is not None and len(v) != len(xy):
            raise InputError(
                f"{len(v)} {name} values for {len(xy)} demand points.",
                fix=f"give one {name} value per demand point.",
            )
    bounds = tuple(shapely.bounds(study_area))
    raster, (x0, y0), (ny, nx_) = grid_cells(xy, need, bounds, cell_m)
    rr, cc = np.mgrid[0:ny, 0:nx_]
    boxes = shapely.box(
        x0 + cc.ravel() * cell_m,
        y0 + rr.ravel() * cell_m,
        x0 + (cc.ravel() + 1) * cell_m,
        y0 + (rr.ravel() + 1) * cell_m,
    )
    keep = shapely.intersects(boxes, study_area)
    rows, cols = rr.ravel()[keep], cc.ravel()[keep]
    mask = np.zeros((ny, nx_), bool)
    mask[rows, cols] = True
    dens = kernel_density(raster, cell_m, bandwidth_m, mask=mask)
    values = raster[rows, cols]
    notes: list[str] = []
    outside = float(raster[~mask].sum())
    if outside > 0:
        notes.append(
            f"{outside:.1f} need lies in cells outside the study area: spread into the "
            "density, not tested"
        )
    if residents is None:
        tested = np.ones(len(rows), bool)
        x = values
        base = HOTSPOT_METHOD_COUNTS
        log.info("hotspots without residents: Gi* on need counts, not relative to population")
    else:
        pop_r, _, _ = grid_cells(xy, np.asarray(residents, float), bounds, cell_m)
        pop = pop_r[rows, cols]
        tested = pop > 0
        stray = (~tested) & (values > 0)
        if stray.any():
            notes.append(
                f"{int(stray.sum())} cell(s) hold need ({values[stray].sum():.1f}) but no "
                "residents: no rate, not tested"
            )
        if (~tested).any():
            notes.append(f"{int((~tested).sum())} cell(s) without residents are not tested")
        x = standardised_rate(values[tested], pop[tested]) if tested.any() else np.zeros(0)
        base = HOTSPOT_METHOD
    z = np.zeros(len(rows))
    p = np.ones(len(rows))
    if tested.any():
        nb = queen_neighbours(rows[tested], cols[tested])
        z[tested], p[tested] = getis_ord_gi_star(x, nb, permutations=permutations, seed=seed)
    thr = fdr_threshold(p[tested], alpha)
    hot = tested & (z > 0) & (p < thr)
    coarse = _permutation_note(permutations, int(tested.sum()), alpha)
    if coarse:
        notes.append(coarse)
    attrs = {
        "method": _method_text(base, alpha, thr, permutations),
        "kernel": KERNEL_METHOD.format(bw=bandwidth_m),
        "alpha": alpha,
        "p_threshold": thr,
        "n_tested": int(tested.sum()),
        "notes": notes,
    }
    cells = gpd.GeoDataFrame(
        {
            "row": rows,
            "col": cols,
            "need": values,
            "density_km2": dens[rows, cols],
            "gi_z": z,
            "gi_p": p,
            "tested": tested,
            "hot": hot,
        },
        geometry=boxes[keep],
        crs=crs,
    )
    cells.attrs.update(attrs)
    hs_cols = ["rank", "need", "max_z", "cells", "geometry"]
    if not hot.any():
        hs = gpd.GeoDataFrame(columns=hs_cols, geometry="geometry", crs=crs)
        hs.attrs.update(attrs)
        return cells, hs
    hot_mask = np.zeros((ny, nx_), dtype=bool)
    hot_mask[rows[hot], cols[hot]] = True
    labels, _ = ndimage.label(hot_mask, structure=np.ones((3, 3), dtype=int))  # queen
    cells["cluster"] = labels[rows, cols]
    hs = (
        cells[cells["hot"]]
        .dissolve(by="cluster", aggfunc={"need": "sum", "gi_z": "max", "row": "size"})
        .rename(columns={"gi_z": "max_z", "row": "cells"})
    )
    hs["geometry"] = shapely.intersection(hs.geometry.values, study_area)
    hs = hs.sort_values("need", ascending=False).reset_index(drop=True)
    hs["rank"] = np.arange(1, len(hs) + 1)
    hs = hs[hs_cols]
    hs.attrs.update(attrs)
    cells = cells.drop(columns="cluster")
    cells.attrs.update(attrs)
    return cells, hs


def _area_numbers(areas: gpd.GeoDataFrame, col: str) -> np.ndarray:
    """A numeric, non-negative, complete column of the areas, or a clear error."""
    if col not in areas.columns:
        raise InputError(
            f"the areas have no '{col}' column.",
            column=col,
            fix=f"add {col} per area (have: {', '.join(map(str, areas.columns))}).",
        )
    v = pd.to_numeric(areas[col], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if len(bad):
        raise InputError(
            f"{len(bad)} area(s) have a missing, non-numeric or negative {col} "
            f"(first: row {int(bad[0]) + 1}, value {areas[col].iloc[bad[0]]!r}).",
            row=int(bad[0]) + 1,
            column=col,
            fix="give a number ≥ 0 for every area.",
        )
    return v


def area_hotspots(
    areas: gpd.GeoDataFrame,
    *,
    need_col: str = "need",
    residents_col: str = "residents",
    code_col: str | None = "area_code",
    alpha: float = 0.05,
    permutations: int = 0,
    seed: int = SEED,
) -> gpd.GeoDataFrame:
    """Hotspots of need per resident among areas (wards, LSOAs): Gi* on queen contiguity.

    Parameters
    ----------
    areas
        Polygons with need and residents per area.
    need_col, residents_col, code_col
        Column names (``code_col`` names areas in notes and errors; None: row numbers).
    alpha
        False discovery rate over all tested areas.
    permutations, seed
        Conditional permutations for the p-values (0: normal p-values) and their seed.

    Returns
    -------
    GeoDataFrame
        A copy of ``areas`` with ``gi_z``, ``gi_p``, ``tested`` (areas without residents are
        not), ``hot``, ``neighbours`` (contiguous areas) and ``island``. An island (an area
        touching no other, e.g. offshore, or a gap in the boundaries) is linked both ways
        to its nearest area so it still has a neighbourhood; the notes name them. ``attrs``
        carry ``method``, ``alpha``, ``p_threshold``, ``n_tested`` and ``notes``.
    """
    import libpysal

    if not 0 < alpha < 1:
        raise InputError(f"alpha {alpha} must be between 0 and 1.", fix="e.g. 0.05.")
    need = _area_numbers(areas, need_col)
    pop = _area_numbers(areas, residents_col)
    names = (
        areas[code_col].astype(str).to_numpy()
        if code_col and code_col in areas.columns
        else np.array([f"row {i + 1}" for i in range(len(areas))])
    )
    stray = np.flatnonzero((pop == 0) & (need > 0))
    if len(stray):
        raise InputError(
            f"area {names[stray[0]]} has need {need[stray[0]]:g} but no residents, so no rate "
            f"({len(stray)} such area(s)).",
            row=int(stray[0]) + 1,
            column=residents_col,
            fix="give the residents of every area with need.",
        )
    tested = pop > 0
    if tested.sum() < 3:
        raise InputError(
            f"only {int(tested.sum())} area(s) have residents; hotspots need at least 3.",
            fix="use smaller areas (wards or LSOAs) or a larger study area.",
        )
    geoms = areas.geometry.to_numpy()
    if not all(g is not None and g.geom_type in ("Polygon", "MultiPolygon") for g in geoms):
        raise InputError("every area must be a polygon.", fix="check the areas' geometries.")
    sub = gpd.GeoDataFrame(geometry=geoms[tested], crs=areas.crs).reset_index(drop=True)
    w = libpysal.weights.Queen.from_dataframe(sub, use_index=False, silence_warnings=True)
    nb = [np.asarray(w.neighbors[i], np.int64) for i in range(len(sub))]
    islands = [i for i in range(len(sub)) if len(nb[i]) == 0]
    notes: list[str] = []
    tested_idx = np.flatnonzero(tested)
    if islands:
        g = sub.geometry.to_numpy()
        for i in islands:
            d = shapely.distance(g[i], g)
            d[i] = np.inf
            j = int(np.argmin(d))
            nb[i] = np.append(nb[i], j)
            if i not in nb[j]:
                nb[j] = np.append(nb[j], i)
        notes.append(
            f"{len(islands)} area(s) touch no other and were linked to their nearest area: "
            + ", ".join(names[tested_idx[i]] for i in islands[:10])
            + (" …" if len(islands) > 10 else "")
        )
    if (~tested).any():
        notes.append(
            f"{int((~tested).sum())} area(s) without residents are not tested: "
            + ", ".join(names[~tested][:10])
        )
    x = standardised_rate(need[tested], pop[tested])
    z = np.zeros(len(areas))
    p = np.ones(len(areas))
    z[tested], p[tested] = getis_ord_gi_star(x, nb, permutations=permutations, seed=seed)
    thr = fdr_threshold(p[tested], alpha)
    coarse = _permutation_note(permutations, int(tested.sum()), alpha)
    if coarse:
        notes.append(coarse)
    out = areas.copy()
    out["gi_z"] = z
    out["gi_p"] = p
    out["tested"] = tested
    out["hot"] = tested & (z > 0) & (p < thr)
    n_nb = np.zeros(len(areas), np.int64)
    n_nb[tested] = [len(v) for v in nb]
    out["neighbours"] = n_nb
    island = np.zeros(len(areas), bool)
    island[tested_idx[islands]] = True
    out["island"] = island
    out.attrs.update(
        {
            "method": _method_text(HOTSPOT_METHOD, alpha, thr, permutations),
            "alpha": alpha,
            "p_threshold": thr,
            "n_tested": int(tested.sum()),
            "notes": notes,
        }
    )
    return out
