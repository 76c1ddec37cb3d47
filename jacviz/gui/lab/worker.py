"""Training off the GUI thread: a worker that pulls snapshots from the core's train() generator.

A :class:`TrainingRun` is one run's generator and what it has produced. Jobs advance it on a
private one-thread pool, so two jobs never pull from the same generator at once and queued
jobs run in order (a Step clicked while the first snapshot is still being made comes after it).
Pausing is not pulling: a job checks its stop flag between snapshots, so it ends within one
snapshot interval and the generator, untouched, resumes where it was when the next job pulls.
A discarded run's generator is closed by the job that last ran it, on the worker thread.

Pictures of the model (:func:`~jacviz.nets.fields.compute_field`) are computed by the job
too, from the snapshot's copy of the weights, at most every :data:`FIELD_INTERVAL` seconds while
training (curves get every snapshot), and once more when a job stops, so the plane always ends
on the model the progress bar shows.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Iterator, Mapping

import torch
from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

from jacviz.math.grid import Domain
from jacviz.nets.datasets import Dataset
from jacviz.nets.fields import FieldImage, compute_field
from jacviz.nets.training import Snapshot, TrainConfig, TrainingError, train
from jacviz.support.threads import single_threaded

FIELD_INTERVAL = 1 / 20
"""Least time, in seconds, between the starts of two pictures while training: the plane then
refreshes up to 20 times a second and the rest of the time goes to training."""


class TrainingRun:
    """One training run: its data, configuration, snapshot generator and newest snapshot.

    Only one job touches the generator at a time (the pool has one thread). The GUI thread
    reads :attr:`latest` (a frozen snapshot, swapped whole) and sets :attr:`display`,
    :attr:`domain` and :attr:`discarded`; plain attribute assignments, atomic in Python.

    Parameters
    ----------
    dataset : Dataset
        The points it trains on (immutable).
    config : TrainConfig
        The model and optimizer.
    domain : Domain
        Where its pictures are computed (the GUI may change it: the user zooms).
    display : str
        Which picture to compute (a key of :data:`~jacviz.nets.fields.DISPLAYS`; the GUI may
        change it).
    snapshot_every : int
        Steps between snapshots: one Step of the user.
    initial_state : mapping, optional
        Go on from these weights (a saved session's model) instead of the seeded ones.
    first_step : int
        The step those weights were saved at: the run's first snapshot has it, and the run
        ends at ``config.steps`` (see :func:`~jacviz.nets.training.train`).

    """

    def __init__(
        self,
        dataset: Dataset,
        config: TrainConfig,
        domain: Domain,
        display: str,
        snapshot_every: int,
        initial_state: Mapping[str, torch.Tensor] | None = None,
        first_step: int = 0,
    ):
        self.dataset = dataset
        self.config = config
        self.domain = domain
        self.display = display
        self.snapshot_every = snapshot_every
        self.first_step = first_step
        self.latest: Snapshot | None = None
        self.discarded = False
        self._snapshots: Iterator[Snapshot] = train(
            dataset, config, snapshot_every, initial_state, first_step
        )
        self._exhausted = False
        self._field_started = -math.inf
        self._field_drawn: tuple[int, str, Domain] | None = None

    @property
    def done(self) -> bool:
        """Whether the run has nothing more to give (finished, diverged or failed)."""
        return self._exhausted or (self.latest is not None and self.latest.done)

    def pull(self) -> Snapshot | None:
        """The next snapshot, or None when the run is over. Worker thread only."""
        if self.done:
            return None
        try:
            snapshot = next(self._snapshots)
        except StopIteration:
            self._exhausted = True
            return None
        except BaseException:
            self._exhausted = True  # a generator that raised cannot be resumed
            raise
        self.latest = snapshot
        return snapshot

    def field_due(self) -> bool:
        """Whether enough time has passed since the last picture to start another."""
        return time.perf_counter() - self._field_started >= FIELD_INTERVAL

    def field_stale(self) -> bool:
        """Whether the last picture is not of the newest snapshot, display and domain."""
        latest = self.latest
        return latest is not None and self._field_drawn != (latest.step, self.display, self.domain)

    def field(self) -> FieldImage | None:
        """The current display's picture of the newest snapshot. Worker thread only."""
        latest, display, domain = self.latest, self.display, self.domain
        if latest is None:
            return None
        self._field_started = time.perf_counter()
        image = compute_field(
            self.config, latest.state, self.dataset.n_classes, domain, display, latest.step
        )
        self._field_drawn = (latest.step, display, domain)
        return image

    def close(self) -> None:
        """Close the generator (frees the model it trains). Not while a job is pulling."""
        self._exhausted = True
        self._snapshots.close()


class _Signals(QObject):
    snapshot = pyqtSignal(object, object)
    field = pyqtSignal(object, object)
    failed = pyqtSignal(object, str)
    finished = pyqtSignal(object)


class _Job(QRunnable):
    """Pull up to ``snapshots`` snapshots (None: to the end; 0: only a picture) from ``run``."""

    def __init__(self, run: TrainingRun, snapshots: int | None, signals: _Signals):
        super().__init__()
        self.setAutoDelete(False)  # the worker keeps it until finished: it holds the stop flag
        self.target = run
        self.snapshots = snapshots
        self.stop = threading.Event()
        self.started = False
        self._signals = signals

    def run(self) -> None:
        self.started = True
        run, signals = self.target, self._signals
        try:
            try:
                # Pictures too on one torch thread, as training: the other core is the GUI's,
                # to draw. With two, a 256² picture took seconds instead of 40-80 ms while the
                # GUI (or another process) kept the second core busy.
                with single_threaded():
                    self._advance(run, signals)
            except TrainingError as error:  # data that cannot be trained on: say why, plainly
                signals.failed.emit(run, str(error))
            except Exception as error:  # reported to the GUI: a thread must never raise
                detail = "".join(traceback.format_exception_only(type(error), error)).strip()
                signals.failed.emit(run, detail)
            finally:
                if run.discarded:
                    run.close()
                signals.finished.emit(self)
        except RuntimeError:  # the signals' QObject went with its window: nobody to tell
            pass

    def _advance(self, run: TrainingRun, signals: _Signals) -> None:
        pulled = 0
        while self.snapshots is None or pulled < self.snapshots:
            # A run's first snapshot is made even if stopped, so a paused run has a model.
            if run.discarded or (self.stop.is_set() and run.latest is not None):
                break
            snapshot = run.pull()
            if snapshot is None:
                break
            pulled += 1
            signals.snapshot.emit(run, snapshot)
            if snapshot.done:
                break
            if run.field_due() and not run.discarded:
                signals.field.emit(run, run.field())
        if not run.discarded and run.field_stale():
            signals.field.emit(run, run.field())


class TrainingWorker(QObject):
    """Runs jobs that advance :class:`TrainingRun` objects, one at a time, off the GUI thread.

    Signals (emitted on the GUI thread, each with the run it is about, so a controller can
    ignore runs it has discarded)
    -------
    sigSnapshot(TrainingRun, Snapshot)
        A new snapshot of the run.
    sigField(TrainingRun, FieldImage)
        A new picture of the run's model.
    sigFailed(TrainingRun, str)
        The run raised (e.g. :class:`~jacviz.nets.training.TrainingError` for data that cannot
        be trained on); the message says why. The run is over.
    sigIdle(TrainingRun)
        The last queued job has finished; this run was the one it advanced.
    """

    sigSnapshot = pyqtSignal(object, object)
    sigField = pyqtSignal(object, object)
    sigFailed = pyqtSignal(object, str)
    sigIdle = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.snapshot.connect(self.sigSnapshot)
        self._signals.field.connect(self.sigField)
        self._signals.failed.connect(self.sigFailed)
        self._signals.finished.connect(self._on_job_finished)
        self._jobs: list[_Job] = []
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while a job runs or waits to run (or its end has not been reported yet)."""
        return bool(self._jobs)

    def submit(self, run: TrainingRun, snapshots: int | None) -> None:
        """Queue a job: pull ``snapshots`` snapshots from ``run`` (None: to the end, 0: none).

        Ignored after :meth:`shutdown`.

        Whatever it pulls, the job ends by computing the picture of the newest snapshot if the
        plane does not show it yet (in the run's display and domain when the job gets there,
        so a picture-only job waiting to start already covers later changes: no second one).
        """
        if self._closed:
            return
        if snapshots == 0 and any(
            job.snapshots == 0 and job.target is run and not job.started for job in self._jobs
        ):
            return
        job = _Job(run, snapshots, self._signals)
        self._jobs.append(job)
        self._pool.start(job)

    def stop(self) -> None:
        """Ask every queued and running job to stop after its current snapshot."""
        for job in self._jobs:
            job.stop.set()

    def wait(self, msecs: int = -1) -> bool:
        """Block until no job runs (tests); True if none does."""
        return self._pool.waitForDone(msecs)

    @property
    def closed(self) -> bool:
        """True between :meth:`shutdown` and :meth:`reopen`."""
        return self._closed

    def shutdown(self) -> None:
        """Stop every job and wait for the thread to finish: nothing runs afterwards.

        Later submissions are ignored until :meth:`reopen`: closing a window can still deliver
        intents (a text field losing the focus finishes its edit) after the window has shut
        its worker down.
        """
        self._closed = True
        self.stop()
        self._pool.waitForDone()
        self._jobs.clear()  # their end is reported later, if ever; nothing waits for it

    def reopen(self) -> None:
        """Take jobs again after :meth:`shutdown` (a closed window shown again)."""
        self._closed = False

    def _on_job_finished(self, job: _Job) -> None:
        if job not in self._jobs:
            return
        self._jobs.remove(job)
        if not self._jobs:
            self.sigIdle.emit(job.target)
