"""The two plots side by side: the input plane (x, y) and the output plane f(x, y).

Views draw the arrays they are handed and emit what the user did; they hold no app logic.
Both planes lock the aspect ratio, because a Jacobian is geometry: a circle must look like a
circle for its image to read as an ellipse.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QPointF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QPainterPath, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPolygonItem

from jacviz.gui import style
from jacviz.gui.controller import HeatmapImage
from jacviz.math.grid import Domain, WarpedGrid
from jacviz.math.linearize import Linearization, OutputFigures
from jacviz.nets.views import DecisionRegions

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")

# Coordinates beyond this are not drawn: Qt's rasteriser misbehaves far outside the view,
# and such points (near poles) are off screen anyway.
DRAW_LIMIT = 1e9


def drawable(points: np.ndarray) -> np.ndarray:
    """Which points ``(..., 2)`` can be drawn: finite and within :data:`DRAW_LIMIT`."""
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(points) & (np.abs(points) < DRAW_LIMIT), axis=-1)


def polyline_data(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten ``(L, S, 2)`` curves into x, y and a connect array for one PlotCurveItem.

    Consecutive samples are joined only within a curve and only where both are finite and
    within :data:`DRAW_LIMIT`, so curves break cleanly at poles.
    """
    count, samples = curves.shape[:2]
    x = curves[..., 0].reshape(-1)
    y = curves[..., 1].reshape(-1)
    shown = drawable(curves).reshape(-1)
    connect = np.ones((count, samples), dtype=bool)
    connect[:, -1] = False
    connect = connect.reshape(-1)
    connect[:-1] &= shown[:-1] & shown[1:]
    return np.where(shown, x, 0.0), np.where(shown, y, 0.0), connect


def robust_bounds(points: np.ndarray, coverage: float = 99.5) -> tuple[np.ndarray, np.ndarray]:
    """Bounding box of the central ``coverage`` % of the finite points ``(..., 2)``.

    Poles send a few samples to huge values; framing the view on percentiles keeps the
    picture on what the map does almost everywhere.
    """
    flat = points.reshape(-1, 2)
    flat = flat[np.all(np.isfinite(flat), axis=1)]
    if not len(flat):
        return np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    tail = (100.0 - coverage) / 2
    low = np.percentile(flat, tail, axis=0)
    high = np.percentile(flat, 100.0 - tail, axis=0)
    # Points near ±1.8e308 on both sides give a span that is not a float64: inf, expected
    # (frame() then keeps the view), not worth a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        span = np.maximum(high - low, 1e-9 * np.maximum(1.0, np.abs(high)))
        return low - 0.05 * span, high + 0.05 * span


def heatmap_levels(image: np.ndarray, key: str) -> tuple[float, float]:
    """Colour limits: symmetric about 0 for det and log|det|, else the 1st–99th percentile."""
    finite = image[np.isfinite(image)]
    if not finite.size:
        return -1.0, 1.0
    if key in ("det", "logdet"):
        limit = float(np.percentile(np.abs(finite), 99)) or 1.0
        return -limit, limit
    low, high = (float(v) for v in np.percentile(finite, [1, 99]))
    return (low, high) if high > low else (low - 0.5, low + 0.5)


def class_colours(
    regions: DecisionRegions, n_classes: int | None = None, intensity: float = 1.0
) -> np.ndarray:
    """RGBA image of decision regions: a colour per class, paler where the classifier is unsure.

    Confidence runs from 1/k (a tie between all k classes: nearly white) to 1 (full colour);
    pixels where the logits are not finite are transparent. ``n_classes`` is k when the caller
    knows it (a classifier of 5 classes may decide only 2 of them on the picture); otherwise it
    is taken from the largest class shown. ``intensity`` < 1 mixes every colour with white,
    so that points drawn in the full class colours stand out on their own class's region.
    """
    classes = regions.classes
    if n_classes is None:
        n_classes = int(classes.max()) + 1 if classes.size else 2
    count = max(n_classes, 2)
    palette = np.array([QColor(c).getRgbF()[:3] for c in style.CLASS_COLOURS])
    colours = palette[np.maximum(classes, 0) % len(palette)]
    with np.errstate(invalid="ignore"):
        strength = np.clip((regions.confidence - 1 / count) / (1 - 1 / count), 0, 1)
    strength = np.nan_to_num(strength)[..., None]
    rgb = 1 - (1 - colours) * (intensity * (0.2 + 0.8 * strength))
    alpha = np.where(classes >= 0, 1.0, 0.0)[..., None]
    return np.round(255 * np.concatenate([rgb, alpha], axis=-1)).astype(np.uint8)


def add_colorbar(image: pg.ImageItem, plot: pg.PlotItem) -> pg.ColorBarItem:
    """A read-only colour bar for ``image``, placed at the right of ``plot``."""
    colorbar = pg.ColorBarItem(
        values=(0, 1), colorMap=style.DIVERGING_COLORMAP, interactive=False, width=14
    )
    colorbar.setImageItem(image, insert_in=plot)
    # An SI factor like "(x0.001)" on the bar hides the actual values (det = −0.3 would read
    # as −300): show plain numbers.
    colorbar.getAxis("right").enableAutoSIPrefix(False)
    return colorbar


def paint_heatmap(
    image: pg.ImageItem,
    colorbar: pg.ColorBarItem,
    values: np.ndarray,
    key: str,
    label: str,
    domain: Domain,
) -> None:
    """Colour ``image`` by ``values`` (row 0 at ``ymin``) over ``domain``, with its colour bar.

    Levels come from :func:`heatmap_levels`; ``key`` also picks the colour map (diverging for
    det and log|det|, sequential otherwise).
    """
    low, high = heatmap_levels(values, key)
    # Clipping maps ±inf (log|det| at a fold, an infinite condition number) to the ends of the
    # colour bar; NaN (the map is undefined) stays NaN and is drawn transparent.
    image.setImage(np.clip(values, low, high), autoLevels=False)
    image.setRect(domain.xmin, domain.ymin, domain.width, domain.height)
    colormap = style.DIVERGING_COLORMAP if key in ("det", "logdet") else style.SEQUENTIAL_COLORMAP
    colorbar.setColorMap(pg.colormap.get(colormap))
    colorbar.setLevels((low, high))
    colorbar.getAxis("right").setLabel(label)
    image.setVisible(True)
    colorbar.setVisible(True)


def paint_regions(
    image: pg.ImageItem,
    regions: DecisionRegions,
    domain: Domain,
    n_classes: int | None = None,
    intensity: float = 1.0,
) -> None:
    """Show decision regions (:func:`class_colours`) as ``image`` over ``domain``."""
    image.setImage(class_colours(regions, n_classes, intensity), levels=(0, 255))
    image.setRect(domain.xmin, domain.ymin, domain.width, domain.height)
    image.setVisible(True)


class Marker(QGraphicsPathItem):
    """A mark of fixed screen size (a dot or a cross) at a data point, whatever the zoom.

    Cheaper to move than a one-point ScatterPlotItem, which matters on every mouse move.
    """

    def __init__(self, shape: str, size: float, pen: QPen, brush: QBrush | None = None):
        path = QPainterPath()
        half = size / 2
        if shape == "dot":
            path.addEllipse(QPointF(0, 0), half, half)
        else:
            path.moveTo(-half, 0)
            path.lineTo(half, 0)
            path.moveTo(0, -half)
            path.lineTo(0, half)
        super().__init__(path)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setPen(pen)
        if brush is not None:
            self.setBrush(brush)

    def place(self, point: np.ndarray | None) -> None:
        """Show the mark at ``point``, or hide it for None or a non-finite point."""
        if point is None or not drawable(point):
            self.setVisible(False)
            return
        self.setPos(float(point[0]), float(point[1]))
        self.setVisible(True)


class _Plane(pg.PlotWidget):
    """A plot with locked aspect and helpers to add cosmetic-pen items."""

    def __init__(self, title: str, x_label: str, y_label: str):
        super().__init__()
        self.setAspectLocked(True)
        self.setTitle(title)
        self.setLabel("bottom", x_label)
        self.setLabel("left", y_label)
        self.setMinimumSize(320, 320)

    def _curve(self, pen: pg.QtGui.QPen, z: float) -> pg.PlotCurveItem:
        item = pg.PlotCurveItem(pen=pen, antialias=True)
        item.setZValue(z)
        self.addItem(item)
        return item

    def _polygon(
        self, pen: pg.QtGui.QPen, brush: pg.QtGui.QBrush, z: float
    ) -> QGraphicsPolygonItem:
        item = QGraphicsPolygonItem()
        item.setPen(pen)
        item.setBrush(brush)
        item.setZValue(z)
        self.addItem(item)
        return item

    @staticmethod
    def _set_polygon(item: QGraphicsPolygonItem, points: np.ndarray) -> None:
        if drawable(points).all():
            item.setPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in points]))
            item.setVisible(True)
        else:
            item.setVisible(False)

    @staticmethod
    def _set_lines(item: pg.PlotCurveItem, curves: np.ndarray) -> None:
        x, y, connect = polyline_data(curves)
        item.setData(x, y, connect=connect)

    @staticmethod
    def _set_vectors(item: pg.PlotCurveItem, origin: np.ndarray, vectors: np.ndarray) -> None:
        """Draw each row of ``vectors`` as a segment starting at ``origin``."""
        segments = np.stack([np.broadcast_to(origin, vectors.shape), origin + vectors], axis=1)
        _Plane._set_lines(item, segments)

    def frame(self, low: np.ndarray, high: np.ndarray) -> None:
        """Show the box [low, high] (aspect stays locked, so one side gets padding).

        A box whose size is not a float64 (points near ±1.8e308 on both sides) cannot be
        shown; the view then stays where it was.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            size = np.subtract(high, low, dtype=np.float64)
        if not np.all(np.isfinite(size)):
            return
        self.setRange(xRange=(low[0], high[0]), yRange=(low[1], high[1]), padding=0)


class InputPlane(_Plane):
    """The input plane: grid, heatmap with fold lines, the probe and its small square.

    Signals
    -------
    sigPointPicked(float, float)
        The user clicked at, or dragged the probe to, this point.
    sigHovered(float, float)
        The pointer is over this point (rate-limited).
    sigHoverLeft()
        The pointer left the plane.
    """

    sigPointPicked = pyqtSignal(float, float)
    sigHovered = pyqtSignal(float, float)
    sigHoverLeft = pyqtSignal()

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
        self.fold_lines = self._curve(style.pen(style.BLACK, 2.0), -5)
        self.vertical_lines = self._curve(style.pen(style.BLUE, 1.0, alpha=170), -10)
        self.horizontal_lines = self._curve(style.pen(style.ORANGE, 1.0, alpha=170), -10)
        self.square = self._curve(style.pen(style.BLACK, 2.0), 5)
        self.circle = self._curve(style.pen(style.GREEN, 1.5, style=Qt.PenStyle.DashLine), 5)
        self.e1 = self._curve(style.pen(style.ORANGE, 3.5), 6)
        self.e2 = self._curve(style.pen(style.BLUE, 3.5), 6)
        self.target = pg.TargetItem(
            pos=(0, 0), size=16, movable=True, pen=style.pen(style.BLACK, 2), brush=None
        )
        self.target.setZValue(10)
        self.addItem(self.target)
        self._placing = False
        self._domain: Domain | None = None
        self.target.sigPositionChanged.connect(self._on_target_moved)
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)
        # threadSafe=False: the pointer's events arrive on the GUI thread anyway, and the
        # thread-safe variant's timer outlived deleted planes in the test suite (a segfault).
        self._hover_proxy = pg.SignalProxy(
            self.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved, threadSafe=False
        )
        self.setToolTip(
            "Click anywhere or drag the target to move the probe point p.\n"
            "Black square: p + [0, h]²; its orange and blue edges are h·e1 and h·e2."
        )

    # ---- drawing -------------------------------------------------------------------------------
    def show_grid(self, grid: WarpedGrid, domain: Domain) -> None:
        """Draw the grid lines; frame the domain when it changed."""
        half = grid.lines.shape[0] // 2
        self._set_lines(self.vertical_lines, grid.lines[:half])
        self._set_lines(self.horizontal_lines, grid.lines[half:])
        if domain != self._domain:
            self._domain = domain
            self.frame(np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax]))

    def show_linearization(self, lin: Linearization) -> None:
        """Draw the square, the circle and the two edge vectors at the probe."""
        self._set_lines(self.square, lin.square[np.newaxis])
        self._set_lines(self.circle, lin.circle[np.newaxis])
        self._set_vectors(self.e1, lin.point, lin.h * np.array([[1.0, 0.0]]))
        self._set_vectors(self.e2, lin.point, lin.h * np.array([[0.0, 1.0]]))
        self._placing = True
        try:
            self.target.setPos(float(lin.point[0]), float(lin.point[1]))
        finally:
            self._placing = False

    def show_heatmap(self, heatmap: HeatmapImage) -> None:
        """Colour the plane by the heatmap (if any) and draw the fold lines det = 0."""
        domain = heatmap.domain
        if heatmap.folds is not None:
            self._set_lines(self.fold_lines, heatmap.folds)
        else:
            self.fold_lines.setData([], [])
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

    # ---- user input ----------------------------------------------------------------------------
    def _on_target_moved(self, target: pg.TargetItem) -> None:
        if not self._placing:
            position = target.pos()
            self.sigPointPicked.emit(position.x(), position.y())

    def _on_scene_clicked(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.isAccepted():
            return
        view_box = self.getViewBox()
        if view_box.sceneBoundingRect().contains(event.scenePos()):
            point = view_box.mapSceneToView(event.scenePos())
            self.sigPointPicked.emit(point.x(), point.y())

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
    (style.VERMILLION, "▰▰", "tangent parallelogram f(p) + J·δ"),
    (style.GREEN, "━━", "image of the circle |δ| = h"),
    (style.GREEN, "╍╍", "σ-ellipse f(p) + J·δ, semi-axes h·σ1, h·σ2"),
    (style.ORANGE, "━━", "J·e1 = h·∂f/∂x"),
    (style.BLUE, "━━", "J·e2 = h·∂f/∂y"),
)


def legend_html() -> str:
    """The output plane's legend as rich text, in two columns."""
    cells = [
        f"<td><span style='color:{color}; font-weight:bold'>{sample}</span> {label}</td>"
        for color, sample, label in LEGEND
    ]
    rows = "".join(f"<tr>{''.join(cells[i : i + 2])}</tr>" for i in range(0, len(cells), 2))
    return f"<table cellspacing='4'>{rows}</table>"


class OutputPlane(_Plane):
    """The output plane: warped grid, curved square vs tangent parallelogram, σ-ellipse."""

    def __init__(self) -> None:
        super().__init__("Output plane: f(x, y)", "f₁", "f₂")
        self.vertical_lines = self._curve(style.pen(style.BLUE, 1.0, alpha=190), -10)
        self.horizontal_lines = self._curve(style.pen(style.ORANGE, 1.0, alpha=190), -10)
        self.parallelogram = self._polygon(
            style.pen(style.VERMILLION, 1.5), style.brush(style.VERMILLION, 70), 2
        )
        self.square = self._curve(style.pen(style.BLACK, 2.0), 4)
        self.circle = self._curve(style.pen(style.GREEN, 1.5), 3)
        self.ellipse = self._curve(style.pen(style.GREEN, 2.0, style=Qt.PenStyle.DashLine), 3)
        self.ellipse_axes = self._curve(style.pen(style.GREEN, 2.5), 3)
        self.je1 = self._curve(style.pen(style.ORANGE, 3.5), 5)
        self.je2 = self._curve(style.pen(style.BLUE, 3.5), 5)
        self.center_marker = Marker("dot", 8, style.pen(style.BLACK), pg.mkBrush(style.BLACK))
        self.hover_marker = Marker("cross", 14, style.pen(style.GREY, 2))
        for item in (self.center_marker, self.hover_marker):
            item.setZValue(8)
            item.setVisible(False)
            self.addItem(item)
        self._grid: WarpedGrid | None = None
        self._linearization: Linearization | None = None
        self._t = 1.0
        self.setToolTip(
            "Black: the true image of the small square. Red: its tangent parallelogram "
            "f(p) + J·δ.\nGreen: image of the circle, and the singular-value ellipse (dashed) "
            "with semi-axes h·σ1, h·σ2."
        )

    def show_grid(self, grid: WarpedGrid) -> None:
        """Draw the image of the grid (at the current morph) and frame it."""
        self._grid = grid
        self._draw_grid()
        self.frame(*robust_bounds(grid.morph(self._t)))

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
        self._set_lines(self.vertical_lines, curves[:half])
        self._set_lines(self.horizontal_lines, curves[half:])

    def _draw_linearization(self) -> None:
        if self._linearization is None:
            return
        # At a pole the figures hold inf and NaN, which the curves leave out: no warning.
        with np.errstate(invalid="ignore", over="ignore"):
            self._draw_figures(self._linearization.output_figures(self._t))

    def _draw_figures(self, figures: OutputFigures) -> None:
        center = figures.center
        self._set_lines(self.square, figures.square_image[np.newaxis])
        self._set_polygon(self.parallelogram, figures.parallelogram)
        self._set_lines(self.circle, figures.circle_image[np.newaxis])
        self._set_lines(self.ellipse, figures.ellipse[np.newaxis])
        axes = np.concatenate([center - figures.ellipse_axes, center + figures.ellipse_axes])
        self._set_lines(self.ellipse_axes, axes[[0, 2, 1, 3]].reshape(2, 2, 2))
        self._set_vectors(self.je1, center, figures.basis_images[:1])
        self._set_vectors(self.je2, center, figures.basis_images[1:])
        self.center_marker.place(center)
