"""Hotspots on need per resident: Gi* by hand, rates, FDR under a null, mass, areas."""

import itertools
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy import ndimage

from harmreach.analysis.hotspots import (
    HOTSPOT_METHOD,
    area_hotspots,
    find_hotspots,
    getis_ord_gi_star,
    kernel_density,
    queen_neighbours,
    standardised_rate,
)
from harmreach.geo.errors import InputError

N = 20  # cells per side of the synthetic county (1 km cells)


def lattice(n):
    rows, cols = np.divmod(np.arange(n * n), n)
    return rows, cols


def grid_points(n=N, cell_m=1000.0):
    """One demand point at the centre of every 1 km cell, row-major (row = y, col = x)."""
    rows, cols = lattice(n)
    xy = np.column_stack([(cols + 0.5) * cell_m, (rows + 0.5) * cell_m])
    return xy, rows, cols, shapely.box(0, 0, n * cell_m, n * cell_m)


# --- Gi* against hand calculations -------------------------------------------------------


def test_gi_star_3x3_by_hand():
    # x = 1..9 on a 3x3 lattice: mean 5, population variance 285/9 - 25 = 20/3.
    # Corner (0,0): itself and 3 neighbours {1,2,4,5}: sum 12, W 4;
    #   z = (12 - 5*4) / sqrt(20/3 * (9*4 - 16)/8) = -8 / sqrt(50/3) = -1.959592.
    # Edge (0,1): {1,2,3,4,5,6}: sum 21, W 6; z = (21 - 30) / sqrt(20/3 * 18/8) = -9/sqrt(15).
    # Corner (2,2): {5,6,8,9}: z = +8 / sqrt(50/3). Centre: W = n, the statistic is undefined
    # (its neighbourhood is everything): reported as 0.
    rows, cols = lattice(3)
    z, p = getis_ord_gi_star(np.arange(1.0, 10.0), queen_neighbours(rows, cols))
    assert z[0] == pytest.approx(-8 / math.sqrt(50 / 3), rel=1e-12)
    assert z[1] == pytest.approx(-9 / math.sqrt(15), rel=1e-12)
    assert z[8] == pytest.approx(8 / math.sqrt(50 / 3), rel=1e-12)
    assert z[4] == 0.0
    # two-sided normal p of |z| = 1.959592: 0.050043 (tables: 2 * (1 - Phi(1.96)) = 0.05)
    assert p[0] == pytest.approx(0.050043, abs=1e-5)


def test_gi_star_equals_esda_on_positive_data():
    import libpysal
    from esda import G_Local

    rng = np.random.default_rng(3)
    rows, cols = lattice(7)
    x = rng.gamma(2.0, 3.0, 49)
    nb = queen_neighbours(rows, cols)
    z, _ = getis_ord_gi_star(x, nb)
    w = libpysal.weights.W({i: list(map(int, v)) for i, v in enumerate(nb)})
    g = G_Local(x, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(z, g.Zs, rtol=1e-9)


def test_gi_star_is_shift_invariant_so_negative_rates_work():
    rng = np.random.default_rng(4)
    rows, cols = lattice(6)
    x = rng.normal(size=36)
    nb = queen_neighbours(rows, cols)
    np.testing.assert_allclose(getis_ord_gi_star(x, nb)[0], getis_ord_gi_star(x + 50, nb)[0])


def test_permutation_p_matches_exact_enumeration():
    # 6 units; unit 0 has neighbours 1 and 2. Conditional randomisation keeps x0 and draws
    # 2 of the other 5 values: the exact two-sided p enumerates all C(5,2) = 10 pairs.
    x = np.array([3.0, 9.0, 8.0, 1.0, 2.0, 4.0])
    nb = [np.array([1, 2])] + [np.array([], np.int64)] * 5
    obs = x[1] + x[2]
    sums = [x[list(c)].sum() for c in itertools.combinations(range(1, 6), 2)]
    ge = sum(s >= obs for s in sums) / 10  # only {9, 8}: 0.1
    le = sum(s <= obs for s in sums) / 10
    exact = min(1.0, 2 * min(ge, le))
    _, p = getis_ord_gi_star(x, nb, permutations=20000, seed=1)
    assert exact == pytest.approx(0.2)
    assert p[0] == pytest.approx(exact, abs=0.015)
    _, p2 = getis_ord_gi_star(x, nb, permutations=20000, seed=1)
    assert (p == p2).all()  # seeded: deterministic


# --- the rate ----------------------------------------------------------------------------


def test_standardised_rate_equals_esda_when_overdispersed():
    from esda.smoothing import assuncao_rate

    e = np.array([30, 25, 25, 15, 33, 21, 30, 20, 80, 5], float)
    b = np.array([100, 100, 110, 90, 100, 90, 110, 90, 120, 95], float)
    np.testing.assert_allclose(standardised_rate(e, b), assuncao_rate(e, b), rtol=1e-12)


def test_standardised_rate_is_pearson_residual_without_extra_variance():
    # Rates vary less than Poisson noise: a < 0 is set to 0, leaving (O - E) / sqrt(E).
    need = np.array([10.0, 11.0, 9.0, 20.0])
    pop = np.array([1000.0, 1000.0, 1000.0, 2000.0])
    expected = pop * need.sum() / pop.sum()  # 10, 10, 10, 20
    np.testing.assert_allclose(
        standardised_rate(need, pop), (need - expected) / np.sqrt(expected), rtol=1e-12
    )


# --- the three synthetic counties ------------------------------------------------------


def test_cluster_of_high_need_rate_is_hot():
    # Uniform residents (1,000 per cell); need rate 1% everywhere except a 3x3 block at 4%.
    xy, rows, cols, box = grid_points()
    rng = np.random.default_rng(11)
    pop = np.full(N * N, 1000.0)
    block = (abs(rows - 10) <= 1) & (abs(cols - 6) <= 1)
    need = rng.poisson(np.where(block, 40.0, 10.0)).astype(float)
    cells, hs = find_hotspots(xy, need, box, residents=pop)
    cells = cells.set_index(["row", "col"])
    assert cells.loc[(10, 6), "hot"]
    hot = cells.index[cells["hot"]]
    assert len(hot) >= 5
    # every hot cell is the block or touches it
    assert all(abs(r - 10) <= 2 and abs(c - 6) <= 2 for r, c in hot)
    assert len(hs) == 1 and hs["cells"].iloc[0] == len(hot)


def test_need_in_proportion_to_residents_has_no_hotspot_even_in_a_dense_town():
    # Residents 100 per cell, a 4x4 town of 8,000 per cell; need is exactly 1% of residents.
    xy, rows, cols, box = grid_points()
    town = (rows >= 8) & (rows < 12) & (cols >= 8) & (cols < 12)
    pop = np.where(town, 8000.0, 100.0)
    need = 0.01 * pop
    cells, hs = find_hotspots(xy, need, box, residents=pop)
    assert not cells["hot"].any() and len(hs) == 0
    assert np.abs(cells["gi_z"]).max() < 1e-6
    # The counts method (no residents) calls the town a hotspot: what this replaces.
    old, old_hs = find_hotspots(xy, need, box)
    assert old.set_index(["row", "col"]).loc[(9, 9), "hot"] and len(old_hs) == 1
    assert "COUNTS" in old.attrs["method"] and cells.attrs["method"].startswith(HOTSPOT_METHOD[:40])


def test_false_discovery_rate_under_the_null():
    # Need ~ Poisson(1% of residents), residents varying 10x across cells: no real hotspot.
    # Under the complete null every discovery is false, so Benjamini-Hochberg's FDR <= alpha
    # means P(any hot cell) <= alpha = 0.05 per county (for independent or positively
    # dependent tests, as the overlapping Gi* sums are). Over 20 counties the number with
    # any hot cell is then at most Binomial(20, 0.05): P(>= 4) = 0.016, so allow 3. Without
    # the correction about 2.5% of 400 cells, ~10 a county, pass z > 0 and p < 0.05.
    xy, rows, cols, box = grid_points()
    counties_with_hot, raw = 0, []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        pop = rng.uniform(500, 5000, N * N)
        need = rng.poisson(0.01 * pop).astype(float)
        cells, _ = find_hotspots(xy, need, box, residents=pop, alpha=0.05)
        counties_with_hot += bool(cells["hot"].any())
        raw.append(int(((cells["gi_p"] < 0.05) & (cells["gi_z"] > 0)).sum()))
    assert counties_with_hot <= 3
    assert np.mean(raw) > 4  # the uncorrected test would have flagged many


# --- kernel density ------------------------------------------------------------------------


def test_kernel_density_preserves_mass_over_the_study_area():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:30, 0:40]
    disc = (yy - 15) ** 2 + (xx - 20) ** 2 <= 14**2
    raster = np.where(disc, rng.gamma(1.0, 5.0, disc.shape), 0.0)
    raster[15, 6] += 500.0  # a heavy cell on the disc's edge
    dens = kernel_density(raster, cell_m=500.0, bandwidth_m=1500.0, mask=disc)
    cell_km2 = 0.25
    assert (dens[~disc] == 0).all()
    assert dens.sum() * cell_km2 == pytest.approx(raster.sum(), rel=1e-10)
    # a plain Gaussian filter loses the need that spills past the edge
    plain = ndimage.gaussian_filter(raster, sigma=3.0, mode="constant")
    assert plain[disc].sum() < 0.95 * raster.sum()


def test_find_hotspots_density_adds_up_to_need():
    xy, rows, cols, _ = grid_points()
    rng = np.random.default_rng(5)
    area = shapely.Point(10_000, 10_000).buffer(9_000)
    inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
    need = np.where(inside, rng.poisson(5.0, len(xy)), 0).astype(float)
    cells, _ = find_hotspots(xy, need, area, residents=np.full(len(xy), 100.0))
    assert cells["density_km2"].sum() == pytest.approx(need.sum(), rel=1e-10)


def test_cells_without_residents_are_not_tested():
    xy, rows, cols, box = grid_points()
    pop = np.where(cols < 5, 0.0, 1000.0)
    need = np.where(cols < 5, 0.0, 10.0)
    need[0] = 3.0  # need where no one lives: counted in the notes
    cells, _ = find_hotspots(xy, need, box, residents=pop)
    assert (~cells["tested"]).sum() == 5 * N
    assert cells.attrs["n_tested"] == 15 * N
    assert any("no residents" in n for n in cells.attrs["notes"])
    assert (cells.loc[~cells["tested"], "gi_p"] == 1.0).all()


def test_alpha_out_of_range_and_lengths():
    xy, _, _, box = grid_points()
    with pytest.raises(InputError, match="alpha"):
        find_hotspots(xy, np.ones(len(xy)), box, alpha=1.5)
    with pytest.raises(InputError, match="399 residents values for 400 demand points"):
        find_hotspots(xy, np.ones(len(xy)), box, residents=np.ones(399))


# --- areas (wards, LSOAs) -------------------------------------------------------------------


def square_areas(n=6, size=1000.0):
    rows, cols = lattice(n)
    geoms = [
        shapely.box(c * size, r * size, (c + 1) * size, (r + 1) * size)
        for r, c in zip(rows, cols, strict=True)
    ]
    codes = [f"W{i:02d}" for i in range(n * n)]
    return gpd.GeoDataFrame({"area_code": codes}, geometry=geoms, crs=27700), rows, cols


def test_area_hotspots_against_a_direct_calculation():
    areas, rows, cols = square_areas()
    rng = np.random.default_rng(8)
    pop = rng.uniform(1000, 3000, 36)
    rate = np.where((rows >= 3) & (cols >= 3) & (rows <= 4) & (cols <= 4), 0.05, 0.01)
    need = rng.poisson(rate * pop).astype(float)
    areas["need"], areas["residents"] = need, pop
    out = area_hotspots(areas)
    # independent: Assuncao-Reis by hand, queen contiguity from the squares' corners, Gi*
    b = need.sum() / pop.sum()
    r = need / pop
    a = max(0.0, (pop * (r - b) ** 2).sum() / pop.sum() - b / pop.mean())
    x = (r - b) / np.sqrt(a + b / pop)
    n = 36
    s = x.std()
    for i in range(n):
        w = ((abs(rows - rows[i]) <= 1) & (abs(cols - cols[i]) <= 1)).astype(float)
        z = (w @ x - x.mean() * w.sum()) / (s * np.sqrt((n * w.sum() - w.sum() ** 2) / (n - 1)))
        assert out["gi_z"].iloc[i] == pytest.approx(z, rel=1e-9)
    assert out.set_index("area_code").loc["W28", "hot"]  # row 4, col 4: inside the block
    assert not out["island"].any()
    assert (out["neighbours"] == [3, 5, 5, 5, 5, 3, *out["neighbours"].iloc[6:]]).all()


def test_area_hotspots_islands_and_empty_areas():
    areas, rows, cols = square_areas(4)
    island = gpd.GeoDataFrame(
        {"area_code": ["ISLE"]}, geometry=[shapely.box(9000, 9000, 9500, 9500)], crs=27700
    )
    areas = gpd.GeoDataFrame(
        gpd.pd.concat([areas, island], ignore_index=True), geometry="geometry", crs=27700
    )
    areas["residents"] = 1000.0
    areas["need"] = 10.0
    areas.loc[0, ["residents", "need"]] = 0.0  # nobody lives there
    out = area_hotspots(areas).set_index("area_code")
    assert out.loc["ISLE", "island"] and out.loc["ISLE", "neighbours"] == 1
    assert not out.loc["W00", "tested"]
    notes = " ".join(out.attrs["notes"])
    assert "ISLE" in notes and "W00" in notes
    assert not out["hot"].any()  # need is 1% everywhere


def test_area_hotspots_errors():
    areas, _, _ = square_areas(3)
    areas["need"] = 5.0
    with pytest.raises(InputError, match="no 'residents' column"):
        area_hotspots(areas)
    areas["residents"] = 100.0
    areas.loc[4, "residents"] = 0.0
    with pytest.raises(InputError, match="W04 has need 5 but no residents"):
        area_hotspots(areas)
    areas.loc[4, "residents"] = -1.0
    with pytest.raises(InputError, match="negative residents"):
        area_hotspots(areas)
    areas.loc[4, "residents"] = float("nan")
    with pytest.raises(InputError, match="row 5"):
        area_hotspots(areas)


def test_permutation_inference_is_seeded_and_finds_the_cluster():
    xy, rows, cols, box = grid_points()
    rng = np.random.default_rng(11)
    pop = np.full(N * N, 1000.0)
    block = (abs(rows - 10) <= 1) & (abs(cols - 6) <= 1)
    need = rng.poisson(np.where(block, 40.0, 10.0)).astype(float)
    one, _ = find_hotspots(xy, need, box, residents=pop, permutations=9999, seed=3)
    two, _ = find_hotspots(xy, need, box, residents=pop, permutations=9999, seed=3)
    assert (one["gi_p"] == two["gi_p"]).all()
    assert one["gi_p"].min() == pytest.approx(2 / 10000)  # two-sided floor: 2 * 1/(9999+1)
    assert one.set_index(["row", "col"]).loc[(10, 6), "hot"]
    assert "9999 seeded conditional permutations" in one.attrs["method"]
    # 2/10000 > 0.05/400: a lone significant cell could not pass, and the note says so
    assert "fewer than 2 significant units" in one.attrs["notes"][0]
    # 999 permutations cannot pass the FDR over 400 cells unless 16 cells reach p = 0.002
    # (BH: 0.002 <= 0.05 k / 400 needs k >= 16); here 12 do, so nothing is hot, and it says so
    few, _ = find_hotspots(xy, need, box, residents=pop, permutations=999, seed=3)
    assert (few["gi_p"] <= 0.002).sum() < 16 and not few["hot"].any()
    assert any("use at least 15999 permutations" in n for n in few.attrs["notes"])
