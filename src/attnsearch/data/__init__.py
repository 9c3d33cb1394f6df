"""Small public benchmark instances shipped with the package.

TSPLIB instances (``eil51``, ``berlin52``, ``st70``, ``kroA100``, ``a280``, each
with its optimal tour) and the G-set graph ``G11`` with a witness cut; the
provenance and format notes are in ``README.md`` beside this file. The tests,
the examples and ``attnsearch bench`` read them from here, so every installed
copy has them.

Examples
--------
>>> from attnsearch.data import path
>>> from attnsearch.search import TSP
>>> TSP.from_tsplib(path("eil51.tsp")).optimum
426.0
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR", "names", "path"]

#: The folder that holds the files.
DATA_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """File names of every shipped instance, tour and cut, sorted."""
    return sorted(
        p.name
        for p in DATA_DIR.iterdir()
        if p.suffix in (".tsp", ".tour", ".txt", ".cut")
    )


def path(name: str) -> Path:
    """Path of the shipped file ``name`` (e.g. ``"berlin52.tsp"``).

    Raises
    ------
    FileNotFoundError
        ``name`` is not one of :func:`names`.
    """
    candidate = DATA_DIR / str(name)
    if candidate.name not in names():
        raise FileNotFoundError(
            f"no shipped data file {name!r}; available: {', '.join(names())}"
        )
    return candidate
