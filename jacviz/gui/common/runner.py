"""Run work off the GUI thread, keeping only the newest request.

While the user drags a slider, requests arrive faster than they finish. The runner keeps at
most one job running and one waiting: a new request replaces the waiting one, and a result
is delivered only if no newer request was made after it (a generation counter, as in ndv), so
a superseded picture never flashes on screen.

Each job is a :class:`Job`, a QRunnable with its own signals, started on the runner's own
one-thread pool rather than Qt's global one, so that :meth:`LatestOnlyRunner.wait` waits for
exactly this runner's work and a window's shutdown never waits for another's (every background
job of the map view and the shell goes through a runner: heatmaps, loading, animation export).
It behaves as superqt's ``FunctionWorker``, which the lab's workers use, but is written on
QtCore alone: importing ``superqt.utils`` imports all of superqt, qtpy and pygments (about
0.17 s), and the runner is on the path to the window's first paint.
"""

from __future__ import annotations

import itertools
import traceback
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

from PyQt6 import sip
from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal


def error_message(error: BaseException) -> str:
    """One line naming an exception a background job raised: ``"ZeroDivisionError: boom"``."""
    return "".join(traceback.format_exception_only(type(error), error)).strip()


class JobSignals(QObject):
    """What a :class:`Job` reports, from its thread: queued to the receivers' threads.

    ``returned(object)`` carries the job's result (unless it was told to quit),
    ``errored(object)`` the exception it raised, and ``finished()`` comes last.
    """

    returned = pyqtSignal(object)
    errored = pyqtSignal(object)
    finished = pyqtSignal()


class Job(QRunnable):
    """``function()`` run once on a thread pool, its outcome reported by :attr:`signals`.

    Create it on the thread that receives its signals (the GUI thread). An exception is
    sent as ``errored``, and after :meth:`quit` its result is not sent at all.

    Warnings the job issues take the process's usual way (its filters, and whatever records
    or shows them: the command line's silence, pytest's ``recwarn``). Unlike superqt's
    workers, a job does not swap :func:`warnings.showwarning` for a forwarder of its own:
    that module state is shared by all threads, two jobs overlapping could leave one's
    forwarder in place for good, and a warning on the GUI thread then went round in circles
    (a RecursionError seen in the test suite).
    """

    def __init__(self, function: Callable[[], Any]):
        super().__init__()
        self._function = function
        self._quit = False
        self.signals = JobSignals()

    def quit(self) -> None:
        """Ask that the result be dropped: ``returned`` is not sent (the job still runs)."""
        self._quit = True

    def run(self) -> None:
        """Run the function, and report (called by the thread pool, on its thread)."""
        signals = self.signals
        try:
            result = self._function()
            if not self._quit:
                signals.returned.emit(result)
        except Exception as error:  # reported, never raised: a thread must never raise
            signals.errored.emit(error)
        self._function = None  # what it held is let go of now, not when the job is
        signals.finished.emit()


_UNFINISHED: dict[int, Any] = {}
"""Every job whose ``finished`` signal has not been delivered yet, by job number.

A job's signals are a QObject of its own: it must outlive the signals it queued for the
GUI thread, even when its runner (and the window owning it) is deleted first. Held here, a
job is released on the GUI thread by its last signal, never earlier. Its connections name
it by number, not by reference: a reference from its own signals' connections would keep
it, and its work, alive forever.
"""
_job_numbers = itertools.count(1)


def _release(number: int) -> None:
    """Let go of a job whose last signal was delivered, deleting its signals on this thread.

    The pool deletes the QRunnable itself after its ``run`` (auto-delete). The job's thread
    may still hold the Python object for an instant after its last signal: were the signals'
    QObject deleted with it, that could happen on that thread, while this one uses it. So
    Qt owns it from here, and deletes it on this thread's next turn of the event loop.
    """
    job = _UNFINISHED.pop(number, None)
    if job is not None:
        sip.transferto(job.signals, None)
        job.signals.deleteLater()


def keep_until_finished(job: Any, number: int | None = None) -> int:
    """Hold ``job`` until its ``signals.finished`` has been delivered; its number.

    For a :class:`Job` and for superqt's workers alike (anything whose ``signals`` QObject
    ends with ``finished``), whoever else lets go of it. Connect the job's other slots for
    ``finished`` first: this one, connected last, is delivered last and lets go of it.
    ``number`` is the one the caller's own slots already carry (a new one if None).
    """
    if number is None:
        number = next(_job_numbers)
    _UNFINISHED[number] = job
    job.signals.finished.connect(partial(_release, number))
    return number


def _call_if_alive(ref: weakref.ReferenceType, method: str, *args: Any) -> None:
    obj = ref()
    if obj is not None and not sip.isdeleted(obj):
        getattr(obj, method)(*args)


def weak_slot(obj: QObject, method: str, *bound: Any) -> Callable[..., None]:
    """A slot calling ``obj.method(*bound, *args)``, or nothing once ``obj`` is gone.

    For signals queued from a worker thread to a QObject that may be deleted first (a
    window closed while its job finishes). Connected to ``partial(obj.method, ...)``,
    PyQt ties the connection to ``obj`` and, when ``obj`` is destroyed, lets go of the
    partial while the call may still be queued: delivered, it then called freed memory
    (a segmentation fault, seen when a lab window closed as its plane page read the
    digits). This slot is a plain function holding ``obj`` weakly, owned by the signal's
    sender, and checks that ``obj`` is still there.
    """
    return partial(_call_if_alive, weakref.ref(obj), method, *bound)


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
        self._running: int | None = None
        """The number of the job on the thread, until it reports."""
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
        running = _UNFINISHED.get(self._running) if self._running is not None else None
        if running is not None:
            running.quit()  # its result, if it comes, is not emitted by the worker

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
        job = Job(function)
        signals = job.signals
        signals.returned.connect(weak_slot(self, "_on_job_returned", generation))
        signals.errored.connect(weak_slot(self, "_on_job_errored", generation))
        number = next(_job_numbers)
        signals.finished.connect(weak_slot(self, "_on_job_finished", number))
        # Its release is connected last, so delivered last; a plain function: it runs even
        # after the runner is gone.
        keep_until_finished(job, number)
        self._running = number
        self._pool.start(job)

    def _on_job_returned(self, generation: int, result: object) -> None:
        if generation == self._generation:
            self.sigResult.emit(result)

    def _on_job_errored(self, generation: int, error: BaseException) -> None:
        if generation == self._generation:
            self.sigFailed.emit(error_message(error))

    def _on_job_finished(self, number: int) -> None:
        if number == self._running:
            self._running = None
        self._start_waiting()
