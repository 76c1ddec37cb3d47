"""Start the jacviz desktop app: on a map, a network, a session, or with the lab in front."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from PyQt6.QtWidgets import QApplication

from jacviz.gui.shell.main_window import MainWindow
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
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("jacviz")
    app.setOrganizationName("jacviz")
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
