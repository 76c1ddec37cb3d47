"""The numpy backend of formulas: float64 arrays in, float64 arrays out, no torch.

Every map a formula defines computes here (:class:`~jacviz.math.maps.FormulaMap`): numpy's
per-call overhead is a microsecond where torch's is several, which is what a probe that
evaluates one point per mouse move feels, and jacviz starts without importing torch. The
printed code is the same as the torch backend's (:mod:`~jacviz.math.formula.codegen`); each
function below follows the torch backend's rules (:mod:`~jacviz.math.formula.torch_backend`),
so the two agree to float64 rounding:

- nan outside a function's domain (``log(-1)``, ``asin(2)``) and inf on overflow, never a
  warning or an exception (evaluation runs under ``numpy.errstate(all="ignore")``);
- nan in, nan out, also for ``sign``, ``Heaviside``, ``step`` and ``DiracDelta`` (whose
  derivatives would otherwise turn nan into 0);
- at kinks, the conventions of torch's autograd: relu'(0) = step(0) = 0, d/dz max(a, b) = 1/2
  at a tie (``Heaviside(0) = 1/2``), sign' = DiracDelta = 0;
- powers by ``numpy.power`` on float64, never Python's power of two numbers (which raises on
  overflow and turns ``(-8.0)**0.5`` complex), except the power -1/2, which torch computes as
  ``1 / sqrt`` (nan at -inf, as for any negative number, where C's ``pow`` gives 0).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy

from jacviz.math.formula.codegen import compile_formula


def _pow(base: Any, exponent: Any) -> Any:
    # torch raises to the power -1/2 (every 1/sqrt(...) of a derivative) as 1 / sqrt: nan at
    # -inf and -inf at -0.0, where C's pow gives +0 and +inf. Follow torch.
    if type(exponent) is float and exponent == -0.5:
        return 1.0 / np.sqrt(base)
    # Python's own power of two numbers raises or turns complex (-8.0 ** 0.5); numpy's does not.
    if not isinstance(base, np.ndarray) and not isinstance(exponent, np.ndarray):
        base = np.float64(base)
    return np.power(base, exponent)


def _max(*args: Any) -> Any:
    return functools.reduce(np.maximum, args)


def _min(*args: Any) -> Any:
    return functools.reduce(np.minimum, args)


def _heaviside(z: Any, at_zero: Any = 0.5) -> Any:
    return np.heaviside(z, at_zero)  # nan for nan, like the torch backend's


def _step(z: Any) -> Any:
    return np.heaviside(z, 0.0)


def _dirac_delta(z: Any, *_order: Any) -> Any:
    # Zero away from the origin: the Jacobian is meant almost everywhere, like autograd's.
    return np.where(np.isnan(z), z, 0.0)


def _relu(z: Any) -> Any:
    return np.maximum(z, 0.0)


def _sigmoid(z: Any) -> Any:
    # exp(-z) overflows to inf for z < -709, and 1 / inf is the right 0.
    return 1.0 / (1.0 + np.exp(np.negative(z)))


def _softplus(z: Any) -> Any:
    # Stable for any z and exact in its gradient, as in the torch backend.
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _cbrt(z: Any) -> Any:
    # The torch backend computes sign(z) * |z|**(1/3); numpy's cbrt is the same real cube root,
    # correctly rounded where that is within an ulp or two.
    return np.cbrt(z)


#: The numpy implementation of every name the printed code calls
#: (:data:`~jacviz.math.formula.codegen.BACKEND_NAMES`). Each accepts arrays and plain Python
#: numbers.
NUMPY_TRANSLATIONS: dict[str, Callable[..., Any]] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "atan2": np.arctan2,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "Pow": _pow,
    "cbrt": _cbrt,
    "Abs": np.abs,
    "sign": np.sign,
    "Max": _max,
    "Min": _min,
    "Heaviside": _heaviside,
    "DiracDelta": _dirac_delta,
    "relu": _relu,
    "step": _step,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "hypot": np.hypot,
    "scalar": np.float64,
}


def compile_numpy(exprs: Sequence[sympy.Expr]) -> Callable[[np.ndarray, np.ndarray], list[Any]]:
    """Compile ``exprs`` in x and y into one numpy function ``f(x, y)``.

    ``f`` takes float64 arrays of one shape and returns one value per expression: a float64
    array, or a number for a constant. It never warns or raises on nan, inf or overflow.

    Raises
    ------
    FormulaError
        If an exact number in ``exprs`` is larger than the bit budget.

    """
    code = compile_formula(exprs, NUMPY_TRANSLATIONS)

    def evaluate(x: np.ndarray, y: np.ndarray) -> list[Any]:
        with np.errstate(all="ignore"):
            return code(x, y)

    return evaluate
