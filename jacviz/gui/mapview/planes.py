"""The two plots side by side: the input plane (x, y) and the output plane f(x, y).

Views draw the arrays they are handed and emit what the user did; they hold no app logic.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QPointF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QMouseEvent

from jacviz.gui.common import style
from jacviz.gui.common.plots import (
    Marker,
    Plane,
    add_colorbar,
    cache_pixels,
    paint_heatmap,
    paint_regions,
    robust_bounds,
)
from jacviz.gui.mapview.detail import DetailLayer, view_request
from jacviz.gui.mapview.heatmaps import HeatmapImage, ViewRequest
from jacviz.gui.mapview.magnifier import Magnifier
from jacviz.math.grid import Domain, WarpedGrid
from jacviz.math.linearize import Linearization, OutputFigures

VIEW_SETTLE_MS = 80
"""How long the input plane's view must rest before the part in view is asked for again."""


def _segments(origin: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each row of ``vectors`` as a segment ``(2, 2)`` from ``origin``: curves for set_lines."""
    segments = np.empty((len(vectors), 2, 2))
    segments[:, 0] = origin
    segments[:, 1] = origin + vectors
    return segments


class InputPlane(Plane):
    """The input plane: grid, heatmap with fold lines, the probe and its small square.

    Signals
    -------
    sigPointPicked(float, float)
        The user clicked at, or dragged the probe to, this point.

    A left press or drag on the plot moves the probe (the drag follows the pointer). Panning
    is the middle button or Shift/Ctrl + left-drag; the wheel zooms, as on every plane.
    sigHovered(float, float)
        The pointer is over this point (rate-limited).
    sigHoverLeft()
        The pointer left the plane.
    sigViewChanged(ViewRequest or None)
        The part of the domain in view after a zoom, a pan or a resize (None: all of it),
        once the view has settled for :data:`VIEW_SETTLE_MS`.
    """

    sigPointPicked = pyqtSignal(float, float)
    sigHovered = pyqtSignal(float, float)
    sigHoverLeft = pyqtSignal()
    sigViewChanged = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__("Input plane", "x", "y")
        self.image = pg.ImageItem()
        self.image.setZValue(-20)
        self.addItem(self.image)
        self.colorbar = add_colorbar(self.image, self.getPlotItem())
        # Decision regions are colours, not values: their own item, outside the colour bar's
        # control (which would impose its levels on them).
        self.regions = pg.ImageItem()
        self.regions.setZValue(-20)
        self.regions.setVisible(False)
        self.addItem(self.regions)
        # What stays while the probe moves is kept as pixels, so that a probe move repaints
        # only the probe's figures and the inset (see cache_pixels).
        for item in (self.image, self.regions):
            cache_pixels(item)
        self.fold_lines = self.add_curve(style.pen(style.BLACK, 2.0), -5, static=True)
        self.detail = DetailLayer(self, self.fold_lines)
        self.colorbar.setImageItem([self.image, self.detail.image])
        self.vertical_lines = self.add_curve(style.pen(style.GRID_X_CONST, 1.0), -10, static=True)
        self.horizontal_lines = self.add_curve(style.pen(style.GRID_Y_CONST, 1.0), -10, static=True)
        self.square = self.add_curve(style.pen(style.BLACK, 2.0), 5)
        self.circle = self.add_curve(style.pen(style.GREEN, 1.5, style=Qt.PenStyle.DashLine), 5)
        self.e1 = self.add_curve(style.pen(style.GRID_Y_CONST, 3.5), 6)
        self.e2 = self.add_curve(style.pen(style.GRID_X_CONST, 3.5), 6)
        # The target only shows p: presses anywhere on the plot move the probe (see below).
        self.target = pg.TargetItem(
            pos=(0, 0), size=16, movable=False, pen=style.pen(style.BLACK, 2), brush=None
        )
        self.target.setZValue(10)
        self.addItem(self.target)
        self.magnifier = Magnifier(self, "p")
        for item in (self.vertical_lines, self.horizontal_lines):
            self.magnifier.twin_curve(item, alpha=110)
        for item in (self.square, self.circle, self.e1, self.e2):
            self.magnifier.twin_curve(item)
        self.point_marker = self.magnifier.add_marker(
            Marker("dot", 7, style.pen(style.BLACK), pg.mkBrush(style.BLACK))
        )
        self._dragging = False
        self._domain: Domain | None = None
        # A zoom or pan asks for the part in view once the view has settled: a wheel turn
        # changes the range many times, and a request per step would be superseded at once.
        self._view_sent: ViewRequest | None = None
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_SETTLE_MS)
        self._view_timer.timeout.connect(self._send_view)
        view_box = self.getViewBox()
        view_box.sigRangeChanged.connect(self._on_range_changed)
        view_box.sigResized.connect(self._on_range_changed)
        # threadSafe=False: the pointer's events arrive on the GUI thread anyway, and the
        # thread-safe variant's timer outlived deleted planes in the test suite (a segfault).
        self._hover_proxy = pg.SignalProxy(
            self.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved, threadSafe=False
        )
        self.setToolTip(
            "Click or drag to move the probe point p; pan with the middle button or\n"
            "Shift/Ctrl + drag; the wheel zooms.\n"
            "Black square: p + [0, h]²; its dark grey and black edges are h·e1 and h·e2.\n"
            "The inset magnifies the neighbourhood of p (View → Magnifier)."
        )

    # ---- drawing -------------------------------------------------------------------------------
    def show_grid(self, grid: WarpedGrid, domain: Domain) -> None:
        """Draw the grid lines; frame the domain when it changed."""
        half = grid.lines.shape[0] // 2
        self.magnifier.set_lines(self.vertical_lines, grid.lines[:half])
        self.magnifier.set_lines(self.horizontal_lines, grid.lines[half:])
        if domain != self._domain:
            self._domain = domain
            self.frame(np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax]))
        self.magnifier.set_clutter(grid.lines)

    def show_linearization(self, lin: Linearization) -> None:
        """Draw the square, the circle and the two edge vectors at the probe."""
        magnifier = self.magnifier
        magnifier.set_lines(self.square, lin.square[np.newaxis])
        magnifier.set_lines(self.circle, lin.circle[np.newaxis])
        edges = lin.h * np.eye(2)
        magnifier.set_lines(self.e1, _segments(lin.point, edges[:1]))
        magnifier.set_lines(self.e2, _segments(lin.point, edges[1:]))
        self.target.setPos(float(lin.point[0]), float(lin.point[1]))
        self.point_marker.place(lin.point)  # in the inset; the target marks p on the plane
        magnifier.focus(np.concatenate([lin.square, lin.circle]))

    def show_heatmap(self, heatmap: HeatmapImage) -> None:
        """Colour the plane by the heatmap (if any) and draw the fold lines det = 0.

        A detail (the part in view, finer) is drawn over the domain's heatmap; a heatmap of
        the domain replaces both.
        """
        if heatmap.detail:
            self.detail.show(heatmap)
            return
        domain = heatmap.domain
        self.detail.clear()
        self.detail.set_domain_folds(heatmap.folds)
        self.regions.setVisible(heatmap.regions is not None)
        if heatmap.regions is not None:
            paint_regions(self.regions, heatmap.regions, domain)
        if heatmap.image is None:
            self.image.setVisible(False)
            self.colorbar.setVisible(False)
            return
        paint_heatmap(
            self.image, self.colorbar, heatmap.image, heatmap.key or "", heatmap.label, domain
        )

    def view_request(self) -> ViewRequest | None:
        """The part of the domain in view and its size in device pixels (None: all of it)."""
        if self._domain is None:
            return None
        return view_request(self.getViewBox(), self._domain, self.devicePixelRatioF())

    def _on_range_changed(self) -> None:
        self._view_timer.start()

    def _send_view(self) -> None:
        if self.plotItem is None:  # closed while the view settled: nothing to send
            return
        request = self.view_request()
        if request != self._view_sent:
            self._view_sent = request
            self.sigViewChanged.emit(request)

    # ---- user input ----------------------------------------------------------------------------
    # A plain left press on the plot starts moving the probe, and the plot never sees it: it
    # would pan. Other buttons, Shift/Ctrl + left and presses on the axes go to pyqtgraph.
    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Start moving the probe on a plain left press over the plot; else pan or zoom."""
        if self._moves_probe(event):
            self._dragging = True
            self._pick(event.position())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """While the left button is held after a plain press, the probe follows the pointer."""
        if self._dragging:
            self._pick(event.position())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """End a probe drag where the pointer is."""
        if self._dragging:
            if event.button() == Qt.MouseButton.LeftButton:
                self._dragging = False
                self._pick(event.position())
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _moves_probe(self, event: QMouseEvent) -> bool:
        pan_keys = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
        if event.button() != Qt.MouseButton.LeftButton or event.modifiers() & pan_keys:
            return False
        scene_pos = self.mapToScene(event.position().toPoint())
        return self.getViewBox().sceneBoundingRect().contains(scene_pos)

    def _pick(self, position: QPointF) -> None:
        point = self.getViewBox().mapSceneToView(self.mapToScene(position.toPoint()))
        self.sigPointPicked.emit(point.x(), point.y())
        self.sigHovered.emit(point.x(), point.y())

    def _on_mouse_moved(self, args: tuple) -> None:
        view_box = self.getViewBox()
        position = args[0]
        if view_box.sceneBoundingRect().contains(position):
            point = view_box.mapSceneToView(position)
            self.sigHovered.emit(point.x(), point.y())
        else:
            self.sigHoverLeft.emit()

    def leaveEvent(self, event: QEvent) -> None:
        """Tell the output plane to hide the hover marker."""
        self.sigHoverLeft.emit()
        super().leaveEvent(event)


# The output plane's key, shown beside the plot rather than over it: it never hides data,
# and moving overlays do not have to repaint it.
LEGEND = (
    (style.BLACK, "━━", "image of the square f(p + [0,h]²)"),
    (style.VERMILLION, "▰╍", "tangent parallelogram f(p) + J·δ (dashed)"),
    (style.GREEN, "━━", "image of the circle |δ| = h"),
    (style.GREEN, "╍╍", "σ-ellipse f(p) + J·δ, semi-axes h·σ1, h·σ2"),
    (style.GRID_Y_CONST, "━━", "J·e1 = h·∂f/∂x"),
    (style.GRID_X_CONST, "━━", "J·e2 = h·∂f/∂y"),
)


def legend_html() -> str:
    """The output plane's legend as rich text, in two columns."""
    cells = [
        f"<td><span style='color:{color}; font-weight:bold'>{sample}</span> {label}</td>"
        for color, sample, label in LEGEND
    ]
    rows = "".join(f"<tr>{''.join(cells[i : i + 2])}</tr>" for i in range(0, len(cells), 2))
    return f"<table cellspacing='4'>{rows}</table>"


class OutputPlane(Plane):
    """The output plane: warped grid, curved square vs tangent parallelogram, σ-ellipse."""

    def __init__(self) -> None:
        super().__init__("Output plane: f(x, y)", "f₁", "f₂")
        self.vertical_lines = self.add_curve(style.pen(style.GRID_X_CONST, 1.0), -10, static=True)
        self.horizontal_lines = self.add_curve(style.pen(style.GRID_Y_CONST, 1.0), -10, static=True)
        # The true curves (solid) lie beneath their linear approximations (dashed outlines, a
        # translucent fill), so that neither approximation hides under the curve it
        # approximates: where they agree, the dashes run along the solid line.
        dash = Qt.PenStyle.DashLine
        self.square = self.add_curve(style.pen(style.BLACK, 2.0), 2)
        self.circle = self.add_curve(style.pen(style.GREEN, 1.5), 2)
        self.parallelogram = self.add_polygon(
            style.pen(style.VERMILLION, 2.0, style=dash), style.brush(style.VERMILLION, 60), 4
        )
        self.ellipse = self.add_curve(style.pen(style.GREEN, 2.0, style=dash), 4)
        self.ellipse_axes = self.add_curve(style.pen(style.GREEN, 2.5), 4)
        self.je1 = self.add_curve(style.pen(style.GRID_Y_CONST, 3.5), 5)
        self.je2 = self.add_curve(style.pen(style.GRID_X_CONST, 3.5), 5)
        self.center_marker = Marker("dot", 8, style.pen(style.BLACK), pg.mkBrush(style.BLACK))
        self.hover_marker = Marker("cross", 14, style.pen(style.GREY, 2))
        for item in (self.center_marker, self.hover_marker):
            item.setZValue(8)
            item.setVisible(False)
            self.addItem(item)
        self.magnifier = Magnifier(self, "f(p)")
        for item in (self.vertical_lines, self.horizontal_lines):
            self.magnifier.twin_curve(item, alpha=110)
        for item in (self.square, self.circle):
            self.magnifier.twin_curve(item)
        self.magnifier.twin_polygon(self.parallelogram)
        for item in (self.ellipse, self.ellipse_axes, self.je1, self.je2):
            self.magnifier.twin_curve(item)
        self.magnifier.twin_marker(self.center_marker)
        self._grid: WarpedGrid | None = None
        self._linearization: Linearization | None = None
        self._t = 1.0
        self.setToolTip(
            "Black: the true image of the small square. Red, dashed: its tangent parallelogram "
            "f(p) + J·δ.\nGreen: image of the circle, and the singular-value ellipse (dashed) "
            "with semi-axes h·σ1, h·σ2.\nThe inset magnifies them around f(p) "
            "(View → Magnifier)."
        )

    def show_grid(self, grid: WarpedGrid) -> None:
        """Draw the image of the grid (at the current morph) and frame it."""
        self._grid = grid
        self._draw_grid()
        curves = grid.morph(self._t)
        self.frame(*robust_bounds(curves))
        # The inset's corner is chosen for a new grid, not at each step of a morph: it would
        # jump around while the slider moves.
        self.magnifier.set_clutter(curves)

    def show_linearization(self, lin: Linearization) -> None:
        """Draw the local linear picture at the probe."""
        self._linearization = lin
        self._draw_linearization()

    def set_morph(self, t: float) -> None:
        """Show everything under (1 − t)·p + t·f(p); the frame covers the whole motion."""
        if t == self._t:
            return
        self._t = t
        if self._grid is not None:
            self._draw_grid()
            if t < 1.0:
                both = np.concatenate([self._grid.lines, self._grid.images], axis=1)
                self.frame(*robust_bounds(both))
        self._draw_linearization()

    def show_hover(self, point: np.ndarray | None) -> None:
        """Mark the image of the hovered input point, or hide the mark."""
        self.hover_marker.place(None if self._t < 1.0 else point)

    def _draw_grid(self) -> None:
        grid = self._grid
        assert grid is not None
        curves = grid.morph(self._t)
        half = curves.shape[0] // 2
        self.magnifier.set_lines(self.vertical_lines, curves[:half])
        self.magnifier.set_lines(self.horizontal_lines, curves[half:])

    def _draw_linearization(self) -> None:
        if self._linearization is None:
            return
        # At a pole the figures hold inf and NaN, which the curves leave out: no warning.
        with np.errstate(invalid="ignore", over="ignore"):
            self._draw_figures(self._linearization.output_figures(self._t))

    def _draw_figures(self, figures: OutputFigures) -> None:
        center = figures.center
        magnifier = self.magnifier
        magnifier.set_lines(self.square, figures.square_image[np.newaxis])
        magnifier.set_polygon(self.parallelogram, figures.parallelogram)
        magnifier.set_lines(self.circle, figures.circle_image[np.newaxis])
        magnifier.set_lines(self.ellipse, figures.ellipse[np.newaxis])
        axes = np.concatenate([center - figures.ellipse_axes, center + figures.ellipse_axes])
        magnifier.set_lines(self.ellipse_axes, axes[[0, 2, 1, 3]].reshape(2, 2, 2))
        magnifier.set_lines(self.je1, _segments(center, figures.basis_images[:1]))
        magnifier.set_lines(self.je2, _segments(center, figures.basis_images[1:]))
        magnifier.place(self.center_marker, center)
        magnifier.focus(
            np.concatenate(
                [figures.square_image, figures.parallelogram, figures.circle_image, figures.ellipse]
            )
        )
