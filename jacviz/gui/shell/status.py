"""The main window's status bar and problem dialogs.

:class:`WindowStatus` shows messages in the status bar, what is being opened in the
background with a Cancel button (and Esc) to stop it, and problems in a window-modal dialog
that does not block the app.

Errors belong to the state that produced them: an error about the typed formula or the
domain is shown with :meth:`WindowStatus.show_error` under a *source* name, and leaves the
status bar (for :data:`HINT`, or an error still standing) once that source is fixed, unless
something newer was said meanwhile. Hovering a menu shows the items' tips there for a
moment; the message comes back when the pointer leaves them (Qt would leave the bar empty).
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QEvent, QObject, Qt, QTimer
from PyQt6.QtGui import QKeySequence, QShortcut, QStatusTipEvent
from PyQt6.QtWidgets import QMainWindow, QMessageBox, QPushButton

HINT = (
    "Drag in the input plane to move the probe (middle button or Shift/Ctrl + drag pans, the "
    "wheel zooms); hover to see where a point goes."
)
"""What the status bar says when there is nothing else to say."""
LOADING_DELAY_MS = 300
"""What is being opened is shown once it has taken this long. A formula is checked in a few
milliseconds: its message and Cancel button would only flash, and showing and hiding the
button lays out and repaints the whole window."""


class _StatusTips(QObject):
    """Shows a menu item's status tip while it is hovered, then the window's message again."""

    def __init__(self, status: WindowStatus, window: QMainWindow):
        super().__init__(window)
        self._status = status

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Handle status tips here: Qt clears the message when the pointer leaves an item."""
        if event.type() == QEvent.Type.StatusTip and isinstance(event, QStatusTipEvent):
            self._status.show_tip(event.tip())
            return True
        return False


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
        Shown while a network, formula or session's map is prepared in the background, once
        that has taken :data:`LOADING_DELAY_MS`.
    problem : QMessageBox or None
        The last problem dialog shown, if any.

    """

    def __init__(self, window: QMainWindow, cancel: Callable[[], None]):
        self._window = window
        self._errors: dict[str, str] = {}  # the errors standing, by source, oldest first
        self._loading = ""  # the message saying what is being opened, while it is shown
        self._pending = ""  # the same message, until it has taken LOADING_DELAY_MS
        self._loading_timer = QTimer(window)
        self._loading_timer.setSingleShot(True)
        self._loading_timer.setInterval(LOADING_DELAY_MS)
        self._loading_timer.timeout.connect(self._show_pending)
        self.message = ""
        """The message shown (a menu item's tip may cover it for a moment)."""
        self.problem: QMessageBox | None = None
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop opening it (Esc); the map on screen stays")
        self.cancel_button.clicked.connect(lambda _=False: cancel())
        self.cancel_button.setVisible(False)
        window.statusBar().addPermanentWidget(self.cancel_button)
        shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), window)
        shortcut.activated.connect(cancel)
        window.installEventFilter(_StatusTips(self, window))

    def show_message(self, text: str) -> None:
        """Show ``text`` in the status bar."""
        self.message = text
        self._window.statusBar().showMessage(text)

    def show_tip(self, tip: str) -> None:
        """Show a hovered item's status tip, or the message again when there is none ('')."""
        self._window.statusBar().showMessage(tip or self.message)

    def show_hint(self) -> None:
        """Show :data:`HINT`: how to use the planes."""
        self.show_message(HINT)

    def show_error(self, source: str, text: str) -> None:
        """Show the error ``text`` about ``source`` (e.g. "formula"); '' says it is fixed.

        A fixed error leaves the status bar if it is still the message shown: the newest
        error still standing takes its place, or :data:`HINT`. A newer message stays.
        """
        shown = self._errors.pop(source, None)
        if text:
            self._errors[source] = text
            self.show_message(text)
        elif shown is not None:
            self._replace(shown)

    def _replace(self, stale: str) -> None:
        """If ``stale`` is the message shown, show the newest error standing, or the hint."""
        if self.message == stale:
            standing = list(self._errors.values())
            self.show_message(standing[-1] if standing else HINT)

    def show_loading(self, description: str) -> None:
        """Show what is being opened, with a way to cancel it, or hide that when done ('').

        Shown after :data:`LOADING_DELAY_MS` (at once if something is shown already: a newer
        request replaced it); Esc cancels from the start. When done, the message goes too,
        unless the outcome said something meanwhile.
        """
        if description:
            self._pending = f"{description} (Esc cancels)"
            if self._loading:
                self._show_pending()
            else:
                self._loading_timer.start()
            return
        self._loading_timer.stop()
        self._pending = ""
        self.cancel_button.setVisible(False)
        if self._loading:
            self._replace(self._loading)  # unless the outcome said something meanwhile
            self._loading = ""

    def _show_pending(self) -> None:
        """Show the message of what is still being opened, and the Cancel button."""
        if self._pending:
            self._loading = self._pending
            self.show_message(self._loading)
            self.cancel_button.setVisible(True)

    def show_problem(self, title: str, message: str) -> None:
        """Say what went wrong in a window-modal dialog that does not block the app."""
        self.problem = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self._window)
        self.problem.setWindowModality(Qt.WindowModality.WindowModal)
        self.problem.open()
