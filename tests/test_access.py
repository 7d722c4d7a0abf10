"""E2SFCA against a 2SFCA worked by hand: 4 areas, 3 sites, T = 30 minutes."""

import numpy as np
import pytest

from harmreach.analysis.access import access_scores, e2sfca, e2sfca_pairs, e2sfca_sparse
from harmreach.geo.travel import EstimatedEngine, SparseTimes

INF = np.inf
# Travel minutes, areas × sites (inf: no route).
T_MIN = np.array(
    [
        [5.0, 25.0, INF],  # A1
        [15.0, 35.0, 8.0],  # A2 (site 2 at 35 min is beyond T)
        [25.0, 5.0, 40.0],  # A3
        [INF, 12.0, 28.0],  # A4
    ]
)
NEED = np.array([100.0, 200.0, 50.0, 150.0])  # P_i
CAPACITY = np.array([10.0, 20.0, 30.0])  # S_j


def as_pairs(t):
    i, j = np.nonzero(np.isfinite(t))
    return SparseTimes(i, j, t[i, j] * 60.0, t.shape, 30 * 60.0)


def test_enhanced_2sfca_by_hand():
    # Luo & Qi zones for T = 30: 0-10 min → 1.0, 10-20 → 0.68, 20-30 → 0.22, beyond → 0.
    # Weights W_ij:  A1 [1.0, 0.22, 0]   A2 [0.68, 0, 1.0]
    #                A3 [0.22, 1.0, 0]   A4 [0, 0.68, 0.22]
    # Step 1, R_j = S_j / Σ_i P_i W_ij:
    #   site 1: 10 / (100·1.0 + 200·0.68 + 50·0.22)  = 10 / (100 + 136 + 11) = 10 / 247
    #   site 2: 20 / (100·0.22 + 50·1.0 + 150·0.68) = 20 / (22 + 50 + 102)  = 20 / 174
    #   site 3: 30 / (200·1.0 + 150·0.22)            = 30 / (200 + 33)       = 30 / 233
    r_hand = [0.0404858, 0.1149425, 0.1287554]
    # Step 2, A_i = Σ_j W_ij R_j:
    #   A1 = 1.0·0.0404858 + 0.22·0.1149425 = 0.0404858 + 0.0252874 = 0.0657732
    #   A2 = 0.68·0.0404858 + 1.0·0.1287554 = 0.0275304 + 0.1287554 = 0.1562858
    #   A3 = 0.22·0.0404858 + 1.0·0.1149425 = 0.0089069 + 0.1149425 = 0.1238494
    #   A4 = 0.68·0.1149425 + 0.22·0.1287554 = 0.0781609 + 0.0283262 = 0.1064871
    a_hand = [0.0657732, 0.1562858, 0.1238494, 0.1064871]
    # Check on the hand sums: Σ P_i A_i = 6.57732 + 31.25716 + 6.19247 + 15.97307 = 60 = Σ S_j.
    a, r = e2sfca_sparse(as_pairs(T_MIN), NEED, CAPACITY, 30)
    assert r == pytest.approx(r_hand, abs=1e-7)
    assert a == pytest.approx(a_hand, abs=1e-7)
    a_dense, r_dense = e2sfca(T_MIN, NEED, CAPACITY, 30)
    assert a_dense == pytest.approx(a_hand, abs=1e-7) and r_dense == pytest.approx(r_hand, abs=1e-7)


def test_plain_2sfca_by_hand():
    # One zone (weight 1 within 30 min): the original 2SFCA of Luo & Wang (2003).
    #   site 1: 10 / (100 + 200 + 50) = 10/350 = 0.0285714
    #   site 2: 20 / (100 + 50 + 150) = 20/300 = 0.0666667   (A2 at 35 min is out)
    #   site 3: 30 / (200 + 150)      = 30/350 = 0.0857143
    #   A1 = R1 + R2 = 0.0952381; A2 = R1 + R3 = 0.1142857
    #   A3 = R1 + R2 = 0.0952381; A4 = R2 + R3 = 0.1523810
    a, r = e2sfca_sparse(as_pairs(T_MIN), NEED, CAPACITY, 30, weights=(1.0,))
    assert r == pytest.approx([0.0285714, 0.0666667, 0.0857143], abs=1e-7)
    assert a == pytest.approx([0.0952381, 0.1142857, 0.0952381, 0.1523810], abs=1e-7)


def test_no_site_in_reach_and_no_demand_in_reach_give_zero():
    # point 1 reaches nothing; site 1 reaches no one
    a, r = e2sfca_pairs(np.array([0]), np.array([0]), np.array([3.0]), [10.0, 5.0], [4.0, 9.0], 15)
    assert a.tolist() == [0.4, 0.0] and r.tolist() == [0.4, 0.0]


def test_too_short_search_is_refused():
    times = SparseTimes(np.zeros(0, int), np.zeros(0, int), np.zeros(0), (4, 3), 600.0)
    with pytest.raises(ValueError, match="reach only 10 min"):
        e2sfca_sparse(times, NEED, CAPACITY, 30)


def test_access_scores_estimated_matches_brute_force():
    rng = np.random.default_rng(2)
    homes = rng.uniform(0, 5000, (400, 2))
    sites = rng.uniform(0, 5000, (12, 2))
    need = rng.uniform(0, 3, 400)
    cap = rng.uniform(10, 50, 12)
    a, r, nnz = access_scores(EstimatedEngine("walk"), homes, sites, need, cap, 20)
    # brute force: every pair, straight line × 1.3 at 4.8 km/h, weights by zone, loops
    t = np.sqrt(((homes[:, None] - sites[None]) ** 2).sum(-1)) * 1.3 / (4.8 / 3.6) / 60
    w = np.select([t <= 20 / 3, t <= 40 / 3, t <= 20], [1.0, 0.68, 0.22], 0.0)
    r_ref = np.array([cap[j] / (need * w[:, j]).sum() for j in range(12)])
    a_ref = np.array([(w[i] * r_ref).sum() for i in range(400)])
    np.testing.assert_allclose(r, r_ref, rtol=1e-9)
    np.testing.assert_allclose(a, a_ref, rtol=1e-9)
    assert nnz == int((t <= 20).sum())
