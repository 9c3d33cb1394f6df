"""Particle swarm (``methods/swarm.py`` and its kernel ``_swarm.pyx``): kernel
against the Python mirror for every topology and boundary, quality, thread
invariance, defaults and its arguments."""

import numpy as np
import pytest
from _helpers import sparse_ising

from attnsearch._dispatch import kernels
from attnsearch.search import (
    ChainRNG,
    Continuous,
    particle_swarm,
)
from attnsearch.search._seeding import chain_rng_states

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


@pytest.mark.parametrize("topology", ["global", "ring", "von_neumann"])
@pytest.mark.parametrize("boundary", ["reflect", "clip", "random", "periodic"])
def test_particle_swarm_kernel_equals_reference(topology, boundary):
    for name in ("rastrigin", "rosenbrock"):
        problem = Continuous.builtin(name, dim=6)
        kwargs = dict(
            n_particles=12,
            max_iters=25,
            num_chains=2,
            seed=4,
            topology=topology,
            boundary=boundary,
            velocity_clamp=0.2 if boundary == "clip" else None,
        )
        a = particle_swarm(problem, backend="cython", **kwargs)
        b = particle_swarm(problem, backend="reference", **kwargs)
        # Step for step the same arithmetic: the same bits.
        np.testing.assert_array_equal(a.states, b.states)
        np.testing.assert_array_equal(a.costs, b.costs)
        assert a.n_evaluations == b.n_evaluations == 2 * 12 * 26


@pytest.mark.parametrize("boundary", ["reflect", "clip", "random", "periodic"])
def test_particle_swarm_walls_far_out_equal_reference(boundary):
    # w > 1: velocities grow, coordinates land several box widths out (the
    # periodic walls' fmod path) and leave on most iterations.
    problem = Continuous.builtin("griewank", dim=5)
    kwargs = dict(n_particles=9, max_iters=30, seed=1, w=1.3, boundary=boundary)
    a = particle_swarm(problem, backend="cython", **kwargs)
    b = particle_swarm(problem, backend="reference", **kwargs)
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.costs, b.costs)


def test_swarm_lanes_are_jumps_of_the_swarm_stream():
    states = chain_rng_states(11, 3)
    lanes = kernels("swarm").lane_states(states)
    n_lanes = kernels("swarm").LANES
    assert lanes.shape == (3, 4 * n_lanes)
    for c, state in enumerate(states):
        rng = ChainRNG(state)
        for lane in range(n_lanes):
            rng.jump()
            assert np.array_equal(lanes[c, lane::n_lanes], rng.get_state())


def test_particle_swarm_sphere_and_quality():
    sphere = Continuous.builtin("sphere", dim=10)
    result = particle_swarm(sphere, max_iters=1500, seed=0)
    assert result.objective < 1e-8
    assert sphere.evaluate(result.best_state) == pytest.approx(result.objective)
    ras = Continuous.builtin("rastrigin", dim=10)
    ring = particle_swarm(
        ras, topology="ring", boundary="periodic", max_iters=1500, num_chains=2, seed=0
    )
    assert ring.objective < 15
    one = particle_swarm(ras, num_chains=3, max_iters=200, seed=9, num_threads=1)
    two = particle_swarm(ras, num_chains=3, max_iters=200, seed=9, num_threads=2)
    assert np.array_equal(one.states, two.states)


def test_particle_swarm_defaults():
    params = particle_swarm(Continuous.builtin("sphere", dim=4), max_iters=5).params
    assert params["topology"] == "von_neumann" and params["boundary"] == "periodic"
    assert params["grid_columns"] == 8  # 40 particles: a 5 x 8 torus


def test_particle_swarm_bad_arguments(rng):
    ising = sparse_ising(rng, n=30)
    sphere = Continuous.builtin("sphere", dim=3)
    with pytest.raises(ValueError, match="n_particles"):
        particle_swarm(sphere, n_particles=0)
    with pytest.raises(ValueError, match="topology"):
        particle_swarm(sphere, topology="star")
    with pytest.raises(ValueError, match="boundary"):
        particle_swarm(sphere, boundary="bounce")
    with pytest.raises(ValueError, match="velocity_clamp"):
        particle_swarm(sphere, velocity_clamp=-0.1)
    with pytest.raises(ValueError, match="w must be"):
        particle_swarm(sphere, w=float("nan"))
    with pytest.raises(TypeError, match="Continuous"):
        particle_swarm(ising)
    with pytest.raises(ValueError, match="initial_states"):
        particle_swarm(sphere, n_particles=4, initial_states=np.zeros((3, 3)))
