"""The plane page's settings column: data, anchors, training and what the plots show.

Widgets only: :class:`PlaneControls` reads its fields into a :class:`~jacviz.nets.training.
TrainConfig` and anchor indices, each refusal one line (:meth:`PlaneControls.config`,
:meth:`PlaneControls.typed_anchors`); the page acts on its buttons. The training defaults are
those of the README's digits numbers: a 64-64 tanh MLP, Adam at 0.003, 2000 steps, λ = 0.01
with the random-projection estimator (:data:`~jacviz.nets.plane_training.PLANE_CONFIG`).
"""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common.panels import form_grid
from jacviz.gui.lab.plane_gallery import PointGallery
from jacviz.gui.lab.plane_plots import HEATMAPS
from jacviz.nets.plane_training import PLANE_CONFIG
from jacviz.nets.training import MAX_SEED, MAX_STEPS, TrainConfig, TrainingError
from jacviz.state.lab import parse_hidden
from jacviz.support.text_input import NumberError, parse_integer, parse_numbers, parse_real

__all__ = ["PlaneControls", "parse_anchors"]

ERROR_STYLE = "color: #B00020;"


def parse_anchors(text: str) -> list[int]:
    """Indices typed as ``"0, 10, 20"``; NumberError (one line) for anything else."""
    return parse_numbers(text, parse_integer)


class PlaneControls(QWidget):
    """Data, gallery, anchors, training settings, Train / Cancel, progress, heatmap choice."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        data_box = QGroupBox("Data")
        data_layout = QVBoxLayout(data_box)
        row = QHBoxLayout()
        self.dataset = QComboBox()
        self.dataset.addItem("8×8 digits", "digits")
        self.dataset.setToolTip("scikit-learn's 1,797 handwritten digits, 30 % held out")
        self.open_npz = QPushButton("Open .npz…")
        self.open_npz.setToolTip("numpy.savez(FILE, X=X, y=y[, split=split])")
        row.addWidget(self.dataset, 1)
        row.addWidget(self.open_npz)
        data_layout.addLayout(row)
        self.data_status = QLabel()
        self.data_status.setWordWrap(True)
        data_layout.addWidget(self.data_status)
        layout.addWidget(data_box)

        anchors_box = QGroupBox("Three test points span the plane")
        anchors_layout = QVBoxLayout(anchors_box)
        self.gallery = PointGallery()
        anchors_layout.addWidget(self.gallery, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Anchors"))
        self.anchors = QLineEdit()
        self.anchors.setPlaceholderText("e.g. 0, 10, 20")
        self.anchors.setToolTip("Indices of three held-out points, as the gallery numbers them")
        row.addWidget(self.anchors, 1)
        anchors_layout.addLayout(row)
        self.next_anchor = QLabel()
        self.next_anchor.setWordWrap(True)
        anchors_layout.addWidget(self.next_anchor)
        layout.addWidget(anchors_box, 1)

        train_box = QGroupBox("Train λ = 0 and λ > 0 from the same start")
        self.hidden = QLineEdit(",".join(map(str, PLANE_CONFIG.hidden)))
        self.hidden.setToolTip("Hidden layer widths; tanh, Adam at learning rate 0.003")
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setValue(PLANE_CONFIG.steps)
        self.jr_lambda = QLineEdit(f"{PLANE_CONFIG.jr_lambda:g}")
        self.jr_lambda.setToolTip("λ of the regularized run (random projections of ‖J‖²F)")
        self.seed = QSpinBox()
        self.seed.setRange(0, min(MAX_SEED, 2**31 - 1))  # a spin box holds 32 bits
        buttons = QHBoxLayout()
        self.train = QPushButton("Train")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        buttons.addWidget(self.train)
        buttons.addWidget(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        form_grid(
            train_box,
            [
                ("Hidden sizes", self.hidden),
                ("Steps", self.steps),
                ("λ > 0", self.jr_lambda),
                ("Seed", self.seed),
                buttons,
                self.progress,
                self.status,
            ],
        )
        layout.addWidget(train_box)

        row = QHBoxLayout()
        row.addWidget(QLabel("Colour"))
        self.heatmap = QComboBox()
        for key, text in HEATMAPS.items():
            self.heatmap.addItem(text, key)
        row.addWidget(self.heatmap, 1)
        layout.addLayout(row)

    def config(self) -> TrainConfig:
        """The regularized run's configuration; TrainingError (one line) for a bad field."""
        try:
            jr_lambda = parse_real(self.jr_lambda.text())
        except NumberError as error:
            raise TrainingError(f"λ: {error}") from None
        if not jr_lambda > 0:
            raise TrainingError(f"λ must be above 0 (λ = 0 is the other run), got {jr_lambda:g}")
        return PLANE_CONFIG.replace(
            hidden=parse_hidden(self.hidden.text()),
            steps=self.steps.value(),
            seed=self.seed.value(),
            jr_lambda=jr_lambda,
        )

    def show_anchors(self, anchors: Sequence[int | None], next_anchor: int) -> None:
        """Write the anchors in their field, tint them in the gallery, say what a click sets."""
        if all(a is not None for a in anchors):
            self.anchors.setText(", ".join(str(a) for a in anchors))
        self.gallery.mark_anchors(anchors)
        self.next_anchor.setText(f"A click in the gallery sets anchor {next_anchor + 1}.")

    @staticmethod
    def say(label: QLabel, message: str, problem: bool = False) -> None:
        """``message`` in ``label``, red when it is a ``problem`` (a refusal, a failure)."""
        label.setStyleSheet(ERROR_STYLE if problem else "")
        label.setText(message)

    def set_running(self, running: bool) -> None:
        """Train off and Cancel on while a run trains, and the other way round."""
        self.train.setEnabled(not running)
        self.cancel.setEnabled(running)
        if not running:
            self.progress.setValue(0)
