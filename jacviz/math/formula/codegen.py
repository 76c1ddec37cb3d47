"""Python code for parsed formulas: sympy expressions printed once, run by numpy or torch.

Evaluation goes through ``sympy.lambdify`` with our own printer, because the stock printers
emit calls such as ``max(0, x)`` or ``torch.log(2)`` that fail on arrays or on plain Python
numbers. The printer writes every function as a call to a name of :data:`CODE_NAMES` and
leaves arithmetic to Python's operators, so one printed text serves both backends: a backend
is only the table the names are looked up in (:mod:`~jacviz.math.formula.numpy_backend`,
float64 numpy, used by every map; :mod:`~jacviz.math.formula.torch_backend`, for callers that
need tensors or autograd). Identical code with identical rules per function is what makes the
two agree to float64 rounding.

Constant subexpressions are evaluated once, by sympy, to more digits than float64 holds, so
accepted formulas evaluate to real floats (nan where not defined, inf where too large) at any
point. :func:`compile_formula` is the entry point; it imports neither numpy nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy
from sympy.printing.pycode import AbstractPythonCodePrinter

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

#: sympy class -> the name the printed code calls it by: every function a formula (or its
#: derivative) can hold. A backend supplies one implementation per name, plus ``Pow`` and
#: ``scalar`` (a number as the backend's 0-d float64, for constants sympy cannot evaluate).
CODE_NAMES: dict[type, str] = {
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

#: Every name a backend's translation table must define: the functions, ``Pow`` and ``sqrt``
#: (both also printed for powers) and ``scalar``.
BACKEND_NAMES: frozenset[str] = frozenset({*CODE_NAMES.values(), "Pow", "sqrt", "scalar"})


class FormulaPrinter(AbstractPythonCodePrinter):
    """Print every function as a call to its :data:`CODE_NAMES` name, constants as floats.

    Every constant subexpression is printed as one float, evaluated by sympy to more digits
    than float64 holds. Evaluating it step by step in float64 instead can be wrong or worse:
    ``sin(atan(2**1000))`` is ``2**1000/sqrt(1 + 2**2000)``, whose denominator overflows, and
    substituting floats back into the sympy expression made sympy re-evaluate ``asin`` of a
    rounded 1.0000000000000002 into a complex number. The printed code therefore only does
    float64 arithmetic with at least one array operand (or a backend ``scalar``), which never
    raises.
    """

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(
            {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": False}
            | (settings or {})
        )
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
        # sympy cannot evaluate it: the backend does, with 0-d float64 scalars for its numbers.
        self._unfoldable += 1
        try:
            return super()._print(expr)
        finally:
            self._unfoldable -= 1

    def _print_Function(self, expr: sympy.Basic) -> str:
        name = CODE_NAMES.get(type(expr))
        if name is None:
            raise TypeError(f"no translation for {type(expr).__name__}")
        return f"{name}({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent == sympy.S.Half:
            return f"sqrt({self._print(base)})"
        return f"Pow({self._print(base)}, {self._print(exponent)})"


for _cls in CODE_NAMES:
    setattr(FormulaPrinter, f"_print_{_cls.__name__}", FormulaPrinter._print_Function)
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
    except Exception:  # sympy's numeric evaluation fails in many ways; the backend takes over
        return None
    if math.isnan(value) or abs(noise) > _IMAGINARY_NOISE * abs(value):
        return math.nan
    return value


def check_exact_numbers(exprs: Sequence[sympy.Expr]) -> None:
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


def compile_formula(
    exprs: Sequence[sympy.Expr], translations: Mapping[str, Callable[..., Any]]
) -> Callable[..., Any]:
    """Compile ``exprs`` in :data:`X` and :data:`Y` into one function ``f(x, y)``.

    ``f`` returns a list with one value per expression, computed by the functions of
    ``translations`` (one per name of :data:`BACKEND_NAMES`): an array of the backend, or a
    float for a constant. Shared subexpressions are computed once (sympy's cse), and constants
    are folded by sympy (see :class:`FormulaPrinter`).

    Raises
    ------
    FormulaError
        If an exact number in ``exprs`` is larger than the bit budget.
    ValueError
        If ``translations`` lacks a name the code could call.

    """
    missing = BACKEND_NAMES - set(translations)
    if missing:
        raise ValueError(f"translations lack {sorted(missing)}")
    check_exact_numbers(exprs)
    namespace = {"inf": math.inf, "nan": math.nan, **translations}
    return sympy.lambdify(
        (X, Y),
        list(exprs),
        modules=[namespace],
        printer=FormulaPrinter(),
        cse=True,
        docstring_limit=0,
    )
