"""The public C interface of the search engine (declarations in ``cython_api.pxd``).

Third-party problems written in Cython ``cimport`` this module's ``.pxd``; this
file holds ``CompiledProblem``, the Python face of such a problem.
"""

import numpy as np


cdef class CompiledProblem:
    """Base class of problems implemented in Cython/C against ``cython_api.pxd``.

    A subclass fills ``self.vtable`` (its ``data`` pointer and the function
    pointers) in ``__cinit__`` and sets the attributes below; the engine then
    runs every method on it in compiled code, in parallel over chains.

    Pickling (Dask, multiprocessing) calls ``type(self)(*self._init_args)``
    in the receiving process: a subclass that sets ``_init_args`` in its
    ``__init__`` can be sent to other processes.

    Attributes
    ----------
    state_size : int
        Elements of ``state_dtype`` in one chain's state.
    state_dtype : numpy dtype
        dtype of a state (int8 spins, int32 tours, float64 points, ...).
    aux_nbytes : int
        Bytes of per-chain workspace handed to the operations as ``aux``.
    n_tabu_keys : int
        Tabu attributes are integers in ``[0, n_tabu_keys)``.
    exact_costs : bool
        True when every cost and delta is computed exactly in float64
        (integers, or multiples of 1/4 for QUBOs turned into Ising models):
        the engine then compares deltas exactly, without a rounding tolerance.
    """

    def __cinit__(self, *args, **kwargs):
        self.state_size = 0
        self.state_dtype = np.dtype(np.float64)
        self.aux_nbytes = 0
        self.n_tabu_keys = 0
        self.exact_costs = False
        self._keepalive = None
        self._init_args = None

    def __reduce__(self):
        # The vtable holds raw pointers, so a pickle carries the constructor's
        # arguments and the receiving process (a Dask worker) builds it again.
        if self._init_args is None:
            raise TypeError(
                f"{type(self).__name__} cannot be pickled: its __init__ should set "
                "self._init_args to the tuple of its arguments"
            )
        return (type(self), tuple(self._init_args))

    @property
    def has_neighbourhood(self):
        """Whether the neighbourhood can be enumerated (hill climbing, tabu)."""
        return self.vtable.n_moves != NULL and self.vtable.move_at != NULL

    def provides(self, name):
        """Whether the optional operation ``name`` is set in the vtable.

        Parameters
        ----------
        name : {"n_moves", "move_at", "tabu_attributes", "propose", "descend", \
"kick", "checkpoint", "rollback"}

        Raises
        ------
        ValueError
            ``name`` is not an optional operation.
        """
        pointers = {
            "n_moves": self.vtable.n_moves != NULL,
            "move_at": self.vtable.move_at != NULL,
            "tabu_attributes": self.vtable.tabu_attributes != NULL,
            "propose": self.vtable.propose != NULL,
            "descend": self.vtable.descend != NULL,
            "kick": self.vtable.kick != NULL,
            "checkpoint": self.vtable.checkpoint != NULL,
            "rollback": self.vtable.rollback != NULL,
        }
        if name not in pointers:
            raise ValueError(
                f"not an optional operation: {name!r} (one of {sorted(pointers)})"
            )
        return pointers[name]

    def _check_vtable(self):
        """Raise TypeError naming the first required operation left unset."""
        if self.vtable.init == NULL:
            raise TypeError(f"{type(self).__name__}: vtable.init is not set")
        if self.vtable.cost == NULL:
            raise TypeError(f"{type(self).__name__}: vtable.cost is not set")
        if self.vtable.random_move == NULL:
            raise TypeError(f"{type(self).__name__}: vtable.random_move is not set")
        if self.vtable.delta == NULL:
            raise TypeError(f"{type(self).__name__}: vtable.delta is not set")
        if self.vtable.apply == NULL:
            raise TypeError(f"{type(self).__name__}: vtable.apply is not set")
        if self.state_size < 0 or self.aux_nbytes < 0:
            raise ValueError("state_size and aux_nbytes must be non-negative")
