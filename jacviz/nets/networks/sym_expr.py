"""Symbolic-shape expressions of torch.export programs, checked before sympy reads them.

A ``.pt2`` program stores its symbolic sizes as sympy ``srepr`` strings, which
``torch.export.load`` hands to ``sympy.sympify``, that is to ``eval``. :func:`is_safe_sym_expr`
parses such a string with :mod:`ast` and accepts only a small grammar of plain arithmetic, so
that nothing else is ever evaluated.
"""

from __future__ import annotations

import ast
import re

from jacviz.nets.networks.strict import is_int

__all__ = ["is_safe_sym_expr"]

# Symbolic-shape expressions (sympy srepr strings such as "Add(FloorDiv(Symbol('s77',
# positive=True, integer=True), Integer(2)), Integer(1))") are evaluated by sympy.sympify, i.e.
# eval(). Only this grammar passes: numbers, symbol names, arithmetic and comparisons, and calls
# of these sympy and torch.utils._sympy classes; powers only with small constant exponents.
_SYMPY_CALLS = {
    "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "Max", "Min", "Abs",
    "floor", "ceiling", "Mod", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality",
    "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan", "And", "Or", "Not",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt",
    "CeilDiv", "FloatTrueDiv", "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat",
    "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "PowByNatural",
}  # fmt: skip
_POWER_CALLS = {"Pow", "PowByNatural"}
_SYMPY_CONSTANTS = {"oo", "true", "false", "True", "False"}
_SYMBOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_SYMBOL_VALUE = re.compile(r"[a-z]+[0-9]+")  # s31, u0, zuf2: never a builtin or sympy function
_FLOAT_TEXT = re.compile(r"[-+]?[0-9]{1,30}(\.[0-9]{0,30})?([eE][-+]?[0-9]{1,3})?")
_SYMBOL_ASSUMPTIONS = {
    "integer", "positive", "negative", "nonnegative", "nonpositive", "real", "finite",
    "nonzero", "zero", "even", "odd", "commutative", "rational",
}  # fmt: skip
_SAFE_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr)
_SAFE_UNARYOPS = (ast.USub, ast.UAdd, ast.Not, ast.Invert)
_SAFE_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def is_safe_sym_expr(text: str) -> bool:
    """Whether ``text`` is plain arithmetic on symbols, safe to hand to ``sympy.sympify``."""
    if len(text) > 2000:
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    try:
        return _is_safe_sym_node(tree.body)
    except RecursionError:
        return False


def _is_safe_sym_node(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, bool):
            return True
        # Strings are only allowed where _is_safe_sym_call accepts them.
        return isinstance(value, (int, float)) and abs(value) <= 2**63
    if isinstance(node, ast.Name):
        return node.id in _SYMPY_CONSTANTS or _SYMBOL_VALUE.fullmatch(node.id) is not None
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, _SAFE_UNARYOPS) and _is_safe_sym_node(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _is_small_power(node.left, node.right)
        return (
            isinstance(node.op, _SAFE_BINOPS)
            and _is_safe_sym_node(node.left)
            and _is_safe_sym_node(node.right)
        )
    if isinstance(node, ast.BoolOp):
        return all(_is_safe_sym_node(value) for value in node.values)
    if isinstance(node, ast.Compare):
        return all(isinstance(op, _SAFE_COMPARISONS) for op in node.ops) and all(
            _is_safe_sym_node(part) for part in (node.left, *node.comparators)
        )
    if isinstance(node, ast.Call):
        return _is_safe_sym_call(node)
    return False


def _is_safe_sym_call(node: ast.Call) -> bool:
    if not isinstance(node.func, ast.Name) or node.func.id not in _SYMPY_CALLS:
        return False
    function, args, keywords = node.func.id, node.args, node.keywords
    if any(isinstance(arg, ast.Starred) for arg in args):
        return False
    if function == "Symbol":
        return (
            len(args) == 1
            and isinstance(args[0], ast.Constant)
            and isinstance(args[0].value, str)
            and _SYMBOL_NAME.fullmatch(args[0].value) is not None
            and all(
                keyword.arg in _SYMBOL_ASSUMPTIONS
                and isinstance(keyword.value, ast.Constant)
                and isinstance(keyword.value.value, bool)
                for keyword in keywords
            )
        )
    if function == "Float":  # srepr: Float('1.5', precision=53)
        if len(args) != 1 or any(
            keyword.arg != "precision"
            or not isinstance(keyword.value, ast.Constant)
            or not is_int(keyword.value.value)
            or not 1 <= keyword.value.value <= 1000
            for keyword in keywords
        ):
            return False
        value = args[0]
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return _FLOAT_TEXT.fullmatch(value.value) is not None
        return _is_safe_sym_node(value)
    if keywords:
        return False
    if function in _POWER_CALLS:
        return len(args) == 2 and _is_small_power(args[0], args[1])
    return all(_is_safe_sym_node(arg) for arg in args)


def _is_small_power(base: ast.AST, exponent: ast.AST) -> bool:
    """A power with a constant exponent of at most 16 and no power inside its base.

    Anything more would let a file make the deserializer compute numbers like 9**9**9.
    """
    if (
        isinstance(exponent, ast.Call)
        and isinstance(exponent.func, ast.Name)
        and exponent.func.id == "Integer"
        and len(exponent.args) == 1
        and not exponent.keywords
    ):
        exponent = exponent.args[0]
    if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub):
        exponent = exponent.operand
    if not (isinstance(exponent, ast.Constant) and is_int(exponent.value)):
        return False
    if abs(exponent.value) > 16 or not _is_safe_sym_node(base):
        return False
    for inner in ast.walk(base):
        if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Pow):
            return False
        if isinstance(inner, ast.Call) and getattr(inner.func, "id", None) in _POWER_CALLS:
            return False
    return True
