"""Start the jacviz desktop app."""

from __future__ import annotations

import sys

from PyQt6.QtWidgets import QApplication

from jacviz.core.state import ViewState
from jacviz.gui.main_window import MainWindow


def run_app(state: ViewState | None = None) -> int:
    """Open the main window (on ``state``, or the last session's) and run until it closes."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("jacviz")
    app.setOrganizationName("jacviz")
    window = MainWindow(state)
    window.show()
    return app.exec()
