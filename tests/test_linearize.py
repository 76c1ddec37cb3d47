import numpy as np
import pytest

from jacviz.math.linearize import linearize, square_boundary, unit_circle
from jacviz.math.maps import FormulaMap

SEED = FormulaMap.from_text("x**2 + y, x*y")

# Smooth maps and generic points (away from poles and kinks), for the Taylor-rate checks.
SMOOTH_MAPS = [
    ("x**2 + y, x*y", (1.0, 2.0)),
    ("x**2 - y**2, 2*x*y", (0.7, -0.4)),
    ("3*x**2*y, 2*x + y**8", (0.5, 0.9)),
    ("exp(x)*cos(y), exp(x)*sin(y)", (0.3, 1.1)),
    ("sin(x)*cosh(y), cos(x)*sinh(y)", (-0.6, 0.4)),
    ("y, 1 - 1.4*x**2 + 0.3*y", (0.2, -0.3)),  # Henon-like
    ("tanh(x + 2*y), tanh(3*x - y)", (0.1, 0.2)),
]


def test_seed_example_at_1_2():
    lin = linearize(SEED, (1.0, 2.0), h=0.1)
    np.testing.assert_array_equal(lin.value, [3.0, 2.0])
    np.testing.assert_array_equal(lin.jacobian, [[2.0, 1.0], [2.0, 1.0]])
    # Columns of J are (2, 2) and (1, 1): the parallelogram collapses onto a segment (det 0).
    expected = [3.0, 2.0] + 0.1 * np.array([[0, 0], [2, 2], [3, 3], [1, 1], [0, 0]])
    np.testing.assert_allclose(lin.parallelogram, expected, rtol=1e-15)
    np.testing.assert_allclose(lin.basis_images, 0.1 * np.array([[2.0, 2.0], [1.0, 1.0]]))


def test_square_boundary_is_closed_and_starts_at_the_point():
    square = square_boundary(np.array([1.0, 2.0]), 0.5, samples_per_side=4)
    assert square.shape == (17, 2)
    np.testing.assert_array_equal(square[0], square[-1])
    np.testing.assert_array_equal(square[0], [1.0, 2.0])
    np.testing.assert_array_equal(square.min(0), [1.0, 2.0])
    np.testing.assert_array_equal(square.max(0), [1.5, 2.5])


def test_figures_are_fresh_arrays_though_their_shapes_are_made_once():
    """The unit square and circle are made once; what callers get is theirs to change."""
    circle = unit_circle(16)
    circle *= 3.0
    np.testing.assert_allclose(np.hypot(*unit_circle(16).T), 1.0, rtol=1e-15)
    square = square_boundary(np.zeros(2), 1.0, samples_per_side=4)
    square[:] = 7.0
    assert square_boundary(np.zeros(2), 1.0, samples_per_side=4).max() == 1.0
    lin = linearize(SEED, (0.5, -0.5), h=0.2)
    assert lin.circle.flags.writeable and lin.ellipse.flags.writeable


def test_figures_are_the_map_and_its_tangent_applied_to_the_input_figures():
    lin = linearize(SEED, (0.5, -0.5), h=0.2)
    np.testing.assert_allclose(lin.square_image, SEED.evaluate(lin.square), rtol=1e-15)
    np.testing.assert_allclose(lin.circle_image, SEED.evaluate(lin.circle), rtol=1e-15)
    tangent = lin.value + (lin.circle - lin.point) @ lin.jacobian.T
    np.testing.assert_allclose(lin.ellipse, tangent, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(("formula", "point"), SMOOTH_MAPS)
def test_linearization_error_shrinks_like_h_squared(formula, point):
    map_ = FormulaMap.from_text(formula)
    coarse, fine = linearize(map_, point, 1e-2), linearize(map_, point, 5e-3)
    # Taylor: error = C h² + O(h³), so halving h divides it by 4 (±10 % for the O(h³) term);
    # relative to the parallelogram's size (∝ h) it halves.
    assert coarse.error / fine.error == pytest.approx(4.0, rel=0.1)
    assert coarse.relative_error / fine.relative_error == pytest.approx(2.0, rel=0.1)


def test_linear_map_has_no_linearization_error():
    lin = linearize(FormulaMap.from_text("2*x - y + 1, x + 3*y"), (0.3, 0.4), h=0.5)
    np.testing.assert_array_equal(lin.jacobian, [[2.0, -1.0], [1.0, 3.0]])
    assert lin.error < 1e-15
    np.testing.assert_allclose(
        lin.square_image, lin.value + (lin.square - lin.point) @ lin.jacobian.T
    )


@pytest.mark.parametrize(("formula", "point"), SMOOTH_MAPS)
def test_ellipse_axes_are_singular_values_along_orthogonal_directions(formula, point):
    lin = linearize(FormulaMap.from_text(formula), point, h=0.1)
    sigma = np.linalg.svd(lin.jacobian, compute_uv=False)
    lengths = np.linalg.norm(lin.ellipse_axes, axis=1)
    np.testing.assert_allclose(lengths, 0.1 * sigma, rtol=1e-12, atol=1e-15)
    assert abs(lin.ellipse_axes[0] @ lin.ellipse_axes[1]) <= 1e-12 * lengths[0] ** 2
    # The ellipse's farthest and nearest points from f(p) are the axis lengths, up to the
    # circle's sampling: 128 samples miss an axis by at most π/128 rad.
    radii = np.linalg.norm(lin.ellipse - lin.value, axis=1)
    assert radii.max() == pytest.approx(lengths[0], rel=1e-3)
    assert radii.min() == pytest.approx(lengths[1], abs=lengths[0] * np.pi / 128)


@pytest.mark.filterwarnings("error")
def test_a_pole_gives_non_finite_figures_without_raising_or_warning():
    lin = linearize(FormulaMap.from_text("1/x, y"), (0.0, 1.0), h=0.1)
    assert lin.value[0] == np.inf  # what float64 gives; the planes leave it out
    assert np.isnan(lin.ellipse_axes).all()
    assert bool(lin.report.field.nonfinite[0])
    assert lin.report.warnings


@pytest.mark.parametrize("h", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_sizes_are_refused(h):
    with pytest.raises(ValueError, match="positive"):
        linearize(SEED, (0, 0), h)


def test_maps_of_more_outputs_are_drawn_in_their_own_space():
    lin = linearize(FormulaMap.from_text("x, y, x*y"), (1.0, 2.0), h=0.1)
    assert lin.parallelogram.shape == (5, 3)
    assert lin.ellipse_axes.shape == (2, 3)


def test_output_figures_at_t_1_are_the_maps_own():
    lin = linearize(SEED, (0.5, 0.3), h=0.1)
    figures = lin.output_figures(1.0)
    np.testing.assert_array_equal(figures.center, lin.value)
    np.testing.assert_array_equal(figures.parallelogram, lin.parallelogram)
    np.testing.assert_array_equal(figures.ellipse_axes, lin.ellipse_axes)


def test_output_figures_at_t_0_are_the_input_figures():
    lin = linearize(SEED, (0.5, 0.3), h=0.1)
    figures = lin.output_figures(0.0)
    np.testing.assert_array_equal(figures.center, lin.point)
    np.testing.assert_array_equal(figures.square_image, lin.square)
    np.testing.assert_array_equal(figures.ellipse, lin.circle)
    np.testing.assert_allclose(np.linalg.norm(figures.ellipse_axes, axis=1), [0.1, 0.1])


def test_morphed_figures_are_the_linearization_of_the_blended_map():
    # g_t = (1 − t)·id + t·f is itself a map: its own linearization must match the blend.
    t = 0.4
    lin = linearize(SEED, (0.5, 0.3), h=0.1)
    blended = FormulaMap.from_text(f"{1 - t}*x + {t}*(x**2 + y), {1 - t}*y + {t}*(x*y)")
    direct = linearize(blended, (0.5, 0.3), h=0.1)
    figures = lin.output_figures(t)
    np.testing.assert_allclose(figures.parallelogram, direct.parallelogram, atol=1e-14)
    np.testing.assert_allclose(figures.square_image, direct.square_image, atol=1e-14)
    np.testing.assert_allclose(
        np.abs(figures.ellipse_axes @ direct.ellipse_axes.T).diagonal(),
        np.linalg.norm(direct.ellipse_axes, axis=1) ** 2,
        rtol=1e-12,
    )
