"""The checks of the whole public API: flags and integers, one place each.

A flag that is not a bool (``bias="no"`` is truthy) or an integer that the
kernels cannot hold would otherwise run something other than what was asked
for, silently: both are refused with the argument's name.
"""

from __future__ import annotations

import numbers
import operator
from typing import Literal, overload

import numpy as np

__all__ = ["INT64_MAX", "check_bool", "check_int", "finite_as"]

#: The largest count the kernels hold (int64 / Py_ssize_t).
INT64_MAX = 2**63 - 1


def check_bool(value: object, name: str) -> bool:
    """``value`` as a Python bool; only ``bool`` and ``numpy.bool_`` are accepted.

    A string such as ``"no"`` is truthy, and 0/1 are easy to pass by mistake
    for another argument: silently treating them as a flag would run the
    opposite of what was asked, so anything else is a ``TypeError``.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def finite_as(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``arr`` converted to ``dtype``, refusing NaN/infinity before the cast and
    values the cast takes out of range (1e300 into float32) after it, each
    with its own message naming ``name``."""
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    with np.errstate(over="ignore"):  # refused just below, with a message
        out = arr.astype(dtype, copy=False)
    if out is not arr and out.dtype.kind == "f" and not np.isfinite(out).all():
        top = float(np.max(np.abs(arr)))
        raise ValueError(
            f"{name} has values up to {top:.3g}, out of the range of "
            f"{np.dtype(dtype).name} (largest {np.finfo(dtype).max:.3g}); rescale "
            "it or use a float64 layer"
        )
    return out


@overload
def check_int(
    value: object,
    name: str,
    *,
    minimum: int = ...,
    maximum: int | None = ...,
    allow_none: Literal[False] = ...,
) -> int: ...
@overload
def check_int(
    value: object,
    name: str,
    *,
    minimum: int = ...,
    maximum: int | None = ...,
    allow_none: bool,
) -> int | None: ...
def check_int(
    value: object,
    name: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """``value`` as an int in ``[minimum, maximum]`` (None passes with allow_none).

    ``maximum`` defaults to :data:`INT64_MAX`: every count reaches the kernels as
    a 64-bit integer, and a larger one would wrap around there.

    Raises
    ------
    TypeError
        Not an integer (bools, floats and strings are refused; NumPy integers
        are accepted).
    ValueError
        Out of range.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        try:
            if isinstance(value, bool):
                raise TypeError
            # operator.index is the check: TypeError without __index__.
            value = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"{name} must be an int, got {type(value).__name__} {value!r}"
            ) from None
    value = int(value)
    if maximum is None:
        if value > INT64_MAX:
            raise ValueError(
                f"{name} must be an int that fits 64 bits (at most 2**63 - 1), "
                f"got {value}"
            )
        bound = f">= {minimum}"
    else:
        bound = f"in [{minimum}, {maximum}]"
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int {bound}, got {value}")
    return value
