"""The numpy backend of formulas agrees with the torch backend, to float64 rounding.

Maps compute formulas in numpy (:mod:`jacviz.math.formula.numpy_backend`); the torch backend
(:mod:`jacviz.math.formula.torch_backend`) stays for tensors and autograd, and the older tests
in ``test_formula.py`` check it against closed forms and autograd. Both backends run the same
printed code, operation for operation, so they can differ only where an elementary function
(``sin``, ``exp``, ``tanh``, ...) rounds differently in numpy and in torch. Each library keeps
those within a couple of ulps of the true value; the differences measured on every preset
and on every function of the language stay below 3 ulps of the size of the terms involved.
The comparisons below allow :data:`ULPS` = 16 ulps of ``|value| + scale``, where ``scale`` is
the largest size of that output over the sample: a result that cancels terms (``1 - tanh²``
near ``tanh = ±1``, ``sin(x)`` near a root) carries the absolute rounding of those terms, not a
rounding relative to its own small size. Nan and inf must agree exactly, and so must every
value at a kink or a domain edge, where the conventions (relu'(0) = 0, ``max``'s 1/2 at a tie,
sign' = 0, nan off-domain, inf on overflow) give exact numbers.

Two places where the backends differ on purpose, each checked against the true value:

- ``cbrt``: numpy's ``cbrt`` is correctly rounded; the torch backend's ``|z| ** (1/3)`` uses
  the rounded exponent fl(1/3), off by 1/3 · 2**-54, which moves the result by
  ``|ln z| · 1/3 · 2**-54`` relative (58 ulps at ``z = 1e-300``).
- ``sinh`` and ``cosh`` for 709.78 < |z| <= 710.47: the true value (up to 1.8e308) fits in
  float64; numpy gives it, torch's vectorised kernels overflow to inf early (its scalar ones,
  used for strided tensors, do not).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from jacviz.math.formula import parse_formula
from jacviz.math.formula.codegen import BACKEND_NAMES
from jacviz.math.formula.language import FUNCTIONS
from jacviz.math.formula.numpy_backend import NUMPY_TRANSLATIONS
from jacviz.math.formula.torch_backend import TORCH_TRANSLATIONS
from jacviz.math.maps import FormulaMap
from jacviz.math.presets import PRESETS

ULPS = 16
"""Allowed difference, in units of 2**-52 of ``|value| + scale`` (see the module docstring)."""

EPS = 2.0**-52

# Points that sit on kinks and domain edges, or make functions overflow: 0, ±1 (asin, acos,
# atanh and acosh edges, relu/abs/sign kinks), ties x = y, tiny and huge arguments, and
# 709.7/710.5 around exp's overflow (past sinh's and cosh's own, see above).
SMALL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-300, -1e-300, 1e-8, 3.0, math.pi / 2]
SPECIAL = np.array([*SMALL, 709.7, -709.7, 710.5, -710.5, 1e6, -1e6, 1e200, -1e200])
SPECIAL_POINTS = np.stack(np.meshgrid(SPECIAL, SPECIAL), axis=-1).reshape(-1, 2)
RANDOM_POINTS = np.random.default_rng(14).uniform(-3.0, 3.0, size=(4000, 2))


def both(text: str, points: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Values and Jacobians of ``text`` at ``points`` from numpy and from torch."""
    formula = parse_formula(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy evaluation never warns, whatever the points
        values, jacobian = formula.evaluate_with_jacobian(points)
    tensor_values, tensor_jacobian = formula.evaluate_with_jacobian(torch.from_numpy(points))
    return [values, jacobian], [tensor_values.numpy(), tensor_jacobian.numpy()]


def columns(array: np.ndarray) -> np.ndarray:
    """An (N, ...) array as (N, k) columns, one per output or Jacobian entry."""
    return array.reshape(len(array), -1)


def assert_agree(
    ours: np.ndarray,
    reference: np.ndarray,
    ulps: float = ULPS,
    relative: float = 0.0,
    per_point: bool = False,
) -> None:
    """Same nan and inf everywhere; finite values within ``ulps`` of ``|value| + scale``.

    ``scale`` is the column's largest size, or 1 with ``per_point``. ``relative`` widens the
    allowance by a known relative error of the reference.
    """
    ours, reference = columns(ours), columns(reference)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_array_equal(
        np.where(np.isinf(ours), ours, 0), np.where(np.isinf(reference), reference, 0)
    )
    finite = np.isfinite(reference)
    for k in range(reference.shape[1]):
        rows = finite[:, k]
        if not rows.any():
            continue
        size = np.abs(reference[rows, k])
        scale = 1.0 if per_point else size.max()
        allowed = ulps * EPS * (size + scale) + relative * size
        error = np.abs(ours[rows, k] - reference[rows, k])
        worst = int(np.argmax(error - allowed))
        assert (error <= allowed).all(), (
            f"column {k}: {ours[rows, k][worst]!r} vs {reference[rows, k][worst]!r}"
        )


def test_the_backends_define_every_name_the_code_calls() -> None:
    assert set(NUMPY_TRANSLATIONS) == set(TORCH_TRANSLATIONS) == BACKEND_NAMES


@pytest.mark.parametrize("name", sorted(BACKEND_NAMES - {"scalar"}))
def test_numpy_translations_take_plain_numbers(name: str) -> None:
    args = (0.5, 0.25) if name in {"atan2", "hypot", "Max", "Min", "Pow"} else (0.5,)
    args = (2.0,) if name == "acosh" else args
    with np.errstate(all="raise"):
        result = NUMPY_TRANSLATIONS[name](*args)
    assert np.asarray(result).dtype == np.float64
    assert float(result) == pytest.approx(float(TORCH_TRANSLATIONS[name](*args)), rel=4 * EPS)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.name)
def test_every_preset_agrees_on_its_domain(preset) -> None:
    domain = preset.domain
    xs = np.linspace(domain.xmin, domain.xmax, 97)
    ys = np.linspace(domain.ymin, domain.ymax, 89)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    points = np.concatenate([grid, RANDOM_POINTS * max(domain.width, domain.height)])
    ours, reference = both(preset.formula, points)
    for mine, theirs in zip(ours, reference, strict=True):
        assert_agree(mine, theirs)


def function_formulas() -> list[str]:
    """Formulas that use every function of the language, on plain and composite arguments."""
    texts = []
    for name, spec in FUNCTIONS.items():
        if name == "cbrt":
            continue  # compared against the true cube root below
        if spec.min_args == 1:
            texts.append(f"{name}(x), {name}(y - x)")
            texts.append(f"{name}(x*y + 1), {name}(x**2 - y)")
        else:
            texts.append(f"{name}(x, y), {name}(y - x, x*y)")
    texts += ["max(x, y, 0.5), min(x, -y, x*y)", "x**y, y**0.5", "x**-1.5, 2**x - y**3"]
    texts += ["sign(log(x)), relu(asin(y))", "abs(x) + sqrt(abs(y)), softplus(-x*y)"]
    texts += ["tanh(3*x - y) - sigmoid(x + y), hypot(x, 1) * atan2(y, x)"]
    return texts


def sinh_cosh_edge(text: str, points: np.ndarray) -> np.ndarray:
    """Rows whose arguments can reach torch's early overflow of sinh and cosh (see above)."""
    if "sinh" not in text and "cosh" not in text:
        return np.zeros(len(points), dtype=bool)
    with np.errstate(all="ignore"):
        arguments = np.abs(np.concatenate([points, points[:, :1] ** 2 - points[:, 1:]], axis=1))
        arguments = np.concatenate(
            [arguments, np.abs(points[:, 1:] - points[:, :1]), np.abs(points.prod(1))[:, None]], 1
        )
    return ((arguments > 709.7) & (arguments < 710.48)).any(axis=1) | (arguments >= 709.0).any(1)


@pytest.mark.parametrize("text", function_formulas())
def test_every_function_agrees_on_random_points(text: str) -> None:
    ours, reference = both(text, RANDOM_POINTS)
    for mine, theirs in zip(ours, reference, strict=True):
        assert_agree(mine, theirs)


@pytest.mark.parametrize("text", function_formulas())
def test_every_function_agrees_at_kinks_edges_and_overflow(text: str) -> None:
    points = SPECIAL_POINTS[~sinh_cosh_edge(text, SPECIAL_POINTS)]
    ours, reference = both(text, points)
    for mine, theirs in zip(ours, reference, strict=True):
        # Point by point: the terms here range from 1e-300 to 1e200, so each value is measured
        # against its own size (and 1, the size of the constants in the formulas).
        assert_agree(mine, theirs, per_point=True)


def test_kinks_and_domain_edges_take_the_same_exact_values() -> None:
    text = "relu(x) + max(x, y) + abs(y) + sign(x)*y, min(x, y) + sqrt(x) + log(y) + asin(x)"
    points = np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, -1.0], [1.0, 0.0]])
    (values, jacobian), (tensor_values, tensor_jacobian) = both(text, points)
    np.testing.assert_array_equal(values, tensor_values)
    np.testing.assert_array_equal(jacobian, tensor_jacobian)
    # relu'(0) = 0, d max/dx = 1/2 at a tie, d|y|/dy = sign(0) = 0, sign' = 0
    assert jacobian[0, 0].tolist() == [0.5, 0.5]
    # sqrt' and log' at 0 are inf, asin' at 1 is inf; asin(-1) and sqrt(-1): nan
    assert jacobian[0, 1].tolist() == [math.inf, math.inf]
    assert math.isinf(jacobian[3, 1, 0]) and math.isnan(values[2, 1])


def test_sinh_and_cosh_near_overflow_are_the_true_values() -> None:
    # 64 copies: torch's vectorised kernels (on contiguous tensors) overflow past 709.78.
    points = np.repeat([[709.9, -710.4], [710.47, 1.0], [711.0, -711.0]], 64, axis=0)
    (values, jacobian), _ = both("sinh(x), cosh(y)", points)
    expected = [[math.sinh(709.9), math.cosh(-710.4)], [math.sinh(710.47), math.cosh(1.0)]]
    np.testing.assert_allclose(values[::64][:2], expected, rtol=4 * EPS)
    assert values[-1].tolist() == [math.inf, math.inf]  # past 710.48 the true value overflows
    true_jacobian = [[math.cosh(709.9), 0.0], [0.0, math.sinh(-710.4)]]
    np.testing.assert_allclose(jacobian[0], true_jacobian, rtol=4 * EPS)


@pytest.mark.parametrize("points", [RANDOM_POINTS, SPECIAL_POINTS], ids=["random", "special"])
def test_cbrt_is_the_true_cube_root(points: np.ndarray) -> None:
    import mpmath

    (values, jacobian), (tensor_values, tensor_jacobian) = both("cbrt(x), cbrt(x*y - 1)", points)
    with np.errstate(over="ignore"):
        z = np.stack([points[:, 0], points[:, 0] * points[:, 1] - 1.0], axis=1)
    with mpmath.workprec(200):  # rounded once to float64 from 200 bits: the true cube root
        true = np.array([[math.copysign(float(mpmath.cbrt(abs(v))), v) for v in row] for row in z])
    finite = np.isfinite(true)
    np.testing.assert_array_equal(values[~finite], true[~finite])
    # numpy's cbrt (glibc's) is within an ulp of the true value
    error = np.abs(values[finite] - true[finite])
    np.testing.assert_array_less(error, np.spacing(np.abs(true[finite])) * 1.01)
    # torch's |z|**fl(1/3): relative error |ln|z|| * |1/3 - fl(1/3)| plus its own rounding
    finite &= true != 0
    drift = np.abs(np.log(np.abs(z), where=finite, out=np.zeros_like(z))) * (2.0**-54 / 3)
    drift += 2 * EPS
    error = np.abs(tensor_values[finite] - true[finite])
    np.testing.assert_array_less(error, (drift * np.abs(true))[finite] * 1.01)
    widest = float(np.max(np.where(finite, drift, 0.0)))
    assert_agree(jacobian, tensor_jacobian, relative=2 * widest, per_point=True)


def test_formula_map_computes_in_numpy_on_any_leading_shape() -> None:
    formula_map = FormulaMap.from_text("x**2 + y, 3", isolated=False)
    values, jacobian = formula_map.evaluate_with_jacobian(np.array([1, 2]))  # ints, one point
    assert values.dtype == jacobian.dtype == np.float64
    assert values.tolist() == [[3.0, 3.0]] and jacobian.tolist() == [[[2.0, 1.0], [0.0, 0.0]]]
    grid = np.zeros((4, 5, 2))
    formula_values, formula_jacobian = formula_map.formula.evaluate_with_jacobian(grid)
    assert formula_values.shape == (4, 5, 2) and formula_jacobian.shape == (4, 5, 2, 2)
    with pytest.raises(ValueError, match="shape"):
        formula_map.formula.evaluate(np.zeros((3, 3)))
