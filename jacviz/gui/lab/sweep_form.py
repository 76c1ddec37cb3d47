"""The Sweep tab's settings: the data, the λ and seed lists, steps, hidden sizes and workers.

:class:`SweepForm` holds what the user typed and, on :meth:`SweepForm.request`, checks it
into a :class:`~jacviz.gui.lab.sweep_controller.SweepRequest`; every refusal is one line
under its own field, in the words of the checks below the GUI (``check_sweep``,
``TrainConfig``, the number parsers), never a dialog. The model and training settings are the
Train tab's (:meth:`SweepForm.set_config`); steps and hidden sizes can be set here for the
sweep alone (left empty, they are the Train tab's).
"""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common.panels import form_grid
from jacviz.gui.lab.sweep_controller import SOURCES, SweepRequest, SweepSource
from jacviz.nets.datasets import MAX_TEST_FRACTION, Dataset
from jacviz.nets.sweep import MAX_WORKERS, SweepError, check_sweep
from jacviz.nets.training import TrainConfig, TrainingError
from jacviz.support.text_input import NumberError, parse_integer, parse_numbers, parse_real

__all__ = ["DEFAULT_LAMBDAS", "DEFAULT_SEEDS", "SweepForm", "default_workers", "max_workers"]

DEFAULT_LAMBDAS = "0, 0.001, 0.01, 0.1"
"""The λ the form starts with (``jacviz sweep``'s)."""
DEFAULT_SEEDS = "0, 1, 2"
"""The seeds the form starts with (``jacviz sweep``'s)."""

_PROBLEM = "QLabel { color: #A03A00; }"  # a dark vermillion, readable on the panel


def max_workers() -> int:
    """Most worker processes the form offers: the CPU count (and at most MAX_WORKERS)."""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def default_workers() -> int:
    """Worker processes the form starts with: 2, or 1 on a one-core machine."""
    return min(2, max_workers())


def _problem_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(_PROBLEM)
    label.setVisible(False)
    return label


def _say(label: QLabel, problem: str) -> None:
    label.setText(problem)
    label.setVisible(bool(problem))


class SweepForm(QWidget):
    """The settings column of the Sweep tab (no signals: the page asks for a request)."""

    def __init__(self, dataset: Dataset, config: TrainConfig | None) -> None:
        super().__init__()
        self._dataset, self._config = dataset, config
        self._npz_path: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_data())
        layout.addWidget(self._build_runs())
        self._show_source()
        self.set_config(config)

    # ---- construction --------------------------------------------------------------------------
    def _build_data(self) -> QGroupBox:
        group = QGroupBox("Data")
        self.source = QComboBox()
        for key, name in SOURCES.items():
            self.source.addItem(name, key)
        self.source.currentIndexChanged.connect(lambda _index: self._show_source())
        self.choose_file = QPushButton("Choose .npz file…")
        self.choose_file.clicked.connect(self._ask_npz)
        self.test_fraction = QDoubleSpinBox()
        self.test_fraction.setRange(0.0, MAX_TEST_FRACTION)
        self.test_fraction.setSingleStep(0.05)
        self.test_fraction.setValue(0.3)
        self.test_fraction.setToolTip(
            "Share of the points each seed holds out for testing (a file's own split column "
            "is used instead, where it has one)"
        )
        self.data_note = QLabel()
        self.data_note.setWordWrap(True)
        self.data_problem = _problem_label()
        form_grid(
            group,
            [
                self.source,
                self.choose_file,
                ("Test fraction", self.test_fraction),
                self.data_note,
                self.data_problem,
            ],
        )
        return group

    def _build_runs(self) -> QGroupBox:
        group = QGroupBox("Runs")
        self.lambdas = QLineEdit(DEFAULT_LAMBDAS)
        self.lambdas.setToolTip("Comma-separated λ ≥ 0, e.g. 0, 0.001, 0.01, 0.1")
        self.lambdas_problem = _problem_label()
        self.seeds = QLineEdit(DEFAULT_SEEDS)
        self.seeds.setToolTip("Comma-separated whole numbers, e.g. 0, 1, 2: one run per λ each")
        self.seeds_problem = _problem_label()
        self.steps = QLineEdit()
        self.steps.setToolTip("Training steps of every run (empty: the Train tab's)")
        self.hidden = QLineEdit()
        self.hidden.setToolTip("Hidden layer widths, e.g. 64,64 (empty: the Train tab's)")
        self.model_problem = _problem_label()
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        self.workers = QSpinBox()
        self.workers.setRange(1, max_workers())
        self.workers.setValue(default_workers())
        self.workers.setToolTip(
            "Runs trained at once, each in a worker process of its own (about 300 MB each); "
            "at most one per CPU core"
        )
        for field in (self.lambdas, self.seeds, self.steps, self.hidden):
            field.textEdited.connect(lambda _text: self.check())
        form_grid(
            group,
            [
                ("λ", self.lambdas),
                self.lambdas_problem,
                ("Seeds", self.seeds),
                self.seeds_problem,
                ("Steps", self.steps),
                ("Hidden sizes", self.hidden),
                self.model_problem,
                self.model_note,
                ("Worker processes", self.workers),
            ],
        )
        return group

    # ---- what the lab hands over ---------------------------------------------------------------
    def set_lab_data(self, dataset: Dataset) -> None:
        """The points the Train tab trains on now (a sweep already running keeps its own)."""
        self._dataset = dataset
        self._show_source()

    def set_config(self, config: TrainConfig | None) -> None:
        """The Train tab's settings, the sweep's base (None: they are invalid there)."""
        self._config = config
        if config is None:
            self.steps.setPlaceholderText("")
            self.hidden.setPlaceholderText("")
            self.model_note.setText("")
        else:
            self.steps.setPlaceholderText(f"as the Train tab: {config.steps}")
            self.hidden.setPlaceholderText("as the Train tab: " + ",".join(map(str, config.hidden)))
            estimator = (
                "exact ‖J‖²F" if config.estimator == "exact" else f"{config.n_proj} projection(s)"
            )
            self.model_note.setText(
                f"The rest is the Train tab's: {config.activation}, {config.optimizer} "
                f"{config.learning_rate:g}, batch {config.batch_size}, {estimator}"
                + (f", weight decay {config.weight_decay:g}" if config.weight_decay else "")
                + "."
            )
        self.check()

    # ---- the data choice -------------------------------------------------------------------------
    @property
    def source_kind(self) -> str:
        """The chosen data: a key of :data:`~jacviz.gui.lab.sweep_controller.SOURCES`."""
        return str(self.source.currentData())

    def set_npz_path(self, path: str) -> None:
        """Train on the ``.npz`` file at ``path`` (read, and refused or not, at Start)."""
        self._npz_path = path
        self.source.setCurrentIndex(self.source.findData("npz"))
        self._show_source()

    def _ask_npz(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Train on an .npz file", "", "NumPy archives (*.npz);;All files (*)"
        )
        if path:
            self.set_npz_path(path)

    def _show_source(self) -> None:
        kind = self.source_kind
        self.choose_file.setVisible(kind == "npz")
        self.test_fraction.setEnabled(kind != "lab")
        if kind == "lab":
            data = self._dataset
            note = (
                f"{data.name}: {data.train_points.shape[0]} training and "
                f"{data.test_points.shape[0]} test points, the same for every seed (a seed "
                "sets the initial weights, the batches and the projections)."
            )
        elif kind == "digits":
            note = "1,797 images of 8×8 pixels; each seed splits them anew."
        elif self._npz_path is None:
            note = "No file chosen yet."
        else:
            note = f"{Path(self._npz_path).name}: read at Start, each seed splits it anew."
        self.data_note.setText(note)
        self.show_data_problem("")

    def show_data_problem(self, problem: str) -> None:
        """Say why the data was refused (one line under the data choice; '' clears it)."""
        _say(self.data_problem, problem)

    # ---- checking ----------------------------------------------------------------------------
    def check(self) -> SweepRequest | None:
        """The sweep the fields describe, or None with each problem under its field."""
        lambdas = seeds = config = None
        try:
            lambdas = parse_numbers(self.lambdas.text(), parse_real)
            check_sweep(TrainConfig(), lambdas, [0])
            _say(self.lambdas_problem, "")
        except (NumberError, SweepError) as error:
            _say(self.lambdas_problem, f"λ: {error}")
            lambdas = None
        try:
            seeds = parse_numbers(self.seeds.text(), parse_integer)
            check_sweep(TrainConfig(), [0.0], seeds)
            if lambdas is not None:
                check_sweep(TrainConfig(), lambdas, seeds, self.workers.value())
            _say(self.seeds_problem, "")
        except (NumberError, SweepError) as error:
            _say(self.seeds_problem, f"Seeds: {error}")
            seeds = None
        try:
            config = self._model_config()
            _say(self.model_problem, "")
        except (NumberError, TrainingError) as error:
            _say(self.model_problem, str(error))
        if lambdas is None or seeds is None or config is None:
            return None
        source = SweepSource(
            self.source_kind,
            dataset=self._dataset,
            path=self._npz_path,
            test_fraction=self.test_fraction.value(),
        )
        return SweepRequest(source, config, tuple(lambdas), tuple(seeds), int(self.workers.value()))

    def _model_config(self) -> TrainConfig:
        """The Train tab's config with this form's steps and hidden sizes, where given."""
        if self._config is None:
            raise TrainingError("Fix the model settings in the Train tab first.")
        changes: dict[str, object] = {}
        if self.steps.text().strip():
            try:
                changes["steps"] = parse_integer(self.steps.text())
            except NumberError as error:
                raise NumberError(f"Steps: {error}") from None
        if self.hidden.text().strip():
            try:
                changes["hidden"] = tuple(parse_numbers(self.hidden.text(), parse_integer))
            except NumberError as error:
                raise NumberError(f"Hidden sizes: {error}") from None
        return self._config.replace(**changes)

    def ready_for_data(self) -> str:
        """Why the chosen data cannot be used yet ('' if it can: a file is chosen)."""
        if self.source_kind == "npz" and self._npz_path is None:
            return "Choose an .npz file first."
        return ""
