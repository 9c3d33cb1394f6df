"""Fuzz targets of the file readers: mutated real files and random bytes."""

import numpy as np
from _fuzz_settings import watchdog  # noqa: F401  (autouse fixture)
from hypothesis import given
from hypothesis import strategies as st

from attnsearch.data import path
from attnsearch.search.problems.ising import read_cut, read_gset, read_qubo
from attnsearch.search.problems.tsp import read_tsplib, read_tsplib_tour

DOCUMENTED = (ValueError, TypeError, MemoryError)

_TOKENS = st.sampled_from(
    [
        "",
        " ",
        "-1",
        "0",
        "1e308",
        "nan",
        "inf",
        "1_0",
        "EOF",
        "NODE_COORD_SECTION",
        "DIMENSION : 3",
        "DIMENSION : 1000000000000",
        "EDGE_WEIGHT_TYPE : EXPLICIT",
        "TOUR_SECTION",
        ":",
        "\x00",
        "é",
        "99999999999999999999",
        "3 4",
        "1 2 3",
    ]
)


def _lines(name):
    return path(name).read_text().splitlines()


@st.composite
def mutated(draw, name):
    lines = _lines(name)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["delete", "replace", "insert", "truncate", "token"])
        )
        if not lines:
            break
        k = draw(st.integers(0, len(lines) - 1))
        if kind == "delete":
            del lines[k]
        elif kind == "replace":
            lines[k] = draw(_TOKENS)
        elif kind == "insert":
            lines.insert(k, draw(_TOKENS))
        elif kind == "truncate":
            lines = lines[:k]
        else:
            fields = lines[k].split()
            if fields:
                fields[draw(st.integers(0, len(fields) - 1))] = draw(_TOKENS)
            lines[k] = " ".join(fields)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


def _read(reader, tmp_path, text, suffix, **kwargs):
    file = tmp_path / f"fuzzed{suffix}"
    if isinstance(text, bytes):
        file.write_bytes(text)
    else:
        file.write_text(text, encoding="utf-8")
    try:
        return reader(file, **kwargs)
    except DOCUMENTED:
        return None


@given(text=mutated("berlin52.tsp"))
def test_tsplib_instance(tmp_path_factory, text):
    instance = _read(read_tsplib, tmp_path_factory.mktemp("t"), text, ".tsp")
    if instance is not None and instance.coords is not None:
        assert np.all(np.isfinite(instance.coords))
        assert instance.coords.shape == (instance.dimension, 2)


@given(text=mutated("eil51.opt.tour"))
def test_tsplib_tour(tmp_path_factory, text):
    tour = _read(read_tsplib_tour, tmp_path_factory.mktemp("t"), text, ".tour")
    if tour is not None:
        assert sorted(tour.tolist()) == list(range(len(tour)))


@given(text=mutated("G11.txt"))
def test_gset(tmp_path_factory, text):
    graph = _read(read_gset, tmp_path_factory.mktemp("g"), text, ".txt")
    if graph is not None:
        n, edges, weights = graph
        assert edges.shape == (len(weights), 2) and np.all(np.isfinite(weights))
        assert np.all((edges >= 0) & (edges < n))


@given(text=mutated("G11.cut"))
def test_cut(tmp_path_factory, text):
    spins = _read(read_cut, tmp_path_factory.mktemp("c"), text, ".cut")
    if spins is not None:
        assert set(np.unique(spins).tolist()) <= {-1, 1}


@given(
    lines=st.lists(
        st.tuples(st.integers(-2, 40), st.integers(-2, 40), st.floats(width=64)),
        max_size=6,
    ),
    junk=st.one_of(st.none(), _TOKENS),
)
def test_qubo_text(tmp_path_factory, lines, junk):
    text = "\n".join(f"{i} {j} {w!r}" for i, j, w in lines)
    if junk is not None:
        text += "\n" + junk
    qubo = _read(read_qubo, tmp_path_factory.mktemp("q"), text, ".txt")
    if qubo is not None:
        assert np.isfinite(qubo.offset)


@given(data=st.binary(max_size=200))
def test_random_bytes(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("b")
    for reader, suffix in (
        (read_tsplib, ".tsp"),
        (read_tsplib_tour, ".tour"),
        (read_gset, ".txt"),
        (read_cut, ".cut"),
        (read_qubo, ".txt"),
        (read_qubo, ".npz"),
    ):
        _read(reader, folder, data, suffix)
