import warnings

import numpy as np
import pytest

from jacviz.math.grid import (
    MAX_ASPECT,
    MAX_BOUND,
    MIN_EXTENT,
    Domain,
    chord_error,
    domain_containing,
    grid_lines,
    picture_size,
    sample_points,
    warp_grid,
)
from jacviz.math.maps import FormulaMap
from jacviz.math.presets import PRESETS

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


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ((-1e308, 1e308, -1e308, 1e308), "at most 1e\\+09 in size"),
        ((-2e9, 2e9, -1, 1), "at most 1e\\+09 in size"),
        ((0, 1e6, 0, 1), "aspect"),  # a strip thinner than a pixel
        ((0, 1, 0, 1e-5), "aspect"),
        ((1e6, 1e6 + 1e-6, 0, 1e-6), "too narrow"),  # near float64's resolution there
        ((0, 1e-12, 0, 1e-12), "too narrow"),
        (("a", 1, 0, 1), "numbers"),
        ((None, 1, 0, 1), "numbers"),
    ],
)
def test_absurd_domains_are_refused_with_one_line(bounds, message):
    with pytest.raises(ValueError, match=message) as error:
        Domain(*bounds)
    assert "\n" not in str(error.value) and len(str(error.value)) < 200


@pytest.mark.parametrize(
    "bounds",
    [
        (-MAX_BOUND, MAX_BOUND, -MAX_BOUND, MAX_BOUND),
        (0, MAX_ASPECT, 0, 1),
        (0, MIN_EXTENT, 0, MIN_EXTENT),
        (1e6, 1e6 + 1e-3, 5, 5 + 1e-3),  # the editor's finest step far out
        (np.float64(-1), np.int64(1), 0, 2),
    ],
)
def test_domains_at_the_limits_are_accepted(bounds):
    domain = Domain(*bounds)
    points = sample_points(domain, 256)
    assert np.unique(points[:, 0]).size == 256 and np.unique(points[:, 1]).size == 256


@pytest.mark.parametrize(
    "box",
    [
        (0.0, 1.0, 0.0, 1.0),
        (0.0, 1e6, 0.0, 1e-3),  # data along a line: widened to the largest aspect
        (1e6, 1e6 + 1e-12, -1e6, -1e6 + 1e-12),  # a point far out: widened to the resolution
        (3.0, 3.0, 3.0, 3.0),
    ],
)
def test_domain_containing_widens_a_box_into_a_valid_domain(box):
    domain = domain_containing(*box)
    xmin, xmax, ymin, ymax = box
    assert domain.xmin <= xmin and xmax <= domain.xmax
    assert domain.ymin <= ymin and ymax <= domain.ymax
    assert domain.width / domain.height <= MAX_ASPECT and domain.height / domain.width <= MAX_ASPECT
    centre = ((xmin + xmax) / 2, (ymin + ymax) / 2)
    assert (domain.xmin + domain.xmax) / 2 == pytest.approx(centre[0], abs=domain.width)
    assert (domain.ymin + domain.ymax) / 2 == pytest.approx(centre[1], abs=domain.height)


def test_domain_containing_refuses_a_box_beyond_the_bounds():
    with pytest.raises(ValueError, match="at most"):
        domain_containing(0.0, 2e9, 0.0, 1.0)


@pytest.mark.parametrize(
    ("formula", "domain"),
    [
        ("1/x, 1/y", Domain(-1, 1, -1, 1)),
        ("exp(709.7*x/2) - exp(-709.7*x/2), y", Domain()),  # finite, but near float64's limit
        ("exp(1000*x), -exp(1000*y)", Domain()),  # overflows to ±inf
        ("log(x), sqrt(y)", Domain()),  # NaN on half the plane
        ("1/(x*y), x", Domain()),
    ],
)
def test_grids_of_non_finite_and_huge_maps_raise_no_numpy_warnings(formula, domain):
    # The app redraws the grid on every change: a RuntimeWarning printed each time was noise.
    map_ = FormulaMap.from_text(formula)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warped = warp_grid(map_, domain, lines=5, max_samples=257)
        for t in (0.0, 0.3, 1.0):
            warped.morph(t)
        picture_size(warped.images)
    np.testing.assert_array_equal(warped.morph(0.0), warped.lines)  # not NaN where f is


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
