"""Type aliases of the attention half's signatures (annotations only; no code).

* ``Array``: an array the functions and layers return (float32 or float64).
* ``Window``: the ``window`` argument as users pass it, ``WindowSides`` as
  ``check_window`` normalises it.
* ``Seed``: the ``seed`` of the layers' initialisation.
* ``PreparedMask``: a mask as the kernels read it.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "PreparedMask", "Seed", "Window", "WindowSides"]

#: A floating-point array (the package computes in float32 or float64).
Array: TypeAlias = npt.NDArray[np.floating]

#: ``(left, right)`` keys seen on each side of a query; None: unbounded.
WindowSides: TypeAlias = tuple[int | None, int | None]

#: ``None`` (no window), an int ``W`` (``(W - 1, W - 1)``) or ``(left, right)``.
Window: TypeAlias = int | WindowSides | None

#: ``None`` (fresh entropy), a non-negative int or a ``numpy.random.SeedSequence``.
Seed: TypeAlias = int | np.random.SeedSequence | None

#: A validated mask: uint8 (a boolean mask, 1 = may attend) or additive, in the
#: compute dtype (the kernels tell the two apart by the dtype).
PreparedMask: TypeAlias = npt.NDArray[np.uint8] | Array
