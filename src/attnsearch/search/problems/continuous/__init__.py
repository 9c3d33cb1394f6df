"""Continuous box-constrained problems: ``Continuous``, compiled benchmarks, mirror.

Files: ``problem.py`` (``Continuous``, ``BUILTIN_FUNCTIONS``), ``_core.pxd``/
``_core.pyx`` (benchmark functions in C, Gaussian and compass moves),
``_reference.py`` (the Python mirror; NumPy references of the functions).
"""

from ._reference import builtin_value_reference
from .problem import BUILTIN_FUNCTIONS, Continuous

__all__ = ["BUILTIN_FUNCTIONS", "Continuous", "builtin_value_reference"]
