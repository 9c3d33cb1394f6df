"""File readers of the local search (TSPLIB95, G-set, cuts) and distance references.

Real instances come from attnsearch.data (copied from ../shared/data, see its README);
everything else is written to tmp_path by the test itself.
"""

import math
import warnings

import numpy as np
import pytest

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search.problems.ising import read_cut, read_gset
from attnsearch.search.problems.tsp import TSPLIBInstance, read_tsplib, read_tsplib_tour
from attnsearch.search.problems.tsp._reference import (
    tour_length_reference,
    tsplib_distances,
)

#: TSPLIB95's published optimal tour lengths (attnsearch/data/README.md).
TSPLIB_OPTIMA = {
    "berlin52": 7542,
    "eil51": 426,
    "st70": 675,
    "kroA100": 21282,
    "a280": 2579,
}


def write(tmp_path, text, name="case.txt"):
    """Write ``text`` to a file under ``tmp_path`` and return its path."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def raises_at(reader, path, line, pattern, **kwargs):
    """Assert that ``reader(path)`` raises ValueError at ``line`` matching pattern."""
    with pytest.raises(ValueError, match=rf"line {line}: .*{pattern}") as excinfo:
        reader(path, **kwargs)
    assert str(path) in str(excinfo.value)


# ----------------------------------------------------------------------------
# Real TSPLIB95 files
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TSPLIB_OPTIMA))
def test_published_optimal_tour_lengths(name):
    instance = read_tsplib(DATA / f"{name}.tsp")
    tour = read_tsplib_tour(DATA / f"{name}.opt.tour")
    assert isinstance(instance, TSPLIBInstance)
    assert instance.name == name
    assert instance.edge_weight_type == "EUC_2D"
    assert instance.coords.shape == (instance.dimension, 2)
    assert instance.coords.dtype == np.float64
    assert instance.matrix is None
    assert instance.path == str(DATA / f"{name}.tsp")
    assert tour.dtype == np.int64
    np.testing.assert_array_equal(np.sort(tour), np.arange(instance.dimension))
    length = tour_length_reference(tour, coords=instance.coords, kind="EUC_2D")
    assert length == TSPLIB_OPTIMA[name]
    # The same length through a full distance matrix.
    nodes = np.arange(instance.dimension)
    matrix = tsplib_distances(instance.coords, nodes[:, None], nodes, "EUC_2D")
    assert tour_length_reference(tour, matrix=matrix) == TSPLIB_OPTIMA[name]


def test_real_files_have_the_quirks_the_parser_must_handle():
    # These facts make test_published_optimal_tour_lengths a parser test too.
    a280_tour = (DATA / "a280.opt.tour").read_bytes()
    assert b"EOF" not in a280_tour and a280_tour.rstrip().endswith(b"-1")
    a280 = (DATA / "a280.tsp").read_text()
    assert "DIMENSION: 280" in a280 and "NAME : a280" in a280  # mixed separators
    assert "\n  1 288 149\n" in a280  # leading spaces
    assert (DATA / "berlin52.tsp").read_bytes().endswith(b"EOF\n\n")
    kro = read_tsplib(DATA / "kroA100.tsp")
    np.testing.assert_array_equal(kro.coords[[0, 99]], [[1380, 939], [3950, 1558]])
    a280_instance = read_tsplib(DATA / "a280.tsp")
    np.testing.assert_array_equal(a280_instance.coords[0], [288, 149])
    assert a280_instance.comment == "drilling problem (Ludwig)"


# ----------------------------------------------------------------------------
# Synthetic TSPLIB variations that must be accepted
# ----------------------------------------------------------------------------


def test_tsplib_scientific_notation_no_eof_blank_lines_and_tight_colons(tmp_path):
    text = (
        "NAME:tiny\n"
        "\n"
        "TYPE:TSP\n"
        "COMMENT : first : with a colon\n"
        "COMMENT: second\n"
        "DIMENSION :3\n"
        "SOME_UNKNOWN_KEY : ignored\n"
        "  EDGE_WEIGHT_TYPE\t: EUC_2D  \n"
        "NODE_COORD_SECTION\n"
        "   3 2.00000e+02 -1.5E-01\n"
        "\n"
        "1\t0 0\n"
        "  2 .5 +3.\n"
    )  # no EOF, nodes out of order
    instance = read_tsplib(write(tmp_path, text, "tiny.tsp"))
    assert instance.name == "tiny"
    assert instance.dimension == 3
    assert instance.comment == "first : with a colon\nsecond"
    np.testing.assert_array_equal(instance.coords, [[0, 0], [0.5, 3.0], [200, -0.15]])


def test_tsplib_crlf_display_data_and_default_name(tmp_path):
    text = (
        "TYPE : TSP\r\n"
        "DIMENSION : 2\r\n"
        "EDGE_WEIGHT_TYPE : GEO\r\n"
        "EDGE_WEIGHT_FORMAT : FUNCTION\r\n"  # real GEO files carry this; unused
        "DISPLAY_DATA_TYPE : COORD_DISPLAY\r\n"
        "NODE_COORD_SECTION\r\n"
        "1 38.24 20.42\r\n"
        "2 39.57 26.15\r\n"
        "DISPLAY_DATA_SECTION\r\n"
        "1 5 6\r\n"
        "2 7 8\r\n"
        "EOF\r\n"
        "\r\n"
    )
    instance = read_tsplib(write(tmp_path, text, "noname.tsp"))
    assert instance.name == "noname"
    assert instance.edge_weight_type == "GEO"
    np.testing.assert_array_equal(instance.coords, [[38.24, 20.42], [39.57, 26.15]])


def _write_explicit(tmp_path, edge_format, numbers, per_line=3):
    """An EXPLICIT instance whose numbers wrap every ``per_line`` numbers."""
    chunks = [numbers[k : k + per_line] for k in range(0, len(numbers), per_line)]
    body = "".join(" " + " ".join(str(v) for v in chunk) + "\n" for chunk in chunks)
    text = (
        f"NAME : {edge_format}\nTYPE : TSP\nDIMENSION : 5\n"
        f"EDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : {edge_format}\n"
        f"DISPLAY_DATA_TYPE : TWOD_DISPLAY\nEDGE_WEIGHT_SECTION\n{body}"
        "DISPLAY_DATA_SECTION\n1 0 0\n2 1 0\n3 2 0\n4 3 0\n5 4 0\nEOF\n"
    )
    return write(tmp_path, text, f"{edge_format}.tsp")


EXPLICIT_MATRIX = [
    [0, 3, 7, 2, 9],
    [3, 0, 4, 8, 1],
    [7, 4, 0, 6, 5],
    [2, 8, 6, 0, 10],
    [9, 1, 5, 10, 0],
]

# Which (i, j) each format lists, in file order, written out by hand.
EXPLICIT_ORDER = {
    "FULL_MATRIX": lambda n: [(i, j) for i in range(n) for j in range(n)],
    "UPPER_ROW": lambda n: [(i, j) for i in range(n) for j in range(i + 1, n)],
    "LOWER_ROW": lambda n: [(i, j) for i in range(n) for j in range(i)],
    "UPPER_DIAG_ROW": lambda n: [(i, j) for i in range(n) for j in range(i, n)],
    "LOWER_DIAG_ROW": lambda n: [(i, j) for i in range(n) for j in range(i + 1)],
}


@pytest.mark.parametrize("edge_format", sorted(EXPLICIT_ORDER))
def test_explicit_formats_give_the_same_full_matrix(tmp_path, edge_format):
    numbers = [EXPLICIT_MATRIX[i][j] for i, j in EXPLICIT_ORDER[edge_format](5)]
    instance = read_tsplib(_write_explicit(tmp_path, edge_format, numbers))
    assert instance.edge_weight_type == "EXPLICIT"
    assert instance.coords is None
    assert instance.matrix.dtype == np.float64
    np.testing.assert_array_equal(instance.matrix, EXPLICIT_MATRIX)
    # 0 -> 1 -> 2 -> 3 -> 4 -> 0 = 3 + 4 + 6 + 10 + 9
    assert tour_length_reference(np.arange(5), matrix=instance.matrix) == 32.0


# ----------------------------------------------------------------------------
# Synthetic tours that must be accepted
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section",
    [
        "3 1\n4 2\n-1\nEOF\n",  # several nodes per line
        "3 1 4 2 -1\n",  # -1 on the same line, no EOF
        "3 1\n\n4 2\nEOF\n",  # no -1 before EOF
        "3 1 4 2",  # no -1, no EOF, no final newline
        "3 1 4 2 -1\n-1\nEOF\n\n",  # TSPLIB's extra -1 closing the section
    ],
)
def test_tour_layouts(tmp_path, section):
    text = "NAME : t.tour\nTYPE:TOUR\nDIMENSION : 4\nTOUR_SECTION\n" + section
    tour = read_tsplib_tour(write(tmp_path, text))
    np.testing.assert_array_equal(tour, [2, 0, 3, 1])


def test_tour_size_from_argument_or_from_the_nodes(tmp_path):
    path = write(tmp_path, "TOUR_SECTION\n2 3 1\n-1\nEOF\n")
    np.testing.assert_array_equal(read_tsplib_tour(path), [1, 2, 0])
    np.testing.assert_array_equal(read_tsplib_tour(path, dimension=3), [1, 2, 0])
    raises_at(
        read_tsplib_tour, path, 3, r"3 nodes .*missing node\(s\) 4, 5", dimension=5
    )


# ----------------------------------------------------------------------------
# Distances, computed by hand from the TSPLIB95 formulas
# ----------------------------------------------------------------------------


def test_euc_2d_ceil_2d_and_euclidean_by_hand():
    coords = [[0, 0], [3, 4], [1, 1], [0, 2.5], [1, 2], [0, 2.4999]]
    others = np.arange(1, 6)
    # sqrt: 5, 1.414, 2.5 (nint rounds half up), 2.236, 2.4999
    np.testing.assert_array_equal(
        tsplib_distances(coords, 0, others, "EUC_2D"), [5, 1, 3, 2, 2]
    )
    np.testing.assert_array_equal(
        tsplib_distances(coords, 0, others, "CEIL_2D"), [5, 2, 3, 3, 3]
    )
    np.testing.assert_allclose(
        tsplib_distances(coords, others, 0, "EUCLIDEAN"),
        [5, math.sqrt(2), 2.5, math.sqrt(5), 2.4999],
        rtol=1e-15,
    )


def test_att_by_hand():
    coords = [[0, 0], [10, 0], [0, 30], [10, 30], [12, 0]]

    def att(a, b):  # README: r = sqrt((xd^2 + yd^2) / 10), t = nint(r), ...
        r = math.sqrt(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / 10.0)
        t = int(r + 0.5)
        return t + 1 if t < r else t

    # r = sqrt(10) = 3.16 -> 4; sqrt(90) = 9.49 -> 10; sqrt(100) = 10 exactly
    # -> 10; sqrt(14.4) = 3.79 rounds up to 4 already -> 4.
    expected = [4, 10, 10, 4]
    assert [att(coords[0], coords[k]) for k in range(1, 5)] == expected
    np.testing.assert_array_equal(
        tsplib_distances(coords, 0, np.arange(1, 5), "ATT"), expected
    )


def _geo_by_hand(a, b, degrees=math.trunc):
    """README's GEO formula, one scalar at a time; ``degrees`` = truncation."""

    def radians(v):
        whole = degrees(v)
        return 3.141592 * (whole + 5.0 * (v - whole) / 3.0) / 180.0

    lat_a, lon_a, lat_b, lon_b = (
        radians(a[0]),
        radians(a[1]),
        radians(b[0]),
        radians(b[1]),
    )
    q1 = math.cos(lon_a - lon_b)
    q2 = math.cos(lat_a - lat_b)
    q3 = math.cos(lat_a + lat_b)
    return int(6378.388 * math.acos(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)) + 1.0)


def test_geo_by_hand_with_truncated_degrees():
    coords = [
        [38.24, 20.42],  # ulysses16 node 1
        [39.57, 26.15],  # minutes >= .30: truncation and rounding disagree
        [37.77, -122.42],  # negative longitude: (int) truncates toward zero
        [38.24, -122.05],
        [-33.87, 151.21],  # southern hemisphere
    ]
    pairs = [(0, 1), (2, 3), (4, 2), (1, 4)]
    expected = [509, 56, 11995, 15209]  # worked out once from the formula
    by_hand = [_geo_by_hand(coords[a], coords[b]) for a, b in pairs]
    assert by_hand == expected
    # Rounding the degrees (TSPLIB95's text says nint) would give other values.
    rounded = [
        _geo_by_hand(coords[a], coords[b], degrees=lambda v: math.floor(v + 0.5))
        for a, b in [(0, 1), (2, 3)]
    ]
    assert rounded != expected[:2]
    i, j = np.array(pairs).T
    np.testing.assert_array_equal(tsplib_distances(coords, i, j, "GEO"), expected)
    np.testing.assert_array_equal(tsplib_distances(coords, j, i, "GEO"), expected)
    # TSPLIB95's formula puts a node at distance 1 from itself.
    assert tsplib_distances(coords, 3, 3, "GEO") == 1.0


def test_distances_broadcast_and_are_symmetric():
    coords = np.random.default_rng(0).uniform(0, 1000, size=(7, 2))
    nodes = np.arange(7)
    for kind in ("EUC_2D", "CEIL_2D", "ATT", "EUCLIDEAN"):
        full = tsplib_distances(coords, nodes[:, None], nodes[None, :], kind)
        assert full.shape == (7, 7) and full.dtype == np.float64
        np.testing.assert_array_equal(full, full.T)
        np.testing.assert_array_equal(np.diag(full), 0.0)
        if kind != "EUCLIDEAN":
            np.testing.assert_array_equal(full, np.round(full))
    assert tsplib_distances(coords, 1, 2, "EUC_2D").shape == ()


def test_distance_argument_errors():
    coords = [[0, 0], [1, 1]]
    with pytest.raises(ValueError, match="kind must be one of"):
        tsplib_distances(coords, 0, 1, "EUC_3D")
    with pytest.raises(ValueError, match="outside 0..1"):
        tsplib_distances(coords, -1, 1, "EUC_2D")  # no wrap-around
    with pytest.raises(ValueError, match="outside 0..1"):
        tsplib_distances(coords, 0, 2, "EUC_2D")
    with pytest.raises(TypeError, match="integers"):
        tsplib_distances(coords, 0.0, 1, "EUC_2D")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        tsplib_distances([[0, 0, 0]], 0, 0, "EUC_2D")
    with pytest.raises(ValueError, match="finite"):
        tsplib_distances([[0, np.nan]], 0, 0, "EUC_2D")


def test_tour_length_reference():
    coords = [[0, 0], [3, 0], [3, 4], [0, 4]]
    assert tour_length_reference([0, 1, 2, 3], coords=coords) == 14.0
    assert tour_length_reference([0, 2, 1, 3], coords=coords) == 5 + 4 + 5 + 4
    assert tour_length_reference([0], coords=[[5, 5]], kind="GEO") == 0.0
    assert tour_length_reference([], coords=np.empty((0, 2))) == 0.0
    matrix = np.array(EXPLICIT_MATRIX)
    assert tour_length_reference([4, 3, 2, 1, 0], matrix=matrix, kind="EXPLICIT") == 32
    with pytest.raises(ValueError, match="exactly one"):
        tour_length_reference([0, 1], coords=coords[:2], matrix=matrix[:2, :2])
    with pytest.raises(ValueError, match="exactly one"):
        tour_length_reference([0, 1])
    with pytest.raises(ValueError, match="kind='EXPLICIT'"):
        tour_length_reference([0, 1], matrix=matrix[:2, :2], kind="EUC_2D")
    with pytest.raises(ValueError, match="1 is visited twice"):
        tour_length_reference([0, 1, 1, 3], coords=coords)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        tour_length_reference([0, 1, 2], coords=coords)
    with pytest.raises(ValueError, match="square"):
        tour_length_reference([0, 1], matrix=np.zeros((2, 3)))


# ----------------------------------------------------------------------------
# G-set
# ----------------------------------------------------------------------------


def test_g11_and_its_witness_cut():
    n_vertices, edges, weights = read_gset(DATA / "G11.txt")
    assert n_vertices == 800
    assert edges.shape == (1600, 2) and edges.dtype == np.int64
    assert weights.shape == (1600,) and weights.dtype == np.float64
    assert edges.min() == 0 and edges.max() == 799
    assert set(np.unique(weights)) == {-1.0, 1.0}
    assert int((weights > 0).sum()) == 817
    # A toroidal grid: every vertex has degree 4.
    np.testing.assert_array_equal(np.bincount(edges.ravel(), minlength=800), 4)
    spins = read_cut(DATA / "G11.cut", n=n_vertices)
    assert spins.dtype == np.int8 and spins.shape == (800,)
    assert set(np.unique(spins)) == {-1, 1}
    crosses = spins[edges[:, 0]] != spins[edges[:, 1]]
    assert weights[crosses].sum() == 562
    # Ising form of the README: cut = (W - H) / 2.
    ising_energy = (weights * spins[edges[:, 0]] * spins[edges[:, 1]]).sum()
    assert (weights.sum() - ising_energy) / 2 == 562 and weights.sum() == 34


def test_gset_layout_variations(tmp_path):
    path = write(tmp_path, "4 3 \n\n3 1 -1\n  2 4 2.5\n1 2 1 \n\n")
    n_vertices, edges, weights = read_gset(path)
    assert n_vertices == 4
    np.testing.assert_array_equal(edges, [[2, 0], [1, 3], [0, 1]])  # file order
    np.testing.assert_array_equal(weights, [-1, 2.5, 1])
    n_vertices, edges, weights = read_gset(write(tmp_path, "5 0\n", "empty.txt"))
    assert n_vertices == 5 and edges.shape == (0, 2) and weights.shape == (0,)


def test_cut_layout_variations(tmp_path):
    path = write(tmp_path, " 1 , -1,\n+1\n,-1,\n")
    np.testing.assert_array_equal(read_cut(path), [1, -1, 1, -1])
    np.testing.assert_array_equal(read_cut(path, n=4), [1, -1, 1, -1])


# ----------------------------------------------------------------------------
# Malformed input: ValueError naming the file and the line
# ----------------------------------------------------------------------------

HEADER = "NAME : t\nTYPE : TSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\n"
NODES = "NODE_COORD_SECTION\n1 0 0\n2 3 4\n3 6 8\n"  # lines 5-8
EXPLICIT = "NAME : t\nTYPE : TSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EXPLICIT\n"

MALFORMED_TSPLIB = {
    "empty": ("", 1, "empty"),
    "only blank lines": ("\n  \n\t\n", 1, "empty"),
    "no section": (HEADER + "EOF\n", 5, "no data section"),
    "no section, no EOF": ("NAME : t\n", 1, "no data section"),
    "ATSP": (HEADER.replace("TSP\n", "ATSP\n"), 2, "TYPE 'ATSP' is not supported"),
    "CVRP": (HEADER.replace("TSP\n", "CVRP\n"), 2, "TYPE 'CVRP' is not supported"),
    "EUC_3D": (
        HEADER.replace("EUC_2D", "EUC_3D") + NODES,
        4,
        "EDGE_WEIGHT_TYPE 'EUC_3D' is not supported",
    ),
    "DIMENSION 0": (HEADER.replace(": 3", ": 0"), 3, "positive integer, got '0'"),
    "DIMENSION -3": (HEADER.replace(": 3", ": -3"), 3, "positive integer"),
    "DIMENSION 3.0": (HEADER.replace(": 3", ": 3.0"), 3, "positive integer"),
    "DIMENSION text": (HEADER.replace(": 3", ": three"), 3, "positive integer"),
    "DIMENSION empty": (HEADER.replace(": 3", ":"), 3, "positive integer"),
    "DIMENSION twice": (HEADER + "DIMENSION : 3\n" + NODES, 5, r"twice .*line 3"),
    "section before DIMENSION": (
        "TYPE : TSP\nEDGE_WEIGHT_TYPE : EUC_2D\n" + NODES,
        3,
        "before any DIMENSION",
    ),
    "no EDGE_WEIGHT_TYPE": (
        "DIMENSION : 3\n" + NODES + "EOF\n",
        6,
        "no EDGE_WEIGHT_TYPE",
    ),
    "garbage header": (HEADER + "hello world\n" + NODES, 5, "expected 'KEY : value'"),
    "duplicate index": (
        HEADER + NODES.replace("3 6 8", "2 6 8"),
        8,
        r"node index 2 given twice \(first on line 7\)",
    ),
    "index 4 of 3": (HEADER + NODES.replace("3 6 8", "4 6 8"), 8, r"out of range 1..3"),
    "index 0": (HEADER + NODES.replace("1 0 0", "0 0 0"), 6, "out of range 1..3"),
    "index 1.0": (HEADER + NODES.replace("1 0 0", "1.0 0 0"), 6, "not an integer"),
    "coordinate text": (
        HEADER + NODES.replace("2 3 4", "2 three 4"),
        7,
        "x coordinate 'three' is not a finite number",
    ),
    "coordinate nan": (HEADER + NODES.replace("2 3 4", "2 3 nan"), 7, "y coordinate"),
    "coordinate inf": (HEADER + NODES.replace("2 3 4", "2 inf 4"), 7, "x coordinate"),
    "coordinate 1e999": (HEADER + NODES.replace("2 3 4", "2 1e999 4"), 7, "not finite"),
    "two fields": (HEADER + NODES.replace("2 3 4", "2 3"), 7, "expected 3 fields"),
    "four fields": (HEADER + NODES.replace("2 3 4", "2 3 4 5"), 7, "got 4"),
    "too few node lines before EOF": (
        HEADER + NODES.replace("3 6 8\n", "EOF\n"),
        8,
        r"ended after 2 of DIMENSION = 3 .*missing node\(s\) 3",
    ),
    "too few node lines at end of file": (
        HEADER + NODES.replace("2 3 4\n3 6 8\n", "3 6 8\n"),
        7,
        r"end of file after 2 of .*missing node\(s\) 2",
    ),
    "too many node lines": (HEADER + NODES + "4 9 12\nEOF\n", 9, "DIMENSION = 3"),
    "content after EOF": (HEADER + NODES + "EOF\n\n1 2 3\n", 11, "after EOF"),
    "unsupported section": (
        HEADER + NODES + "FIXED_EDGES_SECTION\n1 2\n-1\n",
        9,
        "FIXED_EDGES_SECTION is not supported",
    ),
    "section twice": (HEADER + NODES + NODES, 9, r"NODE_COORD_SECTION given twice"),
    "EDGE_WEIGHT_SECTION for EUC_2D": (
        HEADER
        + "EDGE_WEIGHT_FORMAT : UPPER_ROW\n"
        + NODES
        + "EDGE_WEIGHT_SECTION\n1 2 3\n",
        10,
        "not EXPLICIT",
    ),
    "not UTF-8": (
        HEADER.encode() + b"COMMENT : \xff\xfe\n" + NODES.encode(),
        5,
        "UTF-8",
    ),
    "UPPER_COL": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT : UPPER_COL\nEDGE_WEIGHT_SECTION\n1 2 3\n",
        5,
        "EDGE_WEIGHT_FORMAT 'UPPER_COL' is not supported",
    ),
    "FUNCTION": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT : FUNCTION\nEOF\n",
        5,
        "'FUNCTION' is not supported",
    ),
    "no EDGE_WEIGHT_FORMAT": (
        EXPLICIT + "EDGE_WEIGHT_SECTION\n1 2 3\n",
        5,
        "need an EDGE_WEIGHT_FORMAT",
    ),
    "EXPLICIT without weights": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT : UPPER_ROW\n" + NODES + "EOF\n",
        10,
        "needs an EDGE_WEIGHT_SECTION",
    ),
    "asymmetric FULL_MATRIX": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT: FULL_MATRIX\nEDGE_WEIGHT_SECTION\n"
        "0 1 2\n1 0 3\n2 4 0\nEOF\n",  # lines 7-9
        9,
        r"not symmetric: first asymmetric entry i = 2, j = 3 .*3\.0 \(line 8\)",
    ),
    "negative weight": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT: UPPER_ROW\nEDGE_WEIGHT_SECTION\n1\n-2 3\n",
        8,
        "edge weight -2 is negative",
    ),
    "infinite weight": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT: UPPER_ROW\nEDGE_WEIGHT_SECTION\n1 inf 3\n",
        7,
        "edge weight 'inf'",
    ),
    "too few weights before EOF": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT: UPPER_ROW\nEDGE_WEIGHT_SECTION\n1 2\nEOF\n",
        8,
        "after only 2 of the 3 numbers",
    ),
    "too few weights at end of file": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT: UPPER_DIAG_ROW\nEDGE_WEIGHT_SECTION\n0 1 2 0\n",
        7,
        "end of file after 4 of the 6 numbers",
    ),
    "too many weights on a line": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT: LOWER_ROW\nEDGE_WEIGHT_SECTION\n1\n2 3 4\n",
        8,
        "more numbers than the 3",
    ),
    "too many weight lines": (
        EXPLICIT + "EDGE_WEIGHT_FORMAT: LOWER_ROW\nEDGE_WEIGHT_SECTION\n1 2 3\n4\n",
        8,
        "outside any section",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_TSPLIB))
def test_malformed_tsplib(tmp_path, case):
    text, line, pattern = MALFORMED_TSPLIB[case]
    raises_at(read_tsplib, write(tmp_path, text, "bad.tsp"), line, pattern)


TOUR_HEADER = "NAME : t.tour\nTYPE : TOUR\nDIMENSION : 4\nTOUR_SECTION\n"  # 1-4

MALFORMED_TOURS = {
    "empty": ("", {}, 1, "empty"),
    "duplicate": (TOUR_HEADER + "1 2\n2 3\n-1\n", {}, 6, r"2 listed twice .*line 5"),
    "out of range": (TOUR_HEADER + "1 2 5 3\n-1\n", {}, 5, "5 is out of range 1..4"),
    "zero": (TOUR_HEADER + "0 1 2 3\n-1\n", {}, 5, "0 is out of range"),
    "-2": (TOUR_HEADER + "1 2 -2 3\n-1\n", {}, 5, "-2 is out of range"),
    "not an integer": (TOUR_HEADER + "1 2 3.0 4\n", {}, 5, "'3.0' is not an integer"),
    "too short": (
        TOUR_HEADER + "1 2\n3\n-1\nEOF\n",
        {},
        7,
        r"lists 3 nodes but n = 4 .*missing node\(s\) 4",
    ),
    "no -1 before a keyword": (
        TOUR_HEADER + "1 2 3 4\nCOMMENT : x\nEOF\n",
        {},
        6,
        "not terminated by -1",
    ),
    "second tour": (TOUR_HEADER + "1 2 3 4 -1\n2 1 3 4 -1\n", {}, 6, "one tour"),
    "three -1": (TOUR_HEADER + "1 2 3 4 -1 -1 -1\n", {}, 5, "one tour"),
    "content after EOF": (TOUR_HEADER + "1 2 3 4 -1\nEOF\n1\n", {}, 7, "after EOF"),
    "DIMENSION differs from argument": (
        TOUR_HEADER + "1 2 3 4 -1\n",
        {"dimension": 5},
        3,
        "differs from the dimension = 5",
    ),
    "argument bound": (
        "TOUR_SECTION\n1 2\n4\n-1\n",
        {"dimension": 3},
        3,
        "4 is out of range 1..3",
    ),
    "no bound, out of range": ("TOUR_SECTION\n1 2 4\n-1\n", {}, 2, "out of range 1..3"),
    "TYPE TSP": (TOUR_HEADER.replace("TOUR\n", "TSP\n"), {}, 2, "expected TYPE : TOUR"),
    "no TOUR_SECTION": ("NAME : t\nTYPE : TOUR\nEOF\n", {}, 3, "no TOUR_SECTION"),
    "empty tour": (TOUR_HEADER + "-1\nEOF\n", {}, 5, "lists no node"),
    "DIMENSION 0": (TOUR_HEADER.replace(": 4", ": 0"), {}, 3, "positive integer"),
    "other section": ("NODE_COORD_SECTION\n1 0 0\n", {}, 1, "expected TOUR_SECTION"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_TOURS))
def test_malformed_tours(tmp_path, case):
    text, kwargs, line, pattern = MALFORMED_TOURS[case]
    raises_at(
        read_tsplib_tour, write(tmp_path, text, "bad.tour"), line, pattern, **kwargs
    )


MALFORMED_GSET = {
    "empty": ("", 1, "empty"),
    "header one field": ("3\n1 2 1\n", 1, "header 'n m'"),
    "header three fields": ("3 1 1\n1 2 1\n", 1, "header 'n m'"),
    "header not integers": ("3 x\n", 1, "header 'n m'"),
    "no vertices": ("0 0\n", 1, "n >= 1"),
    "negative edge count": ("3 -1\n", 1, "m >= 0"),
    "fewer edge lines": ("3 2 \n1 2 1\n\n", 3, "end of file after 1 of the m = 2"),
    "more edge lines": ("3 1\n1 2 1\n2 3 1\n", 3, "more than the m = 1"),
    "two fields": ("3 2\n1 2 1\n2 3\n", 3, "'i j w'"),
    "four fields": ("3 2\n1 2 1 1\n2 3 1\n", 2, "'i j w'"),
    "vertex 0": ("3 1\n0 2 1\n", 2, "vertex 0 is out of range 1..3"),
    "vertex n+1": ("3 1\n1 4 1\n", 2, "vertex 4 is out of range"),
    "vertex not integer": ("3 1\n1 2.0 1\n", 2, "vertex '2.0' is not an integer"),
    "self-loop": ("3 2\n1 2 1\n3 3 1\n", 3, "self-loop on vertex 3"),
    "duplicate": ("3 3\n1 2 1\n2 3 1\n1 2 -1\n", 4, r"\(1, 2\) given twice .*line 2"),
    "reversed duplicate": ("3 2\n1 2 1\n2 1 1\n", 3, r"\(2, 1\) given twice"),
    "nan weight": ("3 1\n1 2 nan\n", 2, "weight 'nan'"),
    "inf weight": ("3 1\n1 2 -inf\n", 2, "weight '-inf'"),
    "text weight": ("3 1\n1 2 one\n", 2, "weight 'one' is not a finite number"),
    # Hostile input: two NumPy warnings, then an error about an offset the
    # file lacks; the line whose weight takes the energy scale past 1e300.
    "weights that overflow": (
        "3 2\n1 2 1e308\n2 3 1e308\n",
        2,
        r"weight '1e308' takes the sum of \|weights\| to 1e\+308, above 1e\+300: "
        "cut values and energies could overflow float64",
    ),
    "weights past 1e300": (
        "3 2\n1 2 6e299\n2 3 -6e299\n",
        3,
        r"weight '-6e299' takes the sum of \|weights\| to 1.2e\+300",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_GSET))
def test_malformed_gset(tmp_path, case):
    text, line, pattern = MALFORMED_GSET[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning before the error
        raises_at(read_gset, write(tmp_path, text, "bad.txt"), line, pattern)


def test_gset_weights_up_to_the_energy_limit_are_read(tmp_path):
    n, edges, weights = read_gset(write(tmp_path, "3 2\n1 2 5e299\n2 3 -5e299\n"))
    assert weights.tolist() == [5e299, -5e299]


MALFORMED_CUTS = {
    "empty": ("", {}, 1, "empty"),
    "zero": ("1,0,-1\n", {}, 1, r"'0' is not \+1 or -1"),
    "two": ("1,\n2\n", {}, 2, r"'2' is not \+1 or -1"),
    "float": ("1,-1.0\n", {}, 1, r"'-1.0' is not \+1 or -1"),
    "empty field": ("1,-1\n1,,1\n", {}, 2, "empty field"),
    "leading comma": (",1,-1\n", {}, 1, "empty field"),
    "only commas": (",\n", {}, 1, "empty field"),
    "too few spins": ("1,-1,\n1\n", {"n": 4}, 2, "holds 3 spins, expected n = 4"),
    "too many spins": ("1,-1,1,1,1\n", {"n": 4}, 1, "holds 5 spins"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_CUTS))
def test_malformed_cuts(tmp_path, case):
    text, kwargs, line, pattern = MALFORMED_CUTS[case]
    raises_at(read_cut, write(tmp_path, text, "bad.cut"), line, pattern, **kwargs)


READERS = [read_tsplib, read_tsplib_tour, read_gset, read_cut]


@pytest.mark.parametrize("reader", READERS, ids=lambda reader: reader.__name__)
def test_missing_file_and_directory(tmp_path, reader):
    with pytest.raises(FileNotFoundError):
        reader(tmp_path / "does-not-exist")
    with pytest.raises(ValueError, match="is a directory"):
        reader(tmp_path)


def test_reader_argument_errors(tmp_path):
    tour = write(tmp_path, "TOUR_SECTION\n1 2 -1\n")
    cut = write(tmp_path, "1,-1\n", "x.cut")
    with pytest.raises(ValueError, match="dimension must be an int >= 1"):
        read_tsplib_tour(tour, dimension=0)
    with pytest.raises(TypeError, match="dimension must be an int"):
        read_tsplib_tour(tour, dimension=2.0)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        read_cut(cut, n=-2)
    with pytest.raises(TypeError, match="n must be an int"):
        read_cut(cut, n=True)
    assert read_tsplib_tour(tour, dimension=np.int64(2)).tolist() == [0, 1]
