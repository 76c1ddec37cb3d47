"""Training off the GUI thread: jobs that pull snapshots from the core's train() generator.

A :class:`TrainingRun` is one run's generator and what it has produced. A job is superqt's
:class:`~superqt.utils.GeneratorWorker` running :func:`advance`, which pulls snapshots flat out
and yields them in batches, at most every :data:`UPDATE_INTERVAL` seconds (the GUI thread then
updates curves and counters at a bounded rate, not once per snapshot); jobs run on a private
one-thread pool, so two jobs never pull from the same generator at once and queued jobs run in
order (a Step clicked while the first snapshot is still being made comes after it). Pausing is
not pulling: the worker quits at the next yield (:meth:`~superqt.utils.GeneratorWorker.quit`),
so a job ends within one batch and the run's generator, untouched, resumes where it was when
the next job pulls. A discarded run's generator is closed once no job holds it.

Pictures of the model are not the training job's: a :class:`~jacviz.gui.lab.pictures.
PictureWorker` computes them on a thread of its own from the newest snapshot's copy of the
weights, asked for with every batch and after every picture while the run trains, and once
more when a job ends, so the plane always ends on the model the progress bar shows. A slow
picture never holds training; training never waits for a picture.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import torch
from PyQt6.QtCore import QObject, QThreadPool, pyqtSignal
from superqt.utils import GeneratorWorker

from jacviz.gui.common.runner import weak_slot
from jacviz.gui.lab.jobs import failure_message, start_generator_job
from jacviz.gui.lab.pictures import Picture, PictureWorker
from jacviz.math.grid import Domain
from jacviz.nets.datasets import Dataset
from jacviz.nets.fields import FieldFunction, compute_field
from jacviz.nets.training import Snapshot, TrainConfig, TrainingError, train
from jacviz.support.threads import worker_threads

UPDATE_INTERVAL = 1 / 30
"""Least time, in seconds, between two batches of snapshots sent to the GUI while training:
progress, numbers and curves then follow at up to 30 updates a second, however fast the
steps come, and the GUI thread's share of the interpreter stays small."""


class TrainingRun:
    """One training run: its data, configuration, snapshot generator and newest snapshot.

    Only one job touches the generator at a time (the pool has one thread). The worker thread
    sets :attr:`latest` (a frozen snapshot, swapped whole) and the picture thread
    :attr:`field_drawn`; the GUI thread reads them and sets :attr:`display`, :attr:`domain`
    and :attr:`discarded`. Plain attribute assignments, atomic in Python.
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
        self.field_drawn: tuple[int, str, Domain] | None = None
        """Step, display and domain of the last picture computed (None before the first)."""
        self._snapshots: Iterator[Snapshot] = train(
            dataset, config, snapshot_every, initial_state, first_step
        )
        self._exhausted = False

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

    def field_stale(self) -> bool:
        """Whether the last picture is not of the newest snapshot, display and domain."""
        latest = self.latest
        return latest is not None and self.field_drawn != (latest.step, self.display, self.domain)

    def close(self) -> None:
        """Close the generator (frees the model it trains). Not while a job is pulling.

        Safe on any thread: train() holds no lock or context across its yields.
        """
        self._exhausted = True
        self._snapshots.close()


def advance(run: TrainingRun, snapshots: int | None) -> Iterator[tuple[Snapshot, ...]]:
    """Pull up to ``snapshots`` snapshots (None: to the end; 0: none) from ``run``, in batches.

    A batch holds the snapshots pulled since the last one; it is yielded once
    :data:`UPDATE_INTERVAL` has passed since the last, after the first snapshot of the job, and
    at the end. A job's generator; stopping it at a yield leaves ``run`` able to go on.
    """
    pulled = 0
    batch: list[Snapshot] = []
    last_yield = -float("inf")
    while snapshots is None or pulled < snapshots:
        if run.discarded:
            return
        # The snapshot's measurements too on the policy's one torch thread (train() keeps its
        # steps on one): with two, they slowed 10x whenever the other core was busy.
        with worker_threads():
            snapshot = run.pull()
        if snapshot is None:
            break
        pulled += 1
        batch.append(snapshot)
        if snapshot.done:
            break
        now = time.perf_counter()
        if pulled == 1 or now - last_yield >= UPDATE_INTERVAL:
            last_yield = now
            yield tuple(batch)
            batch = []
    if batch and not run.discarded:
        yield tuple(batch)


class _Job:
    """One submitted job: the run it advances, how far, and its superqt worker."""

    def __init__(self, run: TrainingRun, snapshots: int | None):
        self.target = run
        self.snapshots = snapshots
        self.worker: GeneratorWorker | None = None

    def steps(self) -> Iterator[tuple[Snapshot, ...]]:
        """The job's work (see :func:`advance`)."""
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
    """Runs jobs that advance :class:`TrainingRun` objects, and their pictures, off the GUI thread.

    Training jobs run one at a time on one thread; pictures on another
    (:class:`~jacviz.gui.lab.pictures.PictureWorker`, which ``field`` is handed to: the
    function computing a picture, :func:`~jacviz.nets.fields.compute_field` unless a test or
    benchmark gives another).

    Signals (emitted on the GUI thread, each with the run it is about, so a controller can
    ignore runs it has discarded)
    -------
    sigSnapshots(TrainingRun, tuple)
        New snapshots of the run, oldest first (at most every :data:`UPDATE_INTERVAL`).
    sigField(TrainingRun, Picture)
        A new picture of the run's model.
    sigFailed(TrainingRun, str)
        The run raised (e.g. :class:`~jacviz.nets.training.TrainingError` for data that cannot
        be trained on), or its picture did; the message says why. A training failure ends it.
    sigIdle(TrainingRun)
        The last queued training job has finished; this run was the one it advanced.
    """

    sigSnapshots = pyqtSignal(object, object)
    sigField = pyqtSignal(object, object)
    sigFailed = pyqtSignal(object, str)
    sigIdle = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None, field: FieldFunction = compute_field):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._jobs: list[_Job] = []
        self._closed = False
        self.pictures = PictureWorker(field, self)
        self.pictures.sigPicture.connect(self._on_picture)
        self.pictures.sigFailed.connect(self.sigFailed)

    @property
    def busy(self) -> bool:
        """True while a job or picture runs or waits (or its end has not been reported yet)."""
        return bool(self._jobs) or self.pictures.busy

    def submit(self, run: TrainingRun, snapshots: int | None) -> None:
        """Queue a job: pull ``snapshots`` snapshots from ``run`` (None: to the end, 0: none).

        Ignored after :meth:`shutdown`. ``0`` asks only for the picture of the newest snapshot
        in the run's current display and domain (if the plane does not show it yet); every job
        ends by asking for that too.
        """
        if self._closed:
            return
        if snapshots == 0:
            if run.field_stale():
                self.pictures.request(run)
            return
        job = _Job(run, snapshots)
        self._jobs.append(job)
        job.worker = start_generator_job(
            self._pool,
            job.steps,
            yielded=weak_slot(self, "_on_job_yielded", job),
            errored=weak_slot(self, "_on_job_errored", job),
            finished=weak_slot(self, "_on_job_finished", job),
        )

    def training(self, run: TrainingRun) -> bool:
        """Whether a job advancing ``run`` is queued or running."""
        return any(job.target is run for job in self._jobs)

    def stop(self) -> None:
        """Ask every queued and running job to stop after its current batch."""
        for job in self._jobs:
            job.stop()

    def wait(self, msecs: int = -1) -> bool:
        """Block until no job or picture runs (tests); True if none does."""
        return self._pool.waitForDone(msecs) and self.pictures.wait(msecs)

    @property
    def closed(self) -> bool:
        """True between :meth:`shutdown` and :meth:`reopen`."""
        return self._closed

    def shutdown(self) -> None:
        """Stop every job and picture and wait for their threads: nothing runs afterwards.

        Later submissions are ignored until :meth:`reopen`: closing a window can still deliver
        intents (a text field losing the focus finishes its edit) after the window has shut
        its worker down.
        """
        self._closed = True
        self.stop()
        self._pool.waitForDone()
        self.pictures.shutdown()
        jobs, self._jobs = self._jobs, []  # their end is reported later; nothing waits for it
        for job in jobs:
            if job.target.discarded:
                job.target.close()  # nothing pulls any more

    def reopen(self) -> None:
        """Take jobs again after :meth:`shutdown` (a closed window shown again)."""
        self._closed = False
        self.pictures.reopen()

    def discard(self, run: TrainingRun) -> None:
        """Stop working on ``run``: its jobs quit at their next yield, its picture is not made."""
        run.discarded = True
        self.pictures.cancel(run)
        for job in self._jobs:
            if job.target is run:
                job.stop()

    def _on_job_yielded(self, job: _Job, batch: tuple[Snapshot, ...]) -> None:
        run = job.target
        self.sigSnapshots.emit(run, batch)
        if not run.discarded and run.field_stale():
            self.pictures.request(run)

    def _on_picture(self, run: TrainingRun, picture: Picture) -> None:
        self.sigField.emit(run, picture)
        if not run.discarded and self.training(run) and run.field_stale():
            self.pictures.request(run)  # the next frame, of the newest weights by then

    def _on_job_errored(self, job: _Job, error: BaseException) -> None:
        message = str(error) if isinstance(error, TrainingError) else failure_message(error)
        self.sigFailed.emit(job.target, message)

    def _on_job_finished(self, job: _Job) -> None:
        if job not in self._jobs:
            return
        self._jobs.remove(job)
        run = job.target
        if not self.training(run):
            if run.discarded:
                run.close()  # no job holds it, none will
            elif run.field_stale():
                self.pictures.request(run)  # the plane ends on the newest model
        if not self._jobs:
            self.sigIdle.emit(run)
