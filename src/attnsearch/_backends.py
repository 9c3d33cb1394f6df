"""The one name of the backends of both halves.

``backend="cython"`` runs the compiled kernels, ``"reference"`` the NumPy
(attention) or Python (search) reference that mirrors them and that the tests
compare them with, and ``"auto"`` (the default) the kernels whenever the input
allows, else the reference. The reference had two names before 0.2
(``"numpy"`` in attention, ``"python"`` in search); both are still accepted,
with a FutureWarning.
"""

from __future__ import annotations

import warnings
from typing import Literal, TypeAlias, cast

__all__ = ["BACKENDS", "BackendName", "check_backend"]

#: Accepted values of every ``backend`` argument.
BACKENDS = ("auto", "cython", "reference")
#: The type of every ``backend`` argument (the old names are left out: they warn).
BackendName: TypeAlias = Literal["auto", "cython", "reference"]
_RENAMED: dict[str, BackendName] = {"numpy": "reference", "python": "reference"}


def check_backend(backend: object) -> BackendName:
    """The canonical backend name, or ValueError naming the accepted ones."""
    if isinstance(backend, str) and backend in _RENAMED:
        warnings.warn(
            f'backend="{backend}" is now called backend="reference"',
            FutureWarning,
            stacklevel=3,
        )
        return _RENAMED[backend]
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return cast(BackendName, backend)
