"""Training off the GUI thread: jobs that pull snapshots from the core's train() generator.

A :class:`TrainingRun` is one run's generator and what it has produced. A job is superqt's
:class:`~superqt.utils.GeneratorWorker` running :func:`advance`, which pulls snapshots and
yields them with pictures of the model; jobs run on a private one-thread pool, so two jobs
never pull from the same generator at once and queued jobs run in order (a Step clicked while
the first snapshot is still being made comes after it). Pausing is not pulling: the worker
quits at the next yield (:meth:`~superqt.utils.GeneratorWorker.quit`), so a job ends within one
snapshot interval and the run's generator, untouched, resumes where it was when the next job
pulls. A discarded run's generator is closed once no job holds it.

Pictures of the model (:func:`~jacviz.nets.fields.compute_field`) are computed by the job
too, from the snapshot's copy of the weights, at most every :data:`FIELD_INTERVAL` seconds while
training (curves get every snapshot), and once more when a job ends or is stopped (then by a
picture-only job), so the plane always ends on the model the progress bar shows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from functools import partial

import torch
from PyQt6.QtCore import QObject, QThreadPool, pyqtSignal
from superqt.utils import GeneratorWorker

from jacviz.gui.lab.jobs import failure_message, start_generator_job
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
    A run is its own generation: results about a run other than the current one are stale.

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
        """Close the generator (frees the model it trains). Not while a job is pulling.

        Safe on any thread: train() holds no lock or context across its yields.
        """
        self._exhausted = True
        self._snapshots.close()


def advance(run: TrainingRun, snapshots: int | None) -> Iterator[Snapshot | FieldImage]:
    """Pull up to ``snapshots`` snapshots (None: to the end; 0: none) from ``run``, yielding each.

    Pictures of the newest snapshot are yielded too: while training, when one is due
    (:meth:`TrainingRun.field_due`), and at the end if the plane does not show the newest
    model yet. A job's generator; stopping it at a yield leaves ``run`` able to go on.
    """
    pulled = 0
    while snapshots is None or pulled < snapshots:
        if run.discarded:
            return
        # Pictures too on one torch thread, as training: the other core is the GUI's, to
        # draw. With two, a 256² picture took seconds instead of 40-80 ms while the GUI (or
        # another process) kept the second core busy.
        with single_threaded():
            snapshot = run.pull()
        if snapshot is None:
            break
        pulled += 1
        yield snapshot
        if snapshot.done:
            break
        if run.field_due() and not run.discarded:
            yield _picture(run)
    if not run.discarded and run.field_stale():
        yield _picture(run)


def _picture(run: TrainingRun) -> FieldImage | None:
    with single_threaded():
        return run.field()


class _Job:
    """One submitted job: the run it advances, how far, and its superqt worker."""

    def __init__(self, run: TrainingRun, snapshots: int | None):
        self.target = run
        self.snapshots = snapshots
        self.started = False
        """Set on the worker thread when the job begins: from then on it may have read the
        run's display and domain, so a later change needs a picture of its own."""
        self.worker: GeneratorWorker | None = None

    def steps(self) -> Iterator[Snapshot | FieldImage]:
        """The job's work (see :func:`advance`), noting that it has begun."""
        self.started = True
        yield from advance(self.target, self.snapshots)

    @property
    def stopped(self) -> bool:
        """Whether the job was asked to quit (it then ends at its next yield)."""
        return self.worker is not None and self.worker.abort_requested

    def stop(self) -> None:
        """Quit at the next yield; but a run without a model yet still gets its first snapshot.

        So a paused run always has a model to show.
        """
        run = self.target
        if self.worker is not None and (
            self.snapshots is None or run.latest is not None or run.discarded
        ):
            self.worker.quit()


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
        job = _Job(run, snapshots)
        self._jobs.append(job)
        job.worker = start_generator_job(
            self._pool,
            job.steps,
            yielded=partial(self._on_job_yielded, job),
            errored=partial(self._on_job_errored, job),
            finished=partial(self._on_job_finished, job),
        )

    def stop(self) -> None:
        """Ask every queued and running job to stop after its current snapshot."""
        for job in self._jobs:
            job.stop()

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
        jobs, self._jobs = self._jobs, []  # their end is reported later; nothing waits for it
        for job in jobs:
            if job.target.discarded:
                job.target.close()  # nothing pulls any more

    def reopen(self) -> None:
        """Take jobs again after :meth:`shutdown` (a closed window shown again)."""
        self._closed = False

    def _on_job_yielded(self, job: _Job, item: Snapshot | FieldImage | None) -> None:
        if isinstance(item, Snapshot):
            self.sigSnapshot.emit(job.target, item)
        elif item is not None:
            self.sigField.emit(job.target, item)

    def _on_job_errored(self, job: _Job, error: BaseException) -> None:
        message = str(error) if isinstance(error, TrainingError) else failure_message(error)
        self.sigFailed.emit(job.target, message)

    def _on_job_finished(self, job: _Job) -> None:
        if job not in self._jobs:
            return
        self._jobs.remove(job)
        run = job.target
        if not any(other.target is run for other in self._jobs):
            if run.discarded:
                run.close()  # no job holds it, none will
            elif job.stopped and run.field_stale():
                self.submit(run, 0)  # stopped between a snapshot and its picture
        if not self._jobs:
            self.sigIdle.emit(run)
