"""What the plane's probe shows: the input there, and each model's decision and Jacobian.

The input at the probe is drawn as the data's image (the 8×8 digit, grey) and is updated on
every move, so dragging the probe across a boundary shows a '4' turning into a '9'. For each
model: the predicted class with the largest probabilities, the singular values of the
``k × d`` Jacobian (their root sum of squares is ‖J‖F), and either the rows of J (the gradient
of each class's logit: which pixels raise it, in yellow, and lower it, in blue) or its top
right singular vectors (the input directions the logits are most sensitive to), as small
images on one diverging scale per model, centred on 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.lab.compare_style import MODEL_COLOURS
from jacviz.gui.lab.plane_pictures import diverging_pixmap, grey_pixmap, is_image
from jacviz.math.probe import format_number
from jacviz.nets.input_plane import PointReading

__all__ = ["MAX_PICTURES", "SHOWN_PROBABILITIES", "ModelReadout", "ProbePanel"]

MAX_PICTURES: int = 10
"""Rows of J (the most probable classes first when there are more) or singular vectors drawn."""

SHOWN_PROBABILITIES: int = 3
"""Classes whose probability is written beside the prediction."""

ROWS, VECTORS = "rows", "vectors"


def _number(value: float) -> str:
    return format_number(float(value), 3)


class ModelReadout(QGroupBox):
    """One model at the probe: prediction, singular values, and J as small images."""

    def __init__(self, colour: str):
        super().__init__()
        self.setStyleSheet(f"QGroupBox {{ color: {colour}; font-weight: bold; }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.prediction = QLabel()
        self.singular = QLabel()
        self.scale = QLabel()
        for label in (self.prediction, self.singular, self.scale):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(label)
        self.grid = QGridLayout()
        self.grid.setSpacing(2)
        layout.addLayout(self.grid)
        self.cells: list[tuple[QLabel, QLabel]] = []
        for index in range(MAX_PICTURES):
            picture, caption = QLabel(), QLabel()
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.grid.addWidget(picture, 2 * (index // 5), index % 5)
            self.grid.addWidget(caption, 2 * (index // 5) + 1, index % 5)
            self.cells.append((picture, caption))

    def show_reading(
        self,
        reading: PointReading,
        names: Sequence[str],
        shape: tuple[int, ...] | None,
        mode: str,
    ) -> None:
        """Draw ``reading``: the rows of J (``mode`` ROWS) or its top right singular vectors."""
        order = np.argsort(-reading.probabilities, kind="stable")
        top = ", ".join(
            f"{names[c]}: {reading.probabilities[c]:.3f}" for c in order[:SHOWN_PROBABILITIES]
        )
        self.prediction.setText(f"predicts <b>{names[reading.predicted]}</b> ({top})")
        sigma = reading.singular_values
        shown = ", ".join(_number(s) for s in sigma[:6]) + (", …" if len(sigma) > 6 else "")
        self.singular.setText(f"σ of J: {shown}<br>‖J‖<sub>F</sub> = {_number(reading.frobenius)}")
        if mode == ROWS:
            picked = np.sort(order[:MAX_PICTURES])  # the most probable classes, in class order
            vectors = reading.jacobian[picked]
            captions = [names[c] for c in picked]
            limit = float(np.abs(reading.jacobian).max())
            what = "rows of J (∂ logit / ∂ input)"
        else:
            count = min(MAX_PICTURES, len(sigma))
            vectors = reading.right_vectors[:count]
            captions = [f"σ{i + 1}" for i in range(count)]
            limit = float(np.abs(vectors).max()) if count else 1.0
            what = "right singular vectors (unit length)"
        self.scale.setText(f"{what}: blue −{_number(limit)}, white 0, yellow +{_number(limit)}")
        side = 36 if is_image(shape) else 60
        height = side if is_image(shape) else 20
        for index, (picture, caption) in enumerate(self.cells):
            if index < len(vectors):
                picture.setPixmap(diverging_pixmap(vectors[index], shape, limit, side, height))
                caption.setText(captions[index])
            picture.setVisible(index < len(vectors))
            caption.setVisible(index < len(vectors))

    def clear(self) -> None:
        """Nothing to show (no model yet)."""
        self.prediction.setText("no model yet: Train, or open a sweep's run")
        self.singular.clear()
        self.scale.clear()
        for picture, caption in self.cells:
            picture.setVisible(False)
            caption.setVisible(False)


class ProbePanel(QWidget):
    """The side panel of the probe: the input as an image, and one readout per model.

    Signals
    -------
    sigModeChanged()
        The user switched between the rows of J and the singular vectors.
    """

    sigModeChanged = pyqtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        heading = QLabel("<b>At the probe</b> (click or drag on a plot)")
        self.input_picture = QLabel()
        self.input_picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.input_caption = QLabel()
        self.input_caption.setWordWrap(True)
        self.mode = QComboBox()
        self.mode.addItem("Rows of J, one per class", ROWS)
        self.mode.addItem("Top right singular vectors of J", VECTORS)
        self.mode.setToolTip(
            "Rows: the gradient of each class's logit with respect to the input. Singular "
            "vectors: the input directions J stretches most, by σ1, σ2, …"
        )
        self.mode.currentIndexChanged.connect(lambda _index: self.sigModeChanged.emit())
        self.readouts = tuple(ModelReadout(colour) for colour in MODEL_COLOURS)
        row = QHBoxLayout()  # the input beside its caption: the panel fits a 768-pixel screen
        row.addWidget(self.input_picture)
        row.addWidget(self.input_caption, 1)
        layout.addWidget(heading)
        layout.addLayout(row)
        for widget in (self.mode, *self.readouts):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.shown_input: np.ndarray | None = None
        """The input drawn last, ``(d,)`` raw values."""
        for readout in self.readouts:
            readout.clear()

    @property
    def current_mode(self) -> str:
        """ROWS or VECTORS."""
        return self.mode.currentData()

    def show_input(
        self,
        point: np.ndarray,
        shape: tuple[int, ...] | None,
        grey: tuple[float, float],
        caption: str,
    ) -> None:
        """The input ``point`` ``(d,)`` as an image (grey from ``grey[0]`` white to black)."""
        if is_image(shape):
            pixmap = grey_pixmap(point, shape, grey[0], grey[1], 112)
        else:
            pixmap = grey_pixmap(point, None, grey[0], grey[1], 160, 60)
        self.input_picture.setPixmap(pixmap)
        self.shown_input = np.array(point, dtype=np.float64)
        self.input_caption.setText(caption)

    def show_readings(
        self,
        titles: Sequence[str],
        readings: Sequence[PointReading],
        names: Sequence[str],
        shape: tuple[int, ...] | None,
    ) -> None:
        """Each model's reading at the probe (one or two), titled; the other readout hidden."""
        for index, readout in enumerate(self.readouts):
            readout.setVisible(index < len(readings))
            if index < len(readings):
                readout.setTitle(titles[index])
                readout.show_reading(readings[index], names, shape, self.current_mode)
