import numpy as np
import pytest

from jacviz.math.grid import sample_points
from jacviz.math.maps import FormulaMap, jacobian_field
from jacviz.math.presets import PRESETS, linear_formula, preset


@pytest.mark.parametrize("entry", PRESETS, ids=lambda p: p.name)
def test_every_preset_parses_and_is_finite_on_its_domain(entry):
    field = jacobian_field(FormulaMap.from_text(entry.formula), sample_points(entry.domain, 32))
    assert not field.nonfinite.any()
    assert entry.note


# Closed-form determinants of the presets, as functions of the (x, y) sample points.
DETERMINANTS = {
    "Identity": lambda x, y: np.ones_like(x),
    "Linear map": lambda x, y: np.full_like(x, 1.5 * 1.0 - 0.5 * 0.25),
    "Shear": lambda x, y: np.ones_like(x),
    "Rotation + scale": lambda x, y: np.full_like(x, 2.25),
    "(x² + y, xy)": lambda x, y: 2 * x**2 - y,
    "z² = (x² − y², 2xy)": lambda x, y: 4 * (x**2 + y**2),
    "Polar → cartesian": lambda x, y: x,
    "Complex exp": lambda x, y: np.exp(2 * x),
    "sin(z)": lambda x, y: np.cos(x) ** 2 + np.sinh(y) ** 2,
    "Swirl": lambda x, y: np.ones_like(x),
    "Hénon map": lambda x, y: np.full_like(x, -0.3),
    "tanh layer": lambda x, y: (
        (1 - np.tanh(1.5 * x - 0.8 * y + 0.2) ** 2)
        * (1 - np.tanh(0.6 * x + 1.2 * y - 0.3) ** 2)
        * (1.5 * 1.2 + 0.8 * 0.6)
    ),
    "Fold": lambda x, y: 2 * y,
    "Cusp": lambda x, y: 3 * y**2 + x,
}


def test_every_preset_has_a_closed_form_determinant_check():
    assert set(DETERMINANTS) == {p.name for p in PRESETS}


@pytest.mark.parametrize("name", DETERMINANTS)
def test_preset_determinants_match_their_closed_forms(name):
    entry = preset(name)
    points = sample_points(entry.domain, 24)
    field = jacobian_field(FormulaMap.from_text(entry.formula), points)
    expected = DETERMINANTS[name](points[:, 0], points[:, 1])
    # float64 formulas: a few ulps of the largest term involved.
    np.testing.assert_allclose(field.det, expected, rtol=1e-12, atol=1e-12)


def test_linear_formula_has_its_matrix_as_jacobian():
    field = jacobian_field(FormulaMap.from_text(linear_formula(2, -1, 0.5, 3)), [[0.3, -0.7]])
    np.testing.assert_array_equal(field.jacobian[0], [[2, -1], [0.5, 3]])


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(KeyError, match="Identity"):
        preset("nope")
