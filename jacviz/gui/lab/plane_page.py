"""The lab's page of the plane through three inputs: λ = 0 and λ > 0 where the data lives.

On data of many inputs (the 8×8 digits, a user's ``.npz``) the 2D lab's plane is gone; this
page takes a plane *of the data*: the one through three held-out points picked in a gallery
(or by index). It trains λ = 0 and λ > 0 from the same initial weights and batches
(:func:`~jacviz.nets.plane_training.training_steps`, on a worker, with progress and Cancel),
then shows both models on that plane side by side on one colour scale
(:class:`~jacviz.gui.lab.plane_plots.PlanePlots`), and at the probe the input as an image and
each model's decision and Jacobian (:class:`~jacviz.gui.lab.plane_probe.ProbePanel`).

Networks' forwards never run on the GUI thread: the fields over the plane and the readings
at the probe are computed by two :class:`~jacviz.gui.common.runner.LatestOnlyRunner`s (a drag
keeps only the newest probe), data files are read by a third; only the input at the probe,
``a0 + s·u + t·v``, is drawn at once on every move. Models trained elsewhere are shown with
:meth:`PlanePage.set_models` and a sweep's run with :meth:`PlanePage.show_run`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from PyQt6.QtCore import Qt, QThreadPool, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QShowEvent
from PyQt6.QtWidgets import QFileDialog, QHBoxLayout, QScrollArea, QSplitter, QWidget

from jacviz.gui.common.export import Figure
from jacviz.gui.common.runner import LatestOnlyRunner, weak_slot
from jacviz.gui.lab.jobs import failure_message, start_generator_job
from jacviz.gui.lab.plane_controls import PlaneControls, parse_anchors
from jacviz.gui.lab.plane_gallery import input_range
from jacviz.gui.lab.plane_plots import PlanePlots
from jacviz.gui.lab.plane_probe import ProbePanel
from jacviz.math.grid import Domain
from jacviz.math.probe import format_number
from jacviz.nets.comparison import Progress
from jacviz.nets.data import VectorDataset
from jacviz.nets.datasets import DatasetError
from jacviz.nets.input_plane import (
    InputPlane,
    PlaneError,
    PlaneFields,
    anchor_indices,
    held_out,
    plane_fields,
    read_point,
)
from jacviz.nets.plane_training import PlaneModel, paired_configs, plane_model, training_steps
from jacviz.nets.training import TrainConfig, TrainingError
from jacviz.support.text_input import NumberError

__all__ = ["FIELD_COLUMNS", "PlanePage", "TrainedRun"]

FIELD_COLUMNS: int = 120
"""Pixels across the plots' images (rows follow the view's aspect): the fields cover what
the plots show, computed anew when the view rests after a zoom, a pan or a resize."""


class TrainedRun(Protocol):
    """What :meth:`PlanePage.show_run` needs of a run (a sweep's ``SweepModel`` has it)."""

    data: Any
    model: Any
    config: TrainConfig


def load_data(source: str) -> VectorDataset | str:
    """``"digits"``, or the path of an ``.npz`` file, read with the split's defaults.

    A refusal comes back as its one line (a str), not raised: it is the user's file, not a
    failure of the page.
    """
    from jacviz.nets.data import load_digits, load_npz

    try:
        return load_digits() if source == "digits" else load_npz(source)
    except DatasetError as error:
        return str(error)


class PlanePage(QWidget):
    """The page: settings column, the two plots, and the probe's panel (see the module).

    Signals
    -------
    sigStatus(str)
        A line for the window's status bar.
    """

    sigStatus = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.data: VectorDataset | None = None
        self.models: tuple[PlaneModel, ...] = ()
        self.anchors: list[int | None] = [None, None, None]
        self.next_anchor = 0
        self.plane: InputPlane | None = None
        self.fields: list[PlaneFields] | None = None
        self.readings: list = []
        self.probe: np.ndarray | None = None
        self.view: Domain | None = None
        """The rectangle of the plane the plots show: what the fields cover."""
        self._worker = None
        self._load_started = False
        self._closed = False
        """Set by :meth:`shutdown`: no job is started after it (its result would find the
        page's runners deleted)."""
        self._after_training: Callable[[tuple[PlaneModel, ...]], None] | None = None
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self.loader = LatestOnlyRunner(self)
        self.field_runner = LatestOnlyRunner(self)
        self.reading_runner = LatestOnlyRunner(self)
        self.controls = PlaneControls()
        self.plots = PlanePlots()
        self.probe_panel = ProbePanel()
        self._build()
        self._connect()

    # ---- building ------------------------------------------------------------------------
    def _build(self) -> None:
        left = QScrollArea()
        left.setWidget(self.controls)
        left.setWidgetResizable(True)
        left.setMinimumWidth(340)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right = QScrollArea()
        right.setWidget(self.probe_panel)
        right.setWidgetResizable(True)
        right.setMinimumWidth(280)
        right.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.display = QWidget()
        """The plots and the probe's panel: the page's figure."""
        row = QHBoxLayout(self.display)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.plots, 1)
        row.addWidget(right)
        self.probe_scroll = right
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.display)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 1000])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.settings_column = left

    def _connect(self) -> None:
        controls = self.controls
        controls.dataset.activated.connect(lambda _i: self.load(controls.dataset.currentData()))
        controls.open_npz.clicked.connect(self.open_npz)
        controls.gallery.sigPointClicked.connect(self.pick_anchor)
        controls.anchors.editingFinished.connect(self._on_anchors_typed)
        controls.train.clicked.connect(lambda: self.train())
        controls.cancel.clicked.connect(self.cancel)
        controls.heatmap.currentIndexChanged.connect(lambda _i: self._draw_fields())
        self.plots.sigViewChanged.connect(self._on_view_changed)
        self.plots.sigProbeMoved.connect(lambda s, t: self.set_probe(np.array([s, t])))
        self.probe_panel.sigModeChanged.connect(self._draw_readings)
        self.loader.sigResult.connect(self._on_loaded)
        self.loader.sigFailed.connect(lambda m: controls.say(controls.data_status, m, True))
        self.field_runner.sigResult.connect(self._on_fields)
        self.field_runner.sigFailed.connect(lambda m: self._problem(f"the plane: {m}"))
        self.reading_runner.sigResult.connect(self._on_readings)
        self.reading_runner.sigFailed.connect(lambda m: self._problem(f"the probe: {m}"))

    # ---- data and anchors ----------------------------------------------------------------
    def load(self, source: str) -> None:
        """Read ``"digits"`` or an ``.npz`` path off the GUI thread, then show it."""
        self.controls.say(self.controls.data_status, "reading the data…")
        if not self._closed:
            self._load_started = True
            self.loader.submit(lambda: load_data(source))

    def open_npz(self) -> None:
        """Ask for an ``.npz`` file and load it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open data", "", "numpy archives (*.npz)")
        if path:
            self.load(path)

    def _on_loaded(self, result: VectorDataset | str) -> None:
        if isinstance(result, str):
            self.controls.say(self.controls.data_status, result, True)
        else:
            self.set_data(result)

    def set_data(self, data: VectorDataset) -> None:
        """Show ``data``: its gallery, default anchors; models of other data are dropped.

        Data being read is forgotten: what is set here wins.
        """
        self.loader.cancel()
        if not isinstance(data, VectorDataset):
            self._problem("the plane through three inputs needs data of more than two inputs")
            return
        points, labels = held_out(data)
        self.controls.say(
            self.controls.data_status,
            f"{data.name}: {data.n_points} points of {data.input_dim} inputs, "
            f"{data.n_classes} classes; {len(points)} to pick from",
        )
        if data is not self.data:
            self.cancel()
            self.models = ()
            self.fields = None
        self.data = data
        self.controls.gallery.show_data(data)
        # First three points of three different classes (of the first points when fewer).
        firsts = [int(np.argmax(labels == c)) for c in dict.fromkeys(labels.tolist())]
        chosen = sorted(firsts)[:3] if len(firsts) >= 3 else [0, 1, 2][: len(points)]
        self.set_anchors(chosen)

    def pick_anchor(self, index: int) -> None:
        """Set the next anchor (1, 2, 3, then 1 again) to test point ``index``."""
        anchors = list(self.anchors)
        anchors[self.next_anchor] = index
        self.next_anchor = (self.next_anchor + 1) % 3
        self.set_anchors(anchors, keep_next=True)

    def _on_anchors_typed(self) -> None:
        try:
            self.set_anchors(parse_anchors(self.controls.anchors.text()))
        except NumberError as error:
            self._problem(f"anchors: {error}")

    def set_anchors(self, indices: Sequence[int | None], keep_next: bool = False) -> bool:
        """Span the plane through the test points ``indices``; False (and a line) if refused."""
        if self.data is None:
            return False
        points, labels = held_out(self.data)
        self.anchors = list(indices) + [None] * (3 - len(indices))
        if not keep_next:
            self.next_anchor = 0
        self.controls.show_anchors(self.anchors, self.next_anchor)
        try:
            chosen = anchor_indices(list(indices), len(points))
            plane = InputPlane.through(points[list(chosen)])
        except PlaneError as error:
            self._problem(f"anchors: {error}")
            return False
        self._problem("")
        self.plane = plane
        self.fields = None
        self.view = plane.default_domain()
        names = self.data.class_names
        labels_text = [f"#{i} ({names[int(labels[i])]})" for i in chosen]
        self.plots.show_anchors(plane.coordinates, labels_text, plane.default_domain())
        self.set_probe(plane.coordinates.mean(axis=0))
        self._request_fields()
        return True

    # ---- models ----------------------------------------------------------------------------
    def train(self, config: TrainConfig | None = None) -> bool:
        """Train λ = 0 and the settings' λ > 0 (or ``config``'s) on a worker; False if refused."""
        if self.data is None:
            self._problem("no data yet")
            return False
        try:
            config = self.controls.config() if config is None else config
        except TrainingError as error:
            self._problem(str(error))
            return False
        data = self.data
        self._start(data, paired_configs(config), lambda models: self.set_models(data, models))
        return True

    def show_run(self, run: TrainedRun, against_plain: bool = True) -> bool:
        """Show a run trained elsewhere (a sweep's), against λ = 0 of its seed or alone.

        The λ = 0 partner is trained here, from the same initial weights and batches (same
        config and seed); the run is shown alone meanwhile. False (and a line) for a run
        whose data has too few inputs for a plane.
        """
        data, config = run.data, run.config
        if not isinstance(data, VectorDataset):
            self._problem("this run's data has 2 inputs: its plane is the Train tab's")
            return False
        shown = plane_model(f"λ = {config.jr_lambda:g}, seed {config.seed}", run.model, config)
        self.set_models(data, (shown,))
        widths = ",".join(map(str, config.hidden))
        note = (
            f"shown: a run trained elsewhere ({widths} {config.activation}, "
            f"{config.optimizer} {config.learning_rate:g}, {config.steps} steps); Train "
            "uses the settings above"
        )
        self.controls.say(self.controls.status, note)
        if against_plain and config.regularized:

            def beside(models: tuple[PlaneModel, ...]) -> None:
                self.set_models(data, (*models, shown))
                accuracy = f"test accuracy {models[0].test_accuracy:.3f}"
                self.controls.say(self.controls.status, f"{note}; its λ = 0 partner: {accuracy}")

            self._start(data, (config.replace(jr_lambda=0.0),), beside)
        return True

    def set_models(self, data: VectorDataset, models: Sequence[PlaneModel]) -> None:
        """Show one or two models of ``data`` (on raw inputs) on the plane, left to right."""
        if data is not self.data:
            self.set_data(data)
        self.models = tuple(models)[:2]
        self.plots.set_titles([_title(m) for m in self.models])
        self._request_fields()
        self._request_readings()

    def _start(self, data: VectorDataset, configs: Sequence[TrainConfig], done: Callable) -> None:
        self.cancel()
        if self._closed:
            return
        self._after_training = done
        self.controls.set_running(True)
        self._worker = start_generator_job(
            self._pool,
            training_steps,
            data,
            tuple(configs),
            yielded=weak_slot(self, "_on_training"),
            errored=weak_slot(self, "_on_training_failed"),
            finished=weak_slot(self, "_on_training_finished"),
        )

    def _on_training(self, item: Progress | tuple[PlaneModel, ...]) -> None:
        if self._after_training is None:
            return  # cancelled: what the run still reported is dropped
        if isinstance(item, Progress):
            self.controls.progress.setValue(round(1000 * item.fraction))
            self.controls.say(self.controls.status, item.message)
        else:
            done, self._after_training = self._after_training, None
            text = "; ".join(f"{m.label}: test accuracy {m.test_accuracy:.3f}" for m in item)
            self.controls.say(self.controls.status, f"trained ({text})")
            done(item)

    def _on_training_failed(self, error: BaseException) -> None:
        self._problem(failure_message(error))

    def _on_training_finished(self) -> None:
        self._worker = None
        self.controls.set_running(False)

    @property
    def training(self) -> bool:
        """Whether a run is training."""
        return self._worker is not None

    def cancel(self) -> None:
        """Stop the training run at its next snapshot; its models are not shown."""
        self._after_training = None
        if self._worker is not None:
            self._worker.quit()
            self.controls.say(self.controls.status, "cancelled")

    # ---- fields and the probe ---------------------------------------------------------------
    def _request_fields(self) -> None:
        if self._closed or self.plane is None or not self.models:
            return
        plane, models, domain = self.plane, self.models, self.view or self.plane.default_domain()
        rows = max(2, round(FIELD_COLUMNS * domain.height / domain.width))

        def job() -> tuple:
            fields = [plane_fields(m.model, plane, domain, FIELD_COLUMNS, rows) for m in models]
            return plane, models, fields

        self.field_runner.submit(job)

    def _on_view_changed(self, domain: Domain) -> None:
        if self.plane is not None:
            self.view = domain
            self._request_fields()

    def _on_fields(self, result: tuple) -> None:
        plane, models, fields = result
        if plane is self.plane and models == self.models:
            self.fields = fields
            self._draw_fields()

    def _draw_fields(self) -> None:
        if self.fields is not None and self.data is not None:
            heatmap = self.controls.heatmap.currentData()
            data = self.data
            self.plots.show_fields(self.fields, heatmap, data.n_classes, data.class_names)

    def set_probe(self, point: np.ndarray) -> None:
        """Move the probe to plane point ``(s, t)``: the input drawn now, readings off-thread."""
        if self.plane is None or self.data is None:
            return
        self.probe = np.asarray(point, dtype=np.float64)
        self.plots.show_probe(self.probe)
        x = self.plane.lift(self.probe)[0]
        s, t = (format_number(float(c), 4) for c in self.probe)
        distances = np.linalg.norm(self.plane.anchors - x, axis=1)
        near = ", ".join(format_number(float(d), 3) for d in distances)
        caption = f"(s, t) = ({s}, {t}); distance to anchors 1, 2, 3: {near}"
        self.probe_panel.show_input(x, self.data.input_shape, input_range(self.data), caption)
        self._request_readings()

    def _request_readings(self) -> None:
        if self._closed or self.plane is None or self.probe is None or not self.models:
            return
        x, models = self.plane.lift(self.probe)[0], self.models
        self.reading_runner.submit(lambda: (models, [read_point(m.model, x) for m in models]))

    def _on_readings(self, result: tuple) -> None:
        models, readings = result
        if models == self.models:
            self.readings = readings
            self._draw_readings()

    def _draw_readings(self) -> None:
        if self.readings and self.data is not None:
            titles = [_title(m) for m in self.models]
            names, shape = self.data.class_names, self.data.input_shape
            self.probe_panel.show_readings(titles, self.readings, names, shape)

    # ---- the rest ------------------------------------------------------------------------------
    def _problem(self, message: str) -> None:
        self.controls.say(self.controls.status, message, bool(message))
        if message:
            self.sigStatus.emit(message)

    def busy(self) -> bool:
        """Whether anything is still being trained, read or computed (tests, render)."""
        runners = (self.loader, self.field_runner, self.reading_runner)
        return self.training or self.plots.view_pending or any(r.busy for r in runners)

    def figure(self) -> Figure:
        """The plots and the probe's panel, titled with the data and anchors, for export."""
        above = ""
        if self.data is not None and all(a is not None for a in self.anchors):
            anchors = ", ".join(str(a) for a in self.anchors)
            above = f"{self.data.name}: the plane through held-out points {anchors}"
        return Figure(self.display, above=above, title="jacviz: plane through three inputs")

    def shutdown(self, msecs: int = -1) -> bool:
        """Stop every job and wait up to ``msecs`` (-1: for ever); True when none runs.

        No job starts afterwards until :meth:`showEvent` (the page shown again).
        """
        self._closed = True
        self.plots.stop_view_updates()
        self.cancel()
        for runner in (self.loader, self.field_runner, self.reading_runner):
            runner.cancel()
        waits = [r.wait(msecs) for r in (self.loader, self.field_runner, self.reading_runner)]
        return self._pool.waitForDone(msecs) and all(waits)

    def showEvent(self, event: QShowEvent) -> None:
        """Shown (again): jobs may start; the first time, with no data yet, the digits load."""
        self._closed = False
        super().showEvent(event)
        if self.data is None and not self.loader.busy and not self._load_started:
            self.load("digits")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closed on its own (not as a tab), it waits for its jobs."""
        self.shutdown()
        super().closeEvent(event)


def _title(model: PlaneModel) -> str:
    return model.label + (" (diverged)" if model.diverged else "")
