"""Sessions in the main window: File → Open / Save session, Open recent, unsaved changes.

A :class:`SessionKeeper` is the user interface of a window's
:class:`~jacviz.state.document.Document` and the session file (``.jacviz``, see
:mod:`jacviz.state.session`) it was last saved to or opened from. It adds the session actions
to the File menu, writes and reads the files, keeps the recent ones in QSettings, shows the
file name in the window title with a ``*`` once the document differs from it, and asks before
such changes would be lost. It knows the document and a widget to put its dialogs and title
on; the window that owns both hands it a function that shows an opened session.

What a session holds: the map view's :class:`~jacviz.state.view.ViewState` (formula or
network, plane, domain, probe, overlays, heatmap), the bytes of the network shown (so that it
still opens after the file moved), and, once the lab window has been opened, the lab: its
points (hand-added ones too), settings, newest model and its step.

When the unsaved-changes prompt appears: only when a session file is associated with the
window (it was saved or opened) and the window now differs from that file, on closing the
window and before opening another session. A window without a session is not asked about:
its map comes back at the next start anyway (QSettings), and a prompt at every close would
teach users to click "Discard" without reading. Whoever wants to keep lab work saves a session.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, QSettings, QStandardPaths, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from jacviz.gui.mapview.loaded_network import is_held
from jacviz.state.document import Document, Revision
from jacviz.state.session import (
    SESSION_SUFFIX,
    LabSession,
    Session,
    SessionError,
    load_session,
    network_file,
    save_session,
)
from jacviz.state.view import MAX_PATH, ViewState
from jacviz.support.json_input import parse_json, text_problem

RECENT_KEY = "sessions/recent"
"""QSettings key of the recent session files: a JSON list of paths, newest first."""
MAX_RECENT = 8
SESSION_FILTER = f"jacviz sessions (*{SESSION_SUFFIX})"


def embedded_network_folder() -> Path:
    """The per-user cache folder where the networks embedded in sessions are copied.

    A session's network is opened from such a copy when its own file moved or changed
    (:func:`~jacviz.state.session.network_file`).
    """
    cache = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
    return Path(cache or tempfile.gettempdir()) / "embedded-networks"


def recent_sessions(settings: QSettings) -> list[str]:
    """The recent session files stored in ``settings``, newest first; [] if unusable.

    The settings file can be edited like any other, so it is read as strictly as a session:
    paths that are not one line of valid text of at most :data:`MAX_PATH` characters are
    left out.
    """
    try:
        paths = parse_json(str(settings.value(RECENT_KEY, "[]")))
    except ValueError:
        return []
    if not isinstance(paths, list):
        return []
    usable = [p for p in paths if isinstance(p, str) and p and not text_problem(p, MAX_PATH)]
    return usable[:MAX_RECENT]


def _is_state_dict(path: str) -> bool:
    """Whether ``path`` is a PyTorch state dict (a session embeds the network rebuilt from it)."""
    from jacviz.nets.networks import is_state_dict_file  # torch, only for such a session

    return is_state_dict_file(path)


def _store_recent(settings: QSettings, paths: list[str]) -> None:
    settings.setValue(RECENT_KEY, json.dumps(paths[:MAX_RECENT]))
    settings.sync()  # another window, or the next start, reads it


class SessionKeeper(QObject):
    """A main window's session file: saving, opening, recent files, unsaved changes.

    Parameters
    ----------
    document : Document
        What is saved, and the session file it belongs to.
    window : QWidget
        The window whose title shows the document, and that the dialogs belong to.
    settings : QSettings
        Where the recent session files are kept.
    show_session : callable
        ``show_session(view, lab)`` shows an opened session's view state and lab (None: no
        lab) and returns None, or why the view cannot be shown (then nothing changed).

    Signals
    -------
    sigProblem(str, str)
        A title and a one-line reason: a session could not be saved or opened.
    sigStatus(str)
        Information for the status bar.

    Attributes
    ----------
    recent_menu : QMenu
        File → Open recent: the last :data:`MAX_RECENT` sessions, newest first; files that
        are gone are listed disabled.

    """

    sigProblem = pyqtSignal(str, str)
    sigStatus = pyqtSignal(str)

    def __init__(
        self,
        document: Document,
        window: QWidget,
        settings: QSettings,
        show_session: Callable[[ViewState, LabSession | None], str | None],
    ):
        super().__init__(window)
        self.document = document
        self._window = window
        self._settings = settings
        self._show_session = show_session
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()

    @property
    def path(self) -> Path | None:
        """The session file associated with the document: the last one saved or opened."""
        return self.document.path

    # ---- menu ----------------------------------------------------------------------------------
    def add_actions(self, menu: QMenu) -> None:
        """Add Open session…, Open recent, Save session and Save session as… to ``menu``."""
        for text, shortcut, tip, slot in (
            ("Open &session…", "Ctrl+Shift+O", "Open a saved .jacviz session", self.choose_session),
            ("&Save session", "Ctrl+S", "Save the map and the lab to the session file", self.save),
            ("Save session &as…", "Ctrl+Shift+S", "Save them to a new session file", self.save_as),
        ):
            action = menu.addAction(text)
            action.setShortcut(shortcut)
            action.setToolTip(tip)
            # Qt passes `checked` to a slot that takes an argument: never let it reach one.
            action.triggered.connect(lambda _checked=False, run=slot: run())
        menu.insertMenu(menu.actions()[1], self.recent_menu)  # after Open session…

    def _fill_recent_menu(self) -> None:
        """List the recent sessions (again: a file may have gone since the menu was filled)."""
        menu = self.recent_menu
        menu.clear()
        paths = recent_sessions(self._settings)
        for index, path in enumerate(paths, start=1):
            name = Path(path).name.replace("&", "&&")
            present = Path(path).is_file()
            action = menu.addAction(f"&{index} {name}" + ("" if present else " (not found)"))
            action.setToolTip(path if present else f"{path} no longer exists")
            action.setEnabled(present)
            action.triggered.connect(lambda _=False, p=path: self.open_session(p))
        if not paths:
            menu.addAction("No recent sessions").setEnabled(False)
            return
        menu.addSeparator()
        menu.addAction("Clear recent sessions").triggered.connect(
            lambda _checked=False: self._clear_recent()
        )

    def _remember(self, path: Path) -> None:
        text = str(path.resolve())
        _store_recent(
            self._settings, [text, *(p for p in recent_sessions(self._settings) if p != text)]
        )
        self._fill_recent_menu()

    def _forget(self, path: Path) -> None:
        text = str(path.resolve())
        _store_recent(self._settings, [p for p in recent_sessions(self._settings) if p != text])
        self._fill_recent_menu()

    def _clear_recent(self) -> None:
        _store_recent(self._settings, [])
        self._fill_recent_menu()

    # ---- what is saved -------------------------------------------------------------------------
    def current_session(self) -> Session:
        """The session of what the window shows now (the lab too, once it was opened)."""
        return self.document.session()

    def is_modified(self) -> bool:
        """Whether a session file is associated and the document differs from it."""
        return self.document.is_modified()

    def update_title(self) -> None:
        """Title: the session file's name (``*`` when modified), then the map shown."""
        title = self.document.title()
        if title != self._window.windowTitle():
            self._window.setWindowTitle(title)

    def _associate(self, path: Path, revision: Revision) -> None:
        self.document.associate(path, revision)
        self._remember(path)
        self.update_title()

    # ---- saving --------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save to the session file, or ask for one if there is none. True if saved."""
        if self.path is None:
            return self.save_as()
        return self.save_to(self.path)

    def save_as(self) -> bool:
        """Ask where to save the session, and save it there. True if saved."""
        start = self.path
        if start is None:
            recent = recent_sessions(self._settings)
            folder = Path(recent[0]).parent if recent else Path.cwd()
            start = folder / f"session{SESSION_SUFFIX}"
        chosen, _ = QFileDialog.getSaveFileName(
            self._window, "Save session", str(start), SESSION_FILTER
        )
        if not chosen:
            return False
        path = Path(chosen)
        if path.suffix.lower() != SESSION_SUFFIX:
            path = path.with_name(path.name + SESSION_SUFFIX)
        return self.save_to(path)

    def save_to(self, path: str | os.PathLike) -> bool:
        """Write the session to ``path`` (atomically: a failed save leaves the old file as it was).

        On failure (an unwritable folder, a full disk) says why and returns False; the window
        stays associated with its previous session file.
        """
        target = Path(path)
        revision, session = self.document.revision(), self.document.session()
        if is_held(session.view.network):
            self._refuse(
                "Session not saved",
                f"{session.view.network} is held by your script, and jacviz never copies it to "
                "disk: save it to a file (torch.export.save, torch.jit.save or jacviz's "
                "save_mlp) and open that file to keep it in a session",
            )
            return False
        try:
            save_session(session, target)
        except SessionError as error:
            self._refuse("Session not saved", str(error))
            return False
        self._associate(target, revision)
        lab = "" if session.lab is None else f" (with the lab at step {session.lab.step})"
        self.sigStatus.emit(f"Saved the session to {target}{lab}.")
        return True

    # ---- opening -------------------------------------------------------------------------------
    def choose_session(self) -> bool:
        """Ask for a session file and open it. True if opened."""
        start = str(self.path.parent) if self.path is not None else ""
        chosen, _ = QFileDialog.getOpenFileName(
            self._window, "Open session", start, f"{SESSION_FILTER};;All files (*)"
        )
        return bool(chosen) and self.open_session(chosen)

    def open_session(self, path: str | os.PathLike) -> bool:
        """Show the session saved at ``path``: its map view and, if it has one, its lab.

        Unsaved changes are asked about first (Cancel: nothing happens). A file that cannot be
        used (missing, corrupt, truncated, from a newer jacviz, hostile) or a network that does
        not load is reported with its one-line reason, and nothing changes. A session's
        network opens from its own file if that still holds the same bytes, else from a copy
        of the embedded bytes (the status bar says so). A session without a lab closes the
        lab window, so that the app shows exactly the session.
        """
        target = Path(path)
        if not self.confirm_discard(f"opening {target.name}"):
            return False
        try:
            session = load_session(target)  # checked whole: showing it cannot fail halfway
            network, embedded = network_file(session, embedded_network_folder())
        except SessionError as error:
            if not target.exists():
                self._forget(target)  # a recent file that is gone: out of the menu
            self._refuse("Session not opened", str(error))
            return False
        view = dataclasses.replace(session.view, network=network)
        problem = self._show_session(view, session.lab)
        if problem is not None:
            self._refuse("Session not opened", f"{target.name}: {problem}")
            return False
        self._associate(target, self.document.revision())
        message = f"Opened the session {target.name}"
        if embedded and session.view.network and _is_state_dict(session.view.network):
            message += (
                f". The session keeps the network rebuilt from the state dict "
                f"{session.view.network} with its activation: showing that copy ({network})"
            )
        elif embedded:
            original = session.view.network or "its network file"
            message += (
                f". {original} is gone or has changed: showing the copy of the network saved "
                f"in the session ({network})"
            )
        self.sigStatus.emit(message + ".")
        return True

    # ---- unsaved changes -----------------------------------------------------------------------
    def confirm_discard(self, doing: str = "closing") -> bool:
        """Whether to go on with ``doing`` something that drops the window's changes.

        Asks Save / Discard / Cancel when the document differs from its session file (see the
        module docstring for when); True to go on (saved, or discarded), False to stop.
        """
        if not self.document.is_modified():
            return True
        assert self.path is not None
        answer = QMessageBox.question(
            self._window,
            "Unsaved changes",
            f"The session {self.path.name} has changed. Save the changes before {doing}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _refuse(self, title: str, message: str) -> None:
        self.sigStatus.emit(f"{title}: {message}")
        self.sigProblem.emit(title, message)
