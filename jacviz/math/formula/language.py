"""The formula language: its names, its functions and the Python it refuses.

A formula is written in the variables ``x`` and ``y``, the constants ``pi`` and ``e``, numbers,
``+ - * / **`` and the functions in :data:`FUNCTIONS`; nothing else of Python is accepted.
These tables say what each accepted piece builds (a sympy expression, and a float value for
constant subtrees) and why each refused piece of Python is refused, in the words the user sees.
The compiler (:mod:`jacviz.math.formula.compiler`) walks a parsed tree with them.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from jacviz.math.formula.symbolic import (
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
    tanh,
)

#: The variables by name.
VARIABLES: dict[str, sympy.Symbol] = {"x": X, "y": Y}
#: The constants by name: their exact sympy value and their float value.
CONSTANTS: dict[str, tuple[sympy.Expr, float]] = {
    "pi": (sympy.pi, math.pi),
    "e": (sympy.E, math.e),
}
#: Names a formula may use.
NAMES: tuple[str, ...] = ("x", "y", "pi", "e")


def _sigmoid_float(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    z = math.exp(v)
    return z / (1.0 + z)


def _softplus_float(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def _sign_float(v: float) -> float:
    return float((v > 0) - (v < 0))


@dataclass(frozen=True)
class FunctionSpec:
    """One callable function of the formula language.

    ``build`` makes its sympy expression from the arguments' expressions; ``fold`` computes
    its float value from constant arguments, so that overflow and domain errors are refused
    before sympy computes anything exactly.
    """

    min_args: int
    max_args: int | None  # None: no upper bound
    build: Callable[..., sympy.Expr]
    fold: Callable[..., float]


#: The functions a formula may call, by name.
FUNCTIONS: dict[str, FunctionSpec] = {
    "sin": FunctionSpec(1, 1, sympy.sin, math.sin),
    "cos": FunctionSpec(1, 1, sympy.cos, math.cos),
    "tan": FunctionSpec(1, 1, sympy.tan, math.tan),
    "asin": FunctionSpec(1, 1, sympy.asin, math.asin),
    "acos": FunctionSpec(1, 1, sympy.acos, math.acos),
    "atan": FunctionSpec(1, 1, sympy.atan, math.atan),
    "atan2": FunctionSpec(2, 2, sympy.atan2, math.atan2),
    "sinh": FunctionSpec(1, 1, sinh, math.sinh),
    "cosh": FunctionSpec(1, 1, cosh, math.cosh),
    "tanh": FunctionSpec(1, 1, tanh, math.tanh),
    "asinh": FunctionSpec(1, 1, sympy.asinh, math.asinh),
    "acosh": FunctionSpec(1, 1, sympy.acosh, math.acosh),
    "atanh": FunctionSpec(1, 1, sympy.atanh, math.atanh),
    "exp": FunctionSpec(1, 1, sympy.exp, math.exp),
    "log": FunctionSpec(1, 1, sympy.log, math.log),
    "log2": FunctionSpec(1, 1, lambda z: sympy.log(z) / sympy.log(2), math.log2),
    "log10": FunctionSpec(1, 1, lambda z: sympy.log(z) / sympy.log(10), math.log10),
    "sqrt": FunctionSpec(1, 1, sympy.sqrt, math.sqrt),
    "cbrt": FunctionSpec(1, 1, cbrt, lambda v: math.copysign(abs(v) ** (1.0 / 3.0), v)),
    "abs": FunctionSpec(1, 1, RealAbs, abs),
    "sign": FunctionSpec(1, 1, RealSign, _sign_float),
    "min": FunctionSpec(2, None, RealMin, min),
    "max": FunctionSpec(2, None, RealMax, max),
    "relu": FunctionSpec(1, 1, relu, lambda v: max(v, 0.0)),
    "sigmoid": FunctionSpec(1, 1, sigmoid, _sigmoid_float),
    "softplus": FunctionSpec(1, 1, softplus, _softplus_float),
    "hypot": FunctionSpec(2, 2, hypot, math.hypot),
}
#: Functions a formula may call.
FUNCTION_NAMES: tuple[str, ...] = tuple(FUNCTIONS)

#: Why a node is refused, for node types that are not part of the language at all.
REFUSED: dict[type, str] = {
    ast.Attribute: "'.' (attribute access) is not allowed",
    ast.Subscript: "'[...]' (indexing) is not allowed",
    ast.Lambda: "'lambda' is not allowed",
    ast.IfExp: "'if ... else' is not allowed",
    ast.NamedExpr: "':=' (assignment) is not allowed",
    ast.List: "lists '[...]' are not allowed",
    ast.Tuple: "a tuple is only allowed at the top level, to separate outputs",
    ast.Set: "sets '{...}' are not allowed",
    ast.Dict: "dicts '{...}' are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.FormattedValue: "strings are not allowed",
    ast.Starred: "'*' (unpacking) is not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Slice: "slices are not allowed",
}

#: Python's binary operators that are not part of the language, as the user reads them.
BINARY_OPERATORS: dict[type, str] = {
    ast.FloorDiv: "'//' (floor division)",
    ast.Mod: "'%' (modulo)",
    ast.MatMult: "'@' (matrix product)",
    ast.LShift: "'<<' (shift)",
    ast.RShift: "'>>' (shift)",
    ast.BitOr: "'|' (bitwise or)",
    ast.BitAnd: "'&' (bitwise and)",
    ast.BitXor: "'^' (bitwise xor)",
}

#: Comparison operators (all refused), as the user typed them.
COMPARISONS: dict[type, str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}

#: The arithmetic operators of the language and the sympy operation each builds.
ARITHMETIC_OPERATIONS: dict[type, Callable[[Any, Any], sympy.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
#: The logarithms, whose arguments' exact numbers sympy may raise to powers.
LOGARITHMS = ("log", "log2", "log10")
#: A number as a person writes it: decimal digits, an optional point, an optional exponent.
DECIMAL = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
