"""The lab's plane: the data over the model's decision regions (or its ‖J‖_F), and clicks on it.

The view draws what it is given (a dataset, a :class:`~jacviz.nets.fields.FieldImage`) and
turns clicks into intents: add a point here, remove the point nearest to here. Which class a
point gets, and what happens to training, is the controller's business.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal

from jacviz.gui.common import style
from jacviz.gui.common.plots import Plane, add_colorbar, class_colours, paint_heatmap
from jacviz.math.grid import Domain
from jacviz.nets.datasets import Dataset
from jacviz.nets.fields import DISPLAYS, FROBENIUS, FieldImage
from jacviz.nets.views import DecisionRegions

VIEW_SETTLE_MS = 80
"""A zoom or pan asks for a new picture once the view has been still this long."""

REMOVE_RADIUS_PX = 12
"""A Shift+click or right-click removes the nearest point within this many pixels."""


REGION_INTENSITY = 0.45
"""Decision regions are drawn this strong (1 = the map view's full colours): the points, in
full colour, must stand out on their own class's region."""


STRENGTH_LEVELS = 256
"""Confidence levels of :func:`region_colours`' table: one per step of an 8-bit colour."""


@functools.lru_cache(maxsize=8)
def _colour_table(n_classes: int) -> np.ndarray:
    """``(palette + 1, STRENGTH_LEVELS, 4)`` uint8 colours of every class and confidence.

    :func:`class_colours` of every palette class (the last row: no class) at evenly spaced
    confidences from 1/k to 1.
    """
    count = max(n_classes, 2)
    palette = len(style.CLASS_COLOURS)
    classes = np.repeat(np.arange(-1, palette)[:, None], STRENGTH_LEVELS, axis=1)
    confidence = 1 / count + (1 - 1 / count) * np.linspace(0.0, 1.0, STRENGTH_LEVELS)
    confidence = np.broadcast_to(confidence, classes.shape)
    table = class_colours(
        DecisionRegions(classes, confidence, np.zeros(classes.shape)), count, REGION_INTENSITY
    )
    return np.roll(table, -1, axis=0)  # row r: class r; the last row: class −1


def region_colours(field: FieldImage) -> np.ndarray:
    """The RGBA image of ``field``'s decision regions, as the lab's plane shows them.

    :func:`~jacviz.gui.common.plots.class_colours` at the lab's intensity, looked up in a table
    of it for 256 confidence levels: 1 ms instead of 10 for 256² pixels, within one 8-bit level
    of computing it per pixel (tests/test_lab_pictures.py checks). Plain numpy (no widget):
    the lab's picture worker calls it off the GUI thread.
    """
    regions = field.regions
    if regions is None:
        raise ValueError(f"a picture of {DISPLAYS[field.display]} has no decision regions")
    table = _colour_table(field.n_classes)
    count = max(field.n_classes, 2)
    scale = (STRENGTH_LEVELS - 1) / (1 - 1 / count)
    with np.errstate(invalid="ignore"):
        level = np.clip((regions.confidence - 1 / count) * scale, 0, STRENGTH_LEVELS - 1)
    level = np.nan_to_num(level).round().astype(np.intp)
    classes = regions.classes
    row = np.where(classes < 0, table.shape[0] - 1, np.maximum(classes, 0) % (table.shape[0] - 1))
    return table[row, level]


class DataPoints:
    """Labelled points on a plot: training points as filled dots, test points as rings.

    Both in their class's full colour (:data:`jacviz.gui.common.style.CLASS_COLOURS`, the colours of
    the decision regions), with a dark rim, so the split is visible at a glance.
    """

    def __init__(self, plot: pg.PlotItem, size: float = 8.0, z: float = 1.0):
        palette = style.CLASS_COLOURS
        rim = pg.mkPen(style.POINT_EDGE, width=1.0)
        self._brushes = np.array([pg.mkBrush(c) for c in palette], dtype=object)
        self.train = pg.ScatterPlotItem(size=size, pxMode=True, pen=rim)
        self.test = pg.ScatterPlotItem(size=size + 3, pxMode=True, pen=rim, symbol=_ring())
        for offset, item in enumerate((self.train, self.test)):
            item.setZValue(z + offset)
            plot.addItem(item)

    def show(self, dataset: Dataset) -> None:
        """Draw the points of ``dataset``."""
        for item, split in ((self.train, ~dataset.is_test), (self.test, dataset.is_test)):
            labels = dataset.labels[split] % len(self._brushes)
            item.setData(pos=dataset.points[split], brush=self._brushes[labels])


def _ring() -> pg.QtGui.QPainterPath:
    """A ring symbol (outer diameter 1, as pyqtgraph's symbols): a test point's mark."""
    path = pg.QtGui.QPainterPath()
    path.addEllipse(-0.5, -0.5, 1.0, 1.0)
    path.addEllipse(-0.28, -0.28, 0.56, 0.56)  # odd-even fill leaves the centre empty
    return path


class RegionsView(Plane):
    """The data over a picture of the model; clicks add and remove points.

    Signals
    -------
    sigAddPoint(float, float, bool)
        Click at (x, y): add a point there; True for Ctrl+click (a test point).
    sigRemovePoint(float, float, float)
        Shift+click or right-click at (x, y): remove the nearest point within the given radius
        (:data:`REMOVE_RADIUS_PX` pixels, in data units).
    sigViewChanged(Domain)
        The rectangle on screen changed (resize, zoom, pan), once it has settled for
        :data:`VIEW_SETTLE_MS`: pictures should cover it.
    """

    sigAddPoint = pyqtSignal(float, float, bool)
    sigRemovePoint = pyqtSignal(float, float, float)
    sigViewChanged = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__("Data and model", "x", "y")
        # Right-click removes points, so it cannot also open pyqtgraph's menu.
        self.setMenuEnabled(False)
        plot = self.getPlotItem()
        self.regions = pg.ImageItem()
        self.heat = pg.ImageItem()
        for item in (self.regions, self.heat):
            item.setZValue(-20)
            item.setVisible(False)
            self.addItem(item)
        self.colorbar = add_colorbar(self.heat, plot)
        self.colorbar.setVisible(False)
        self.points = DataPoints(plot)
        self.field: FieldImage | None = None
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)
        # A timer owned by the view (not a thread-safe SignalProxy, whose timer outlived
        # deleted planes): restarted on every range change, fires once the view has settled.
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(VIEW_SETTLE_MS)
        self._settle.timeout.connect(self._on_view_settled)
        self.getViewBox().sigRangeChanged.connect(self._settle.start)
        self.setToolTip(
            "Click: add a training point of the selected class · Ctrl+click: add a test point\n"
            "Shift+click or right-click: remove the nearest point\n"
            "Filled dots: training points · rings: test points"
        )

    def show_dataset(self, dataset: Dataset) -> None:
        """Draw the points."""
        self.points.show(dataset)

    def show_frame(self, domain: Domain) -> None:
        """Show the rectangle ``domain`` (the aspect stays locked, so one side gets more)."""
        self.frame(np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax]))

    def visible_domain(self) -> Domain:
        """The rectangle of the plane on screen."""
        (x0, x1), (y0, y1) = self.getViewBox().viewRange()
        return Domain(x0, x1, y0, y1)

    def show_field(self, field: FieldImage | None, colours: np.ndarray | None = None) -> None:
        """Draw a picture of the model under the points, or none.

        ``colours``, the field's :func:`region_colours` if the caller has them (the lab's
        picture worker makes them off the GUI thread), are uploaded as they are.
        """
        self.field = field
        self.regions.setVisible(field is not None and field.regions is not None)
        showing_values = field is not None and field.values is not None
        self.heat.setVisible(showing_values)
        self.colorbar.setVisible(showing_values)
        if field is None:
            self.setTitle("Data (no model)")
            return
        if field.regions is not None:
            rgba = colours if colours is not None else region_colours(field)
            self.regions.setImage(rgba, levels=(0, 255))
            self.regions.setRect(
                field.domain.xmin, field.domain.ymin, field.domain.width, field.domain.height
            )
        if field.values is not None:
            paint_heatmap(
                self.heat, self.colorbar, field.values, "frob", DISPLAYS[FROBENIUS], field.domain
            )
        self.setTitle(f"Step {field.step}: {DISPLAYS[field.display]}")

    def data_per_pixel(self) -> float:
        """Data units per screen pixel (the larger of the two axes')."""
        view_box = self.getViewBox()
        (x0, x1), (y0, y1) = view_box.viewRange()
        rect = view_box.sceneBoundingRect()
        return max((x1 - x0) / max(rect.width(), 1.0), (y1 - y0) / max(rect.height(), 1.0))

    def _on_view_settled(self) -> None:
        try:
            domain = self.visible_domain()
        except ValueError:  # a degenerate range while the widget has no size yet
            return
        self.sigViewChanged.emit(domain)

    def _on_scene_clicked(self, event: object) -> None:
        # Accepted or not: the scatter items accept clicks on points, and removing a point is
        # clicking on it.
        view_box = self.getViewBox()
        if not view_box.sceneBoundingRect().contains(event.scenePos()):
            return
        point = view_box.mapSceneToView(event.scenePos())
        modifiers = event.modifiers()
        button = event.button()
        if button == Qt.MouseButton.RightButton or (
            button == Qt.MouseButton.LeftButton and modifiers & Qt.KeyboardModifier.ShiftModifier
        ):
            radius = REMOVE_RADIUS_PX * self.data_per_pixel()
            self.sigRemovePoint.emit(point.x(), point.y(), radius)
        elif button == Qt.MouseButton.LeftButton:
            test = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
            self.sigAddPoint.emit(point.x(), point.y(), test)
