"""Each colour has one meaning, and what is drawn over a heatmap stays readable on it.

Grid lines, classes and the det and σ colour maps used to share blue and orange, so blue grid
lines (and the probe's blue edge) vanished over blue regions or negative det. These tests
measure the colours themselves: contrast by WCAG 2.1's relative luminance, difference by
CIE ΔE (1976, in CIELAB).
"""

import itertools

import numpy as np
import pytest
from PyQt6.QtGui import QColor

from jacviz.gui.common import style
from jacviz.math.jacobian import HEATMAP_QUANTITIES

# WCAG 2.1 success criterion 1.4.11 (non-text contrast) asks 3:1 for the graphical objects
# needed to understand a picture: the grid lines and the probe's edges are exactly that, and
# they are thin (1–3.5 px), so no lower bound would do.
MIN_CONTRAST = 3.0
# CIE76 ΔE ≈ 2.3 is a just-noticeable difference; 15 is a difference seen at a glance, side by
# side or not, which is what telling two meanings apart takes.
MIN_DELTA_E = 15.0


def rgb(colour) -> np.ndarray:
    """sRGB in [0, 1] of a colour name, QColor or (r, g, b[, a]) bytes."""
    if isinstance(colour, str | QColor):
        return np.array(QColor(colour).getRgbF()[:3])
    return np.asarray(colour, dtype=float)[:3] / 255


def linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def luminance(colour) -> float:
    return float(linear(rgb(colour)) @ [0.2126, 0.7152, 0.0722])


def contrast(a, b) -> float:
    """WCAG contrast ratio, 1 (same luminance) to 21 (black on white)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def cielab(colour) -> np.ndarray:
    xyz = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    ) @ linear(rgb(colour))
    xyz /= [0.95047, 1.0, 1.08883]  # D65 white
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a, b) -> float:
    return float(np.linalg.norm(cielab(a) - cielab(b)))


def map_colours(key: str, count: int = 256) -> np.ndarray:
    """The colours heatmap ``key`` can take, end to end, as RGB bytes."""
    return style.colormap(key).getLookupTable(0.0, 1.0, nPts=count, alpha=False)


LINES_OVER_HEATMAPS = {
    "x = const grid lines, the probe's h·e2 edge": style.GRID_X_CONST,
    "y = const grid lines, the probe's h·e1 edge": style.GRID_Y_CONST,
    "the probe's square, the fold lines": style.BLACK,
}


@pytest.mark.parametrize("key", [*HEATMAP_QUANTITIES, "classes"])
@pytest.mark.parametrize("line", list(LINES_OVER_HEATMAPS))
def test_lines_drawn_over_every_heatmap_keep_their_contrast(key, line):
    colour = LINES_OVER_HEATMAPS[line]
    # Decision regions are the class colours, paler where unsure: the full colours are darkest.
    under = style.CLASS_COLOURS if key == "classes" else map_colours(key)
    worst = min(under, key=lambda c: contrast(colour, c))
    assert contrast(colour, worst) >= MIN_CONTRAST, (line, key, worst)


def test_the_two_grid_tones_tell_x_from_y():
    assert delta_e(style.GRID_X_CONST, style.GRID_Y_CONST) >= MIN_DELTA_E
    for tone in (style.GRID_X_CONST, style.GRID_Y_CONST):
        red, green, blue = rgb(tone)
        assert red == green == blue  # neutral: hue is left to the classes and the maps


def test_classes_grid_and_map_ends_are_pairwise_distinct():
    ends = [end for key in ("det", "frob") for end in map_colours(key, 2)]
    named = {f"class {i}": c for i, c in enumerate(style.CLASS_COLOURS)}
    named |= {"grid x": style.GRID_X_CONST, "grid y": style.GRID_Y_CONST}
    named |= {f"map end {i}": c for i, c in enumerate(ends)}
    for (name_a, a), (name_b, b) in itertools.combinations(named.items(), 2):
        assert delta_e(a, b) >= MIN_DELTA_E, (name_a, name_b)


def test_every_class_a_2d_dataset_can_have_gets_a_colour_of_its_own():
    from jacviz.nets.datasets import MAX_CLASSES

    assert len(set(style.CLASS_COLOURS)) >= MAX_CLASSES


def test_classes_use_colours_of_their_own():
    others = (style.VERMILLION, style.GREEN, style.BLACK, style.GREY)
    others += (style.GRID_X_CONST, style.GRID_Y_CONST)
    for colour, other in itertools.product(style.CLASS_COLOURS, others):
        assert delta_e(colour, other) >= MIN_DELTA_E, (colour, other)


def test_the_input_plane_draws_its_grid_and_probe_edges_in_the_grid_tones(qtbot):
    from jacviz.gui.mapview.planes import InputPlane

    plane = InputPlane()
    qtbot.addWidget(plane)
    drawn = {
        name: getattr(plane, name).opts["pen"].color().name().upper()
        for name in ("vertical_lines", "horizontal_lines", "e1", "e2")
    }
    assert drawn["vertical_lines"] == drawn["e2"] == style.GRID_X_CONST
    assert drawn["horizontal_lines"] == drawn["e1"] == style.GRID_Y_CONST
    assert not set(drawn.values()) & set(style.CLASS_COLOURS)
