"""The symmetric TSP: ``TSP``, its compiled core, its Python mirror, TSPLIB I/O.

Files: ``problem.py`` (the ``TSP`` class), ``_core.pxd``/``_core.pyx`` (distances
on the fly, 2-opt / swap / or-opt with O(1) deltas), ``_reference.py`` (the
step-for-step Python mirror and the NumPy TSPLIB distance reference),
``tsplib.py`` (``.tsp`` and ``.tour`` readers).
"""

from .problem import TSP
from .tsplib import TSPLIBInstance, read_tsplib, read_tsplib_tour

__all__ = ["TSP", "TSPLIBInstance", "read_tsplib", "read_tsplib_tour"]
