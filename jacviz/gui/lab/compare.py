"""The lab's Compare section: the same classifier trained with and without Jacobian regularization.

:class:`CompareWidget` trains the λ = 0 and λ > 0 runs of one configuration on a worker thread
(:func:`~jacviz.nets.comparison.comparison_steps`) and shows them side by side, on the
same colour scales: decision regions with the data, ‖J‖_F over the plane, a table of clean
accuracy, mean ‖J‖_F, distance to the decision boundary and PGD accuracy, and accuracy-vs-ε
curves for FGSM and PGD in L2 and L∞ (accuracies under attack are upper bounds: an attack can
miss errors, never invent them). Clicking a plane places an ε-ball there and compares, for
each model, the share of the ball whose class flips with what the Jacobian predicts to first
order. A last view shows how the random-projection estimate of ‖J‖²_F that the regularizer can
train with spreads around the exact value.

The widget draws what the worker hands it and holds no training logic; the lab window calls
:meth:`CompareWidget.compare` and listens to :attr:`CompareWidget.sigFinished` and
:attr:`CompareWidget.sigStatus`.
"""

from __future__ import annotations

import math
import threading
import traceback
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QObject, QRunnable, Qt, QThreadPool, pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common import style
from jacviz.gui.common.plots import Marker, Plane, heatmap_levels, paint_regions
from jacviz.gui.lab.regions_view import REGION_INTENSITY, DataPoints
from jacviz.math.grid import Domain
from jacviz.math.maps import TorchMap
from jacviz.math.probe import format_number
from jacviz.nets.comparison import (
    Comparison,
    EstimatorSpread,
    ModelResult,
    Progress,
    comparison_steps,
    estimator_spread,
    norm_name,
)
from jacviz.nets.datasets import Dataset
from jacviz.nets.robustness import (
    PGD_RESTARTS,
    PGD_STEPS,
    flip_fraction,
    linearized_flip_fraction,
)
from jacviz.nets.training import TrainConfig

__all__ = [
    "MODEL_COLOURS",
    "TABLE_ROWS",
    "UPPER_BOUND",
    "BallReading",
    "ComparePlane",
    "CompareWidget",
    "attack_description",
    "log_ticks",
]

MODEL_COLOURS: tuple[str, str] = (style.BLACK, style.VERMILLION)
"""Colour of the λ = 0 and the λ > 0 model wherever both appear (titles, table, curves)."""

TABLE_ROWS: tuple[str, ...] = (
    "accuracy",
    "frobenius",
    "boundary",
    "pgd_2",
    "pgd_inf",
)
"""Keys of the table's rows, top to bottom (see :meth:`CompareWidget.table_value`)."""

ATTACK_STYLES: dict[tuple[str, str], tuple[Qt.PenStyle, str]] = {
    ("pgd", "2"): (Qt.PenStyle.SolidLine, "o"),
    ("pgd", "inf"): (Qt.PenStyle.DashLine, "s"),
    ("fgsm", "2"): (Qt.PenStyle.DotLine, "t"),
    ("fgsm", "inf"): (Qt.PenStyle.DashDotLine, "d"),
}
"""Line style and symbol of each (attack, norm) curve; colour says which model."""

ESTIMATOR_DRAWS: int = 200
"""Independent random-projection estimates per test point in the estimator view."""

BALL_SAMPLES: int = 2048
"""Sample points of the ε-ball for the flip fractions (the core's default)."""

UPPER_BOUND: str = (
    "An upper bound on the accuracy under any attack of that size: every error counted was "
    "found by the attack, which can miss others."
)
"""What every accuracy under attack shown here is, for its tooltips."""


def attack_description(attack: str, norm: str) -> str:
    """One sentence on how an (attack, norm) of the comparison is run, for tooltips."""
    ball = f"the {norm_name(norm)} ball"
    if attack == "fgsm":
        return f"FGSM in {ball}: one step of size ε up the loss."
    return f"PGD in {ball}: {PGD_STEPS} steps from each of {PGD_RESTARTS} starts round its edge."


_BALL_SEGMENTS = 128
_HISTOGRAM_BINS = 41
_PROGRESS_STEPS = 1000


# ----------------------------------------------------------------------------------------------
# The worker
# ----------------------------------------------------------------------------------------------


class _WorkerSignals(QObject):
    progress = pyqtSignal(int, object)
    finished = pyqtSignal(int, object)
    failed = pyqtSignal(int, str)


class _CompareJob(QRunnable):
    """Runs :func:`comparison_steps` on a pool thread until it ends or ``abort`` is set."""

    def __init__(
        self,
        generation: int,
        dataset: Dataset,
        config: TrainConfig,
        signals: _WorkerSignals,
        abort: threading.Event,
    ):
        super().__init__()
        self._generation = generation
        self._dataset = dataset
        self._config = config
        self._signals = signals
        self._abort = abort

    def run(self) -> None:
        if self._abort.is_set():  # stopped (or superseded) while it waited for the thread
            self._signals.finished.emit(self._generation, None)
            return
        result = None
        steps = comparison_steps(self._dataset, self._config)
        try:
            for item in steps:
                if self._abort.is_set():
                    break
                if isinstance(item, Comparison):
                    result = item
                else:
                    self._signals.progress.emit(self._generation, item)
        except Exception as error:  # reported to the GUI: a pool thread must never raise
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self._signals.failed.emit(self._generation, detail)
            return
        finally:
            steps.close()
        self._signals.finished.emit(self._generation, None if self._abort.is_set() else result)


# ----------------------------------------------------------------------------------------------
# Views
# ----------------------------------------------------------------------------------------------


class ComparePlane(Plane):
    """One model's plane: decision regions with the data, or ‖J‖_F; and the ε-ball.

    Signals
    -------
    sigPointPicked(float, float)
        The user clicked at this data coordinate.
    """

    sigPointPicked = pyqtSignal(float, float)

    def __init__(self, title: str, colour: str):
        super().__init__(title, "x", "y")
        self.setTitle(title, color=colour)
        self.setMinimumSize(220, 170)
        self.setMenuEnabled(False)
        self.image = pg.ImageItem()
        self.image.setZValue(-20)
        self.addItem(self.image)
        self.boundary = self.add_curve(style.pen("#FFFFFF", 1.2, alpha=220), -5)
        self.points: DataPoints | None = None
        # The ball as a white halo under a black line: readable on pale regions and on dark ‖J‖.
        self.ball_halo = self.add_curve(style.pen("#FFFFFF", 4.0), 5)
        self.ball = self.add_curve(style.pen(style.BLACK, 1.8), 6)
        self.centre = Marker("cross", 10, style.pen(style.BLACK, 2))
        self.centre.setZValue(7)
        self.centre.setVisible(False)
        self.addItem(self.centre)
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    def show_regions(self, result: ModelResult, comparison: Comparison, dataset: Dataset) -> None:
        """Decision regions, pale as in the lab's plane, under the data in full colour."""
        paint_regions(
            self.image, result.regions, comparison.domain, dataset.n_classes, REGION_INTENSITY
        )
        self.show_data(dataset)

    def show_data(self, dataset: Dataset) -> None:
        """The points as the lab's plane draws them (dots: training, rings: test), framed."""
        if self.points is None:
            self.points = DataPoints(self.getPlotItem(), size=7.0)
        self.points.show(dataset)
        self._frame(dataset.domain)

    def show_values(self, values: np.ndarray, comparison: Comparison) -> None:
        """Values the colour bar maps (its levels are set by the caller), over the domain."""
        domain = comparison.domain
        self.image.setImage(values, autoLevels=False)
        self.image.setRect(domain.xmin, domain.ymin, domain.width, domain.height)
        self._frame(domain)

    def _frame(self, domain: Domain) -> None:
        self.frame(np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax]))

    def show_boundary(self, segments: np.ndarray) -> None:
        """Draw decision-boundary segments ``(K, 2, 2)``."""
        self.set_lines(self.boundary, segments)

    def show_ball(self, centre: np.ndarray | None, eps: float) -> None:
        """Draw the L2 ball of radius ``eps`` around ``centre``, or hide it for None."""
        if centre is None:
            for item in (self.ball, self.ball_halo):
                item.setData([], [])
            self.centre.place(None)
            return
        angles = np.linspace(0.0, 2.0 * np.pi, _BALL_SEGMENTS + 1)
        circle = centre + eps * np.column_stack([np.cos(angles), np.sin(angles)])
        for item in (self.ball, self.ball_halo):
            self.set_lines(item, circle[np.newaxis])
        self.centre.place(centre)

    def _on_scene_clicked(self, event: object) -> None:
        # Clicks on data points count too: the ball goes where the user clicked, point or not.
        if event.button() != Qt.MouseButton.LeftButton:
            return
        view_box = self.getViewBox()
        if view_box.sceneBoundingRect().contains(event.scenePos()):
            point = view_box.mapSceneToView(event.scenePos())
            self.sigPointPicked.emit(point.x(), point.y())


@dataclass(frozen=True)
class BallReading:
    """What the ε-ball panel shows: per model, the true and the first-order flip fraction.

    Attributes
    ----------
    centre : numpy.ndarray
        ``(2,)`` the clicked point.
    eps : float
        Radius of the ball.
    flips : tuple of (float, float)
        For the λ = 0 and the λ > 0 model: ``(flip_fraction, linearized_flip_fraction)``.

    """

    centre: np.ndarray
    eps: float
    flips: tuple[tuple[float, float], ...]


def log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Ticks for a log10 colour bar from ``low`` to ``high``, labelled with plain values.

    1, 2 and 5 times powers of ten over up to two decades, 1 and 3 up to four, the powers
    alone beyond: the bar is short, and its labels must not run into each other.
    """
    first, last = math.floor(low), math.ceil(high)
    span = high - low
    mantissas = (1.0, 2.0, 5.0) if span <= 2 else (1.0, 3.0) if span <= 4 else (1.0,)
    values = [m * 10.0**e for e in range(first, last + 1) for m in mantissas]
    return [(math.log10(v), format_number(v, 3)) for v in values if low <= math.log10(v) <= high]


def _percent(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{100 * value:.1f} %"


def _lambda_name(config: TrainConfig) -> str:
    return f"λ = {config.jr_lambda:g}"


# ----------------------------------------------------------------------------------------------
# The widget
# ----------------------------------------------------------------------------------------------


class CompareWidget(QWidget):
    """Train λ = 0 and λ > 0 from the same start, and compare the two classifiers side by side.

    Call :meth:`compare` with a dataset and the regularized run's configuration; the plain run
    is the same configuration with λ = 0. Training and measurements run on a private worker
    thread; the views update when they finish. Call :meth:`shutdown` before the widget goes
    away (the lab window's ``closeEvent``): it stops the worker and waits for it.

    Signals
    -------
    sigFinished(bool)
        A :meth:`compare` run ended: True when its results are now shown, False when it was
        stopped or failed. Emitted once per run that was not superseded by a newer
        :meth:`compare` call.
    sigStatus(str)
        A one-line status for a status bar: progress, results, a divergence or an error.
    """

    sigFinished = pyqtSignal(bool)
    sigStatus = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        # No Qt parent: a job may still hold it while the widget is being deleted.
        self._signals = _WorkerSignals()
        self._signals.progress.connect(self._on_worker_progress)
        self._signals.finished.connect(self._on_worker_finished)
        self._signals.failed.connect(self._on_worker_failed)
        self._generation = 0
        self._abort = threading.Event()
        self._running = False
        self._comparison: Comparison | None = None
        self._maps: tuple[TorchMap, ...] = ()
        self._ball_centre: np.ndarray | None = None
        self.ball_reading: BallReading | None = None
        """What the ε-ball panel shows, or None before a point is clicked."""
        self.estimator_reading: EstimatorSpread | None = None
        """What the estimator view shows, or None before a comparison."""
        self._build()

    # ---- public API ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True from :meth:`compare` until its run has ended (or the widget shut down)."""
        return self._running

    @property
    def comparison(self) -> Comparison | None:
        """The comparison on screen, or None before the first one finishes."""
        return self._comparison

    @property
    def ball_centre(self) -> np.ndarray | None:
        """Centre of the ε-ball, or None before a point has been picked."""
        return None if self._ball_centre is None else self._ball_centre.copy()

    def compare(self, dataset: Dataset, config: TrainConfig) -> bool:
        """Start training ``config`` (λ > 0) and its λ = 0 twin on ``dataset``, off the GUI thread.

        A comparison still running is stopped and superseded. Returns False (and says why on
        :attr:`sigStatus`, then emits ``sigFinished(False)``) when ``config.jr_lambda`` is 0,
        since then there is nothing to compare.
        """
        self._abort.set()  # the previous job, if any, stops at its next piece of work
        self._generation += 1
        if not config.regularized:
            self._running = False
            self._set_progress(0.0, visible=False)
            self._say("Set λ > 0 to compare a regularized run with a plain one.")
            self.sigFinished.emit(False)
            return False
        self._abort = threading.Event()
        self._running = True
        if self._comparison is None:  # something to look at while the first one runs
            for plane in self.region_planes:
                plane.show_data(dataset)
        self.stop_button.setEnabled(True)
        self._set_progress(0.0, visible=True)
        self._say(f"Comparing λ = 0 with {_lambda_name(config)} on {dataset.name}…")
        self._pool.start(_CompareJob(self._generation, dataset, config, self._signals, self._abort))
        return True

    def stop(self) -> None:
        """Stop the running comparison soon (between two pieces of work); do not wait."""
        if self._running:
            self._abort.set()
            self.stop_button.setEnabled(False)
            self._say("Stopping…")

    def shutdown(self, msecs: int = -1) -> bool:
        """Stop any comparison and wait up to ``msecs`` (-1: for ever) for the worker to end.

        No signal is emitted for the stopped run. Returns True when no worker thread runs.
        """
        self._abort.set()
        self._generation += 1  # drop whatever the job still delivers
        done = self._pool.waitForDone(msecs)
        if done:
            self._running = False
            self.stop_button.setEnabled(False)
        return done

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker thread is idle (tests, shutdown); True if it is."""
        return self._pool.waitForDone(msecs)

    def pick(self, x: float, y: float) -> None:
        """Put the ε-ball's centre at ``(x, y)`` (what a click on any plane does)."""
        self._ball_centre = np.array([x, y], dtype=np.float64)
        self._update_ball()

    def table_value(self, row: str, model: int) -> float:
        """The number behind a table cell: ``row`` from :data:`TABLE_ROWS`, model 0 or 1."""
        item = self.table.item(TABLE_ROWS.index(row), model)
        return float("nan") if item is None else float(item.data(Qt.ItemDataRole.UserRole))

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the widget on its own (not as a tab) also waits for the worker."""
        self.shutdown()
        super().closeEvent(event)

    # ---- building --------------------------------------------------------------------------
    def _build(self) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, _PROGRESS_STEPS)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.progress.setVisible(False)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop training and measuring; the last results stay shown.")
        self.stop_button.clicked.connect(self.stop)
        self.status_label = QLabel(
            "Train a plain and a Jacobian-regularized model to compare them."
        )
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.divergence_label = QLabel()
        self.divergence_label.setWordWrap(True)
        self.divergence_label.setStyleSheet(f"color: {style.VERMILLION}; font-weight: bold")
        self.divergence_label.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.status_label, 1)
        top.addWidget(self.progress, 1)
        top.addWidget(self.stop_button)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_planes())
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.divergence_label)
        layout.addWidget(splitter, 1)

    def _build_planes(self) -> QWidget:
        titles = ("λ = 0", "λ > 0")
        self.region_planes = tuple(
            ComparePlane(f"{title}: decision regions", colour)
            for title, colour in zip(titles, MODEL_COLOURS, strict=True)
        )
        self.frobenius_planes = tuple(
            ComparePlane(f"{title}: ‖J‖<sub>F</sub>", colour)
            for title, colour in zip(titles, MODEL_COLOURS, strict=True)
        )
        self.planes = self.region_planes + self.frobenius_planes
        for plane in self.planes:
            plane.sigPointPicked.connect(self._on_plane_point_picked)
        # One colour bar for both ‖J‖_F images, so equal colours mean equal norms; in its own
        # widget, so both planes keep the same size.
        bar_widget = self.colorbar_widget = pg.GraphicsLayoutWidget()
        bar_widget.setFixedWidth(86)
        bar_widget.setVisible(False)  # until there are images to explain
        self.colorbar = pg.ColorBarItem(
            values=(0, 1),
            colorMap=pg.colormap.get(style.SEQUENTIAL_COLORMAP),
            interactive=False,
            width=14,
            label="‖J‖_F, log scale (same for both)",
        )
        self.colorbar.getAxis("right").enableAutoSIPrefix(False)
        self.colorbar.setImageItem([plane.image for plane in self.frobenius_planes])
        bar_widget.addItem(self.colorbar)
        key = QLabel(
            "● training point &nbsp; ○ test point &nbsp; white line on ‖J‖<sub>F</sub>: decision "
            "boundary. Click any plane to place an ε-ball there."
        )
        key.setWordWrap(True)
        widget = QWidget()
        grid = QGridLayout(widget)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.region_planes[0], 0, 0)
        grid.addWidget(self.region_planes[1], 0, 1)
        grid.addWidget(self.frobenius_planes[0], 1, 0)
        grid.addWidget(self.frobenius_planes[1], 1, 1)
        grid.addWidget(bar_widget, 1, 2)
        grid.addWidget(key, 2, 0, 1, 3)
        return widget

    def _build_side(self) -> QWidget:
        self.table = QTableWidget(len(TABLE_ROWS), 2)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setHorizontalHeaderLabels(["λ = 0", "λ > 0"])
        self.table.setVerticalHeaderLabels(self._row_titles(None))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit_table_height()

        # The ε-ball.
        self.epsilon_spin = QDoubleSpinBox()
        self.epsilon_spin.setDecimals(3)
        self.epsilon_spin.setRange(0.001, 100.0)
        self.epsilon_spin.setSingleStep(0.05)
        self.epsilon_spin.setValue(0.2)
        self.epsilon_spin.setToolTip("Radius of the L2 ball around the clicked point.")
        self.epsilon_spin.valueChanged.connect(self._on_epsilon_changed)
        self.ball_label = QLabel("Click a plane to place an ε-ball.")
        self.ball_label.setWordWrap(True)
        ball_box = QGroupBox("Share of an ε-ball whose class flips")
        ball_layout = QGridLayout(ball_box)
        ball_layout.addWidget(QLabel("ε"), 0, 0)
        ball_layout.addWidget(self.epsilon_spin, 0, 1)
        ball_layout.setColumnStretch(2, 1)
        ball_layout.addWidget(self.ball_label, 1, 0, 1, 3)

        # Robustness curves, with their legend beside the plot so it never hides a curve.
        curves_widget = pg.GraphicsLayoutWidget()
        curves_widget.setMinimumHeight(220)
        self.curves_plot = curves_widget.addPlot(row=0, col=0)
        self.curves_plot.setLabel("bottom", "ε (attack radius)")
        self.curves_plot.setLabel("left", "accuracy (upper bound)")
        self.curves_plot.setYRange(0.0, 1.0, padding=0.03)
        self.curves_plot.showGrid(x=True, y=True, alpha=0.25)
        self.curves_plot.setMenuEnabled(False)
        for axis in ("bottom", "left"):
            self.curves_plot.getAxis(axis).enableAutoSIPrefix(False)
        self.curves: dict[tuple[int, str, str], pg.PlotDataItem] = {}
        for model, colour in enumerate(MODEL_COLOURS):
            for (attack, norm), (line, symbol) in ATTACK_STYLES.items():
                item = pg.PlotDataItem(
                    pen=style.pen(colour, 2.0, style=line),
                    symbol=symbol,
                    symbolSize=6,
                    symbolPen=pg.mkPen(colour),
                    symbolBrush=pg.mkBrush(colour),
                )
                self.curves_plot.addItem(item)
                self.curves[model, attack, norm] = item
        self.curves_legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-6)
        curves_widget.addItem(self.curves_legend, row=0, col=1)
        self._legend_models = [
            pg.PlotDataItem(pen=style.pen(colour, 3.0)) for colour in MODEL_COLOURS
        ]
        for item, name in zip(self._legend_models, ("λ = 0", "λ > 0"), strict=True):
            self.curves_legend.addItem(item, name)
        for (attack, norm), (line, symbol) in ATTACK_STYLES.items():
            sample = pg.PlotDataItem(
                pen=style.pen(style.GREY, 2.0, style=line),
                symbol=symbol,
                symbolSize=6,
                symbolPen=pg.mkPen(style.GREY),
                symbolBrush=pg.mkBrush(style.GREY),
            )
            self.curves_legend.addItem(sample, f"{attack.upper()} {norm_name(norm)}")
        curves_box = QGroupBox("Accuracy under attack (upper bounds)")
        curves_box.setToolTip(
            " ".join(attack_description(a, n) for a, n in ATTACK_STYLES) + " " + UPPER_BOUND
        )
        QVBoxLayout(curves_box).addWidget(curves_widget)

        # The random-projection estimator.
        self.n_proj_spin = QSpinBox()
        self.n_proj_spin.setRange(1, 64)
        self.n_proj_spin.setToolTip("Random projections per estimate of ‖J‖²_F.")
        self.n_proj_spin.valueChanged.connect(self._on_n_proj_changed)
        self.estimator_plot = pg.PlotWidget()
        self.estimator_plot.setMinimumHeight(150)
        self.estimator_plot.setMenuEnabled(False)
        self.estimator_plot.setLabel("bottom", "estimate / exact − 1")
        self.estimator_plot.setLabel("left", "count")
        for axis in ("bottom", "left"):
            self.estimator_plot.getAxis(axis).enableAutoSIPrefix(False)
        self.histogram = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=style.pen(MODEL_COLOURS[1], 1.5),
            fillBrush=style.brush(MODEL_COLOURS[1], 90),
        )
        self.estimator_plot.addItem(self.histogram)
        self.estimator_plot.addItem(
            pg.InfiniteLine(
                0.0, angle=90, pen=style.pen(style.BLACK, 1.5, style=Qt.PenStyle.DashLine)
            )
        )
        # One line beside the spin box: a wrapped label under the plot overlapped its axis.
        self.estimator_label = QLabel()
        self.estimator_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        estimator_box = QGroupBox("Random-projection estimate of ‖J‖²_F (λ > 0 model, test points)")
        estimator_layout = QGridLayout(estimator_box)
        estimator_layout.addWidget(QLabel("n_proj"), 0, 0)
        estimator_layout.addWidget(self.n_proj_spin, 0, 1)
        estimator_layout.addWidget(self.estimator_label, 0, 2)
        estimator_layout.setColumnStretch(2, 1)
        estimator_layout.addWidget(self.estimator_plot, 1, 0, 1, 3)

        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(ball_box)
        layout.addWidget(curves_box, 3)
        layout.addWidget(estimator_box, 2)
        return side

    def _fit_table_height(self) -> None:
        self.table.resizeRowsToContents()
        height = self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
        height += sum(self.table.rowHeight(row) for row in range(self.table.rowCount()))
        self.table.setFixedHeight(height)

    @staticmethod
    def _row_titles(comparison: Comparison | None) -> list[str]:
        where = "test" if comparison is None or comparison.on_test_points else "training"
        eps = "ε" if comparison is None else f"ε = {format_number(comparison.table_epsilon, 3)}"
        return [
            f"{where} accuracy",
            f"mean ‖J‖_F on {where} points",
            "mean distance to the boundary",
            f"PGD L2 accuracy (upper bound), {eps}",
            f"PGD L∞ accuracy (upper bound), {eps}",
        ]

    # ---- worker results --------------------------------------------------------------------
    def _on_worker_progress(self, generation: int, progress: Progress) -> None:
        if generation != self._generation:
            return
        self._set_progress(progress.fraction, visible=True)
        self._say(progress.message[:1].upper() + progress.message[1:] + "…")

    def _on_worker_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._end_run()
        self._say(f"The comparison failed: {message}")
        self.sigFinished.emit(False)

    def _on_worker_finished(self, generation: int, comparison: Comparison | None) -> None:
        if generation != self._generation:
            return
        self._end_run()
        if comparison is None:
            self._say(
                "Stopped." + (" The previous comparison stays shown." if self._comparison else "")
            )
            self.sigFinished.emit(False)
            return
        self._show(comparison)
        self.sigFinished.emit(True)

    def _end_run(self) -> None:
        self._running = False
        self.stop_button.setEnabled(False)
        self._set_progress(0.0, visible=False)

    # ---- drawing ---------------------------------------------------------------------------
    def _show(self, comparison: Comparison) -> None:
        first = self._comparison is None
        self._comparison = comparison
        k = comparison.dataset.n_classes
        self._maps = tuple(TorchMap(m.model, "classifier", 2, k) for m in comparison.models)
        names = [_lambda_name(m.config) for m in comparison.models]
        for model, result in enumerate(comparison.models):
            self._show_model(model, result, names[model], comparison)
        self._show_frobenius(comparison)
        self._show_table(comparison, names)
        self._show_curves(comparison, names)
        if first:
            self.epsilon_spin.blockSignals(True)
            self.epsilon_spin.setSingleStep(comparison.epsilons[1])
            self.epsilon_spin.setValue(comparison.table_epsilon)
            self.epsilon_spin.blockSignals(False)
            self.n_proj_spin.blockSignals(True)
            self.n_proj_spin.setValue(comparison.regularized.config.n_proj)
            self.n_proj_spin.blockSignals(False)
        self._update_ball()
        self._update_estimator()
        diverged = [
            f"{name}: {m.diverged}"
            for name, m in zip(names, comparison.models, strict=True)
            if m.diverged
        ]
        self.divergence_label.setText("<br>".join(diverged))
        self.divergence_label.setVisible(bool(diverged))
        summary = (
            f"Compared in {comparison.seconds:.1f} s: test accuracy "
            f"{_percent(comparison.plain.snapshot.test_accuracy)} vs "
            f"{_percent(comparison.regularized.snapshot.test_accuracy)}, mean ‖J‖_F "
            f"{format_number(comparison.plain.snapshot.test_frobenius, 3)} vs "
            f"{format_number(comparison.regularized.snapshot.test_frobenius, 3)}."
        )
        if diverged:
            summary = "A run diverged; its last good model is compared. " + summary
        self._say(summary)

    def _show_model(
        self, model: int, result: ModelResult, name: str, comparison: Comparison
    ) -> None:
        colour = MODEL_COLOURS[model]
        suffix = " (diverged)" if result.diverged else ""
        regions = self.region_planes[model]
        regions.setTitle(f"{name}: decision regions{suffix}", color=colour)
        regions.show_regions(result, comparison, comparison.dataset)
        frobenius = self.frobenius_planes[model]
        frobenius.setTitle(f"{name}: ‖J‖<sub>F</sub>{suffix}", color=colour)
        frobenius.show_boundary(result.boundary_segments)

    def _show_frobenius(self, comparison: Comparison) -> None:
        """Both ‖J‖_F images on one logarithmic colour scale.

        The plain model's norms are often ten times the regularized one's: on a linear scale
        one image would be a single colour. On a log scale both show their structure, and
        equal colours still mean equal norms.
        """
        with np.errstate(divide="ignore"):
            logs = [np.log10(m.frobenius) for m in comparison.models]
        low, high = heatmap_levels(np.concatenate([v.ravel() for v in logs]), "log_frobenius")
        for plane, values in zip(self.frobenius_planes, logs, strict=True):
            plane.show_values(np.clip(values, low, high), comparison)
        self.colorbar.setLevels((low, high))
        self.colorbar.getAxis("right").setTicks([log_ticks(low, high)])
        self.colorbar_widget.setVisible(True)

    def _show_table(self, comparison: Comparison, names: list[str]) -> None:
        self.table.setVerticalHeaderLabels(self._row_titles(comparison))
        for model, result in enumerate(comparison.models):
            # A dagger, not "(diverged)": the column is narrow; the message is in the tooltip.
            header = QTableWidgetItem(names[model] + (" †" if result.diverged else ""))
            header.setToolTip(result.diverged or "")
            header.setForeground(pg.mkColor(MODEL_COLOURS[model]))
            self.table.setHorizontalHeaderItem(model, header)
            distance, unreached = result.mean_boundary_distance(comparison.max_radius)
            eps = comparison.table_epsilon
            cells = {
                "accuracy": (result.snapshot.test_accuracy, _percent, ""),
                "frobenius": (
                    result.snapshot.test_frobenius,
                    lambda v: format_number(v, 3),
                    "exact ‖J‖_F of the logits, averaged over the points",
                ),
                "boundary": (
                    distance,
                    lambda v, u=unreached: ("≥ " if u else "") + format_number(v, 3),
                    (
                        f"{unreached} point(s) have no other class within "
                        f"{format_number(comparison.max_radius, 3)} (the view's diagonal); they "
                        "count at that distance, so the mean is a lower bound."
                    )
                    if unreached
                    else "L2 distance from each point to the nearest input of another class",
                ),
                **{
                    f"pgd_{norm}": (
                        result.curves["pgd", norm][eps],
                        _percent,
                        f"{attack_description('pgd', norm)} {UPPER_BOUND}",
                    )
                    for norm in ("2", "inf")
                },
            }
            for row, key in enumerate(TABLE_ROWS):
                value, fmt, tip = cells[key]
                item = QTableWidgetItem(fmt(value))
                item.setData(Qt.ItemDataRole.UserRole, float(value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if tip:
                    item.setToolTip(tip)
                self.table.setItem(row, model, item)
        self._fit_table_height()

    def _show_curves(self, comparison: Comparison, names: list[str]) -> None:
        for (model, attack, norm), item in self.curves.items():
            curve = comparison.models[model].curves[attack, norm]
            item.setData(list(curve.keys()), list(curve.values()))
        self.curves_plot.setXRange(0.0, comparison.epsilons[-1], padding=0.03)
        for sample, name in zip(self._legend_models, names, strict=True):
            self.curves_legend.getLabel(sample).setText(name)

    # ---- the ε-ball ------------------------------------------------------------------------
    def _on_plane_point_picked(self, x: float, y: float) -> None:
        self.pick(x, y)

    def _on_epsilon_changed(self, _value: float) -> None:
        self._update_ball()

    def _update_ball(self) -> None:
        centre, eps = self._ball_centre, self.epsilon_spin.value()
        for plane in self.planes:
            plane.show_ball(centre, eps)
        comparison = self._comparison
        if centre is None or comparison is None:
            self.ball_reading = None
            return
        flips = []
        for result, network in zip(comparison.models, self._maps, strict=True):
            logits, jacobian = network.evaluate_with_jacobian(centre[np.newaxis])
            flips.append(
                (
                    flip_fraction(result.model, centre, eps, BALL_SAMPLES),
                    linearized_flip_fraction(logits[0], jacobian[0], eps, BALL_SAMPLES),
                )
            )
        self.ball_reading = BallReading(centre.copy(), eps, tuple(flips))
        where = ", ".join(format_number(float(c), 3) for c in centre)
        rows = "".join(
            f"<tr><td style='color:{MODEL_COLOURS[m]}'><b>{_lambda_name(r.config)}</b></td>"
            f"<td align='right'>{_percent(true)}</td>"
            f"<td align='right'>{_percent(linear)}</td></tr>"
            for m, (r, (true, linear)) in enumerate(zip(comparison.models, flips, strict=True))
        )
        self.ball_label.setText(
            f"Ball of radius {format_number(eps, 3)} around ({where}):"
            "<table cellspacing='6'><tr><td></td><td>flips</td>"
            f"<td>Jacobian predicts</td></tr>{rows}</table>"
        )

    # ---- the estimator ---------------------------------------------------------------------
    def _on_n_proj_changed(self, _value: int) -> None:
        self._update_estimator()

    def _update_estimator(self) -> None:
        comparison = self._comparison
        if comparison is None:
            return
        n_proj = self.n_proj_spin.value()
        spread = estimator_spread(comparison.regularized.test_jacobians, n_proj, ESTIMATOR_DRAWS)
        self.estimator_reading = spread
        errors = spread.relative_errors
        reach = float(np.max(np.abs(errors))) if errors.size else 1.0
        counts, edges = np.histogram(errors, bins=_HISTOGRAM_BINS, range=(-reach, reach))
        self.histogram.setData(edges, counts)
        self.estimator_plot.setXRange(-reach, reach, padding=0.02)
        trained = comparison.regularized.config
        how = (
            f"trained with {trained.n_proj} random projection(s)"
            if trained.estimator == "random"
            else "trained with the exact ‖J‖²_F"
        )
        self.estimator_label.setText(
            f"mean {spread.mean:+.3f}, std {spread.std:.3f} (predicted {spread.predicted_std:.3f})"
        )
        self.estimator_label.setToolTip(
            f"{ESTIMATOR_DRAWS} estimates of ‖J‖²_F at each of {spread.points} points with "
            f"{n_proj} projection(s) each, relative to the exact value.\nUnbiased: the mean is "
            "about 0. For 2 inputs the std is √(mean c² / (2·n_proj)), c = (σ₁² − σ₂²)/(σ₁² + σ₂²)"
            f":\nit falls like 1/√n_proj. The model was {how}."
        )

    # ---- helpers ---------------------------------------------------------------------------
    def _set_progress(self, fraction: float, visible: bool) -> None:
        self.progress.setValue(round(_PROGRESS_STEPS * fraction))
        self.progress.setVisible(visible)

    def _say(self, message: str) -> None:
        self.status_label.setText(message)
        self.status_label.setToolTip(message)
        self.sigStatus.emit(message)
