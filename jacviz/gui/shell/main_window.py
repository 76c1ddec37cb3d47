"""The jacviz window: editor and inspector on the left, input and output planes side by side.

The window builds and wires its parts: the map view's widgets and
:class:`~jacviz.gui.mapview.controller.Controller`, the menus (:mod:`.menus`), the figures
(:mod:`.figures`), the session file (:mod:`.sessions`) and the lab window (imported when
first opened, see :mod:`.lab_loader`: the window itself never needs torch). It owns the
:class:`~jacviz.state.document.Document` (what a session and the settings save), which the
session machinery works with, and shows the sessions it opens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QImage
from PyQt6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common.export import Figure
from jacviz.gui.common.export_dialog import FigureExporter
from jacviz.gui.common.panels import side_panel
from jacviz.gui.common.screen import fit_to_screen
from jacviz.gui.mapview.controller import Controller
from jacviz.gui.mapview.editor import MapEditor
from jacviz.gui.mapview.inspector import Inspector
from jacviz.gui.mapview.layer_view import LayerView
from jacviz.gui.mapview.layers_panel import LayersPanel
from jacviz.gui.mapview.planes import InputPlane, OutputPlane, legend_html
from jacviz.gui.shell.activation_dialog import activation_known
from jacviz.gui.shell.figures import (
    FIGURE_VIEWS,
    LAYERS_TAB,
    MORPH_FRAMES,
    MORPH_HOLD,
    WindowFigures,
)
from jacviz.gui.shell.first_picture import FirstPicture
from jacviz.gui.shell.lab_loader import LabLoader
from jacviz.gui.shell.menus import SHORTCUTS, build_menus
from jacviz.gui.shell.sessions import SessionKeeper
from jacviz.gui.shell.status import WindowStatus
from jacviz.gui.shell.window_settings import (
    GEOMETRY_KEY,
    SETTINGS_KEY,
    save_state_to_settings,
    state_from_settings,
)
from jacviz.nets.views import SliceMap
from jacviz.state.document import Document
from jacviz.state.session import SESSION_SUFFIX, LabSession
from jacviz.state.view import ViewState

if TYPE_CHECKING:
    from jacviz.gui.lab.lab_window import LabWindow

__all__ = [
    "FIGURE_VIEWS",
    "MORPH_FRAMES",
    "MORPH_HOLD",
    "SETTINGS_KEY",
    "SHORTCUTS",
    "MainWindow",
    "save_state_to_settings",
    "state_from_settings",
]

MORPH_STEPS = 100
NUDGE_FRACTION = 0.01
"""Arrow keys move the probe by this fraction of the domain's width and height."""


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
    """The app window. ``settings`` stores geometry and the last map (QSettings).

    With ``draw`` False the window is built without its first picture: the editor, menus
    and panels show the state, the status line says the map is being drawn, and
    :meth:`prepare_first_picture` (which the app calls after the window's first paint) parses
    the formula on a worker thread, then draws the grid, probe and heatmap. The window then
    paints before sympy is imported, and handles input while sympy loads.
    """

    def __init__(
        self,
        state: ViewState | None = None,
        settings: QSettings | None = None,
        *,
        draw: bool = True,
    ):
        super().__init__()
        self.setAcceptDrops(True)
        self._shown_state: ViewState | None = None
        self.settings = settings if settings is not None else QSettings("jacviz", "jacviz")
        if state is None:
            state = state_from_settings(self.settings)
        self.controller = Controller(state, self)
        self.lab_window: LabWindow | None = None
        self.document = Document(self.controller)
        self.sessions = SessionKeeper(self.document, self, self.settings, self.show_session)
        self.controller.sigStateChanged.connect(self.sessions.update_title)
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
        self.figure_views = WindowFigures(
            self,
            self.controller,
            self.input_plane,
            self.output_plane,
            self.layer_view,
            self.right_tabs,
            self.reframe,
        )
        self.figures = FigureExporter(
            self, FIGURE_VIEWS, self.figure, self.settings, self.figure_available
        )
        self.lab_loader = LabLoader(self.open_lab, self._show_lab_message, self.status.show_problem)
        menus = build_menus(self, self)
        self.heatmap_actions = menus.heatmap_actions
        self.examples_menu = menus.examples_menu
        self._connect()
        fit_to_screen(self, (1500, 860), self.settings.value(GEOMETRY_KEY))
        self.first_picture = FirstPicture(self.controller, self.status, self)
        if draw:
            self.first_picture.draw()
        else:  # everything but the picture, as refresh() would show it
            self._on_state_changed(self.controller.state)
            self.sessions.update_title()
            self.first_picture.show_pending()

    def prepare_first_picture(self, then: Callable[[], None] | None = None) -> None:
        """Parse the map's formula on a worker thread, then draw the first picture, then ``then``.

        The window handles input meanwhile (see :meth:`FirstPicture.prepare`).
        """
        self.first_picture.prepare(then)

    def draw_first_picture(self) -> None:
        """Parse the map's formula if it is not yet, and draw the first picture (once).

        A formula hand-edited into the settings that does not parse is replaced by the
        preset of the default formula, and the status line says so.
        """
        self.first_picture.draw()

    # ---- construction --------------------------------------------------------------------------
    def _build_layout(self) -> None:
        heading = QLabel("<b>At the probe point p</b>")
        scroll = side_panel([self.editor, heading, self.inspector, self.layers], 390)

        output = QWidget()
        output_layout = QVBoxLayout(output)
        output_layout.setContentsMargins(0, 0, 0, 0)
        output_layout.addWidget(self.output_plane, 1)
        legend = QLabel(legend_html())
        legend.setWordWrap(True)  # its width must never set the window's minimum width
        legend.setToolTip(self.output_plane.toolTip())
        output_layout.addWidget(legend)
        self.morph_label = QLabel()
        output_layout.addWidget(self.morph_label)
        output_layout.addWidget(self.morph)

        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(output, "Output plane")
        self.right_tabs.addTab(self.layer_view, "Inside the network")
        self.right_tabs.setTabToolTip(
            LAYERS_TAB, "The input grid in the space of each layer of an MLP (Linear + activations)"
        )
        self.right_tabs.setTabEnabled(LAYERS_TAB, False)

        splitter = QSplitter()
        splitter.addWidget(scroll)
        splitter.addWidget(self.input_plane)
        splitter.addWidget(self.right_tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([390, 560, 560])
        self.setCentralWidget(splitter)

        self.status = WindowStatus(self, self.controller.cancel_loading)
        self.cancel_button = self.status.cancel_button

    def _connect(self) -> None:
        controller, editor = self.controller, self.editor
        editor.sigFormulaEdited.connect(controller.request_formula)
        editor.sigPresetChosen.connect(controller.load_preset)
        editor.sigDomainEdited.connect(controller.set_domain)
        editor.sigGridLinesEdited.connect(controller.set_grid_lines)
        editor.sigHEdited.connect(controller.set_h)
        editor.sigHeatmapChosen.connect(controller.set_heatmap)
        editor.sigProblem.connect(lambda text: self.status.show_error("plane", text))
        editor.sigDomainProblem.connect(lambda text: self.status.show_error("domain", text))
        editor.sigSliceEdited.connect(controller.set_slice)
        editor.sigJacobianOfChosen.connect(controller.set_jacobian_of)
        editor.sigOutputViewChosen.connect(controller.set_output_view)
        self.layer_view.sigUnitsChosen.connect(controller.set_layer_units)
        self.layer_view.sigShownChanged.connect(controller.set_layer_path_shown)
        self.input_plane.sigPointPicked.connect(controller.set_probe)
        self.input_plane.sigHovered.connect(controller.hover)
        self.input_plane.sigHoverLeft.connect(controller.hover_left)
        self.input_plane.sigViewChanged.connect(controller.set_view)
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
        controller.sigLayersOffered.connect(self._offer_layers)
        controller.sigLayerImagesChanged.connect(self._on_layer_images)
        controller.sigLayerPathChanged.connect(self.layer_view.show_path)
        controller.sigHeatmapChanged.connect(self.input_plane.show_heatmap)
        controller.sigHoverChanged.connect(self.output_plane.show_hover)
        controller.sigFormulaError.connect(editor.show_formula_error)
        controller.sigFormulaError.connect(self._on_formula_error)
        controller.sigStatus.connect(self.status.show_message)
        controller.sigProblem.connect(self.status.show_problem)
        controller.sigLoading.connect(self.status.show_loading)
        for keeper in (self.sessions, self.figures):
            keeper.sigProblem.connect(self.status.show_problem)
            keeper.sigStatus.connect(self.status.show_message)

    # ---- networks ------------------------------------------------------------------------------
    def request_network(self, path: str) -> None:
        """Open the network at ``path`` in the background (menus, drops, the command line).

        The map on screen stays until the network is loaded and tried; a network that cannot
        be shown gets a dialog saying why. Esc (or the status bar's Cancel) cancels. A state
        dict opened without its activation asks for it first.
        """
        if activation_known(self, path):
            self.controller.request_network(path)

    def open_network(self, path: str) -> bool:
        """Show the network at ``path`` and wait until it is (the window stays responsive).

        On failure a dialog says why and the map stays; returns True if it is shown. A state
        dict opened without its activation asks for it first (False if the user cancels).
        """
        if not activation_known(self, path):
            return False
        return self.controller.open_network(path) is None

    @property
    def problem(self) -> QMessageBox | None:
        """The last problem dialog shown, if any."""
        return self.status.problem

    def choose_network(self) -> None:
        """Ask for a network file and open it in the background."""
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

    def _offer_layers(self, offered: bool) -> None:
        """Enable "Inside the network" for a network whose layers can be shown, or not."""
        self.right_tabs.setTabEnabled(LAYERS_TAB, offered)
        if not offered:
            self.right_tabs.setCurrentIndex(0)

    def _on_layer_images(self, images: object) -> None:
        self.layer_view.show_images(images)
        if images is None:  # the network could not be walked after all
            self._offer_layers(False)

    def _show_plane_controls(self) -> None:
        source = self.controller.source
        plane = (source.base, source.u, source.v) if isinstance(source, SliceMap) else None
        self.editor.show_slice(plane)
        self.editor.show_classes(source.output_dim if self.controller.is_classifier else None)

    def _on_formula_error(self, message: str, _column: int) -> None:
        """Say that the formula typed is not shown, until a map replaces it ('')."""
        text = f"Formula not applied: {message}. Showing the last good map." if message else ""
        self.status.show_error("formula", text)

    def nudge_probe(self, dx: int, dy: int) -> None:
        """Move the probe by ``dx``, ``dy`` steps of 1 % of the domain."""
        state = self.controller.state
        x = state.probe[0] + dx * NUDGE_FRACTION * state.domain.width
        y = state.probe[1] + dy * NUDGE_FRACTION * state.domain.height
        self.controller.set_probe(x, y)

    def focus_formula(self) -> None:
        """Put the keyboard focus in the formula, all of it selected (Ctrl+L)."""
        self.editor.formula.setFocus()
        self.editor.formula.selectAll()

    def reframe(self) -> None:
        """Frame both planes again (Home): the domain, and the grid's image."""
        domain = self.controller.state.domain
        self.input_plane.frame(
            np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax])
        )
        if self.controller.grid is not None:
            self.output_plane.show_grid(self.controller.grid)

    # ---- figures -------------------------------------------------------------------------------
    def figure_available(self, view: str) -> bool:
        """Whether the view ``view`` (a key of :data:`FIGURE_VIEWS`) can be exported now.

        For "layers" the layers are computed first if their tab was not shown since the map
        changed, so that the layer view offers them (renders pick a layer before showing it).
        """
        if view == "layers":
            self.controller.layer_images()
        return self.figure_views.available(view)

    def figure(self, view: str) -> Figure:
        """The figure of ``view``, a key of :data:`FIGURE_VIEWS` (see :class:`WindowFigures`)."""
        return self.figure_views.figure(view)

    def morph_frames(self, count: int = MORPH_FRAMES, hold: int = MORPH_HOLD) -> Iterator[QImage]:
        """Frames of the output plane as the morph t goes from 0 to 1, then ``hold`` more at 1."""
        return self.figure_views.morph_frames(count, hold)

    def export_morph_animation(self) -> Path | None:
        """Ask for a file and save the morph from the identity to the map as an animation."""
        return self.figure_views.export_morph_animation()

    # ---- the lab and sessions ------------------------------------------------------------------
    def request_lab(self) -> None:
        """Open the lab (Lab menu), loading torch on a worker first if it is not loaded yet.

        Meanwhile the status line says so and the cursor is busy; the window stays usable.
        """
        self.lab_loader.request()

    def _show_lab_message(self, text: str) -> None:
        if text:
            self.status.show_message(text)
        else:
            self.status.show_hint()

    def open_lab(self) -> LabWindow:
        """Show the regularization lab (one per main window); its models open here.

        The lab's modules (and torch) are imported here, on the GUI thread, if they are not
        yet: the Lab menu goes through :meth:`request_lab`, which imports them on a worker.
        """
        if self.lab_window is None:
            from jacviz.gui.lab.lab_window import LabWindow

            self.lab_window = LabWindow(
                open_network=self.open_network, save_session=self.sessions.save
            )
            labs = self.lab_window.controller
            self.document.lab = labs
            for signal in (labs.sigStateChanged, labs.sigDatasetChanged, labs.sigSnapshotChanged):
                signal.connect(self.sessions.update_title)  # the title's *
        self.lab_window.show()
        self.lab_window.raise_()
        self.lab_window.activateWindow()
        return self.lab_window

    def close_lab(self) -> None:
        """Close the lab window and drop it, with its data and model (a new one starts afresh)."""
        if self.lab_window is not None:
            self.lab_window.close()  # stops and waits for its training
            self.lab_window = None
            self.document.lab = None
            self.sessions.update_title()

    def show_session(self, view: ViewState, lab: LabSession | None) -> str | None:
        """Show an opened session: its view state and its lab (None: the lab window closes).

        Returns None, or why the view cannot be shown; then nothing changed.
        """
        problem = self.controller.show_state(view)
        if problem is not None:
            return problem
        if lab is None:
            self.close_lab()
        else:
            self.open_lab().controller.restore(lab)
        return None

    def closeEvent(self, event: QCloseEvent) -> None:
        """Close, unless the user cancels at the unsaved-changes prompt.

        Then remember the window and the map, and wait for background work (the lab's too).
        """
        if not self.sessions.confirm_discard("closing"):
            event.ignore()
            return
        self.lab_loader.cancel()
        self.close_lab()
        self.controller.shutdown()
        self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        save_state_to_settings(self.settings, self.document.view)
        self.settings.sync()
        super().closeEvent(event)
