"""Tests for jacviz.math.probe: the numbers at one point and the words that explain them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jacviz.cli import format_report
from jacviz.math.maps import FormulaMap, TorchMap
from jacviz.math.probe import ProbeReport, orientation_word, probe

SUBNORMAL = 5e-324  # the smallest positive float64; 1/SUBNORMAL is about 2e323 > 1.8e308


def formula_probe(text: str, point: tuple[float, float]) -> ProbeReport:
    return probe(FormulaMap.from_text(text, isolated=False), point)


def test_a_quotient_too_large_for_float64_is_said_to_be_inf_in_float64() -> None:
    # 1/5e-324 is a finite number (2**1074), just not a float64 one.
    report = formula_probe("x/y, y", (1.0, SUBNORMAL))
    assert report.value.tolist() == [math.inf, SUBNORMAL]
    assert report.jacobian.tolist() == [[math.inf, -math.inf], [0.0, 1.0]]
    where = "(x, y) = (1, 4.94066e-324)"
    assert report.warnings[:3] == (
        f"x/y is +inf in float64 at {where}",
        f"∂(x/y)/∂x = 1/y is +inf in float64 at {where}",
        f"∂(x/y)/∂y = -x/y**2 is -inf in float64 at {where}",
    )
    assert not any("infinite" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("text", "point", "label", "value", "words"),
    [
        ("1/x, y", (0.0, 1.0), "1/x", math.inf, "is +inf in float64"),
        ("exp(x), y", (1000.0, 1.0), "exp(x)", math.inf, "is +inf in float64"),
        ("-exp(x), y", (710.0, 0.0), "-exp(x)", -math.inf, "is -inf in float64"),
        ("log(x), y", (0.0, 1.0), "log(x)", -math.inf, "is -inf in float64"),
        ("log(x), y", (-1.0, 1.0), "log(x)", math.nan, "is undefined (NaN)"),
        ("x*1e300*y, y", (1e10, 1e10), "x*1e300*y", math.inf, "is +inf in float64"),
    ],
)
def test_value_text_and_warning_say_the_same_thing(
    text: str, point: tuple[float, float], label: str, value: float, words: str
) -> None:
    report = formula_probe(text, point)
    assert np.array_equal(report.value[:1], [value], equal_nan=True)
    shown = {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
    lines = format_report(report).splitlines()
    value_line = next(line for line in lines if line.startswith("value f(p)"))
    assert value_line.split()[2] == f"({shown},"
    assert any(w.startswith(f"{label} {words} at ") for w in report.warnings)


def test_every_non_finite_number_has_a_warning_in_matching_words() -> None:
    texts = ["x/y, y/x", "log(x), exp(y)", "1/(x - y), sqrt(x)", "x**y, atanh(x)"]
    points = [(0.0, 0.0), (1.0, SUBNORMAL), (-1.0, 800.0), (1.0, 1.0), (2.0, -1e308)]
    for text in texts:
        for point in points:
            report = formula_probe(text, point)
            numbers = list(report.value) + list(report.jacobian.ravel())
            for number in numbers:
                if math.isnan(number):
                    assert any("is undefined (NaN)" in w for w in report.warnings)
                elif math.isinf(number):
                    sign = "+inf" if number > 0 else "-inf"
                    assert any(f"is {sign} in float64" in w for w in report.warnings)
            for warning in report.warnings:
                assert "infinite" not in warning or "condition number is infinite" in warning


def test_derived_quantities_of_a_jacobian_that_is_not_finite_are_called_undefined() -> None:
    report = formula_probe("x/y, y", (1.0, 0.0))
    assert math.isnan(report.det) and math.isnan(report.frobenius)
    assert np.isnan(report.singular_values).all()
    assert report.warnings[-1] == (
        "det J, the singular values, ‖J‖F and the condition number are undefined (NaN): "
        "J is not finite here"
    )
    text = format_report(report)
    assert "det J               nan  (undefined)" in text
    # A value that overflows with a finite Jacobian leaves them undefined too, and says why.
    report = formula_probe("max(x, 1e308)*2, y", (1.0, 1.0))
    assert report.jacobian.tolist() == [[0.0, 0.0], [0.0, 1.0]]
    assert report.warnings == (
        "max(x, 1e308)*2 is +inf in float64 at (x, y) = (1, 1)",
        "det J, the singular values, ‖J‖F and the condition number are undefined (NaN): "
        "f(p) is not finite here",
    )


def test_a_determinant_too_large_for_float64_is_said_to_be_inf() -> None:
    report = formula_probe("1e200*x, 1e200*y", (1.0, 1.0))
    assert report.jacobian.tolist() == [[1e200, 0.0], [0.0, 1e200]]
    assert report.det == math.inf
    assert "det J is +inf in float64 at this point" in report.warnings
    assert "det J               inf" in format_report(report)


def test_json_keeps_null_for_non_finite_numbers_and_the_same_warnings() -> None:
    report = formula_probe("x/y, y", (1.0, SUBNORMAL))
    data = report.to_json()
    assert data["value"] == [None, SUBNORMAL]
    assert data["jacobian"] == [[None, None], [0.0, 1.0]]
    assert data["warnings"] == list(report.warnings)


def test_a_network_that_overflows_says_so_without_claiming_float64() -> None:
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3e38, 3e38], [0.0, 1.0]]))
        layer.bias.zero_()
    report = probe(TorchMap(layer, "big", 2, 2), (1.0, 1.0))
    assert report.value[0] == math.inf
    assert report.warnings[0] == "output 1 is +inf at (x, y) = (1, 1)"


def test_a_determinant_too_small_for_float64_is_not_called_singular() -> None:
    report = formula_probe("1e-200*x, 1e-200*y", (1.0, 1.0))
    assert report.det == 0.0
    assert report.singular_values.tolist() == [1e-200, 1e-200]
    assert report.warnings == (
        "det J underflows float64 to 0 at this point: J is not singular (σ2 = 1e-200)",
    )
    assert orientation_word(report.det, report.singular_values[-1]) == (
        "too small for float64, but J is not singular"
    )
    singular = formula_probe("x*y, x*y", (1.0, 1.0))
    assert orientation_word(singular.det, singular.singular_values[-1]) == (
        "singular: areas collapse to zero"
    )
    assert singular.warnings == (
        "the condition number is infinite: J is singular here (smallest singular value 0)",
    )


def test_a_two_class_softmax_jacobian_hides_what_its_rank_makes_meaningless() -> None:
    from jacviz.nets.views import ProbabilityMap

    logits = FormulaMap.from_text("0.3*x, 2*x + y", isolated=False)
    report = probe(ProbabilityMap(logits), (1.0, 0.5)).as_classifier(probabilities=True)
    reading = report.classifier
    assert reading is not None
    assert set(reading.hidden) == {"det", "sigma2", "condition", "error"}
    assert "softmax outputs sum to 1" in reading.reason and "rank ≤ k−1 = 1" in reading.reason
    # Class 1 wins (logits 0.3 and 2.5): the gradient of p1 − p0 is row 1 minus row 0.
    assert (reading.top, reading.runner_up) == (1, 0)
    assert reading.symbol == "∇(p1 − p0)"
    np.testing.assert_array_equal(reading.margin_gradient, report.jacobian[1] - report.jacobian[0])
    assert reading.margin == pytest.approx(report.value[1] - report.value[0])
    # The rows sum to zero: the gradient is twice the winner's row.
    np.testing.assert_allclose(reading.margin_gradient, 2 * report.jacobian[1], rtol=1e-12)


def test_logits_of_a_classifier_hide_only_det() -> None:
    two = formula_probe("x, -x + 0.1*y", (1.0, 2.0)).as_classifier(probabilities=False)
    assert two.classifier is not None and two.classifier.hidden == ("det",)
    assert "shift added to every logit" in two.classifier.reason
    assert (two.classifier.top, two.classifier.runner_up) == (0, 1)
    np.testing.assert_allclose(two.classifier.margin_gradient, [2.0, -0.1])
    three = formula_probe("x, y, 0", (1.0, 2.0)).as_classifier(probabilities=False)
    assert three.classifier is not None and three.classifier.hidden == ("det",)
    assert "3×2" in three.classifier.reason
    assert (three.classifier.top, three.classifier.runner_up) == (1, 0)
    np.testing.assert_allclose(three.classifier.margin_gradient, [-1.0, 1.0])


def test_a_classifier_reading_where_the_outputs_are_not_finite_is_undefined() -> None:
    reading = formula_probe("1/x, y", (0.0, 1.0)).as_classifier(probabilities=False).classifier
    assert reading is not None and (reading.top, reading.runner_up) == (-1, -1)
    assert math.isnan(reading.margin) and np.all(np.isnan(reading.margin_gradient))


def test_reading_as_a_classifier_keeps_the_json_keys() -> None:
    report = formula_probe("x, -x + 0.1*y", (1.0, 2.0))
    assert report.as_classifier(probabilities=False).to_json() == report.to_json()


def test_a_classifier_reading_drops_warnings_about_what_it_hides() -> None:
    # Exactly opposite logits: the softmax Jacobian's rows are exact negatives, J is singular.
    from jacviz.nets.views import ProbabilityMap

    report = probe(ProbabilityMap(FormulaMap.from_text("x, -x", isolated=False)), (0.5, 1.0))
    assert any(w.startswith("the condition number is infinite") for w in report.warnings)
    classified = report.as_classifier(probabilities=True)
    assert not any("condition number" in w or w.startswith("det J") for w in classified.warnings)
    # Warnings about what is shown stay.
    nan = probe(FormulaMap.from_text("log(x), y", isolated=False), (-1.0, 1.0))
    assert nan.as_classifier(probabilities=False).warnings[0] == nan.warnings[0]
