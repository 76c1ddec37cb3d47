"""From formula text to a :class:`~jacviz.math.formula.runtime.Formula`: :func:`parse_formula`.

Parsing runs the stages of the other modules in order, each refusing what it must with one
:class:`~jacviz.math.formula.limits.FormulaError` line: the syntax stage
(:mod:`~jacviz.math.formula.syntax`: the text guards and Python's own parser, no sympy), the
compiler to sympy (:mod:`~jacviz.math.formula.compiler`), a check that every output and
derivative is a real function the backends can evaluate, and the symbolic Jacobian. Text, tree
size and exact-number sizes are bounded before any heavy work, so a refusal comes quickly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from jacviz.math.formula.codegen import CODE_NAMES
from jacviz.math.formula.compiler import Compiler
from jacviz.math.formula.limits import MAX_JACOBIAN_NODES, FormulaError, shorten
from jacviz.math.formula.runtime import Formula
from jacviz.math.formula.symbolic import X, Y
from jacviz.math.formula.syntax import read_outputs

_UNDEFINED = (
    sympy.core.numbers.NaN,
    sympy.core.numbers.Infinity,
    sympy.core.numbers.NegativeInfinity,
    sympy.core.numbers.ComplexInfinity,
)
_ARITHMETIC = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Number, sympy.NumberSymbol)


def _problem(expr: sympy.Expr) -> str | None:
    """Why ``expr`` cannot be evaluated as a real function on arrays, or None if it can."""
    seen: set[sympy.Basic] = set()
    stack: list[sympy.Basic] = [expr]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, _UNDEFINED):
            return f"is undefined (it simplifies to {shorten(str(expr), 60)})"
        if isinstance(node, sympy.core.numbers.ImaginaryUnit):
            return f"is not real-valued (it simplifies to {shorten(str(expr), 60)})"
        if isinstance(node, (sympy.Derivative, sympy.Subs)):
            return "has no closed-form derivative"
        if isinstance(node, sympy.Symbol):
            if node not in (X, Y):
                return f"uses the unknown symbol {node}"
        elif not isinstance(node, _ARITHMETIC) and type(node) not in CODE_NAMES:
            return f"uses {type(node).__name__}, which cannot be evaluated"
        stack.extend(node.args)
    return None


def _count_nodes(exprs: Sequence[sympy.Expr], limit: int) -> int:
    count = 0
    for expr in exprs:
        for _ in sympy.preorder_traversal(expr):
            count += 1
            if count > limit:
                return count
    return count


def _parse(text: str) -> Formula:
    outputs = read_outputs(text)
    source, elements = outputs.source, outputs.elements
    compiler = Compiler(source)
    exprs = []
    for element in elements:
        expr = compiler.visit(element).expr
        problem = _problem(expr)
        if problem is not None:
            message = f"'{shorten(source.span(element), 40)}' {problem}"
            raise FormulaError(message, source.column(element))
        exprs.append(expr)

    rows = []
    for element, expr in zip(elements, exprs, strict=True):
        try:
            row = [sympy.diff(expr, X), sympy.diff(expr, Y)]
        except (RecursionError, MemoryError):
            raise
        except Exception:  # as in Compiler._symbolic: sympy failing is not the user's fault
            raise FormulaError(
                f"the derivative of '{shorten(source.span(element), 40)}' cannot be worked out "
                "symbolically",
                source.column(element),
            ) from None
        for entry in row:
            problem = _problem(entry)
            if problem is not None:
                raise FormulaError(
                    f"the derivative of '{shorten(source.span(element), 40)}' {problem}",
                    source.column(element),
                )
        rows.append(row)
    if _count_nodes([e for row in rows for e in row], MAX_JACOBIAN_NODES) > MAX_JACOBIAN_NODES:
        raise FormulaError("formula too complex (its Jacobian is too large)")

    return Formula(
        text=text,
        components=tuple(source.span(e) for e in elements),
        exprs=tuple(exprs),
        symbolic_jacobian=sympy.ImmutableMatrix(rows),
    )


def parse_formula(text: str) -> Formula:
    """Parse formula text such as ``"x**2 + y, x*y"`` into a :class:`Formula`.

    Outputs are separated by commas (1 to :data:`MAX_OUTPUTS` of them) and written in the
    variables ``x`` and ``y`` with numbers, ``+ - * / **`` (``^`` also means power), parentheses,
    the constants ``pi`` and ``e`` and the functions in :data:`FUNCTION_NAMES`. Nothing else of
    Python is accepted, and the text is never evaluated as code.

    Parameters
    ----------
    text : str
        The formula as typed.

    Returns
    -------
    Formula
        The parsed formula, with its symbolic Jacobian and compiled numpy functions.

    Raises
    ------
    FormulaError
        For anything that is not a well-formed formula, or whose numbers are too large to
        handle (``9**9**9**9``), with a message and, where possible, the 1-based column. This
        is the only exception raised for string input, and it comes quickly: text, tree size
        and exact-number sizes are bounded before any heavy work.
    TypeError
        If ``text`` is not a string.

    """
    if not isinstance(text, str):
        raise TypeError(f"formula text must be a str, got {type(text).__name__}")
    try:
        return _parse(text)
    except FormulaError:
        raise
    except RecursionError:
        raise FormulaError("formula too complex") from None
    except Exception as error:
        # Reaching this is a bug; the message says so, so tests can tell it apart.
        raise FormulaError(f"internal error: {type(error).__name__}: {error}") from error
