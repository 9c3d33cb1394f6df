"""Ising, QUBO and max-cut (``problems/ising/``): exact deltas and cached fields in
the kernel, the energy formulas, the exact conversions between the three, the
G-set witness cut and every bad input."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import assert_exact_deltas

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import QUBO, Ising, MaxCut, simulated_annealing
from attnsearch.search.problems.ising import read_cut

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


def random_ising(rng, n, degree=3, integer=True):
    edges = {}
    for i in range(n):
        for j in rng.choice(n, degree, replace=False):
            if i != j:
                w = float(rng.choice([-1, 1])) if integer else float(rng.normal())
                edges[(min(i, j), max(i, j))] = w
    h = rng.integers(-2, 3, n).astype(float) if integer else rng.normal(size=n)
    return Ising(h, edges)


@pytest.mark.parametrize("integer", [True, False])
def test_ising_deltas_and_fields(rng, integer):
    problem = random_ising(rng, 40, integer=integer)
    worst = assert_exact_deltas(problem, rng)
    if integer:
        assert worst == 0.0


def test_ising_energy_formula(rng):
    n = 12
    J = np.triu(rng.normal(size=(n, n)), 1)
    J = J + J.T
    h = rng.normal(size=n)
    ising = Ising(h, J, offset=0.5)
    spins = rng.choice([-1, 1], size=(5, n))
    want = spins @ h + 0.5 * np.einsum("ki,ij,kj->k", spins, J, spins) + 0.5
    np.testing.assert_allclose(ising.energy(spins), want)
    # Same model from a sparse matrix and from a dict of pairs.
    pairs = {(i, j): J[i, j] for i in range(n) for j in range(i + 1, n)}
    for other in (Ising(h, sp.csr_matrix(J), offset=0.5), Ising(h, pairs, offset=0.5)):
        np.testing.assert_allclose(other.energy(spins), want)
    np.testing.assert_allclose(ising.J.toarray(), J)


def test_qubo_ising_round_trip(rng):
    n = 10
    Q = rng.integers(-5, 6, size=(n, n)).astype(float)
    qubo = QUBO(Q, offset=3)
    x = rng.integers(0, 2, size=(20, n))
    want = np.einsum("ki,ij,kj->k", x, Q, x) + 3
    np.testing.assert_allclose(qubo.energy(x), want)
    ising = qubo.to_ising()
    np.testing.assert_allclose(ising.energy(2 * x - 1), want)
    back = ising.to_qubo()
    np.testing.assert_allclose(back.energy(x), want)
    assert Ising.from_qubo(Q, offset=3).energy(2 * x[0] - 1) == pytest.approx(want[0])
    # dict form, with (i, j) and (j, i) adding up as in dimod
    q_dict = {(i, j): Q[i, j] for i in range(n) for j in range(n) if Q[i, j]}
    np.testing.assert_allclose(QUBO(q_dict, offset=3, n=n).energy(x), want)
    assert qubo._search_spec().exact  # integer Q: quarter-integer Ising, exact


def test_maxcut_cut_value_and_ising(rng):
    n = 30
    edges = np.array(
        [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.2]
    )
    weights = rng.integers(-3, 4, size=len(edges)).astype(float)
    g = MaxCut(n, edges, weights)
    spins = rng.choice([-1, 1], size=(8, n))
    cut = np.array(
        [sum(w for (i, j), w in zip(edges, weights) if s[i] != s[j]) for s in spins]
    )
    np.testing.assert_allclose(g.cut_value(spins), cut)
    energy = g.to_ising().energy(spins)
    np.testing.assert_allclose((g.total_weight - energy) / 2, cut)
    assert g.objective(energy[0]) == pytest.approx(cut[0])


def test_gset_witness_cut():
    g = MaxCut.from_gset(DATA / "G11.txt")
    spins = read_cut(DATA / "G11.cut", n=g.n)
    assert g.cut_value(spins) == 562
    energy = g.to_ising().energy(spins)
    assert (g.total_weight - energy) / 2 == 562


# -- bad input ---------------------------------------------------------------------


def test_ising_bad_input():
    with pytest.raises(ValueError, match="not symmetric"):
        Ising(np.zeros(2), np.array([[0, 1], [2, 0]]))
    with pytest.raises(ValueError, match="diagonal"):
        Ising(np.zeros(2), np.array([[1, 0], [0, 0]]))
    with pytest.raises(ValueError, match="not finite"):
        Ising(np.zeros(2), np.array([[0, np.nan], [np.nan, 0]]))
    with pytest.raises(ValueError, match="twice"):
        Ising(np.zeros(3), {(0, 1): 1, (1, 0): 1})
    with pytest.raises(ValueError, match="out of range"):
        Ising(np.zeros(3), {(0, 5): 1})
    with pytest.raises(ValueError, match="itself"):
        Ising(np.zeros(3), {(1, 1): 1})
    with pytest.raises(ValueError, match="not a pair"):
        Ising(np.zeros(3), {(0, 1, 2): 1})
    with pytest.raises(ValueError, match="h has 3 entries"):
        Ising(np.zeros(3), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="not finite"):
        Ising(np.array([0.0, np.inf]), {})
    with pytest.raises(ValueError, match="not symmetric"):
        Ising(np.zeros(2), sp.csr_matrix(np.array([[0, 1.0], [0, 0]])))
    ising = Ising(np.zeros(3), {(0, 1): 1})
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        ising.energy([1, 0, 1])


def test_qubo_and_maxcut_bad_input():
    with pytest.raises(ValueError, match="square"):
        QUBO(np.ones((2, 3)))
    with pytest.raises(ValueError, match="not finite"):
        QUBO(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="n=1"):
        QUBO({(0, 3): 1.0}, n=1)
    with pytest.raises(ValueError, match="0 and 1"):
        QUBO(np.eye(2)).energy([0, 2])
    with pytest.raises(ValueError, match="non-negative"):
        MaxCut(-1, [])
    with pytest.raises(ValueError, match="outside"):
        MaxCut(3, [(0, 3)])
    with pytest.raises(ValueError, match="self-loop"):
        MaxCut(3, [(1, 1)])
    with pytest.raises(ValueError, match="duplicate edge"):
        MaxCut(3, [(0, 1), (1, 2), (1, 0)])
    with pytest.raises(ValueError, match="not finite"):
        MaxCut(3, [(0, 1)], [np.nan])
    with pytest.raises(ValueError, match="weights must have shape"):
        MaxCut(3, [(0, 1)], [1, 2])


# Hostile input: these were accepted before, and energies overflowed.
def test_ising_values_that_would_overflow_are_refused():
    with pytest.raises(ValueError, match="overflow"):
        Ising(None, {(0, 1): 1e308, (1, 2): 1e308})
    with pytest.raises(ValueError, match="overflow"):
        QUBO({(0, 1): 1e308, (1, 2): -1e308})
    # Hostile input: the sums overflowed with NumPy warnings, and a QUBO's
    # error blamed its offset. Each names the term that passes the limit.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"Q\[0, 0\] = 1e\+308 takes the sum"):
            QUBO({(0, 0): 1e308, (1, 1): 1e308})
        with pytest.raises(ValueError, match=r"Q's Ising form sum to .*\[1, 1\]"):
            QUBO(np.array([[1.0, 0.0], [0.0, 1e308]]))
        with pytest.raises(ValueError, match=r"edge 1 \(1, 2\) of weight 1e\+308"):
            MaxCut(3, [(0, 1), (1, 2)], [1.0, 1e308])
        with pytest.raises(ValueError, match="biases and couplings sum to inf"):
            Ising([1e308, 1e308], {})
        with pytest.raises(ValueError, match="offset 1.79769e\\+308 overflows"):
            QUBO({(0, 0): 1e300}, offset=1.79769313e308)
    # Large but representable inputs still work and stay finite.
    huge = Ising(None, {(0, 1): 1e200, (1, 2): -1e200})
    assert simulated_annealing(huge, num_sweeps=20, seed=0).objective == -2e200


# Hostile input: an edgeless graph given as [] and coupling keys that are not
# pairs of integers were mishandled before.
def test_edgeless_max_cut_and_malformed_pairs():
    assert MaxCut(5, []).n == 5
    assert simulated_annealing(MaxCut(5, []), num_sweeps=5, seed=0).objective == 0
    with pytest.raises(ValueError, match="not a pair of integer indices"):
        Ising(None, {"a": 1.0})
    with pytest.raises(ValueError, match="not a pair of integer indices"):
        Ising(None, {(0.5, 1): 1.0})
    with pytest.raises(ValueError, match="not a pair of integer indices"):
        QUBO({(0, "x"): 1.0})
