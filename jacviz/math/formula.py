"""Parse user formulas such as ``"x**2 + y, x*y"`` into sympy expressions and torch functions.

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

Evaluation goes through ``sympy.lambdify`` with our own printer and translation table, because
lambdify's stock torch printing emits calls such as ``max(0, x)`` or ``torch.log(2)`` that fail
on tensors or on plain Python numbers. Constant subexpressions are evaluated once, by sympy,
to more digits than float64 holds, so accepted formulas evaluate to real floats (nan where not
defined, inf where too large) at any point.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from sympy.core.logic import fuzzy_and
from sympy.printing.pytorch import TorchPrinter

__all__ = [
    "FUNCTION_NAMES",
    "MAX_DEPTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_NODES",
    "MAX_OUTPUTS",
    "MAX_TEXT_LENGTH",
    "NAMES",
    "TORCH_TRANSLATIONS",
    "Formula",
    "FormulaError",
    "X",
    "Y",
    "parse_formula",
]

X, Y = sympy.symbols("x y", real=True)

#: Longest formula text accepted, in characters.
MAX_TEXT_LENGTH = 2000
#: Most expression nodes (numbers, names, operators, calls) in one formula.
MAX_NODES = 256
#: Deepest nesting of operations or brackets. Chains of ``+``/``-`` or ``*``/``/`` count once.
MAX_DEPTH = 32
#: Most comma-separated outputs.
MAX_OUTPUTS = 8
#: Longest :class:`FormulaError` message, in characters (without " at column N").
MAX_MESSAGE_LENGTH = 160

# Bound on the size, in bits, of any exact rational sympy may be asked to build. It keeps
# exact powers cheap and every integer printable (Python refuses to print ints of more than
# 4300 digits, about 14000 bits).
_MAX_BITS = 4096
# Bound on the total number of sympy nodes in the symbolic Jacobian, a last guard that keeps
# printing and compiling it quick.
_MAX_JACOBIAN_NODES = 20000
# Largest q in an exact number raised to a fraction p/q. Such a number is algebraic of degree
# q, and sympy decides the sign of one it cannot tell from 0 numerically through its minimal
# polynomial, of degree q: acos((3**35)**(10**-976)), within 1e-975 of acos(1), never finished.
_MAX_ROOT_DEGREE = 4096
_ROOT_TOO_DEEP = (
    f"fractional power too fine for exact arithmetic (a denominator above {_MAX_ROOT_DEGREE}); "
    "write the exponent as a decimal"
)
# Exact numbers with more bits than this are rooted as floats (see _root_base).
_MAX_ROOT_BITS = 1024
# Functions that take roots of their arguments.
_ROOTS = ("sqrt", "cbrt")
# Integers beyond this are handed to torch as floats: torch cannot take them as scalars.
_MAX_EXACT_INT = 2**53


class FormulaError(ValueError):
    """A formula text that cannot be accepted, with a message meant for the user.

    Parameters
    ----------
    message : str
        What is wrong, e.g. ``"unknown name 'z'"``.
    column : int or None
        1-based column in the user's text of the offending token, or None when the problem is
        not tied to one place (e.g. ``"empty formula"``).

    Notes
    -----
    ``str(error)`` is ``f"{message} at column {column}"``, or just the message without a column.
    The message is always one line of at most :data:`MAX_MESSAGE_LENGTH` characters: messages
    quote the user's text only in short pieces, and this backs that up for any message that
    passes on words from elsewhere (Python's parser, sympy).

    """

    def __init__(self, message: str, column: int | None = None) -> None:
        message = _shorten(" ".join(str(message).split()), MAX_MESSAGE_LENGTH)
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"{message} at column {column}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep message and column apart when pickled (e.g. sent back from a worker process).
        return (type(self), (self.message, self.column))


# ---------------------------------------------------------------------------------------------
# Custom sympy functions. They carry their own derivatives (``fdiff``) so that the symbolic
# Jacobian displays compactly, e.g. d/dz softplus(z) = sigmoid(z), and they are declared real:
# formulas here are real-valued maps, and points where a value is not real evaluate to nan.
# ---------------------------------------------------------------------------------------------


class _RealFunction(sympy.Function):
    """Base of the custom functions: real-valued, and numerically evaluable by sympy.

    ``evalf`` support matters beyond printing numbers: sympy decides the sign of a constant
    such as ``hypot(e, 2)`` by evaluating it, and without a sign it rewrites e.g.
    ``atan2(1, hypot(e, 2))`` into complex logarithms.
    """

    is_extended_real = True

    def _elementary(self) -> sympy.Expr:
        """The same function in sympy's built-in functions, used for numeric evaluation."""
        raise NotImplementedError

    def _eval_evalf(self, prec: int) -> sympy.Expr | None:
        return self._elementary()._evalf(prec)

    def _eval_is_finite(self) -> bool | None:
        # Each of these maps finite reals to finite reals.
        return fuzzy_and(arg.is_finite for arg in self.args)


class step(_RealFunction):
    """Unit step: 1 for z > 0 and 0 for z <= 0; the derivative of :class:`relu`.

    The value 0 at z = 0 matches the gradient torch gives ``torch.relu`` at 0, so the closed-form
    Jacobian and autograd agree everywhere.
    """

    nargs = 1
    is_extended_nonnegative = True

    @classmethod
    def eval(cls, z: sympy.Expr) -> sympy.Expr | None:
        """Evaluate when the sign of ``z`` is known."""
        if z.is_extended_positive:
            return sympy.S.One
        if z.is_extended_nonpositive:
            return sympy.S.Zero
        return None

    def _elementary(self) -> sympy.Expr:
        return sympy.Heaviside(self.args[0], 0)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz step(z), a Dirac delta (zero away from 0)."""
        return DiracDelta(self.args[0])


class relu(_RealFunction):
    """Rectified linear unit, max(z, 0); its derivative is :class:`step`."""

    nargs = 1
    is_extended_nonnegative = True

    @classmethod
    def eval(cls, z: sympy.Expr) -> sympy.Expr | None:
        """Evaluate when the sign of ``z`` is known."""
        if z.is_extended_nonnegative:
            return z
        if z.is_extended_nonpositive:
            return sympy.S.Zero
        return None

    def _elementary(self) -> sympy.Expr:
        return sympy.Max(self.args[0], 0)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz relu(z) = step(z)."""
        return step(self.args[0])


class sigmoid(_RealFunction):
    """Logistic function 1/(1 + exp(-z)), with derivative sigmoid(z)*(1 - sigmoid(z))."""

    nargs = 1
    is_extended_nonnegative = True

    @classmethod
    def eval(cls, z: sympy.Expr) -> sympy.Expr | None:
        """Evaluate at 0."""
        if z.is_zero:
            return sympy.S.Half
        return None

    def _elementary(self) -> sympy.Expr:
        return 1 / (1 + sympy.exp(-self.args[0]))

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz sigmoid(z) = sigmoid(z)*(1 - sigmoid(z))."""
        return self * (1 - self)


class softplus(_RealFunction):
    """Smooth ReLU log(1 + exp(z)), whose derivative is :class:`sigmoid`."""

    nargs = 1
    is_extended_nonnegative = True

    @classmethod
    def eval(cls, z: sympy.Expr) -> sympy.Expr | None:
        """Evaluate at 0."""
        if z.is_zero:
            return sympy.log(2)
        return None

    def _elementary(self) -> sympy.Expr:
        return sympy.log(1 + sympy.exp(self.args[0]))

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz softplus(z) = sigmoid(z)."""
        return sigmoid(self.args[0])


class cbrt(_RealFunction):
    """Real cube root: cbrt(-8) = -2 (sympy's ``x**(1/3)`` is complex for negative x)."""

    nargs = 1

    @classmethod
    def eval(cls, z: sympy.Expr) -> sympy.Expr | None:
        """Take exact roots of perfect cubes and pull out minus signs."""
        if z.is_zero:
            return sympy.S.Zero
        if z.is_Rational:
            p, p_exact = sympy.integer_nthroot(abs(int(z.p)), 3)
            q, q_exact = sympy.integer_nthroot(int(z.q), 3)
            if p_exact and q_exact:
                return sympy.sign(z) * sympy.Rational(p, q)
        if z.could_extract_minus_sign():
            return -cls(-z)
        return None

    def _elementary(self) -> sympy.Expr:
        # Unevaluated: sympy would look for an exact cube root of a constant argument, with
        # primality tests that take seconds on the large exact numbers the parser allows.
        magnitude = sympy.Pow(sympy.Abs(self.args[0]), sympy.Rational(1, 3), evaluate=False)
        return sympy.Mul(sympy.sign(self.args[0]), magnitude, evaluate=False)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz cbrt(z) = 1/(3*cbrt(z)**2)."""
        return 1 / (3 * self**2)


class hypot(_RealFunction):
    """sqrt(a**2 + b**2), evaluated without overflow; d/da hypot(a, b) = a/hypot(a, b)."""

    nargs = 2
    is_extended_nonnegative = True

    def _elementary(self) -> sympy.Expr:
        # Unevaluated, as in cbrt: the squares of large exact numbers are larger still.
        a, b = (sympy.Pow(arg, 2, evaluate=False) for arg in self.args)
        return sympy.Pow(sympy.Add(a, b, evaluate=False), sympy.S.Half, evaluate=False)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return the partial derivative in argument ``argindex``."""
        return self.args[argindex - 1] / self


# sympy's sinh, cosh and tanh answer questions such as "is cosh(z) >= 0?", which sympy asks
# while it multiplies or differentiates, by splitting z into real and imaginary parts. That
# split expands z completely: 3**(y - 10**8) becomes 3**y / 3**(10**8) with the exact 48-million
# bit integer 3**(10**8), and sin((x + y + 2)**200) a sine of 20301 terms; either takes minutes.
# Formulas here are real maps (points where a value is not real evaluate to nan), so these
# subclasses answer from their argument's own assumptions and never split it. They print, and
# simplify, like sympy's own.


class sinh(sympy.sinh):
    """sympy's sinh for real arguments: its assumptions never expand the argument."""

    is_extended_real = True

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_finite

    def _eval_is_finite(self) -> bool | None:
        return self.args[0].is_finite

    def as_real_imag(self, deep: bool = True, **hints: Any) -> tuple[sympy.Expr, sympy.Expr]:
        """Return ``(self, 0)``: the value is real (nan where it would not be)."""
        return self, sympy.S.Zero

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz sinh(z) = cosh(z)."""
        return cosh(self.args[0])


class cosh(sympy.cosh):
    """sympy's cosh for real arguments: at least 1, and never expanded to find that out."""

    is_extended_real = True
    is_extended_positive = True

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_finite

    def _eval_is_finite(self) -> bool | None:
        return self.args[0].is_finite

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_finite

    def _eval_is_nonnegative(self) -> bool | None:
        return self.args[0].is_finite

    def _eval_is_zero(self) -> bool:
        return False

    def as_real_imag(self, deep: bool = True, **hints: Any) -> tuple[sympy.Expr, sympy.Expr]:
        """Return ``(self, 0)``: the value is real (nan where it would not be)."""
        return self, sympy.S.Zero

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz cosh(z) = sinh(z)."""
        return sinh(self.args[0])


class tanh(sympy.tanh):
    """sympy's tanh for real arguments: finite, between -1 and 1, never expanded."""

    is_extended_real = True
    is_finite = True

    def _eval_is_real(self) -> bool:
        return True

    def as_real_imag(self, deep: bool = True, **hints: Any) -> tuple[sympy.Expr, sympy.Expr]:
        """Return ``(self, 0)``: the value is real (nan where it would not be)."""
        return self, sympy.S.Zero

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz tanh(z) = 1 - tanh(z)**2."""
        return 1 - tanh(self.args[0]) ** 2


class Heaviside(sympy.Heaviside):
    """sympy's Heaviside for real arguments: the derivative of max, min and relu.

    sympy's own computes the imaginary part of an argument whose sign it does not know, to
    refuse complex ones, and for ``(log(x) - pi)**393`` that is a polynomial power taking
    minutes. Here a value is given where the sign is known and nothing else is computed.
    """

    def __new__(cls, arg: Any, H0: Any = sympy.S.Half, **options: Any) -> Any:
        # sympy.Heaviside.__new__ calls super(cls, cls), which recurses forever for a subclass.
        return super(sympy.Heaviside, cls).__new__(cls, arg, H0, **options)

    @classmethod
    def eval(cls, arg: sympy.Expr, H0: sympy.Expr = sympy.S.Half) -> sympy.Expr | None:
        """Evaluate when the sign of ``arg`` is known."""
        if arg is sympy.S.NaN:
            return sympy.S.NaN
        if arg.is_extended_negative:
            return sympy.S.Zero
        if arg.is_extended_positive:
            return sympy.S.One
        if arg.is_zero:
            return H0
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz Heaviside(z) = DiracDelta(z)."""
        return DiracDelta(self.args[0])


class DiracDelta(sympy.DiracDelta):
    """sympy's DiracDelta for real arguments: 0 wherever the argument is known to be nonzero.

    It stands for the derivative of sign and step in the symbolic Jacobian and evaluates to 0,
    or nan where its argument is nan (see :data:`TORCH_TRANSLATIONS`). Like
    :class:`Heaviside` it never computes an imaginary part, and it does not raise for arguments
    sympy can prove complex, such as tan(log(-1 - x**2)): it stays, and is nan there.
    """

    @classmethod
    def eval(cls, arg: sympy.Expr, k: sympy.Expr = sympy.S.Zero) -> sympy.Expr | None:
        """Evaluate where ``arg`` is known to be real and nonzero (or is nan)."""
        if arg is sympy.S.NaN:
            return sympy.S.NaN
        if arg.is_extended_nonzero:
            return sympy.S.Zero
        return None


class _DisplayedAsSympy(_RealFunction):
    """Print as the equivalent unevaluated sympy function (``Abs``, ``sign``, ``Max``, ``Min``)."""

    def _display(self) -> sympy.Expr:
        raise NotImplementedError

    def _sympystr(self, printer: Any) -> str:
        return printer._print(self._display())

    def _latex(self, printer: Any) -> str:
        return printer._print(self._display())

    def _pretty(self, printer: Any) -> Any:
        return printer._print(self._display())


class RealAbs(_DisplayedAsSympy):
    """Absolute value with the real-variable derivative sign(z) for any argument.

    sympy's ``Abs`` differentiates arguments it cannot prove real (``log(x)``, ``sqrt(x)``, ...)
    as complex quantities, which yields ``re``/``im``/``atan2(0, x)`` clutter or unevaluated
    derivatives. Formulas here are real maps, so for such arguments this class is used instead;
    when the argument is known to be real it simply becomes sympy's ``Abs``. Prints as ``Abs``.
    """

    nargs = 1
    is_extended_nonnegative = True

    @classmethod
    def eval(cls, z: sympy.Expr) -> sympy.Expr | None:
        """Defer to sympy's ``Abs`` for real arguments; make the argument sign-canonical."""
        if z.is_extended_real:
            return sympy.Abs(z)
        if z.could_extract_minus_sign():
            return cls(-z)
        return None

    def _elementary(self) -> sympy.Expr:
        return sympy.Abs(self.args[0])

    def _display(self) -> sympy.Expr:
        return sympy.Abs(self.args[0], evaluate=False)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz |z| = sign(z)."""
        return RealSign(self.args[0])


class RealSign(_DisplayedAsSympy):
    """Sign function with derivative 2*DiracDelta(z) for any argument; prints as ``sign``.

    The counterpart of :class:`RealAbs`: sympy's ``sign`` leaves the derivative of arguments it
    cannot prove real unevaluated.
    """

    nargs = 1

    @classmethod
    def eval(cls, z: sympy.Expr) -> sympy.Expr | None:
        """Defer to sympy's ``sign`` for real arguments; pull out minus signs."""
        if z.is_extended_real:
            return sympy.sign(z)
        if z.could_extract_minus_sign():
            return -cls(-z)
        return None

    def _elementary(self) -> sympy.Expr:
        return sympy.sign(self.args[0])

    def _display(self) -> sympy.Expr:
        return sympy.sign(self.args[0], evaluate=False)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return d/dz sign(z) = 2*DiracDelta(z), which is 0 away from z = 0."""
        return 2 * DiracDelta(self.args[0])


class _Extremum(_DisplayedAsSympy):
    """Shared code of :class:`RealMax` and :class:`RealMin`.

    sympy's own ``Max``/``Min`` compare their arguments pairwise with the assumptions system,
    which takes seconds for ten symbolic arguments and more for their derivatives. These keep
    only cheap simplifications (flatten, drop repeats, fold numbers), so the cost of a formula
    stays proportional to its size.
    """

    _fold: type[sympy.Expr] = sympy.Max

    @classmethod
    def eval(cls, *args: sympy.Expr) -> sympy.Expr | None:
        """Flatten nested calls, drop repeated arguments and fold numeric ones."""
        flat: list[sympy.Expr] = []
        for arg in args:
            flat.extend(arg.args if type(arg) is cls else (arg,))
        numbers = [a for a in flat if a.is_number]
        kept = [a for a in flat if not a.is_number]
        if len(numbers) > 1:
            # Constants are compared numerically by sympy's own Max/Min; few and cheap.
            folded = cls._fold(*numbers)
            numbers = list(folded.args) if isinstance(folded, cls._fold) else [folded]
        kept.extend(numbers)
        unique = list(dict.fromkeys(kept))
        if len(unique) == 1:
            return unique[0]
        if tuple(unique) != tuple(args):
            return cls(*unique)
        return None


class RealMax(_Extremum):
    """Maximum of two or more real arguments; prints as ``Max``.

    d/da_i Max = Heaviside(a_i - Max(other arguments)), 1/2 at a tie, like torch's maximum.
    """

    _fold = sympy.Max

    def _elementary(self) -> sympy.Expr:
        return sympy.Max(*self.args)

    def _display(self) -> sympy.Expr:
        return sympy.Max(*self.args, evaluate=False)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return the partial derivative in argument ``argindex``."""
        args = list(self.args)
        chosen = args.pop(argindex - 1)
        return Heaviside(chosen - RealMax(*args))


class RealMin(_Extremum):
    """Minimum of two or more real arguments; prints as ``Min``.

    d/da_i Min = Heaviside(Min(other arguments) - a_i), 1/2 at a tie, like torch's minimum.
    """

    _fold = sympy.Min

    def _elementary(self) -> sympy.Expr:
        return sympy.Min(*self.args)

    def _display(self) -> sympy.Expr:
        return sympy.Min(*self.args, evaluate=False)

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        """Return the partial derivative in argument ``argindex``."""
        args = list(self.args)
        chosen = args.pop(argindex - 1)
        return Heaviside(RealMin(*args) - chosen)


# ---------------------------------------------------------------------------------------------
# Torch side: every function that can appear in a formula or in its derivative, callable on
# tensors and on plain Python numbers (constants such as log(2) reach these as numbers).
# ---------------------------------------------------------------------------------------------


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

# sympy class -> name in TORCH_TRANSLATIONS.
_TORCH_NAMES: dict[type, str] = {
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
        name = _TORCH_NAMES.get(type(expr))
        if name is None:
            raise TypeError(f"no torch translation for {type(expr).__name__}")
        return f"{name}({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent == sympy.S.Half:
            return f"sqrt({self._print(base)})"
        return f"Pow({self._print(base)}, {self._print(exponent)})"


for _cls in _TORCH_NAMES:
    setattr(_TorchCodePrinter, f"_print_{_cls.__name__}", _TorchCodePrinter._print_Function)
del _cls

# Digits sympy evaluates constants to before rounding them to float64 (which holds 15-17).
_CONSTANT_DIGITS = 20
# A constant is real when its imaginary part is below this fraction of its size. Rounding at a
# domain edge (asin of an exact 1 - 2**-2001 that rounded up to 1 + 2**-66) moves a value off
# the real line by about the square root of the working precision's unit, 1e-10 here.
_IMAGINARY_NOISE = 1e-6


def _is_small_integer(expr: sympy.Expr) -> bool:
    return isinstance(expr, sympy.Integer) and abs(int(expr)) <= _MAX_EXACT_INT


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
        If an exact number has more than ``_MAX_BITS`` bits. The static guards bound the
        numbers the user typed, but sympy's automatic simplification of a derivative can
        still build larger ones, and converting those to floats took minutes (found by the
        property tests): refuse them here instead.

    """
    for expr in exprs:
        for number in expr.atoms(sympy.Rational):
            if max(abs(number.p).bit_length(), number.q.bit_length()) > _MAX_BITS:
                raise FormulaError("number too large (in the formula or its derivative)")


def _lambdify(exprs: Sequence[sympy.Expr]) -> Callable[..., Any]:
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


def _broadcast(value: Any, like: torch.Tensor) -> torch.Tensor:
    """Give one lambdified output the shape and dtype of ``like``; constants become fills."""
    if isinstance(value, torch.Tensor):
        if value.dtype != like.dtype:
            value = value.to(like.dtype)
        return value if value.shape == like.shape else value.expand(like.shape)
    # Fill in float64 and convert: a float32 fill with 1e300 raises instead of giving inf.
    filled = torch.full(like.shape, float(value), dtype=torch.float64, device=like.device)
    return filled.to(like.dtype)


def _split_points(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(points, torch.Tensor):
        raise TypeError(f"points must be a torch.Tensor, got {type(points).__name__}")
    if points.dim() < 1 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {tuple(points.shape)}")
    if not points.is_floating_point():
        points = points.to(torch.float64)
    return points[..., 0], points[..., 1]


@dataclass(frozen=True)
class Formula:
    """A parsed formula: a map from (x, y) to ``output_dim`` values, with its Jacobian.

    Create one with :func:`parse_formula`. The torch functions are compiled once, when the
    formula is created, so evaluation on a grid is a handful of vectorised tensor operations.

    Attributes
    ----------
    text : str
        The text as the user gave it.
    components : tuple of str
        The user's source text of each output, stripped, e.g. ``("x**2 + y", "x*y")``.
    exprs : tuple of sympy.Expr
        One sympy expression per output, in the real symbols :data:`X` and :data:`Y`.
    symbolic_jacobian : sympy.ImmutableMatrix
        ``output_dim`` x 2 matrix; row i holds d(output i)/dx and d(output i)/dy. Immutable so
        that a Formula stays a value (hashable, safe to share between threads).

    """

    text: str
    components: tuple[str, ...]
    exprs: tuple[sympy.Expr, ...]
    symbolic_jacobian: sympy.ImmutableMatrix
    _values_fn: Callable[..., Any] = field(init=False, repr=False, compare=False)
    _values_and_jacobian_fn: Callable[..., Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        jacobian = sympy.ImmutableMatrix(self.symbolic_jacobian)
        object.__setattr__(self, "symbolic_jacobian", jacobian)
        object.__setattr__(self, "_values_fn", _lambdify(self.exprs))
        object.__setattr__(self, "_values_and_jacobian_fn", _lambdify([*self.exprs, *jacobian]))

    @property
    def output_dim(self) -> int:
        """Number of outputs m (2 for a map of the plane)."""
        return len(self.exprs)

    def jacobian_strings(self) -> list[list[str]]:
        """Return the symbolic Jacobian as text, e.g. ``[["2*x", "1"], ["y", "x"]]``.

        Floats are printed with their shortest form (``0.1``, not ``0.100000000000000``).
        """
        return [list(row) for row in self._jacobian_text]

    @functools.cached_property
    def _jacobian_text(self) -> tuple[tuple[str, ...], ...]:
        # Printing is slow (about 10 ms for the swirl preset) and the probe asks on every
        # mouse move, so print once per formula.
        rows, cols = self.symbolic_jacobian.shape
        return tuple(
            tuple(sympy.sstr(self.symbolic_jacobian[i, j], full_prec=False) for j in range(cols))
            for i in range(rows)
        )

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        """Evaluate the map at many points at once.

        Parameters
        ----------
        points : torch.Tensor
            Shape (N, 2) (any leading shape works), columns x and y; float64 normally. Integer
            tensors are converted to float64.

        Returns
        -------
        torch.Tensor
            Shape (N, m), same dtype and device as ``points``. Constant outputs are broadcast.
            Points outside a function's domain give nan; overflow gives inf. The result is
            differentiable with torch.autograd.

        """
        x, y = _split_points(points)
        values = self._values_fn(x, y)
        return torch.stack([_broadcast(v, x) for v in values], dim=-1)

    def evaluate_with_jacobian(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluate the map and its Jacobian from the closed-form symbolic derivatives.

        Parameters
        ----------
        points : torch.Tensor
            Shape (N, 2), as for :meth:`evaluate`.

        Returns
        -------
        values : torch.Tensor
            Shape (N, m).
        jacobian : torch.Tensor
            Shape (N, m, 2); ``jacobian[k, i, j]`` is d(output i)/d(variable j) at point k.
            Non-smooth points follow torch's conventions: relu'(0) = 0, d/dz max(a, b) = 1/2 at
            a tie, sign' = 0.

        """
        x, y = _split_points(points)
        m = self.output_dim
        flat = [_broadcast(v, x) for v in self._values_and_jacobian_fn(x, y)]
        values = torch.stack(flat[:m], dim=-1)
        rows = [torch.stack(flat[m + 2 * i : m + 2 * i + 2], dim=-1) for i in range(m)]
        return values, torch.stack(rows, dim=-2)


# ---------------------------------------------------------------------------------------------
# The language: names, functions and how constant subtrees fold in floating point.
# ---------------------------------------------------------------------------------------------

_VARIABLES: dict[str, sympy.Symbol] = {"x": X, "y": Y}
_CONSTANTS: dict[str, tuple[sympy.Expr, float]] = {
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
class _Function:
    """One callable function of the formula language."""

    min_args: int
    max_args: int | None  # None: no upper bound
    build: Callable[..., sympy.Expr]
    fold: Callable[..., float]


_FUNCTIONS: dict[str, _Function] = {
    "sin": _Function(1, 1, sympy.sin, math.sin),
    "cos": _Function(1, 1, sympy.cos, math.cos),
    "tan": _Function(1, 1, sympy.tan, math.tan),
    "asin": _Function(1, 1, sympy.asin, math.asin),
    "acos": _Function(1, 1, sympy.acos, math.acos),
    "atan": _Function(1, 1, sympy.atan, math.atan),
    "atan2": _Function(2, 2, sympy.atan2, math.atan2),
    "sinh": _Function(1, 1, sinh, math.sinh),
    "cosh": _Function(1, 1, cosh, math.cosh),
    "tanh": _Function(1, 1, tanh, math.tanh),
    "asinh": _Function(1, 1, sympy.asinh, math.asinh),
    "acosh": _Function(1, 1, sympy.acosh, math.acosh),
    "atanh": _Function(1, 1, sympy.atanh, math.atanh),
    "exp": _Function(1, 1, sympy.exp, math.exp),
    "log": _Function(1, 1, sympy.log, math.log),
    "log2": _Function(1, 1, lambda z: sympy.log(z) / sympy.log(2), math.log2),
    "log10": _Function(1, 1, lambda z: sympy.log(z) / sympy.log(10), math.log10),
    "sqrt": _Function(1, 1, sympy.sqrt, math.sqrt),
    "cbrt": _Function(1, 1, cbrt, lambda v: math.copysign(abs(v) ** (1.0 / 3.0), v)),
    "abs": _Function(1, 1, RealAbs, abs),
    "sign": _Function(1, 1, RealSign, _sign_float),
    "min": _Function(2, None, RealMin, min),
    "max": _Function(2, None, RealMax, max),
    "relu": _Function(1, 1, relu, lambda v: max(v, 0.0)),
    "sigmoid": _Function(1, 1, sigmoid, _sigmoid_float),
    "softplus": _Function(1, 1, softplus, _softplus_float),
    "hypot": _Function(2, 2, hypot, math.hypot),
}
#: Functions a formula may call.
FUNCTION_NAMES: tuple[str, ...] = tuple(_FUNCTIONS)

# Why a node is refused, for node types that are not part of the language at all.
_REFUSED: dict[type, str] = {
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

_BINARY_OPERATORS: dict[type, str] = {
    ast.FloorDiv: "'//' (floor division)",
    ast.Mod: "'%' (modulo)",
    ast.MatMult: "'@' (matrix product)",
    ast.LShift: "'<<' (shift)",
    ast.RShift: "'>>' (shift)",
    ast.BitOr: "'|' (bitwise or)",
    ast.BitAnd: "'&' (bitwise and)",
    ast.BitXor: "'^' (bitwise xor)",
}

_COMPARISONS: dict[type, str] = {
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

_ARITHMETIC_OPERATIONS: dict[type, Callable[[Any, Any], sympy.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_LOGARITHMS = ("log", "log2", "log10")
# A number as a person writes it: decimal digits, an optional point, an optional exponent.
_DECIMAL = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"

# Operators whose left-nested chains (a + b - c + ...) sympy flattens into one node.
_CHAIN_GROUPS: dict[type, str] = {ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*"}


def _shorten(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _int_bits(n: int) -> int:
    """Size of an exact integer for the cost bound; 0 and ±1 cost nothing when raised to powers."""
    n = abs(n)
    return 0 if n <= 1 else n.bit_length()


# ---------------------------------------------------------------------------------------------
# Text and columns.
# ---------------------------------------------------------------------------------------------


class _Source:
    """The code handed to Python's parser, and the way back to columns of the user's text.

    Two rewrites keep Python's parser usable for formulas while every column still refers to
    the user's text: ``^`` becomes ``**`` (as a token, not as Python's bitwise xor, which binds
    more loosely than ``+``: ``x^2 + 1`` would mean x**3), and line breaks become spaces (a
    formula is one line; Python would end the expression at a newline). Leading whitespace is
    dropped because Python reads it as an indent.
    """

    def __init__(self, text: str) -> None:
        pieces: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(text):
            if ch == "^":
                pieces.append("**")
                origin += [i, i]
            else:
                pieces.append(" " if ch in "\r\n" else ch)
                origin.append(i)
        code = "".join(pieces)
        start = len(code) - len(code.lstrip())
        self.text = text
        self.code = code[start:]
        self._origin = [*origin[start:], len(text)]
        # Python's AST gives byte offsets into the UTF-8 encoded code.
        self._char_of_byte: list[int] = []
        for index, ch in enumerate(self.code):
            self._char_of_byte += [index] * len(ch.encode("utf-8"))
        self._char_of_byte.append(len(self.code))

    def char_index(self, byte_offset: int) -> int:
        """Index in ``code`` of an AST byte offset."""
        return self._char_of_byte[min(max(byte_offset, 0), len(self._char_of_byte) - 1)]

    def text_index(self, code_index: int) -> int:
        """Index in the user's text of an index in ``code``."""
        return self._origin[min(max(code_index, 0), len(self._origin) - 1)]

    def column(self, node: ast.AST) -> int | None:
        """1-based column in the user's text where ``node`` starts."""
        if getattr(node, "lineno", 1) != 1 or not hasattr(node, "col_offset"):
            return None
        return self.text_index(self.char_index(node.col_offset)) + 1

    def end(self, node: ast.AST) -> int:
        """Index in ``code`` just after ``node``."""
        end_col = getattr(node, "end_col_offset", None)
        return self.char_index(end_col) if end_col is not None else len(self.code)

    def span(self, node: ast.AST) -> str:
        """The user's text of ``node``, stripped."""
        start = self.text_index(self.char_index(node.col_offset))
        stop = self.text_index(self.end(node))
        return self.text[start:stop].strip()

    def next_token_column(self, after: ast.AST, default: ast.AST) -> int | None:
        """Column of the first token after ``after`` that is not a space or ``)``.

        That is the operator of a binary operation (``after`` being its left operand), the dot
        of an attribute access, and so on; the AST itself does not record operator positions.
        """
        index = self.end(after)
        while index < len(self.code) and (self.code[index].isspace() or self.code[index] == ")"):
            index += 1
        if index < len(self.code):
            return self.text_index(index) + 1
        return self.column(default)

    def syntax_column(self, error: SyntaxError) -> int | None:
        """Column of a SyntaxError, whose offset counts characters from 1."""
        if error.offset is None or error.lineno not in (None, 1):
            return None
        return self.text_index(error.offset - 1) + 1


# Characters that Python's tokenizer reads silently: the rest of the line becomes a comment,
# a line continues, a second statement starts.
_REFUSED_CHARACTERS = {
    "#": "'#' is not allowed (it would hide the rest of the formula)",
    "\\": "'\\' is not allowed",
    ";": "';' is not allowed (separate outputs with ',')",
}
# What to type instead of non-ASCII characters people paste from documents.
_ASCII_SPELLINGS = {
    "π": "pi",
    "−": "-",
    "–": "-",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "÷": "/",
    **{superscript: f"^{digit}" for digit, superscript in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
}


def _character_problem(ch: str) -> str | None:
    """Why the character ``ch`` cannot appear in a formula, or None if it can.

    A formula is plain ASCII. Python's tokenizer would accept more and quietly change its
    meaning: it folds identifiers to their NFKC form (full-width 'ｘ' and italic '𝑥' become
    'x'), and reads non-ASCII spaces, invisible characters and other scripts' digits in ways a
    reader of the text cannot see.
    """
    code = ord(ch)
    if ch in _REFUSED_CHARACTERS:
        return _REFUSED_CHARACTERS[ch]
    if code == 0:
        return "null character is not allowed"
    if (code < 32 and ch not in "\t\n\r") or code == 127:
        return f"control character U+{code:04X} is not allowed"
    if code < 128:
        return None
    shown = f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{code:04X}"
    spelling = _ASCII_SPELLINGS.get(ch)
    if spelling is None and ch.isspace():
        spelling = "a plain space"
    if spelling is None and not "\ud800" <= ch <= "\udfff":
        folded = unicodedata.normalize("NFKC", ch)
        if unicodedata.digit(ch, None) is not None:
            folded = str(unicodedata.digit(ch))
        if folded.isascii() and folded.isprintable() and folded.strip():
            spelling = f"'{folded}'"
    hint = f" (write {spelling})" if spelling is not None else ""
    return f"non-ASCII character {shown} is not allowed{hint}"


def _syntax_message(error: SyntaxError) -> str:
    """Reword Python's syntax errors for people who are typing math, not Python."""
    msg = (error.msg or "invalid syntax").strip()
    msg = msg.split(" (detected at line")[0]
    if "null bytes" in msg or "null character" in msg:
        return "null character is not allowed"
    if "'='" in msg or "assign" in msg:
        return "'=' is not allowed"
    if msg.startswith("invalid syntax. Perhaps you forgot a comma"):
        return "invalid syntax (missing operator or comma?)"
    if msg.startswith("invalid syntax"):
        return "invalid syntax"
    if "leading zeros" in msg or ("literal" in msg and "string" not in msg):
        return "invalid number"
    if "unexpected EOF" in msg or "unexpected end" in msg:
        return "unexpected end of formula"
    if "string" in msg:
        return "strings are not allowed"
    return msg


def _check_brackets(source: _Source) -> None:
    """Refuse bracket nesting deeper than MAX_DEPTH before Python's parser sees it."""
    depth = 0
    for index, ch in enumerate(source.code):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise FormulaError(
                    f"too many nested parentheses (at most {MAX_DEPTH} levels)",
                    source.text_index(index) + 1,
                )
        elif ch in ")]}":
            depth = max(depth - 1, 0)


def _check_tree_size(source: _Source, root: ast.expr) -> None:
    """Bound node count and nesting depth of the tree, without recursion."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise FormulaError(f"formula too long (more than {MAX_NODES} terms and operations)")
        if depth > MAX_DEPTH:
            raise FormulaError(
                f"formula too deeply nested (at most {MAX_DEPTH} levels)", source.column(node)
            )
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.expr, ast.keyword)):
                continue
            same_chain = (
                isinstance(node, ast.BinOp)
                and child is node.left
                and isinstance(child, ast.BinOp)
                and _CHAIN_GROUPS.get(type(node.op), "") == _CHAIN_GROUPS.get(type(child.op))
            )
            stack.append((child, depth if same_chain else depth + 1))


# ---------------------------------------------------------------------------------------------
# From checked AST nodes to sympy.
# ---------------------------------------------------------------------------------------------


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


class _Compiler:
    """Walk a parsed formula with a strict whitelist and build sympy expressions."""

    def __init__(self, source: _Source) -> None:
        self.source = source

    def fail(self, message: str, node: ast.AST) -> FormulaError:
        return FormulaError(message, self.source.column(node))

    def visit(self, node: ast.AST) -> _Value:
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
            return FormulaError(_REFUSED[ast.Attribute], source.next_token_column(node.value, node))
        if isinstance(node, ast.Subscript):
            return FormulaError(_REFUSED[ast.Subscript], source.next_token_column(node.value, node))
        if isinstance(node, ast.Compare):
            symbol = _COMPARISONS.get(type(node.ops[0]), "?")
            column = source.next_token_column(node.left, node)
            return FormulaError(f"comparisons ('{symbol}') are not allowed", column)
        if isinstance(node, ast.BoolOp):
            word = "and" if isinstance(node.op, ast.And) else "or"
            column = source.next_token_column(node.values[0], node)
            return FormulaError(f"'{word}' is not allowed", column)
        if isinstance(node, ast.IfExp):
            return FormulaError(_REFUSED[ast.IfExp], source.next_token_column(node.body, node))
        message = _REFUSED.get(type(node), f"'{type(node).__name__}' is not allowed")
        return self.fail(message, node)

    def _constant(self, node: ast.Constant) -> _Value:
        value = node.value
        if isinstance(value, bool):
            raise self.fail(f"'{value}' is not allowed (only numbers)", node)
        if isinstance(value, (int, float)):
            # Python also reads 1_000, 0x1f, 0o17 and 0b11 as numbers; a formula is math, and
            # a number means what its plain decimal digits say.
            spelling = self.source.span(node)
            if not re.fullmatch(_DECIMAL, spelling):
                message = f"invalid number '{_shorten(spelling)}' (write plain decimals such as"
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
            if value.is_integer() and abs(value) < _MAX_EXACT_INT:
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
        if name in _VARIABLES:
            return _Value(_VARIABLES[name], None, 0)
        if name in _CONSTANTS:
            expr, value = _CONSTANTS[name]
            return _Value(expr, value, 0)
        if name in _FUNCTIONS:
            raise self.fail(f"'{name}' is a function; call it like {name}(x)", node)
        hint = ""
        if name.lower() in _VARIABLES or name.lower() in _CONSTANTS:
            hint = f" (did you mean '{name.lower()}'?)"
        raise self.fail(f"unknown name '{_shorten(name)}'{hint}", node)

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
        group = _CHAIN_GROUPS.get(type(node.op))
        while group is not None:
            left = chain[-1].left
            if not isinstance(left, ast.BinOp) or _CHAIN_GROUPS.get(type(left.op)) != group:
                break
            chain.append(left)
        result = self.visit(chain[-1].left)
        for link in reversed(chain):
            column = self.source.next_token_column(link.left, link)
            if type(link.op) in _BINARY_OPERATORS:
                raise FormulaError(f"{_BINARY_OPERATORS[type(link.op)]} is not allowed", column)
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
            what = _shorten(self.source.span(node), 40)
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
        if bits > _MAX_BITS:
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
        operation = _ARITHMETIC_OPERATIONS.get(type(op))
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
        if estimate > _MAX_BITS:
            tiny = value is not None and abs(value) < 1
            raise FormulaError("number too small" if tiny else "number too large", column)
        spread = _exact_power_spread(size, exponent, column)
        root = exponent.expr.is_Rational and not exponent.expr.is_Integer and size > 0
        if root and exponent.expr.q > _MAX_ROOT_DEGREE:
            raise FormulaError(_ROOT_TOO_DEEP, column)
        radicand = _root_base(base) if root else base.expr
        expr = self._symbolic(lambda: radicand**exponent.expr, node, value)
        if root and _root_degree(expr) > _MAX_ROOT_DEGREE:  # roots of roots multiply
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
        spec = _FUNCTIONS.get(name)
        if spec is None:
            if name in _VARIABLES or name in _CONSTANTS:
                message = f"'{name}' is not a function (write {name}*(...) to multiply)"
                raise self.fail(message, node)
            hint = f" (did you mean '{name.lower()}'?)" if name.lower() in _FUNCTIONS else ""
            raise self.fail(f"unknown function '{_shorten(name)}'{hint}", node)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.fail("'**' (unpacking) is not allowed", keyword)
            message = f"keyword arguments ('{_shorten(keyword.arg)}=') are not allowed"
            raise self.fail(message, keyword)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(_REFUSED[ast.Starred], arg)
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
        elif name in _LOGARITHMS:
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
    can hold dozens. Past _MAX_ROOT_BITS the root is taken of the float value instead, which
    is what evaluation in float64 needs.
    """
    if base.value is not None and max(float(base.bits), base.spread) > _MAX_ROOT_BITS:
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
    if math.log2(size) + exponent.spread > math.log2(_MAX_BITS):
        raise FormulaError("number too large", column)
    return size * 2.0**exponent.spread


def _float_text(value: float) -> str:
    """Six significant digits, or every digit when those would hide why a value is refused.

    acos of a sum that is 1 exactly can round to 1.0000000000000004 in float64, outside acos's
    domain; "acos(1) is not defined" would be a puzzle.
    """
    short = f"{value:.6g}"
    return short if float(short) == value else repr(value)


def _arity_message(name: str, spec: _Function, count: int) -> str:
    if spec.max_args is None:
        return f"{name} takes at least {spec.min_args} arguments, got {count}"
    plural = "argument" if spec.min_args == 1 else "arguments"
    return f"{name} takes {spec.min_args} {plural}, got {count}"


_UNDEFINED = (
    sympy.core.numbers.NaN,
    sympy.core.numbers.Infinity,
    sympy.core.numbers.NegativeInfinity,
    sympy.core.numbers.ComplexInfinity,
)
_ARITHMETIC = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Number, sympy.NumberSymbol)


def _problem(expr: sympy.Expr) -> str | None:
    """Why ``expr`` cannot be evaluated as a real function on tensors, or None if it can."""
    seen: set[sympy.Basic] = set()
    stack: list[sympy.Basic] = [expr]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, _UNDEFINED):
            return f"is undefined (it simplifies to {_shorten(str(expr), 60)})"
        if isinstance(node, sympy.core.numbers.ImaginaryUnit):
            return f"is not real-valued (it simplifies to {_shorten(str(expr), 60)})"
        if isinstance(node, (sympy.Derivative, sympy.Subs)):
            return "has no closed-form derivative"
        if isinstance(node, sympy.Symbol):
            if node not in (X, Y):
                return f"uses the unknown symbol {node}"
        elif not isinstance(node, _ARITHMETIC) and type(node) not in _TORCH_NAMES:
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


def _top_level(source: _Source, body: ast.expr) -> list[ast.expr]:
    """Split the formula into its outputs, refusing empty ones."""
    if not isinstance(body, ast.Tuple):
        return [body]
    elements = list(body.elts)
    if not elements:
        raise FormulaError("empty formula")
    index = source.end(elements[-1])
    code = source.code
    while index < len(code) and (code[index].isspace() or code[index] == ")"):
        index += 1
    if index < len(code) and code[index] == ",":
        raise FormulaError("trailing comma (empty output)", source.text_index(index) + 1)
    if len(elements) > MAX_OUTPUTS:
        raise FormulaError(
            f"too many outputs ({len(elements)}; at most {MAX_OUTPUTS})",
            source.column(elements[MAX_OUTPUTS]),
        )
    return elements


def _parse(text: str) -> Formula:
    if len(text) > MAX_TEXT_LENGTH:
        raise FormulaError(f"formula too long ({len(text)} characters; at most {MAX_TEXT_LENGTH})")
    for index, ch in enumerate(text):
        problem = _character_problem(ch)
        if problem is not None:
            raise FormulaError(problem, index + 1)
    source = _Source(text)
    if not source.code.strip():
        raise FormulaError("empty formula")
    _check_brackets(source)
    try:
        with warnings.catch_warnings():
            # Python warns on stderr about spellings such as "1if" or "2(x)"; the compiler
            # below refuses what they mean with its own message.
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source.code, mode="eval")
    except SyntaxError as error:
        column = source.syntax_column(error)
        message = _syntax_message(error)
        if column is not None and text[column - 1 : column] == "=":
            message = "'=' is not allowed"
        raise FormulaError(message, column) from None
    except (RecursionError, MemoryError, OverflowError):
        raise FormulaError("formula too complex to parse") from None
    except ValueError as error:
        raise FormulaError(f"cannot parse formula: {error}") from None
    _check_tree_size(source, tree.body)

    elements = _top_level(source, tree.body)
    compiler = _Compiler(source)
    exprs = []
    for element in elements:
        expr = compiler.visit(element).expr
        problem = _problem(expr)
        if problem is not None:
            message = f"'{_shorten(source.span(element), 40)}' {problem}"
            raise FormulaError(message, source.column(element))
        exprs.append(expr)

    rows = []
    for element, expr in zip(elements, exprs, strict=True):
        try:
            row = [sympy.diff(expr, X), sympy.diff(expr, Y)]
        except (RecursionError, MemoryError):
            raise
        except Exception:  # as in _Compiler._symbolic: sympy failing is not the user's fault
            raise FormulaError(
                f"the derivative of '{_shorten(source.span(element), 40)}' cannot be worked out "
                "symbolically",
                source.column(element),
            ) from None
        for entry in row:
            problem = _problem(entry)
            if problem is not None:
                raise FormulaError(
                    f"the derivative of '{_shorten(source.span(element), 40)}' {problem}",
                    source.column(element),
                )
        rows.append(row)
    if _count_nodes([e for row in rows for e in row], _MAX_JACOBIAN_NODES) > _MAX_JACOBIAN_NODES:
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
        The parsed formula, with its symbolic Jacobian and compiled torch functions.

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
