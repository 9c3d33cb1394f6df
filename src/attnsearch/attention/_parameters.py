"""Named, validated weight arrays and their gradients: what a trainable layer is.

:class:`ParameterContainer` holds a layer's weights in a dict of C-contiguous
arrays of the layer's dtype, read-only between updates, and the gradients
``backward`` accumulates. Optimisers (:mod:`attnsearch.optim`) use only its
public interface: :meth:`~ParameterContainer.named_parameters`,
:attr:`~ParameterContainer.grads`, :meth:`~ParameterContainer.zero_grad` and
:meth:`~ParameterContainer.editing_parameters`.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt

from .._dispatch import kernels
from .._validation import finite_as
from . import _precision
from ._projections import project
from ._typing import Array

if TYPE_CHECKING:
    from . import _backward as _backward_kernels
    from . import _linear as _linear_kernels
else:
    _linear_kernels = kernels("linear")
    _backward_kernels = kernels("backward")

__all__ = ["ParameterContainer", "optional_parameter", "parameter"]

_T_co = TypeVar("_T_co", covariant=True)


@overload
def check_dim(value: object, name: str, allow_none: Literal[False] = ...) -> int: ...
@overload
def check_dim(value: object, name: str, allow_none: bool) -> int | None: ...
def check_dim(value: object, name: str, allow_none: bool = False) -> int | None:
    """``value`` as a positive int (None passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_layer_dtype(dtype: npt.DTypeLike) -> np.dtype:
    """A layer's dtype: float32, float64, bfloat16 or float16 (the 16-bit ones
    name the dtype of inputs, outputs and attention operands; see
    :class:`ParameterContainer`)."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        dtype = _precision.bfloat16()
    try:
        checked: np.dtype | None = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked is None or not (
        checked in (np.float32, np.float64) or _precision.is_reduced(checked)
    ):
        raise TypeError(
            "dtype must be float32, float64, bfloat16 (ml_dtypes.bfloat16) or "
            f"float16, got {dtype!r}"
        )
    return checked


def xavier_uniform(
    rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype
) -> Array:
    """Xavier-uniform init as torch.nn.init.xavier_uniform_, shape (fan_in, fan_out)."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(dtype)


class ParameterContainer:
    """Named, shape-checked weight arrays and their accumulated gradients.

    A layer of a 16-bit dtype (bfloat16, float16) is a mixed-precision layer,
    as torch's autocast makes one: its parameters and gradients are float32
    master copies (what an optimiser updates; 16-bit weights would lose the
    small updates), its projections accumulate in float32, and the attention
    runs on 16-bit q, k, v (the tile kernels), with inputs, outputs and input
    gradients in the 16-bit dtype. ``_dtype`` is the float32/float64 dtype of
    the computation, ``_storage`` the 16-bit dtype or None.
    """

    _shapes: dict[str, tuple[int, ...]]
    _dtype: np.dtype
    _storage: np.dtype | None
    _params: dict[str, Array]
    _grads: dict[str, Array]
    _saved: dict[str, Any] | None
    _parameter_version: int

    def _init_parameters(
        self, shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype
    ) -> None:
        self._shapes = dict(shapes)
        self._storage = dtype if _precision.is_reduced(dtype) else None
        self._dtype = _precision.compute_dtype(dtype)
        self._params = {}

    def _narrow(self, arr: Array) -> Array:
        """``arr`` rounded to the layer's 16-bit dtype (unchanged otherwise)."""
        if self._storage is None or arr.dtype == self._storage:
            return arr
        return arr.astype(self._storage)

    def _project_reduced(
        self, x: Array, key: str, w: Array, b: Array | None, n_threads: int
    ) -> Array:
        """``x @ w + b`` of a 16-bit layer, in its dtype: the weights rounded to
        16 bits (as autocast rounds them; the float32 masters stay), float32
        accumulation, one rounding of the result. bfloat16 on a CPU with the
        tiles runs our vdpbf16ps GEMM (SciPy's BLAS has no bfloat16 GEMM);
        otherwise float32 BLAS on the widened values. ``key`` names ``w`` in
        the cache of rounded/packed weights, cleared when parameters change."""
        storage = self._storage
        assert storage is not None
        tiles = storage.name == "bfloat16" and w.shape[0] % 2 == 0
        attention_kernels = kernels("attention")
        tiles = tiles and attention_kernels.BF16_TILES
        key = f"{key}:{'tiles' if tiles else 'float32'}"  # the target may change
        cached = self._reduced_weights.get(key)
        if cached is None:
            rounded = w.astype(storage)
            cached = (
                attention_kernels.bf16_pack_weight(rounded.view(np.uint16))
                if tiles
                else rounded.astype(self._dtype)
            )
            self._reduced_weights[key] = cached
        n_out = w.shape[1]
        rows = x.reshape(-1, x.shape[-1])
        if tiles:
            rows16 = (
                self._to_bf16(rows)
                if self._bf16_gradient_tiles()
                else np.ascontiguousarray(rows, dtype=storage)
            )
            out = np.empty((rows.shape[0], n_out), dtype=storage)
            bias = None if b is None else np.ascontiguousarray(b, dtype=np.float32)
            attention_kernels.bf16_linear(
                rows16.view(np.uint16),
                cached,
                n_out,
                bias,
                out.view(np.uint16),
                n_threads,
            )
        else:
            out = project(rows.astype(self._dtype, copy=False), cached, b, n_threads)
            out = out.astype(storage)
        return out.reshape(x.shape[:-1] + (n_out,))

    def _bf16_gradient_tiles(self, *widths: int) -> bool:
        """Whether this layer's backward runs on the bfloat16 tiles: a bfloat16
        layer on a CPU whose backward variant has them, every feature width
        (the summed axes of the gradient GEMMs) even."""
        storage = self._storage
        return (
            storage is not None
            and storage.name == "bfloat16"
            and bool(getattr(_backward_kernels, "BF16_TILES", False))
            and all(width % 2 == 0 for width in widths)
        )

    def _to_bf16(self, arr: Array) -> Array:
        """``arr`` rounded to this bfloat16 layer's dtype, C-contiguous: float32
        through the tiles' vector conversion (_bf16_gradient_tiles layers)."""
        storage = self._storage
        assert storage is not None
        if arr.dtype != np.float32:
            return np.ascontiguousarray(arr, dtype=storage)
        arr = np.ascontiguousarray(arr)
        out = np.empty(arr.shape, dtype=storage)
        _backward_kernels.bf16_round(arr, out.view(np.uint16))
        return out

    def _bf16_grad_weight(
        self,
        pending: dict[str, Array],
        x16: Array,
        dy16: Array,
        names: tuple[tuple[str, int], ...],
        n_threads: int,
    ) -> None:
        """pending[name] = the columns of x^T dy that ``names`` lists as (name,
        width) in order, on the bfloat16 tiles: x16 (..., k) and dy16 (..., n)
        bfloat16, float32 accumulation (the sum over every row in a fixed
        order), float32 results (the master gradients)."""
        rows = np.ascontiguousarray(x16).reshape(-1, x16.shape[-1]).view(np.uint16)
        dy_rows = np.ascontiguousarray(dy16).reshape(-1, dy16.shape[-1]).view(np.uint16)
        dw = np.empty((rows.shape[1], dy_rows.shape[1]), dtype=np.float32)
        _backward_kernels.bf16_gemm(
            _backward_kernels.bf16_pack_pairs_t(rows),
            _backward_kernels.bf16_pack_pairs(dy_rows),
            dw,
            False,
            n_threads,
        )
        start = 0
        for name, width in names:
            part = dw[:, start : start + width]
            pending[name] = part if len(names) == 1 else np.ascontiguousarray(part)
            start += width

    def _bf16_grad_input(
        self,
        dy16: Array,
        key: str,
        w: Array,
        out: Array,
        accumulate: bool,
        n_threads: int,
    ) -> None:
        """out (+)= dy w^T on the bfloat16 tiles: dy16 (..., n) bfloat16, w the
        float32 master (k, n), rounded to bfloat16 and packed transposed once
        per parameter version (cached as ``key``); out (..., k) C-contiguous,
        float32 (accumulate allowed) or bfloat16 (each element rounded once)."""
        cache_key = f"{key}:transposed tiles"
        packed = self._reduced_weights.get(cache_key)
        if packed is None:
            w_t = np.ascontiguousarray(w.T, dtype=self._storage)
            packed = _backward_kernels.bf16_pack_pairs(w_t.view(np.uint16))
            self._reduced_weights[cache_key] = packed
        dy_rows = np.ascontiguousarray(dy16).reshape(-1, dy16.shape[-1])
        out_rows = out.reshape(-1, out.shape[-1])
        _backward_kernels.bf16_gemm(
            dy_rows.view(np.uint32),
            packed,
            out_rows if out.dtype == np.float32 else out_rows.view(np.uint16),
            accumulate,
            n_threads,
        )

    def _widen(self, arr: Array) -> Array:
        """``arr`` in the compute dtype (16-bit values are exact in float32)."""
        return arr if arr.dtype == self._dtype else arr.astype(self._dtype)

    def _set(self, name: str, value: npt.ArrayLike) -> None:
        shape = self._shapes[name]
        given = np.asarray(value)
        if given.dtype.kind not in "fiu" or given.dtype == np.bool_:
            raise TypeError(f"{name} must be a real array, got dtype {given.dtype}")
        if given.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {given.shape}")
        arr = np.array(finite_as(given, self._dtype, name), copy=True, order="C")
        self._params[name] = arr
        self._parameters_changed()

    def _parameters_changed(self) -> None:
        # Stored weights are read-only: the getters hand out views of them that
        # cannot be made writeable, so a write such as `layer.W_K[:] = 0` fails
        # instead of bypassing validation and the derived (stacked) weights.
        for arr in self._params.values():
            arr.flags.writeable = False
        # What a saved forward compares in backward() (torch's version counter).
        self._parameter_version = getattr(self, "_parameter_version", 0) + 1
        self._reduced_weights: dict[str, np.ndarray] = {}  # rebuilt on first use
        self._on_parameters_changed()

    def _on_parameters_changed(self) -> None:
        """Rebuild weights derived from the parameters (none by default)."""

    @contextlib.contextmanager
    def editing_parameters(self) -> Iterator[dict[str, Array]]:
        """The stored arrays, writeable for in-place updates (what optimisers
        use); on exit they are read-only again and derived weights (MHA's
        stacked ``[W_Q | W_K | W_V]``) are rebuilt, even when the update raised.

        Yields
        ------
        dict of str to ndarray
            The layer's own arrays, keyed like :meth:`parameters`.
        """
        for arr in self._params.values():
            arr.flags.writeable = True  # the layer owns them: always allowed
        try:
            yield self._params
        finally:
            self._parameters_changed()

    def named_parameters(self) -> dict[str, Array]:
        """Every weight and bias array by name: read-only views, no copies.

        Returns
        -------
        dict of str to ndarray
        """
        return {name: arr.view() for name, arr in self._params.items()}

    def parameters(self) -> dict[str, Array]:
        """Return a dict of copies of every weight and bias array, by name."""
        return {name: arr.copy() for name, arr in self._params.items()}

    @property
    def grads(self) -> dict[str, Array]:
        """Accumulated gradients of the loss, keyed like :meth:`parameters`.

        Each ``backward`` call *adds* to them (so several batches can be
        accumulated before one optimiser step); :meth:`zero_grad` clears them.
        The arrays are the layer's own (not copies) and start at zero.
        """
        if not hasattr(self, "_grads"):
            self.zero_grad()
        return self._grads

    def zero_grad(self) -> None:
        """Set every gradient in :attr:`grads` to zero (in place when allocated)."""
        existing = getattr(self, "_grads", None)
        if existing is not None and existing.keys() == self._params.keys():
            for arr in existing.values():
                arr[...] = 0
        else:
            self._grads = {
                name: np.zeros_like(arr) for name, arr in self._params.items()
            }

    @property
    def dtype(self) -> np.dtype:
        """The layer's dtype: of its inputs, outputs and attention operands
        (float32, float64, bfloat16 or float16; parameters of a 16-bit layer are
        float32)."""
        return self._dtype if self._storage is None else self._storage

    # -- training plumbing shared by the layers --------------------------------

    def _keep_forward(self, saved: dict[str, Any]) -> None:
        """Keep a *successful* forward's state for backward(), stamped with the
        parameters' version (a refused forward keeps nothing)."""
        saved["parameter_version"] = self._parameter_version
        self._saved = saved

    def _saved_forward(self, grad_out: npt.ArrayLike) -> tuple[dict[str, Any], Array]:
        """The forward's saved state and ``grad_out`` checked against it. The
        state stays until :meth:`_finish_backward`: a refused backward can be
        retried."""
        saved = getattr(self, "_saved", None)
        if saved is None:
            raise RuntimeError(
                "backward() needs a forward pass with keep_for_backward=True first "
                "(each forward's state serves one backward call)"
            )
        if saved["parameter_version"] != self._parameter_version:
            raise RuntimeError(
                "the layer's parameters changed after the forward pass that "
                "backward() would differentiate (an optimiser step, a weight "
                "assignment): its gradients would be those of another "
                "computation; run the forward again (keep_for_backward=True)"
            )
        grad = np.asarray(grad_out)
        if not _precision.is_floating(grad.dtype):
            raise TypeError(
                f"grad_out must be a floating-point array, got dtype {grad.dtype}"
            )
        if grad.shape != saved["out_shape"]:
            raise ValueError(
                f"grad_out must have the shape of the forward's output "
                f"{saved['out_shape']}, got {grad.shape}"
            )
        grad = np.ascontiguousarray(grad, dtype=self._dtype)
        if not np.isfinite(grad).all():
            raise ValueError("grad_out contains NaN or infinity")
        return saved, grad

    def _linear_grads(
        self,
        pending: dict[str, Array],
        x: Array,
        dy: Array,
        w_name: str,
        b_name: str,
        n_threads: int,
    ) -> None:
        """pending[w_name] = x^T dy, pending[b_name] = sum of dy (rows = all but
        the last axis): gradients that :meth:`_finish_backward` adds."""
        rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
        dy_rows = dy.reshape(-1, dy.shape[-1])
        pending[w_name] = np.empty(self._shapes[w_name], dtype=self._dtype)
        _linear_kernels.linear_grad_weight(
            rows, dy_rows, pending[w_name], False, n_threads
        )
        if b_name in self._params:
            with np.errstate(over="ignore"):  # _finish_backward refuses non-finite
                pending[b_name] = dy_rows.sum(axis=0)

    def _finish_backward(
        self, pending: Mapping[str, Array], results: tuple[Array, ...]
    ) -> None:
        """Check what a backward computed, then add it to :attr:`grads` and drop
        the saved forward; a refused backward changes neither."""
        for name, arr in (*pending.items(), *enumerate(results)):
            if not np.isfinite(arr).all():
                what = (
                    f"the gradient of {name}"
                    if isinstance(name, str)
                    else "an input gradient"
                )
                raise ValueError(
                    f"the backward overflows {self._dtype}: {what} is not finite; "
                    "rescale the inputs or grad_out, or use a float64 layer "
                    "(grads and the saved forward are unchanged)"
                )
        grads = self.grads
        for name, arr in pending.items():
            grads[name] += arr
        self._saved = None


def snapshot(arr: Array) -> Array:
    """A private copy of ``arr`` for a saved forward (the caller may reuse its
    buffer before backward), keeping broadcast axes (stride 0) unexpanded."""
    if not isinstance(arr, np.ndarray):
        return arr
    compact = arr[
        tuple(slice(0, 1) if step == 0 else slice(None) for step in arr.strides)
    ]
    return np.broadcast_to(compact.copy(), arr.shape)


if TYPE_CHECKING:

    class ParameterAttribute(Protocol[_T_co]):
        """A layer attribute made by :func:`parameter` (a ``property``), as type
        checkers see it: read on a layer it gives ``_T_co``, and it is set from
        any array_like."""

        @overload
        def __get__(
            self, instance: None, owner: type[Any], /
        ) -> ParameterAttribute[_T_co]: ...
        @overload
        def __get__(
            self, instance: ParameterContainer, owner: type[Any] | None = None, /
        ) -> _T_co: ...
        def __set__(
            self, instance: ParameterContainer, value: npt.ArrayLike, /
        ) -> None: ...


def parameter(name: str, doc: str) -> ParameterAttribute[Array]:
    """A layer attribute for parameter ``name``, which every layer of the class
    has (a weight): reads give a read-only view, assignments are shape-checked
    copies."""
    return cast("ParameterAttribute[Array]", _parameter_property(name, doc))


def optional_parameter(name: str, doc: str) -> ParameterAttribute[Array | None]:
    """As :func:`parameter`, for a parameter that a layer may lack (a bias with
    ``bias=False``): reads give None then."""
    return cast("ParameterAttribute[Array | None]", _parameter_property(name, doc))


def _parameter_property(name: str, doc: str) -> property:
    """The property of :func:`parameter` and :func:`optional_parameter`."""

    def getter(self: ParameterContainer) -> Array | None:
        arr = self._params.get(name)
        # A read-only view: assign to the attribute to change a weight.
        return None if arr is None else arr.view()

    def setter(self: ParameterContainer, value: npt.ArrayLike) -> None:
        if name not in self._shapes:
            raise AttributeError(f"this layer has no {name} (bias=False?)")
        self._set(name, value)

    return property(getter, setter, doc=doc)
