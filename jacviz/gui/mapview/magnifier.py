"""The magnifier: an inset in a corner of a plane that frames the neighbourhood of the probe.

At the default square size h the local picture (the curved square and its tangent
parallelogram, the circle's image and the σ-ellipse) is a blob of a few dozen pixels on the
output plane. A :class:`Magnifier` is a small view box of its own, placed in a corner of the
plane's view box, that shows copies ("twins") of the plane's local items framed on that
picture, with its magnification ("×6.3") and a scale bar. It picks the corner that covers
the fewest grid points and never the picture it magnifies, and hides itself when it would
not magnify (the user has zoomed in that far already) or when the user turns it off
(View → Magnifier, :func:`magnifier_action`).

The inset is part of the plane's scene, so exported figures and ``jacviz render`` show it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, QSettings, Qt
from PyQt6.QtGui import QAction, QColor, QFont, QPen
from PyQt6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
    QWidget,
)

from jacviz.gui.common import style
from jacviz.gui.common.plots import Curve, Marker, Plane, drawable, drawable_extent

SETTING_KEY = "view/magnifier"
"""Where the window settings keep whether the magnifier is on (it is by default)."""
SIZE_FRACTION = 0.42
"""The inset's side, as a fraction of the plane's shorter side (clamped to the sizes below)."""
MIN_SIZE, MAX_SIZE = 110.0, 320.0
MARGIN = 10.0
"""Pixels between the inset and the plane's edges: repainting the inset (and the 2 pixels of
antialiasing around it) then stays clear of the axes, whose boxes reach 5 pixels into the
plane, so a probe move does not redraw an axis and its tick labels."""
PADDING = 0.06
"""Room around the framed picture, as a fraction of its size."""
MIN_ZOOM = 1.5
"""Below this magnification the inset would show what the plane shows: it hides."""
CLUTTER_SAMPLES = 3000
"""At most this many grid points are counted when choosing a corner."""
CORNERS = ("top-right", "top-left", "bottom-right", "bottom-left")


class _Inset(pg.ViewBox):
    """A view box that leaves the pointer to the plane under it.

    Drags and wheels over the inset pan and zoom the plane, never the inset.
    """

    def mouseDragEvent(self, ev: object, axis: object = None) -> None:
        """Leave the drag to the plane under the inset."""
        ev.ignore()

    def mouseClickEvent(self, ev: object) -> None:
        """Leave the click to the plane under the inset."""
        ev.ignore()


def nice_length(span: float) -> float:
    """The largest 1, 2 or 5 × 10^k not above ``span`` (the length of a scale bar)."""
    if not math.isfinite(span) or span <= 0:
        return 0.0
    power = 10.0 ** math.floor(math.log10(span))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= span)


def zoom_text(zoom: float) -> str:
    """The magnification as shown: "×12", or "×2.5" below 10."""
    return f"×{zoom:.0f}" if zoom >= 10 else f"×{zoom:.1f}"


class Magnifier:
    """An inset in a corner of ``plane`` that frames the probe's neighbourhood.

    The plane makes a twin of each item it wants magnified (:meth:`twin_curve`,
    :meth:`twin_polygon`, :meth:`twin_marker`), draws through :meth:`set_lines` and
    :meth:`set_polygon` (which draw an item and its twin), and tells the magnifier what to
    frame (:meth:`focus`) and what it should avoid covering (:meth:`set_clutter`).
    """

    def __init__(self, plane: Plane, what: str):
        self.plane = plane
        self.host: pg.ViewBox = plane.getViewBox()
        self.what = what
        self.view = _Inset(border=style.pen(style.GREY, 1.0), lockAspect=True, enableMenu=False)
        self.view.setMouseEnabled(False, False)
        self.view.setBackgroundColor(QColor(255, 255, 255, 235))
        self.view.setParentItem(self.host)
        self.view.setZValue(1000)
        # The label sits on a white patch, so grid lines under it do not cross its text.
        self.label_patch = QGraphicsRectItem(self.view)
        self.label_patch.setPen(QPen(Qt.PenStyle.NoPen))
        self.label_patch.setBrush(QColor(255, 255, 255, 220))
        self.label = QGraphicsSimpleTextItem(self.view)
        font = QFont()
        font.setPointSizeF(8.5)
        font.setBold(True)
        self.label.setFont(font)
        self.bar = QGraphicsLineItem(self.view)
        self.bar.setPen(style.pen(style.BLACK, 2.0))
        self.bar_label = QGraphicsSimpleTextItem(self.view)
        self.bar_label.setFont(QFont(font.family(), 8))
        for item in (self.label_patch, self.label, self.bar, self.bar_label):
            item.setZValue(1000)
        self._twins: dict[QGraphicsItem, QGraphicsItem] = {}
        self._enabled = True
        self._subject: tuple[np.ndarray, np.ndarray] | None = None
        self._clutter = (np.zeros(0), np.zeros(0))  # x and y of the grid points counted
        self._corner = CORNERS[0]
        self._scale_key: tuple[float, ...] | None = None  # what the scale was written for
        self.view.setVisible(False)
        self.host.sigResized.connect(lambda _box: self._place(choose=True))
        self.host.sigRangeChanged.connect(lambda *_: self._place(choose=False))
        self.view.sigRangeChanged.connect(lambda *_: self._update_scale())

    # ---- twins ---------------------------------------------------------------------------------
    def twin_curve(self, item: pg.PlotCurveItem, alpha: int | None = None) -> pg.PlotCurveItem:
        """A copy of ``item``'s pen and depth in the inset, drawn by :meth:`set_lines`.

        ``alpha`` fades the copy (grid lines are context in the inset, not its subject).
        """
        pen = pg.mkPen(item.opts["pen"])
        if alpha is not None:
            color = pen.color()
            color.setAlpha(alpha)
            pen.setColor(color)
        twin = Curve(pen=pen, antialias=True)
        return self._add_twin(item, twin)

    def twin_polygon(self, item: QGraphicsPolygonItem) -> QGraphicsPolygonItem:
        """A copy of ``item``'s pen, fill and depth in the inset, drawn by :meth:`set_polygon`."""
        twin = QGraphicsPolygonItem()
        twin.setPen(item.pen())
        twin.setBrush(item.brush())
        return self._add_twin(item, twin)

    def twin_marker(self, item: Marker) -> Marker:
        """A copy of the marker ``item`` in the inset; :meth:`place` moves both."""
        twin = Marker("dot", 7, item.pen(), item.brush())
        twin.setVisible(False)
        return self._add_twin(item, twin)

    def add_marker(self, marker: Marker) -> Marker:
        """Show ``marker`` in the inset only (hidden until placed), e.g. p under the target."""
        marker.setVisible(False)
        self.view.addItem(marker)
        marker.setZValue(8)
        return marker

    def _add_twin(self, item: QGraphicsItem, twin: QGraphicsItem) -> QGraphicsItem:
        self.view.addItem(twin)
        twin.setZValue(item.zValue())  # after addItem, which lifts items above the view's own z
        self._twins[item] = twin
        return twin

    def twin(self, item: QGraphicsItem) -> QGraphicsItem:
        """The inset's copy of the plane's ``item``."""
        return self._twins[item]

    def set_lines(self, item: pg.PlotCurveItem, curves: np.ndarray) -> None:
        """Draw ``curves`` ``(L, S, 2)`` with ``item`` and with its twin."""
        Plane.set_lines(item, curves, self._twins[item])

    def set_polygon(self, item: QGraphicsPolygonItem, points: np.ndarray) -> None:
        """Fill the polygon ``points`` ``(K, 2)`` with ``item`` and with its twin."""
        Plane.set_polygon(item, points, self._twins[item])

    def place(self, item: Marker, point: np.ndarray | None) -> None:
        """Put the marker ``item`` and its twin at ``point`` (None hides them)."""
        item.place(point)
        self._twins[item].place(point)

    # ---- what to frame -------------------------------------------------------------------------
    def focus(self, points: np.ndarray) -> None:
        """Frame the drawable ones of ``points`` ``(..., 2)``: the local picture at the probe."""
        flat = points.reshape(-1, 2)
        corners = drawable_extent(flat)
        if corners is None:  # some points cannot be drawn: frame the others
            flat = flat[drawable(flat)]
            corners = (flat.min(axis=0), flat.max(axis=0)) if len(flat) else None
        if corners is None:
            self._subject = None
        else:
            low, high = corners
            pad = PADDING * np.maximum(high - low, 1e-12 * np.maximum(1.0, np.abs(high)))
            self._subject = (low - pad, high + pad)
            size = self._subject[1] - self._subject[0]
            if np.all(np.isfinite(size)):
                self.view.setRange(
                    xRange=(self._subject[0][0], self._subject[1][0]),
                    yRange=(self._subject[0][1], self._subject[1][1]),
                    padding=0,
                )
                # pyqtgraph applies a new range when the scene is next painted, which then
                # dirties the inset again: a second paint per probe move. Applied now, the
                # move is painted once.
                self.view.updateMatrix()
        self._place(choose=False)

    def set_clutter(self, curves: np.ndarray) -> None:
        """The plane's grid curves ``(..., 2)``: the inset goes where it hides fewest of them."""
        flat = curves.reshape(-1, 2)
        sample = flat[:: max(1, len(flat) // CLUTTER_SAMPLES)]  # sampled first: a grid has ~25k
        points = sample[drawable(sample)]
        self._clutter = (np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1]))
        self._place(choose=True)

    # ---- the switch ----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Whether the user wants the magnifier (View → Magnifier)."""
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        """Turn the magnifier on or off (when on, it still hides when it would not magnify)."""
        self._enabled = enabled
        self._place(choose=False)

    def zoom(self) -> float:
        """How many times larger the inset draws than the plane (0 when either has no size)."""
        host_width = self.host.width()
        view_width = self.view.width()
        (x0, x1), _ = self.host.viewRange()
        (u0, u1), _ = self.view.viewRange()
        if min(host_width, view_width) <= 0 or not (u1 > u0 and x1 > x0):
            return 0.0
        return float((view_width / (u1 - u0)) / (host_width / (x1 - x0)))

    # ---- layout --------------------------------------------------------------------------------
    def _place(self, choose: bool) -> None:
        width, height = self.host.width(), self.host.height()
        side = min(MAX_SIZE, max(MIN_SIZE, SIZE_FRACTION * min(width, height)))
        if not self._enabled or self._subject is None or side + 2 * MARGIN > min(width, height):
            self.view.setVisible(False)
            return
        if abs(self.view.width() - side) > 0.5:
            self.view.resize(side, side)
        rect = self._corner_rect(self._corner, side)
        # Following the probe (not choosing), the corner changes only if it now covers the
        # picture: the other corners are looked at only then.
        if choose or self._covers_subject(rect):
            corners = {name: self._corner_rect(name, side) for name in CORNERS}
            free = [name for name in CORNERS if not self._covers_subject(corners[name])]
            if free:
                self._corner = min(free, key=lambda name: self._clutter_in(corners[name]))
            rect = corners[self._corner]
        self.view.setPos(rect.x(), rect.y())
        self._update_scale()
        self.view.setVisible(bool(self.zoom() >= MIN_ZOOM))

    def _corner_rect(self, corner: str, side: float) -> QRectF:
        width, height = self.host.width(), self.host.height()
        x = MARGIN if corner.endswith("left") else width - side - MARGIN
        y = MARGIN if corner.startswith("top") else height - side - MARGIN
        return QRectF(x, y, side, side)

    def _to_data(self, rect: QRectF) -> tuple[np.ndarray, np.ndarray]:
        """The data box under the host's pixel rectangle ``rect``."""
        (x0, x1), (y0, y1) = self.host.viewRange()
        width, height = self.host.width(), self.host.height()
        sx, sy = (x1 - x0) / width, (y1 - y0) / height
        low = np.array([x0 + rect.left() * sx, y1 - rect.bottom() * sy])
        high = np.array([x0 + rect.right() * sx, y1 - rect.top() * sy])
        return low, high

    def _covers_subject(self, rect: QRectF) -> bool:
        if self._subject is None:
            return False
        low, high = self._to_data(rect)
        s_low, s_high = self._subject
        return bool(np.all(low <= s_high) and np.all(s_low <= high))

    def _clutter_in(self, rect: QRectF) -> int:
        # Four comparisons of plain columns: ~10 us, against ~120 us for the same test on
        # (N, 2) rows, eight times per map change.
        (x0, y0), (x1, y1) = self._to_data(rect)
        x, y = self._clutter
        return int(np.count_nonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)))

    def _update_scale(self) -> None:
        """Write the magnification and the scale bar, unless they are as written last.

        A probe move reframes the inset (a new range) and then places it: both ask for this.
        """
        zoom = self.zoom()
        (u0, u1), _ = self.view.viewRange()
        side = self.view.width()
        key = (zoom, u0, u1, side, self.view.height())
        if key == self._scale_key:
            return
        self._scale_key = key
        self.label.setText(f"{zoom_text(zoom)} around {self.what}")
        self.label.setPos(5, 3)
        self.label_patch.setRect(
            self.label.mapRectToParent(self.label.boundingRect()).adjusted(-3, -1, 3, 1)
        )
        length = nice_length(0.3 * (u1 - u0))
        pixels = length / (u1 - u0) * side if u1 > u0 else 0.0
        bottom = self.view.height() - 8
        self.bar.setLine(6, bottom, 6 + pixels, bottom)
        self.bar_label.setText(f"{length:g}")
        self.bar_label.setPos(10 + pixels, bottom - 9)


def magnifiers_in(widget: QWidget) -> list[Magnifier]:
    """The magnifiers of the planes inside ``widget`` (a window)."""
    found = []
    for plot in widget.findChildren(pg.PlotWidget):
        magnifier = getattr(plot, "magnifier", None)
        if isinstance(magnifier, Magnifier):
            found.append(magnifier)
    return found


def magnifier_action(window: QWidget, settings: QSettings | None) -> QAction:
    """View → Magnifier: a checkable action that shows or hides every plane's magnifier.

    On by default; the choice is kept in ``settings`` (a window setting, not part of a
    session: it changes how the view looks, not what it shows).
    """
    action = QAction("Magnifier", window)
    action.setCheckable(True)
    action.setToolTip("An inset in a corner of each plane, framed on the probe's neighbourhood")
    shown = True if settings is None else settings.value(SETTING_KEY, True, type=bool)

    def apply(on: bool) -> None:
        for magnifier in magnifiers_in(window):
            magnifier.set_enabled(on)
        if settings is not None:
            settings.setValue(SETTING_KEY, on)

    action.setChecked(shown)
    for magnifier in magnifiers_in(window):
        magnifier.set_enabled(shown)
    action.toggled.connect(apply)
    return action
