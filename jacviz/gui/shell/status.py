"""The main window's status bar and problem dialogs.

:class:`WindowStatus` shows messages in the status bar, what is being opened in the
background with a Cancel button (and Esc) to stop it, and problems in a window-modal dialog
that does not block the app.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import QMainWindow, QMessageBox, QPushButton


class WindowStatus:
    """A main window's status bar and problem dialogs.

    Parameters
    ----------
    window : QMainWindow
        The window whose status bar is used, and that the dialogs belong to.
    cancel : callable
        Stops what is being opened (the status bar's Cancel button and Esc).

    Attributes
    ----------
    cancel_button : QPushButton
        Shown while a network, formula or session's map is prepared in the background.
    problem : QMessageBox or None
        The last problem dialog shown, if any.

    """

    def __init__(self, window: QMainWindow, cancel: Callable[[], None]):
        self._window = window
        self.problem: QMessageBox | None = None
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop opening it (Esc); the map on screen stays")
        self.cancel_button.clicked.connect(lambda _=False: cancel())
        self.cancel_button.setVisible(False)
        window.statusBar().addPermanentWidget(self.cancel_button)
        shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), window)
        shortcut.activated.connect(cancel)

    def show_message(self, text: str) -> None:
        """Show ``text`` in the status bar."""
        self._window.statusBar().showMessage(text)

    def show_loading(self, description: str) -> None:
        """Show what is being opened, with a way to cancel it, or hide that when done ('')."""
        self.cancel_button.setVisible(bool(description))
        if description:
            self.show_message(f"{description} (Esc cancels)")

    def show_problem(self, title: str, message: str) -> None:
        """Say what went wrong in a window-modal dialog that does not block the app."""
        self.problem = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self._window)
        self.problem.setWindowModality(Qt.WindowModality.WindowModal)
        self.problem.open()
