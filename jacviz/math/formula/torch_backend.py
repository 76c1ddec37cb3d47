"""The torch backend of formulas: tensors in, tensors out, differentiable by autograd.

Maps compute in numpy (:mod:`~jacviz.math.formula.numpy_backend`); this backend is for callers
that need torch tensors, or autograd through a formula. It runs the same printed code as the
numpy backend (:mod:`~jacviz.math.formula.codegen`) with a table of torch functions that take
tensors and plain numbers alike (constants such as ``log(2)`` reach them as numbers).
Importing this module imports torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch

from jacviz.math.formula.codegen import compile_formula


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.tensor(float(value), dtype=torch.float64)


def _as_tensors(*values: Any) -> list[torch.Tensor]:
    """Turn numbers into tensors with the dtype and device of the largest tensor argument.

    Several binary torch functions (``heaviside``, ``hypot``) insist on equal dtypes, while
    constants arrive as Python numbers or 0-d float64 tensors.
    """
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if not tensors:
        return [_as_tensor(v) for v in values]
    ref = max(tensors, key=lambda t: t.dim())
    dtype = ref.dtype if ref.is_floating_point() else torch.float64
    out = []
    for v in values:
        if isinstance(v, torch.Tensor):
            out.append(v if v.dtype == dtype else v.to(dtype))
        else:
            out.append(torch.tensor(float(v), dtype=dtype, device=ref.device))
    return out


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Any], torch.Tensor]:
    def apply(z: Any) -> torch.Tensor:
        return fn(_as_tensor(z))

    apply.__name__ = getattr(fn, "__name__", "apply")
    return apply


def _binary(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Callable[[Any, Any], torch.Tensor]:
    def apply(a: Any, b: Any) -> torch.Tensor:
        return fn(*_as_tensors(a, b))

    apply.__name__ = getattr(fn, "__name__", "apply")
    return apply


def _torch_pow(base: Any, exponent: Any) -> torch.Tensor:
    if isinstance(base, torch.Tensor) or isinstance(exponent, torch.Tensor):
        return torch.pow(base, exponent)
    return torch.pow(_as_tensor(base), float(exponent))


def _torch_max(*args: Any) -> torch.Tensor:
    return functools.reduce(torch.maximum, _as_tensors(*args))


def _torch_min(*args: Any) -> torch.Tensor:
    return functools.reduce(torch.minimum, _as_tensors(*args))


def _keep_nan(z: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """``result`` with nan wherever ``z`` is nan.

    torch's sign and heaviside return 0 for nan, which would give sign(log(x)) the value 0
    at x < 0, where it is not defined.
    """
    return torch.where(torch.isnan(z), z, result)


def _torch_sign(z: Any) -> torch.Tensor:
    z = _as_tensor(z)
    return _keep_nan(z, torch.sign(z))


def _torch_heaviside(z: Any, at_zero: Any = 0.5) -> torch.Tensor:
    z, at_zero = _as_tensors(z, at_zero)
    return _keep_nan(z, torch.heaviside(z, at_zero))


def _torch_step(z: Any) -> torch.Tensor:
    return _torch_heaviside(z, 0.0)


def _torch_dirac_delta(z: Any, *_order: Any) -> torch.Tensor:
    # Zero away from the origin: the Jacobian is meant almost everywhere, like autograd's.
    z = _as_tensor(z)
    return _keep_nan(z, torch.zeros_like(z))


def _torch_softplus(z: Any) -> torch.Tensor:
    # Stable for any z and exact in its gradient. torch.nn.functional.softplus switches to the
    # identity above its threshold, whose gradient 1 differs from sigmoid(z) there.
    z = _as_tensor(z)
    return torch.clamp(z, min=0) + torch.log1p(torch.exp(-torch.abs(z)))


def _torch_cbrt(z: Any) -> torch.Tensor:
    z = _as_tensor(z)
    return torch.sign(z) * torch.abs(z).pow(1.0 / 3.0)


#: The torch implementation of every name the printed code calls
#: (:data:`~jacviz.math.formula.codegen.BACKEND_NAMES`). Each accepts tensors as well as plain
#: Python numbers (which become 0-d float64 tensors and broadcast).
TORCH_TRANSLATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "sin": _unary(torch.sin),
    "cos": _unary(torch.cos),
    "tan": _unary(torch.tan),
    "asin": _unary(torch.asin),
    "acos": _unary(torch.acos),
    "atan": _unary(torch.atan),
    "atan2": _binary(torch.atan2),
    "sinh": _unary(torch.sinh),
    "cosh": _unary(torch.cosh),
    "tanh": _unary(torch.tanh),
    "asinh": _unary(torch.asinh),
    "acosh": _unary(torch.acosh),
    "atanh": _unary(torch.atanh),
    "exp": _unary(torch.exp),
    "log": _unary(torch.log),
    "sqrt": _unary(torch.sqrt),
    "Pow": _torch_pow,
    "cbrt": _torch_cbrt,
    "Abs": _unary(torch.abs),
    "sign": _torch_sign,
    "Max": _torch_max,
    "Min": _torch_min,
    "Heaviside": _torch_heaviside,
    "DiracDelta": _torch_dirac_delta,
    "relu": _unary(torch.relu),
    "step": _torch_step,
    "sigmoid": _unary(torch.sigmoid),
    "softplus": _torch_softplus,
    "hypot": _binary(torch.hypot),
    "scalar": _as_tensor,
}


def compile_torch(exprs: Sequence[sympy.Expr]) -> Callable[..., Any]:
    """Compile ``exprs`` in x and y into one torch function ``f(x, y)``.

    ``f`` returns one value per expression: a tensor, or a float for a constant. See
    :func:`~jacviz.math.formula.codegen.compile_formula`.

    Raises
    ------
    FormulaError
        If an exact number in ``exprs`` is larger than the bit budget.

    """
    return compile_formula(exprs, TORCH_TRANSLATIONS)
