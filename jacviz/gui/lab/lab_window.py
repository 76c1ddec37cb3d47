"""The Jacobian regularization lab: a window to train small classifiers and watch.

Four tabs. *Train*: data and model settings on the left, the data over the model's decision
regions (or its ‖J‖_F) in the middle, live training curves on the right. *Compare*: the same
model trained with λ = 0 and with λ > 0. *Sweep λ*: many (λ, seed) runs, their accuracy,
robustness and ‖J‖_F against λ. *Plane through three inputs*: models of data with more than
two inputs (the 8×8 digits, an ``.npz`` of the user's) on the plane through three of them.

The window only wires widgets to the
:class:`~jacviz.gui.lab.lab_controller.LabController` and opens file dialogs; the controller
owns the state and the training thread, the
:class:`~jacviz.gui.lab.compare_controller.CompareController` the Compare tab's, and the
Sweep and Plane pages their own workers; closing the window stops and waits for them all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QEvent, Qt
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PyQt6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common import style
from jacviz.gui.common.export import ExportError, Figure
from jacviz.gui.common.export_dialog import FigureExporter
from jacviz.gui.common.panels import side_panel
from jacviz.gui.common.screen import fit_to_screen
from jacviz.gui.lab.compare import CompareWidget
from jacviz.gui.lab.compare_controller import CompareController
from jacviz.gui.lab.curves import CurvesView
from jacviz.gui.lab.dataset_panel import DatasetPanel
from jacviz.gui.lab.lab_controller import LabController, LabState
from jacviz.gui.lab.lab_files import MOVIE_FRAMES, LabFiles
from jacviz.gui.lab.plane_page import PlanePage
from jacviz.gui.lab.regions_view import RegionsView
from jacviz.gui.lab.sweep_page import SweepPage
from jacviz.gui.lab.training_panel import ModelSummary, RunControls, TrainingPanel
from jacviz.nets.datasets import Dataset
from jacviz.nets.fields import DISPLAYS
from jacviz.nets.sweep import SweepModel
from jacviz.nets.training import Snapshot

LAB_VIEWS = {
    "regions": "Data and decision regions (or ‖J‖F)",
    "curves": "Training curves",
    "comparison": "Comparison of λ = 0 and λ > 0",
    "sweep": "λ sweep plots",
    "plane": "Plane through three inputs",
    "window": "Whole window",
}
"""The views File → Export figure… offers in the lab: key → name."""

PREFERRED_SIZE = (1400, 856)
"""The lab's size where the screen has room; smaller screens get their available area."""

SAVE_MODEL_SHORTCUT = "Ctrl+Shift+M"
"""Save model…'s shortcut: Ctrl+S saves the session, in the lab as in the main window."""

_BANNER = (
    f"QLabel {{ background: #FBE3D6; color: #7A2E00; border: 1px solid {style.VERMILLION};"
    " border-radius: 3px; padding: 6px; font-weight: bold; }"
)


class LabWindow(QMainWindow):
    """The regularization lab window.

    Parameters
    ----------
    open_network : callable, optional
        Called with the path of a saved network file when the user asks to open the trained
        model in the map view (e.g. ``MainWindow.open_network``). Without it, that button is
        hidden.
    state : LabState, optional
        The settings to start from (default :data:`~jacviz.state.lab.LAB_START`: two moons,
        a 32-32 tanh MLP, Adam, λ = 0.05, so that Compare works at once).
    save_session : callable, optional
        Called by File → Save session (Ctrl+S, as in the main window), e.g. the main
        window's. Without it, the lab has no such item.
    parent : QWidget, optional
        Usually None: the lab is a top-level window of its own.

    Attributes
    ----------
    tabs : QTabWidget
        The window's sections: "Train", "Compare" (:attr:`compare_page`), "Sweep λ"
        (:attr:`sweep_page`) and "Plane through three inputs" (:attr:`plane_page`).
    compare : CompareWidget
        The comparison of λ = 0 with the Train tab's λ; :meth:`start_compare` runs it.
    controller : LabController
        State, data, training run; tests and benchmarks read it (e.g. ``regions_refresh_hz``).
    compare_controller : CompareController
        The Compare tab's state and jobs (the comparison, the ε-ball, the estimator view).

    """

    def __init__(
        self,
        open_network: Callable[[str], object] | None = None,
        state: LabState | None = None,
        parent: QWidget | None = None,
        save_session: Callable[[], object] | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("jacviz — Jacobian regularization lab")
        self._open_network = open_network
        self._save_session = save_session
        # Status messages about a setting, cleared once the state that produced them changed.
        self._stale_message = ""
        self._shown_state: LabState | None = None
        self.controller = LabController(state, self)
        self.compare_controller = CompareController(self)
        self.data_panel = DatasetPanel()
        self.training_panel = TrainingPanel()
        self.run_controls = RunControls()
        self.summary = ModelSummary()
        self.regions_view = RegionsView()
        self.files = LabFiles(self, self.controller, self.regions_view, open_network)
        self.curves = CurvesView()
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(_BANNER)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setVisible(False)
        self.display = QComboBox()
        for key, label in DISPLAYS.items():
            self.display.addItem(label, key)
        self.display.setToolTip("What the plane shows of the current model")
        self.summary.open_in_map_view.setVisible(open_network is not None)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabBarAutoHide(True)  # one section needs no tab bar
        self.tabs.addTab(self._build_train_page(), "Train")
        self.compare = CompareWidget(self.compare_controller)
        self.compare_page = self._build_compare_page()
        self.tabs.addTab(self.compare_page, "Compare λ = 0 and λ > 0")
        self.sweep_page = SweepPage(self.controller.dataset, self.controller.config)
        self.tabs.addTab(self.sweep_page, "Sweep λ")
        self.plane_page = PlanePage()
        self.tabs.addTab(self.plane_page, "Plane through three inputs")
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self._connect()
        fit_to_screen(self, PREFERRED_SIZE)
        self.controller.refresh()

    # ---- construction --------------------------------------------------------------------------
    def _build_train_page(self) -> QWidget:
        scroll = side_panel([self.data_panel, self.training_panel], 330)

        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        top_row = QHBoxLayout()
        top_row.addWidget(self.run_controls, 1)
        top_row.addSpacing(12)
        top_row.addWidget(QLabel("Show"))
        top_row.addWidget(self.display)
        middle_layout.addLayout(top_row)
        middle_layout.addWidget(self.banner)
        middle_layout.addWidget(self.regions_view, 1)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.curves, 1)
        right_layout.addWidget(self.summary)

        splitter = QSplitter()
        splitter.addWidget(scroll)
        splitter.addWidget(middle)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([340, 700, 420])
        return splitter

    def _build_compare_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        row = QHBoxLayout()
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip(
            "Train the Train tab's model twice from the same initial weights and batches, "
            "with λ = 0 and with its λ, and compare them (Ctrl+K)"
        )
        self.compare_button.clicked.connect(self.start_compare)
        row.addWidget(self.compare_button)
        self.compare_note = QLabel()
        self.compare_note.setWordWrap(True)
        row.addWidget(self.compare_note, 1)
        layout.addLayout(row)
        layout.addWidget(self.compare, 1)
        return page

    def figure(self, view: str) -> Figure:
        """The figure of ``view``, a key of :data:`LAB_VIEWS`, for File → Export figure….

        A view on the other tab is brought on screen first, so the figure is what it shows.
        """
        if view not in LAB_VIEWS:
            raise ExportError(f"no view {view!r}; choose from {', '.join(LAB_VIEWS)}")
        pages = {
            "comparison": self.compare_page,
            "sweep": self.sweep_page,
            "plane": self.plane_page,
        }
        page = pages.get(view, self.tabs.widget(0))
        if view != "window" and self.tabs.currentWidget() is not page:
            self.tabs.setCurrentWidget(page)
            # The tab was hidden: let it lay itself out before drawing.
            QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        if view == "plane":
            return self.plane_page.figure()
        body = {
            "regions": self.regions_view,
            "curves": self.curves,
            "comparison": self.compare,
            "sweep": self.sweep_page.plots,
        }.get(view, self.centralWidget())
        return Figure(body, title=f"jacviz lab: {LAB_VIEWS[view].lower()}")

    def export_training_animation(self, frames: int = MOVIE_FRAMES) -> Path | None:
        """Save the current run, replayed from step 0, as an animation the user names."""
        return self.files.export_training_animation(frames)

    def start_compare(self) -> bool:
        """Compare the current data and settings with λ = 0 (False, saying why, if it cannot)."""
        config = self.controller.config
        if config is None:
            self._show_stale_message("Fix the model settings in the Train tab first.")
            return False
        if not config.regularized:
            self._show_stale_message(
                "Set λ > 0 in the Train tab: the comparison is λ = 0 against that λ."
            )
            return False
        self.tabs.setCurrentWidget(self.compare_page)
        return self.compare_controller.compare(self.controller.dataset, config)

    def _build_menus(self) -> None:
        # Slots are wrapped in lambdas: ``triggered`` passes ``checked``, which a slot with an
        # optional argument would take for it (Export training animation filmed 0 frames).
        menu = self.menuBar().addMenu("&File")
        items: list[tuple[str, str | None, Callable[[], object]]] = []
        if self._save_session is not None:  # Ctrl+S saves the session in every window
            items.append(("Save session", "Ctrl+S", self._save_session))
        items += [
            ("Load points (CSV)…", None, self.files.load_points),
            ("Save points (CSV)…", None, self.files.save_points),
            ("Save model…", SAVE_MODEL_SHORTCUT, self.files.save_model),
            ("Open data (.npz)…", None, self.open_plane_data),
        ]
        for text, shortcut, slot in items:
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(lambda _checked=False, slot=slot: slot())
            menu.addAction(action)
        movie = QAction("Export training animation…", self)
        movie.setToolTip("The run's decision regions from step 0 to the end, as GIF or MP4")
        movie.triggered.connect(lambda: self.export_training_animation())
        menu.addAction(movie)
        if self._open_network is not None:
            action = QAction("Open model in map view", self)
            action.triggered.connect(lambda: self.open_in_map_view())
            menu.addAction(action)
        self.figures = FigureExporter(self, LAB_VIEWS, self.figure, name="lab")
        self.figures.sigStatus.connect(self.statusBar().showMessage)
        self.figures.sigProblem.connect(lambda _title, message: self._on_problem(message))
        self.figures.add_actions(menu, self.menuBar().addMenu("&Edit"))
        menu.addSeparator()
        close = QAction("Close", self)
        close.setShortcut(QKeySequence.StandardKey.Close)
        close.triggered.connect(self.close)
        menu.addAction(close)
        training = self.menuBar().addMenu("&Training")
        for text, shortcut, slot in (
            ("Play / pause", "Ctrl+P", self._on_play_clicked),
            ("Step", "Ctrl+Right", self._on_step_clicked),
            ("Reset", "Ctrl+R", self._on_reset_clicked),
            ("Compare with λ = 0", "Ctrl+K", self.start_compare),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _checked=False, slot=slot: slot())
            training.addAction(action)

    def _connect(self) -> None:
        controller, data, training = self.controller, self.data_panel, self.training_panel
        run, summary = self.run_controls, self.summary
        controller.sigStateChanged.connect(self._on_state_changed)
        controller.sigDatasetChanged.connect(self._on_dataset_changed)
        controller.sigFrameChanged.connect(self.regions_view.show_frame)
        controller.sigSnapshotChanged.connect(self._on_snapshot_changed)
        controller.sigCurvesChanged.connect(self.curves.show_curves)
        controller.sigFieldChanged.connect(self.regions_view.show_field)
        controller.sigRunningChanged.connect(self._on_running_changed)
        controller.sigProblem.connect(self._on_problem)
        controller.sigStatus.connect(self.statusBar().showMessage)
        self.compare_controller.sigStatus.connect(self.statusBar().showMessage)
        self.sweep_page.sigStatus.connect(self.statusBar().showMessage)
        self.sweep_page.sigOpenModel.connect(self.open_sweep_model)
        self.plane_page.sigStatus.connect(self.statusBar().showMessage)
        controller.sigDatasetChanged.connect(self.sweep_page.set_lab_data)
        controller.sigStateChanged.connect(lambda _s: self.sweep_page.set_config(controller.config))
        data.sigSettingsEdited.connect(controller.set_data_settings)
        data.sigClassSelected.connect(controller.select_class)
        data.new_data.clicked.connect(controller.new_data)
        data.load_csv.clicked.connect(self.files.load_points)
        data.save_csv.clicked.connect(self.files.save_points)
        training.sigSettingsEdited.connect(controller.set_model_settings)
        run.play.clicked.connect(self._on_play_clicked)
        run.step.clicked.connect(self._on_step_clicked)
        run.reset.clicked.connect(self._on_reset_clicked)
        summary.save_model.clicked.connect(self.files.save_model)
        summary.open_in_map_view.clicked.connect(self.open_in_map_view)
        self.regions_view.sigAddPoint.connect(controller.add_point)
        self.regions_view.sigRemovePoint.connect(controller.remove_point)
        self.regions_view.sigViewChanged.connect(controller.set_view_domain)
        self.display.currentIndexChanged.connect(
            lambda index: controller.set_display(self.display.itemData(index))
        )
        self.tabs.currentChanged.connect(lambda _index: self._drop_stale_message())

    # ---- measurements ------------------------------------------------------------------------
    @property
    def regions_refresh_hz(self) -> float:
        """Pictures of the model drawn per second during the last Play (NaN before any)."""
        return self.controller.regions_refresh_hz

    @property
    def steps_per_second(self) -> float:
        """Training steps per second of wall time during the last Play (NaN before any)."""
        return self.controller.steps_per_second

    # ---- user actions --------------------------------------------------------------------------
    def _apply_typed_settings(self) -> None:
        """Use what the fields show, even if the field being typed in has not lost focus."""
        self.controller.set_model_settings(self.training_panel.settings())

    def _on_play_clicked(self) -> None:
        if self.controller.running:
            self.controller.pause()
            return
        self._apply_typed_settings()
        self.controller.play()

    def _on_step_clicked(self) -> None:
        self._apply_typed_settings()
        self.controller.step()

    def _on_reset_clicked(self) -> None:
        self._apply_typed_settings()
        self.controller.reset()
        self.statusBar().showMessage("Reset to the untrained model (step 0).")

    def open_in_map_view(self) -> None:
        """Show the trained model in the map view, saving it first if it has changed."""
        self.files.open_in_map_view()

    def open_plane_data(self) -> None:
        """File → Open data…: an ``.npz`` of X (N×d), y and an optional split, on the Plane tab."""
        self.tabs.setCurrentWidget(self.plane_page)
        self.plane_page.open_npz()

    def open_sweep_model(self, model: SweepModel) -> None:
        """Open a sweep run's model where it can be seen.

        A model of more than two inputs goes to the Plane tab (against λ = 0 of its seed); a
        2D one is saved where the user says and opened in the map view.
        """
        if model.inputs > 2:
            if self.plane_page.show_run(model):
                self.tabs.setCurrentWidget(self.plane_page)
                partner = ", beside λ = 0 of its seed (trained here)" if model.jr_lambda else ""
                self.statusBar().showMessage(f"Showing {model.label} on the plane{partner}.")
            return
        if self._open_network is None:
            self.statusBar().showMessage(
                "To see a 2D model in the map view, open the lab from the main window "
                "(Lab → Jacobian regularization lab); Save model… here keeps it."
            )
            return
        path = self.sweep_page.ask_save_chosen()
        if path:
            self._open_network(path)
            self.statusBar().showMessage(f"Opened {Path(path).name} in the map view.")

    # ---- controller output ---------------------------------------------------------------------
    def _show_stale_message(self, message: str) -> None:
        """Show a message about the current settings; it goes when they or the tab change."""
        self._stale_message = message
        self.statusBar().showMessage(message)

    def _drop_stale_message(self) -> None:
        if self._stale_message and self.statusBar().currentMessage() == self._stale_message:
            self.statusBar().clearMessage()
        self._stale_message = ""

    def _show_compare_readiness(self) -> None:
        """Compare is enabled only for settings it can compare; the note says what to do."""
        config = self.controller.config
        ready = config is not None and config.regularized
        self.compare_button.setEnabled(ready)
        if config is None:
            note = "Fix the model settings in the Train tab to compare."
        elif ready:
            note = (
                "the Train tab's data and model, trained with λ = 0 and with "
                f"λ = {config.jr_lambda:g}"
            )
        else:
            note = "Set λ > 0 in the Train tab: the comparison is λ = 0 against that λ."
        self.compare_note.setText(note)

    def _on_state_changed(self, state: LabState) -> None:
        # Only what changed: rewriting a panel would also overwrite a field being typed in.
        # The data panel is compared with what it shows, as refused data settings revert it.
        shown = self._shown_state
        self._shown_state = state
        if shown is not None and state != shown:
            self._drop_stale_message()
        self._show_compare_readiness()
        if self.data_panel.settings() != state.data:
            self.data_panel.show_settings(state.data)
        if shown is None or state.selected_class != shown.selected_class:
            self.data_panel.show_selected_class(state.selected_class)
        if shown is None or state.model != shown.model:
            self.training_panel.show_settings(state.model)
        if shown is None or state.display != shown.display:
            self.display.blockSignals(True)
            self.display.setCurrentIndex(self.display.findData(state.display))
            self.display.blockSignals(False)

    def _on_dataset_changed(self, dataset: Dataset) -> None:
        self.data_panel.show_dataset(dataset)
        self.data_panel.show_selected_class(self.controller.state.selected_class)
        self.regions_view.show_dataset(dataset)

    def _on_snapshot_changed(self, snapshot: Snapshot | None) -> None:
        run = self.controller.run
        # A run's first model is being prepared (a restored session's, at its saved step):
        # show that step, busy, with Play and Step off until the model is there.
        preparing = snapshot is None and run is not None and run.first_step > 0
        if preparing:
            self.run_controls.show_preparing(run.first_step, run.config.steps)
        else:
            self.run_controls.show_progress(snapshot, self.controller.state.model.steps)
        self.summary.show_snapshot(snapshot)
        running = self.controller.running
        finished = snapshot is not None and snapshot.done and not running
        self.run_controls.play.setEnabled(not finished and not preparing)
        self.run_controls.step.setEnabled(not finished and not running and not preparing)

    def _on_running_changed(self, running: bool) -> None:
        self.run_controls.show_running(running)
        self._on_snapshot_changed(self.controller.snapshot)

    def _on_problem(self, message: str) -> None:
        self.banner.setText(message)
        self.banner.setVisible(bool(message))
        if message:
            self.statusBar().clearMessage()  # "Training…" would contradict the banner

    # ---- closing and showing again ---------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        """Take up work again if the window was closed before (its run is kept, paused)."""
        self.controller.resume()
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop training and wait for the worker thread before the window goes.

        The run is kept, paused: shown again, the window has the same model and can go on.
        A comparison in progress is stopped too (the tab gets no close event of its own).
        """
        self.controller.shutdown()
        self.compare_controller.shutdown()
        self.sweep_page.shutdown()
        self.plane_page.shutdown()
        super().closeEvent(event)
