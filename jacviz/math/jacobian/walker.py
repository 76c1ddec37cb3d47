"""The MLP walker: a torch model read as a chain of Linear layers and elementwise activations.

The small MLPs jacviz trains and shows are ``nn.Sequential`` chains of ``nn.Linear`` layers and
elementwise activations. Written out as such a chain, a model's Jacobian can be pushed through
it by forward tangents (:mod:`jacviz.math.jacobian.sequential`, several times faster than
autograd), shown layer by layer as chain-rule factors (:mod:`jacviz.nets.layers`) and trained
against (the Jacobian penalty of :mod:`jacviz.nets.training`). They all read the model here, so
they agree on which models can be walked and on what every layer does:

- :func:`plan` turns a model into its :class:`LinearStep` and :class:`ActivationStep` objects,
  or None when it cannot be walked (callers then fall back to running the module);
- :func:`named_steps` does the same keeping every step's module and dotted name, and raises
  :class:`WalkRefused` saying which layer cannot be walked and why;
- :func:`activation_step` gives one activation's in-place forward and its derivative.

The rules: ``nn.Sequential`` (possibly nested), ``nn.Linear``, ``nn.Identity``, ``nn.Flatten``
over dim 1 (the identity on ``(N, n)`` batches) and the activations :func:`activation_step`
knows. Types are matched exactly (not with isinstance) because a subclass may override
``forward``; modules with forward hooks, and every model while global forward hooks are
registered, are refused because the hooks could change the output. Derivatives use torch's own
backward kernels, so they agree with autograd to rounding, kink conventions included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "ActivationStep",
    "LinearStep",
    "NamedStep",
    "NumpyKernels",
    "Step",
    "WalkRefused",
    "activation_step",
    "global_hooks_registered",
    "has_hooks",
    "named_steps",
    "parameter_dtype",
    "plan",
]


@dataclass(frozen=True)
class LinearStep:
    """An ``nn.Linear`` layer as the walk applies it: ``x @ weight_t + bias``.

    ``weight_t`` is a transposed *view* of the detached weight, not a contiguous copy: MKL's
    ``(B, 64) @ (64, 2)`` is ~4x faster with the transposed-B flag than with a contiguous
    ``(64, 2)`` matrix (measured), and a view follows in-place updates of the weight.
    """

    weight_t: torch.Tensor  # (in, out)
    bias: torch.Tensor | None

    @property
    def in_features(self) -> int:
        """Width of the layer's input."""
        return self.weight_t.shape[0]

    @property
    def out_features(self) -> int:
        """Width of the layer's output."""
        return self.weight_t.shape[1]


@dataclass(frozen=True)
class NumpyKernels:
    """An activation in numpy, for a few points at a time (:mod:`~jacviz.math.jacobian.small`).

    Torch spends 5-10 us launching each op, which is most of a one-point Jacobian; numpy's
    ufuncs cost about 1 us. The formulas are torch's own (its forward and backward kernels),
    in the array's dtype, so values and derivatives agree with torch's to rounding, kink
    conventions included (ReLU'(0) = 0, LeakyReLU'(0) = slope). They leave numpy's float
    warnings to their caller, which turns them off (torch overflows to inf silently).

    Attributes
    ----------
    forward : callable
        ``forward(x)``: the activation of the pre-activation values ``x``, a new array.
    derivative : callable
        ``derivative(x, y)``: ``f'(x)`` from the pre-activation ``x`` and the output ``y``.

    """

    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))  # exp(-x) = inf far below 0: the sigmoid is then 0


def _softplus(beta: float, threshold: float) -> NumpyKernels:
    """torch's softplus: ``x`` where ``beta·x > threshold``, else ``log1p(exp(beta·x)) / beta``."""

    def forward(x: np.ndarray) -> np.ndarray:
        scaled = x * x.dtype.type(beta)
        smooth = np.log1p(np.exp(scaled)) / x.dtype.type(beta)
        return np.where(scaled > threshold, x, smooth)

    def derivative(x: np.ndarray, _y: np.ndarray) -> np.ndarray:
        scaled = x * x.dtype.type(beta)
        z = np.exp(scaled)
        return np.where(scaled > threshold, x.dtype.type(1), z / (z + 1))

    return NumpyKernels(forward, derivative)


def _leaky_relu(slope: float) -> NumpyKernels:
    def forward(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * x.dtype.type(slope))

    def derivative(x: np.ndarray, _y: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x.dtype.type(1), x.dtype.type(slope))

    return NumpyKernels(forward, derivative)


_TANH = NumpyKernels(np.tanh, lambda _x, y: 1 - y * y)
_SIGMOID = NumpyKernels(_sigmoid, lambda _x, y: (1 - y) * y)
_RELU = NumpyKernels(
    lambda x: np.maximum(x, x.dtype.type(0)), lambda x, _y: (x > 0).astype(x.dtype)
)


@dataclass(frozen=True)
class ActivationStep:
    """An elementwise activation as the walk applies it, with its derivative.

    Attributes
    ----------
    forward_ : callable
        Applies the activation in place to ``(B, w)`` pre-activation values.
    from_result : callable or None
        ``from_result(tangents, output, grad_input=out)`` computes ``tangents * f'(x)`` from the
        output ``f(x)`` (torch's fused backward kernels of tanh and sigmoid) ...
    derivative : callable or None
        ... or else ``derivative(ones, x, out)`` computes ``f'(x)`` from the pre-activation.
    numpy_forward : numpy.ufunc or None
        A faster equivalent ufunc for float32/float64 CPU tensors, applied in place via
        ``.numpy()``.
    numpy : NumpyKernels or None
        The activation and its derivative in numpy, for a few points at a time; None where
        numpy has no equivalent of torch's kernel (GELU's erf) or one was not worth writing.

    """

    forward_: Callable[[torch.Tensor], Any]
    from_result: Callable[..., Any] | None = None
    derivative: Callable[..., Any] | None = None
    numpy_forward: np.ufunc | None = None
    numpy: NumpyKernels | None = None

    def derivative_at(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        """``f'(pre)`` as a new tensor, given the pre-activation and the output ``post = f(pre)``.

        Each kernel reads the one it needs (the output for tanh and sigmoid), so callers pass
        both; neither is modified.
        """
        import torch

        ones = torch.ones_like(pre)
        out = torch.empty_like(pre)
        if self.from_result is not None:
            self.from_result(ones, post, grad_input=out)
        else:
            assert self.derivative is not None
            self.derivative(ones, pre, out)
        return out


Step = LinearStep | ActivationStep
"""One step of a walked model."""


class NamedStep(NamedTuple):
    """A step with the module it came from and that module's dotted path in the model."""

    name: str  # as in model.named_modules(): "" for the model itself, e.g. "1.2" inside
    module: nn.Module
    step: Step


class WalkRefused(ValueError):
    """The model cannot be walked; the message names the layer and says why."""


def activation_step(module: nn.Module) -> ActivationStep | None:
    """Return the in-place forward and derivative of a supported activation module, else None.

    Derivatives use torch's own backward kernels, so the tangents agree with autograd to rounding
    (including the conventions at kinks: ReLU'(0) = 0, ELU'(0) = alpha, LeakyReLU'(0) = slope).
    """
    import torch
    from torch import nn

    _aten = torch.ops.aten
    kind = type(module)
    if kind is nn.Tanh:
        # torch.tanh is the bottleneck of these MLPs on this CPU: 145 us per 2048 x 64 float32
        # block (2 threads) against 24 us for numpy's SIMD tanh (1 thread), which is accurate to
        # 1.4 ulp (torch: 0.5 ulp); for float64 280 us against 113 us.
        return ActivationStep(
            torch.tanh_,
            from_result=_aten.tanh_backward.grad_input,
            numpy_forward=np.tanh,
            numpy=_TANH,
        )
    if kind is nn.Sigmoid:
        return ActivationStep(
            torch.sigmoid_, from_result=_aten.sigmoid_backward.grad_input, numpy=_SIGMOID
        )
    if kind is nn.ReLU:
        return ActivationStep(
            torch.relu_,
            derivative=lambda g, x, out: _aten.threshold_backward.grad_input(
                g, x, 0, grad_input=out
            ),
            numpy=_RELU,
        )
    if kind is nn.LeakyReLU:
        slope = float(module.negative_slope)
        return ActivationStep(
            lambda x: _aten.leaky_relu_(x, slope),
            derivative=lambda g, x, out: _aten.leaky_relu_backward.grad_input(
                g, x, slope, False, grad_input=out
            ),
            numpy=_leaky_relu(slope),
        )
    if kind is nn.ELU:
        alpha = float(module.alpha)
        return ActivationStep(
            lambda x: _aten.elu_(x, alpha),
            derivative=lambda g, x, out: _aten.elu_backward.grad_input(
                g, alpha, 1, 1, False, x, grad_input=out
            ),
        )
    if kind is nn.Softplus:
        beta, threshold = float(module.beta), float(module.threshold)
        return ActivationStep(
            lambda x: _aten.softplus.out(x, beta, threshold, out=x),
            derivative=lambda g, x, out: _aten.softplus_backward.grad_input(
                g, x, beta, threshold, grad_input=out
            ),
            numpy=_softplus(beta, threshold),
        )
    if kind is nn.GELU:
        approximate = str(module.approximate)
        return ActivationStep(
            lambda x: _aten.gelu_(x, approximate=approximate),
            derivative=lambda g, x, out: _aten.gelu_backward.grad_input(
                g, x, approximate=approximate, grad_input=out
            ),
        )
    if kind is nn.SiLU:
        return ActivationStep(
            _aten.silu_,
            derivative=lambda g, x, out: _aten.silu_backward.grad_input(g, x, grad_input=out),
        )
    return None


def has_hooks(module: nn.Module) -> bool:
    """Whether ``module`` itself has forward (pre-)hooks, which could change its output."""
    return bool(module._forward_hooks or module._forward_pre_hooks)


def global_hooks_registered() -> bool:
    """Whether forward hooks for every module are registered (``register_module_forward_hook``).

    They could change any layer's output, so no model is walked while they are.
    """
    import torch

    registry = torch.nn.modules.module
    hooks = getattr(registry, "_global_forward_hooks", None)
    return bool(hooks or getattr(registry, "_global_forward_pre_hooks", None))


def _collect(module: nn.Module, name: str, out: list[NamedStep]) -> tuple[str, nn.Module] | None:
    """Append the steps of ``module`` to ``out``; return the first layer refused, else None."""
    from torch import nn

    if has_hooks(module):
        return name, module
    kind = type(module)
    if kind is nn.Sequential:
        for child_name, child in module._modules.items():
            refused = _collect(child, f"{name}.{child_name}" if name else child_name, out)
            if refused is not None:
                return refused
        return None
    if kind is nn.Linear:
        weight = module.weight.detach()
        bias = None if module.bias is None else module.bias.detach()
        out.append(NamedStep(name, module, LinearStep(weight.t(), bias)))
        return None
    if kind is nn.Identity:
        return None
    if kind is nn.Flatten:
        # On (B, n) input, flattening dims 1..1 is the identity; other dims would change the shape.
        walked = module.start_dim in (1, -1) and module.end_dim in (1, -1)
        return None if walked else (name, module)
    step = activation_step(module)
    if step is None:
        return name, module
    out.append(NamedStep(name, module, step))
    return None


def plan(model: nn.Module) -> list[Step] | None:
    """Flatten ``model`` into Linear and activation steps, or None when it cannot be walked.

    The fast question for the Jacobian routes; :func:`named_steps` says why not.
    """
    if global_hooks_registered():
        return None
    named: list[NamedStep] = []
    if _collect(model, "", named) is not None:
        return None
    return [item.step for item in named]


def named_steps(model: nn.Module) -> list[NamedStep]:
    """The steps of ``model`` in forward order, each with its module and dotted name.

    Identity and Flatten layers add no step. Raises :class:`WalkRefused` for a model
    :func:`plan` refuses, naming the first layer that cannot be walked and the rule it breaks.
    """
    named: list[NamedStep] = []
    refused = _collect(model, "", named)
    if refused is not None:
        name, module = refused
        cls = type(module)
        where = f"layer {name!r} ({cls.__name__})" if name else f"the model ({cls.__name__})"
        raise WalkRefused(f"cannot walk {where} layer by layer: it {_reason(module)}")
    if global_hooks_registered():
        raise WalkRefused(
            "cannot walk the model layer by layer: global forward hooks are registered "
            "(torch.nn.modules.module.register_module_forward_hook), which could change any "
            "layer's output"
        )
    return named


def parameter_dtype(model: nn.Module) -> tuple[torch.dtype, torch.device] | None:
    """The one dtype and device of the model's parameters (None without parameters).

    Raises ValueError if the parameters mix dtypes or devices: no single one to compute in.
    """
    params = list(model.parameters())
    if len({(p.dtype, p.device) for p in params}) > 1:
        raise ValueError("model parameters mix dtypes or devices; cannot choose one to compute in")
    return (params[0].dtype, params[0].device) if params else None


def _structural() -> tuple[type[nn.Module], ...]:
    """Container and structural types the walk accepts besides the activations."""
    from torch import nn

    return (nn.Sequential, nn.Linear, nn.Identity, nn.Flatten)


@functools.cache
def _is_walked_activation(cls: type) -> bool:
    """Whether :func:`activation_step` accepts default-constructed instances of ``cls``."""
    from torch import nn

    try:
        instance = cls()
    except Exception:  # classes with required arguments (e.g. nn.Threshold) are not walked
        return False
    return isinstance(instance, nn.Module) and activation_step(instance) is not None


@functools.cache
def _walked_activation_names() -> tuple[str, ...]:
    """The torch activation classes the walk accepts, found by asking it (for messages)."""
    from torch.nn.modules import activation

    classes = (getattr(activation, name, None) for name in activation.__all__)
    return tuple(
        cls.__name__ for cls in classes if isinstance(cls, type) and _is_walked_activation(cls)
    )


def _reason(module: nn.Module) -> str:
    """Why the walk refused ``module``, by re-checking its rules: a phrase after "it"."""
    from torch import nn

    cls = type(module)
    base = next(
        (
            b
            for b in cls.__mro__[1:]
            if b in _structural()
            or (b.__module__ == "torch.nn.modules.activation" and _is_walked_activation(b))
        ),
        None,
    )
    if has_hooks(module):
        return "has forward hooks, which could change its output"
    if cls is nn.Flatten:
        return (
            f"is Flatten({module.start_dim}, {module.end_dim}), which changes the shape of "
            "(N, n) batches; only Flatten over dim 1 (the identity there) is walked"
        )
    if base is not None:
        return (
            f"is a subclass of nn.{base.__name__} and may override forward; only the exact "
            "torch classes are walked"
        )
    return (
        "is neither nn.Linear, nn.Sequential, nn.Identity, nn.Flatten nor one of the "
        f"elementwise activations {', '.join(_walked_activation_names())}"
    )
