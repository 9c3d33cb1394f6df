"""Smoke subset: every kernel family once against its reference, every search
method on every problem kind, on whatever CPU target the dispatch chose.

Self-contained (NumPy, attnsearch and pytest only; no conftest, no test extras)
so that CI runs it against the installed sdist and wheel in fresh environments,
with ``ATTNSEARCH_CPU_TARGET=baseline`` forced, and under ``qemu-x86_64 -cpu
Haswell`` / ``-cpu Nehalem`` (``.ci/emulated_cpus.sh``):

    python -m pytest tests/test_smoke.py --noconftest -p no:cacheprovider
"""

import numpy as np
import pytest

import attnsearch
from attnsearch import _dispatch
from attnsearch.attention import (
    SGD,
    KVCache,
    MultiHeadAttention,
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from attnsearch.search import (
    QUBO,
    TSP,
    Continuous,
    Ising,
    MaxCut,
    Problem,
    hill_climb,
    iterated_local_search,
    parallel_tempering,
    particle_swarm,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)

TOLERANCE = {
    np.float32: dict(rtol=1e-4, atol=1e-5),
    np.float64: dict(rtol=1e-9, atol=1e-11),
}


def test_the_dispatch_reports_a_kernel_for_every_family(capsys):
    attnsearch.show_config()
    out = capsys.readouterr().out
    assert "kernels:" in out
    for family in _dispatch.config()["families"]:
        target = _dispatch.selected_target(family)
        assert target in _dispatch.supported_targets() or target == "native"
        assert _dispatch.kernels(family)._COMPILED_TARGET == target


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_q", [5, 70])  # decode kernel, tiled kernel
def test_attention_forward_matches_the_reference(dtype, n_q):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 4, n_q, 24)).astype(dtype)
    k = rng.standard_normal((2, 2, 90, 24)).astype(dtype)  # grouped-query heads
    v = rng.standard_normal((2, 2, 90, 20)).astype(dtype)
    mask = rng.random((n_q, 90)) < 0.8
    mask[:, 0] = True
    for options in [{}, {"causal": True}, {"mask": mask}, {"window": (7, 3)}]:
        got = scaled_dot_product_attention(q, k, v, **options)
        want = _reference.scaled_dot_product_attention(
            q.astype(np.float64),
            np.repeat(k, 2, axis=1).astype(np.float64),
            np.repeat(v, 2, axis=1).astype(np.float64),
            **options,
        )
        np.testing.assert_allclose(got, want, **TOLERANCE[dtype], err_msg=str(options))


def test_attention_backward_matches_the_reference():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 2, 33, 16)) for _ in range(3))
    grad_out = rng.standard_normal((1, 2, 33, 16))
    out, lse = scaled_dot_product_attention(q, k, v, causal=True, return_lse=True)
    got = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, causal=True
    )
    want = _reference.scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, causal=True
    )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_layer_decode_with_a_cache_matches_the_full_forward():
    rng = np.random.default_rng(2)
    layer = MultiHeadAttention(32, 4, n_kv_heads=2, dtype=np.float64, seed=0)
    x = rng.standard_normal((1, 12, 32))
    full = layer(x, causal=True)
    cache = KVCache(batch=1, n_kv_heads=2, capacity=12, d_head=8, dtype=np.float64)
    steps = [layer(x[:, t : t + 1], cache=cache) for t in range(12)]
    np.testing.assert_allclose(
        np.concatenate(steps, axis=1), full, rtol=1e-9, atol=1e-11
    )


def test_layer_training_steps_decrease_the_loss():
    rng = np.random.default_rng(3)
    layer = MultiHeadAttention(16, 2, dtype=np.float64, seed=0)
    optimiser = SGD(layer, lr=0.5)
    x = rng.standard_normal((2, 10, 16))
    target = rng.standard_normal((2, 10, 16))
    losses = []
    for _ in range(4):
        out = layer(x, keep_for_backward=True)
        losses.append(float(((out - target) ** 2).mean()))
        layer.backward(2 * (out - target) / out.size)
        optimiser.step()
        optimiser.zero_grad()
    assert losses[-1] < losses[0]


class _Knapsack(Problem):
    """A user-written problem: pick items, weight over 10 costs 100 per unit."""

    def __init__(self):
        super().__init__(maximize=False)
        self.values = np.array([3.0, 4, 5, 8, 10, 2, 7])
        self.weights = np.array([2.0, 3, 4, 5, 9, 1, 4])

    def initial(self, rng):
        return np.zeros(7, dtype=np.int64)

    def random_move(self, state, rng):
        return rng.below(7)

    def cost(self, state):
        weight = float(self.weights @ state)
        return -float(self.values @ state) + 100.0 * max(0.0, weight - 10.0)

    def delta(self, state, i):
        flipped = state.copy()
        flipped[i] ^= 1
        return self.cost(flipped) - self.cost(state)

    def apply(self, state, i):
        state[i] ^= 1

    def moves(self, state):
        return range(7)


def _problems():
    rng = np.random.default_rng(4)
    n = 24
    edges = {}
    for i in range(n):
        for j in rng.choice(n, 3, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1.0, 1.0]))
    pairs = np.array(sorted(edges))
    q = rng.standard_normal((10, 10))
    return {
        "ising": Ising(rng.normal(size=n) * 0.2, edges),
        "maxcut": MaxCut(n, pairs),
        "qubo": QUBO(np.triu(q + q.T)),
        "tsp": TSP(rng.uniform(0, 100, size=(30, 2))),
        "continuous": Continuous.builtin("rastrigin", dim=4),
        "python function": Continuous(
            lambda x: float(np.sum((x - 0.3) ** 2)), [(-1, 1)] * 3
        ),
        "python problem": _Knapsack(),
    }


METHODS = {
    "simulated_annealing": (simulated_annealing, {"num_sweeps": 40}),
    "hill_climb": (hill_climb, {}),
    "stochastic_hill_climb": (stochastic_hill_climb, {"max_iters": 300}),
    "tabu_search": (tabu_search, {"max_iters": 60}),
    "parallel_tempering": (parallel_tempering, {"num_sweeps": 20}),
    "iterated_local_search": (iterated_local_search, {"max_iters": 10}),
    "particle_swarm": (particle_swarm, {"max_iters": 30}),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", list(_problems()))
def test_every_method_on_every_problem_kind(method, kind):
    problem = _problems()[kind]
    function, options = METHODS[method]
    if method == "particle_swarm" and not isinstance(problem, Continuous):
        with pytest.raises(TypeError):
            function(problem, **options)
        return
    result = function(problem, seed=0, num_chains=2, **options)
    assert np.isfinite(result.objective)
    again = function(problem, seed=0, num_chains=2, **options)
    np.testing.assert_array_equal(
        np.asarray(again.best_state), np.asarray(result.best_state)
    )
    if kind in ("ising", "maxcut", "tsp", "continuous"):
        # The compiled kernel and its Python reference take the same steps.
        reference = function(
            problem, seed=0, num_chains=2, backend="reference", **options
        )
        np.testing.assert_array_equal(
            np.asarray(reference.best_state), np.asarray(result.best_state)
        )
        assert reference.objective == result.objective
