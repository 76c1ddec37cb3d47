"""The lab's generator jobs outlive whoever started them until their last signal is in.

A lab window closed (its controller deleted) while a job's signals were still queued used
to crash the process: the job went with the controller, and PyQt then called slots it had
let go of. These tests drop every reference to the job and to its owner mid-flight.
"""

import gc
import threading

from PyQt6 import sip
from PyQt6.QtCore import QObject, QThreadPool

from jacviz.gui.common.runner import weak_slot
from jacviz.gui.lab.jobs import start_generator_job


class Owner(QObject):
    """What a controller is to its jobs: it takes their values and their end."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list = []

    def on_yielded(self, tag: str, value: int) -> None:
        self.got.append((tag, value))

    def on_errored(self, tag: str, error: BaseException) -> None:
        self.got.append((tag, repr(error)))

    def on_finished(self, tag: str) -> None:
        self.got.append((tag, "end"))


def count(n: int, gate: threading.Event | None = None):
    if gate is not None:
        gate.wait(10)
    yield from range(n)


def start(pool: QThreadPool, owner: Owner, tag: str, gate: threading.Event | None = None):
    return start_generator_job(
        pool,
        count,
        3,
        gate,
        yielded=weak_slot(owner, "on_yielded", tag),
        errored=weak_slot(owner, "on_errored", tag),
        finished=weak_slot(owner, "on_finished", tag),
    )


def test_a_job_nobody_holds_still_delivers_everything_then_goes(qtbot):
    pool = QThreadPool()
    owner = Owner()
    gate = threading.Event()
    start(pool, owner, "a", gate)  # the worker returned is dropped at once
    gc.collect()
    gate.set()
    assert pool.waitForDone(10_000)
    qtbot.waitUntil(lambda: ("a", "end") in owner.got, timeout=5000)
    assert owner.got == [("a", 0), ("a", 1), ("a", 2), ("a", "end")]


class Job:
    """A controller's record of a job: its worker, and the key its callbacks carry."""

    worker = None


def test_an_owner_deleted_with_signals_queued_gets_none_and_nothing_crashes(qtbot):
    # As the lab's controllers hold their jobs: owner -> job -> worker, and the worker's
    # callbacks -> job (a cycle the garbage collector may take at any moment).
    pool = QThreadPool()
    for _ in range(20):
        owner = Owner()
        got = owner.got
        job = Job()
        job.worker = start(pool, owner, job)
        owner.jobs = [job]
        assert pool.waitForDone(10_000)  # every signal is queued, none delivered
        sip.delete(owner)
        del owner, job
        gc.collect()
        qtbot.wait(5)
        assert got == []
