"""The sympy side of formulas: the variables ``x`` and ``y`` and the functions built from them.

Formulas are real maps of the plane, so the variables :data:`X` and :data:`Y` are real symbols
and every function here is real-valued (points where a value is not real evaluate to nan).
Two kinds of functions live here:

- functions sympy does not have (``relu``, ``step``, ``sigmoid``, ``softplus``, a real
  ``cbrt``, ``hypot``), each with its own derivative so the symbolic Jacobian stays compact;
- real-argument versions of sympy's own (``sinh``, ``cosh``, ``tanh``, ``Heaviside``,
  ``DiracDelta``, ``Abs``, ``sign``, ``Max``, ``Min``). sympy's versions answer questions such
  as "is this positive?" by splitting arguments into real and imaginary parts, which expands
  them completely and can take minutes on formulas that pass every size guard; these answer
  from their arguments' own assumptions instead, and print like sympy's.

Code for all of them is printed by :mod:`jacviz.math.formula.codegen`.
"""

from __future__ import annotations

from typing import Any

import sympy
from sympy.core.logic import fuzzy_and

#: The two variables of every formula, as real sympy symbols.
X, Y = sympy.symbols("x y", real=True)

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
        """Build ``Heaviside(arg, H0)`` (H0, the value at 0, is 1/2 unless given)."""
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
    or nan where its argument is nan (see
    :data:`~jacviz.math.formula.numpy_backend.NUMPY_TRANSLATIONS`). Like :class:`Heaviside` it never
    computes an imaginary part, and it does not raise for arguments sympy can prove complex,
    such as tan(log(-1 - x**2)): it stays, and is nan there.
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
