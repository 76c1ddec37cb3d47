"""The heatmap's detail: the part of the domain in view, drawn at screen resolution.

After a zoom or a pan that leaves part of the domain out of view, the input plane asks for
the visible part again (:func:`view_request`: its rectangle and its size in screen pixels),
and draws the field that comes back over the domain's (:class:`DetailLayer`), in the same
colours; the domain's fold lines give way to the detail's where the detail covers them.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from jacviz.gui.common import style
from jacviz.gui.common.plots import Plane, cache_pixels, paint_regions
from jacviz.gui.mapview.heatmaps import HeatmapImage, ViewRequest
from jacviz.math.grid import Domain

DETAIL_Z = -19
"""The detail's depth: over the domain's heatmap (-20), under the grid lines (-10)."""


def view_request(
    view_box: pg.ViewBox, domain: Domain, ratio: float = 1.0, whole: bool = False
) -> ViewRequest | None:
    """The part of ``domain`` that ``view_box`` shows, and its size in device pixels.

    None when none of it is in view, or when the part in view is not a rectangle jacviz can
    draw (a sliver along an edge); and, unless ``whole``, when the whole domain is in view
    (on screen the domain's own field then fills it at its usual resolution; an exported
    figure asks with ``whole``, for its own pixels). ``ratio`` is the device pixel ratio: the
    screen's, times the export's scale.
    """
    (x0, x1), (y0, y1) = view_box.viewRange()
    width, height = view_box.width() * ratio, view_box.height() * ratio
    if not (width > 0 and height > 0 and x1 > x0 and y1 > y0):
        return None
    slack = 1e-9 * max(domain.width, domain.height)
    if (
        not whole
        and x0 <= domain.xmin + slack
        and x1 >= domain.xmax - slack
        and y0 <= domain.ymin + slack
        and y1 >= domain.ymax - slack
    ):
        return None
    low_x, high_x = max(x0, domain.xmin), min(x1, domain.xmax)
    low_y, high_y = max(y0, domain.ymin), min(y1, domain.ymax)
    if not (low_x < high_x and low_y < high_y):
        return None
    try:
        region = Domain(low_x, high_x, low_y, high_y)
    except ValueError:
        return None
    cols = math.ceil((high_x - low_x) / (x1 - x0) * width)
    rows = math.ceil((high_y - low_y) / (y1 - y0) * height)
    return ViewRequest(region, max(1, cols), max(1, rows))


def segments_outside(segments: np.ndarray, region: Domain) -> np.ndarray:
    """The segments ``(K, 2, 2)`` with neither end inside ``region``.

    The detail's own fold lines reach its edges; a coarse segment poking into it would run
    beside them, off by up to a coarse cell, and read as a doubled line.
    """
    x, y = segments[..., 0], segments[..., 1]
    with np.errstate(invalid="ignore"):
        inside = (x >= region.xmin) & (x <= region.xmax) & (y >= region.ymin) & (y <= region.ymax)
    return segments[~inside.any(axis=1)]


class DetailLayer:
    """The detail's items on ``plane``: its colours, decision regions and fold lines.

    ``image`` shares the colour bar of the domain's heatmap (register it with the bar);
    ``base_folds`` is the curve of the domain's fold lines, thinned while a detail shows.
    """

    def __init__(self, plane: Plane, base_folds: pg.PlotCurveItem):
        self.image = pg.ImageItem()
        self.regions = pg.ImageItem()
        for item in (self.image, self.regions):
            item.setZValue(DETAIL_Z)
            item.setVisible(False)
            plane.addItem(item)
            cache_pixels(item)
        self.folds = plane.add_curve(style.pen(style.BLACK, 2.0), -5, static=True)
        self._base_folds = base_folds
        self._domain_folds: np.ndarray | None = None
        self.region: Domain | None = None
        """The rectangle the detail on screen covers (None: no detail is shown)."""

    def set_domain_folds(self, folds: np.ndarray | None) -> None:
        """The domain's fold lines ``(K, 2, 2)`` (or None), drawn less what the detail covers."""
        self._domain_folds = folds
        self._draw_domain_folds()

    def show(self, heatmap: HeatmapImage) -> None:
        """Draw ``heatmap``, a detail, over its region."""
        region = heatmap.domain
        self.region = region
        if heatmap.folds is not None:
            Plane.set_lines(self.folds, heatmap.folds)
        else:
            self.folds.setData([], [])
        self._draw_domain_folds()
        self.regions.setVisible(heatmap.regions is not None)
        if heatmap.regions is not None:
            paint_regions(self.regions, heatmap.regions, region)
        if heatmap.image is None or heatmap.scale is None:
            self.image.setVisible(False)
            return
        self.image.setImage(heatmap.scale.position(heatmap.image), autoLevels=False)
        self.image.setRect(region.xmin, region.ymin, region.width, region.height)
        self.image.setVisible(True)

    def clear(self) -> None:
        """Show no detail: the domain's field alone, with all its fold lines."""
        self.region = None
        self.image.setVisible(False)
        self.regions.setVisible(False)
        self.folds.setData([], [])
        self._draw_domain_folds()

    def _draw_domain_folds(self) -> None:
        folds = self._domain_folds
        if folds is None:
            self._base_folds.setData([], [])
            return
        if self.region is not None and len(folds):
            folds = segments_outside(folds, self.region)
        Plane.set_lines(self._base_folds, folds)
