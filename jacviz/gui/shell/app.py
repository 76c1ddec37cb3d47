"""Start the jacviz desktop app."""

from __future__ import annotations

import sys

from PyQt6.QtWidgets import QApplication

from jacviz.gui.shell.main_window import MainWindow
from jacviz.state.view import ViewState
from jacviz.support.isolation import warm_up


def run_app(
    state: ViewState | None = None, session: str | None = None, network: str | None = None
) -> int:
    """Open the main window and run until it closes.

    The window shows ``state``, or the saved ``session`` file, or the ``network`` file opened
    as File → Open network opens it (a classifier on its decision regions and its data's
    domain); a problem with either is shown in the window. Else it shows the map shown when
    the app last closed.
    """
    warm_up()  # the process formulas and network files are checked in, started meanwhile
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("jacviz")
    app.setOrganizationName("jacviz")
    window = MainWindow(state)
    window.show()
    if session is not None:
        window.sessions.open_session(session)
    if network is not None:
        window.request_network(network)
    return app.exec()
