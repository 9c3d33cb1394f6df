"""Readers of the Ising-family formats: G-set max-cut graphs, witness cuts, QUBOs.

Parsed line by line in pure Python (``problems/_text.py``): every malformed input
is a ``ValueError`` naming the file and the line.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..._typing import StrPath
from ..._validation import check_int
from .._text import INTEGER, Lines, parse_decimal, parse_integer, shorten

if TYPE_CHECKING:
    from .problem import QUBO

__all__ = ["read_cut", "read_gset", "read_qubo"]

_CUT_TOKEN = re.compile(r",|[^,\s]+")


def read_gset(
    path: StrPath,
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
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
        ``(j, i)``; a weight that is not a finite number, or that takes the
        sum of ``|w|`` past 1e300 (cut values and energies could overflow
        float64); more or fewer than ``m`` edge lines.

    Notes
    -----
    Blank lines and spaces at either end of a line (the G-set headers end with
    one) are ignored. Weights are integers in the G-set but any finite decimal
    number is accepted.
    """
    source = Lines.open(path, "G-set graph")
    header = source.next_nonblank()
    assert header is not None  # Lines.open refuses a file of blank lines
    header_lineno, text = header
    fields = text.split()
    if len(fields) != 2 or not all(INTEGER.fullmatch(field) for field in fields):
        raise source.error(
            header_lineno,
            f"expected the header 'n m' (vertex and edge counts), got {shorten(text)}",
        )
    n_vertices, n_edges = int(fields[0]), int(fields[1])
    if n_vertices < 1 or n_edges < 0:
        raise source.error(
            header_lineno,
            f"the header needs n >= 1 vertices and m >= 0 edges, got n = "
            f"{n_vertices}, m = {n_edges}",
        )

    from .problem import MAX_ENERGY_SCALE

    endpoints: list[tuple[int, int]] = []
    weights: list[float] = []
    line_of_edge: dict[tuple[int, int], int] = {}  # (min, max) 1-based -> its line
    total = 0.0  # sum of |w|: the max-cut's energy scale (Python floats: no warning)
    while (item := source.next_nonblank()) is not None:
        lineno, text = item
        if len(weights) == n_edges:
            raise source.error(
                lineno,
                f"more than the m = {n_edges} edge lines announced on line "
                f"{header_lineno}: {shorten(text)}",
            )
        fields = text.split()
        if len(fields) != 3:
            raise source.error(
                lineno, f"expected an edge line 'i j w', got {shorten(text)}"
            )
        i = parse_integer(source, lineno, fields[0], "vertex")
        j = parse_integer(source, lineno, fields[1], "vertex")
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
        weight = parse_decimal(source, lineno, fields[2], "weight")
        total += abs(weight)
        if not total <= MAX_ENERGY_SCALE:
            raise source.error(
                lineno,
                f"weight {shorten(fields[2])} takes the sum of |weights| to "
                f"{total:.3g}, above {MAX_ENERGY_SCALE:.0e}: cut values and "
                "energies could overflow float64; rescale the weights",
            )
        weights.append(weight)
        endpoints.append((i, j))
    if len(weights) != n_edges:
        raise source.error(
            source.last_lineno,
            f"end of file after {len(weights)} of the m = {n_edges} edge lines "
            f"announced on line {header_lineno}",
        )
    edges = np.asarray(endpoints, dtype=np.int64).reshape(n_edges, 2) - 1
    return n_vertices, edges, np.asarray(weights, dtype=np.float64)


def read_cut(path: StrPath, n: int | None = None) -> npt.NDArray[np.int8]:
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
        n = check_int(n, "n")
    source = Lines.open(path, "cut")
    spins: list[int] = []
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
                    f"spin {shorten(token)} is not +1 or -1 (spin {len(spins) + 1})",
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


def read_qubo(path: StrPath) -> QUBO:
    """Read a QUBO file.

    Two formats: ``.npz`` with a square real array ``Q`` (and an optional scalar
    ``offset``), or a text coordinate list of ``i j value`` lines (0-based; ``i ==
    j`` is a linear term; ``#`` starts a comment; an ``offset value`` line sets the
    constant; repeated pairs add up).

    Returns
    -------
    QUBO

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        A malformed file, naming the path (and the line of a text entry): not an
        ``.npz`` archive, no ``Q``, ``Q`` not a real square matrix, an ``offset``
        that is not one finite number, an entry that is not ``i j value``, a
        negative index or a non-finite value; values whose absolute sum takes
        the model's terms past 1e300 (energies could overflow float64: the
        line that passes the limit is named) or entries of one pair that add
        up past the float64 range.
    """
    import zipfile

    from .problem import MAX_ENERGY_SCALE, QUBO, EnergyScaleError

    path = os.fsdecode(os.fspath(path))
    if path.endswith(".npz"):
        if not zipfile.is_zipfile(path):  # np.load would try it as a pickle
            raise ValueError(f"{path}: not a readable .npz archive (not a zip file)")
        try:
            with np.load(path, allow_pickle=False) as data:
                names = list(data)
                if "Q" not in names:
                    raise ValueError(f"{path}: no array named 'Q' (found {names})")
                q = data["Q"]
                offset = data["offset"] if "offset" in names else np.float64(0.0)
        except (zipfile.BadZipFile, EOFError, OSError) as error:
            raise ValueError(f"{path}: not a readable .npz archive ({error})") from None
        if q.dtype.kind not in "biuf" or q.ndim != 2 or q.shape[0] != q.shape[1]:
            raise ValueError(
                f"{path}: Q must be a square real matrix, got {q.dtype} of shape "
                f"{q.shape}"
            )
        if offset.dtype.kind not in "biuf" or offset.shape != ():
            raise ValueError(
                f"{path}: offset must be one real number, got {offset.dtype} of "
                f"shape {offset.shape}"
            )
        try:
            return QUBO(q.astype(np.float64), offset=float(offset))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    source = Lines.open(path, "QUBO")
    entries: dict[tuple[int, int], float] = {}
    offset = 0.0
    offset_line = 0
    # Each entry's line and |value|, to name the line that takes the model's
    # terms past the energy limit (the model decides, on the summed entries).
    lines: list[tuple[int, str, float]] = []
    for lineno, raw in enumerate(source.lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if fields[0].lower() == "offset" and len(fields) == 2:
            offset = parse_decimal(source, lineno, fields[1], "offset")
            offset_line = lineno
            continue
        if len(fields) != 3:
            raise source.error(lineno, f"expected 'i j value', got {shorten(line)}")
        i = parse_integer(source, lineno, fields[0], "index")
        j = parse_integer(source, lineno, fields[1], "index")
        value = parse_decimal(source, lineno, fields[2], "value")
        if i < 0 or j < 0:
            raise source.error(lineno, "negative index")
        total = entries.get((i, j), 0.0) + value
        if not math.isfinite(total):
            raise source.error(
                lineno,
                f"value {shorten(fields[2])} adds up with the earlier entries of "
                f"({i}, {j}) past the float64 range; rescale the values",
            )
        entries[(i, j)] = total
        lines.append((lineno, fields[2], abs(value)))
    if not entries:
        raise ValueError(f"{path}: no 'i j value' entries")
    try:
        return QUBO(entries, offset=offset)
    except EnergyScaleError as error:
        if error.part == "offset":
            raise source.error(offset_line, str(error)) from None
        running = 0.0
        for lineno, token, size in lines:
            running += size
            if not running <= MAX_ENERGY_SCALE:
                raise source.error(
                    lineno,
                    f"value {shorten(token)} takes the sum of |values| to "
                    f"{running:.3g}, above {MAX_ENERGY_SCALE:.0e}: energies "
                    "could overflow float64; rescale the values",
                ) from None
        raise ValueError(f"{path}: {error}") from None
    except (ValueError, MemoryError) as error:
        raise ValueError(f"{path}: {error}") from None
