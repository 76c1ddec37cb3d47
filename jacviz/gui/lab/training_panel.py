"""The lab's model and training controls: settings, play/pause/step/reset, and the model's numbers.

:class:`TrainingPanel` shows a :class:`~jacviz.gui.lab.lab_controller.ModelSettings` as the
user typed it (a setting that does not parse is marked, and kept, so the controller can say
what is wrong); :class:`RunControls` drive a run and show its progress; :class:`ModelSummary`
shows the current model's accuracies and saves it. They emit intents and train nothing.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.lab.lab_controller import (
    MAX_SEED,
    SNAPSHOT_EVERY,
    ModelSettings,
    format_accuracy,
    parse_hidden,
)
from jacviz.nets.training import (
    ESTIMATORS,
    MAX_STEPS,
    OPTIMIZERS,
    TRAINABLE_ACTIVATIONS,
    Snapshot,
    TrainingError,
)
from jacviz.state.lab import MAX_HIDDEN_TEXT
from jacviz.support.text_input import NumberError, parse_real

_INVALID = "QLineEdit { background: #F9D9C6; }"  # a pale vermillion: this field is wrong

METRICS = (
    ("train_accuracy", "Train accuracy"),
    ("test_accuracy", "Test accuracy"),
    ("test_frobenius", "Mean test ‖J‖F"),
    ("seconds", "Training time"),
)


def _mark(field: QLineEdit, problem: str) -> None:
    """Show ``problem`` on ``field`` (pale red, in the tooltip), or clear it for ''."""
    field.setStyleSheet(_INVALID if problem else "")
    field.setToolTip(problem or field.property("help") or "")


class NumberField(QLineEdit):
    """A text field for a real number, so that 1e-3 and 1e6 are as easy to type as 0.5."""

    def __init__(self, help_text: str):
        super().__init__()
        self.setProperty("help", help_text)
        self.setToolTip(help_text)
        self.textEdited.connect(lambda _text: _mark(self, self._problem()))

    def value(self) -> float:
        """The number typed, or NaN if it is not one (the controller reports the setting).

        Plain decimals only, as everywhere a number is read (``1_0``, full-width digits,
        ``inf`` and ``nan`` are not numbers here either).
        """
        try:
            return parse_real(self.text())
        except NumberError:
            return math.nan

    def set_value(self, value: float) -> None:
        """Show ``value`` in its shortest form."""
        self.setText(f"{value:g}")
        _mark(self, "")

    def _problem(self) -> str:
        return "" if math.isfinite(self.value()) else f"{self.text()!r} is not a number"


class TrainingPanel(QGroupBox):
    """Model, optimizer and regularizer settings.

    Signals
    -------
    sigSettingsEdited(ModelSettings)
        The user changed a setting (a text field: when editing finished).
    """

    sigSettingsEdited = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Model and training", parent)
        self.hidden = QLineEdit()
        self.hidden.setMaxLength(MAX_HIDDEN_TEXT)  # what a session can keep
        self.hidden.setProperty("help", "Hidden layer widths, e.g. 32,32 (1 to 6 layers)")
        self.hidden.setToolTip(self.hidden.property("help"))
        self.hidden.textEdited.connect(lambda _text: _mark(self.hidden, self._hidden_problem()))
        self.activation = QComboBox()
        self.activation.addItems(TRAINABLE_ACTIVATIONS)
        self.optimizer = QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.learning_rate = NumberField("Learning rate, in (0, 10]")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 100_000)
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setSingleStep(100)
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip("Seed of the initial weights, the batches and the projections")
        self.jr_lambda = NumberField(
            "Weight λ of the Jacobian penalty λ·mean ‖J‖²F; 0 turns it off"
        )
        self.estimator = QComboBox()
        self.estimator.addItems(ESTIMATORS)
        self.estimator.setToolTip(
            "exact: ‖J‖²F from both input directions; random: from n_proj random directions "
            "(unbiased, Hoffman et al. 2019)"
        )
        self.n_proj = QSpinBox()
        self.n_proj.setRange(1, 64)
        self.n_proj.setToolTip("Random projections per point (random estimator only)")
        self.weight_decay = NumberField("Plain L2 penalty on the weights, for comparison")
        for combo in (self.activation, self.optimizer, self.estimator):
            combo.currentIndexChanged.connect(self._on_edited)
        for spin in (self.batch_size, self.steps, self.seed, self.n_proj):
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._on_edited)
        for field in (self.hidden, self.learning_rate, self.jr_lambda, self.weight_decay):
            field.editingFinished.connect(self._on_edited)

        form = QFormLayout()
        form.addRow("Hidden sizes", self.hidden)
        form.addRow("Activation", self.activation)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Steps", self.steps)
        form.addRow("Seed", self.seed)
        form.addRow("Jacobian λ", self.jr_lambda)
        form.addRow("Estimator", self.estimator)
        form.addRow("Projections", self.n_proj)
        form.addRow("Weight decay", self.weight_decay)
        layout = QVBoxLayout(self)
        layout.addLayout(form)

    # ---- showing -------------------------------------------------------------------------------
    def show_settings(self, settings: ModelSettings) -> None:
        """Show ``settings`` without emitting edits."""
        widgets = (
            self.hidden,
            self.activation,
            self.optimizer,
            self.learning_rate,
            self.batch_size,
            self.steps,
            self.seed,
            self.jr_lambda,
            self.estimator,
            self.n_proj,
            self.weight_decay,
        )
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.hidden.setText(settings.hidden)
            _mark(self.hidden, self._hidden_problem())
            self.activation.setCurrentText(settings.activation)
            self.optimizer.setCurrentText(settings.optimizer)
            self.learning_rate.set_value(settings.learning_rate)
            self.batch_size.setValue(settings.batch_size)
            self.steps.setValue(settings.steps)
            self.seed.setValue(settings.seed)
            self.jr_lambda.set_value(settings.jr_lambda)
            self.estimator.setCurrentText(settings.estimator)
            self.n_proj.setValue(settings.n_proj)
            self.weight_decay.set_value(settings.weight_decay)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self.n_proj.setEnabled(settings.estimator == "random")

    def settings(self) -> ModelSettings:
        """The settings the widgets show (a number that does not parse is NaN)."""
        return ModelSettings(
            hidden=self.hidden.text().strip(),
            activation=self.activation.currentText(),
            optimizer=self.optimizer.currentText(),
            learning_rate=self.learning_rate.value(),
            batch_size=self.batch_size.value(),
            steps=self.steps.value(),
            seed=self.seed.value(),
            jr_lambda=self.jr_lambda.value(),
            estimator=self.estimator.currentText(),
            n_proj=self.n_proj.value(),
            weight_decay=self.weight_decay.value(),
        )

    def _hidden_problem(self) -> str:
        try:
            parse_hidden(self.hidden.text())
        except TrainingError as error:
            return str(error)
        return ""

    def _on_edited(self) -> None:
        self.n_proj.setEnabled(self.estimator.currentText() == "random")
        self.sigSettingsEdited.emit(self.settings())


class RunControls(QWidget):
    """Play/Pause, Step and Reset with the run's progress bar, beside the plane they drive.

    The buttons ``play``, ``step`` and ``reset`` are connected by the window.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        icons = self.style()
        self._play_icon = icons.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = icons.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self.play = QPushButton()
        self.step = QPushButton(
            icons.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward), f"Step +{SNAPSHOT_EVERY}"
        )
        self.step.setToolTip(f"Train {SNAPSHOT_EVERY} steps, then stop")
        self.reset = QPushButton(
            icons.standardIcon(QStyle.StandardPixmap.SP_MediaSkipBackward), "Reset"
        )
        self.reset.setToolTip("Back to the untrained model (step 0)")
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.progress.setMinimumWidth(160)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for button in (self.play, self.step, self.reset):
            layout.addWidget(button)
        layout.addWidget(self.progress, 1)
        self.show_running(False)

    def show_running(self, running: bool) -> None:
        """Play becomes Pause while training; Step waits until it stops."""
        self.play.setText("Pause" if running else "Play")
        self.play.setIcon(self._pause_icon if running else self._play_icon)
        self.play.setToolTip("Stop after the current steps" if running else "Train to the end")
        self.step.setEnabled(not running)

    def show_progress(self, snapshot: Snapshot | None, steps: int) -> None:
        """The step of ``snapshot`` out of its run's, or 0 of ``steps`` for None."""
        self.progress.setFormat("step %v / %m")
        self.progress.setMaximum(snapshot.steps if snapshot is not None else steps)
        self.progress.setValue(snapshot.step if snapshot is not None else 0)

    def show_preparing(self, step: int, steps: int) -> None:
        """The model of ``step`` (e.g. a restored session's) is being loaded and measured."""
        self.progress.setFormat("loading the model of step %v / %m…")
        self.progress.setMaximum(steps)
        self.progress.setValue(step)


class ModelSummary(QWidget):
    """The current model's accuracies, mean test ‖J‖_F and training time; saving it.

    The buttons ``save_model`` and ``open_in_map_view`` are connected by the window.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.values: dict[str, QLabel] = {key: QLabel("–") for key, _ in METRICS}
        self.save_model = QPushButton("Save model…")
        self.save_model.setToolTip("Save the network in jacviz's format, with its training")
        self.open_in_map_view = QPushButton("Open in map view")
        self.open_in_map_view.setToolTip("Show the network's Jacobians in the main window")
        metrics = QFormLayout()
        for key, label in METRICS:
            metrics.addRow(label, self.values[key])
        buttons = QVBoxLayout()
        buttons.addWidget(self.save_model)
        buttons.addWidget(self.open_in_map_view)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addLayout(metrics, 1)
        layout.addLayout(buttons)

    def show_snapshot(self, snapshot: Snapshot | None) -> None:
        """The metrics of ``snapshot``, or dashes when there is no model."""
        has_model = snapshot is not None
        self.save_model.setEnabled(has_model)
        self.open_in_map_view.setEnabled(has_model)
        if snapshot is None:
            for label in self.values.values():
                label.setText("–")
            return
        self.values["train_accuracy"].setText(format_accuracy(snapshot.train_accuracy))
        self.values["test_accuracy"].setText(format_accuracy(snapshot.test_accuracy))
        self.values["test_frobenius"].setText(f"{snapshot.test_frobenius:.4g}")
        self.values["seconds"].setText(f"{snapshot.seconds:.2f} s")
