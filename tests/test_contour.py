import numpy as np
import pytest

from jacviz.math.contour import zero_contour
from jacviz.math.grid import Domain, sample_points

DOMAIN = Domain(-2.0, 2.0, -1.5, 2.5)


def sampled(function, rows=40, cols=50):
    points = sample_points(DOMAIN, cols, rows)
    return function(points[:, 0], points[:, 1]).reshape(rows, cols)


def test_contour_of_a_linear_field_is_exact():
    # det of the fold (x, y²) is 2y: the fold line is y = 0, linear interpolation is exact.
    segments = zero_contour(sampled(lambda x, y: 2 * y), DOMAIN)
    assert len(segments) == 49  # one segment per column of cells
    np.testing.assert_allclose(segments[..., 1], 0.0, atol=1e-12)
    assert segments[..., 0].min() == pytest.approx(-2 + 0.04)  # first pixel centre
    assert segments[..., 0].max() == pytest.approx(2 - 0.04)


def test_contour_of_the_cusp_follows_its_fold_curve():
    # det of (x, y³ + xy) is 3y² + x: contour x = −3y², to within the cell size squared.
    segments = zero_contour(sampled(lambda x, y: 3 * y**2 + x, 80, 100), DOMAIN)
    x, y = segments[..., 0], segments[..., 1]
    cell = 0.05
    assert np.abs(x + 3 * y**2).max() < 3 * cell**2
    assert len(segments) > 50


def test_circle_contour_closes_and_lies_on_the_circle():
    segments = zero_contour(sampled(lambda x, y: x**2 + y**2 - 1, 100, 100), DOMAIN)
    radii = np.linalg.norm(segments, axis=-1)
    assert np.abs(radii - 1).max() < 2e-3
    # Every end point is shared by exactly two segments: a closed curve.
    ends = np.round(segments.reshape(-1, 2), 9)
    _, counts = np.unique(ends, axis=0, return_counts=True)
    assert set(counts) == {2}


def test_saddle_cells_give_two_segments():
    values = np.array([[1.0, -1.0], [-1.0, 1.0]])
    segments = zero_contour(values, Domain(0, 2, 0, 2))
    assert segments.shape == (2, 2, 2)


def test_non_finite_cells_are_skipped():
    values = sampled(lambda x, y: 1 / x)  # changes sign across the pole x = 0 only
    values[np.abs(values) > 1e3] = np.inf
    assert np.isfinite(zero_contour(values, DOMAIN)).all()
    values[:, 24:26] = np.nan
    assert len(zero_contour(values, DOMAIN)) == 0


def test_no_sign_change_no_contour():
    assert zero_contour(np.ones((5, 5)), DOMAIN).shape == (0, 2, 2)
    assert zero_contour(np.ones((1, 5)), DOMAIN).shape == (0, 2, 2)
