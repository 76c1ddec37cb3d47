"""Plot pieces the map view and the lab share: a plane with locked aspect, markers, heatmaps.

Planes lock the aspect ratio, because a Jacobian is geometry: a circle must look like a
circle for its image to read as an ellipse. Curves are drawn from arrays of points, where
what is not finite or too far out is left out rather than drawn wrong.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QTransform,
)
from PyQt6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsView,
)

from jacviz.gui.common import style
from jacviz.math.grid import Domain
from jacviz.nets.views import DecisionRegions

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")

# Coordinates beyond this are not drawn: Qt's rasteriser misbehaves far outside the view,
# and such points (near poles) are off screen anyway.
DRAW_LIMIT = 1e9


def drawable(points: np.ndarray) -> np.ndarray:
    """Which points ``(..., 2)`` can be drawn: finite and within :data:`DRAW_LIMIT`."""
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(points) & (np.abs(points) < DRAW_LIMIT), axis=-1)


def drawable_extent(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The corners ``(low, high)`` of ``points`` ``(K, 2)`` if every point can be drawn, else None.

    One pass for both questions, as a probe move asks them of every figure: a NaN or inf
    anywhere makes the minimum or maximum non-finite, and all coordinates lie within
    :data:`DRAW_LIMIT` exactly when the extremes do.
    """
    if not len(points):
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    if np.all(low > -DRAW_LIMIT) and np.all(high < DRAW_LIMIT):  # False for NaN
        return low, high
    return None


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


def simplest_connect(connect: np.ndarray, samples: int) -> np.ndarray | str:
    """``connect`` of :func:`polyline_data` as pyqtgraph's quickest equivalent.

    "all" for one unbroken polyline (the probe's square, circle, ellipse), "pairs" for
    unbroken segments of 2 points (the edge vectors); else the array itself. pyqtgraph builds
    those two paths in a single call instead of packing a byte stream, which a probe move
    does for every figure and its twin in the magnifier.
    """
    if connect[:-1].all():
        return "all"
    if samples == 2 and connect[::2].all() and not connect[1::2].any():
        return "pairs"
    return connect


@dataclass(frozen=True, eq=False)
class Lines:
    """Curves ``(L, S, 2)`` as a :class:`Curve` draws them, prepared once for it and its twins.

    ``x``, ``y`` and ``connect`` as :func:`polyline_data` and :func:`simplest_connect` give
    them, the extent ``((xmin, xmax), (ymin, ymax))`` of the points drawn (None: none), and
    the path, built at the first paint of any item showing these lines and then shared (an
    item and its copy in a magnifier draw one path).
    """

    x: np.ndarray
    y: np.ndarray
    connect: np.ndarray | str
    extent: tuple[tuple[float, float], tuple[float, float]] | None

    @classmethod
    def of(cls, curves: np.ndarray) -> Lines:
        """The lines of ``curves`` ``(L, S, 2)``; undrawable points break them.

        One curve that can be drawn whole (the probe's square, circle, ellipse, on every
        probe move) takes a shortcut: its own coordinates, joined all along.
        """
        corners = drawable_extent(curves[0]) if curves.shape[0] == 1 else None
        if corners is not None:
            points, (low, high) = curves[0], corners
            extent = ((float(low[0]), float(high[0])), (float(low[1]), float(high[1])))
            return cls(points[:, 0], points[:, 1], "all", extent)
        x, y, connect = polyline_data(curves)
        extent = (
            ((float(x.min()), float(x.max())), (float(y.min()), float(y.max()))) if len(x) else None
        )
        return cls(x, y, simplest_connect(connect, curves.shape[1]), extent)

    @functools.cached_property
    def path(self) -> QPainterPath:
        """The path of these lines (Qt shares its data between the items that draw it)."""
        return pg.functions.arrayToQPath(self.x, self.y, connect=self.connect, finiteCheck=False)


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
    """Colour limits: symmetric about 0 for det and log|det|, else the 1st–99th percentile.

    Percentiles, not the extremes: by a pole (``1/x``) a few pixels are thousands of times the
    rest, and would otherwise paint the whole plane one colour.
    """
    finite = image[np.isfinite(image)]
    if not finite.size:
        return -1.0, 1.0
    if key in DIVERGING_KEYS:
        limit = float(np.percentile(np.abs(finite), 99)) or 1.0
        return -limit, limit
    low, high = (float(v) for v in np.percentile(finite, [1, 99]))
    return (low, high) if high > low else (low - 0.5, low + 0.5)


DIVERGING_KEYS = ("det", "logdet")
"""Heatmaps whose sign means something: coloured on a diverging map centred on 0."""

HEAVY_TAIL = 100.0
"""A heatmap whose clipped range is more than this many times its lower-quartile distance
from the scale's base (0 for det, else its low end) is coloured on a log scale: otherwise the
part of the plane away from a steep rise would all be one colour."""


def short(value: float) -> str:
    """A tick label of at most 3 significant digits, exponents without padding: "9.71e5"."""
    text = f"{value:.3g}"
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else text


@dataclass(frozen=True)
class ColourScale:
    """How a heatmap's values become positions on its colour bar.

    Values are clipped to ``[low, high]`` (:func:`heatmap_levels`); with a ``unit``, a value
    ``v`` is then drawn at ``sign(v − base) · log10(1 + |v − base| / unit)``, which is linear
    within a unit of the base and logarithmic beyond it (so the sign of det stays readable).
    """

    low: float
    high: float
    base: float
    unit: float | None

    def position(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` sit on the colour bar (NaN stays NaN)."""
        clipped = np.clip(values, self.low, self.high)
        if self.unit is None:
            return clipped
        offset = clipped - self.base
        return np.sign(offset) * np.log10(1.0 + np.abs(offset) / self.unit)

    def levels(self) -> tuple[float, float]:
        """The colour bar's ends, in positions."""
        low, high = self.position(np.array([self.low, self.high]))
        return float(low), float(high)

    def ticks(self) -> list[tuple[float, str]]:
        """Colour-bar ticks (position, label); the ends read "≤ low" and "≥ high".

        The ends say that values beyond them are clipped to their colour. Between them: on a
        linear scale, multiples of a round step; on a log scale, round values first (the base,
        then 1, 2, 5 × 10^k, then other one- and two-digit values), each kept only if it is at
        least 1/12 of the bar from every tick kept so far.
        """
        low, high = self.levels()
        spacing = (high - low) / 12
        inset = (high - low) * 1e-3  # a hair inside: an end tick exactly at the end is dropped
        kept = {low + inset: f"≤{short(self.low)}", high - inset: f"≥{short(self.high)}"}
        values = self._round_values()
        inside = (self.low < values) & (values < self.high)
        values = values[inside]  # positions of all candidates at once: a log scale has ~600
        for value, where in zip(values.tolist(), self.position(values).tolist(), strict=True):
            if all(abs(where - k) >= spacing for k in kept):
                kept[where] = short(value)
        return sorted(kept.items())

    def _round_values(self) -> np.ndarray:
        """Candidate tick values, roundest first."""
        if self.unit is None:
            raw = (self.high - self.low) / 6  # about 6 steps along the bar
            decade = 10.0 ** np.floor(np.log10(raw))
            step = next(m * decade for m in (1, 2, 5, 10) if m * decade >= raw)
            first = np.ceil(self.low / step)
            return (first + np.arange(int(np.floor(self.high / step) - first) + 1)) * step
        first = int(np.floor(np.log10(self.unit))) - 1
        last = int(np.floor(np.log10(max(abs(self.low), abs(self.high), self.unit)))) + 1
        powers = 10.0 ** np.arange(first, last + 1)
        tiers = [np.outer(m, powers).ravel() for m in ([1, 2, 5], [3, 4, 6, 7, 8, 9])]
        # Two-digit values only where the scale is nearly linear (within ten units of the base).
        tiers.append(np.outer(np.arange(11, 100), powers[powers <= 10 * self.unit] / 10).ravel())
        return np.concatenate([[self.base]] + [np.concatenate([t, -t]) for t in tiers])

    def describe(self) -> str:
        """What the colour bar's label adds to the quantity's name."""
        return " (log scale)" if self.unit is not None else ""

    def explain(self, key: str) -> str:
        """The colour bar's tooltip: where its ends are, and why."""
        ends = (
            "−/+ the 99th percentile of |value|"
            if key in DIVERGING_KEYS
            else "the 1st and 99th percentiles"
        )
        text = (
            f"The bar ends at {ends} over the plane: values beyond (≤, ≥) take the end "
            "colours, so a few huge values by a pole do not paint the rest one colour."
        )
        if self.unit is not None:
            text += " Log scale: the values span orders of magnitude."
        return text


def colour_scale(values: np.ndarray, key: str) -> ColourScale:
    """The robust colour scale of heatmap ``key``: percentile limits, log scale for heavy tails."""
    low, high = heatmap_levels(values, key)
    base = 0.0 if key in DIVERGING_KEYS else low
    with np.errstate(invalid="ignore"):
        offsets = np.abs(np.clip(values[np.isfinite(values)], low, high) - base)
    top = max(abs(low - base), abs(high - base))
    typical = float(np.percentile(offsets, 25)) if offsets.size else top
    if not typical > 0:
        positive = offsets[offsets > 0]
        typical = float(np.percentile(positive, 25)) if positive.size else top
    heavy = top > HEAVY_TAIL * typical
    return ColourScale(low, high, base, typical if heavy else None)


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
        values=(0, 1), colorMap=style.colormap("det"), interactive=False, width=14
    )
    colorbar.setImageItem(image, insert_in=plot)
    # An SI factor like "(x0.001)" on the bar hides the actual values (det = −0.3 would read
    # as −300): show plain numbers.
    colorbar.getAxis("right").enableAutoSIPrefix(False)
    # The end ticks ("≤-1.82e3", "≥8.88") sit at the bar's very ends and are wider than the
    # rest: let their text reach half a line beyond the bar, and give the axis room for them
    # once and for all (a width that followed the labels would resize the plane with them).
    axis = colorbar.getAxis("right")
    axis.setStyle(hideOverlappingLabels=False)
    widest = QFontMetricsF(axis.style["tickFont"] or QFont()).horizontalAdvance("≤-8.88e-8")
    axis.setWidth(round(widest) + 34)  # + the tick, its gap and the rotated label's line
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

    The scale comes from :func:`colour_scale` (robust limits, a log scale for heavy tails) and
    the bar's label says so; ``key`` also picks the colour map (:func:`style.colormap`).
    """
    scale = colour_scale(values, key)
    # Clipping maps ±inf (log|det| at a fold, an infinite condition number) to the ends of the
    # colour bar; NaN (the map is undefined) stays NaN and is drawn transparent.
    image.setImage(scale.position(values), autoLevels=False)
    image.setRect(domain.xmin, domain.ymin, domain.width, domain.height)
    colorbar.setColorMap(style.colormap(key))
    colorbar.setLevels(scale.levels())
    axis = colorbar.getAxis("right")
    axis.setTicks([scale.ticks()])
    axis.setLabel(f"{label}{scale.describe()}" if label else "")
    colorbar.setToolTip(scale.explain(key))
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


def cache_pixels(item: QGraphicsItem) -> None:
    """Keep ``item``'s pixels as a picture, drawn again only when it or the view changes.

    A moving probe dirties the screen under its figures and the magnifier; every item
    crossing that region is painted again, and a plane's grid crosses all of it (thousands of
    antialiased segments, the most expensive thing on a plane). Cached, the grid, the fold
    lines and the heatmap are copied instead, and drawn anew only when their data or the
    view (pan, zoom, resize) changes. Exports draw the items themselves, not the cache.
    """
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


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


_VIEW_PIXELS: weakref.WeakKeyDictionary[pg.ViewBox, tuple[QTransform, tuple[float, float]]] = (
    weakref.WeakKeyDictionary()
)
"""A view's pixel size in data units, with the transform of its items it was found for."""


class Curve(pg.PlotCurveItem):
    """A PlotCurveItem that finds its extent once per new data, not at every view change.

    pyqtgraph forgets a curve's data bounds whenever the view's transform changes and
    recomputes them (NaN-aware minima and maxima under a warnings filter) at the next paint.
    A plane's curves hold only finite points (:func:`polyline_data`) and cosmetic pens, so
    their extent depends on the data alone: :meth:`show_lines` computes it with the data,
    which keeps the inset's re-framing at every probe move cheap.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._extent: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._lines: Lines | None = None
        self._pixel: tuple[float, float] | None = None  # a view pixel, in data units
        super().__init__(*args, **kwargs)

    def setData(self, *args: object, **kwargs: object) -> None:
        """Set the data as pyqtgraph does; the extent is then computed by pyqtgraph."""
        self._extent = self._lines = None
        super().setData(*args, **kwargs)

    def show_lines(self, lines: Lines) -> None:
        """Draw ``lines`` (finite points; see :class:`Lines`).

        This is pyqtgraph's ``setData`` without the checks and keyword handling it makes on
        every call, which a probe move would pay for two dozen curves; the path is the one of
        ``lines``, shared with the other items that show them.
        """
        self._lines = lines
        self.xData, self.yData = lines.x, lines.y
        self.opts["connect"] = lines.connect
        self.opts["skipFiniteCheck"] = True
        self.path = self.fillPath = self._fillPathList = self._mouseShape = None
        self._lineSegmentsRendered = False
        self.invalidateBounds()
        self._extent = lines.extent
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.update()
        self.sigPlotChanged.emit(self)

    def getPath(self) -> QPainterPath:
        """The path drawn: the shared one of the lines shown, else pyqtgraph's."""
        if self.path is None and self._lines is not None:
            self.path = self._lines.path
        return super().getPath()

    def dataBounds(
        self, ax: int, frac: float = 1.0, orthoRange: object = None
    ) -> tuple[float | None, float | None]:
        """The data's extent along ``ax``; pyqtgraph's own answer for partial ranges."""
        if self._extent is None or frac < 1.0 or orthoRange is not None or not self._cosmetic():
            return super().dataBounds(ax, frac, orthoRange)
        return self._extent[ax]

    def boundingRect(self) -> QRectF:
        """The data's extent, padded by the pen's half width in view pixels.

        As pyqtgraph's, but the size of a view pixel is worked out once per view transform
        rather than at every new data: a probe move gives a dozen curves new data while the
        plane's view stays put.
        """
        rect = self._boundingRect
        if rect is not None:
            return rect
        if self._extent is None or not self._cosmetic():
            return super().boundingRect()
        if self._pixel is None:
            self._pixel = self._pixel_size()
        pad = self.pixelPadding()
        px, py = (0.0, 0.0) if self._pixel is None else (pad * v for v in self._pixel)
        (x0, x1), (y0, y1) = self._extent
        self._boundingRect = QRectF(x0 - px, y0 - py, x1 - x0 + 2 * px, y1 - y0 + 2 * py)
        return self._boundingRect

    def _pixel_size(self) -> tuple[float, float] | None:
        """The length of a view pixel along x and y in data units (None: not shown yet).

        Curves drawn in their view's coordinates (no transform of their own) share one
        answer per view transform: a probe move reframes each inset, and its seven copies
        of the figures would each work it out again (~15 us apiece).
        """
        view = self.getViewBox()
        if view is None or not self.transform().isIdentity() or not self.pos().isNull():
            return self._own_pixel_size()
        key = view.childGroup.sceneTransform()
        kept = _VIEW_PIXELS.get(view)
        if kept is None or kept[0] != key:
            kept = (key, self._own_pixel_size())
            if kept[1] is not None:
                _VIEW_PIXELS[view] = kept
        return kept[1]

    def _own_pixel_size(self) -> tuple[float, float] | None:
        px, py = self.pixelVectors()
        if px is None or py is None:
            return None
        try:
            return px.length(), py.length()
        except OverflowError:
            return 0.0, 0.0

    @pg.debug.warnOnException  # as pyqtgraph's own: an exception here would abort Qt
    def paint(self, painter: QPainter, option: object, widget: object = None) -> None:
        """Stroke the curve; pyqtgraph's own paint for anything but a plain stroke on screen.

        A probe move repaints two dozen curves: their plain stroke skips the profiler,
        the fill and shadow checks pyqtgraph makes for each of them.
        """
        opts = self.opts
        pen = opts["pen"]
        if (
            self._exportOpts is not False
            or self.xData is None
            or opts["fillLevel"] is not None
            or opts["shadowPen"] is not None
            or opts["compositionMode"] is not None
            or opts["stepMode"]
            or pen is None
            or not opts["antialias"]  # pyqtgraph may then draw separate segments
        ):
            super().paint(painter, option, widget)
            return
        if len(self.xData) and pen.style() != Qt.PenStyle.NoPen:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(pen)
            painter.drawPath(self.getPath())

    def viewTransformChanged(self) -> None:
        """The view moved: only the pixel padding of the bounding rectangle changes."""
        self._boundingRect = None
        self._pixel = None
        self.prepareGeometryChange()

    def _cosmetic(self) -> bool:
        pen = self.opts["pen"]
        return pen is None or pen.isCosmetic() or pen.style() == Qt.PenStyle.NoPen


class Plane(pg.PlotWidget):
    """A plot with locked aspect and helpers to add cosmetic-pen items."""

    def __init__(self, title: str, x_label: str, y_label: str):
        super().__init__()
        self.setAspectLocked(True)
        self.setTitle(title)
        self.setLabel("bottom", x_label)
        self.setLabel("left", y_label)
        # Plain coordinates when zoomed in: "f₂ (x0.001)" with ticks 430–580 hides the values.
        # The axes make room for wider tick labels but never give it back: a new map's
        # narrower labels would otherwise lay the plot out again (a second full paint per map
        # change) and shift the plane sideways under the user's eyes.
        for side in ("bottom", "left"):
            axis = self.getAxis(side)
            axis.enableAutoSIPrefix(False)
            axis.setStyle(autoReduceTextSpace=False)
        self.setMinimumSize(320, 320)
        # A probe move dirties a few rectangles (the figures, the magnifier's inset).
        # Repainting the one rectangle around them clips every stroke to a rectangle; the
        # exact region would clip to a union of rectangles, whose antialiased strokes and
        # cached-picture blits are slower than painting the pixels between them.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)

    def add_curve(self, pen: pg.QtGui.QPen, z: float, static: bool = False) -> Curve:
        """A new empty curve drawn with ``pen``, at depth ``z`` (higher is drawn on top).

        A ``static`` curve (grid lines, fold lines: what stays while the probe moves) is
        kept as a picture of its pixels (:func:`cache_pixels`).
        """
        item = Curve(pen=pen, antialias=True)
        item.setZValue(z)
        self.addItem(item)
        if static:
            cache_pixels(item)
        return item

    def add_polygon(
        self, pen: pg.QtGui.QPen, brush: pg.QtGui.QBrush, z: float
    ) -> QGraphicsPolygonItem:
        """A new empty filled polygon, at depth ``z``."""
        item = QGraphicsPolygonItem()
        item.setPen(pen)
        item.setBrush(brush)
        item.setZValue(z)
        self.addItem(item)
        return item

    @staticmethod
    def set_polygon(
        item: QGraphicsPolygonItem, points: np.ndarray, *twins: QGraphicsPolygonItem
    ) -> None:
        """Show the polygon of ``points`` ``(K, 2)``, or hide it if any is not drawable.

        ``twins`` (a magnifier's copies of ``item``) show the same polygon, made once.
        """
        shown = bool(drawable(points).all())
        polygon = QPolygonF([QPointF(x, y) for x, y in points.tolist()]) if shown else None
        for each in (item, *twins):
            if polygon is not None:
                each.setPolygon(polygon)
            each.setVisible(shown)

    @staticmethod
    def set_lines(item: pg.PlotCurveItem, curves: np.ndarray, *twins: pg.PlotCurveItem) -> None:
        """Draw ``curves`` ``(L, S, 2)`` as separate polylines (undrawable points break them).

        ``twins`` (a magnifier's copies of ``item``) draw the same data, prepared once.
        """
        lines = Lines.of(curves)
        for each in (item, *twins):
            if isinstance(each, Curve):
                each.show_lines(lines)
            else:
                each.setData(lines.x, lines.y, connect=lines.connect, skipFiniteCheck=True)

    @staticmethod
    def set_vectors(item: pg.PlotCurveItem, origin: np.ndarray, vectors: np.ndarray) -> None:
        """Draw each row of ``vectors`` as a segment starting at ``origin``."""
        segments = np.stack([np.broadcast_to(origin, vectors.shape), origin + vectors], axis=1)
        Plane.set_lines(item, segments)

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
