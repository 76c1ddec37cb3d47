"""An exported figure's heatmap is computed for the figure's own pixels, then the plane is restored.

On screen the domain's heatmap is 256²; a PNG at twice the size gets the part in view at its
pixels (within the detail's limits), and the plane shows what it showed before afterwards.
Sizes and counts are checked, never times.
"""

import pytest

from jacviz.gui.common import export
from jacviz.gui.mapview.heatmaps import HEATMAP_RESOLUTION
from jacviz.math.budget import DETAIL_LIMIT
from tests.conftest import wait_for_heatmap

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def shown_details(window, monkeypatch):
    """Every detail the input plane draws: (rows, cols, region)."""
    layer = window.input_plane.detail
    shown = []
    original = layer.show

    def show(heatmap):
        shown.append((*heatmap.image.shape, heatmap.domain))
        original(heatmap)

    monkeypatch.setattr(layer, "show", show)
    return shown


def view_pixels(plane) -> tuple[int, int]:
    box = plane.getViewBox()
    ratio = plane.devicePixelRatioF()
    return round(box.width() * ratio), round(box.height() * ratio)


def test_a_png_at_twice_the_size_gets_a_heatmap_of_its_pixels(window, shown_details, tmp_path):
    plane = window.input_plane
    assert plane.detail.region is None  # the whole domain in view: no detail on screen
    export.export_png(window.figure("input"), tmp_path / "plane.png", scale=2)
    assert len(shown_details) == 1
    rows, cols, region = shown_details[0]
    width, height = view_pixels(plane)
    domain = window.controller.state.domain
    # The domain fills part of the view: one point per exported pixel over it, capped.
    assert HEATMAP_RESOLUTION < cols <= DETAIL_LIMIT
    assert HEATMAP_RESOLUTION < rows <= DETAIL_LIMIT
    assert cols <= 2 * width + 1 and rows <= 2 * height + 1
    assert region == domain
    assert plane.detail.region is None  # put back as it was
    assert not plane.detail.image.isVisible()


def test_the_whole_window_figure_is_sharpened_too(window, shown_details, tmp_path):
    export.export_png(window.figure("window"), tmp_path / "window.png", scale=2)
    assert len(shown_details) == 1


def test_a_figure_no_finer_than_the_screen_heatmap_computes_nothing(
    window, shown_details, tmp_path
):
    plane = window.input_plane
    width, height = view_pixels(plane)
    scale = 0.8 * HEATMAP_RESOLUTION / max(width, height)
    export.export_png(window.figure("input"), tmp_path / "small.png", scale=scale)
    assert shown_details == []


def test_a_zoomed_plane_gets_its_detail_back_after_the_export(
    qtbot, window, shown_details, tmp_path
):
    plane = window.input_plane
    plane.getViewBox().setRange(xRange=(0.2, 0.9), yRange=(-0.4, 0.3), padding=0)
    qtbot.waitUntil(lambda: plane.detail.region is not None, timeout=30_000)
    wait_for_heatmap(qtbot, window)
    on_screen = plane.detail.region
    count = len(shown_details)
    export.export_png(window.figure("input"), tmp_path / "zoomed.png", scale=3)
    exported = shown_details[count]
    assert exported[2] == on_screen  # the same part of the domain, at more pixels
    assert shown_details[-1][2] == on_screen
    assert plane.detail.region == on_screen
    assert (exported[0], exported[1]) > shown_details[count - 1][:2]
