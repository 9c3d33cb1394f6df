"""Optimisers for NumPy training loops: SGD, Adam and AdamW, as in ``torch.optim``.

They update parameters **in place** from gradients the caller has computed:

* a layer (``AttentionHead``, ``MultiHeadAttention``, or any object with the
  public interface of :class:`attnsearch.attention._parameters.ParameterContainer`:
  ``named_parameters()``, ``grads``, ``zero_grad()`` and the context manager
  ``editing_parameters()``): its weights and biases, with the gradients that
  ``layer.backward`` accumulated in ``layer.grads``;
* a pair ``(params, grads)`` of dicts of NumPy arrays with the same keys: the
  user's own arrays (an embedding, a classifier), updated in place, with the
  gradient arrays read from ``grads`` at each :meth:`step`.

The arithmetic follows PyTorch's single-tensor implementations (the CPU
default) operation by operation, in the parameters' dtype, so that a step
agrees with ``torch.optim`` on the same gradients to float rounding.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from ._validation import check_bool

if TYPE_CHECKING:
    from typing_extensions import TypeIs

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]

Array: TypeAlias = npt.NDArray[np.floating]


class Trainable(Protocol):
    """What an optimiser needs of a layer (see the module docstring); the
    layers' :class:`~attnsearch.attention._parameters.ParameterContainer` has it."""

    def named_parameters(self) -> Mapping[str, Array]: ...

    @property
    def grads(self) -> Mapping[str, Array]: ...

    def zero_grad(self) -> None: ...

    def editing_parameters(
        self,
    ) -> contextlib.AbstractContextManager[Mapping[str, Array]]: ...


#: A ``(params, grads)`` pair of dicts of floating arrays with the same keys (the
#: dtype is checked at run time).
ArrayPair: TypeAlias = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]

#: The ``params`` argument of an optimiser: a layer, a pair, or a list of those.
Params: TypeAlias = Trainable | ArrayPair | Iterable[Trainable | ArrayPair]


def _check_real(
    value: object,
    name: str,
    low: float = 0.0,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low:
        raise ValueError(f"{name} must be finite and >= {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}")
    return value


class _Slot:
    """One parameter array: whose it is, where its gradient comes from."""

    __slots__ = ("owner", "name", "params", "grads")

    def __init__(
        self,
        owner: Trainable | None,
        name: str,
        params: dict[str, np.ndarray] | None,
        grads: dict[str, np.ndarray] | None,
    ) -> None:
        self.owner, self.name, self.params, self.grads = owner, name, params, grads

    def param(self, editing: dict[int, Mapping[str, Array]] | None = None) -> Array:
        """The array (the owner's writeable one while ``editing`` holds them)."""
        if self.owner is None:
            assert self.params is not None  # a (params, grads) pair's slot
            return self.params[self.name]
        if editing is not None:
            return editing[id(self.owner)][self.name]
        return self.owner.named_parameters()[self.name]

    def grad(self) -> Array | None:
        grads = self.owner.grads if self.owner is not None else self.grads
        assert grads is not None  # a layer's, or a (params, grads) pair's
        return grads.get(self.name)


def _is_layer(item: object) -> TypeIs[Trainable]:
    return all(
        hasattr(item, attr)
        for attr in ("named_parameters", "grads", "zero_grad", "editing_parameters")
    )


def _slots(params: Params) -> list[_Slot]:
    """Expand the ``params`` argument into parameter slots (see the module doc)."""
    items: Iterable[object]
    if _is_layer(params):
        items = [params]
    elif isinstance(params, tuple) and len(params) == 2 and isinstance(params[0], dict):
        items = [params]
    else:
        items = params
    slots = []
    for item in items:
        if _is_layer(item):
            for name in item.named_parameters():
                slots.append(_Slot(item, name, None, None))
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], dict)
            and isinstance(item[1], dict)
        ):
            values, grads = item
            for name, arr in values.items():
                if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
                    raise TypeError(f"parameter {name!r} must be a floating ndarray")
                if not arr.flags.writeable:
                    raise ValueError(f"parameter {name!r} is read-only")
                slots.append(_Slot(None, name, values, grads))
        else:
            raise TypeError(
                "params must be a layer, a (params, grads) pair of dicts of arrays, "
                f"or a list of those; got {type(item).__name__}"
            )
    if not slots:
        raise ValueError("the optimiser got no parameters")
    return slots


class Optimizer:
    """Base class: parameter slots, per-slot state, ``step`` and ``zero_grad``."""

    def __init__(self, params: Params) -> None:
        self._slots = _slots(params)
        self.state: list[dict[str, Any]] = [dict() for _ in self._slots]

    def zero_grad(self) -> None:
        """Zero every gradient this optimiser reads (layers' and the user's)."""
        owners: list[Trainable] = []
        for slot in self._slots:
            if slot.owner is not None:
                if not any(o is slot.owner for o in owners):
                    owners.append(slot.owner)
            else:
                grad = slot.grad()
                if grad is not None:
                    grad[...] = 0
        for owner in owners:
            owner.zero_grad()

    def step(self) -> None:
        """Update every parameter in place from its current gradient.

        Parameters without a gradient (a missing key in a ``grads`` dict) are
        left alone, as torch skips parameters whose ``.grad`` is None.

        All or nothing: every gradient is checked (a floating ndarray of the
        parameter's shape, finite), every parameter is checked writeable, and
        every update (new parameter and optimiser state) is computed aside and
        checked finite before the first parameter or state changes. A refused
        step raises and leaves parameters, gradients and state as they were.

        Raises
        ------
        TypeError
            A gradient that is not a real floating-point ndarray (a list, a
            complex or integer array).
        ValueError
            A gradient of the wrong shape or not finite, a read-only parameter,
            or an update that is not finite (a learning rate so large that the
            step overflows, ``eps=0`` with a zero gradient).
        """
        checked: list[tuple[_Slot, Array, Array, dict[str, Any]]] = []
        owners: list[Trainable] = []
        for slot, state in zip(self._slots, self.state):
            grad = slot.grad()
            if grad is None:
                continue
            param = slot.param()
            checked.append((slot, self._checked_grad(slot, grad, param), param, state))
            if slot.owner is not None and not any(o is slot.owner for o in owners):
                owners.append(slot.owner)
        proposals = []
        for slot, grad, param, state in checked:
            new_param = np.array(param, copy=True)
            new_state = {
                key: value.copy() if isinstance(value, np.ndarray) else value
                for key, value in state.items()
            }
            with np.errstate(all="ignore"):  # checked just below
                self._update(new_param, grad, new_state)
            if not np.isfinite(new_param).all():
                raise ValueError(
                    f"the {type(self).__name__} step of {slot.name!r} is not finite "
                    f"(it would write NaN or infinity into the parameter): the "
                    f"learning rate overflows {new_param.dtype}, or eps is 0 with "
                    "a zero gradient; no parameter was changed"
                )
            proposals.append((slot, new_param, state, new_state))
        with contextlib.ExitStack() as stack:
            # The layers store their weights read-only (their getters hand out
            # views that cannot be written): an update opens them for writing
            # and, on leaving, locks them again and rebuilds derived weights
            # (MHA's stacked [W_Q | W_K | W_V]).
            editing = {
                id(owner): stack.enter_context(owner.editing_parameters())
                for owner in owners
            }
            for slot, new_param, state, new_state in proposals:
                slot.param(editing)[...] = new_param
                state.clear()
                state.update(new_state)

    @staticmethod
    def _checked_grad(slot: _Slot, grad: object, param: Array) -> Array:
        """``grad`` as an array of ``param``'s dtype, or an exception naming it."""
        name = slot.name
        if not isinstance(grad, np.ndarray) or grad.dtype.kind != "f":
            kind = (
                f"dtype {grad.dtype}"
                if isinstance(grad, np.ndarray)
                else type(grad).__name__
            )
            raise TypeError(
                f"gradient of {name!r} must be a real floating-point ndarray, "
                f"got {kind}"
            )
        if grad.shape != param.shape:
            raise ValueError(
                f"gradient of {name!r} has shape {grad.shape}, the parameter "
                f"{param.shape}"
            )
        if not np.isfinite(grad).all():
            raise ValueError(f"gradient of {name!r} contains NaN or infinity")
        if slot.owner is None:
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
                raise TypeError(f"parameter {name!r} must be a floating ndarray")
            if not param.flags.writeable:
                raise ValueError(
                    f"parameter {name!r} is read-only (replaced after the optimiser "
                    "was made?); no parameter was changed"
                )
        return np.asarray(grad, dtype=param.dtype)

    def _update(self, param: Array, grad: Array, state: dict[str, Any]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and weight decay (torch.optim.SGD).

    ``g ← grad + weight_decay · p``; with momentum ``b ← momentum · b + (1 −
    dampening) · g`` (``b = g`` on the first step) and ``g ← b`` (Nesterov:
    ``g ← g + momentum · b``); then ``p ← p − lr · g``.

    Parameters
    ----------
    params : layer, (params, grads) pair of dicts, or a list of those
    lr : float, default 1e-3
    momentum : float, default 0
    dampening : float, default 0
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    nesterov : bool, default False
        Needs ``momentum > 0`` and ``dampening == 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.attention import MultiHeadAttention, SGD
    >>> layer = MultiHeadAttention(16, 2, seed=0)
    >>> opt = SGD(layer, lr=0.1, momentum=0.9)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 16)).astype(np.float32)
    >>> out = layer(x, keep_for_backward=True)
    >>> _ = layer.backward(2 * out)          # gradient of sum(out ** 2)
    >>> opt.step(); opt.zero_grad()
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params)
        self.lr = _check_real(lr, "lr")
        self.momentum = _check_real(momentum, "momentum")
        self.dampening = _check_real(dampening, "dampening")
        self.weight_decay = _check_real(weight_decay, "weight_decay")
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening 0")

    def _update(self, param: Array, grad: Array, state: dict[str, Any]) -> None:
        t = param.dtype.type
        if self.weight_decay != 0:
            grad = grad + t(self.weight_decay) * param
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= t(self.momentum)
                buf += t(1 - self.dampening) * grad
            grad = grad + t(self.momentum) * buf if self.nesterov else buf
        param -= t(self.lr) * grad


class Adam(Optimizer):
    """Adam (torch.optim.Adam; with ``decoupled`` weight decay, AdamW).

    With ``g = grad (+ weight_decay · p)``: ``m ← m + (1 − β₁)(g − m)``,
    ``v ← β₂ v + (1 − β₂) g²``, ``p ← p − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ)
    + eps)``; ``amsgrad`` uses the running maximum of ``v``.

    Parameters
    ----------
    params : layer, (params, grads) pair of dicts, or a list of those
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
        L2 penalty added to the gradient (Adam) — see :class:`AdamW` for the
        decoupled form.
    amsgrad : bool, default False
    """

    _decoupled = False

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params)
        self.lr = _check_real(lr, "lr")
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair, got {betas!r}")
        self.betas = tuple(
            _check_real(b, f"betas[{i}]", 0.0, 1.0, high_open=True)
            for i, b in enumerate(betas)
        )
        self.eps = _check_real(eps, "eps")
        self.weight_decay = _check_real(weight_decay, "weight_decay")
        self.amsgrad = check_bool(amsgrad, "amsgrad")

    def _update(self, param: Array, grad: Array, state: dict[str, Any]) -> None:
        t = param.dtype.type
        beta1, beta2 = self.betas
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        if self.weight_decay != 0:
            if self._decoupled:
                param *= t(1 - self.lr * self.weight_decay)
            else:
                grad = grad + t(self.weight_decay) * param
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # torch's lerp for a weight below 0.5: m + w * (g - m).
        exp_avg += t(1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= t(beta2)
        exp_avg_sq += t(1 - beta2) * grad * grad  # torch's addcmul order
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        step_size = self.lr / bias_correction1
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        else:
            second = exp_avg_sq
        denom = np.sqrt(second)
        denom /= t(bias_correction2_sqrt)
        denom += t(self.eps)
        param -= t(step_size) * exp_avg / denom  # torch's addcdiv order


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): ``p ← p (1 − lr ·
    weight_decay)`` before the Adam step. Default ``weight_decay`` 0.01.

    Parameters are those of :class:`Adam`.
    """

    _decoupled = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
