"""attnsearch: fused CPU attention and compiled local search on NumPy arrays.

Two halves share one build (Cython kernels, OpenMP threads, a NumPy/Python
reference beside every kernel):

* :mod:`attnsearch.attention` -- ``scaled_dot_product_attention``,
  ``AttentionHead``, ``MultiHeadAttention``.
* :mod:`attnsearch.search` -- local search (hill climbing, annealing, ...).
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"  # the one place the version is written (pyproject reads it)

from ._dispatch import show_config  # noqa: E402  (after __version__: it reports it)
from ._threading import effective_n_threads, openmp_enabled  # noqa: E402

__all__ = [
    "__version__",
    "effective_n_threads",
    "get_include",
    "get_pxd_path",
    "openmp_enabled",
    "show_config",
]


def get_include() -> str:
    """Directory of the C headers (``csrc/``) that attnsearch's ``.pxd`` files use.

    Pass it in ``include_dirs`` when building Cython code that cimports
    ``attnsearch.search._core`` (see ``examples/cython_problem``).
    """
    here = Path(__file__).resolve().parent
    installed = here / "include"
    if installed.is_dir():
        return str(installed)
    checkout = here.parent.parent / "csrc"  # running from a source checkout
    if checkout.is_dir():
        return str(checkout)
    raise RuntimeError("attnsearch's C headers are missing from this installation")


def get_pxd_path() -> str:
    """Directory to put on Cython's include path to ``cimport attnsearch...``."""
    return str(Path(__file__).resolve().parent.parent)
