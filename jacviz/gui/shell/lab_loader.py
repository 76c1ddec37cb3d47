"""Open the lab without freezing the window: torch and the lab's models load on a worker first.

The app starts without torch (formula maps compute in numpy); the lab trains torch models, so
the first time it is asked for, torch (one to several seconds to import) and the lab's
non-Qt modules are imported on a worker thread while the status line says so and the cursor
is busy. The lab's widgets are then built on the GUI thread, as Qt requires. Importing off
the GUI thread is safe here: Python's import lock makes any other thread that needs one of
these modules meanwhile wait for it, and no Qt object is created by them.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import QApplication

from jacviz.support.text_input import one_line

__all__ = ["LAB_MODULE", "LAB_PRELOAD", "LOADING_MESSAGE", "LabLoader"]

LAB_MODULE = "jacviz.gui.lab.lab_window"
"""The lab window's module, imported (on the GUI thread) once :data:`LAB_PRELOAD` is."""

LAB_PRELOAD: tuple[str, ...] = (
    "torch",
    "jacviz.nets.training",
    "jacviz.nets.comparison",
    "jacviz.nets.fields",
    "jacviz.state.lab",
    "jacviz.state.compare",
)
"""The slow, Qt-free modules the lab needs, imported on the worker."""

LOADING_MESSAGE = "Opening the lab: loading torch and the training code…"
"""The status line while :data:`LAB_PRELOAD` is imported."""


class LabLoader(QObject):
    """Import what the lab needs on a worker, then call ``open_lab`` on the GUI thread.

    ``show_message`` puts a line in the status bar and ``show_problem(title, text)`` says
    that the import failed (torch missing or broken).
    """

    _sigImported = pyqtSignal(str)  # '' when done, else why not

    def __init__(
        self,
        open_lab: Callable[[], object],
        show_message: Callable[[str], None],
        show_problem: Callable[[str, str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._open_lab = open_lab
        self._show_message = show_message
        self._show_problem = show_problem
        self._worker: threading.Thread | None = None
        self._cancelled = False
        self._sigImported.connect(self._imported, Qt.ConnectionType.QueuedConnection)

    @property
    def loading(self) -> bool:
        """True while the lab's modules are being imported."""
        return self._worker is not None

    def request(self) -> None:
        """Open the lab: at once if torch is loaded, else after loading it on the worker."""
        self._cancelled = False
        if LAB_MODULE in sys.modules or "torch" in sys.modules:
            # The rest imports in a tenth of a second: no worker needed.
            self._open_lab()
            return
        if self._worker is not None:
            return  # already on its way; it opens once loaded
        self._show_message(LOADING_MESSAGE)
        QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        self._worker = threading.Thread(target=self._import, name="lab-import", daemon=True)
        self._worker.start()

    def cancel(self) -> None:
        """Do not open the lab when the import ends (the window is closing)."""
        self._cancelled = True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker (tests, shutdown); True if it is done."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def _import(self) -> None:
        """On the worker: import :data:`LAB_PRELOAD`; report '' or the one-line failure."""
        try:
            for name in LAB_PRELOAD:
                importlib.import_module(name)
        except Exception as error:  # a broken torch install: say so, keep the app running
            self._sigImported.emit(one_line(f"{type(error).__name__}: {error}", 300))
            return
        self._sigImported.emit("")

    def _imported(self, problem: str) -> None:
        """Back on the GUI thread: open the lab, or say why it cannot be."""
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        QApplication.restoreOverrideCursor()
        if self._cancelled:
            return
        if problem:
            self._show_message("")
            self._show_problem("The lab could not be opened", problem)
            return
        self._show_message("")
        self._open_lab()
