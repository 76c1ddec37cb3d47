"""The plot pieces both views share."""

import numpy as np
import pyqtgraph as pg
import pytest

from jacviz.gui.common.plots import Plane, drawable, drawable_extent


def test_zoomed_planes_show_plain_coordinates(qtbot):
    """Zoomed in to a thousandth, the axes keep their labels and plain tick values."""
    plane = Plane("Output plane", "f₁", "f₂")
    qtbot.addWidget(plane)
    plane.resize(400, 400)
    plane.setRange(xRange=(0.43, 0.58), yRange=(0.43, 0.58), padding=0)
    for side, label in (("bottom", "f₁"), ("left", "f₂")):
        axis = plane.getAxis(side)
        axis.setRange(0.43, 0.58)
        assert axis.autoSIPrefixScale == 1.0
        assert axis.labelString().count("x0.001") == 0
        assert label in axis.labelString()


def painted_colours(key: str, formula: str = "1/x, y"):
    """Paint the heatmap ``key`` of ``formula`` on [−2, 2]²: which of the colour bar's 256
    colours each finite pixel gets, and the colour bar's label."""
    from jacviz.gui.common.plots import add_colorbar, paint_heatmap
    from jacviz.math.grid import Domain, sample_points
    from jacviz.math.jacobian import HEATMAP_QUANTITIES
    from jacviz.math.maps import FormulaMap, jacobian_field

    domain = Domain(-2.0, 2.0, -2.0, 2.0)
    field = jacobian_field(FormulaMap.from_text(formula), sample_points(domain, 256, 256))
    values = field.quantity(key).reshape(256, 256)
    plane = Plane("Input plane", "x", "y")
    image = pg.ImageItem()
    plane.addItem(image)
    colorbar = add_colorbar(image, plane.getPlotItem())
    paint_heatmap(image, colorbar, values, key, HEATMAP_QUANTITIES[key], domain)
    low, high = colorbar.levels()
    shown = image.image[np.isfinite(image.image)]
    position = np.clip((shown - low) / (high - low), 0.0, 1.0 - 1e-9)
    axis = colorbar.getAxis("right")
    ticks = [label for _, label in axis._tickLevels[0]]
    return np.floor(position * 256).astype(int), axis.labelText, ticks


@pytest.mark.parametrize("key", ["det", "smax", "frob"])
def test_a_singularity_does_not_swamp_the_colour_scale(qtbot, key):
    """1/x: a few huge values by the pole must not paint the rest of the plane one colour."""
    colour, label, ticks = painted_colours(key)
    # Most of the plane (its pixels between the 5th and 95th percentile) spans more than a few
    # colours: with the extremes as limits it took 2 of the bar's 256.
    low, high = np.percentile(colour, [5, 95])
    most = colour[(colour >= low) & (colour <= high)]
    assert len(np.unique(most)) >= 32
    # The bar says how: its ends are clipped (≤, ≥), and its scale is logarithmic.
    assert ticks[0].startswith("≤") and ticks[-1].startswith("≥")
    assert "log scale" in label


def test_a_smooth_map_keeps_a_linear_colour_bar_with_clipped_ends(qtbot):
    _, label, ticks = painted_colours("det", "x**2 + y, x*y")
    assert label == "det J"  # no log scale where the values do not span orders of magnitude
    assert ticks[0].startswith("≤") and ticks[-1].startswith("≥") and len(ticks) >= 5
    middle = [float(t) for t in ticks[1:-1]]
    assert len(set(np.round(np.diff(middle), 9))) == 1  # a round step between the ends


def test_drawable_extent_is_the_extent_exactly_when_every_point_is_drawable():
    """The one-pass check a probe move makes of each figure agrees with :func:`drawable`."""
    rng = np.random.default_rng(0)
    specials = [np.nan, np.inf, -np.inf, 1e9, -1e9, 999_999_999.0, -999_999_999.0]
    for _ in range(3000):
        points = rng.normal(size=(int(rng.integers(1, 6)), 2)) * 10.0 ** rng.integers(-3, 12)
        if rng.random() < 0.4:
            points[rng.integers(len(points)), rng.integers(2)] = rng.choice(specials)
        extent = drawable_extent(points)
        assert (extent is not None) == bool(drawable(points).all())
        if extent is not None:
            assert np.array_equal(extent[0], points.min(axis=0))
            assert np.array_equal(extent[1], points.max(axis=0))
    assert drawable_extent(np.zeros((0, 2))) is None
