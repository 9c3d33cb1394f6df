"""Readers of the benchmark file formats and the NumPy distance references.

Design overview
---------------
* TSPLIB95 instances (``read_tsplib``) and tours (``read_tsplib_tour``), G-set
  max-cut graphs (``read_gset``) and their comma-separated witness cuts
  (``read_cut``) are parsed line by line in pure Python. Each reader keeps the
  1-based number of every line it reads, so that every malformed input becomes a
  ``ValueError`` of the form ``"<path>, line <k>: <what is wrong>"``.
* Arrays are allocated only after the data they hold has been read, so a huge
  ``DIMENSION`` in a short file is reported, never allocated.
* ``tsplib_distances`` and ``tour_length_reference`` are the vectorised NumPy
  reference of the TSPLIB95 distance functions: the oracle of the compiled tour
  kernels' tests. They follow the C reference code operation by operation
  (``nint(v) = (int)(v + 0.5)``, GEO with truncated degrees, ``PI = 3.141592``
  and ``RRR = 6378.388``) because the published optima depend on its rounding.
"""

from __future__ import annotations

import math
import operator
import os
import re
import stat
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TSPLIBInstance",
    "read_cut",
    "read_gset",
    "read_tsplib",
    "read_tsplib_tour",
    "tour_length_reference",
    "tsplib_distances",
]

#: TSPLIB95's value of pi in the GEO distance (its C code, not ``math.pi``).
GEO_PI = 3.141592
#: TSPLIB95's earth radius in km in the GEO distance.
GEO_EARTH_RADIUS = 6378.388

_COORDINATE_TYPES = ("EUC_2D", "CEIL_2D", "ATT", "GEO")
_EDGE_WEIGHT_TYPES = (*_COORDINATE_TYPES, "EXPLICIT")
_EXPLICIT_FORMATS = (
    "FULL_MATRIX",
    "UPPER_ROW",
    "LOWER_ROW",
    "UPPER_DIAG_ROW",
    "LOWER_DIAG_ROW",
)
_DISTANCE_KINDS = (*_COORDINATE_TYPES, "EUCLIDEAN")
_TSP_SECTIONS = ("NODE_COORD_SECTION", "EDGE_WEIGHT_SECTION", "DISPLAY_DATA_SECTION")

# Strict number syntax: Python's float() would also take "nan", "inf", "1_0".
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CUT_TOKEN = re.compile(r",|[^,\s]+")

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


# --------------------------------------------------------------------------
# Line reader shared by the four formats
# --------------------------------------------------------------------------


class _Lines:
    """The lines of one text file, a cursor over them and located errors."""

    def __init__(self, path, lines):
        self.path = path
        self.lines = lines
        self.index = 0  # lines[index] is the next line to read

    @classmethod
    def open(cls, path, what):
        """Read ``path`` as UTF-8 text; reject directories, devices and empty files."""
        path = os.fsdecode(os.fspath(path))
        # stat first so that a FIFO or device is refused instead of blocking.
        mode = os.stat(path).st_mode  # FileNotFoundError for a missing file
        if stat.S_ISDIR(mode):
            raise ValueError(f"{path}: is a directory, not a {what} file")
        if not stat.S_ISREG(mode):
            raise ValueError(f"{path}: is not a regular file")
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            lineno = data.count(b"\n", 0, exc.start) + 1
            raise ValueError(
                f"{path}, line {lineno}: not UTF-8 text "
                f"(byte 0x{data[exc.start]:02x}); is this a {what} file?"
            ) from None
        text = text.removeprefix("\ufeff")
        # Universal newlines by hand: str.splitlines() would also split on
        # form feeds and other separators, shifting the line numbers.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines[-1] == "":
            lines.pop()  # the newline that ends the last line
        source = cls(path, lines)
        if all(not line.strip() for line in lines):
            raise source.error(1, f"file is empty (no {what} data)")
        return source

    @property
    def last_lineno(self):
        """Number of the last line (where end-of-file errors point)."""
        return max(len(self.lines), 1)

    def next_nonblank(self):
        """Return ``(lineno, stripped_text)`` of the next non-blank line, or None."""
        while self.index < len(self.lines):
            text = self.lines[self.index].strip()
            self.index += 1
            if text:
                return self.index, text
        return None

    def peek_nonblank(self):
        """Like :meth:`next_nonblank` without moving the cursor."""
        saved = self.index
        item = self.next_nonblank()
        self.index = saved
        return item

    def error(self, lineno, message):
        """A ``ValueError`` naming the file and the 1-based line."""
        return ValueError(f"{self.path}, line {lineno}: {message}")

    def reject_content_after_eof(self, eof_lineno):
        """Raise if anything but blank lines follows the ``EOF`` line."""
        item = self.next_nonblank()
        if item is not None:
            lineno, text = item
            raise self.error(
                lineno,
                f"unexpected content after EOF (line {eof_lineno}): {_shorten(text)}",
            )


def _shorten(text, limit=60):
    """``repr`` of ``text``, cut to ``limit`` characters for error messages."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


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


def _parse_decimal(source, lineno, token, what):
    """Parse a finite decimal number or raise naming ``what``."""
    if _DECIMAL.fullmatch(token):
        number = float(token)
        if math.isfinite(number):
            return number
        raise source.error(lineno, f"{what} {_shorten(token)} is not finite")
    raise source.error(lineno, f"{what} {_shorten(token)} is not a finite number")


def _parse_integer(source, lineno, token, what):
    """Parse a decimal integer or raise naming ``what``."""
    if _INTEGER.fullmatch(token):
        return int(token)
    raise source.error(lineno, f"{what} {_shorten(token)} is not an integer")


def _parse_dimension(source, lineno, value):
    """Parse the value of a ``DIMENSION`` header: a positive integer."""
    if _INTEGER.fullmatch(value) and int(value) > 0:
        return int(value)
    raise source.error(
        lineno, f"DIMENSION must be a positive integer, got {_shorten(value)}"
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
    if _DECIMAL.fullmatch(text.split()[0]):
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
        f"expected 'KEY : value', a section keyword or EOF, got {_shorten(text)}{hint}",
    )


# --------------------------------------------------------------------------
# TSPLIB instances
# --------------------------------------------------------------------------


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
    source = _Lines.open(path, "TSPLIB")
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
            f"TYPE {_shorten(value)} is not supported: only TYPE : TSP (symmetric "
            "TSP) is",
        )
    if key == "DIMENSION":
        value = _parse_dimension(source, lineno, value)
    elif key == "EDGE_WEIGHT_TYPE":
        value = value.upper()
        if value not in _EDGE_WEIGHT_TYPES:
            raise source.error(
                lineno,
                f"EDGE_WEIGHT_TYPE {_shorten(value)} is not supported (supported: "
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
            f"EDGE_WEIGHT_FORMAT {_shorten(edge_format)} is not supported "
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
        node = _parse_integer(source, lineno, fields[0], "node index")
        if len(fields) != 3:
            raise source.error(
                lineno,
                f"expected 3 fields 'index x y' in NODE_COORD_SECTION, got "
                f"{len(fields)}: {_shorten(text)}",
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
        xs.append(_parse_decimal(source, lineno, fields[1], "x coordinate"))
        ys.append(_parse_decimal(source, lineno, fields[2], "y coordinate"))
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
                lineno, f"{_shorten(text)} comes after only {len(values)} of {what}"
            )
        fields = text.split()
        if len(values) + len(fields) > n_expected:
            raise source.error(lineno, f"more numbers than {what}")
        for token in fields:
            weight = _parse_decimal(source, lineno, token, "edge weight")
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
        if not _DECIMAL.fullmatch(item[1].split()[0]):
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
        dimension = _check_positive_int(dimension, "dimension")
    source = _Lines.open(path, "TSPLIB tour")
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
                    f"{_shorten(text)}",
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
            lineno, f"TYPE {_shorten(value)} is not a tour: expected TYPE : TOUR"
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
                    f"before {_shorten(text)} (only EOF may replace the -1)",
                )
            return end_lineno  # the caller reads EOF or the next header
        source.next_nonblank()
        end_lineno = lineno
        for token in text.split():
            node = _parse_integer(source, lineno, token, "tour entry")
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


def _check_positive_int(value, name):
    """``operator.index(value)`` that must be positive; bools are refused."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {type(value).__name__}"
        ) from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


# --------------------------------------------------------------------------
# G-set graphs and cuts
# --------------------------------------------------------------------------


def read_gset(path):
    """Read a G-set max-cut graph (``n m`` header, then ``m`` lines ``i j w``).

    Parameters
    ----------
    path : str or os.PathLike
        The graph file, e.g. ``G11.txt``.

    Returns
    -------
    n_vertices : int
        The ``n`` of the header.
    edges : ndarray of int64, shape (m, 2)
        Endpoints, 0-based, in file order and orientation.
    weights : ndarray of float64, shape (m,)
        Edge weights.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a directory or not a regular file, or on malformed content
        (message with file and line): a header that is not two integers
        ``n >= 1``, ``m >= 0``; an edge line that is not ``i j w``; a vertex
        outside ``1..n``; a self-loop; an edge given twice as ``(i, j)`` or
        ``(j, i)``; a weight that is not a finite number; more or fewer than
        ``m`` edge lines.

    Notes
    -----
    Blank lines and spaces at either end of a line (the G-set headers end with
    one) are ignored. Weights are integers in the G-set but any finite decimal
    number is accepted.
    """
    source = _Lines.open(path, "G-set graph")
    header_lineno, text = source.next_nonblank()
    fields = text.split()
    if len(fields) != 2 or not all(_INTEGER.fullmatch(field) for field in fields):
        raise source.error(
            header_lineno,
            f"expected the header 'n m' (vertex and edge counts), got {_shorten(text)}",
        )
    n_vertices, n_edges = int(fields[0]), int(fields[1])
    if n_vertices < 1 or n_edges < 0:
        raise source.error(
            header_lineno,
            f"the header needs n >= 1 vertices and m >= 0 edges, got n = "
            f"{n_vertices}, m = {n_edges}",
        )

    endpoints = []
    weights = []
    line_of_edge = {}  # (min, max) 1-based endpoints -> line that gave the edge
    while (item := source.next_nonblank()) is not None:
        lineno, text = item
        if len(weights) == n_edges:
            raise source.error(
                lineno,
                f"more than the m = {n_edges} edge lines announced on line "
                f"{header_lineno}: {_shorten(text)}",
            )
        fields = text.split()
        if len(fields) != 3:
            raise source.error(
                lineno, f"expected an edge line 'i j w', got {_shorten(text)}"
            )
        i = _parse_integer(source, lineno, fields[0], "vertex")
        j = _parse_integer(source, lineno, fields[1], "vertex")
        for vertex in (i, j):
            if not 1 <= vertex <= n_vertices:
                raise source.error(
                    lineno, f"vertex {vertex} is out of range 1..{n_vertices}"
                )
        if i == j:
            raise source.error(lineno, f"self-loop on vertex {i}")
        key = (min(i, j), max(i, j))
        if key in line_of_edge:
            raise source.error(
                lineno,
                f"edge ({i}, {j}) given twice (first on line {line_of_edge[key]})",
            )
        line_of_edge[key] = lineno
        weights.append(_parse_decimal(source, lineno, fields[2], "weight"))
        endpoints.append((i, j))
    if len(weights) != n_edges:
        raise source.error(
            source.last_lineno,
            f"end of file after {len(weights)} of the m = {n_edges} edge lines "
            f"announced on line {header_lineno}",
        )
    edges = np.asarray(endpoints, dtype=np.int64).reshape(n_edges, 2) - 1
    return n_vertices, edges, np.asarray(weights, dtype=np.float64)


def read_cut(path, n=None):
    """Read a cut as spins: ``n`` values ``+1``/``-1`` separated by commas.

    Parameters
    ----------
    path : str or os.PathLike
        The cut file, e.g. ``G11.cut``: the spin of vertex 1, 2, ... in order.
    n : int, optional
        The number of spins the file must hold.

    Returns
    -------
    spins : ndarray of int8, shape (n,)
        ``+1`` or ``-1`` for each vertex; ``spins[k]`` is vertex ``k + 1``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a directory or not a regular file; if ``n`` is not
        positive; on malformed content (message with file and line): a value
        other than ``1``, ``+1``, ``-1``; an empty field (a comma at the start or
        two commas in a row); a count of spins other than ``n``.
    TypeError
        If ``n`` is not an integer.

    Notes
    -----
    Whitespace and newlines may surround the commas, a trailing comma is
    allowed, and values separated only by whitespace are accepted too.
    """
    if n is not None:
        n = _check_positive_int(n, "n")
    source = _Lines.open(path, "cut")
    spins = []
    after_value = False  # a comma is welcome only right after a value
    last_value_lineno = 1
    for lineno, line in enumerate(source.lines, start=1):
        for match in _CUT_TOKEN.finditer(line):
            token = match.group()
            if token == ",":
                if not after_value:
                    raise source.error(
                        lineno,
                        f"empty field at column {match.start() + 1}: a comma with "
                        "no spin before it",
                    )
                after_value = False
                continue
            if token in ("1", "+1"):
                spins.append(1)
            elif token == "-1":
                spins.append(-1)
            else:
                raise source.error(
                    lineno,
                    f"spin {_shorten(token)} is not +1 or -1 (spin {len(spins) + 1})",
                )
            after_value = True
            last_value_lineno = lineno
    if n is not None and len(spins) != n:
        raise source.error(
            last_value_lineno, f"the file holds {len(spins)} spins, expected n = {n}"
        )
    if not spins:
        raise source.error(source.last_lineno, "no spin in the file")
    return np.asarray(spins, dtype=np.int8)


# --------------------------------------------------------------------------
# Distance references
# --------------------------------------------------------------------------


def _as_coords(coords):
    """``coords`` as a finite float64 ``(n, 2)`` array."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if not np.isfinite(coords).all():
        raise ValueError("coords must be finite")
    return coords


def _as_node_index(index, n_nodes, name):
    """``index`` as an integer array of nodes in ``0..n_nodes-1``."""
    index = np.asarray(index)
    if index.size == 0:
        index = index.astype(np.intp)  # np.asarray([]) is float64
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {index.dtype}")
    if index.size and (index.min() < 0 or index.max() >= n_nodes):
        raise ValueError(
            f"{name} holds nodes outside 0..{n_nodes - 1}: min {index.min()}, "
            f"max {index.max()}"
        )
    return index


def _check_kind(kind):
    """The distance kind, checked."""
    if kind not in _DISTANCE_KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(_DISTANCE_KINDS)}, got {kind!r}"
        )
    return kind


def _geo_radians(ddd_mm):
    """TSPLIB95's DDD.MM to radians, with degrees truncated toward zero."""
    degrees = np.trunc(ddd_mm)
    minutes = ddd_mm - degrees
    return GEO_PI * (degrees + 5.0 * minutes / 3.0) / 180.0


def tsplib_distances(coords, i, j, kind):
    """TSPLIB95 distances between nodes ``i`` and ``j`` (NumPy reference).

    Parameters
    ----------
    coords : array_like, shape (n, 2)
        Node coordinates (``x, y``; for ``GEO`` latitude, longitude as DDD.MM).
    i, j : array_like of int
        0-based nodes, broadcast against each other.
    kind : {"EUC_2D", "CEIL_2D", "ATT", "GEO", "EUCLIDEAN"}
        The TSPLIB95 distance function, or ``"EUCLIDEAN"`` for the plain
        unrounded Euclidean distance.

    Returns
    -------
    distances : ndarray of float64
        Shape of ``broadcast(i, j)``; integer-valued for the TSPLIB95 kinds.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, ``coords`` is not a finite ``(n, 2)`` array, a
        node is outside ``0..n-1`` (negative nodes do not wrap around), or ``i``
        and ``j`` do not broadcast.
    TypeError
        If ``i`` or ``j`` are not integers.

    Notes
    -----
    With ``xd = x[i] - x[j]``, ``yd = y[i] - y[j]`` and
    ``nint(v) = (int)(v + 0.5)`` (TSPLIB95's C code):

    * ``EUC_2D``: ``nint(sqrt(xd*xd + yd*yd))``.
    * ``CEIL_2D``: ``ceil(sqrt(xd*xd + yd*yd))``.
    * ``ATT``: ``r = sqrt((xd*xd + yd*yd) / 10.0)``, ``t = nint(r)``, then
      ``t + 1`` if ``t < r`` else ``t``.
    * ``GEO``: each DDD.MM value ``v`` becomes
      ``PI * (deg + 5.0 * (v - deg) / 3.0) / 180.0`` with ``deg = (int) v``
      (truncated: the published optima need it, though TSPLIB95's text says
      nint) and ``PI = 3.141592``; then ``q1 = cos(lon_i - lon_j)``,
      ``q2 = cos(lat_i - lat_j)``, ``q3 = cos(lat_i + lat_j)`` and the distance
      is ``(int)(6378.388 * acos(0.5*((1+q1)*q2 - (1-q1)*q3)) + 1.0)``. The
      acos argument is clipped to [-1, 1] against rounding. As in TSPLIB95, a
      node is at distance 1, not 0, from itself under ``GEO``.

    The sums ``xd*xd + yd*yd`` are rounded after each operation (NumPy never
    fuses them into a fused multiply-add); a compiled kernel that lets the
    compiler contract them can round a distance that lies on a .5 boundary the
    other way.

    Examples
    --------
    >>> coords = [[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]]
    >>> tsplib_distances(coords, 0, [1, 2], "EUC_2D")
    array([5., 1.])
    >>> tsplib_distances(coords, 0, [1, 2], "CEIL_2D")
    array([5., 2.])
    """
    kind = _check_kind(kind)
    coords = _as_coords(coords)
    n_nodes = coords.shape[0]
    i = _as_node_index(i, n_nodes, "i")
    j = _as_node_index(j, n_nodes, "j")
    # Indexing with 0-d arrays gives NumPy scalars: always hand back an array.
    return np.asarray(_distances(coords, i, j, kind), dtype=np.float64)


def _distances(coords, i, j, kind):
    """The body of :func:`tsplib_distances`, on checked arguments."""
    if kind == "GEO":
        latitude = _geo_radians(coords[:, 0])
        longitude = _geo_radians(coords[:, 1])
        q1 = np.cos(longitude[i] - longitude[j])
        q2 = np.cos(latitude[i] - latitude[j])
        q3 = np.cos(latitude[i] + latitude[j])
        cosine = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        return np.trunc(GEO_EARTH_RADIUS * np.arccos(cosine) + 1.0)
    dx = coords[i, 0] - coords[j, 0]
    dy = coords[i, 1] - coords[j, 1]
    squared = dx * dx + dy * dy
    if kind == "EUCLIDEAN":
        return np.sqrt(squared)
    if kind == "EUC_2D":
        # (int)(v + 0.5) equals floor(v + 0.5) because v >= 0.
        return np.floor(np.sqrt(squared) + 0.5)
    if kind == "CEIL_2D":
        return np.ceil(np.sqrt(squared))
    pseudo = np.sqrt(squared / 10.0)  # ATT
    rounded = np.floor(pseudo + 0.5)
    return np.where(rounded < pseudo, rounded + 1.0, rounded)


def tour_length_reference(tour, coords=None, matrix=None, kind="EUCLIDEAN"):
    """Length of the closed tour ``tour`` (NumPy reference).

    Parameters
    ----------
    tour : array_like of int, shape (n,)
        A permutation of the 0-based nodes ``0..n-1``; ``tour[-1]`` connects
        back to ``tour[0]``.
    coords : array_like, shape (n, 2), optional
        Node coordinates, measured with ``kind``.
    matrix : array_like, shape (n, n), optional
        Distance matrix; ``matrix[a, b]`` is the length of the step from ``a``
        to ``b``. Exactly one of ``coords`` and ``matrix`` must be given.
    kind : {"EUCLIDEAN", "EUC_2D", "CEIL_2D", "ATT", "GEO", "EXPLICIT"}
        Distance function of ``coords`` (see :func:`tsplib_distances`). With
        ``matrix`` it must be left at ``"EUCLIDEAN"`` or be ``"EXPLICIT"``.

    Returns
    -------
    length : float
        The sum of the ``n`` step lengths, correctly rounded (``math.fsum``);
        0.0 for ``n <= 1``, a tour without steps.

    Raises
    ------
    ValueError
        If both or neither of ``coords`` and ``matrix`` are given, ``kind`` does
        not fit, the shapes are wrong, or ``tour`` is not a permutation of
        ``0..n-1``.
    TypeError
        If ``tour`` does not hold integers.

    Examples
    --------
    >>> tour_length_reference([0, 1, 2], coords=[[0, 0], [3, 0], [3, 4]])
    12.0
    """
    if (coords is None) == (matrix is None):
        raise ValueError("give exactly one of coords and matrix")
    if matrix is not None:
        if kind not in ("EUCLIDEAN", "EXPLICIT"):
            raise ValueError(
                f"kind {kind!r} describes coordinates; with a matrix use "
                "kind='EXPLICIT' (or leave the default)"
            )
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square (n, n), got {matrix.shape}")
        n_nodes = matrix.shape[0]
    else:
        kind = _check_kind(kind)
        coords = _as_coords(coords)
        n_nodes = coords.shape[0]
    tour = _as_node_index(tour, n_nodes, "tour")
    if tour.ndim != 1 or tour.shape[0] != n_nodes:
        raise ValueError(
            f"tour must have shape ({n_nodes},) to visit every node, got {tour.shape}"
        )
    visits = np.bincount(tour, minlength=n_nodes)
    if (visits != 1).any():
        node = int(np.flatnonzero(visits != 1)[0])
        problem = "is missing" if visits[node] == 0 else "is visited twice"
        raise ValueError(
            f"tour is not a permutation of 0..{n_nodes - 1}: {node} {problem}"
        )
    if n_nodes <= 1:
        return 0.0
    successors = np.roll(tour, -1)
    if matrix is not None:
        steps = matrix[tour, successors]
    else:
        steps = tsplib_distances(coords, tour, successors, kind)
    return math.fsum(steps.tolist())
