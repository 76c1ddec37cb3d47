"""The lab's background jobs: superqt generator workers on a pool of the caller's own.

Training and the comparison are generators that yield between pieces of work, which is
exactly what superqt's :class:`~superqt.utils.GeneratorWorker` runs: every yielded value is
emitted on the GUI thread, and :meth:`~superqt.utils.GeneratorWorker.quit` stops the work at
its next yield (cooperative cancel, nothing killed mid-step). One-shot jobs use
:class:`~superqt.utils.FunctionWorker` through :class:`~jacviz.gui.common.runner.LatestOnlyRunner`,
as the map view does.

:func:`start_generator_job` starts one on a pool the caller owns (not Qt's global one), so a
window's shutdown waits for exactly its own work. The generator is shielded: superqt takes a
RuntimeError raised by the work for a sign that its worker was deleted and then reports
nothing, not even ``finished``; torch raises RuntimeError for ordinary failures, so those are
re-raised as :class:`JobError`, which superqt reports through ``errored``.

A started worker is held (:func:`~jacviz.gui.common.runner.keep_until_finished`) until its
``finished`` signal has been delivered on the GUI thread, whoever else lets go of it:
collected earlier (with a closed window's controller, or as a reference cycle through its
callbacks), its signals' QObject went with it while signals were still queued, and PyQt
then called slots it had already let go of (the lab's tests crashed that way, one run in a
few).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from PyQt6.QtCore import QThreadPool
from superqt.utils import GeneratorWorker, create_worker

from jacviz.gui.common.runner import error_message, keep_until_finished


class JobError(Exception):
    """A RuntimeError raised by a job's work, carried to the GUI as the message it gave."""


def _shielded(steps: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]:
    """``steps(*args)``, with a RuntimeError re-raised as :class:`JobError` (see the module)."""
    try:
        return (yield from steps(*args))
    except RuntimeError as error:
        raise JobError(error_message(error)) from error


def failure_message(error: BaseException) -> str:
    """One line saying why a job failed: a JobError's own message, else the exception's."""
    return str(error) if isinstance(error, JobError) else error_message(error)


def start_generator_job(
    pool: QThreadPool,
    steps: Callable[..., Iterator[Any]],
    *args: Any,
    yielded: Callable[[Any], object],
    errored: Callable[[BaseException], object],
    finished: Callable[[], object],
) -> GeneratorWorker:
    """Run ``steps(*args)`` on ``pool``; the callbacks get its values, its error and its end.

    ``finished`` is called once, after everything else, whether the job ended, failed or was
    stopped by :meth:`~superqt.utils.GeneratorWorker.quit` (then before it even started, or
    at its next yield). The callbacks run on the GUI thread; connect them with
    :func:`~jacviz.gui.common.runner.weak_slot` when their object may go first. The worker
    is kept until ``finished`` has been delivered (see the module).
    """
    worker = create_worker(
        _shielded,
        steps,
        *args,
        _start_thread=False,
        _connect={"yielded": yielded, "errored": errored, "finished": finished},
    )
    keep_until_finished(worker)  # after the callbacks: its release is delivered last
    pool.start(worker)
    return worker
