"""Torch code for parsed formulas: sympy expressions compiled into vectorised functions.

Evaluation goes through ``sympy.lambdify`` with our own printer and translation table, because
lambdify's stock torch printing emits calls such as ``max(0, x)`` or ``torch.log(2)`` that fail
on tensors or on plain Python numbers. Every function that can appear in a formula or in its
derivative has a torch implementation here (:data:`TORCH_TRANSLATIONS`) that takes tensors and
plain numbers alike. Constant subexpressions are evaluated once, by sympy, to more digits than
float64 holds, so accepted formulas evaluate to real floats (nan where not defined, inf where
too large) at any point. :func:`compile_torch` is the entry point.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch
from sympy.printing.pytorch import TorchPrinter

from jacviz.math.formula.limits import MAX_BITS, MAX_EXACT_INT, FormulaError
from jacviz.math.formula.symbolic import (
    DiracDelta,
    Heaviside,
    RealAbs,
    RealMax,
    RealMin,
    RealSign,
    X,
    Y,
    cbrt,
    cosh,
    hypot,
    relu,
    sigmoid,
    sinh,
    softplus,
    step,
    tanh,
)

# Every function that can appear in a formula or in its derivative, callable on tensors and on
# plain Python numbers (constants such as log(2) reach these as numbers).


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


#: Names printed into lambdified code mapped to torch implementations. Every function that can
#: occur in a parsed formula or in its symbolic Jacobian is here, and each accepts tensors as
#: well as plain Python numbers (which become 0-d tensors and broadcast).
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
}

#: sympy class -> name in :data:`TORCH_TRANSLATIONS`: every function a formula can hold.
TORCH_NAMES: dict[type, str] = {
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.asin: "asin",
    sympy.acos: "acos",
    sympy.atan: "atan",
    sympy.atan2: "atan2",
    sympy.sinh: "sinh",
    sinh: "sinh",
    sympy.cosh: "cosh",
    cosh: "cosh",
    sympy.tanh: "tanh",
    tanh: "tanh",
    sympy.asinh: "asinh",
    sympy.acosh: "acosh",
    sympy.atanh: "atanh",
    sympy.exp: "exp",
    sympy.log: "log",
    cbrt: "cbrt",
    sympy.Abs: "Abs",
    RealAbs: "Abs",
    sympy.sign: "sign",
    RealSign: "sign",
    sympy.Max: "Max",
    RealMax: "Max",
    sympy.Min: "Min",
    RealMin: "Min",
    sympy.Heaviside: "Heaviside",
    Heaviside: "Heaviside",
    sympy.DiracDelta: "DiracDelta",
    DiracDelta: "DiracDelta",
    relu: "relu",
    step: "step",
    sigmoid: "sigmoid",
    softplus: "softplus",
    hypot: "hypot",
}


class _TorchCodePrinter(TorchPrinter):
    """Print every function as a call into :data:`TORCH_TRANSLATIONS`, constants as floats.

    The stock printer hard-codes ``torch.<name>`` (which fails on Python numbers), prints
    ``Max(0, x)`` as ``max(0, x)`` and ignores translation dictionaries for functions it knows.

    Every constant subexpression is printed as one float, evaluated by sympy to more digits
    than float64 holds. Evaluating it step by step in float64 instead can be wrong or worse:
    ``sin(atan(2**1000))`` is ``2**1000/sqrt(1 + 2**2000)``, whose denominator overflows, and
    substituting floats back into the sympy expression made sympy re-evaluate ``asin`` of a
    rounded 1.0000000000000002 into a complex number. The printed code therefore only does
    float64 arithmetic with at least one tensor operand, which never raises.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self._constant_nodes: dict[sympy.Basic, bool] = {}
        self._unfoldable = 0

    def _is_constant(self, expr: sympy.Basic) -> bool:
        """Whether ``expr`` has no free symbols; memoised, as printing asks for every node."""
        known = self._constant_nodes.get(expr)
        if known is None:
            if isinstance(expr, sympy.Symbol):
                known = False
            else:
                known = all(self._is_constant(arg) for arg in expr.args)
            self._constant_nodes[expr] = known
        return known

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, sympy.Expr) and not isinstance(expr, sympy.Symbol):
            if self._unfoldable:
                if isinstance(expr, (sympy.Number, sympy.NumberSymbol)):
                    return f"scalar({_float_literal(_float_of(expr))})"
            elif self._is_constant(expr) and not _is_small_integer(expr):
                return self._print_constant(expr)
        return super()._print(expr, **kwargs)

    def _print_constant(self, expr: sympy.Expr) -> str:
        value = _constant_value(expr)
        if value is not None:
            return _float_literal(value)
        # sympy cannot evaluate it: let torch, with 0-d float64 tensors for its numbers.
        self._unfoldable += 1
        try:
            return super()._print(expr)
        finally:
            self._unfoldable -= 1

    def _print_Function(self, expr: sympy.Basic) -> str:
        name = TORCH_NAMES.get(type(expr))
        if name is None:
            raise TypeError(f"no torch translation for {type(expr).__name__}")
        return f"{name}({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent == sympy.S.Half:
            return f"sqrt({self._print(base)})"
        return f"Pow({self._print(base)}, {self._print(exponent)})"


for _cls in TORCH_NAMES:
    setattr(_TorchCodePrinter, f"_print_{_cls.__name__}", _TorchCodePrinter._print_Function)
del _cls

# Digits sympy evaluates constants to before rounding them to float64 (which holds 15-17).
_CONSTANT_DIGITS = 20
# A constant is real when its imaginary part is below this fraction of its size. Rounding at a
# domain edge (asin of an exact 1 - 2**-2001 that rounded up to 1 + 2**-66) moves a value off
# the real line by about the square root of the working precision's unit, 1e-10 here.
_IMAGINARY_NOISE = 1e-6


def _is_small_integer(expr: sympy.Expr) -> bool:
    return isinstance(expr, sympy.Integer) and abs(int(expr)) <= MAX_EXACT_INT


def _float_of(number: sympy.Expr) -> float:
    """A sympy number as a float64: overflow gives ±inf, underflow 0, never an exception."""
    return float(sympy.Float(number, _CONSTANT_DIGITS))


def _float_literal(value: float) -> str:
    """Python source for ``value``; ``inf`` and ``nan`` are names in the lambdified namespace."""
    return repr(value) if math.isfinite(value) else str(value)


def _constant_value(expr: sympy.Expr) -> float | None:
    """The float64 value of a constant expression.

    NaN if it is not real, None if sympy cannot evaluate it numerically.
    """
    try:
        number = expr.evalf(_CONSTANT_DIGITS)
        real, imaginary = number.as_real_imag()
        if not (real.is_Number and imaginary.is_Number):
            return None
        value, noise = _float_of(real), _float_of(imaginary)
    except (RecursionError, MemoryError):
        raise
    except Exception:  # sympy's numeric evaluation fails in many ways; torch then takes over
        return None
    if math.isnan(value) or abs(noise) > _IMAGINARY_NOISE * abs(value):
        return math.nan
    return value


# Names the printed code uses besides TORCH_TRANSLATIONS.
_LAMBDIFY_NAMES: dict[str, Any] = {"inf": math.inf, "nan": math.nan, "scalar": _as_tensor}


def _check_exact_numbers(exprs: Sequence[sympy.Expr]) -> None:
    """Refuse exact numbers larger than the bit budget before anything converts them.

    Raises
    ------
    FormulaError
        If an exact number has more than ``MAX_BITS`` bits. The static guards bound the
        numbers the user typed, but sympy's automatic simplification of a derivative can
        still build larger ones, and converting those to floats took minutes (found by the
        property tests): refuse them here instead.

    """
    for expr in exprs:
        for number in expr.atoms(sympy.Rational):
            if max(abs(number.p).bit_length(), number.q.bit_length()) > MAX_BITS:
                raise FormulaError("number too large (in the formula or its derivative)")


def compile_torch(exprs: Sequence[sympy.Expr]) -> Callable[..., Any]:
    """Compile ``exprs`` in :data:`X` and :data:`Y` into one torch function ``f(x, y)``.

    ``f`` returns one value per expression: a tensor, or a float for a constant. Shared
    subexpressions are computed once, and constants are folded by sympy (see the printer).

    Raises
    ------
    FormulaError
        If an exact number in ``exprs`` is larger than the bit budget.

    """
    _check_exact_numbers(exprs)
    return sympy.lambdify(
        (X, Y),
        list(exprs),
        modules=[_LAMBDIFY_NAMES, TORCH_TRANSLATIONS, "torch"],
        printer=_TorchCodePrinter(
            {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": False}
        ),
        cse=True,
        docstring_limit=0,
    )
