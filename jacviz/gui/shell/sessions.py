"""Sessions in the main window: File → Open / Save session, Open recent, unsaved changes.

A :class:`SessionKeeper` ties a :class:`~jacviz.gui.shell.main_window.MainWindow` to the session
file (``.jacviz``, see :mod:`jacviz.state.session`) it last saved or opened. It adds the
session actions to the File menu, writes and reads the files, keeps the recent ones in
QSettings, shows the file name in the window title with a ``*`` once the window differs from
it, and asks before such changes would be lost.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, QSettings, QStandardPaths, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QMenu, QMessageBox

from jacviz.gui.lab.worker import TrainingRun
from jacviz.nets.datasets import Dataset
from jacviz.state.lab import LabState
from jacviz.state.session import (
    SESSION_SUFFIX,
    Session,
    SessionError,
    load_session,
    network_file,
    save_session,
)
from jacviz.state.view import MAX_PATH, ViewState
from jacviz.support.json_input import parse_json, text_problem

if TYPE_CHECKING:
    from jacviz.gui.lab.lab_window import LabWindow
    from jacviz.gui.shell.main_window import MainWindow

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


def _store_recent(settings: QSettings, paths: list[str]) -> None:
    settings.setValue(RECENT_KEY, json.dumps(paths[:MAX_RECENT]))
    settings.sync()  # another window, or the next start, reads it


@dataclass(frozen=True, eq=False)
class _Mark:
    """What the window showed when its session was last saved or opened.

    Compared with :meth:`SessionKeeper._mark` of the window now to tell whether it changed:
    states by value; the network's bytes, the lab's dataset and run by identity (each change
    makes new ones), so a comparison costs nothing even while the lab trains.
    """

    view: ViewState
    network: bytes | None
    lab: tuple[LabState, Dataset, TrainingRun | None, int] | None
    """(settings, dataset, run, step of its newest snapshot, or the step it starts from)."""

    def matches(self, now: _Mark) -> bool:
        """Whether ``now`` shows what this mark saw."""
        if self.view != now.view or self.network is not now.network:
            return False
        if self.lab is None or now.lab is None:
            return self.lab is now.lab
        state, dataset, run, step = self.lab
        now_state, now_dataset, now_run, now_step = now.lab
        return state == now_state and dataset is now_dataset and run is now_run and step == now_step


class SessionKeeper(QObject):
    """A main window's session file: saving, opening, recent files, unsaved changes.

    Parameters
    ----------
    window : MainWindow
        The window whose map view (``window.controller``) and lab (``window.lab_window``)
        are saved and restored.
    settings : QSettings
        Where the recent session files are kept.

    Signals
    -------
    sigProblem(str, str)
        A title and a one-line reason: a session could not be saved or opened.
    sigStatus(str)
        Information for the status bar.

    Attributes
    ----------
    path : Path or None
        The session file associated with the window: the last one saved or opened.
    recent_menu : QMenu
        File → Open recent: the last :data:`MAX_RECENT` sessions, newest first; files that
        are gone are listed disabled.

    """

    sigProblem = pyqtSignal(str, str)
    sigStatus = pyqtSignal(str)

    def __init__(self, window: MainWindow, settings: QSettings):
        super().__init__(window)
        self._window = window
        self._settings = settings
        self.path: Path | None = None
        self._saved: _Mark | None = None
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        window.controller.sigStateChanged.connect(self.update_title)

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
            action.triggered.connect(slot)
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
        menu.addAction("Clear recent sessions").triggered.connect(self._clear_recent)

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
        controller, lab = self._window.controller, self._window.lab_window
        return Session(
            view=controller.state,
            network_data=controller.network_data,
            lab=None if lab is None else lab.controller.lab_session(),
        )

    def _mark(self) -> _Mark:
        controller, lab = self._window.controller, self._window.lab_window
        lab_mark = None
        if lab is not None:
            labs = lab.controller
            run, latest = labs.run, labs.snapshot
            # Before its first snapshot (a restored run's comes a moment after it was opened),
            # a run is at the step it starts from.
            step = latest.step if latest is not None else run.first_step if run else 0
            lab_mark = (labs.state, labs.dataset, run, step)
        return _Mark(controller.state, controller.network_data, lab_mark)

    def is_modified(self) -> bool:
        """Whether a session file is associated and the window differs from it."""
        return self._saved is not None and not self._saved.matches(self._mark())

    def update_title(self) -> None:
        """Title: the session file's name (``*`` when modified), then the map shown."""
        state = self._window.controller.state
        shown = state.formula if state.network is None else Path(state.network).name
        title = f"jacviz — {shown}"
        if self.path is not None:
            title = f"{self.path.name}{'*' if self.is_modified() else ''} — {title}"
        if title != self._window.windowTitle():
            self._window.setWindowTitle(title)

    def watch_lab(self, lab: LabWindow) -> None:
        """Follow a new lab window's changes in the title's ``*``."""
        labs = lab.controller
        for signal in (labs.sigStateChanged, labs.sigDatasetChanged, labs.sigSnapshotChanged):
            signal.connect(self.update_title)

    def _associate(self, path: Path, mark: _Mark) -> None:
        self.path, self._saved = path.resolve(), mark
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
        mark, session = self._mark(), self.current_session()
        try:
            save_session(session, target)
        except SessionError as error:
            self._refuse("Session not saved", str(error))
            return False
        self._associate(target, mark)
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
        problem = self._window.controller.show_state(view)
        if problem is not None:
            self._refuse("Session not opened", f"{target.name}: {problem}")
            return False
        if session.lab is None:
            self._window.close_lab()
        else:
            self._window.open_lab().controller.restore(session.lab)
        self._associate(target, self._mark())
        message = f"Opened the session {target.name}"
        if embedded:
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

        Asks Save / Discard / Cancel when the window differs from its session file (see the
        module docstring for when); True to go on (saved, or discarded), False to stop.
        """
        if not self.is_modified():
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
