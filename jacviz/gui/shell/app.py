"""Start the jacviz desktop app: on a map, a network, a session, or with the lab in front."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from PyQt6.QtCore import QEventLoop, QThread, QTimer
from PyQt6.QtWidgets import QApplication

from jacviz.gui.mapview.loaded_network import hold_map, release_held
from jacviz.gui.shell.main_window import MainWindow
from jacviz.math.maps import Map
from jacviz.state.lab import DataSettings, ModelSettings
from jacviz.state.view import ViewState
from jacviz.support.isolation import warm_up


@dataclass(frozen=True)
class LabStart:
    """What ``jacviz lab`` opens the lab on: its model settings, and its data or CSV file.

    Attributes
    ----------
    model : ModelSettings
        The model and training settings, already checked.
    data : DataSettings or None
        The data to generate (None: the lab's own).
    csv : str or None
        A CSV file of points to load instead, already checked.

    """

    model: ModelSettings
    data: DataSettings | None = None
    csv: str | None = None


def run_app(
    state: ViewState | None = None,
    session: str | None = None,
    network: str | None = None,
    lab: LabStart | None = None,
) -> int:
    """Open the main window and run until it closes.

    The window shows ``state``, or the saved ``session`` file, or the ``network`` file opened
    as File → Open network opens it (a classifier on its decision regions and its data's
    domain); a problem with either is shown in the window. Else it shows the map shown when
    the app last closed. With ``lab``, the lab window opens in front on those settings.
    """
    warm_up()  # the process formulas and network files are checked in, started meanwhile
    app = application()
    window = MainWindow(state)
    window.show()
    if session is not None:
        window.sessions.open_session(session)
    if network is not None:
        window.request_network(network)
    if lab is not None:
        open_lab(window, lab)
    return app.exec()


def open_lab(window: MainWindow, start: LabStart) -> None:
    """Open ``window``'s lab in front (as Lab → Jacobian regularization lab… does) on ``start``."""
    controller = window.open_lab().controller
    if start.data is not None:
        controller.set_data_settings(start.data)
    if start.csv is not None:
        controller.load_csv(start.csv)
    controller.set_model_settings(start.model)


QT_EVENT_LOOPS = ("qt", "qt5", "qt6")
"""IPython's names (``%gui qt``) for a Qt event loop run between prompts."""

_OPEN: list[MainWindow] = []
"""Windows opened without blocking: kept alive here, since the caller may drop them."""


def application() -> QApplication:
    """The running QApplication, or a new one named jacviz: Qt allows one per process."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1] or ["jacviz"])
        app.setApplicationName("jacviz")
        app.setOrganizationName("jacviz")
    return app  # type: ignore[return-value]


def event_loop_running() -> bool:
    """Whether a Qt event loop runs already: IPython's ``%gui qt``, or ``app.exec()``."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    if shell is not None and getattr(shell, "active_eventloop", None) in QT_EVENT_LOOPS:
        return True
    return QThread.currentThread().loopLevel() > 0


def show_window(
    state: ViewState, held: Map | None = None, network: str | None = None, block: bool | None = None
) -> MainWindow:
    """Open a main window on ``state`` (or the map ``held`` in memory, or the ``network`` file).

    A map held in memory is opened as a network file is, off the GUI thread: tried on the
    grid and at the probe before it replaces the map on screen, and replaced by the last
    formula (with a dialog saying why) if it fails. Blocks until the window closes when
    ``block`` is true (by default: unless a Qt event loop already runs, as under IPython's
    ``%gui qt``); the held map is then let go of.
    """
    warm_up()
    application()
    if block is None:
        block = not event_loop_running()
    window = MainWindow(state)
    window.show()
    name = None if held is None else hold_map(held)
    if name is not None:
        window.request_network(name)
    if network is not None:
        window.request_network(network)
    if not block:
        _OPEN.append(window)
        return window
    loop = QEventLoop()
    watch = QTimer(interval=100)
    watch.timeout.connect(lambda: None if window.isVisible() else loop.quit())
    watch.start()
    loop.exec()
    watch.stop()
    if name is not None:
        release_held(name)
    return window
