import numpy as np
import pytest

from jacviz.core.grid import Domain, chord_error, grid_lines, sample_points, warp_grid
from jacviz.core.maps import FormulaMap
from jacviz.core.presets import PRESETS

DOMAIN = Domain(-2.0, 2.0, -1.0, 3.0)


def test_grid_lines_cover_the_domain_with_straight_lines():
    lines = grid_lines(DOMAIN, lines=5, samples=9)
    assert lines.shape == (10, 9, 2)
    vertical, horizontal = lines[:5], lines[5:]
    np.testing.assert_array_equal(vertical[:, :, 0], np.linspace(-2, 2, 5)[:, None].repeat(9, 1))
    np.testing.assert_array_equal(vertical[:, 0, 1], -1.0)
    np.testing.assert_array_equal(vertical[:, -1, 1], 3.0)
    np.testing.assert_array_equal(horizontal[:, :, 1], np.linspace(-1, 3, 5)[:, None].repeat(9, 1))
    np.testing.assert_array_equal(horizontal[:, 0, 0], -2.0)
    np.testing.assert_array_equal(horizontal[:, -1, 0], 2.0)


@pytest.mark.parametrize(
    "bounds", [(1, 1, 0, 1), (0, 1, 2, -2), (0, float("inf"), 0, 1), (float("nan"), 1, 0, 1)]
)
def test_bad_domains_are_refused_with_a_message(bounds):
    with pytest.raises(ValueError, match="domain"):
        Domain(*bounds)


def test_identity_grid_is_its_own_image_and_needs_no_refinement():
    warped = warp_grid(FormulaMap.from_text("x, y"), DOMAIN, lines=7, min_samples=33)
    np.testing.assert_array_equal(warped.images, warped.lines)
    # One check at 33 samples passes; its midpoints are kept, nothing more is evaluated.
    assert warped.lines.shape == (14, 65, 2)


def test_images_are_the_map_applied_to_the_lines():
    map_ = FormulaMap.from_text("x**2 + y, x*y")
    warped = warp_grid(map_, DOMAIN, lines=5)
    x, y = warped.lines[..., 0], warped.lines[..., 1]
    np.testing.assert_allclose(warped.images, np.stack([x**2 + y, x * y], -1), rtol=1e-15)


SWIRL = next(p.formula for p in PRESETS if p.name == "Swirl")


@pytest.mark.parametrize(
    ("formula", "domain"),
    [
        ("x**2 + y, x*y", Domain()),  # has a fold: the line y = 0 doubles back on itself
        ("exp(x)*cos(y), exp(x)*sin(y)", Domain(-1, 1, -np.pi, np.pi)),
        (SWIRL, Domain()),
    ],
)
def test_refined_chords_are_within_the_tolerance(formula, domain):
    map_ = FormulaMap.from_text(formula)
    warped = warp_grid(map_, domain, lines=11)
    mid_lines = 0.5 * (warped.lines[:, 1:] + warped.lines[:, :-1])
    mid_images = map_.evaluate(mid_lines.reshape(-1, 2)).reshape(warped.images.shape[0], -1, 2)
    size = np.linalg.norm(np.ptp(warped.images.reshape(-1, 2), axis=0))
    assert chord_error(warped.images, mid_images) <= 1e-3 * size


@pytest.mark.parametrize(
    ("formula", "domain"),
    [("exp(x)*cos(y), exp(x)*sin(y)", Domain(-1, 1, -np.pi, np.pi)), (SWIRL, Domain())],
)
def test_images_of_a_diffeomorphism_turn_by_a_few_degrees_per_segment(formula, domain):
    # No folds, so the polyline reads as a smooth curve: small turns between segments. Refined
    # lines turn at most 5.4° here; unrefined 65-sample lines turn 10.6° on the swirl.
    images = warp_grid(FormulaMap.from_text(formula), domain, lines=11).images
    segments = np.diff(images, axis=1)
    a, b = segments[:, :-1], segments[:, 1:]
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 8.0


def test_refinement_stops_at_max_samples_for_a_kink():
    warped = warp_grid(FormulaMap.from_text("relu(x), y"), Domain(), lines=5, max_samples=257)
    assert warped.lines.shape[1] <= 257


def test_grid_through_a_pole_keeps_non_finite_samples_without_raising():
    warped = warp_grid(FormulaMap.from_text("1/x, y"), Domain(-1, 1, -1, 1), lines=5)
    assert not np.all(np.isfinite(warped.images))
    assert np.isfinite(warped.images[~np.isclose(warped.lines[..., 0], 0)]).all()


def test_morph_interpolates_between_identity_and_map():
    warped = warp_grid(FormulaMap.from_text("x**2 + y, x*y"), DOMAIN, lines=3)
    np.testing.assert_array_equal(warped.morph(0.0), warped.lines)
    np.testing.assert_array_equal(warped.morph(1.0), warped.images)
    np.testing.assert_allclose(warped.morph(0.5), 0.5 * (warped.lines + warped.images))


def test_sample_points_are_pixel_centres_in_row_major_order_from_the_bottom():
    points = sample_points(Domain(0, 4, 0, 2), columns=4, rows=2)
    np.testing.assert_array_equal(points[:4], [[0.5, 0.5], [1.5, 0.5], [2.5, 0.5], [3.5, 0.5]])
    np.testing.assert_array_equal(points[4:, 1], 1.5)
    image = points[:, 0].reshape(2, 4)
    np.testing.assert_array_equal(image[0], [0.5, 1.5, 2.5, 3.5])
