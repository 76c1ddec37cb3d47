"""Run work off the GUI thread, keeping only the newest request.

While the user drags a slider, requests arrive faster than they finish. The runner keeps at
most one job running and one waiting: a new request replaces the waiting one, and a result
is delivered only if no newer request was made after it (a generation counter, as in ndv), so
a superseded picture never flashes on screen.

Each job is a superqt :class:`~superqt.utils.FunctionWorker` (the map view's heatmaps and
loading, the shell's animation export and the lab's workers share these primitives), started
on the runner's own one-thread pool rather than Qt's global one, so that :meth:`wait` waits
for exactly this runner's work and a window's shutdown never waits for another's.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from PyQt6.QtCore import QObject, QThreadPool, pyqtSignal
from superqt.utils import FunctionWorker, create_worker


def error_message(error: BaseException) -> str:
    """One line naming an exception a background job raised: ``"ZeroDivisionError: boom"``."""
    return "".join(traceback.format_exception_only(type(error), error)).strip()


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
        self._generation = 0
        self._running: FunctionWorker | None = None
        """The job on the thread; kept referenced until it reports, so it is never collected."""
        self._waiting: tuple[int, Callable[[], Any]] | None = None

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        return self._running is not None or self._waiting is not None

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
        if self._running is not None:
            self._running.quit()  # its result, if it comes, is not emitted by the worker

    def wait(self, msecs: int = -1) -> bool:
        """Block until the running job ends (for shutdown and tests); True if it has."""
        done = self._pool.waitForDone(msecs)
        if done:
            # Its signals may still be queued; nothing runs any more either way.
            self._running = None
        return done

    def _start_waiting(self) -> None:
        if self._running is not None or self._waiting is None:
            return
        generation, function = self._waiting
        self._waiting = None
        # Methods of this QObject: delivered on its (the GUI) thread, queued. Errors are
        # reported through sigFailed, never re-raised: a thread must never raise.
        worker = create_worker(
            function,
            _start_thread=False,
            _connect={
                "returned": partial(self._on_job_returned, generation),
                "errored": partial(self._on_job_errored, generation),
            },
        )
        worker.finished.connect(partial(self._on_job_finished, worker))
        self._running = worker
        self._pool.start(worker)

    def _on_job_returned(self, generation: int, result: object) -> None:
        if generation == self._generation:
            self.sigResult.emit(result)

    def _on_job_errored(self, generation: int, error: BaseException) -> None:
        if generation == self._generation:
            self.sigFailed.emit(error_message(error))

    def _on_job_finished(self, worker: FunctionWorker) -> None:
        if worker is self._running:
            self._running = None
        self._start_waiting()
