"""Start the jacviz desktop app: on a map, a network, a session, or with the lab in front."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from PyQt6.QtCore import QEvent, QEventLoop, QObject, QThread, QTimer
from PyQt6.QtWidgets import QApplication, QWidget

from jacviz.gui.mapview.loaded_network import hold_map, release_held
from jacviz.gui.shell.main_window import MainWindow
from jacviz.math.maps import Map
from jacviz.state.lab import DataSettings, ModelSettings
from jacviz.state.view import ViewState
from jacviz.support.isolation import warm_up
from jacviz.support.threads import limit_blas_threads


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

    The window is painted first, with its menus, panels and the formula in its editor; then,
    on the event loop's next turn (:func:`after_first_paint`), the fork server starts and the
    formula is parsed on a worker thread (sympy is imported there, while the window handles
    input); the first picture is drawn, and only then is numpy's BLAS held to one thread
    (:func:`~jacviz.support.threads.limit_blas_threads`) and the session, network or lab
    opened.
    """
    app = application()
    window = MainWindow(state, draw=False)
    window.show()

    def open_what_was_given() -> None:
        limit_blas_threads()  # the app's thread policy for numpy too (~5 ms, after the picture)
        if session is not None:
            window.sessions.open_session(session)
        if network is not None:
            window.request_network(network)
        if lab is not None:
            open_lab(window, lab)

    def start() -> None:
        warm_up()
        window.prepare_first_picture(then=open_what_was_given)

    after_first_paint(window, start)
    return app.exec()


class _AfterFirstPaint(QObject):
    """Calls ``action`` once, on the event loop's turn after ``widget`` is first painted."""

    def __init__(self, widget: QWidget, action: Callable[[], None]):
        super().__init__(widget)
        self._action = action
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        """On the first paint event, schedule the action and stop watching."""
        if event is not None and event.type() == QEvent.Type.Paint and watched is not None:
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self._action)
        return False


def after_first_paint(widget: QWidget, action: Callable[[], None]) -> None:
    """Call ``action`` once, on the event loop's turn after ``widget`` is first painted.

    What the user does not see at once waits for this: on a machine of two cores, work
    started before the window is painted delays it.
    """
    _AfterFirstPaint(widget, action)


def start_fork_server_after_paint(window: QWidget) -> None:
    """Start the process formulas and network files are checked in, once ``window`` is painted.

    Starting it (:func:`~jacviz.support.isolation.warm_up`) launches a process that imports
    jacviz's core: on a machine of two cores that competes with the window's own start-up,
    so it waits until the window has been painted once. A request that needs it sooner (a
    network given on the command line, a formula typed at once) starts it itself.
    """
    after_first_paint(window, warm_up)


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
    application()
    if block is None:
        block = not event_loop_running()
    window = MainWindow(state)
    window.show()
    start_fork_server_after_paint(window)
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
