"""Requests to show something new, prepared off the GUI thread, newest first.

A typed formula, a network file or a session's map is prepared by a
:class:`RequestLoader`: the controller hands it a *prepare* function that runs on a
:class:`~jacviz.gui.common.runner.LatestOnlyRunner` inside a
:class:`~jacviz.support.isolation.CancelScope` (so that cancelling kills a child process at
once) and returns either a function that puts the result on screen, or a :class:`Refused`
saying why it cannot be shown. A newer request replaces the pending one; the user can cancel;
whoever asked is told how it ended (an :class:`Outcome`), and :meth:`RequestLoader.wait_for`
runs the event loop until then, for scripts, renders and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PyQt6.QtCore import QEventLoop, QObject, pyqtSignal

from jacviz.gui.common.runner import LatestOnlyRunner
from jacviz.nets.hosted import LoadCancelled
from jacviz.nets.networks import NetworkError
from jacviz.support.isolation import Cancelled, CancelScope


@dataclass(frozen=True)
class Outcome:
    """How a request to show something (a formula, network or session's map) ended."""

    problem: str | None = None
    """None when it is on screen; else why not, in one line."""
    cancelled: bool = False
    """True when the user cancelled it, or a newer request replaced it."""


@dataclass(frozen=True)
class Refused:
    """A request that cannot be shown: why, and where in a typed formula (column, or 0)."""

    message: str
    title: str = ""
    """The dialog's title, for problems worth a dialog ('' for none)."""
    column: int = 0
    formula: bool = False
    """True for a typed formula: the editor shows the message under the text."""


Prepare = Callable[[], Callable[[], None] | Refused]
"""Prepares a request off the GUI thread: returns what shows it, or why it cannot be shown."""


@dataclass
class _Request:
    """A request being prepared off the GUI thread."""

    number: int
    description: str
    scope: CancelScope
    done: Callable[[Outcome], None] | None


class RequestLoader(QObject):
    """Prepares one request at a time off the GUI thread; a newer one replaces it.

    Parameters
    ----------
    fall_back : callable
        Called with the reason when showing a prepared request fails on the GUI thread (the
        network raised meanwhile): the map view falls back to the last formula.

    Signals
    -------
    sigLoading(str)
        What is being prepared ('' when nothing is).
    sigRefused(Refused)
        The request cannot be shown: the view says why (under the formula, or in a dialog).
    sigStatus(str)
        Information for the status bar (a cancel, a crash while preparing).
    sigRequestEnded(int)
        A request ended, however (its number).

    """

    sigLoading = pyqtSignal(str)
    sigRefused = pyqtSignal(object)
    sigStatus = pyqtSignal(str)
    sigRequestEnded = pyqtSignal(int)

    def __init__(self, fall_back: Callable[[str], None], parent: QObject | None = None):
        super().__init__(parent)
        self._fall_back = fall_back
        self._runner = LatestOnlyRunner(self)
        self._runner.sigResult.connect(self._on_prepared)
        self._runner.sigFailed.connect(self._on_prepare_crashed)
        self._request: _Request | None = None
        self._requests = 0

    @property
    def loading(self) -> str:
        """What is being prepared off the GUI thread ('' when nothing is)."""
        return "" if self._request is None else self._request.description

    def submit(
        self,
        description: str,
        prepare: Prepare,
        done: Callable[[Outcome], None] | None,
        title: str = "",
    ) -> None:
        """Prepare a request on the loader thread; a newer request replaces this one.

        ``title`` is the dialog's title when a network cannot be loaded or tried.
        """
        previous = self._request
        if previous is not None:  # superseded: stop its work, tell whoever waits on it
            self._request = None
            previous.scope.cancel()
            self._end(previous, Outcome("replaced by a newer request", cancelled=True))
        self._requests += 1
        scope = CancelScope()
        request = _Request(self._requests, description, scope, done)
        self._request = request

        def run() -> Callable[[], None] | Refused:
            with scope:
                try:
                    return prepare()
                except (LoadCancelled, Cancelled):
                    return Refused("cancelled")
                except (NetworkError, ValueError) as error:
                    return Refused(str(error), title)
                except MemoryError:
                    return Refused("it needs more memory than this machine has", title)

        self.sigLoading.emit(description)
        self._runner.submit(run)

    def cancel(self) -> None:
        """Stop preparing the pending request (its child process is killed); the map stays."""
        request, self._request = self._request, None
        if request is None:
            return
        request.scope.cancel()
        self._runner.cancel()
        self.sigLoading.emit("")
        self.sigStatus.emit(f"Cancelled: {request.description.rstrip('…')}")
        self._end(request, Outcome("cancelled", cancelled=True))

    def finish(self) -> None:
        """Run the event loop until no request is pending (for renders and scripts)."""
        while self._request is not None:
            loop = QEventLoop()
            self.sigRequestEnded.connect(loop.quit)
            try:
                if self._request is not None:
                    loop.exec()
            finally:
                self.sigRequestEnded.disconnect(loop.quit)

    def wait_for(self, start: Callable[..., None], argument: object) -> Outcome:
        """Start a request with ``start(argument, done)``; run the event loop until it ends."""
        loop = QEventLoop()
        ended: list[Outcome] = []

        def finish(outcome: Outcome) -> None:
            ended.append(outcome)
            loop.quit()

        start(argument, finish)
        if not ended:
            loop.exec()
        return ended[0]

    def wait(self, msecs: int = -1) -> bool:
        """Block until the loader thread is idle (at shutdown, after :meth:`cancel`).

        Waits at most ``msecs`` milliseconds (-1: no limit); True if the thread is idle.
        """
        return self._runner.wait(msecs)

    def _on_prepared(self, prepared: Callable[[], None] | Refused) -> None:
        request, self._request = self._request, None
        if request is None:
            return  # cancelled after its result was on its way
        self.sigLoading.emit("")
        if isinstance(prepared, Refused):
            self.sigRefused.emit(prepared)
            self._end(request, Outcome(prepared.message))
            return
        try:
            prepared()
        except (NetworkError, MemoryError) as error:  # failed while being put on screen
            self._fall_back(str(error) or "it ran out of memory")
            self._end(request, Outcome(str(error)))
            return
        self._end(request, Outcome())

    def _on_prepare_crashed(self, message: str) -> None:
        """An unexpected error while preparing (a bug): say so, keep the map."""
        request, self._request = self._request, None
        if request is None:
            return
        self.sigLoading.emit("")
        self.sigStatus.emit(f"Could not prepare the map: {message}")
        self._end(request, Outcome(message))

    def _end(self, request: _Request, outcome: Outcome) -> None:
        if request.done is not None:
            request.done(outcome)
        self.sigRequestEnded.emit(request.number)
