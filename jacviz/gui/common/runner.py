"""Run work off the GUI thread, keeping only the newest request.

While the user drags a slider, requests arrive faster than they finish. The runner keeps at
most one job running and one waiting: a new request replaces the waiting one, and a result
is delivered only if no newer request was made after it (a generation counter, as in ndv), so
a superseded picture never flashes on screen.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal


class _Signals(QObject):
    finished = pyqtSignal(int, object)
    failed = pyqtSignal(int, str)


class _Job(QRunnable):
    def __init__(self, generation: int, function: Callable[[], Any], signals: _Signals):
        super().__init__()
        self._generation = generation
        self._function = function
        self._signals = signals

    def run(self) -> None:
        try:
            result = self._function()
        except Exception as error:  # reported to the GUI: a thread must never raise
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self._signals.failed.emit(self._generation, detail)
        else:
            self._signals.finished.emit(self._generation, result)


class LatestOnlyRunner(QObject):
    """Runs submitted callables on a private thread, delivering only the newest result.

    Signals
    -------
    sigResult(object)
        The return value of the newest request, emitted on the GUI thread.
    sigFailed(str)
        The newest request raised; the message says what went wrong.
    """

    sigResult = pyqtSignal(object)
    sigFailed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.finished.connect(self._on_job_finished)
        self._signals.failed.connect(self._on_job_failed)
        self._generation = 0
        self._running = False
        self._waiting: tuple[int, Callable[[], Any]] | None = None

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        return self._running or self._waiting is not None

    def submit(self, function: Callable[[], Any]) -> None:
        """Run ``function()`` off the GUI thread; supersedes every earlier request."""
        self._generation += 1
        self._waiting = (self._generation, function)
        self._start_waiting()

    def submit_checked(self, function: Callable[[Callable[[], bool]], Any]) -> None:
        """Like :meth:`submit`, for long jobs that stop early when they are superseded.

        ``function`` is called with ``superseded()``, which turns True as soon as a newer
        request (or :meth:`cancel`) makes its result useless: a job that checks it between
        steps frees the thread at once, and :meth:`wait` at shutdown is short.
        """
        generation = self._generation + 1
        self.submit(lambda: function(lambda: self._generation != generation))

    def cancel(self) -> None:
        """Forget the waiting request and drop the running one's result."""
        self._generation += 1
        self._waiting = None

    def wait(self, msecs: int = -1) -> bool:
        """Block until the running job ends (for shutdown and tests); True if it has."""
        done = self._pool.waitForDone(msecs)
        if done:
            # Its finished signal may still be queued; nothing runs any more either way.
            self._running = False
        return done

    def _start_waiting(self) -> None:
        if self._running or self._waiting is None:
            return
        generation, function = self._waiting
        self._waiting = None
        self._running = True
        self._pool.start(_Job(generation, function, self._signals))

    def _on_job_finished(self, generation: int, result: object) -> None:
        self._running = False
        if generation == self._generation:
            self.sigResult.emit(result)
        self._start_waiting()

    def _on_job_failed(self, generation: int, message: str) -> None:
        self._running = False
        if generation == self._generation:
            self.sigFailed.emit(message)
        self._start_waiting()
