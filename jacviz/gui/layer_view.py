"""Inside the network: the input grid as seen in each layer's space, at true scale."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from jacviz.core.layers import LayerImage
from jacviz.gui import style
from jacviz.gui.planes import polyline_data, robust_bounds


def layer_title(image: LayerImage) -> str:
    """What the plot of one layer shows, including how a wide layer was projected."""
    if image.basis is None:
        view = f"its {image.width} unit{'' if image.width == 1 else 's'} directly"
    else:
        view = (
            f"the top-2 principal directions of its {image.width} units "
            f"({100 * image.explained:.3g} % of the variance)"
        )
    return f"After layer {image.index + 1}, {image.label}: {view}; true scale"


class LayerView(QWidget):
    """Pick a layer; see the grid's image in that layer's space (blue: x const, orange: y const).

    Projections are orthonormal, so nothing is magnified and every layer keeps the input's
    scale (unlike views that rescale each layer to fill the frame).
    """

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.layers = QComboBox()
        self.layers.setToolTip("The layer whose space is shown.")
        self.layers.currentIndexChanged.connect(self._draw)
        layout.addWidget(self.layers)
        self.title = QLabel()
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.vertical_lines = pg.PlotCurveItem(pen=style.pen(style.BLUE, 1.0, alpha=190))
        self.horizontal_lines = pg.PlotCurveItem(pen=style.pen(style.ORANGE, 1.0, alpha=190))
        for item in (self.vertical_lines, self.horizontal_lines):
            self.plot.addItem(item)
        layout.addWidget(self.plot, 1)
        self._images: list[LayerImage] = []

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
        self._draw()

    def _draw(self) -> None:
        index = self.layers.currentIndex()
        if not 0 <= index < len(self._images):
            self.vertical_lines.setData([], [])
            self.horizontal_lines.setData([], [])
            self.title.setText("")
            return
        image = self._images[index]
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

    @property
    def current(self) -> LayerImage | None:
        """The layer shown, if any."""
        index = self.layers.currentIndex()
        return self._images[index] if 0 <= index < len(self._images) else None
