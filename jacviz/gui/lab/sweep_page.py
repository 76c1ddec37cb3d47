"""The lab's Sweep tab: train one model per (λ, seed), plot them against λ, open any of them.

:class:`SweepPage` puts the settings (:class:`~jacviz.gui.lab.sweep_form.SweepForm`), Start,
Cancel and a progress bar on the left, and the three plots against λ
(:class:`~jacviz.gui.lab.sweep_plots.SweepPlots`) with the choice of the PGD radius and the
chosen run on the right. The sweep runs on worker processes, driven from a worker thread
(:class:`~jacviz.gui.lab.sweep_controller.SweepController`): the GUI never trains. Clicking a
run's dot chooses it; *Open this model* emits :attr:`SweepPage.sigOpenModel` with a
:class:`~jacviz.nets.sweep.SweepModel` (the data, the trained network on raw inputs, its
config, λ and seed), and *Save model…* writes it in jacviz's format with its metadata.

The lab window adds the page as a tab, hands it its data and settings when they change
(:meth:`SweepPage.set_lab_data`, :meth:`SweepPage.set_config`) and calls
:meth:`SweepPage.shutdown` when it closes; the page's own close does the same.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common.panels import side_panel
from jacviz.gui.lab.sweep_controller import SweepController
from jacviz.gui.lab.sweep_form import SweepForm
from jacviz.gui.lab.sweep_plots import SweepPlots, run_value
from jacviz.nets.datasets import Dataset
from jacviz.nets.errors import NetworkError
from jacviz.nets.sweep import SweepError, SweepModel, SweepPlan, SweepRun, sweep_model
from jacviz.nets.training import TrainConfig

__all__ = ["CANCEL_NOTE", "SweepPage"]

CANCEL_NOTE = (
    "Cancel drops the runs not started and stops those in progress at once (their worker "
    "processes are ended); finished runs stay on the plots."
)
"""What Cancel does, said under the buttons."""


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f} %"


class SweepPage(QWidget):
    """The Sweep tab.

    Parameters
    ----------
    dataset : Dataset
        The points the lab's Train tab trains on (the "Train tab's points" data choice).
    config : TrainConfig or None
        The Train tab's settings, the base of every run (None while they are invalid).

    Signals
    -------
    sigOpenModel(SweepModel)
        The user asked to open the chosen run's model. ``model.inputs == 2``: the lab's 2D
        data, for the map view (save it with ``model.save(path)``, then open the file);
        more inputs: for a view of planes through inputs (``model.data`` is a VectorDataset,
        ``model.model`` takes raw inputs, ``model.label`` names it).
    sigStatus(str)
        A one-line message for the window's status bar.

    Attributes
    ----------
    controller : SweepController
        The running sweep and its runs.

    """

    sigOpenModel = pyqtSignal(object)
    sigStatus = pyqtSignal(str)

    def __init__(
        self, dataset: Dataset, config: TrainConfig | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = SweepController(self)
        self.form = SweepForm(dataset, config)
        self.plots = SweepPlots()
        self._chosen: tuple[float, int] | None = None
        self._build()
        self.controller.sigRunningChanged.connect(self._on_running_changed)
        self.controller.sigPlanned.connect(self._on_planned)
        self.controller.sigRunArrived.connect(self._on_run_arrived)
        self.controller.sigFinished.connect(self._on_finished)
        self.plots.sigRunClicked.connect(self.choose_run)
        self._show_chosen()

    # ---- construction --------------------------------------------------------------------------
    def _build(self) -> None:
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train every (λ, seed) with these settings")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip(CANCEL_NOTE)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setFormat("no sweep yet")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        note = QLabel(CANCEL_NOTE)
        note.setWordWrap(True)
        controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(note)
        left = side_panel([self.form, controls], 300)

        self.epsilon = QComboBox()
        self.epsilon.setToolTip("The radius of the L2 PGD attack the middle plot shows")
        self.epsilon.setEnabled(False)
        self.epsilon.addItem("after the first run")
        self.epsilon.currentIndexChanged.connect(lambda _index: self._redraw())
        self.chosen_label = QLabel()
        self.chosen_label.setWordWrap(True)
        self.open_button = QPushButton("Open this model")
        self.open_button.clicked.connect(self.open_chosen)
        self.save_button = QPushButton("Save model…")
        self.save_button.clicked.connect(lambda: self.ask_save_chosen())
        top = QHBoxLayout()
        top.addWidget(QLabel("PGD radius ε"))
        top.addWidget(self.epsilon)
        top.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.chosen_label, 1)
        bottom.addWidget(self.open_button)
        bottom.addWidget(self.save_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(top)
        right_layout.addWidget(self.plots, 1)
        right_layout.addLayout(bottom)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 1000])
        QVBoxLayout(self).addWidget(splitter)

    # ---- what the lab hands over ---------------------------------------------------------------
    def set_lab_data(self, dataset: Dataset) -> None:
        """The Train tab's points changed (a running sweep keeps the points it started with)."""
        self.form.set_lab_data(dataset)

    def set_config(self, config: TrainConfig | None) -> None:
        """The Train tab's settings changed (None: they are invalid there)."""
        self.form.set_config(config)

    # ---- the sweep -----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the sweep the form describes (False, saying why by the fields, if it cannot)."""
        if self.controller.busy:
            return False
        request = self.form.check()
        missing = self.form.ready_for_data()
        self.form.show_data_problem(missing)
        if request is None or missing:
            self._say("Fix the settings marked on the left first.")
            return False
        self._chosen = None
        self.plots.show_empty(
            f"Preparing the data and {request.workers} worker process(es) for {request.total} runs…"
        )
        self.progress.setFormat("%v of %m runs")
        self.progress.setRange(0, request.total)
        self.progress.setValue(0)
        self._show_epsilons(())
        self._show_chosen()
        self._say(f"Sweep of {request.total} runs started.")
        return self.controller.start(request)

    def cancel(self) -> None:
        """Stop the running sweep: pending runs are dropped, running ones stopped."""
        if self.controller.busy:
            self.controller.cancel()
            self._say("Cancelling…")

    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel any sweep and wait for it (the window's close); True when nothing runs."""
        return self.controller.shutdown(msecs)

    def closeEvent(self, event: QCloseEvent) -> None:
        """A page closed on its own (not as a tab) stops its sweep first."""
        self.shutdown()
        super().closeEvent(event)

    def _on_running_changed(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.form.setEnabled(not running)

    def _on_planned(self, plan: SweepPlan) -> None:
        self._show_epsilons(plan.epsilons)
        self.plots.show_empty(
            f"Training {plan.total} runs on {plan.data[plan.configs[0].seed].name}: the first "
            "appears when it finishes."
        )

    def _on_run_arrived(self, run: SweepRun) -> None:
        self.progress.setValue(len(self.controller.runs))
        self._redraw()

    def _on_finished(self, message: str, how: str) -> None:
        if how == "data":
            self.form.show_data_problem(message)
            self.plots.show_empty("The data was refused: see under the data choice.")
        elif how == "failed":
            message = f"The sweep failed: {message}"
        self._say(message)

    # ---- the plots and the chosen run ------------------------------------------------------------
    def _show_epsilons(self, epsilons: tuple[float, ...]) -> None:
        self.epsilon.blockSignals(True)
        self.epsilon.clear()
        for eps in epsilons:
            self.epsilon.addItem(f"{eps:g}", eps)
        if not epsilons:
            self.epsilon.addItem("after the first run")
        self.epsilon.setCurrentIndex(min(1, len(epsilons) - 1) if epsilons else 0)
        self.epsilon.setEnabled(bool(epsilons))
        self.epsilon.blockSignals(False)

    def _current_epsilon(self) -> float | None:
        data = self.epsilon.currentData()
        return float(data) if data is not None else None

    def _redraw(self) -> None:
        request, runs = self.controller.request, self.controller.runs
        if request is None or not runs:
            return
        self.plots.show_runs(request.lambdas, runs, self._current_epsilon(), self._chosen)
        self._show_chosen()

    def _chosen_run(self) -> SweepRun | None:
        for run in self.controller.runs:
            if (run.jr_lambda, run.seed) == self._chosen:
                return run
        return None

    def choose_run(self, jr_lambda: float, seed: int) -> None:
        """Choose the run (λ, seed) of the sweep shown: ringed on the plots, offered to open."""
        self._chosen = (jr_lambda, seed)
        self._redraw()

    def _show_chosen(self) -> None:
        run = self._chosen_run()
        self.open_button.setEnabled(run is not None)
        self.save_button.setEnabled(run is not None)
        if run is None:
            self.chosen_label.setText("Click a run's dot to choose it, then open or save it.")
            return
        eps = self._current_epsilon()
        tested = "test" if run.measured_on == "test" else "train"
        text = (
            f"λ = {run.jr_lambda:g}, seed {run.seed}: {tested} accuracy "
            f"{_percent(run_value(run, 'accuracy', eps))}, "
            f"PGD at ε = {'–' if eps is None else f'{eps:g}'}: "
            f"{_percent(run_value(run, 'pgd', eps))}, "
            f"mean ‖J‖F {run.mean_jacobian_frobenius:.4g}, {run.steps_done} steps "
            f"in {run.seconds:.1f} s"
        )
        self.chosen_label.setText(text + (f" (warning: {run.diverged})" if run.diverged else ""))

    def chosen_model(self) -> SweepModel | None:
        """The chosen run's model (None, saying why, if there is none)."""
        run, plan, request = self._chosen_run(), self.controller.plan, self.controller.request
        if run is None or plan is None or request is None:
            self._say("Click a run's dot first.")
            return None
        try:
            return sweep_model(run, plan.data[run.seed], request.config)
        except SweepError as error:
            self._say(str(error))
            return None

    def open_chosen(self) -> None:
        """Emit :attr:`sigOpenModel` with the chosen run's model."""
        model = self.chosen_model()
        if model is not None:  # said first: whoever opens it has the last word
            self._say(f"Opening the model of {model.label}.")
            self.sigOpenModel.emit(model)

    def ask_save_chosen(self) -> str | None:
        """Ask for a file name and save the chosen run's model there; the path, or None.

        The lab opens a 2D run in the map view this way: saved, then the file opened.
        """
        model = self.chosen_model()
        if model is None:
            return None
        name = f"{model.data.name}_lambda{model.jr_lambda:g}_seed{model.seed}.safetensors"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save model", name, "jacviz networks (*.safetensors)"
        )
        return path if path and self.save_chosen(path) else None

    def save_chosen(self, path: str) -> bool:
        """Save the chosen run's model to ``path``; False (saying why in one line) on failure."""
        model = self.chosen_model()
        if model is None:
            return False
        try:
            model.save(path)
        except (NetworkError, OSError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self._say(f"Model not saved to {path}: {reason}")
            return False
        self._say(f"Saved the model of {model.label} to {path}")
        return True

    def _say(self, message: str) -> None:
        self.status.setText(message)
        self.sigStatus.emit(message)
