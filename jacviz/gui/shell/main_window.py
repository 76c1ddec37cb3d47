"""The jacviz window: editor and inspector on the left, input and output planes side by side."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QEvent, QSettings, Qt
from PyQt6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QShortcut,
)
from PyQt6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common.animation import export_animation
from jacviz.gui.common.export import ExportError, Figure, figure_image
from jacviz.gui.common.export_dialog import FigureExporter
from jacviz.gui.lab.lab_window import LabWindow
from jacviz.gui.mapview.controller import Controller
from jacviz.gui.mapview.editor import MapEditor
from jacviz.gui.mapview.inspector import Inspector
from jacviz.gui.mapview.layer_view import LEGEND as LAYER_LEGEND
from jacviz.gui.mapview.layer_view import LayerView
from jacviz.gui.mapview.layers_panel import LayersPanel
from jacviz.gui.mapview.planes import InputPlane, OutputPlane, legend_html
from jacviz.gui.shell.sessions import SessionKeeper
from jacviz.math.jacobian import HEATMAP_QUANTITIES
from jacviz.math.presets import PRESETS
from jacviz.nets.networks import example_files
from jacviz.nets.views import SliceMap
from jacviz.state.session import SESSION_SUFFIX
from jacviz.state.view import CLASSES, ViewState

MORPH_STEPS = 100
MORPH_FRAMES = 48
"""Frames of the morph animation from t = 0 to t = 1 (2 s at 24 frames per second)..."""
MORPH_HOLD = 12
"""...then this many at t = 1, so the map stays on screen before the animation loops."""
NUDGE_FRACTION = 0.01
"""Arrow keys move the probe by this fraction of the domain's width and height."""
H_FACTOR = 1.25
"""[ and ] shrink and grow the square by this factor."""
FIGURE_VIEWS = {
    "input": "Input plane",
    "output": "Output plane",
    "layers": "Inside the network",
    "window": "Whole window",
}
"""The views File → Export figure… offers (:meth:`MainWindow.figure`): key → name."""

SHORTCUTS = (
    ("Ctrl+O", "open a network file"),
    ("Ctrl+S / Ctrl+Shift+S", "save the session (map and lab) / save it as a new file"),
    ("Ctrl+Shift+O", "open a saved session"),
    ("Ctrl+L", "edit the formula"),
    ("Arrow keys", "move the probe (with the input plane focused)"),
    ("[ and ]", "shrink / grow the square h"),
    (
        "Ctrl+0 … Ctrl+7",
        "heatmap: none, det, log|det|, σmax, σmin, condition, ‖J‖F, decision regions",
    ),
    ("Home", "frame both planes again"),
    ("Ctrl+E", "export a figure (PNG, SVG, PDF)"),
    ("Ctrl+Shift+C", "copy the figure last exported to the clipboard"),
    ("Ctrl+T", "open the Jacobian regularization lab (train classifiers)"),
    ("Ctrl+Q", "quit"),
)


SETTINGS_KEY = "state/view"
"""Where the last view state is kept in the settings: one line of JSON (``ViewState.to_json``)."""


def state_from_settings(settings: QSettings) -> ViewState:
    """The last session's view state, or the default one if anything stored is unusable.

    Read by the rules a session's view is read by (:meth:`ViewState.from_json`: types,
    ranges, plain decimal numbers only). The formula is the app's own (it was accepted before
    it was saved); the controller parses it, and falls back to the default formula if it does
    not parse. A network is opened off the GUI thread, as any network file is.
    """
    text = settings.value(SETTINGS_KEY)
    if not isinstance(text, str):
        return ViewState()
    try:
        return ViewState.from_json(text)
    except ValueError:
        return ViewState()


def save_state_to_settings(settings: QSettings, state: ViewState) -> None:
    """Remember ``state`` for the next start."""
    settings.setValue(SETTINGS_KEY, state.to_json())


class _InputPlaneWithKeys(InputPlane):
    """The input plane, plus arrow keys that nudge the probe."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self._window = window
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def keyPressEvent(self, event: object) -> None:
        """Arrow keys move the probe by 1 % of the domain."""
        steps = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, 1),
            Qt.Key.Key_Down: (0, -1),
        }.get(event.key())
        if steps is None:
            super().keyPressEvent(event)
            return
        self._window.nudge_probe(*steps)


class MainWindow(QMainWindow):
    """The app window. ``settings`` stores geometry and the last map (QSettings)."""

    def __init__(self, state: ViewState | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setAcceptDrops(True)
        self.problem: QMessageBox | None = None
        self._shown_state: ViewState | None = None
        self.settings = settings if settings is not None else QSettings("jacviz", "jacviz")
        if state is None:
            state = state_from_settings(self.settings)
        self.controller = Controller(state, self)
        self.lab_window: LabWindow | None = None
        self.sessions = SessionKeeper(self, self.settings)
        self.editor = MapEditor()
        self.inspector = Inspector()
        self.layers = LayersPanel()
        self.layer_view = LayerView()
        self.input_plane = _InputPlaneWithKeys(self)
        self.output_plane = OutputPlane()
        self.morph = QSlider(Qt.Orientation.Horizontal)
        self.morph.setRange(0, MORPH_STEPS)
        self.morph.setToolTip(
            "Morph: the output plane shows (1 − t)·p + t·f(p); slide to watch the identity\n"
            "deform into the map."
        )
        self._build_layout()
        self._build_menus()
        self._connect()
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 860)
        self.statusBar().showMessage(
            "Click or drag in the input plane to move the probe; hover to see where a point goes."
        )
        self.controller.refresh()

    # ---- construction --------------------------------------------------------------------------
    def _build_layout(self) -> None:
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.editor)
        side_layout.addWidget(QLabel("<b>At the probe point p</b>"))
        side_layout.addWidget(self.inspector)
        side_layout.addWidget(self.layers)
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(390)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        output = QWidget()
        output_layout = QVBoxLayout(output)
        output_layout.setContentsMargins(0, 0, 0, 0)
        output_layout.addWidget(self.output_plane, 1)
        legend = QLabel(legend_html())
        legend.setToolTip(self.output_plane.toolTip())
        output_layout.addWidget(legend)
        self.morph_label = QLabel()
        output_layout.addWidget(self.morph_label)
        output_layout.addWidget(self.morph)

        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(output, "Output plane")
        self.right_tabs.addTab(self.layer_view, "Inside the network")
        self.right_tabs.setTabToolTip(
            1, "The input grid in the space of each layer of an MLP (Linear + activations)"
        )
        self.right_tabs.setTabEnabled(1, False)

        splitter = QSplitter()
        splitter.addWidget(scroll)
        splitter.addWidget(self.input_plane)
        splitter.addWidget(self.right_tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([390, 560, 560])
        self.setCentralWidget(splitter)

        # Shown while a network, formula or session's map is prepared in the background.
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop opening it (Esc); the map on screen stays")
        self.cancel_button.clicked.connect(self.controller.cancel_loading)
        self.cancel_button.setVisible(False)
        self.statusBar().addPermanentWidget(self.cancel_button)
        cancel = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        cancel.activated.connect(self.controller.cancel_loading)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.setToolTipsVisible(True)
        self.sessions.add_actions(file_menu)
        file_menu.addSeparator()
        open_network = file_menu.addAction("Open &network…")
        open_network.setShortcut(QKeySequence.StandardKey.Open)
        open_network.setToolTip("Load a network saved as jacviz MLP, TorchScript or torch.export")
        open_network.triggered.connect(self._choose_network)
        file_menu.addSeparator()
        self.figures = FigureExporter(
            self, FIGURE_VIEWS, self.figure, self.settings, self.figure_available
        )
        self.figures.sigProblem.connect(self._show_problem)
        self.figures.sigStatus.connect(self.statusBar().showMessage)
        self.figures.add_actions(file_menu, menu.addMenu("&Edit"))
        movie = file_menu.addAction("Export &morph animation…")
        movie.setToolTip(
            "The output plane as t goes from 0 (identity) to 1 (the map), as GIF or MP4"
        )
        movie.triggered.connect(self.export_morph_animation)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        presets_menu = menu.addMenu("&Presets")
        for entry in PRESETS:
            action = presets_menu.addAction(entry.name)
            action.setToolTip(entry.note)
            action.triggered.connect(lambda _=False, e=entry: self.controller.load_preset(e))
        presets_menu.setToolTipsVisible(True)

        self.examples_menu = menu.addMenu("&Examples")
        self.examples_menu.setToolTipsVisible(True)
        for path in example_files():
            action = self.examples_menu.addAction(path.stem.replace("_", " "))
            action.setToolTip(f"Open the example network {path.name}")
            action.triggered.connect(lambda _=False, p=path: self.request_network(str(p)))
        if self.examples_menu.isEmpty():
            none = self.examples_menu.addAction("No example networks (they ship with the source)")
            none.setEnabled(False)

        view_menu = menu.addMenu("&View")
        focus = view_menu.addAction("Edit formula")
        focus.setShortcut("Ctrl+L")
        focus.triggered.connect(self._focus_formula)
        heatmaps = QActionGroup(self)
        self.heatmap_actions: dict[str | None, QAction] = {}
        choices = [(None, "no heatmap"), *HEATMAP_QUANTITIES.items(), (CLASSES, "decision regions")]
        for index, (key, label) in enumerate(choices):
            action = view_menu.addAction(f"Heatmap: {label}")
            action.setCheckable(True)
            action.setShortcut(f"Ctrl+{index}")
            action.triggered.connect(lambda _=False, k=key: self.controller.set_heatmap(k))
            heatmaps.addAction(action)
            self.heatmap_actions[key] = action
        view_menu.addSeparator()
        smaller = view_menu.addAction("Smaller square h")
        smaller.setShortcut("[")
        smaller.triggered.connect(lambda: self.controller.set_h(self.controller.state.h / H_FACTOR))
        larger = view_menu.addAction("Larger square h")
        larger.setShortcut("]")
        larger.triggered.connect(lambda: self.controller.set_h(self.controller.state.h * H_FACTOR))
        reframe = view_menu.addAction("Frame both planes")
        reframe.setShortcut("Home")
        reframe.triggered.connect(self._reframe)

        lab_menu = menu.addMenu("&Lab")
        lab_menu.setToolTipsVisible(True)
        lab = lab_menu.addAction("Jacobian regularization &lab…")
        lab.setShortcut("Ctrl+T")
        lab.setToolTip(
            "Train small classifiers on toy data, with and without Jacobian regularization, "
            "and compare their decision regions and robustness"
        )
        lab.triggered.connect(self.open_lab)

        help_menu = menu.addMenu("&Help")
        help_menu.addAction("Keyboard shortcuts").triggered.connect(self._show_shortcuts)
        help_menu.addAction("What am I looking at?").triggered.connect(self._show_explanation)

    def _connect(self) -> None:
        controller, editor = self.controller, self.editor
        editor.sigFormulaEdited.connect(controller.request_formula)
        editor.sigPresetChosen.connect(controller.load_preset)
        editor.sigDomainEdited.connect(controller.set_domain)
        editor.sigGridLinesEdited.connect(controller.set_grid_lines)
        editor.sigHEdited.connect(controller.set_h)
        editor.sigHeatmapChosen.connect(controller.set_heatmap)
        editor.sigProblem.connect(self.statusBar().showMessage)
        editor.sigSliceEdited.connect(controller.set_slice)
        editor.sigJacobianOfChosen.connect(controller.set_jacobian_of)
        editor.sigOutputViewChosen.connect(controller.set_output_view)
        self.layer_view.sigUnitsChosen.connect(controller.set_layer_units)
        self.layer_view.sigShownChanged.connect(controller.set_layer_path_shown)
        self.input_plane.sigPointPicked.connect(controller.set_probe)
        self.input_plane.sigHovered.connect(controller.hover)
        self.input_plane.sigHoverLeft.connect(controller.hover_left)
        self.morph.valueChanged.connect(lambda v: controller.set_morph(v / MORPH_STEPS))

        controller.sigStateChanged.connect(self._on_state_changed)
        controller.sigGridChanged.connect(
            lambda grid: self.input_plane.show_grid(grid, controller.state.domain)
        )
        controller.sigGridChanged.connect(self.output_plane.show_grid)
        controller.sigGridChanged.connect(lambda _grid: self._show_plane_controls())
        controller.sigProbeChanged.connect(self.input_plane.show_linearization)
        controller.sigProbeChanged.connect(self.output_plane.show_linearization)
        controller.sigInspected.connect(self.inspector.show_linearization)
        controller.sigFactorsChanged.connect(self.layers.show_factors)
        controller.sigLayerImagesChanged.connect(self._on_layer_images)
        controller.sigLayerPathChanged.connect(self.layer_view.show_path)
        controller.sigHeatmapChanged.connect(self.input_plane.show_heatmap)
        controller.sigHoverChanged.connect(self.output_plane.show_hover)
        controller.sigFormulaError.connect(editor.show_formula_error)
        controller.sigFormulaError.connect(self._on_formula_error)
        controller.sigStatus.connect(self.statusBar().showMessage)
        controller.sigProblem.connect(self._show_problem)
        controller.sigLoading.connect(self._on_loading)
        self.sessions.sigProblem.connect(self._show_problem)
        self.sessions.sigStatus.connect(self.statusBar().showMessage)

    # ---- networks ------------------------------------------------------------------------------
    def request_network(self, path: str) -> None:
        """Open the network at ``path`` in the background (menus, drops, the command line).

        The map on screen stays until the network is loaded and tried; a network that cannot
        be shown gets a dialog saying why. Esc (or the status bar's Cancel) cancels.
        """
        self.controller.request_network(path)

    def open_network(self, path: str) -> bool:
        """Show the network at ``path`` and wait until it is (the window stays responsive).

        On failure a dialog says why and the map stays; returns True if it is shown.
        """
        return self.controller.open_network(path) is None

    def _on_loading(self, description: str) -> None:
        """Show what is being opened, with a way to cancel it, or hide that when done."""
        self.cancel_button.setVisible(bool(description))
        if description:
            self.statusBar().showMessage(f"{description} (Esc cancels)")

    def _show_problem(self, title: str, message: str) -> None:
        """Say what went wrong in a window-modal dialog that does not block the app."""
        self.problem = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self)
        self.problem.setWindowModality(Qt.WindowModality.WindowModal)
        self.problem.open()

    def _choose_network(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open network",
            "",
            "Networks (*.safetensors *.pt *.pth *.pt2 *.ts *.jit);;All files (*)",
        )
        if path:
            self.request_network(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept a dragged file, to open it as a session (``.jacviz``) or a network."""
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Open the dropped file: as a session if it is named ``.jacviz``, else as a network."""
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            if Path(files[0]).suffix.lower() == SESSION_SUFFIX:
                self.sessions.open_session(files[0])
            else:
                self.request_network(files[0])

    # ---- reactions -----------------------------------------------------------------------------
    def _on_state_changed(self, state: ViewState) -> None:
        previous, self._shown_state = self._shown_state, state
        if previous is not None and dataclasses.replace(previous, probe=state.probe) == state:
            return  # only the probe moved: the planes and inspector already show it
        self.editor.show_state(state)
        self.heatmap_actions[state.heatmap].setChecked(True)
        step = round(state.morph * MORPH_STEPS)
        if self.morph.value() != step:
            self.morph.blockSignals(True)
            self.morph.setValue(step)
            self.morph.blockSignals(False)
        self.output_plane.set_morph(state.morph)
        self.morph_label.setText(f"Morph t = {state.morph:.2f}:  (1 − t)·p + t·f(p)")

    def _on_layer_images(self, images: object) -> None:
        self.layer_view.show_images(images)
        self.right_tabs.setTabEnabled(1, images is not None)
        if images is None:
            self.right_tabs.setCurrentIndex(0)

    def _show_plane_controls(self) -> None:
        source = self.controller.source
        plane = (source.base, source.u, source.v) if isinstance(source, SliceMap) else None
        self.editor.show_slice(plane)
        self.editor.show_classes(source.output_dim if self.controller.is_classifier else None)

    def _on_formula_error(self, message: str, _column: int) -> None:
        if message:
            self.statusBar().showMessage(
                f"Formula not applied: {message}. Showing the last good map."
            )

    def nudge_probe(self, dx: int, dy: int) -> None:
        """Move the probe by ``dx``, ``dy`` steps of 1 % of the domain."""
        state = self.controller.state
        x = state.probe[0] + dx * NUDGE_FRACTION * state.domain.width
        y = state.probe[1] + dy * NUDGE_FRACTION * state.domain.height
        self.controller.set_probe(x, y)

    def _focus_formula(self) -> None:
        self.editor.formula.setFocus()
        self.editor.formula.selectAll()

    def _reframe(self) -> None:
        domain = self.controller.state.domain
        self.input_plane.frame(
            np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax])
        )
        if self.controller.grid is not None:
            self.output_plane.show_grid(self.controller.grid)

    def _show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def _show_explanation(self) -> None:
        QMessageBox.information(
            self,
            "What am I looking at?",
            "<p>Left: the input plane with a grid and the probe point p. Right: where f sends "
            "that grid.</p><p>Near p, f(p + δ) ≈ f(p) + J·δ. The black curve is the true image "
            "of the small square p + [0, h]²; the red parallelogram is its image under the "
            "Jacobian J alone. Shrink h with [ and they become indistinguishable: that is what "
            "'J is the best local linear map' means.</p><p>det J is the factor by which areas "
            "scale (negative: orientation reversed); the circle of radius h maps to an ellipse "
            "with semi-axes h·σ1 and h·σ2, the singular values. σ1 is the local Lipschitz "
            "constant.</p><p>Heatmaps colour the plane by det, log|det|, σmax, σmin, "
            "condition number (log10) or ‖J‖F; black lines mark det = 0, where f folds.</p>"
            f"<p>Shortcuts: {', '.join(k for k, _ in SHORTCUTS)} (Help → Keyboard shortcuts).</p>",
        )

    # ---- figures -------------------------------------------------------------------------------
    def figure_available(self, view: str) -> bool:
        """Whether the view ``view`` (a key of :data:`FIGURE_VIEWS`) can be exported now."""
        return view != "layers" or self.right_tabs.isTabEnabled(1)

    def figure(self, view: str) -> Figure:
        """The figure of ``view``, a key of :data:`FIGURE_VIEWS`, for export.

        A view on a hidden tab is brought on screen first, so the figure shows what the
        window shows. Raises ExportError when the view has nothing to show.
        """
        if view not in FIGURE_VIEWS:
            raise ExportError(f"no view {view!r}; choose from {', '.join(FIGURE_VIEWS)}")
        if not self.figure_available(view):
            raise ExportError(
                "'Inside the network' needs a network of Linear layers and activations (MLP)"
            )
        title = f"{self.windowTitle()}: {FIGURE_VIEWS[view].lower()}"
        if view in ("output", "layers"):
            tab = self.layer_view if view == "layers" else self.output_plane.parentWidget()
            if self.right_tabs.currentWidget() is not tab:
                self.right_tabs.setCurrentWidget(tab)
                # The tab was hidden: let it and its plot lay themselves out before drawing.
                QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        if view == "input":
            return Figure(self.input_plane, title=title)
        if view == "output":
            return Figure(self.output_plane, below=legend_html(), title=title)
        if view == "layers":
            above = html.escape(self.layer_view.title.text())
            return Figure(self.layer_view.plot, above=above, below=LAYER_LEGEND, title=title)
        return Figure(self.centralWidget(), title=title)

    def morph_frames(self, count: int = MORPH_FRAMES, hold: int = MORPH_HOLD) -> Iterator[QImage]:
        """Frames of the output plane as the morph t goes from 0 to 1, then ``hold`` more at 1.

        Each frame is the exported output-plane figure with t as its caption; the frame of the
        plot covers the whole motion. The slider's t is restored afterwards.
        """
        previous = self.controller.state.morph
        try:
            for index in range(count + hold):
                t = min(index / (count - 1), 1.0)
                self.controller.set_morph(t)
                figure = self.figure("output")
                caption = f"<b>t = {t:.2f}</b>: (1 − t)·p + t·f(p), {html.escape(figure.title)}"
                yield figure_image(dataclasses.replace(figure, above=caption))
        finally:
            self.controller.set_morph(previous)
            self._reframe()

    def export_morph_animation(self) -> Path | None:
        """Ask for a file and save the morph from the identity to the map as an animation."""
        name = "morph.gif"
        return export_animation(self, self.morph_frames(), MORPH_FRAMES + MORPH_HOLD, name, 24)

    def open_lab(self) -> LabWindow:
        """Show the regularization lab (one per main window); its models open here."""
        if self.lab_window is None:
            self.lab_window = LabWindow(open_network=self.open_network)
            self.lab_window.resize(1400, 850)
            self.sessions.watch_lab(self.lab_window)
        self.lab_window.show()
        self.lab_window.raise_()
        self.lab_window.activateWindow()
        return self.lab_window

    def close_lab(self) -> None:
        """Close the lab window and drop it, with its data and model (a new one starts afresh)."""
        if self.lab_window is not None:
            self.lab_window.close()  # stops and waits for its training
            self.lab_window = None
            self.sessions.update_title()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Close, unless the user cancels at the unsaved-changes prompt.

        Then remember the window and the map, and wait for background work (the lab's too).
        """
        if not self.sessions.confirm_discard("closing"):
            event.ignore()
            return
        self.close_lab()
        self.controller.shutdown()
        self.settings.setValue("window/geometry", self.saveGeometry())
        save_state_to_settings(self.settings, self.controller.state)
        self.settings.sync()
        super().closeEvent(event)
