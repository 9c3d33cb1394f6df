"""The checks every method shares: counts, numbers, time budgets, tolerances.

One place each, so that a bad ``num_chains``, ``time_limit`` or ``max_iters``
reads the same whichever method or reader receives it: ``TypeError`` for a value
of the wrong type, ``ValueError`` (naming the argument and the accepted range)
for a value out of range.
"""

from __future__ import annotations

import math
import numbers

from .._validation import check_bool, check_int

__all__ = [
    "check_bool",
    "check_int",
    "check_optional_float",
    "check_time_limit",
    "rounding_tolerance",
]

#: Relative size of the rounding noise of float64 costs: a delta must be below
#: ``-rounding_tolerance(scale)`` to count as an improvement, so that noise
#: cannot make a descent cycle.
RELATIVE_TOLERANCE = 1e-12


def check_optional_float(
    value: object, name: str, *, positive: bool = False
) -> float | None:
    """``value`` as a float (None passes); NaN is refused, and anything <= 0
    with ``positive``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number or None, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or (positive and not value > 0):
        raise ValueError(
            f"{name} must be {'positive' if positive else 'a number'}, got {value}"
        )
    return value


def check_time_limit(value: object, name: str = "time_limit") -> float | None:
    """A time budget in seconds: None (no limit) or a finite positive number.
    Infinity is refused: it is no limit, and every method must end."""
    value = check_optional_float(value, name, positive=True)
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be finite (use None for no limit), got {value}")
    return value


def rounding_tolerance(scale: float, exact: bool) -> float:
    """The improvement threshold of costs of size ``scale``: 0 for problems whose
    costs are exact in float64, else ``RELATIVE_TOLERANCE * (1 + scale)``."""
    return 0.0 if exact else RELATIVE_TOLERANCE * (1.0 + abs(float(scale)))
