"""Pictures of a training run's model on a worker of their own, newest weights only.

Training runs flat out on the training worker (:mod:`jacviz.gui.lab.worker`); the plane's
picture of the model is computed here, on a second one-thread pool, from the newest
snapshot's copy of the weights, so a slow picture never holds a training step. Requests are
latest-only: while a picture is being computed, any number of requests become one, which
reads the run's newest snapshot, display and domain when it starts (stale requests are
dropped, never queued). Pictures start at most every :data:`FRAME_INTERVAL` seconds, so they
leave the rest of their core to the GUI thread, which only uploads them: the region colours
are computed here too.

Pictures of one run come in step order (one thread, each reading a newer or equal snapshot),
and one whose display or domain has changed since it started is not delivered: the change
has asked for another.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np
from PyQt6.QtCore import QObject, QThreadPool, QTimer, pyqtSignal
from superqt.utils import FunctionWorker, create_worker

from jacviz.gui.common.runner import weak_slot
from jacviz.gui.lab.jobs import failure_message
from jacviz.gui.lab.regions_view import region_colours
from jacviz.math.grid import Domain
from jacviz.nets.datasets import Dataset
from jacviz.nets.fields import FieldFunction, FieldImage, compute_field
from jacviz.nets.training import Snapshot, TrainConfig
from jacviz.support.threads import worker_threads


class PictureSource(Protocol):
    """What a picture needs of a run (:class:`jacviz.gui.lab.worker.TrainingRun` is one)."""

    dataset: Dataset
    config: TrainConfig
    latest: Snapshot | None
    display: str
    domain: Domain
    discarded: bool
    field_drawn: tuple[int, str, Domain] | None


_UNFINISHED: dict[int, FunctionWorker] = {}
"""Pictures whose ``finished`` signal has not been delivered yet, by job number (as
:mod:`jacviz.gui.common.runner` keeps its jobs: a worker's signals must outlive their delivery,
and a reference from its own connections would keep it alive forever)."""
_job_numbers = itertools.count(1)


def _release(number: int) -> None:
    _UNFINISHED.pop(number, None)


FRAME_INTERVAL = 1 / 40
"""Least time, in seconds, between the starts of two pictures: up to 40 a second, above the
30 the lab aims for, and no more (each one takes the GUI's core for a while)."""


@dataclass(frozen=True, eq=False)
class Picture:
    """A picture of a run's model, ready to upload: the field and, for regions, its colours."""

    field: FieldImage
    colours: np.ndarray | None
    """``(rows, cols, 4)`` uint8 RGBA of the decision regions (None for ‖J‖_F)."""

    @property
    def key(self) -> tuple[int, str, Domain]:
        """What it shows: step, display and domain."""
        return self.field.step, self.field.display, self.field.domain


def render(run: PictureSource, field: FieldFunction = compute_field) -> Picture | None:
    """The picture of ``run``'s newest snapshot in its current display and domain.

    None when there is nothing to draw: no snapshot yet, a discarded run, or a picture of
    exactly this already made. Worker thread; ``field`` computes the
    :class:`~jacviz.nets.fields.FieldImage` (:func:`~jacviz.nets.fields.compute_field`'s
    signature).
    """
    latest, display, domain = run.latest, run.display, run.domain
    if latest is None or run.discarded or run.field_drawn == (latest.step, display, domain):
        return None
    with worker_threads():
        image = field(run.config, latest.state, run.dataset.n_classes, domain, display, latest.step)
    colours = region_colours(image) if image.regions is not None else None
    run.field_drawn = (latest.step, display, domain)
    return Picture(image, colours)


class PictureWorker(QObject):
    """Computes pictures of runs off the GUI thread, one at a time, keeping only the newest ask.

    Signals (on the GUI thread)
    -------
    sigPicture(run, Picture)
        A picture of the run's model, still of its current display and domain.
    sigFailed(run, str)
        Computing the run's picture raised; the message says why.

    Attributes
    ----------
    requests, computed : int
        Requests made and pictures computed so far: a request made while one runs is
        merged into the next (tests check that stale requests are dropped).

    """

    sigPicture = pyqtSignal(object, object)
    sigFailed = pyqtSignal(object, str)

    def __init__(self, field: FieldFunction = compute_field, parent: QObject | None = None):
        super().__init__(parent)
        self.field = field
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._running: int | None = None
        """The number of the job on the thread (see ``_UNFINISHED``), until it reports."""
        self._waiting: PictureSource | None = None
        self._last_start = -np.inf
        self._pace = QTimer(self)
        self._pace.setSingleShot(True)
        self._pace.timeout.connect(self._start_waiting)
        self._closed = False
        self.requests = 0
        self.computed = 0

    @property
    def busy(self) -> bool:
        """True while a picture is computed or asked for (or its result not yet delivered)."""
        return self._running is not None or self._waiting is not None

    def request(self, run: PictureSource) -> None:
        """Ask for a picture of ``run``'s newest model; replaces any request not started yet."""
        if self._closed or run.discarded:
            return
        self.requests += 1
        self._waiting = run
        self._start_waiting()

    def cancel(self, run: PictureSource) -> None:
        """Forget a waiting request about ``run`` (a discarded run)."""
        if self._waiting is run:
            self._waiting = None
            self._pace.stop()

    def wait(self, msecs: int = -1) -> bool:
        """Block until no picture is computed (tests, shutdown); True if none is."""
        return self._pool.waitForDone(msecs)

    def shutdown(self) -> None:
        """Drop the waiting request, wait for the running one; ignore requests until reopened."""
        self._closed = True
        self._waiting = None
        self._pace.stop()
        self._pool.waitForDone()
        self._running = None  # its end is reported later; nothing waits for it

    def reopen(self) -> None:
        """Take requests again after :meth:`shutdown`."""
        self._closed = False

    def _start_waiting(self) -> None:
        if self._running is not None or self._waiting is None or self._closed:
            return
        wait = FRAME_INTERVAL - (time.perf_counter() - self._last_start)
        if wait > 0:
            if not self._pace.isActive():
                self._pace.start(max(1, round(1000 * wait)))
            return
        run, self._waiting = self._waiting, None
        if run.discarded:
            self._start_waiting()
            return
        self._last_start = time.perf_counter()
        worker = create_worker(
            render,
            run,
            self.field,
            _start_thread=False,
            _connect={
                "returned": weak_slot(self, "_on_returned", run),
                "errored": weak_slot(self, "_on_errored", run),
            },
        )
        number = next(_job_numbers)
        worker.finished.connect(weak_slot(self, "_on_finished", number))
        _UNFINISHED[number] = worker
        worker.finished.connect(partial(_release, number))  # connected last: delivered last
        self._running = number
        self._pool.start(worker)

    def _on_returned(self, run: PictureSource, picture: Picture | None) -> None:
        if picture is None:
            return
        self.computed += 1
        if not run.discarded and picture.key[1:] == (run.display, run.domain):
            self.sigPicture.emit(run, picture)

    def _on_errored(self, run: PictureSource, error: BaseException) -> None:
        self.sigFailed.emit(run, failure_message(error))

    def _on_finished(self, number: int) -> None:
        if number == self._running:  # not a job from before a shutdown
            self._running = None
        self._start_waiting()
