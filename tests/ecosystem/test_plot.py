"""The optional pictures render to non-empty PNG files (Agg backend)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from attnsearch import plot  # noqa: E402
from attnsearch.attention import scaled_dot_product_attention  # noqa: E402
from attnsearch.data import DATA_DIR as DATA  # noqa: E402
from attnsearch.search import (  # noqa: E402
    TSP,
    MaxCut,
    hill_climb,
    simulated_annealing,
    tabu_search,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(fig, path):
    fig.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000
    matplotlib.pyplot.close(fig)


def test_result_plot(tmp_path):
    tsp = TSP.from_tsplib(DATA / "eil51.tsp")
    annealed = simulated_annealing(tsp, num_sweeps=2000, num_chains=3, seed=0)
    assert_png(annealed.plot(), tmp_path / "anneal.png")
    climbed = hill_climb(tsp, num_chains=2, seed=0)
    assert_png(climbed.plot(), tmp_path / "climb.png")
    assert (
        annealed.history["best_objectives"].shape
        == annealed.history["best_costs"].shape
    )


def test_tour_and_cut(tmp_path):
    tsp = TSP.from_tsplib(DATA / "berlin52.tsp")
    assert_png(
        plot.tour(tsp, TSP.read_tour(DATA / "berlin52.opt.tour"), annotate=True),
        tmp_path / "tour.png",
    )
    graph = MaxCut(
        30,
        [(i, (i + 1) % 30) for i in range(30)] + [(i, (i + 5) % 30) for i in range(30)],
    )
    result = tabu_search(graph, max_iters=300, seed=0)
    assert_png(plot.cut(graph, result.best_state), tmp_path / "cut.png")
    cut_result = tabu_search(graph, max_iters=10, seed=0)
    assert cut_result.history["best_objectives"][-1].max() == pytest.approx(
        cut_result.objective
    )
    with pytest.raises(ValueError, match="coordinates"):
        plot.tour(TSP(distances=np.ones((4, 4)) - np.eye(4)), np.arange(4))
    with pytest.raises(ValueError, match="not a permutation"):
        plot.tour(tsp, np.zeros(52, int))


def test_attention_heatmaps(tmp_path):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 6, 20, 8)) for _ in range(3))
    _, weights = scaled_dot_product_attention(q, k, v, causal=True, return_weights=True)
    assert_png(plot.attention(weights), tmp_path / "attention.png")
    assert_png(plot.attention(weights[0, 0]), tmp_path / "one.png")
    with pytest.raises(ValueError, match="dimensions"):
        plot.attention(np.zeros(5))


def test_loss_curve(tmp_path):
    losses = np.exp(-np.linspace(0, 3, 50))
    assert_png(plot.loss_curve(losses), tmp_path / "loss.png")
    assert_png(plot.loss_curve(losses, accuracy=1 - losses), tmp_path / "both.png")
    with pytest.raises(ValueError, match="one value per loss"):
        plot.loss_curve(losses, accuracy=[0.5])
    with pytest.raises(ValueError, match="non-empty"):
        plot.loss_curve([])
