"""Tests for jacviz.math.formula: parsing, closed-form Jacobians, evaluation and refusals."""

from __future__ import annotations

import ast
import contextlib
import math
import os
import pickle
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacviz.math import formula as formula_package
from jacviz.math.formula import (
    FUNCTION_NAMES,
    MAX_MESSAGE_LENGTH,
    MAX_OUTPUTS,
    TORCH_TRANSLATIONS,
    Formula,
    FormulaError,
    X,
    Y,
    codegen,
    language,
    limits,
    parse_formula,
)
from jacviz.math.formula import parse as parse_module

DTYPE = torch.float64


def points(*pairs: tuple[float, float]) -> torch.Tensor:
    return torch.tensor(pairs, dtype=DTYPE)


def autograd_jacobian(formula: Formula, pts: torch.Tensor) -> torch.Tensor:
    """(N, m, 2) Jacobian of ``formula.evaluate`` by reverse-mode autograd, row by row."""
    pts = pts.clone().requires_grad_(True)
    values = formula.evaluate(pts)
    rows = []
    for i in range(values.shape[1]):
        (grad,) = torch.autograd.grad(values[:, i].sum(), pts, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(pts) if grad is None else grad)
    return torch.stack(rows, dim=1)


class ExactWork:
    """What sympy built while a formula was parsed: the work bounds the parser promises."""

    largest_integer_bits = 0
    derivatives = 0
    multinomial_expansions = 0
    power_splits = 0  # a power split into real and imaginary parts (a polynomial power)


@contextlib.contextmanager
def exact_work() -> Iterator[ExactWork]:
    """Record the largest exact number sympy builds, and how often it differentiates or
    expands a power of a sum, inside the ``with`` block.

    These are the quantities the parser bounds before doing heavy work, so tests check them
    instead of the clock: a refusal that comes "quickly" on an idle machine can still have
    built a million-digit integer first.
    """
    work = ExactWork()
    integer_new = sympy.Integer.__dict__["__new__"].__func__
    rational_new = sympy.Rational.__dict__["__new__"].__func__
    diff = sympy.diff
    multinomial = sympy.Pow._eval_expand_multinomial
    split = sympy.Pow.as_real_imag

    def note(*numbers: object) -> None:
        for n in numbers:
            if isinstance(n, int):
                work.largest_integer_bits = max(work.largest_integer_bits, n.bit_length())

    def new_integer(cls, i):  # type: ignore[no-untyped-def]
        note(i)
        return integer_new(cls, i)

    def new_rational(cls, p, q=None, gcd=None):  # type: ignore[no-untyped-def]
        note(p, q)
        return rational_new(cls, p, q, gcd)

    def counted_diff(*args, **kwargs):  # type: ignore[no-untyped-def]
        work.derivatives += 1
        return diff(*args, **kwargs)

    def counted_multinomial(self, **hints):  # type: ignore[no-untyped-def]
        work.multinomial_expansions += 1
        return multinomial(self, **hints)

    def counted_split(self, deep=True, **hints):  # type: ignore[no-untyped-def]
        work.power_splits += 1
        return split(self, deep, **hints)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sympy.Integer, "__new__", staticmethod(new_integer))
        patch.setattr(sympy.Rational, "__new__", staticmethod(new_rational))
        patch.setattr(sympy, "diff", counted_diff)
        patch.setattr(sympy.Pow, "_eval_expand_multinomial", counted_multinomial)
        patch.setattr(sympy.Pow, "as_real_imag", counted_split)
        yield work


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def test_quadratic_map_symbolic_and_numeric_jacobian() -> None:
    f = parse_formula("x**2 + y, x*y")
    assert f.text == "x**2 + y, x*y"
    assert f.components == ("x**2 + y", "x*y")
    assert f.exprs == (X**2 + Y, X * Y)
    assert f.output_dim == 2
    assert f.symbolic_jacobian == sympy.Matrix([[2 * X, 1], [Y, X]])
    assert f.jacobian_strings() == [["2*x", "1"], ["y", "x"]]

    values, jac = f.evaluate_with_jacobian(points((1, 2), (0, 1)))
    assert values.tolist() == [[3.0, 2.0], [1.0, 0.0]]
    assert jac.shape == (2, 2, 2)
    assert jac[0].tolist() == [[2.0, 1.0], [2.0, 1.0]]
    assert jac[1].tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_complex_square_has_determinant_four_r_squared() -> None:
    f = parse_formula("x**2 - y**2, 2*x*y")
    assert sympy.simplify(f.symbolic_jacobian.det() - 4 * (X**2 + Y**2)) == 0
    pts = torch.randn(50, 2, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    _, jac = f.evaluate_with_jacobian(pts)
    expected = 4 * (pts**2).sum(dim=1)
    torch.testing.assert_close(torch.linalg.det(jac), expected, rtol=1e-12, atol=1e-12)


def test_polynomial_map_jacobian() -> None:
    f = parse_formula("3*x**2*y, 2*x + y**8")
    assert f.symbolic_jacobian == sympy.Matrix([[6 * X * Y, 3 * X**2], [2, 8 * Y**7]])
    _, jac = f.evaluate_with_jacobian(points((1.5, -2.0)))
    assert jac[0].tolist() == [[6 * 1.5 * -2.0, 3 * 1.5**2], [2.0, 8 * (-2.0) ** 7]]


def test_caret_means_power_with_power_precedence() -> None:
    caret = parse_formula("x^2 + y^3, x^y^2, -x^2")
    stars = parse_formula("x**2 + y**3, x**y**2, -x**2")
    assert caret.exprs == stars.exprs
    assert caret.exprs[0] == X**2 + Y**3  # not Python's xor precedence, x**(2 + y)**3
    assert caret.components == ("x^2 + y^3", "x^y^2", "-x^2")
    assert caret.symbolic_jacobian == stars.symbolic_jacobian


def test_linear_map_jacobian_is_its_matrix() -> None:
    f = parse_formula("2*x - 3*y, 0.5*x + 4*y")
    assert f.symbolic_jacobian == sympy.Matrix([[2, -3], [sympy.Float(0.5), 4]])
    pts = torch.randn(7, 2, dtype=DTYPE)
    values, jac = f.evaluate_with_jacobian(pts)
    matrix = torch.tensor([[2.0, -3.0], [0.5, 4.0]], dtype=DTYPE)
    torch.testing.assert_close(values, pts @ matrix.T)
    torch.testing.assert_close(jac, matrix.expand(7, 2, 2))


def test_constant_outputs_and_entries_broadcast() -> None:
    f = parse_formula("x, 3")
    values, jac = f.evaluate_with_jacobian(points((1, 2), (5, 6), (7, 8)))
    assert values.tolist() == [[1.0, 3.0], [5.0, 3.0], [7.0, 3.0]]
    assert jac.tolist() == [[[1.0, 0.0], [0.0, 0.0]]] * 3
    assert (
        parse_formula("sin(1), pi").evaluate(points((0, 0), (1, 1)))[:, 1].tolist() == [math.pi] * 2
    )


def test_output_counts_from_one_to_max() -> None:
    assert parse_formula("x*y").output_dim == 1
    eight = parse_formula(", ".join(["x"] * MAX_OUTPUTS))
    assert eight.output_dim == MAX_OUTPUTS
    values, jac = eight.evaluate_with_jacobian(points((1, 2)))
    assert values.shape == (1, MAX_OUTPUTS)
    assert jac.shape == (1, MAX_OUTPUTS, 2)


def test_parenthesised_tuple_and_whitespace_and_newlines() -> None:
    f = parse_formula("  (x + 1,\n  y * 2)  ")
    assert f.exprs == (X + 1, 2 * Y)
    assert f.components == ("x + 1", "y * 2")


def test_float32_points_keep_their_dtype() -> None:
    f = parse_formula("sin(x) * 2**y + log(2), 3")
    pts = torch.rand(4, 2, dtype=torch.float32)
    values, jac = f.evaluate_with_jacobian(pts)
    assert values.dtype == torch.float32
    assert jac.dtype == torch.float32
    assert f.evaluate(pts).dtype == torch.float32


def test_float_literals_print_short_and_integral_floats_are_exact() -> None:
    assert parse_formula("0.1*x + 1e-3*y").jacobian_strings() == [["0.1", "0.001"]]
    assert parse_formula("x**2.0").jacobian_strings() == [["2*x", "0"]]


def test_formula_is_a_hashable_value() -> None:
    a, b = parse_formula("x*y, x"), parse_formula("x*y, x")
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(TypeError):
        a.symbolic_jacobian[0, 0] = 1  # type: ignore[index]


def test_constants_and_empty_batches() -> None:
    f = parse_formula("e**x, pi*y")
    assert f.exprs == (sympy.exp(X), sympy.pi * Y)
    values, jac = f.evaluate_with_jacobian(torch.zeros(0, 2, dtype=DTYPE))
    assert values.shape == (0, 2)
    assert jac.shape == (0, 2, 2)


def test_formula_built_directly_stores_an_immutable_jacobian() -> None:
    f = Formula("x*y", ("x*y",), (X * Y,), sympy.Matrix([[Y, X]]))
    assert isinstance(f.symbolic_jacobian, sympy.ImmutableMatrix)
    assert f.evaluate_with_jacobian(points((2, 3)))[1].tolist() == [[[3.0, 2.0]]]


def test_evaluate_rejects_points_of_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        parse_formula("x").evaluate(torch.zeros(3, 3, dtype=DTYPE))


# --------------------------------------------------------------------------------------------
# Every function: value against a reference, closed-form Jacobian against autograd
# --------------------------------------------------------------------------------------------

# name -> (reference on floats, sample arguments inside the domain)
REFERENCES = {
    "sin": (math.sin, [-2.0, 0.3, 4.0]),
    "cos": (math.cos, [-2.0, 0.3, 4.0]),
    "tan": (math.tan, [-1.2, 0.3, 1.0]),
    "asin": (math.asin, [-0.9, 0.1, 0.7]),
    "acos": (math.acos, [-0.9, 0.1, 0.7]),
    "atan": (math.atan, [-5.0, 0.2, 3.0]),
    "sinh": (math.sinh, [-3.0, 0.2, 2.0]),
    "cosh": (math.cosh, [-3.0, 0.2, 2.0]),
    "tanh": (math.tanh, [-3.0, 0.2, 2.0]),
    "asinh": (math.asinh, [-3.0, 0.2, 2.0]),
    "acosh": (math.acosh, [1.5, 2.0, 9.0]),
    "atanh": (math.atanh, [-0.9, 0.1, 0.5]),
    "exp": (math.exp, [-3.0, 0.0, 2.5]),
    "log": (math.log, [0.1, 1.0, 7.0]),
    "log2": (math.log2, [0.25, 1.0, 8.0]),
    "log10": (math.log10, [0.01, 1.0, 1000.0]),
    "sqrt": (math.sqrt, [0.0, 2.0, 9.0]),
    "cbrt": (lambda v: math.copysign(abs(v) ** (1 / 3), v), [-8.0, -0.5, 27.0]),
    "abs": (abs, [-3.0, 0.0, 2.0]),
    "sign": (lambda v: float((v > 0) - (v < 0)), [-3.0, 0.0, 2.0]),
    "relu": (lambda v: max(v, 0.0), [-3.0, 0.0, 2.0]),
    "sigmoid": (lambda v: 1 / (1 + math.exp(-v)), [-3.0, 0.0, 2.0]),
    "softplus": (lambda v: math.log1p(math.exp(v)), [-3.0, 0.0, 2.0]),
}
TWO_ARGUMENTS = {
    "atan2": (math.atan2, [(1.0, 2.0), (-1.0, -0.5), (0.3, -2.0)]),
    "hypot": (math.hypot, [(3.0, 4.0), (-1.0, 0.5), (0.0, -2.0)]),
    "min": (min, [(3.0, 4.0), (-1.0, 0.5), (0.0, -2.0)]),
    "max": (max, [(3.0, 4.0), (-1.0, 0.5), (0.0, -2.0)]),
}


def test_reference_tables_cover_every_function() -> None:
    assert set(REFERENCES) | set(TWO_ARGUMENTS) == set(FUNCTION_NAMES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_one_argument_function_values(name: str) -> None:
    reference, samples = REFERENCES[name]
    values = parse_formula(f"{name}(x)").evaluate(
        torch.tensor([[v, 0.0] for v in samples], dtype=DTYPE)
    )
    expected = torch.tensor([[reference(v)] for v in samples], dtype=DTYPE)
    torch.testing.assert_close(values, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(TWO_ARGUMENTS))
def test_two_argument_function_values(name: str) -> None:
    reference, samples = TWO_ARGUMENTS[name]
    values = parse_formula(f"{name}(x, y)").evaluate(torch.tensor(samples, dtype=DTYPE))
    expected = torch.tensor([[reference(a, b)] for a, b in samples], dtype=DTYPE)
    torch.testing.assert_close(values, expected, rtol=1e-13, atol=1e-15)


def test_min_max_take_many_arguments() -> None:
    f = parse_formula("max(x, y, 1, -x), min(x, y, 0.5)")
    values = f.evaluate(points((0.2, 0.3), (-3, 2)))
    assert values.tolist() == [[1.0, 0.2], [3.0, -3.0]]


def test_functions_work_on_constant_arguments() -> None:
    # Constants reach the torch side as plain numbers (e.g. log(2) inside 2**x's derivative).
    texts = [f"{n}(0.5)*x" for n in REFERENCES if n != "acosh"] + ["acosh(2)*x"]
    texts += [f"{n}(0.5, 0.25)*x" for n in TWO_ARGUMENTS] + ["2**x*sqrt(2) + pi**y"]
    for text in texts:
        values, jac = parse_formula(text).evaluate_with_jacobian(points((1, 1), (2, 3)))
        assert torch.isfinite(values).all(), text
        assert torch.isfinite(jac).all(), text


# (formula, box for x and y, keep(x, y): stay away from kinks, poles and domain edges)
JACOBIAN_CASES = {
    "sin": ("sin(x*y + x)", (-2.0, 2.0), None),
    "cos": ("cos(x - 2*y)", (-2.0, 2.0), None),
    "tan": ("tan(x*y)", (-1.0, 1.0), None),
    "asin": ("asin(x*y/2)", (-1.0, 1.0), None),
    "acos": ("acos(x - y/2)", (-0.4, 0.4), None),
    "atan": ("atan(x**2 - y)", (-3.0, 3.0), None),
    "atan2": ("atan2(y, x)", (-2.0, 2.0), lambda x, y: x**2 + y**2 > 0.01),
    "sinh": ("sinh(x*y)", (-2.0, 2.0), None),
    "cosh": ("cosh(x + y)", (-2.0, 2.0), None),
    "tanh": ("tanh(3*x - y)", (-2.0, 2.0), None),
    "asinh": ("asinh(x*y)", (-3.0, 3.0), None),
    "acosh": ("acosh(2 + x*y)", (-0.9, 0.9), None),
    "atanh": ("atanh(x*y)", (-0.9, 0.9), None),
    "exp": ("exp(x - y**2)", (-2.0, 2.0), None),
    "log": ("log(x*y)", (0.1, 3.0), None),
    "log2": ("log2(x + y)", (0.1, 3.0), None),
    "log10": ("log10(x**2 + y)", (0.1, 3.0), None),
    "sqrt": ("sqrt(x + y**2)", (0.1, 3.0), None),
    "cbrt": ("cbrt(x - y)", (-2.0, 2.0), lambda x, y: abs(x - y) > 0.1),
    "abs": ("abs(x - y)*y", (-2.0, 2.0), lambda x, y: abs(x - y) > 1e-3),
    "sign": ("sign(x*y)*x", (-2.0, 2.0), lambda x, y: abs(x * y) > 1e-3),
    "min": ("min(x, y**2, 0.5)", (-2.0, 2.0), None),
    "max": ("max(x*y, y, -x)", (-2.0, 2.0), None),
    "relu": ("relu(x - y)*y", (-2.0, 2.0), lambda x, y: abs(x - y) > 1e-3),
    "sigmoid": ("sigmoid(3*x - y)", (-4.0, 4.0), None),
    "softplus": ("softplus(x*y)", (-4.0, 4.0), None),
    "hypot": ("hypot(x, y - 1)", (-2.0, 2.0), lambda x, y: x**2 + (y - 1) ** 2 > 0.01),
}


def test_jacobian_cases_cover_every_function() -> None:
    assert set(JACOBIAN_CASES) == set(FUNCTION_NAMES)


@pytest.mark.parametrize("name", sorted(JACOBIAN_CASES))
def test_closed_form_jacobian_matches_autograd(name: str) -> None:
    text, (lo, hi), keep = JACOBIAN_CASES[name]
    f = parse_formula(f"{text}, y*({text})")
    generator = torch.Generator().manual_seed(sum(map(ord, name)))
    pts = lo + (hi - lo) * torch.rand(200, 2, dtype=DTYPE, generator=generator)
    if keep is not None:
        pts = pts[[bool(keep(float(x), float(y))) for x, y in pts]]
    values, jac = f.evaluate_with_jacobian(pts)
    assert torch.isfinite(values).all()
    assert torch.isfinite(jac).all()
    torch.testing.assert_close(values, f.evaluate(pts), rtol=1e-14, atol=0)
    torch.testing.assert_close(jac, autograd_jacobian(f, pts), rtol=1e-12, atol=1e-12)


def test_derivatives_display_compactly() -> None:
    f = parse_formula("softplus(x), sigmoid(y), relu(x), abs(log(x)), max(x, y), cbrt(y)")
    assert f.jacobian_strings() == [
        ["sigmoid(x)", "0"],
        ["0", "(1 - sigmoid(y))*sigmoid(y)"],
        ["step(x)", "0"],
        ["sign(log(x))/x", "0"],
        ["Heaviside(x - y)", "Heaviside(-x + y)"],
        ["0", "1/(3*cbrt(y)**2)"],
    ]


def test_kinks_follow_torch_conventions() -> None:
    f = parse_formula("relu(x), max(x, y), abs(y)")
    _, jac = f.evaluate_with_jacobian(points((0, 0)))
    torch.testing.assert_close(jac, autograd_jacobian(f, points((0, 0))))
    assert jac[0].tolist() == [[0.0, 0.0], [0.5, 0.5], [0.0, 0.0]]


@pytest.mark.parametrize(
    "text", ["relu(x), relu(-x)", "sigmoid(x), sigmoid(-x)", "softplus(x), softplus(-x)"]
)
def test_activations_are_stable_at_plus_minus_1000(text: str) -> None:
    f = parse_formula(text)
    pts = points((1000.0, 0.0), (-1000.0, 0.0))
    values, jac = f.evaluate_with_jacobian(pts)
    assert torch.isfinite(values).all()
    assert torch.isfinite(jac).all()
    assert torch.isfinite(autograd_jacobian(f, pts)).all()
    # values at +1000 and -1000 of f(x): 1000 and 0 (relu, softplus) or 1 and 0 (sigmoid)
    top = 1.0 if "sigmoid" in text else 1000.0
    assert values[:, 0].tolist() == [top, 0.0]


def test_domain_edges_give_nan_not_errors() -> None:
    values, jac = parse_formula("log(x), sqrt(y), asin(x*y)").evaluate_with_jacobian(
        points((-1.0, -1.0), (2.0, 4.0))
    )
    assert torch.isnan(values[0, :2]).all()
    assert math.isnan(values[1, 2])
    assert values[1, :2].tolist() == [math.log(2.0), 2.0]
    assert jac.shape == (2, 3, 2)


def test_translations_accept_plain_numbers() -> None:
    for name, fn in TORCH_TRANSLATIONS.items():
        if name in {"atan2", "hypot", "Max", "Min", "Pow"}:
            result = fn(0.5, 0.25)
        else:
            result = fn(0.5) if name != "acosh" else fn(2.0)
        assert isinstance(result, torch.Tensor), name


# --------------------------------------------------------------------------------------------
# Refusals: message and column
# --------------------------------------------------------------------------------------------

ERRORS = [
    ("z", "unknown name 'z' at column 1"),
    ("x + foo(y)", "unknown function 'foo' at column 5"),
    ("x.__class__", "'.' (attribute access) is not allowed at column 2"),
    ("__import__('os').system('ls')", "'.' (attribute access) is not allowed at column 17"),
    ("__import__('os')", "unknown function '__import__' at column 1"),
    ("lambda: 1", "'lambda' is not allowed at column 1"),
    ("sin(x=1)", "keyword arguments ('x=') are not allowed at column 5"),
    ("sin(x, y)", "sin takes 1 argument, got 2 at column 1"),
    ("atan2(x)", "atan2 takes 2 arguments, got 1 at column 1"),
    ("x + max(y)", "max takes at least 2 arguments, got 1 at column 5"),
    ("(x + y", "'(' was never closed at column 1"),
    ("x + y)", "unmatched ')' at column 6"),
    ("", "empty formula"),
    ("   ", "empty formula"),
    ("x, y,", "trailing comma (empty output) at column 5"),
    ("(x,)", "trailing comma (empty output) at column 3"),
    ("x + 'a'", "strings are not allowed at column 5"),
    ("f'{x}'", "strings are not allowed at column 1"),
    ("9**9**9**9", "number too large at column 5"),
    ("x**(10**10**10)", "number too large at column 7"),
    ("2**10**100", "number too large at column 2"),
    ("1e400*x", "number too large at column 1"),
    ("exp(1000)", "number too large at column 1"),
    ("1/0", "division by zero at column 2"),
    ("x/(y - y)", "division by zero at column 2"),
    ("0**-1", "division by zero (0 to a negative power) at column 2"),
    ("log(0) + x", "log(0) is not defined at column 1"),
    # 1 exactly, rounded in float64: the message shows every digit that says why.
    (
        "acos((sqrt(2)+sqrt(3))**2 - 2*sqrt(6) - 4)*x",
        "acos(1.0000000000000018) is not defined at column 1",
    ),
    ("(-8)^(1/3)", "a negative number to a fractional power is not a real number at column 5"),
    ("x" * 10000, "formula too long (10000 characters; at most 2000)"),
    ("(" * 500 + "x" + ")" * 500, "too many nested parentheses (at most 32 levels) at column 33"),
    ("x\0", "null character is not allowed at column 2"),
    ("x // y", "'//' (floor division) is not allowed at column 3"),
    ("x % 2", "'%' (modulo) is not allowed at column 3"),
    ("x < y", "comparisons ('<') are not allowed at column 3"),
    ("x or y", "'or' is not allowed at column 3"),
    ("not x", "'not' is not allowed at column 1"),
    ("x if y else 1", "'if ... else' is not allowed at column 3"),
    ("x[0]", "'[...]' (indexing) is not allowed at column 2"),
    ("[x, y]", "lists '[...]' are not allowed at column 1"),
    ("(x := 1)", "':=' (assignment) is not allowed at column 2"),
    ("[x for x in y]", "comprehensions are not allowed at column 1"),
    ("sin(*x)", "'*' (unpacking) is not allowed at column 5"),
    ("sin(**x)", "'**' (unpacking) is not allowed at column 5"),
    ("x, (y, x)", "a tuple is only allowed at the top level, to separate outputs at column 4"),
    ("True", "'True' is not allowed (only numbers) at column 1"),
    ("2j", "complex numbers are not allowed at column 1"),
    ("sin", "'sin' is a function; call it like sin(x) at column 1"),
    ("x(y)", "'x' is not a function (write x*(...) to multiply) at column 1"),
    ("X + 1", "unknown name 'X' (did you mean 'x'?) at column 1"),
    ("x ^ 2 + Sin(y)", "unknown function 'Sin' (did you mean 'sin'?) at column 9"),
    ("é^2 + z", "non-ASCII character 'é' is not allowed at column 1"),
    ("x^2 + z", "unknown name 'z' at column 7"),
    ("2x", "invalid number at column 1"),
    ("x = 1", "'=' is not allowed at column 3"),
    ("tan(pi/2)", "'tan(pi/2)' is undefined (it simplifies to zoo) at column 1"),
    ("x, sqrt(-y**2)", "'sqrt(-y**2)' is not real-valued (it simplifies to I*Abs(y)) at column 4"),
    (", ".join(["x"] * 9), "too many outputs (9; at most 8) at column 25"),
    ("+".join(["x"] * 300), "formula too long (more than 256 terms and operations)"),
    ("-" * 100 + "x", "formula too deeply nested (at most 32 levels) at column 33"),
    # Characters and spellings Python's tokenizer gives a meaning the user cannot see.
    ("x**2 + y #, x*y", "'#' is not allowed (it would hide the rest of the formula) at column 10"),
    ("x + \\\ny", "'\\' is not allowed at column 5"),
    ("x; y", "';' is not allowed (separate outputs with ',') at column 2"),
    ("ｘ**2, y", "non-ASCII character 'ｘ' is not allowed (write 'x') at column 1"),
    ("ｓｉｎ(x)", "non-ASCII character 'ｓ' is not allowed (write 's') at column 1"),
    ("𝑥 + y", "non-ASCII character '𝑥' is not allowed (write 'x') at column 1"),
    ("ℯ**x", "non-ASCII character 'ℯ' is not allowed (write 'e') at column 1"),
    ("x² + y", "non-ASCII character '²' is not allowed (write ^2) at column 2"),
    ("2π*x", "non-ASCII character 'π' is not allowed (write pi) at column 2"),
    ("x − y", "non-ASCII character '−' is not allowed (write -) at column 3"),
    ("x × y", "non-ASCII character '×' is not allowed (write *) at column 3"),
    ("x + ١", "non-ASCII character '١' is not allowed (write '1') at column 5"),
    ("x\u00a0+ y", "non-ASCII character U+00A0 is not allowed (write a plain space) at column 2"),
    ("x\u200b+ y", "non-ASCII character U+200B is not allowed at column 2"),
    ("x\ud800", "non-ASCII character U+D800 is not allowed at column 2"),
    ("x\x0b+ y", "control character U+000B is not allowed at column 2"),
    ("x +\x1b[2Jy", "control character U+001B is not allowed at column 4"),
    ("1_000*x", "invalid number '1_000' (write plain decimals such as 10 or 1.5e3) at column 1"),
    ("x + 0x1f", "invalid number '0x1f' (write plain decimals such as 10 or 1.5e3) at column 5"),
    ("0b11*y", "invalid number '0b11' (write plain decimals such as 10 or 1.5e3) at column 1"),
    ("0o17", "invalid number '0o17' (write plain decimals such as 10 or 1.5e3) at column 1"),
    ("1e1_0", "invalid number '1e1_0' (write plain decimals such as 10 or 1.5e3) at column 1"),
    # Echoes of the user's text are short.
    ("x + " + "a" * 1990, "unknown name 'aaaaaaaaaaaaaaaaaaaaaaa…' at column 5"),
    (
        "sin(" + "b" * 1990 + "=1)",
        "keyword arguments ('bbbbbbbbbbbbbbbbbbbbbbb…=') are not allowed at column 5",
    ),
]


def assert_one_short_line(error: FormulaError, text: str) -> None:
    """One line, not an internal error, quoting at most a short piece of ``text``."""
    message = str(error)
    assert not error.message.startswith("internal error"), message
    assert "\n" not in message and "\r" not in message, message
    assert len(message) <= MAX_MESSAGE_LENGTH + len(" at column 2000"), message
    assert error.column is None or 1 <= error.column <= len(text) + 1, (error.column, message)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("text", "expected"), ERRORS, ids=[t[:30] for t, _ in ERRORS])
def test_refusals_name_the_problem_and_its_column(text: str, expected: str) -> None:
    with exact_work() as work, pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert str(info.value) == expected
    assert_one_short_line(info.value, text)
    assert work.largest_integer_bits <= limits.MAX_BITS


@pytest.mark.parametrize(
    "text",
    ["1.5e3*x", ".5*x + 5.*y", "1E-3*x", "2.5e+2 - y", "0*x + 10", "0.0 + x", "1e308*x, 5e-324*y"],
)
def test_plain_decimal_spellings_are_numbers(text: str) -> None:
    check_evaluates(parse_formula(text))


def test_formula_error_messages_are_one_short_line() -> None:
    error = FormulaError("sympy says:\n" + "Complex part " * 1000 + "\n found", 7)
    assert "\n" not in str(error)
    assert len(error.message) <= MAX_MESSAGE_LENGTH
    assert error.message.startswith("sympy says: Complex part Complex part")
    assert error.message.endswith("…")
    assert str(error).endswith(" at column 7")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.message, clone.column) == (error.message, error.column)


def test_formula_error_fields_and_pickling() -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula("x + z")
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.message, err.column) == ("unknown name 'z'", 5)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.message, clone.column, str(clone)) == (err.message, err.column, str(err))
    assert str(FormulaError("empty formula")) == "empty formula"


def test_non_string_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_formula(42)  # type: ignore[arg-type]


def test_hostile_text_is_never_executed(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    attempts = [
        f"__import__('os').system('touch {canary}')",
        f"open('{canary}', 'w')",
        "().__class__.__bases__[0].__subclasses__()",
        f"exec(\"open('{canary}', 'w')\")",
        f"[c for c in ().__class__.__base__.__subclasses__()], open('{canary}', 'w')",
    ]
    for text in attempts:
        with pytest.raises(FormulaError):
            parse_formula(text)
    assert not canary.exists()


def test_module_never_hands_text_to_an_evaluator() -> None:
    sources = sorted(Path(formula_package.__file__).parent.glob("*.py"))
    assert len(sources) > 1  # every module of the package, not only its __init__
    forbidden = {"eval", "exec", "compile", "sympify", "parse_expr", "S", "__import__"}
    called = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    assert not called & forbidden


@pytest.mark.parametrize(
    "text",
    [
        "9**9**9**9",
        "x**(10**10**10)",
        "2**10**100",
        "(1/3)**(10**300)",
        "(2*x)**(10**6)",
        "((x*2**1000)**1000)**1000",
        "(((x**99)**99)**99)**99",
        "x" + "**x" * 200,
        "-" * 1999 + "x",
        "(" * 1000,
        "[" * 1999,
        "1" * 2000,
        "sin(" * 400 + "x" + ")" * 400,
        "x" + "*x" * 999,
        "max(" + ", ".join(f"x*{k}+y" for k in range(60)) + ")",
        "\0" * 100,
    ],
    ids=lambda t: t[:20],
)
@pytest.mark.timeout(60)
def test_explosive_text_is_refused_before_sympy_builds_huge_numbers(text: str) -> None:
    with exact_work() as work, pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert_one_short_line(info.value, text)
    assert work.largest_integer_bits <= limits.MAX_BITS
    assert work.derivatives == 0
    assert work.multinomial_expansions == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    [
        "x" + "**x" * 30,
        "*".join(f"(x + {k}*y)" for k in range(40)),
        "max(" + ", ".join(f"x*{k} + y" for k in range(20)) + ")",
        "sin(" * 30 + "x*y" + ")" * 30,
        "(2*x)**1000 + x**(10**300)",
    ],
    ids=lambda t: t[:20],
)
def test_large_but_allowed_formulas_stay_within_the_work_bounds(text: str) -> None:
    with exact_work() as work:
        f = parse_formula(text)
    assert work.largest_integer_bits <= limits.MAX_BITS
    assert work.derivatives == 2  # one per variable: nothing is differentiated twice
    assert work.multinomial_expansions == 0
    entries = list(f.symbolic_jacobian)
    assert parse_module._count_nodes(entries, 10**6) <= limits.MAX_JACOBIAN_NODES
    values, jac = f.evaluate_with_jacobian(torch.rand(100, 2, dtype=DTYPE) + 0.5)
    assert values.shape == (100, 1)
    assert jac.shape == (100, 1, 2)


# The three formulas of issue 10 that ended in a traceback or an "internal error": sympy
# raised while simplifying, or turned an exact constant into a complex float.
SYMPY_FAILURES = ["asin(-sin(atan(2**1000))), y", "asin(sin(2**1000)), y"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", SYMPY_FAILURES)
def test_constants_sympy_cannot_simplify_evaluate_to_their_real_value(text: str) -> None:
    f = parse_formula(text)
    expected = {
        SYMPY_FAILURES[0]: -math.pi / 2,  # sin(atan(z)) = z/sqrt(1 + z**2) = 1 - 2**-2001
        SYMPY_FAILURES[1]: math.asin(math.sin(2.0**1000)),  # 2**1000 is exact in float64
    }[text]
    check_evaluates_anywhere(f)
    values, jac = f.evaluate_with_jacobian(points((1, 2), (-3, 0.5)))
    assert values[:, 0].tolist() == pytest.approx([expected] * 2, rel=1e-15)
    assert jac[:, 0].tolist() == [[0.0, 0.0]] * 2


def test_a_formula_real_nowhere_evaluates_to_nan_everywhere() -> None:
    # sympy's DiracDelta raised for the derivative of sign(...) here: its argument is complex.
    f = parse_formula("sign(tan(log(-1-x**2))), y")
    check_evaluates_anywhere(f)
    values, jac = f.evaluate_with_jacobian(points((1, 2), (0, 0)))
    assert torch.isnan(values[:, 0]).all() and torch.isnan(jac[:, 0, 0]).all()
    assert values[:, 1].tolist() == [2.0, 0.0]


def test_sympy_failing_to_build_or_differentiate_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fails(*args: object) -> sympy.Expr:
        raise TypeError("cannot determine truth value of Relational:\n" + "9" * 5000)

    sin = language.FUNCTIONS["sin"]
    monkeypatch.setitem(language.FUNCTIONS, "sin", sin.__class__(1, 1, fails, sin.fold))
    with pytest.raises(FormulaError) as info:
        parse_formula("x + sin(x*y)")
    assert str(info.value) == "'sin(x*y)' cannot be worked out symbolically at column 5"
    # A constant keeps its (checked) float value instead.
    assert parse_formula("x + sin(2)").exprs[0] == X + sympy.Float(math.sin(2.0))
    monkeypatch.undo()
    monkeypatch.setattr(sympy, "diff", fails)
    with pytest.raises(FormulaError) as info:
        parse_formula("y, x*y")
    assert str(info.value) == "the derivative of 'y' cannot be worked out symbolically at column 1"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_constant_outputs_beyond_the_dtype_overflow_to_inf(dtype: torch.dtype) -> None:
    f = parse_formula("1e260, -1e300*x, x, 2**1023")
    values, jac = f.evaluate_with_jacobian(points((1, 2)).to(dtype))
    assert values.dtype == jac.dtype == dtype
    if dtype == torch.float32:
        assert values[0].tolist() == [math.inf, -math.inf, 1.0, math.inf]
    else:
        assert values[0].tolist() == [1e260, -1e300, 1.0, 2.0**1023]


# Formulas that passed every size guard and then kept sympy busy for minutes (issue 10,
# found by grammar fuzzing): answering "is cosh(z) >= 0?" made sympy split z into real and
# imaginary parts, which expands z completely, e.g. 3**(y - 10**8) into 3**y / 3**(10**8)
# with the exact 3**(10**8) (48 million bits), or (x + y + 2)**200 into 20301 terms.
EXACT_POWER_EXPLOSIONS = [
    "sinh(3**(y-10**8)), y",
    "abs(sinh(3**(y-10**8))), y",
    "sinh(sqrt(3)**(y-10**8)), y",
    "sinh((1/3)**(y-10**8)), y",
    "sinh((1+sqrt(2))**(y-10**8)), y",
    "sinh(3**((y+10)**8)), y",
    "sinh(2**((x+y+2)**40)), y",
    "sinh(exp(log(3)*(y-10**8))), y",
    "cosh(3**(y-10**8)*(2*x)**(y+10**8))",
    "tanh(e**(log(5)*(x + 10**8))), y",
]
# Found by a fuzzer aimed at exact numbers: an exact number to a fraction p/q is algebraic of
# degree q, and sympy decides the sign of one within 1e-100 of a boundary through its minimal
# polynomial, of degree q (10**976 here, 2**23 in 1 - 2**-23).
FUZZED_NUMERATOR = (
    "29796170179153164778618715744844669464505405558311420465644263041320641988510992"
    "10610977686205340337116483687810744122451967117359875942625321124025391520370078"
    "33458213419263706700508523819033009598289113002018775657321193692177784777818082"
    "00648779137642772671"
)
FUZZED_DENOMINATOR = (
    "4302098478365910264941068401530528320228855669825243270811174059479423264124013783482779"
)
ROOT_EXPLOSIONS = [
    "acos((3**35)**(10**-976))*x*y",
    "log(y)*x, ((2**400 + 7)/(3**350 + 1))**(7**-249)*y",
    f"sign(tanh(((({FUZZED_NUMERATOR}/{FUZZED_DENOMINATOR}))**(2**-273))+((2**153)+(y))))*x*y",
    # Not slow in themselves, but of the same kind: the rule refuses them too.
    "sign(2**(1 - 2**-23)), y",
    "((3**(1/100))**(1/100))*x",
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", ROOT_EXPLOSIONS, ids=lambda t: t[:40])
def test_roots_of_exact_numbers_too_deep_for_sympy_are_refused(text: str) -> None:
    with exact_work() as work, pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert info.value.message == (
        "fractional power too fine for exact arithmetic (a denominator above 4096); "
        "write the exponent as a decimal"
    )
    assert work.derivatives == 0
    assert work.largest_integer_bits <= limits.MAX_BITS


@pytest.mark.timeout(60)
def test_roots_of_exact_numbers_beyond_1024_bits_are_taken_of_their_float() -> None:
    # sympy looks for an exact square root with primality tests, a fifth of a second each on
    # a 3600-bit rational; a formula has room for dozens of them.
    roots = " + ".join(f"sqrt(7**-1300 + {k})*x" for k in range(2, 20))
    f = parse_formula(roots)
    assert not f.exprs[0].atoms(sympy.Pow)  # every root is a float: one coefficient of x
    assert f.evaluate(points((1.0, 0.0)))[0, 0] == pytest.approx(
        sum(math.sqrt(k) for k in range(2, 20)), rel=1e-14
    )
    assert parse_formula("cbrt(7**-1300 + 8)*x, (7**-1300 + 8)**(1/3)*y").exprs == (
        sympy.Float(2.0) * X,
        sympy.Float(2.0) * Y,
    )
    # Small exact numbers keep their exact roots.
    assert parse_formula("sqrt(8)*x, cbrt(-27)*y").exprs == (2 * sympy.sqrt(2) * X, -3 * Y)


def test_ordinary_roots_and_decimal_exponents_are_kept() -> None:
    f = parse_formula("x**(1/3) + 2**(1/3), (2/3)**(5/2)*y, 3**0.9999999*x, x**(1/5000)")
    values = f.evaluate(points((8.0, 1.0)))[0].tolist()
    expected = [2 + 2 ** (1 / 3), (2 / 3) ** 2.5, 3**0.9999999 * 8, 8 ** (1 / 5000)]
    assert values == pytest.approx(expected, rel=1e-15)


# The hyperbolic functions' class had more members, found by a fuzzer aimed at it: sympy
# decides the sign of a Heaviside's or DiracDelta's argument (the derivatives of max, min,
# relu and sign) by computing its imaginary part, which raises (log(x) - pi)**393 as a
# polynomial in its real and imaginary parts.
POLYNOMIAL_EXPANSIONS = [
    "sinh(sin((x+y+2)**200)), y",
    "sinh(x**((x+y+2)**100)), y",
    "abs(sinh(sin((x+y+2)**100))), y",
    "cosh(tan((x*y+x+y+1)**60)), tanh((x-y+3)**300 + 1)",
    "max((log(x) - pi)**393, y/3)",
    "softplus(max(log((x*y - pi)**1246), x*log(3)))",
    "sin(max((log(x) - 2)**827, -y)), min(cos(pi*(10**5 + y/3)), log(x))",
    "acosh(e**(x+y + 2**30)), softplus(sign((log(x) + pi)**1794))",
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", POLYNOMIAL_EXPANSIONS)
def test_big_powers_are_never_expanded_to_decide_a_sign(text: str) -> None:
    with exact_work() as work:
        f = parse_formula(text)
    assert work.multinomial_expansions == 0
    assert work.power_splits == 0
    assert work.largest_integer_bits <= limits.MAX_BITS
    check_evaluates_anywhere(f)


def test_functions_of_undefined_values_are_undefined() -> None:
    # torch's sign and heaviside give 0 for nan; the formula is not defined there.
    f = parse_formula("sign(log(x)), max(log(x), y), relu(log(x))*y, abs(sqrt(x))")
    values, jac = f.evaluate_with_jacobian(points((-1.0, 2.0), (4.0, 0.5)))
    assert torch.isnan(values[0]).all()
    assert torch.isnan(jac[0, :, 0]).all()
    assert values[1].tolist() == [1.0, math.log(4.0), math.log(4.0) * 0.5, 2.0]
    assert f.jacobian_strings()[0] == ["2*DiracDelta(log(x))/x", "0"]


def test_hyperbolic_functions_keep_their_derivatives_and_values() -> None:
    f = parse_formula("sinh(x*y), cosh(x - y), tanh(2*x)")
    assert f.jacobian_strings() == [
        ["y*cosh(x*y)", "x*cosh(x*y)"],
        ["sinh(x - y)", "-sinh(x - y)"],
        ["2 - 2*tanh(2*x)**2", "0"],
    ]
    assert parse_formula("sinh(-x), cosh(-x), tanh(0)").exprs == (
        -parse_formula("sinh(x)").exprs[0],
        parse_formula("cosh(x)").exprs[0],
        0,
    )
    assert parse_formula("sinh(asinh(x))").exprs == (X,)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

PROBE = torch.tensor(
    [[0.0, 0.0], [1.0, 2.0], [-1.5, 0.5], [0.3, -0.7], [1e3, -1e3], [1e-9, 3.0]], dtype=DTYPE
)


# Exact numbers stay within the parser's bit budget until it differentiates. A derivative can
# square them (d/dy atan2(y, c) = c/(c**2 + y**2)), once per level of nesting, before the
# parser refuses any result above the budget: the size grows with the nesting, never
# exponentially as in 3**(10**8).
DIFFERENTIATED_BITS = 8 * limits.MAX_BITS


def parse_or_refuse(text: str) -> Formula | None:
    """The formula, or None when it is refused in one short line; never any other outcome."""
    with exact_work() as work:
        try:
            result: Formula | None = parse_formula(text)
        except FormulaError as err:
            assert_one_short_line(err, text)
            result = None
    assert work.largest_integer_bits <= DIFFERENTIATED_BITS, text
    return result


@pytest.mark.timeout(60)
def test_derivatives_that_square_exact_numbers_grow_with_the_nesting_only() -> None:
    c = "7**-1000"  # 2808 bits, within the budget
    text = f"atan2(atan2(atan2(atan2(y, {c}), {c}), {c}), {c})"
    with exact_work() as work, pytest.raises(FormulaError, match="number too large"):
        parse_formula(text)
    assert limits.MAX_BITS < work.largest_integer_bits <= DIFFERENTIATED_BITS


def check_evaluates(formula: Formula) -> None:
    values = formula.evaluate(PROBE)
    values2, jac = formula.evaluate_with_jacobian(PROBE)
    m = formula.output_dim
    assert values.shape == (len(PROBE), m)
    assert values2.shape == (len(PROBE), m)
    assert jac.shape == (len(PROBE), m, 2)
    assert values.dtype == jac.dtype == DTYPE
    assert len(formula.components) == m
    assert len(formula.jacobian_strings()) == m


# Zero, signed zero, negative, huge, subnormal and mixed points: where a formula is not defined
# its values are NaN or inf, never an exception or a complex number.
ANYWHERE = torch.tensor(
    [
        [0.0, 0.0],
        [-0.0, 3.0],
        [-1.5, 2.0],
        [0.7, -0.3],
        [1e300, -1e300],
        [-1.7e308, 1.7e308],
        [5e-324, -5e-324],
        [1.0, 5e-324],
        [1e-310, 1e154],
    ],
    dtype=DTYPE,
)


def check_evaluates_anywhere(formula: Formula) -> None:
    """Real float values and Jacobians of the right shape and dtype at :data:`ANYWHERE`."""
    m = formula.output_dim
    for dtype in (torch.float64, torch.float32):
        pts = ANYWHERE.to(dtype)
        values = formula.evaluate(pts)
        values2, jac = formula.evaluate_with_jacobian(pts)
        n = len(pts)
        for array, shape in ((values, (n, m)), (values2, (n, m)), (jac, (n, m, 2))):
            assert isinstance(array, torch.Tensor)
            assert array.dtype == dtype and tuple(array.shape) == shape, (array.dtype, array.shape)


# Hangs are caught by the timeout markers, not by hypothesis's per-example deadline: a clock
# limit fails on a busy machine.
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.timeout(300)
@PROPERTY_SETTINGS
@given(st.text(max_size=80))
def test_arbitrary_text_only_ever_raises_formula_error(text: str) -> None:
    formula = parse_or_refuse(text)
    if formula is not None:
        check_evaluates(formula)


NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=10**40).map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "1", "2", "9", "10", "0.5", "1e-3", "1e300", "1e308", "1e400"]),
)
NAME_TOKENS = ["x", "y", "pi", "e"]
UNARY = [n for n in FUNCTION_NAMES if n not in {"atan2", "hypot", "min", "max"}]


def _grammar_extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operators = st.sampled_from(["+", "-", "*", "/", "**", "^"])
    return st.one_of(
        st.tuples(children, operators, children).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(children, operators, children).map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
        children.map(lambda c: f"-{c}"),
        st.tuples(st.sampled_from(UNARY), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["atan2", "hypot"]), children, children).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(children, min_size=2, max_size=4)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
    )


EXPRESSIONS = st.recursive(
    st.one_of(st.sampled_from(NAME_TOKENS), NUMBERS), _grammar_extend, max_leaves=30
)
FORMULAS = st.lists(EXPRESSIONS, min_size=1, max_size=3).map(", ".join)
TOKENS = st.lists(
    st.one_of(
        NUMBERS,
        st.sampled_from(
            [*NAME_TOKENS, *FUNCTION_NAMES, "+", "-", "*", "/", "**", "^", "(", ")", ",", " "]
        ),
    ),
    max_size=40,
).map("".join)


@pytest.mark.timeout(300)
@PROPERTY_SETTINGS
@given(FORMULAS)
def test_grammar_formulas_parse_or_refuse_and_then_evaluate(text: str) -> None:
    formula = parse_or_refuse(text)
    if formula is not None:
        check_evaluates(formula)


@pytest.mark.timeout(300)
@PROPERTY_SETTINGS
@given(TOKENS)
def test_token_soup_parses_or_refuses_and_then_evaluates(text: str) -> None:
    formula = parse_or_refuse(text)
    if formula is not None:
        check_evaluates(formula)


@pytest.mark.timeout(60)
def test_huge_exact_numbers_built_by_simplification_are_refused() -> None:
    # The parser's static guards bound typed numbers; sympy can still build bigger ones while
    # simplifying a derivative. Converting such a number to a float once hung a property
    # test for minutes; now it is refused before any conversion.
    huge = sympy.Integer(2) ** 200_000 * X
    with pytest.raises(FormulaError, match="number too large"):
        codegen.check_exact_numbers([huge])
    codegen.check_exact_numbers([sympy.Integer(2) ** 4000 * X])
    f = Formula("x", ("x",), (sympy.Integer(2) ** 60 * X,), sympy.Matrix([[2**60, 0]]))
    assert f.evaluate(points((1, 0))).tolist() == [[2.0**60]]


# --------------------------------------------------------------------------------------------
# Grammar fuzzing: a seeded generator over the whole language, with the numbers and shapes
# that broke the parser before (huge and tiny numbers, exponents hiding huge constants, powers
# of sums, deep nesting) and the characters Python's tokenizer gives a silent meaning.
# JACVIZ_FORMULA_FUZZ_CASES=20000 runs a longer campaign with the same generator.
# --------------------------------------------------------------------------------------------

FUZZ_UNARY = [n for n in FUNCTION_NAMES if n not in {"atan2", "hypot", "min", "max"}]
FUZZ_NUMBERS = [
    *("0", "1", "2", "3", "0.5", "10", "1e-3", "0.1", "7.25", "1/3", "(1/3)", "(-2)"),
    *("1e300", "1e308", "1.7e308", "1e-300", "5e-324", "1e-320", "1e15", "1e16"),
    *("2**1000", "2**1023", "10**8", "10**300", "3**700", "9**9", "2**-1074", "2**53", "2**64+1"),
]
FUZZ_BASES = ["2", "3", "(1/3)", "sqrt(2)", "(1+sqrt(2))", "(2*x)", "x", "(x+y+2)", "e", "pi"]
FUZZ_BIG = ["10**8", "10**6", "1000", "10**300", "2**64", "1e8", "(y+10)**8", "10**8*(x+1)"]
FUZZ_HOSTILE = [
    *("#", "\\", ";", "ｘ", "ｓｉｎ", "²", "π", "−", "×", "٣", "\u00a0", "\u200b", "\t", "\f"),
    *("\v", "\x1b", "_", "1_0", "0x1f", "0b11", "2j", "'", '"', "`", "$", "?", "!", "@", "..."),
    *(":=", "\\\n", "ℯ", "𝑥", "ﬁ", "\r", "\n", "lambda", "if", "None", "True", "==", "%", "//"),
    *("&", "|", "~", "[", "]", "{", "}", ".", "e", "E", "1.", ".5", "1e", "1e+", "0..", ","),
]


def fuzz_number(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.45:
        return rng.choice(FUZZ_NUMBERS)
    if r < 0.65:
        return str(rng.randint(0, 10 ** rng.randint(1, 30)))
    if r < 0.8:
        return repr(abs(rng.uniform(-1, 1) * 10.0 ** rng.randint(-320, 308)))
    if r < 0.9:
        return f"{rng.choice(['2', '3', '10', '7', '(1/3)', '2.5'])}**{rng.randint(-1100, 1100)}"
    return f"{rng.randint(1, 9)}e{rng.randint(-330, 330)}"


def fuzz_expression(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.25:
        if rng.random() < 0.55:
            return rng.choice(["x", "y", "x", "y", "pi", "e"])
        return fuzz_number(rng)
    d = depth - 1
    r = rng.random()
    if r < 0.3:
        op = rng.choice(["+", "-", "*", "/", "**", "^"])
        a, b = fuzz_expression(rng, d), fuzz_expression(rng, d)
        return f"({a}){op}({b})" if rng.random() < 0.5 else f"{a} {op} {b}"
    if r < 0.55:
        return f"{rng.choice(FUZZ_UNARY)}({fuzz_expression(rng, d)})"
    if r < 0.62:
        name = rng.choice(["atan2", "hypot"])
        return f"{name}({fuzz_expression(rng, d)}, {fuzz_expression(rng, d)})"
    if r < 0.67:
        args = ", ".join(fuzz_expression(rng, d) for _ in range(rng.randint(2, 4)))
        return f"{rng.choice(['min', 'max'])}({args})"
    if r < 0.75:
        return f"-{fuzz_expression(rng, d)}"
    if r < 0.83:
        base = rng.choice([*FUZZ_BASES, fuzz_expression(rng, 0)])
        sign = rng.choice(["+", "-"])
        return f"{base}**({fuzz_expression(rng, d)} {sign} {rng.choice(FUZZ_BIG)})"
    if r < 0.9:
        shift = rng.choice(["2", "x", "y", "x*y"])
        return f"({fuzz_expression(rng, d)} + {shift})**{rng.randint(2, 300)}"
    return f"({fuzz_expression(rng, d)})"


def fuzz_formula(seed: int) -> str:
    """One formula text, the same for the same seed."""
    rng = random.Random(seed)
    text = ", ".join(fuzz_expression(rng, rng.randint(1, 6)) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.15:
        for _ in range(rng.randint(1, 2)):
            i = rng.randint(0, len(text))
            text = text[:i] + rng.choice(FUZZ_HOSTILE) + text[i:]
    return text


FUZZ_CASES = int(os.environ.get("JACVIZ_FORMULA_FUZZ_CASES", "150"))


@pytest.mark.timeout(900)
def test_fuzzed_formulas_parse_or_refuse_in_one_line_and_evaluate_to_real_floats() -> None:
    for seed in range(FUZZ_CASES):
        text = fuzz_formula(seed)
        try:
            formula = parse_or_refuse(text)
            if formula is not None:
                check_evaluates_anywhere(formula)
        except Exception as error:
            raise AssertionError(f"fuzz seed {seed}: {text!r}") from error


def test_fuzzer_covers_the_language() -> None:
    texts = [fuzz_formula(seed) for seed in range(FUZZ_CASES)]
    used = {name for name in FUNCTION_NAMES if any(f"{name}(" in t for t in texts)}
    assert used == set(FUNCTION_NAMES)
    assert any(not t.isascii() for t in texts)
    assert any("#" in t for t in texts)
    assert any("**(" in t and "10**8" in t for t in texts)
    assert len(set(texts)) > 0.95 * len(texts)
