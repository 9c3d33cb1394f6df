"""Pictures of results (optional: ``pip install "attnsearch[plot]"`` for matplotlib).

Every function returns the matplotlib Figure (draw into ``ax`` when given), so
``fig.savefig("out.png")`` works with any backend, headless ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .search import TSP, MaxCut, Result

__all__ = ["attention", "cut", "loss_curve", "result_history", "tour"]

_MAX_CUT_VERTICES = 2000


def _pyplot() -> ModuleType:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised without matplotlib
        raise ImportError(
            "plotting needs matplotlib: pip install 'attnsearch[plot]'"
        ) from error
    return plt


def _figure(ax: Axes | None, **kwargs: Any) -> tuple[Figure, Axes]:
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(**kwargs)
    else:
        fig = ax.figure
    return fig, ax


def result_history(result: Result, ax: Axes | None = None) -> Figure:
    """Best objective of each chain against evaluations; annealing also shows the
    temperature (log scale) on a second axis. See :meth:`Result.plot`."""
    fig, ax = _figure(ax, figsize=(7, 4))
    history = result.history
    evaluations = np.asarray(history["n_evaluations"])
    values = np.asarray(history.get("best_objectives", history["best_costs"]))
    if values.ndim == 1:
        values = values[:, None]
    for chain in range(values.shape[1]):
        ax.plot(evaluations, values[:, chain], lw=1, label=f"chain {chain}")
    ax.set_xlabel("move evaluations (all chains)")
    ax.set_ylabel("best objective")
    ax.set_title(f"{result.method}: {result.objective:.6g} ({result.stop_reason})")
    if values.shape[1] <= 8:
        ax.legend(loc="best", fontsize="small")
    temperature = np.asarray(history.get("temperature", []), dtype=float)
    if temperature.size and np.isfinite(temperature).any():
        other = ax.twinx()
        other.plot(evaluations, temperature, color="grey", ls="--", lw=1)
        other.set_ylabel("temperature")
        if np.nanmin(temperature) > 0:
            other.set_yscale("log")
    fig.tight_layout()
    return fig


def loss_curve(
    losses: npt.ArrayLike,
    accuracy: npt.ArrayLike | None = None,
    ax: Axes | None = None,
    title: str = "training",
) -> Figure:
    """Training loss per step (log scale), with an optional accuracy curve on a
    second axis; for NumPy training loops (``layer.backward`` + an optimiser)."""
    fig, ax = _figure(ax, figsize=(7, 4))
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError("losses must be a non-empty 1-d sequence")
    steps = np.arange(1, losses.size + 1)
    ax.plot(steps, losses, lw=1, label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if np.all(losses > 0):
        ax.set_yscale("log")
    ax.set_title(title)
    if accuracy is not None:
        accuracy = np.asarray(accuracy, dtype=float)
        if accuracy.shape != losses.shape:
            raise ValueError("accuracy must have one value per loss")
        other = ax.twinx()
        other.plot(steps, accuracy, color="tab:orange", lw=1)
        other.set_ylabel("accuracy", color="tab:orange")
        other.set_ylim(0, 1.02)
    fig.tight_layout()
    return fig


def tour(
    problem: TSP,
    tour: npt.ArrayLike,
    ax: Axes | None = None,
    annotate: bool = False,
) -> Figure:
    """The cities of a coordinate TSP and the closed ``tour`` through them."""
    coords = getattr(problem, "coords", None)
    if coords is None:
        raise ValueError("tour() needs a TSP built from coordinates (not a matrix)")
    order = np.asarray(tour)
    problem.tour_length(order)  # validates the permutation
    fig, ax = _figure(ax, figsize=(6, 6))
    closed = np.append(order, order[0])
    ax.plot(coords[closed, 0], coords[closed, 1], "-", lw=1, color="tab:blue")
    ax.plot(coords[:, 0], coords[:, 1], "o", ms=3, color="tab:red")
    if annotate:
        for index, (x, y) in enumerate(coords):
            ax.annotate(str(index), (x, y), fontsize=6)
    name = f"{problem.name}: " if getattr(problem, "name", None) else ""
    ax.set_title(f"{name}length {problem.tour_length(order):.6g}")
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def _spectral_layout(n: int, edges: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """2-d positions from the Laplacian's 2nd and 3rd eigenvectors (small graphs)."""
    if n <= 2 or len(edges) == 0:
        angles = 2 * np.pi * np.arange(n) / max(n, 1)
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    adjacency = np.zeros((n, n))
    adjacency[edges[:, 0], edges[:, 1]] = 1
    adjacency[edges[:, 1], edges[:, 0]] = 1
    laplacian = np.diag(adjacency.sum(axis=1)) - adjacency
    _, vectors = np.linalg.eigh(laplacian)
    return vectors[:, 1:3]


def cut(problem: MaxCut, spins: npt.ArrayLike, ax: Axes | None = None) -> Figure:
    """A (small) max-cut graph with its vertices coloured by side and the cut edges
    drawn in red."""
    spins = np.asarray(spins)
    value = problem.cut_value(spins)  # validates the spins
    if problem.n > _MAX_CUT_VERTICES:
        raise ValueError(
            f"cut() draws graphs of up to {_MAX_CUT_VERTICES} vertices, "
            f"this one has {problem.n}"
        )
    fig, ax = _figure(ax, figsize=(6, 6))
    positions = _spectral_layout(problem.n, problem.edges)
    cut_edges = spins[problem.edges[:, 0]] != spins[problem.edges[:, 1]]
    for (i, j), is_cut in zip(problem.edges, cut_edges):
        ax.plot(
            positions[[i, j], 0],
            positions[[i, j], 1],
            color="tab:red" if is_cut else "lightgrey",
            lw=0.6 if is_cut else 0.4,
            zorder=1,
        )
    side = spins > 0
    ax.scatter(
        positions[side, 0],
        positions[side, 1],
        s=12,
        color="tab:blue",
        label="+1",
        zorder=2,
    )
    ax.scatter(
        positions[~side, 0],
        positions[~side, 1],
        s=12,
        color="tab:orange",
        label="-1",
        zorder=2,
    )
    ax.set_title(f"cut {value:.6g} ({int(cut_edges.sum())} of {len(cut_edges)} edges)")
    ax.legend(loc="best", fontsize="small")
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def attention(
    weights: npt.ArrayLike,
    heads: Sequence[int] | None = None,
    max_heads: int = 16,
) -> Figure:
    """Heat maps of attention weights, one panel per head.

    Parameters
    ----------
    weights : array_like
        ``(n_q, n_k)``, ``(H, n_q, n_k)`` or ``(B, H, n_q, n_k)`` (the first batch
        item is drawn), e.g. from ``return_weights=True``.
    heads : sequence of int, optional
        Which heads to draw (default: the first ``max_heads``).
    """
    plt = _pyplot()
    maps = np.asarray(weights, dtype=float)
    if maps.ndim == 2:
        maps = maps[None]
    elif maps.ndim == 4:
        maps = maps[0]
    elif maps.ndim != 3:
        raise ValueError(f"weights must have 2, 3 or 4 dimensions, got {maps.shape}")
    heads = list(range(min(len(maps), max_heads))) if heads is None else list(heads)
    cols = min(4, len(heads))
    rows = -(-len(heads) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel()[len(heads) :]:
        ax.set_axis_off()
    for ax, head in zip(axes.ravel(), heads):
        image = ax.imshow(maps[head], aspect="auto", cmap="viridis", vmin=0)
        ax.set_title(f"head {head}", fontsize="small")
        ax.set_xlabel("key")
        ax.set_ylabel("query")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    return fig
