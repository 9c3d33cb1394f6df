"""Ising, QUBO and max-cut: one compiled core, one Python mirror, G-set/QUBO readers.

Files: ``problem.py`` (``Ising``, ``QUBO``, ``MaxCut``), ``_core.pxd``/``_core.pyx``
(CSR couplings, cached local fields: O(1) flip deltas), ``_reference.py`` (the
step-for-step Python mirror), ``readers.py`` (G-set graphs, cuts, QUBO files).
"""

from .problem import QUBO, Ising, MaxCut
from .readers import read_cut, read_gset, read_qubo

__all__ = ["Ising", "MaxCut", "QUBO", "read_cut", "read_gset", "read_qubo"]
