"""Inside the network: the input grid as seen in each layer's space, at true scale.

The probe point p and a small circle around it are drawn over the grid, so dragging the probe
shows its path through the layers and how each one deforms its neighbourhood.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QHideEvent, QShowEvent
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from jacviz.gui.common import style
from jacviz.gui.common.plots import Marker, polyline_data, robust_bounds
from jacviz.gui.mapview.pictures import LayerPath
from jacviz.nets.layers import LayerImage

PROJECTION_CHOICES = ("top-2 principal directions (PCA)", "two units i, j")
"""The projection combo's entries, in order: index 0 is PCA, index 1 a pair of units."""

LEGEND = (
    f"<span style='color:{style.BLACK}; font-weight:bold'>●</span> where p lands&nbsp;&nbsp; "
    f"<span style='color:{style.GREEN}; font-weight:bold'>━━</span> image of the circle "
    "|δ| = h around p&nbsp;&nbsp; "
    f"<span style='color:{style.GRID_X_CONST}; font-weight:bold'>━━</span> x const&nbsp;&nbsp; "
    f"<span style='color:{style.GRID_Y_CONST}; font-weight:bold'>━━</span> y const"
)


def layer_title(image: LayerImage) -> str:
    """What the plot of one layer shows, including how a wide layer was projected."""
    share = f"({100 * image.explained:.3g} % of the variance)"
    if image.basis is None:
        view = f"its {image.width} unit{'' if image.width == 1 else 's'} directly"
    elif image.units is None:
        view = f"the top-2 principal directions of its {image.width} units {share}"
    else:
        view = f"units {image.units[0]} and {image.units[1]} of its {image.width} {share}"
    return f"After layer {image.index + 1}, {image.label}: {view}; true scale"


class LayerView(QWidget):
    """Pick a layer; see the grid's image in that layer's space (blue: x const, orange: y const).

    Projections are orthonormal, so nothing is magnified and every layer keeps the input's
    scale (unlike views that rescale each layer to fill the frame).

    Signals
    -------
    sigUnitsChosen(object)
        The user wants layers wider than 2 seen through units ``(i, j)``, or through their
        principal directions (None). The controls show what the images handed to
        :meth:`show_images` were made with, so a refused choice is undone by handing them back.
    sigShownChanged(bool)
        The view appeared on screen (True) or went away: only then does it need the probe's
        path, which changes on every probe move.
    """

    sigUnitsChosen = pyqtSignal(object)
    sigShownChanged = pyqtSignal(bool)

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.layers = QComboBox()
        self.layers.setToolTip("The layer whose space is shown.")
        self.layers.currentIndexChanged.connect(self._draw)
        layout.addWidget(self.layers)
        self._units = (0, 1)  # the pair the unit boxes show, kept while PCA is chosen
        layout.addLayout(self._build_projection_row())
        self.title = QLabel()
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.vertical_lines = pg.PlotCurveItem(pen=style.pen(style.GRID_X_CONST, 1.0))
        self.horizontal_lines = pg.PlotCurveItem(pen=style.pen(style.GRID_Y_CONST, 1.0))
        self.circle = pg.PlotCurveItem(pen=style.pen(style.GREEN, 2.0))
        self.circle.setZValue(5)
        self.probe_marker = Marker("dot", 9, style.pen(style.BLACK), style.brush(style.BLACK, 255))
        self.probe_marker.setZValue(8)
        self.probe_marker.setVisible(False)
        for item in (self.vertical_lines, self.horizontal_lines, self.circle, self.probe_marker):
            self.plot.addItem(item)
        layout.addWidget(self.plot, 1)
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        layout.addWidget(legend)
        self._images: list[LayerImage] = []
        self._path: LayerPath | None = None

    def _build_projection_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.projection_label = QLabel("Wide layers:")
        self.projection = QComboBox()
        self.projection.addItems(PROJECTION_CHOICES)
        self.projection.setToolTip(
            "How layers wider than 2 are seen in 2D. Both are orthonormal projections: lengths\n"
            "are never magnified, and every layer keeps the input's scale.\n"
            "PCA: the plane of the layer's two directions of largest variance over the grid.\n"
            "Two units: the activations of units i and j themselves."
        )
        self.projection.currentIndexChanged.connect(self._on_projection_changed)
        self.unit_boxes = (QSpinBox(), QSpinBox())
        self._projection_widgets: list[QWidget] = [self.projection_label, self.projection]
        row.addWidget(self.projection_label)
        row.addWidget(self.projection, 1)
        for name, box, value in zip("ij", self.unit_boxes, self._units, strict=True):
            box.setValue(value)
            box.setEnabled(False)
            box.setToolTip(
                f"Unit {name}, counted from 0. Every layer wider than 2 shows the same two "
                "units,\nso they go up to the narrowest such layer's width − 1."
            )
            box.valueChanged.connect(lambda value, which=name: self._on_unit_changed(which, value))
            label = QLabel(f"{name}:")
            label.setBuddy(box)
            row.addWidget(label)
            row.addWidget(box)
            self._projection_widgets += [label, box]
        return row

    # ---- what the controller hands over ------------------------------------------------------
    def show_images(self, images: list[LayerImage] | None) -> None:
        """Offer these layers (None: the map is not a network that can be walked)."""
        self._images = images or []
        current = self.layers.currentIndex()
        self.layers.blockSignals(True)
        self.layers.clear()
        for image in self._images:
            self.layers.addItem(f"{image.index + 1}  {image.label}")
        if self._images:
            self.layers.setCurrentIndex(min(max(current, 0), len(self._images) - 1))
        self.layers.blockSignals(False)
        self._show_projection()
        self._draw()

    def show_path(self, path: LayerPath | None) -> None:
        """Mark the probe and its circle in each layer (None: nothing to mark)."""
        self._path = path
        self._draw_path()

    @property
    def current(self) -> LayerImage | None:
        """The layer shown, if any."""
        index = self.layers.currentIndex()
        return self._images[index] if 0 <= index < len(self._images) else None

    # ---- drawing -------------------------------------------------------------------------------
    def _show_projection(self) -> None:
        """Set the projection controls to what the images were made with."""
        wide = [image.width for image in self._images if image.width > 2]
        units = next((image.units for image in self._images if image.units is not None), None)
        for widget in self._projection_widgets:
            widget.setVisible(bool(wide))
        if not wide:
            return
        if units is not None:
            self._units = units
        elif max(self._units) >= min(wide):  # a pair from a wider network: start over
            self._units = (0, 1)
        for box, value in zip(self.unit_boxes, self._units, strict=True):
            box.blockSignals(True)
            box.setMaximum(min(wide) - 1)
            box.setValue(value)
            box.setEnabled(units is not None)
            box.blockSignals(False)
        self.projection.blockSignals(True)
        self.projection.setCurrentIndex(0 if units is None else 1)
        self.projection.blockSignals(False)

    def _draw(self) -> None:
        image = self.current
        if image is None:
            self.vertical_lines.setData([], [])
            self.horizontal_lines.setData([], [])
            self.title.setText("")
            self._draw_path()
            return
        curves = image.curves
        half = curves.shape[0] // 2
        for item, part in (
            (self.vertical_lines, curves[:half]),
            (self.horizontal_lines, curves[half:]),
        ):
            x, y, connect = polyline_data(part)
            item.setData(x, y, connect=connect)
        low, high = robust_bounds(curves)
        self.plot.setRange(xRange=(low[0], high[0]), yRange=(low[1], high[1]), padding=0)
        self.title.setText(layer_title(image))
        self._draw_path()

    def _draw_path(self) -> None:
        index, path = self.layers.currentIndex(), self._path
        if path is None or not 0 <= index < min(len(path.points), len(self._images)):
            self.probe_marker.place(None)
            self.circle.setData([], [])
            return
        self.probe_marker.place(path.points[index])
        x, y, connect = polyline_data(path.circles[index][None])
        self.circle.setData(x, y, connect=connect)

    def showEvent(self, event: QShowEvent) -> None:
        """Ask for the probe's path: it is only followed while this view is on screen."""
        super().showEvent(event)
        self.sigShownChanged.emit(True)

    def hideEvent(self, event: QHideEvent) -> None:
        """Stop the probe's path from being followed while nobody sees it."""
        super().hideEvent(event)
        self.sigShownChanged.emit(False)

    # ---- user input ----------------------------------------------------------------------------
    def _on_projection_changed(self, index: int) -> None:
        for box in self.unit_boxes:
            box.setEnabled(index == 1)
        self.sigUnitsChosen.emit(None if index == 0 else self._units)

    def _on_unit_changed(self, which: str, value: int) -> None:
        i, j = self._units
        # Two different units are needed: moving one onto the other swaps them.
        if which == "i":
            i, j = value, (i if value == j else j)
        else:
            i, j = (j if value == i else i), value
        self._units = (i, j)
        for box, shown in zip(self.unit_boxes, self._units, strict=True):
            if box.value() != shown:
                box.blockSignals(True)
                box.setValue(shown)
                box.blockSignals(False)
        if self.projection.currentIndex() == 1:
            self.sigUnitsChosen.emit(self._units)
