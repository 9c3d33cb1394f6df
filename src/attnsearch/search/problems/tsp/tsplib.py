"""TSPLIB95 readers: symmetric instances (``.tsp``) and tours (``.opt.tour``).

Parsed line by line in pure Python (``problems/_text.py``): every malformed input
is a ``ValueError`` naming the file and the line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from ..._validation import check_int
from .._text import DECIMAL, INTEGER, Lines, parse_decimal, parse_integer, shorten

__all__ = ["TSPLIBInstance", "read_tsplib", "read_tsplib_tour"]

_COORDINATE_TYPES = ("EUC_2D", "CEIL_2D", "ATT", "GEO")
_EDGE_WEIGHT_TYPES = (*_COORDINATE_TYPES, "EXPLICIT")
_EXPLICIT_FORMATS = (
    "FULL_MATRIX",
    "UPPER_ROW",
    "LOWER_ROW",
    "UPPER_DIAG_ROW",
    "LOWER_DIAG_ROW",
)
_TSP_SECTIONS = ("NODE_COORD_SECTION", "EDGE_WEIGHT_SECTION", "DISPLAY_DATA_SECTION")
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: How many missing nodes an error message lists before "...".
_MAX_LISTED = 5


@dataclass(frozen=True, eq=False)
class TSPLIBInstance:
    """A symmetric TSPLIB95 instance as read by :func:`read_tsplib`.

    Attributes
    ----------
    name : str
        The ``NAME`` header, or the file name without its extension.
    dimension : int
        Number of nodes ``n``.
    edge_weight_type : str
        One of ``"EUC_2D"``, ``"CEIL_2D"``, ``"ATT"``, ``"GEO"``, ``"EXPLICIT"``.
    coords : ndarray of float64, shape (n, 2), or None
        Row ``k`` holds the coordinates of node ``k + 1`` of the file (the
        ``NODE_COORD_SECTION`` may list nodes in any order). For ``GEO`` they are
        the raw ``DDD.MM`` values (latitude, longitude). None when the file has
        no ``NODE_COORD_SECTION`` (usual for ``EXPLICIT``).
    matrix : ndarray of float64, shape (n, n), or None
        The full symmetric distance matrix for ``EXPLICIT``, else None. The
        diagonal is the file's for the ``*_DIAG_*`` and ``FULL_MATRIX`` formats
        and zero for ``UPPER_ROW`` and ``LOWER_ROW``.
    comment : str
        The ``COMMENT`` headers joined by newlines ("" when there is none).
    path : str
        The file the instance was read from.

    Notes
    -----
    ``eq=False``: two instances compare by identity, because dataclass equality
    of NumPy arrays is ambiguous.
    """

    name: str
    dimension: int
    edge_weight_type: str
    coords: np.ndarray | None
    matrix: np.ndarray | None
    comment: str
    path: str


def _split_header(text):
    """Split a TSPLIB line into ``(KEY, value)``.

    ``KEY : value`` and ``KEY: value`` give the upper-cased key and the stripped
    value; a bare keyword (``NODE_COORD_SECTION``, ``EOF``) gives ``(KEY, None)``;
    any other line (data) gives ``(None, None)``.
    """
    if ":" in text:
        key, value = text.split(":", 1)
        key = key.strip()
        if _KEYWORD.fullmatch(key):
            return key.upper(), value.strip()
        return None, None
    if _KEYWORD.fullmatch(text):
        return text.upper(), None
    return None, None


def _parse_dimension(source, lineno, value):
    """Parse the value of a ``DIMENSION`` header: a positive integer."""
    if INTEGER.fullmatch(value) and int(value) > 0:
        return int(value)
    raise source.error(
        lineno, f"DIMENSION must be a positive integer, got {shorten(value)}"
    )


def _first_missing(present, n_nodes):
    """Up to ``_MAX_LISTED`` 1-based nodes of ``1..n_nodes`` not in ``present``.

    The scan stops early, so it costs ``O(len(present))`` even for a huge
    ``n_nodes``.
    """
    missing = []
    for node in range(1, n_nodes + 1):
        if node not in present:
            missing.append(node)
            if len(missing) == _MAX_LISTED:
                break
    return missing


def _describe_missing(present, n_nodes):
    """``"missing node(s) 3, 7, ..."`` for an error message."""
    missing = _first_missing(present, n_nodes)
    n_missing = n_nodes - len(present)
    listed = ", ".join(str(node) for node in missing)
    more = ", ..." if n_missing > len(missing) else ""
    return f"missing node(s) {listed}{more}"


def _unexpected_line(source, lineno, text, n_nodes, after_section):
    """The error for a line that is neither a header, a keyword nor EOF.

    ``after_section`` says whether a data section came before the line, which
    makes a numeric line most likely one entry too many of that section.
    """
    hint = ""
    if DECIMAL.fullmatch(text.split()[0]):
        if after_section:
            bound = f" = {n_nodes}" if n_nodes is not None else ""
            hint = (
                "; a data line outside any section: does a section hold more "
                f"entries than DIMENSION{bound} allows?"
            )
        else:
            hint = "; a data line before any section"
    return source.error(
        lineno,
        f"expected 'KEY : value', a section keyword or EOF, got {shorten(text)}{hint}",
    )


def read_tsplib(path):
    """Read a symmetric TSPLIB95 instance (``.tsp``).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.tsp`` file.

    Returns
    -------
    instance : TSPLIBInstance
        Node ``k`` of the file is row ``k - 1`` of ``coords`` or ``matrix``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a directory or not a regular file, or on any malformed or
        unsupported content; the message names the file and the 1-based line.
        This includes: a ``TYPE`` other than ``TSP``; an ``EDGE_WEIGHT_TYPE``
        other than ``EUC_2D``, ``CEIL_2D``, ``ATT``, ``GEO``, ``EXPLICIT``; an
        ``EXPLICIT`` ``EDGE_WEIGHT_FORMAT`` other than ``FULL_MATRIX``,
        ``UPPER_ROW``, ``LOWER_ROW``, ``UPPER_DIAG_ROW``, ``LOWER_DIAG_ROW``; a
        ``DIMENSION`` that is not a positive integer; a ``NODE_COORD_SECTION``
        that is not exactly ``DIMENSION`` lines ``index x y`` with each index of
        ``1..n`` once; an ``EDGE_WEIGHT_SECTION`` with the wrong count of
        numbers, a negative or non-finite one, or an asymmetric ``FULL_MATRIX``;
        sections other than those three; an empty file or one with no data
        section; anything but blank lines after ``EOF``.

    Notes
    -----
    Accepted variations (all seen in TSPLIB95 files): ``KEY : value``,
    ``KEY: value`` and ``KEY:value`` mixed; leading and trailing spaces; blank
    lines anywhere; integer, decimal and scientific coordinates
    (``2.00000e+02``); a missing ``EOF`` line; CRLF line ends. Header keys are
    case-insensitive, unknown header keys are ignored, repeated ``COMMENT``
    lines are joined. ``EDGE_WEIGHT_SECTION`` numbers may wrap across lines
    arbitrarily. ``DISPLAY_DATA_SECTION`` is skipped. ``DIMENSION`` must come
    before the data sections, and ``EDGE_WEIGHT_FORMAT`` before
    ``EDGE_WEIGHT_SECTION``, as the TSPLIB95 specification orders them.
    """
    source = Lines.open(path, "TSPLIB")
    header = {}  # known key -> (value, lineno); the value is already checked
    comments = []
    section_lines = {}
    coords = None
    weights = None  # (values, lines) of EDGE_WEIGHT_SECTION

    while (item := source.next_nonblank()) is not None:
        lineno, text = item
        key, value = _split_header(text)
        if key == "EOF" and not value:
            source.reject_content_after_eof(lineno)
            break
        if key is not None and key.endswith("_SECTION"):
            if value:
                raise source.error(
                    lineno, f"data on the {key} line itself is not supported"
                )
            if key not in _TSP_SECTIONS:
                raise source.error(
                    lineno,
                    f"{key} is not supported (supported sections: "
                    f"{', '.join(_TSP_SECTIONS)})",
                )
            if key in section_lines:
                raise source.error(
                    lineno, f"{key} given twice (first on line {section_lines[key]})"
                )
            section_lines[key] = lineno
            if key == "NODE_COORD_SECTION":
                n_nodes = _dimension_for_section(source, header, key, lineno)
                coords = _read_node_coords(source, lineno, n_nodes)
            elif key == "EDGE_WEIGHT_SECTION":
                n_nodes = _dimension_for_section(source, header, key, lineno)
                edge_format = _explicit_format(source, header, lineno)
                weights = _read_edge_weights(source, lineno, n_nodes, edge_format)
            else:
                _skip_display_data(source)
            continue
        if value is None:
            dimension = header.get("DIMENSION", (None,))[0]
            raise _unexpected_line(source, lineno, text, dimension, bool(section_lines))
        _record_tsp_header(source, header, comments, key, value, lineno)

    end = source.last_lineno
    if header.get("EDGE_WEIGHT_TYPE", (None,))[0] == "EXPLICIT":
        # First, so that an unsupported format is named even without a section.
        _explicit_format(source, header, end)
    if not section_lines.keys() & {"NODE_COORD_SECTION", "EDGE_WEIGHT_SECTION"}:
        raise source.error(
            end,
            "no data section (expected NODE_COORD_SECTION or EDGE_WEIGHT_SECTION) "
            "before the end of the file",
        )
    if "EDGE_WEIGHT_TYPE" not in header:
        raise source.error(end, "no EDGE_WEIGHT_TYPE header in the file")
    n_nodes = header["DIMENSION"][0]  # present: both data sections require it
    edge_weight_type, type_lineno = header["EDGE_WEIGHT_TYPE"]

    matrix = None
    if edge_weight_type == "EXPLICIT":
        edge_format = _explicit_format(source, header, end)
        if weights is None:
            raise source.error(
                end,
                f"EDGE_WEIGHT_TYPE EXPLICIT (line {type_lineno}) needs an "
                "EDGE_WEIGHT_SECTION, but the file has none",
            )
        matrix = _full_matrix(source, *weights, n_nodes, edge_format)
    else:
        if weights is not None:
            raise source.error(
                section_lines["EDGE_WEIGHT_SECTION"],
                f"EDGE_WEIGHT_SECTION given, but EDGE_WEIGHT_TYPE is "
                f"{edge_weight_type} (line {type_lineno}), not EXPLICIT",
            )
        if coords is None:
            raise source.error(
                end,
                f"EDGE_WEIGHT_TYPE {edge_weight_type} (line {type_lineno}) needs a "
                "NODE_COORD_SECTION, but the file has none",
            )

    name = header["NAME"][0] if "NAME" in header else _file_stem(source.path)
    return TSPLIBInstance(
        name=name,
        dimension=n_nodes,
        edge_weight_type=edge_weight_type,
        coords=coords,
        matrix=matrix,
        comment="\n".join(comments),
        path=source.path,
    )


def _file_stem(path):
    """File name without directory and last extension."""
    return os.path.splitext(os.path.basename(path))[0]


def _record_tsp_header(source, header, comments, key, value, lineno):
    """Check and store one ``KEY : value`` line of a ``.tsp`` file."""
    if key == "COMMENT":
        comments.append(value)
        return
    if key not in (
        "NAME",
        "TYPE",
        "DIMENSION",
        "EDGE_WEIGHT_TYPE",
        "EDGE_WEIGHT_FORMAT",
    ):
        return  # unknown or irrelevant keys (NODE_COORD_TYPE, ...) are ignored
    if key in header:
        raise source.error(
            lineno, f"{key} given twice (first on line {header[key][1]})"
        )
    if key == "TYPE" and value.upper() != "TSP":
        raise source.error(
            lineno,
            f"TYPE {shorten(value)} is not supported: only TYPE : TSP (symmetric "
            "TSP) is",
        )
    if key == "DIMENSION":
        value = _parse_dimension(source, lineno, value)
    elif key == "EDGE_WEIGHT_TYPE":
        value = value.upper()
        if value not in _EDGE_WEIGHT_TYPES:
            raise source.error(
                lineno,
                f"EDGE_WEIGHT_TYPE {shorten(value)} is not supported (supported: "
                f"{', '.join(_EDGE_WEIGHT_TYPES)})",
            )
    elif key == "EDGE_WEIGHT_FORMAT":
        value = value.upper()  # checked only when the type is EXPLICIT
    header[key] = (value, lineno)


def _dimension_for_section(source, header, section, lineno):
    """The ``DIMENSION`` a data section needs, which must precede it."""
    if "DIMENSION" not in header:
        raise source.error(lineno, f"{section} before any DIMENSION header")
    return header["DIMENSION"][0]


def _explicit_format(source, header, lineno):
    """The checked ``EDGE_WEIGHT_FORMAT``; ``lineno`` is where it is needed."""
    if "EDGE_WEIGHT_FORMAT" not in header:
        raise source.error(
            lineno, "the edge weights need an EDGE_WEIGHT_FORMAT header before them"
        )
    edge_format, format_lineno = header["EDGE_WEIGHT_FORMAT"]
    if edge_format not in _EXPLICIT_FORMATS:
        raise source.error(
            format_lineno,
            f"EDGE_WEIGHT_FORMAT {shorten(edge_format)} is not supported "
            f"(supported: {', '.join(_EXPLICIT_FORMATS)})",
        )
    return edge_format


def _read_node_coords(source, section_lineno, n_nodes):
    """Read the ``n_nodes`` lines ``index x y`` that follow NODE_COORD_SECTION."""
    line_of_node = {}  # 1-based node -> line that gave it
    xs = []
    ys = []
    for n_read in range(n_nodes):
        item = source.next_nonblank()
        if item is None:
            raise source.error(
                source.last_lineno,
                f"end of file after {n_read} of the DIMENSION = {n_nodes} lines of "
                f"NODE_COORD_SECTION (line {section_lineno}); "
                f"{_describe_missing(line_of_node, n_nodes)}",
            )
        lineno, text = item
        if _split_header(text)[0] is not None:
            raise source.error(
                lineno,
                f"NODE_COORD_SECTION (line {section_lineno}) ended after {n_read} of "
                f"DIMENSION = {n_nodes} node lines; "
                f"{_describe_missing(line_of_node, n_nodes)}",
            )
        fields = text.split()
        node = parse_integer(source, lineno, fields[0], "node index")
        if len(fields) != 3:
            raise source.error(
                lineno,
                f"expected 3 fields 'index x y' in NODE_COORD_SECTION, got "
                f"{len(fields)}: {shorten(text)}",
            )
        if not 1 <= node <= n_nodes:
            raise source.error(
                lineno, f"node index {node} is out of range 1..{n_nodes} (DIMENSION)"
            )
        if node in line_of_node:
            raise source.error(
                lineno,
                f"node index {node} given twice (first on line {line_of_node[node]})",
            )
        line_of_node[node] = lineno
        xs.append(parse_decimal(source, lineno, fields[1], "x coordinate"))
        ys.append(parse_decimal(source, lineno, fields[2], "y coordinate"))
    # n_nodes distinct indices in 1..n_nodes: a permutation, nothing is missing.
    coords = np.empty((n_nodes, 2), dtype=np.float64)
    rows = np.fromiter(line_of_node, dtype=np.int64, count=n_nodes) - 1
    coords[rows, 0] = xs
    coords[rows, 1] = ys
    return coords


def _explicit_count(n_nodes, edge_format):
    """How many numbers ``edge_format`` holds for ``n_nodes`` nodes."""
    if edge_format == "FULL_MATRIX":
        return n_nodes * n_nodes
    if edge_format in ("UPPER_ROW", "LOWER_ROW"):
        return n_nodes * (n_nodes - 1) // 2
    return n_nodes * (n_nodes + 1) // 2


def _read_edge_weights(source, section_lineno, n_nodes, edge_format):
    """Read the numbers of EDGE_WEIGHT_SECTION, wrapped across lines any way."""
    n_expected = _explicit_count(n_nodes, edge_format)
    what = (
        f"the {n_expected} numbers that EDGE_WEIGHT_SECTION (line {section_lineno}) "
        f"needs for {edge_format} with DIMENSION = {n_nodes}"
    )
    values = []
    value_lines = []
    while len(values) < n_expected:
        item = source.next_nonblank()
        if item is None:
            raise source.error(
                source.last_lineno, f"end of file after {len(values)} of {what}"
            )
        lineno, text = item
        if _split_header(text)[0] is not None:
            raise source.error(
                lineno, f"{shorten(text)} comes after only {len(values)} of {what}"
            )
        fields = text.split()
        if len(values) + len(fields) > n_expected:
            raise source.error(lineno, f"more numbers than {what}")
        for token in fields:
            weight = parse_decimal(source, lineno, token, "edge weight")
            if weight < 0:
                raise source.error(lineno, f"edge weight {token} is negative")
            values.append(weight)
        value_lines.extend([lineno] * len(fields))
    return values, value_lines


def _full_matrix(source, values, value_lines, n_nodes, edge_format):
    """The symmetric ``(n, n)`` matrix of an EXPLICIT section's numbers."""
    values = np.asarray(values, dtype=np.float64)
    if edge_format == "FULL_MATRIX":
        matrix = values.reshape(n_nodes, n_nodes)
        asymmetric = np.triu(matrix != matrix.T, k=1)
        if asymmetric.any():
            # Row-major first (i < j): the asymmetric pair met first in the file.
            i, j = (int(k) for k in np.argwhere(asymmetric)[0])
            raise source.error(
                value_lines[j * n_nodes + i],
                f"FULL_MATRIX is not symmetric: first asymmetric entry "
                f"i = {i + 1}, j = {j + 1} (1-based): w[{i + 1}, {j + 1}] = "
                f"{float(matrix[i, j])} (line {value_lines[i * n_nodes + j]}) but "
                f"w[{j + 1}, {i + 1}] = {float(matrix[j, i])}",
            )
        return matrix
    if edge_format == "UPPER_ROW":
        rows, cols = np.triu_indices(n_nodes, k=1)
    elif edge_format == "LOWER_ROW":
        rows, cols = np.tril_indices(n_nodes, k=-1)
    elif edge_format == "UPPER_DIAG_ROW":
        rows, cols = np.triu_indices(n_nodes)
    else:
        rows, cols = np.tril_indices(n_nodes)
    # triu/tril_indices enumerate row by row: the order of the *_ROW formats.
    matrix = np.zeros((n_nodes, n_nodes), dtype=np.float64)
    matrix[rows, cols] = values
    matrix[cols, rows] = values
    return matrix


def _skip_display_data(source):
    """Skip DISPLAY_DATA_SECTION: the numeric lines up to the next keyword."""
    while (item := source.peek_nonblank()) is not None:
        if not DECIMAL.fullmatch(item[1].split()[0]):
            return
        source.next_nonblank()


# --------------------------------------------------------------------------
# TSPLIB tours
# --------------------------------------------------------------------------


def read_tsplib_tour(path, dimension=None):
    """Read a TSPLIB95 tour file (``.tour``, ``.opt.tour``).

    Parameters
    ----------
    path : str or os.PathLike
        The tour file.
    dimension : int, optional
        Number of nodes the tour must visit. Used when the file has no
        ``DIMENSION`` header; when it has one, the two must agree.

    Returns
    -------
    tour : ndarray of int64, shape (n,)
        The visiting order as 0-based nodes: a permutation of ``0..n-1``, with
        ``n`` the ``DIMENSION`` header, else ``dimension``, else the number of
        nodes listed. The tour is closed: ``tour[-1]`` connects to ``tour[0]``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a directory or not a regular file; if ``dimension`` is not
        a positive integer; on malformed content (message with file and line):
        a ``TYPE`` other than ``TOUR``, a node listed twice, a node outside
        ``1..n``, a non-integer entry, nodes missing, more than one tour, a
        ``TOUR_SECTION`` left without its ``-1`` before anything but ``EOF`` or
        the end of the file, no ``TOUR_SECTION``, content after ``EOF``.
    TypeError
        If ``dimension`` is not an integer.

    Notes
    -----
    The nodes may be spread over lines in any way (several per line). The
    terminating ``-1`` may be omitted only when ``EOF`` or the end of the file
    follows (a280.opt.tour has neither ``EOF`` nor more). A second ``-1`` right
    after the first, which TSPLIB95 uses to close a section of several tours, is
    accepted.
    """
    if dimension is not None:
        dimension = check_int(dimension, "dimension")
    source = Lines.open(path, "TSPLIB tour")
    header = {}
    tour_lineno = None
    nodes = []
    line_of_node = {}  # 1-based node -> line that gave it
    end_lineno = None  # last line of TOUR_SECTION

    while (item := source.next_nonblank()) is not None:
        lineno, text = item
        key, value = _split_header(text)
        if key == "EOF" and not value:
            source.reject_content_after_eof(lineno)
            break
        if key is not None and key.endswith("_SECTION"):
            if key != "TOUR_SECTION" or value:
                raise source.error(
                    lineno,
                    f"expected TOUR_SECTION (on a line of its own), got "
                    f"{shorten(text)}",
                )
            if tour_lineno is not None:
                raise source.error(
                    lineno, f"TOUR_SECTION given twice (first on line {tour_lineno})"
                )
            tour_lineno = lineno
            n_nodes = header["DIMENSION"][0] if "DIMENSION" in header else dimension
            end_lineno = _read_tour_section(
                source, lineno, n_nodes, nodes, line_of_node
            )
            continue
        if value is None:
            n_nodes = header["DIMENSION"][0] if "DIMENSION" in header else dimension
            raise _unexpected_line(
                source, lineno, text, n_nodes, tour_lineno is not None
            )
        _record_tour_header(source, header, key, value, lineno, dimension)

    if tour_lineno is None:
        raise source.error(source.last_lineno, "no TOUR_SECTION in the file")
    if "DIMENSION" in header:
        n_nodes, dimension_lineno = header["DIMENSION"]
        origin = f"DIMENSION on line {dimension_lineno}"
    elif dimension is not None:
        n_nodes, origin = dimension, "the dimension argument"
    else:
        n_nodes, origin = len(nodes), "the number of nodes listed"
    if not nodes:
        raise source.error(end_lineno, "TOUR_SECTION lists no node")
    # Range checks for the nodes read before n was known (no DIMENSION yet).
    for node in nodes:
        if not 1 <= node <= n_nodes:
            raise source.error(
                line_of_node[node],
                f"tour node {node} is out of range 1..{n_nodes} ({origin})",
            )
    if len(nodes) != n_nodes:
        raise source.error(
            end_lineno,
            f"the tour lists {len(nodes)} nodes but n = {n_nodes} ({origin}); "
            f"{_describe_missing(line_of_node, n_nodes)}",
        )
    return np.asarray(nodes, dtype=np.int64) - 1


def _record_tour_header(source, header, key, value, lineno, dimension):
    """Check and store one ``KEY : value`` line of a tour file."""
    if key not in ("NAME", "TYPE", "DIMENSION"):
        return  # COMMENT and unknown keys are ignored
    if key in header:
        raise source.error(
            lineno, f"{key} given twice (first on line {header[key][1]})"
        )
    if key == "TYPE" and value.upper() != "TOUR":
        raise source.error(
            lineno, f"TYPE {shorten(value)} is not a tour: expected TYPE : TOUR"
        )
    if key == "DIMENSION":
        value = _parse_dimension(source, lineno, value)
        if dimension is not None and value != dimension:
            raise source.error(
                lineno,
                f"DIMENSION {value} differs from the dimension = {dimension} argument",
            )
    header[key] = (value, lineno)


def _read_tour_section(source, section_lineno, n_nodes, nodes, line_of_node):
    """Read the nodes of TOUR_SECTION into ``nodes``; return its last line.

    ``n_nodes`` is None when no bound is known yet; the caller then checks the
    range afterwards.
    """
    terminated = False  # the -1 that ends the tour has been read
    closed = False  # the optional second -1 that ends the section has been read
    end_lineno = section_lineno
    while (item := source.peek_nonblank()) is not None:
        lineno, text = item
        key = _split_header(text)[0]
        if key is not None:
            if not terminated and key != "EOF":
                raise source.error(
                    lineno,
                    f"TOUR_SECTION (line {section_lineno}) is not terminated by -1 "
                    f"before {shorten(text)} (only EOF may replace the -1)",
                )
            return end_lineno  # the caller reads EOF or the next header
        source.next_nonblank()
        end_lineno = lineno
        for token in text.split():
            node = parse_integer(source, lineno, token, "tour entry")
            if node == -1 and (not terminated or not closed):
                closed = terminated
                terminated = True
                continue
            if terminated:
                raise source.error(
                    lineno,
                    f"entry {token} after the -1 that ends the tour: only one tour "
                    "per file is supported",
                )
            if node < 1 or (n_nodes is not None and node > n_nodes):
                bound = f"1..{n_nodes}" if n_nodes is not None else "1..n"
                raise source.error(lineno, f"tour node {node} is out of range {bound}")
            if node in line_of_node:
                raise source.error(
                    lineno,
                    f"tour node {node} listed twice (first on line "
                    f"{line_of_node[node]})",
                )
            line_of_node[node] = lineno
            nodes.append(node)
    return end_lineno
