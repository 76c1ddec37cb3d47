"""Formula and network maps against central finite differences and autograd."""

import numpy as np
import pytest
import torch
from numerics import central_differences

from jacviz.math.maps import FormulaMap, TorchMap, as_points, jacobian_field
from jacviz.math.presets import PRESETS
from jacviz.nets.networks import make_mlp

EXTRA_FORMULAS = [
    "3*x**2*y, 2*x + y**8",  # seed 001
    "sigmoid(x - y), softplus(x*y)",
    "atan2(y, x + 3), hypot(x, y + 0.1)",
    "x*exp(-y**2) + sin(3*x), log(1 + x**2 + y**2)",
]


@pytest.mark.parametrize("formula", [p.formula for p in PRESETS] + EXTRA_FORMULAS)
def test_formula_jacobians_match_central_differences(formula):
    map_ = FormulaMap.from_text(formula)
    points = np.random.default_rng(7).uniform(-1.5, 1.5, size=(64, 2))
    _, jacobian = map_.evaluate_with_jacobian(points)
    # h = 1e-5 in float64: truncation error ~ h² |f'''| ≈ 1e-10·|f'''| and rounding
    # ~ eps |f| / h ≈ 2e-11·|f|; these maps have |f|, |f'''| ≲ 300 on [-1.5, 1.5]², so 1e-7
    # absolute plus 1e-7 relative is a bound with a wide margin that still catches any wrong
    # derivative (errors of order 1).
    np.testing.assert_allclose(
        jacobian, central_differences(map_, points, 1e-5), rtol=1e-7, atol=1e-7
    )


@pytest.mark.parametrize("activation", ["tanh", "relu", "softplus", "gelu", "sigmoid"])
def test_network_maps_match_autograd_per_point(activation):
    model = make_mlp([3, 16, 16, 4], activation=activation, seed=4, dtype=torch.float64)
    map_ = TorchMap(model, "mlp", 3, 4)
    points = np.random.default_rng(8).normal(size=(20, 3))
    values, jacobian = map_.evaluate_with_jacobian(points)
    for point, value, jac in zip(points, values, jacobian, strict=True):
        tensor = torch.tensor(point)
        # Batched and single-point matmuls sum in different orders: rounding-level differences.
        np.testing.assert_allclose(value, model(tensor).detach().numpy(), rtol=1e-13, atol=1e-15)
        expected = torch.autograd.functional.jacobian(model, tensor).numpy()
        np.testing.assert_allclose(jac, expected, rtol=1e-12, atol=1e-15)


def test_a_module_that_cannot_be_walked_falls_back_to_autograd_and_says_so():
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = make_mlp([2, 8, 2], seed=1, dtype=torch.float64)

        def forward(self, x):
            return x + self.inner(x)

    module = Residual()
    map_ = TorchMap(module, "residual", 2, 2)
    assert map_.jacobian_method == "autograd"
    point = torch.tensor([0.3, -0.2], dtype=torch.float64)
    _, jacobian = map_.evaluate_with_jacobian(point.numpy())
    expected = torch.autograd.functional.jacobian(module, point).numpy()
    np.testing.assert_allclose(jacobian[0], expected, rtol=1e-12)


def test_points_are_checked_for_their_dimension():
    assert as_points([1.0, 2.0], 2).shape == (1, 2)
    with pytest.raises(ValueError, match="3 coordinates"):
        as_points(np.zeros((4, 2)), 3)


def test_jacobian_field_of_the_seed_map_at_its_worked_examples():
    field = jacobian_field(FormulaMap.from_text("x**2 + y, x*y"), [[1.0, 2.0], [0.0, 1.0]])
    np.testing.assert_array_equal(field.jacobian, [[[2, 1], [2, 1]], [[0, 1], [1, 0]]])
    np.testing.assert_array_equal(field.det, [0.0, -1.0])
    np.testing.assert_allclose(field.singular_values, [[np.sqrt(10), 0], [1, 1]], rtol=1e-15)
