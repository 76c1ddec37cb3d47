"""The lab's Compare section: the same classifier trained with and without Jacobian regularization.

:class:`CompareWidget` shows the λ = 0 and λ > 0 runs of one configuration side by side, on
the same colour scales: decision regions with the data, ‖J‖_F over the plane
(:mod:`~jacviz.gui.lab.compare_planes`), a table of clean accuracy, mean ‖J‖_F, distance to the
decision boundary and PGD accuracy, the ε-ball panel (:mod:`~jacviz.gui.lab.compare_table`),
and accuracy-vs-ε curves for FGSM and PGD in L2 and L∞ with the random-projection estimator's
spread (:mod:`~jacviz.gui.lab.compare_curves`). Accuracies under attack are upper bounds: an
attack can miss errors, never invent them. Clicking a plane places an ε-ball there and
compares, for each model, the share of the ball whose class flips with what the Jacobian
predicts to first order.

The widget is a view: it draws what its
:class:`~jacviz.gui.lab.compare_controller.CompareController` hands it and turns clicks and
spin boxes into the controller's intents. The lab window calls the controller's
:meth:`~jacviz.gui.lab.compare_controller.CompareController.compare` and listens to its
signals.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common import style
from jacviz.gui.lab.compare_controller import CompareController
from jacviz.gui.lab.compare_curves import EstimatorView, RobustnessCurves
from jacviz.gui.lab.compare_planes import ComparePlane, ComparePlanes
from jacviz.gui.lab.compare_style import MODEL_COLOURS, UPPER_BOUND, attack_description
from jacviz.gui.lab.compare_table import TABLE_ROWS, BallPanel, CompareTable
from jacviz.nets.comparison import Comparison, EstimatorSpread
from jacviz.nets.datasets import Dataset
from jacviz.state.compare import BallReading, CompareState, divergences, log_ticks

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

_PROGRESS_STEPS = 1000

EMPTY_STATE = (
    "No comparison yet.\n\nPress Compare (Ctrl+K) to train the Train tab's model twice from "
    "the same initial weights and batches, with λ = 0 and with its λ > 0. Their decision "
    "regions, ‖J‖F, accuracy under attack and ε-balls then appear here, side by side."
)
"""What the Compare tab shows before its first comparison."""


class CompareWidget(QWidget):
    """The Compare tab's views of λ = 0 and λ > 0, side by side, driven by a controller.

    Parameters
    ----------
    controller : CompareController, optional
        Whose comparisons to show; by default one of its own. Closing the widget on its own
        (not as a tab) shuts it down.

    Attributes
    ----------
    controller : CompareController
        Runs the comparisons and readings; tests drive the tab through it.
    planes, region_planes, frobenius_planes : tuple of ComparePlane
        All four planes; the regions ones; the ‖J‖_F ones (λ = 0 first).
    table : CompareTable
        The numbers of both models.

    """

    def __init__(self, controller: CompareController | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller if controller is not None else CompareController(self)
        self._comparison: Comparison | None = None
        self._build()
        self._connect()

    def table_value(self, row: str, model: int) -> float:
        """The number behind a table cell: ``row`` from :data:`TABLE_ROWS`, model 0 or 1."""
        return self.table.value(row, model)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the widget on its own (not as a tab) also waits for the controller's jobs."""
        self.controller.shutdown()
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

        self.plane_grid = ComparePlanes()
        self.planes = self.plane_grid.planes
        self.region_planes = self.plane_grid.region_planes
        self.frobenius_planes = self.plane_grid.frobenius_planes
        self.table = CompareTable()
        self.ball_panel = BallPanel()
        self.epsilon_spin = self.ball_panel.epsilon_spin
        self.ball_label = self.ball_panel.ball_label
        self.robustness = RobustnessCurves()
        self.curves, self.curves_plot = self.robustness.curves, self.robustness.plot
        self.estimator = EstimatorView()
        self.n_proj_spin = self.estimator.n_proj_spin
        self.histogram, self.estimator_label = self.estimator.histogram, self.estimator.label

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.table)
        side_layout.addWidget(self.ball_panel)
        side_layout.addWidget(self.robustness, 3)
        side_layout.addWidget(self.estimator, 2)
        # The column scrolls instead of growing: a comparison's numbers and an ε-ball's
        # reading make it taller, and a taller minimum would make the window resize itself.
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(side)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scrollbar = self.side_scroll.verticalScrollBar().sizeHint().width()
        self.side_scroll.setMinimumWidth(side.minimumSizeHint().width() + scrollbar)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plane_grid)
        splitter.addWidget(self.side_scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        # Until the first comparison starts, a note on what to do instead of empty plots.
        self.empty_state = QLabel(EMPTY_STATE)
        self.empty_state.setWordWrap(True)
        self.empty_state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_state.setStyleSheet(f"color: {style.GREY}; font-size: 13pt; padding: 24px")
        self.results = splitter
        self.results.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.divergence_label)
        layout.addWidget(self.empty_state, 1)
        layout.addWidget(splitter, 1)

    def _connect(self) -> None:
        controller = self.controller
        self.stop_button.clicked.connect(self._on_stop_clicked)
        self.plane_grid.sigPointPicked.connect(controller.pick)
        self.epsilon_spin.valueChanged.connect(controller.set_epsilon)
        self.n_proj_spin.valueChanged.connect(controller.set_n_proj)
        controller.sigRunningChanged.connect(self._on_running_changed)
        controller.sigStarted.connect(self._on_started)
        controller.sigProgress.connect(self._on_progress)
        controller.sigComparisonChanged.connect(self._on_comparison_changed)
        controller.sigStateChanged.connect(self._on_state_changed)
        controller.sigBallRead.connect(self._on_ball_read)
        controller.sigEstimatorRead.connect(self._on_estimator_read)
        controller.sigStatus.connect(self._on_status)

    # ---- controller output -----------------------------------------------------------------
    def _on_stop_clicked(self) -> None:
        self.stop_button.setEnabled(False)
        self.controller.stop()

    def _on_running_changed(self, running: bool) -> None:
        self.stop_button.setEnabled(running)
        if not running:
            self.progress.setValue(0)
        self.progress.setVisible(running)

    def _on_started(self, dataset: Dataset) -> None:
        self.empty_state.setVisible(False)
        self.results.setVisible(True)
        self.plane_grid.show_data(dataset)

    def _on_progress(self, fraction: float) -> None:
        self.progress.setValue(round(_PROGRESS_STEPS * fraction))

    def _on_comparison_changed(self, comparison: Comparison) -> None:
        first = self._comparison is None
        self._comparison = comparison
        self.plane_grid.show_comparison(comparison)
        self.table.show_comparison(comparison)
        self.robustness.show_comparison(comparison)
        if first:
            self.ball_panel.show_epsilon(comparison.table_epsilon, comparison.epsilons[1])
        lines = divergences(comparison)
        self.divergence_label.setText("<br>".join(lines))
        self.divergence_label.setVisible(bool(lines))

    def _on_state_changed(self, state: CompareState) -> None:
        self.ball_panel.show_epsilon(state.eps)
        self.estimator.show_n_proj(state.n_proj)
        self.plane_grid.show_ball(state.centre, state.eps)

    def _on_ball_read(self, reading: BallReading) -> None:
        if self._comparison is not None:
            self.ball_panel.show_reading(reading, self._comparison)

    def _on_estimator_read(self, spread: EstimatorSpread) -> None:
        if self._comparison is not None:
            self.estimator.show_reading(spread, self._comparison)

    def _on_status(self, message: str) -> None:
        self.status_label.setText(message)
        self.status_label.setToolTip(message)
