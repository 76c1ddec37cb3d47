"""The compiler from a checked Python syntax tree to sympy expressions.

The text a user types must never reach ``eval``, ``sympify`` or ``parse_expr``: all three
execute code. Instead the tree Python's parser built is walked node by node against the
whitelist in :mod:`~jacviz.math.formula.language`, and the sympy expression is assembled from
sympy objects constructed here.

Exact arithmetic makes innocent-looking text explosive (``9**9**9**9`` asks for a number with
370 million digits), so before any sympy object is built the compiler folds constant subtrees
in floating point to refuse overflow, and tracks how large the exact numbers sympy would create
can get, also those that expanding an exponent would reveal (``3**(y - 10**8)`` is
``3**y / 3**(10**8)``). Where sympy fails outright on extreme input, a constant keeps its float
value and anything else is refused; every refusal is one
:class:`~jacviz.math.formula.limits.FormulaError` line.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from jacviz.math.formula.guards import CHAIN_GROUPS
from jacviz.math.formula.language import (
    ARITHMETIC_OPERATIONS,
    BINARY_OPERATORS,
    COMPARISONS,
    CONSTANTS,
    DECIMAL,
    FUNCTIONS,
    LOGARITHMS,
    REFUSED,
    VARIABLES,
    FunctionSpec,
)
from jacviz.math.formula.limits import (
    MAX_BITS,
    MAX_EXACT_INT,
    MAX_ROOT_BITS,
    MAX_ROOT_DEGREE,
    FormulaError,
    shorten,
)
from jacviz.math.formula.source import Source

_ROOT_TOO_DEEP = (
    f"fractional power too fine for exact arithmetic (a denominator above {MAX_ROOT_DEGREE}); "
    "write the exponent as a decimal"
)
# Functions that take roots of their arguments.
_ROOTS = ("sqrt", "cbrt")


@dataclass(frozen=True)
class _Value:
    """A compiled subtree.

    ``value`` is its float value when the subtree is constant, for overflow and domain checks
    before sympy computes anything exactly. ``bits`` bounds the size of exact rationals sympy
    may build for it: powers of exact numbers grow that size multiplicatively.

    ``spread`` bounds, in bits, the exact coefficients and constant terms that *expanding* the
    subtree can produce. sympy expands while it simplifies (to decide a sign, say), so an
    exponent ``(y + 10)**8`` can turn into one with the constant term 10**8, and
    ``3**((y + 10)**8)`` into a product with the exact 3**(10**8). ``log_bits`` is the size of
    the exact numbers inside logarithms, because sympy turns ``exp(c*log(n))`` into ``n**c``.
    """

    expr: sympy.Expr
    value: float | None
    bits: int
    spread: float = 0.0
    log_bits: float = 0.0


class Compiler:
    """Walk a parsed formula with a strict whitelist and build sympy expressions."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def fail(self, message: str, node: ast.AST) -> FormulaError:
        """A refusal with ``message`` at the column where ``node`` starts, to be raised."""
        return FormulaError(message, self.source.column(node))

    def visit(self, node: ast.AST) -> _Value:
        """Compile the subtree ``node``; its sympy expression is the result's ``expr``.

        Raises
        ------
        FormulaError
            For anything outside the language, or numbers beyond the bounds in
            :mod:`~jacviz.math.formula.limits`.

        """
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise self._refusal(node)

    def _refusal(self, node: ast.AST) -> FormulaError:
        source = self.source
        if isinstance(node, ast.Attribute):
            return FormulaError(REFUSED[ast.Attribute], source.next_token_column(node.value, node))
        if isinstance(node, ast.Subscript):
            return FormulaError(REFUSED[ast.Subscript], source.next_token_column(node.value, node))
        if isinstance(node, ast.Compare):
            symbol = COMPARISONS.get(type(node.ops[0]), "?")
            column = source.next_token_column(node.left, node)
            return FormulaError(f"comparisons ('{symbol}') are not allowed", column)
        if isinstance(node, ast.BoolOp):
            word = "and" if isinstance(node.op, ast.And) else "or"
            column = source.next_token_column(node.values[0], node)
            return FormulaError(f"'{word}' is not allowed", column)
        if isinstance(node, ast.IfExp):
            return FormulaError(REFUSED[ast.IfExp], source.next_token_column(node.body, node))
        message = REFUSED.get(type(node), f"'{type(node).__name__}' is not allowed")
        return self.fail(message, node)

    def _constant(self, node: ast.Constant) -> _Value:
        value = node.value
        if isinstance(value, bool):
            raise self.fail(f"'{value}' is not allowed (only numbers)", node)
        if isinstance(value, (int, float)):
            # Python also reads 1_000, 0x1f, 0o17 and 0b11 as numbers; a formula is math, and
            # a number means what its plain decimal digits say.
            spelling = self.source.span(node)
            if not re.fullmatch(DECIMAL, spelling):
                message = f"invalid number '{shorten(spelling)}' (write plain decimals such as"
                raise self.fail(f"{message} 10 or 1.5e3)", node)
        if isinstance(value, int):
            try:
                as_float = float(value)
            except OverflowError:
                raise self.fail("number too large", node) from None
            bits = _int_bits(value)
            return _Value(sympy.Integer(value), as_float, bits, float(bits))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail("number too large", node)
            if value.is_integer() and abs(value) < MAX_EXACT_INT:
                # 2.0 means 2: x**2.0 then differentiates to 2*x, not 2.0*x**1.0.
                bits = _int_bits(int(value))
                return _Value(sympy.Integer(int(value)), value, bits, float(bits))
            return _Value(sympy.Float(value), value, 0)
        if isinstance(value, complex):
            raise self.fail("complex numbers are not allowed", node)
        if isinstance(value, (str, bytes)):
            raise self.fail("strings are not allowed", node)
        raise self.fail(f"'{value!r}' is not allowed", node)

    def _name(self, node: ast.Name) -> _Value:
        name = node.id
        if name in VARIABLES:
            return _Value(VARIABLES[name], None, 0)
        if name in CONSTANTS:
            expr, value = CONSTANTS[name]
            return _Value(expr, value, 0)
        if name in FUNCTIONS:
            raise self.fail(f"'{name}' is a function; call it like {name}(x)", node)
        hint = ""
        if name.lower() in VARIABLES or name.lower() in CONSTANTS:
            hint = f" (did you mean '{name.lower()}'?)"
        raise self.fail(f"unknown name '{shorten(name)}'{hint}", node)

    def _unary(self, node: ast.UnaryOp) -> _Value:
        if isinstance(node.op, ast.Not):
            raise self.fail("'not' is not allowed", node)
        if isinstance(node.op, ast.Invert):
            raise self.fail("'~' (bitwise not) is not allowed", node)
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        value = None if operand.value is None else -operand.value
        expr = self._symbolic(lambda: -operand.expr, node, value)
        return _Value(expr, value, operand.bits, operand.spread, operand.log_bits)

    def _binop(self, node: ast.BinOp) -> _Value:
        # Compile left-nested chains such as a + b - c + d iteratively: a long sum must not
        # cost one Python stack frame per term.
        chain = [node]
        group = CHAIN_GROUPS.get(type(node.op))
        while group is not None:
            left = chain[-1].left
            if not isinstance(left, ast.BinOp) or CHAIN_GROUPS.get(type(left.op)) != group:
                break
            chain.append(left)
        result = self.visit(chain[-1].left)
        for link in reversed(chain):
            column = self.source.next_token_column(link.left, link)
            if type(link.op) in BINARY_OPERATORS:
                raise FormulaError(f"{BINARY_OPERATORS[type(link.op)]} is not allowed", column)
            right = self.visit(link.right)
            result = self._combine(link, result, right, column)
        return result

    def _symbolic(
        self, build: Callable[[], sympy.Expr], node: ast.AST, value: float | None
    ) -> sympy.Expr:
        """Build one sympy expression; sympy's own failures become a float or one clear line.

        sympy simplifies as it builds, and on extreme input that simplification can itself
        fail: for ``asin(sin(2**1000))`` it asks whether 2**1000 - k*pi > pi, cannot decide,
        and raises a TypeError (which its cache then turns into an AttributeError). A constant
        subtree keeps its float value, already checked to be finite; anything else is refused.
        """
        try:
            return build()
        except (RecursionError, MemoryError):
            raise
        except Exception:  # sympy raises many types here, and none is the user's fault
            if value is not None:
                return sympy.Float(value)
            what = shorten(self.source.span(node), 40)
            raise self.fail(f"'{what}' cannot be worked out symbolically", node) from None

    def _combine(self, node: ast.BinOp, a: _Value, b: _Value, column: int | None) -> _Value:
        op = node.op
        if isinstance(op, ast.Pow):
            return self._power(node, a, b, column)
        constant = a.value is not None and b.value is not None
        if isinstance(op, (ast.Add, ast.Sub)):
            bits = max(a.bits, b.bits) + 1
            # p1/q1 + p2/q2 = (p1*q2 + p2*q1)/(q1*q2)
            spread = a.spread + b.spread + 1
        else:
            bits = a.bits + b.bits
            spread = a.spread + b.spread
        if bits > MAX_BITS:
            raise FormulaError("number too large", column)
        if isinstance(op, ast.Div) and (b.value == 0 or b.expr.is_zero):
            raise FormulaError("division by zero", column)
        value = None
        if constant:
            assert a.value is not None and b.value is not None
            if isinstance(op, ast.Add):
                value = a.value + b.value
            elif isinstance(op, ast.Sub):
                value = a.value - b.value
            elif isinstance(op, ast.Mult):
                value = a.value * b.value
            else:
                value = a.value / b.value
            if not math.isfinite(value):
                raise FormulaError("number too large", column)
        operation = ARITHMETIC_OPERATIONS.get(type(op))
        if operation is None:  # unreachable: _binop refuses every other operator first
            raise FormulaError(f"operator {type(op).__name__} is not allowed", column)
        expr = self._symbolic(lambda: operation(a.expr, b.expr), node, value)
        return _Value(expr, value, bits, spread, max(a.log_bits, b.log_bits))

    def _power(self, node: ast.AST, base: _Value, exponent: _Value, column: int | None) -> _Value:
        value = None
        if base.value is not None and exponent.value is not None:
            if base.value == 0 and exponent.value < 0:
                raise FormulaError("division by zero (0 to a negative power)", column)
            try:
                value = math.pow(base.value, exponent.value)
            except OverflowError:
                raise FormulaError("number too large", column) from None
            except ValueError:
                raise FormulaError(
                    "a negative number to a fractional power is not a real number", column
                ) from None
            if not math.isfinite(value):
                raise FormulaError("number too large", column)
        if base.expr.is_zero and exponent.expr.is_extended_negative:
            raise FormulaError("division by zero (0 to a negative power)", column)
        # sympy raises exact numbers, products (coefficients) and powers (exponents multiply)
        # to exact rational exponents, and the coefficients of sums too when it splits them
        # into numerator and denominator or expands them: (x*y + 1/3**90)**158 has the
        # denominator 3**14220.
        size = exponent.log_bits if base.expr is sympy.E else max(float(base.bits), base.spread)
        if exponent.expr.is_Rational and size > 0:
            factor = max(1.0, abs(exponent.value if exponent.value is not None else math.inf))
            estimate = size * factor + exponent.bits
        else:
            estimate = base.bits + exponent.bits
        if estimate > MAX_BITS:
            tiny = value is not None and abs(value) < 1
            raise FormulaError("number too small" if tiny else "number too large", column)
        spread = _exact_power_spread(size, exponent, column)
        root = exponent.expr.is_Rational and not exponent.expr.is_Integer and size > 0
        if root and exponent.expr.q > MAX_ROOT_DEGREE:
            raise FormulaError(_ROOT_TOO_DEEP, column)
        radicand = _root_base(base) if root else base.expr
        expr = self._symbolic(lambda: radicand**exponent.expr, node, value)
        if root and _root_degree(expr) > MAX_ROOT_DEGREE:  # roots of roots multiply
            raise FormulaError(_ROOT_TOO_DEEP, column)
        log_bits = max(base.log_bits, exponent.log_bits)
        return _Value(expr, value, int(estimate), spread, log_bits)

    def _call(self, node: ast.Call) -> _Value:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise self._refusal(func)
        if not isinstance(func, ast.Name):
            raise self.fail("only named functions such as sin(...) can be called", node)
        name = func.id
        spec = FUNCTIONS.get(name)
        if spec is None:
            if name in VARIABLES or name in CONSTANTS:
                message = f"'{name}' is not a function (write {name}*(...) to multiply)"
                raise self.fail(message, node)
            hint = f" (did you mean '{name.lower()}'?)" if name.lower() in FUNCTIONS else ""
            raise self.fail(f"unknown function '{shorten(name)}'{hint}", node)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.fail("'**' (unpacking) is not allowed", keyword)
            message = f"keyword arguments ('{shorten(keyword.arg)}=') are not allowed"
            raise self.fail(message, keyword)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(REFUSED[ast.Starred], arg)
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            raise self.fail(_arity_message(name, spec, count), node)
        args = [self.visit(arg) for arg in node.args]
        value = None
        if all(a.value is not None for a in args):
            floats = [a.value for a in args]
            try:
                value = spec.fold(*floats)
            except OverflowError:
                raise self.fail("number too large", node) from None
            except (ValueError, ZeroDivisionError):
                shown = ", ".join(_float_text(v) for v in floats if v is not None)
                raise self.fail(f"{name}({shown}) is not defined", node) from None
            if not math.isfinite(value):
                raise self.fail("number too large", node)
        spread = max(a.spread for a in args)
        log_bits = max(a.log_bits for a in args)
        if name == "exp":
            # exp(c*log(n)) is n**c: the same bound as for a power of n.
            spread = _exact_power_spread(log_bits, args[0], self.source.column(node))
        elif name in LOGARITHMS:
            log_bits = max(log_bits, args[0].bits, args[0].spread)
        exprs = [a.expr for a in args]
        if name in _ROOTS:
            exprs = [_root_base(a) for a in args]
        expr = self._symbolic(lambda: spec.build(*exprs), node, value)
        return _Value(expr, value, sum(a.bits for a in args), spread, log_bits)


def _root_base(base: _Value) -> sympy.Expr:
    """What to take a root of: the exact number, unless it is too large for sympy to try.

    sympy looks for exact roots of a constant (sqrt(8) = 2*sqrt(2)) with primality tests that
    take a fifth of a second on a 3600-bit rational, which the bit budget allows; a formula
    can hold dozens. Past MAX_ROOT_BITS the root is taken of the float value instead, which
    is what evaluation in float64 needs.
    """
    if base.value is not None and max(float(base.bits), base.spread) > MAX_ROOT_BITS:
        return sympy.Float(base.value)
    return base.expr


def _root_degree(expr: sympy.Expr) -> int:
    """The largest q of an exact number raised to a fraction p/q in ``expr`` (1 if none)."""
    degrees = [
        power.exp.q
        for power in expr.atoms(sympy.Pow)
        if power.exp.is_Rational and power.base.is_number
    ]
    return max(degrees, default=1)


def _exact_power_spread(size: float, exponent: _Value, column: int | None) -> float:
    """The ``spread`` of a power whose base holds exact numbers of ``size`` bits.

    An exact rational exponent is bounded where the power is built. Any other exponent can
    expand to one with a constant term of up to ``2**exponent.spread``, and sympy then raises
    the base to that term exactly: refuse when that number would exceed the bit budget.

    Raises
    ------
    FormulaError
        "number too large", at ``column``.

    """
    if size <= 0:
        return 0.0
    if exponent.expr.is_Rational:
        power = math.ceil(abs(exponent.value)) if exponent.value is not None else math.inf
        return size * max(power, 1)
    if math.log2(size) + exponent.spread > math.log2(MAX_BITS):
        raise FormulaError("number too large", column)
    return size * 2.0**exponent.spread


def _float_text(value: float) -> str:
    """Six significant digits, or every digit when those would hide why a value is refused.

    acos of a sum that is 1 exactly can round to 1.0000000000000004 in float64, outside acos's
    domain; "acos(1) is not defined" would be a puzzle.
    """
    short = f"{value:.6g}"
    return short if float(short) == value else repr(value)


def _arity_message(name: str, spec: FunctionSpec, count: int) -> str:
    if spec.max_args is None:
        return f"{name} takes at least {spec.min_args} arguments, got {count}"
    plural = "argument" if spec.min_args == 1 else "arguments"
    return f"{name} takes {spec.min_args} {plural}, got {count}"


def _int_bits(n: int) -> int:
    """Size of an exact integer for the cost bound; 0 and ±1 cost nothing when raised to powers."""
    n = abs(n)
    return 0 if n <= 1 else n.bit_length()
