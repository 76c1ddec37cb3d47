"""The lab's controller: it turns the user's intents into core calls.

One :class:`~jacviz.state.lab.LabState` says what the user chose (data settings, model
settings as typed, what the plane shows, the class clicks add); the :class:`LabController`
owns it together with the current dataset and training run, calls the core (datasets,
training, saving), runs training on a :class:`~jacviz.gui.lab.worker.TrainingWorker`, and
hands the views plain data: the dataset, snapshots, curves and pictures. It creates no
widgets. The state's types live in the core (:mod:`jacviz.state.lab`), where sessions
read them by the lab's rules; they are named here too for the lab's panels.

A model is always trained on exactly the data and settings shown: any change of either
discards the run and starts a new one at step 0 (saying so when progress is lost), so a
picture or a saved file never mixes one run's weights with another's settings.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from jacviz.gui.lab.pictures import Picture
from jacviz.gui.lab.worker import TrainingRun, TrainingWorker
from jacviz.math.grid import Domain
from jacviz.nets.datasets import Dataset, DatasetError, load_csv
from jacviz.nets.fields import DISPLAYS, FieldFunction, compute_field
from jacviz.nets.metadata import classifier_metadata
from jacviz.nets.networks import NetworkError, save_mlp
from jacviz.nets.training import Snapshot, TrainConfig, TrainingError, load_state
from jacviz.state.lab import LAB_START, Curves, DataSettings, LabState, ModelSettings
from jacviz.state.lab import MAX_SEED as MAX_SEED  # the panels' range, named here too
from jacviz.state.lab import parse_hidden as parse_hidden  # for the training panel
from jacviz.state.session import LabSession

SNAPSHOT_EVERY = 10
"""Training steps between snapshots: one click of Step, one point of the curves."""

CURVES_INTERVAL_MS = 250
"""Curves are redrawn at most this often (4 times a second) while training: snapshots come far
faster, and one redraw of the three plots with their axes takes the GUI thread 20-30 ms (their
tick labels' text, mostly), which at 10 Hz was the better part of a core taken from the plane."""


def format_accuracy(value: float) -> str:
    """An accuracy as the lab shows it: ``"98.33 %"``, or ``"–"`` without test points."""
    return f"{100 * value:.2f} %" if math.isfinite(value) else "–"


def _sentence(text: str) -> str:
    """``text`` starting with a capital, as a message of its own."""
    return text[:1].upper() + text[1:]


class LabController(QObject):
    """Owns the lab's state, dataset and training run; views get plain data through signals.

    Signals
    -------
    sigDatasetChanged(Dataset)
        New points to draw.
    sigFrameChanged(Domain)
        Frame the plane on this rectangle (new data).
    sigStateChanged(LabState)
        The settings the panels should show.
    sigSnapshotChanged(object)
        The newest :class:`~jacviz.nets.training.Snapshot` of the run, or None when there is
        no model (invalid settings or data).
    sigCurvesChanged(Curves)
        The run's history (rate-limited to :data:`CURVES_INTERVAL_MS`).
    sigFieldChanged(object, object)
        A :class:`~jacviz.nets.fields.FieldImage` of the model and, for decision regions, its
        RGBA colours (computed off the GUI thread: the view only uploads them); or None, None
        to clear the plane.
    sigRunningChanged(bool)
        Training started (True) or stopped, paused, finished or diverged (False).
    sigProblem(str)
        What went wrong, for a prominent message ('' when the last problem is resolved).
    sigStatus(str)
        Information for the status bar.

    Attributes
    ----------
    regions_refresh_hz : float
        Pictures of the model drawn per second during the last Play (NaN before any): the
        achieved refresh rate of the plane while training.
    steps_per_second : float
        Training steps per second of wall time during the last Play (NaN before any).

    """

    sigDatasetChanged = pyqtSignal(object)
    sigFrameChanged = pyqtSignal(object)
    sigStateChanged = pyqtSignal(object)
    sigSnapshotChanged = pyqtSignal(object)
    sigCurvesChanged = pyqtSignal(object)
    sigFieldChanged = pyqtSignal(object, object)
    sigRunningChanged = pyqtSignal(bool)
    sigProblem = pyqtSignal(str)
    sigStatus = pyqtSignal(str)

    def __init__(
        self,
        state: LabState | None = None,
        parent: QObject | None = None,
        field: FieldFunction = compute_field,
    ):
        """Start on ``state`` (the lab's start); ``field`` computes the plane's pictures.

        ``field`` has :func:`~jacviz.nets.fields.compute_field`'s signature; tests and
        benchmarks give another (a slow one, say) to watch training go on meanwhile.
        """
        super().__init__(parent)
        self.state = state if state is not None else LAB_START
        self.dataset = self.state.data.make()
        self.domain = self.dataset.domain
        self.run: TrainingRun | None = None
        self.problem = ""
        self.running = False
        self.regions_refresh_hz = math.nan
        self.steps_per_second = math.nan
        self._history: list[tuple[float, ...]] = []
        self._failure: str | None = None
        self._fields_shown: list[float] = []
        self._play_started: tuple[float, int] | None = None
        self._saved: tuple[TrainingRun, int, str] | None = None
        self.worker = TrainingWorker(self, field)
        self.worker.sigSnapshots.connect(self._on_worker_snapshots)
        self.worker.sigField.connect(self._on_worker_field)
        self.worker.sigFailed.connect(self._on_worker_failed)
        self.worker.sigIdle.connect(self._on_worker_idle)
        self._curves_timer = QTimer(self)
        self._curves_timer.setSingleShot(True)
        self._curves_timer.setInterval(CURVES_INTERVAL_MS)
        self._curves_timer.timeout.connect(self._emit_curves)

    # ---- the whole picture ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Send everything to the views, and prepare the first model (views just connected)."""
        self.sigStateChanged.emit(self.state)
        self.sigDatasetChanged.emit(self.dataset)
        self.sigFrameChanged.emit(self.dataset.domain)
        self._new_run(None)

    @property
    def snapshot(self) -> Snapshot | None:
        """The newest snapshot of the current run (None before the first)."""
        return self.run.latest if self.run is not None else None

    @property
    def config(self) -> TrainConfig | None:
        """The training configuration of the current settings, or None if they are invalid."""
        try:
            return self.state.model.config()
        except TrainingError:
            return None

    # ---- data ----------------------------------------------------------------------------------
    def set_data_settings(self, settings: DataSettings) -> None:
        """Generate the data ``settings`` describe (the run restarts on it)."""
        if settings == self.state.data:
            return
        try:
            dataset = settings.make()
        except DatasetError as error:
            self._report(f"Data not changed: {error}")
            self.sigStateChanged.emit(self.state)  # the panel goes back to the data shown
            return
        self._set_state(data=settings)
        self._replace_dataset(dataset, self._describe(dataset), reframe=True)

    def new_data(self) -> None:
        """A fresh sample of the current kind of data: the same settings with the next seed.

        After the largest seed comes 0 again, so the seed always fits the seed box.
        """
        seed = (self.state.data.seed + 1) % (MAX_SEED + 1)
        self.set_data_settings(dataclasses.replace(self.state.data, seed=seed))

    def load_csv(self, path: str) -> bool:
        """Train on the points of a CSV file; on failure say why and keep the current data."""
        data = self.state.data
        try:
            dataset = load_csv(path, data.test_fraction, data.seed)
        except DatasetError as error:
            self._report(f"CSV not loaded: {error}")
            return False
        self._replace_dataset(dataset, f"Loaded {self._describe(dataset)}", reframe=True)
        return True

    def save_csv(self, path: str) -> bool:
        """Write the current points (with their split) as CSV; on failure say why."""
        try:
            self.dataset.to_csv(path)
        except DatasetError as error:
            self._report(f"CSV not saved: {error}")
            return False
        self._clear_problem()
        self.sigStatus.emit(f"Saved {self.dataset.n_points} points to {path}")
        return True

    def add_point(self, x: float, y: float, test: bool = False) -> None:
        """Add a point of the selected class at (x, y), to the test split if ``test``."""
        label = self.state.selected_class
        try:
            dataset = self.dataset.with_point((x, y), label, test=test)
        except DatasetError as error:
            self._report(f"Point not added: {error}")
            return
        split = "test" if test else "training"
        name = self.dataset.class_names[label]
        self._replace_dataset(
            dataset, f"Added a {split} point of class {name} at ({x:.3g}, {y:.3g})"
        )

    def remove_point(self, x: float, y: float, radius: float) -> None:
        """Remove the point nearest to (x, y) if one lies within ``radius``."""
        try:
            dataset = self.dataset.without_nearest((x, y), radius)
        except DatasetError as error:
            self._report(f"Point not removed: {error}")
            return
        if dataset.n_points == self.dataset.n_points:
            self.sigStatus.emit("No point close enough to remove there.")
            return
        self._replace_dataset(dataset, f"Removed the point nearest to ({x:.3g}, {y:.3g})")

    def select_class(self, label: int) -> None:
        """Make clicks add points of class ``label``."""
        if 0 <= label < self.dataset.n_classes and label != self.state.selected_class:
            self._set_state(selected_class=label)

    def _replace_dataset(self, dataset: Dataset, message: str, reframe: bool = False) -> None:
        self.dataset = dataset
        if self.state.selected_class >= dataset.n_classes:
            self._set_state(selected_class=0)
        self.sigDatasetChanged.emit(dataset)
        if reframe:
            self.sigFrameChanged.emit(dataset.domain)
        self._new_run(f"{message}; the data changed")

    @staticmethod
    def _describe(dataset: Dataset) -> str:
        test = int(dataset.is_test.sum())
        return (
            f"{dataset.name}: {dataset.n_points} points, {dataset.n_points - test} for training "
            f"and {test} for testing"
        )

    # ---- model and training ------------------------------------------------------------------
    def set_model_settings(self, settings: ModelSettings) -> None:
        """Use these model and training settings (the run restarts with them if they changed)."""
        if settings == self.state.model:
            return
        self._set_state(model=settings)
        self._new_run("Settings changed")

    def set_view_domain(self, domain: Domain) -> None:
        """Compute pictures of the model over ``domain``: the part of the plane on screen."""
        if domain == self.domain:
            return
        self.domain = domain
        self._redraw_field(lambda run: setattr(run, "domain", domain))

    def set_display(self, display: str) -> None:
        """Show ``display`` (a key of :data:`~jacviz.nets.fields.DISPLAYS`) on the plane."""
        if display not in DISPLAYS:
            raise ValueError(f"unknown display {display!r}; choose from {', '.join(DISPLAYS)}")
        if display == self.state.display:
            return
        self._set_state(display=display)
        self._redraw_field(lambda run: setattr(run, "display", display))

    def _redraw_field(self, change: Callable[[TrainingRun], object]) -> None:
        """Apply ``change`` to the run's picture settings; redraw now unless training does."""
        if self.run is None:
            return
        change(self.run)
        if not self.running and self.run.latest is not None:
            self.worker.submit(self.run, 0)  # only the picture

    def play(self) -> bool:
        """Train to the end (or until paused); False, saying why, if there is nothing to train."""
        if self.running:
            return True
        if not self._trainable():
            return False
        assert self.run is not None
        latest = self.run.latest
        self._play_started = (time.perf_counter(), latest.step if latest is not None else 0)
        self._fields_shown = []
        self._set_running(True)
        self.worker.submit(self.run, None)
        self.sigStatus.emit("Training…")
        return True

    def pause(self) -> None:
        """Stop training after the current snapshot; Play or Step continue from there."""
        if not self.running:
            return
        self.worker.stop()
        self._set_running(False)
        self._finish_play()

    def step(self) -> bool:
        """Train one snapshot interval (:data:`SNAPSHOT_EVERY` steps), then stop."""
        if self.running:
            return False
        if not self._trainable():
            return False
        assert self.run is not None
        self.worker.submit(self.run, 1)
        return True

    def reset(self) -> None:
        """Back to the untrained model of the current settings (step 0)."""
        self._new_run(None)

    def _trainable(self) -> bool:
        """Whether Play and Step can train now; if not, says why."""
        if self.run is None:  # only when the settings are invalid
            self._new_run(None)  # which says why
            return False
        if self.run.done:
            latest = self.run.latest
            if self._failure is not None:
                self._report(self._failure)
            elif latest is not None and latest.diverged:
                self._report(f"{_sentence(latest.diverged)} Press Reset to start over.")
            else:
                self.sigStatus.emit("Training is finished; press Reset to train again.")
            return False
        return True

    def _new_run(
        self, reason: str | None, weights: dict[str, torch.Tensor] | None = None, step: int = 0
    ) -> None:
        """Discard the current run and start a new one on the current data.

        At step 0, or at ``step`` from ``weights`` (a restored session's model).
        """
        lost = self.run is not None and self.run.latest is not None and self.run.latest.step > 0
        self._discard_run()
        try:
            config = self.state.model.config()
        except TrainingError as error:
            self._report(f"Cannot train: {error}")
            self._emit_empty()
            self.sigFieldChanged.emit(None, None)
            return
        self._clear_problem()
        self.run = TrainingRun(
            self.dataset, config, self.domain, self.state.display, SNAPSHOT_EVERY, weights, step
        )
        # The plane keeps the old picture until the new model's arrives (a few ms): no flicker.
        self._emit_empty()
        self.worker.submit(self.run, 1)  # the first model (untrained or restored), its picture
        if reason is not None:
            self.sigStatus.emit(f"{reason}: training reset to step 0." if lost else f"{reason}.")

    def _discard_run(self) -> None:
        if self.run is not None:
            self.worker.discard(self.run)
        self.run = None
        self._history = []
        self._failure = None
        if self.running:
            self._set_running(False)

    def _emit_empty(self) -> None:
        self.sigSnapshotChanged.emit(None)
        self._emit_curves()

    # ---- saving --------------------------------------------------------------------------------
    def save_model(self, path: str) -> bool:
        """Save the newest model in jacviz's network format, with what it was trained on.

        The metadata holds the class names, the dataset's name and domain, the training
        configuration and the step and accuracies reached, so the map view can describe it and
        open it as a classifier on its data's rectangle. On failure (no model,
        an unwritable path) the problem is reported and False returned.
        """
        run, latest = self.run, self.snapshot
        if run is None or latest is None:
            self._report("Model not saved: there is no model yet (check the settings).")
            return False
        config = run.config
        model = load_state(config, latest.state, 2, run.dataset.n_classes)
        description = (
            f"trained in the lab on {run.dataset.name}, step {latest.step} of {config.steps}, "
            f"λ = {config.jr_lambda:g}, test accuracy {format_accuracy(latest.test_accuracy)}"
        )
        metadata = classifier_metadata(
            description,
            run.dataset,  # whose rectangle the map view opens it on, as `jacviz train` saves it
            config,
            latest.train_accuracy,
            latest.test_accuracy,
            step=latest.step,
            mean_jacobian_frobenius=latest.test_frobenius,
        )
        try:
            save_mlp(model, path, metadata)
        except (NetworkError, OSError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self._report(f"Model not saved to {path}: {reason}")
            return False
        self._saved = (run, latest.step, path)
        self._clear_problem()
        self.sigStatus.emit(f"Saved the model of step {latest.step} to {path}")
        return True

    def saved_model_path(self) -> str | None:
        """Where the model shown was last saved, or None if it has changed since (or never was)."""
        latest = self.snapshot
        if self._saved is None or latest is None:
            return None
        run, step, path = self._saved
        return path if run is self.run and step == latest.step and Path(path).is_file() else None

    # ---- sessions ------------------------------------------------------------------------------
    def lab_session(self) -> LabSession:
        """The lab as a session saves it: the points, the settings, the newest model and its step.

        The weights are the newest snapshot's (None before the first) and the configuration
        is the run's, which they fit (the defaults when the settings as typed are invalid:
        then there is no model); the settings as entered and the curves up to that step go
        with them.
        """
        run, latest = self.run, self.snapshot
        step = 0 if latest is None else latest.step
        return LabSession(
            dataset=self.dataset,
            config=run.config if run is not None else TrainConfig(),
            weights=None if latest is None else latest.state,
            step=step,
            state=self.state,
            curves=tuple(row for row in self._history if row[0] <= step),
        )

    def restore(self, lab: LabSession) -> None:
        """Show a saved lab: its points and settings, its curves, and its model at its step.

        ``lab`` comes from :func:`~jacviz.state.session.load_session`, which checked all of it
        (settings by the lab's own rules, against the data, configuration, weights and
        curves), so this only shows it. The model's picture and numbers are computed from the
        saved weights, without training; Play goes on from the saved step (with a fresh
        optimizer: its state is not saved).
        """
        self._discard_run()
        self.state, self.dataset = lab.state, lab.dataset
        self.sigStateChanged.emit(lab.state)
        self.sigDatasetChanged.emit(lab.dataset)
        self.sigFrameChanged.emit(lab.dataset.domain)
        self._new_run(None, lab.weights, lab.step)
        self._history = list(lab.curves)
        self._emit_curves()
        self.sigStatus.emit(
            f"Restored the lab's {self._describe(lab.dataset)}, at step {lab.step}."
        )

    # ---- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop training and wait for the worker thread: nothing runs after this returns.

        The run is kept, paused, so a window closed and shown again (:meth:`resume`) still has
        its model and can train on.
        """
        self.pause()
        self._curves_timer.stop()
        self.worker.shutdown()

    def resume(self) -> None:
        """Work again after :meth:`shutdown`: the worker takes jobs, the model is redrawn."""
        if not self.worker.closed:
            return
        self.worker.reopen()
        run = self.run
        if run is not None and not (run.done and run.latest is None):
            # The first snapshot if an edit after closing started a new run, else the picture.
            self.worker.submit(run, 1 if run.latest is None else 0)

    # ---- worker results ------------------------------------------------------------------------
    def _on_worker_snapshots(self, run: TrainingRun, batch: tuple[Snapshot, ...]) -> None:
        if run is not self.run or not batch:
            return
        # One row per step: a restored run's first snapshot (its saved model, re-measured)
        # is already in the history the session brought back.
        for snapshot in batch:
            if snapshot.diverged is None and (
                not self._history or self._history[-1][0] < snapshot.step
            ):
                self._history.append(Curves.row(snapshot, run.config.jr_lambda))
                self._schedule_curves()
        snapshot = batch[-1]
        self.sigSnapshotChanged.emit(snapshot)
        if snapshot.diverged:
            self._report(_sentence(snapshot.diverged))
            self._stop_at_end()
        elif snapshot.done and self.running:
            self._stop_at_end()

    def _on_worker_field(self, run: TrainingRun, picture: Picture) -> None:
        if run is not self.run:
            return
        if self.running:
            self._fields_shown.append(time.perf_counter())
        self.sigFieldChanged.emit(picture.field, picture.colours)

    def _on_worker_failed(self, run: TrainingRun, message: str) -> None:
        if run is not self.run:
            return
        self._failure = f"Cannot train: {message}"
        self._report(self._failure)
        self.sigFieldChanged.emit(None, None)
        if self.running:
            self.worker.stop()  # a picture failed: training would go on unseen
            self._set_running(False)
            self._finish_play()

    def _on_worker_idle(self, run: TrainingRun) -> None:
        if run is not self.run:
            return
        if self.running:  # the run ended without a final snapshot
            self._stop_at_end()
        elif self._curves_timer.isActive():
            self._emit_curves()  # a step or a first snapshot: show it now, not later

    def _stop_at_end(self) -> None:
        self._set_running(False)
        self._finish_play()
        latest = self.snapshot
        if latest is not None and latest.diverged is None:
            rates = f"{self.steps_per_second:.0f} steps/s in the window"
            if math.isfinite(self.regions_refresh_hz):
                rates += f", the plane redrawn {self.regions_refresh_hz:.1f} times a second"
            self.sigStatus.emit(
                f"Trained to step {latest.step} in {latest.seconds:.2f} s of training ({rates})."
            )

    def _finish_play(self) -> None:
        """Measure the last Play: steps per second and pictures per second."""
        if self._play_started is None:
            return
        started, first_step = self._play_started
        self._play_started = None
        elapsed = time.perf_counter() - started
        latest = self.snapshot
        if latest is not None and elapsed > 0:
            self.steps_per_second = (latest.step - first_step) / elapsed
        times = self._fields_shown
        if len(times) >= 2:
            self.regions_refresh_hz = (len(times) - 1) / (times[-1] - times[0])

    # ---- helpers -------------------------------------------------------------------------------
    def _set_state(self, **changes: object) -> None:
        self.state = dataclasses.replace(self.state, **changes)
        self.sigStateChanged.emit(self.state)

    def _set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.sigRunningChanged.emit(running)
        if not running:
            self._emit_curves()

    def _schedule_curves(self) -> None:
        if not self._curves_timer.isActive():
            self._curves_timer.start()

    def _emit_curves(self) -> None:
        self._curves_timer.stop()
        self.sigCurvesChanged.emit(Curves.from_rows(self._history))

    def _report(self, message: str) -> None:
        self.problem = message
        self.sigProblem.emit(message)

    def _clear_problem(self) -> None:
        if self.problem:
            self.problem = ""
            self.sigProblem.emit("")
