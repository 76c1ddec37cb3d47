"""The Sweep tab's controller: one λ sweep at a time, run off the GUI thread, cancelled at once.

A sweep (:mod:`jacviz.nets.sweep`) trains one model per (λ, seed). Here it runs as a superqt
generator worker on the controller's own one-thread pool (:func:`~jacviz.gui.lab.jobs.
start_generator_job`): the job plans the sweep (each seed's data is made or read there, never
on the GUI thread), then pulls :func:`~jacviz.nets.sweep.sweep_runs` with every run on child
processes (loky), even with one worker, so that training never shares the GUI's interpreter
and a run in progress can be stopped. Each plan and run arrives on the GUI thread as a signal.

Cancel sets an event the job checks at least every :data:`~jacviz.nets.sweep.POLL_SECONDS`:
runs not started are dropped, runs in progress are stopped by ending their processes, and the
finished runs stay. :meth:`SweepController.shutdown` does the same and waits, so a closed page
or window never leaves a process or a thread behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from PyQt6.QtCore import QObject, QThreadPool, pyqtSignal
from superqt.utils import GeneratorWorker

from jacviz.gui.common.runner import weak_slot
from jacviz.gui.lab.jobs import failure_message, start_generator_job
from jacviz.nets.data import VectorDataset, load_digits, load_npz
from jacviz.nets.datasets import Dataset, DatasetError
from jacviz.nets.errors import NetworkError
from jacviz.nets.sweep import SweepError, SweepPlan, SweepRun, plan_sweep, sweep_runs
from jacviz.nets.training import TrainConfig, TrainingError

__all__ = ["SweepController", "SweepRequest", "SweepSource", "sweep_job"]

SOURCES = {
    "lab": "The Train tab's points",
    "digits": "8×8 digits (64 inputs, 10 classes)",
    "npz": "An .npz file",
}
"""The data a sweep can train on: key → what the data choice calls it."""


@dataclass(frozen=True, eq=False)
class SweepSource:
    """The data of a sweep: the lab's points, the digits or an ``.npz`` file.

    The lab's points are the same for every seed (the seed then sets the initial weights,
    the batches and the projections); the digits and a file without a split column are split
    by each seed with ``test_fraction``, as ``jacviz sweep`` splits them.
    """

    kind: str
    dataset: Dataset | None = None
    path: str | None = None
    test_fraction: float = 0.3

    def make(self, seed: int) -> Dataset | VectorDataset:
        """The data of ``seed``. Raises DatasetError (one line) if it cannot be had."""
        if self.kind == "digits":
            return load_digits(test_fraction=self.test_fraction, seed=seed)
        if self.kind == "npz" and self.path is not None:
            return load_npz(self.path, test_fraction=self.test_fraction, seed=seed)
        if self.kind == "lab" and self.dataset is not None:
            return self.dataset
        raise ValueError(f"no data for a sweep source of kind {self.kind!r}")


@dataclass(frozen=True, eq=False)
class SweepRequest:
    """A sweep to run: its data, base configuration, lists and number of worker processes."""

    source: SweepSource
    config: TrainConfig
    lambdas: tuple[float, ...]
    seeds: tuple[int, ...]
    workers: int

    @property
    def total(self) -> int:
        """How many runs it has."""
        return len(self.lambdas) * len(self.seeds)


def sweep_job(request: SweepRequest, stop: threading.Event) -> Iterator[SweepPlan | SweepRun]:
    """The sweep of ``request``: yields its plan, then each run as it finishes.

    Ends (stopping its runs, ending its worker processes) within about
    :data:`~jacviz.nets.sweep.POLL_SECONDS` of ``stop`` being set.
    """
    plan = plan_sweep(
        request.source.make, request.config, request.lambdas, request.seeds, None, request.workers
    )
    if stop.is_set():
        return
    yield plan
    runs = sweep_runs(plan, workers=request.workers, processes=True)
    try:
        for item in runs:
            if stop.is_set():
                return
            if item is not None:
                yield item
    finally:
        runs.close()


@dataclass(eq=False)
class _Job:
    """One sweep job: its generation, stop event and worker, and how it ended."""

    generation: int
    request: SweepRequest
    stop: threading.Event = field(default_factory=threading.Event)
    worker: GeneratorWorker | None = None
    failure: str | None = None
    data_refused: bool = False
    started: float = field(default_factory=time.monotonic)


class SweepController(QObject):
    """Runs one sweep at a time off the GUI thread; the page gets plain values through signals.

    Signals
    -------
    sigRunningChanged(bool)
        A sweep started (True) or ended (False).
    sigPlanned(SweepPlan)
        The running sweep's data is made and its radii fixed; its runs are starting.
    sigRunArrived(SweepRun)
        A run of the running sweep finished (:attr:`runs` holds it already).
    sigFinished(str, str)
        The sweep ended: a one-line outcome, and how: ``"done"``, ``"cancelled"``,
        ``"data"`` (the data was refused, before any training: the message says why) or
        ``"failed"`` (a run could not be trained, a worker process died).
    """

    sigRunningChanged = pyqtSignal(bool)
    sigPlanned = pyqtSignal(object)
    sigRunArrived = pyqtSignal(object)
    sigFinished = pyqtSignal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._generation = 0
        self._jobs: list[_Job] = []
        """Jobs not yet ended, kept referenced until they report their end."""
        self._current: _Job | None = None
        self.plan: SweepPlan | None = None
        """The plan of the sweep shown (None before its data is made)."""
        self.request: SweepRequest | None = None
        """The sweep shown: running, or the last one."""
        self.runs: list[SweepRun] = []
        """Its finished runs, in the order they arrived."""

    @property
    def busy(self) -> bool:
        """True from :meth:`start` until the sweep has ended."""
        return self._current is not None

    def start(self, request: SweepRequest) -> bool:
        """Start ``request`` (False if a sweep is still running: cancel it first)."""
        if self.busy:
            return False
        self._generation += 1
        job = _Job(self._generation, request)
        self._current, self.request, self.plan, self.runs = job, request, None, []
        job.worker = start_generator_job(
            self._pool,
            sweep_job,
            request,
            job.stop,
            yielded=weak_slot(self, "_on_yielded", job),
            errored=weak_slot(self, "_on_errored", job),
            finished=weak_slot(self, "_on_finished", job),
        )
        self._jobs.append(job)
        self.sigRunningChanged.emit(True)
        return True

    def cancel(self) -> None:
        """Stop the running sweep soon (within about 0.1 s and the time to end its processes)."""
        if self._current is not None:
            self._current.stop.set()

    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel the sweep and wait up to ``msecs`` (-1: for ever) for its job to end.

        Nothing is emitted for a sweep ended here. Returns True when no job runs; afterwards
        :meth:`start` works again.
        """
        for job in self._jobs:
            job.stop.set()
        self._generation += 1
        done = self._pool.waitForDone(msecs)
        if done:
            self._jobs.clear()  # their queued reports are stale and dropped
            if self._current is not None:
                self._current = None
                self.sigRunningChanged.emit(False)
        return done

    # ---- the job's reports, on the GUI thread --------------------------------------------------
    def _on_yielded(self, job: _Job, item: SweepPlan | SweepRun) -> None:
        if job.generation != self._generation:
            return
        if isinstance(item, SweepPlan):
            self.plan = item
            self.sigPlanned.emit(item)
        else:
            self.runs.append(item)
            self.sigRunArrived.emit(item)

    def _on_errored(self, job: _Job, error: BaseException) -> None:
        # jacviz's own refusals are sentences already; anything else is named by its type.
        known = isinstance(error, DatasetError | SweepError | TrainingError | NetworkError)
        job.failure = str(error) if known else failure_message(error)
        job.data_refused = isinstance(error, DatasetError)

    def _on_finished(self, job: _Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        if job.generation != self._generation:
            return
        self._current = None
        self.sigRunningChanged.emit(False)
        done, total = len(self.runs), job.request.total
        seconds = time.monotonic() - job.started
        if job.failure is not None:
            kind = "data" if job.data_refused else "failed"
            self.sigFinished.emit(job.failure, kind)
        elif done < total:
            self.sigFinished.emit(
                f"Cancelled: {done} of {total} runs finished (kept); the runs in progress "
                "were stopped and the others not started.",
                "cancelled",
            )
        else:
            self.sigFinished.emit(f"Done: {total} runs in {seconds:.0f} s.", "done")
