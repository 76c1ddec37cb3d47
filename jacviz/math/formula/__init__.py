"""Parse user formulas such as ``"x**2 + y, x*y"`` into sympy expressions and numpy functions.

The text a user types must never reach ``eval``, ``sympify`` or ``parse_expr``: all three
execute code. Instead the text goes through Python's own parser (``ast.parse``, which only
builds a tree), every node of the tree is checked against a small whitelist, and the sympy
expression is assembled node by node from sympy objects we construct ourselves. Characters to
which Python's tokenizer gives a meaning the reader cannot see (``#`` starts a comment,
full-width letters fold to ASCII, ``1_000`` and ``0x1f`` are numbers) are refused first.

Parsing must also never hang. Exact arithmetic makes innocent-looking text explosive
(``9**9**9**9`` asks for a number with 370 million digits), so before any sympy object is
built the parser bounds the size of the text and of its tree, folds constant subtrees in
floating point to refuse overflow, and tracks how large the exact numbers sympy would create
can get, also those that expanding an exponent would reveal (``3**(y - 10**8)`` is
``3**y / 3**(10**8)``). sympy also does work of its own while it builds and differentiates:
it asks whether a subexpression is positive or real and, to answer, splits arguments into
real and imaginary parts, which expands them completely. Formulas are real maps, so the
functions where that happened (sinh, cosh, tanh, and Heaviside and DiracDelta in derivatives)
are real-argument subclasses that answer from their arguments' own assumptions. Where sympy
fails outright on extreme input, a constant keeps its float value and anything else is
refused; every refusal is one :class:`FormulaError` line.

Evaluation goes through ``sympy.lambdify`` with our own printer and translation tables, because
lambdify's stock printers emit calls such as ``max(0, x)`` or ``torch.log(2)`` that fail on
arrays or on plain Python numbers. Constant subexpressions are evaluated once, by sympy, to more
digits than float64 holds, so accepted formulas evaluate to real floats (nan where not defined,
inf where too large) at any point. Formulas compute in float64 numpy; torch tensors get the
same code run by torch (for autograd), and torch is imported only then.

The modules, in the order a formula passes through them:

- :mod:`~jacviz.math.formula.limits`: the bounds and :class:`FormulaError`;
- :mod:`~jacviz.math.formula.source`: the text Python's parser sees, and columns back;
- :mod:`~jacviz.math.formula.guards`: the checks before and around Python's parser;
- :mod:`~jacviz.math.formula.syntax`: those two, text to one syntax tree per output (no sympy);
- :mod:`~jacviz.math.formula.language`: the names, functions and refused Python;
- :mod:`~jacviz.math.formula.compiler`: syntax tree to sympy, with the exact-number bounds;
- :mod:`~jacviz.math.formula.symbolic`: the variables and the real-valued sympy functions;
- :mod:`~jacviz.math.formula.codegen`: sympy to Python code over named functions;
- :mod:`~jacviz.math.formula.numpy_backend`: that code run by numpy (what maps use);
- :mod:`~jacviz.math.formula.torch_backend`: that code run by torch (imported on demand);
- :mod:`~jacviz.math.formula.runtime`: :class:`Formula`, evaluated on many points;
- :mod:`~jacviz.math.formula.parse`: :func:`parse_formula`, which runs them all.

Importing this package costs no sympy: :class:`FormulaError`, the bounds and
:func:`count_outputs` come from modules without it, and the names that need sympy
(:func:`parse_formula`, :class:`Formula`, :data:`X`, :data:`Y`, :data:`NAMES`,
:data:`FUNCTION_NAMES`; ``TORCH_TRANSLATIONS`` also imports torch) are imported when first
asked for. That keeps sympy (about a quarter of a second) off the app window's first paint.
"""

import importlib
from typing import Any

from jacviz.math.formula.limits import (
    MAX_DEPTH,
    MAX_MESSAGE_LENGTH,
    MAX_NODES,
    MAX_OUTPUTS,
    MAX_TEXT_LENGTH,
    FormulaError,
)
from jacviz.math.formula.syntax import count_outputs

__all__ = [
    "FUNCTION_NAMES",
    "MAX_DEPTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_NODES",
    "MAX_OUTPUTS",
    "MAX_TEXT_LENGTH",
    "NAMES",
    "Formula",
    "FormulaError",
    "X",
    "Y",
    "count_outputs",
    "parse_formula",
]

_LAZY = {
    "FUNCTION_NAMES": "language",
    "NAMES": "language",
    "Formula": "runtime",
    "parse_formula": "parse",
    "X": "symbolic",
    "Y": "symbolic",
    "TORCH_TRANSLATIONS": "torch_backend",
}
"""Names imported on first use (with sympy, and torch for the last), by their module."""


def __getattr__(name: str) -> Any:
    """The names of :data:`_LAZY`, imported from their module when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
