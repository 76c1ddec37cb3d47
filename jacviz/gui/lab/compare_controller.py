"""The Compare tab's controller: it runs comparisons and readings off the GUI thread.

The :class:`CompareController` owns the tab's :class:`~jacviz.state.compare.CompareState` and
its jobs, and hands the views plain data through signals; it creates no widgets. A comparison
(:func:`~jacviz.nets.comparison.comparison_steps`) is a superqt generator worker on the
controller's own one-thread pool: it reports progress at every yield and stops at the next
one when asked (:meth:`CompareController.stop`). The ε-ball's flip fractions and the
estimator's spread are one-shot jobs on two newest-only runners
(:class:`~jacviz.gui.common.runner.LatestOnlyRunner`), so clicks and spin boxes never wait for
a computation, and a reading superseded by a newer request is dropped. Every job carries the
generation it was started in; a result from an older generation is stale and dropped too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, QThreadPool, pyqtSignal
from superqt.utils import GeneratorWorker

from jacviz.gui.common.runner import LatestOnlyRunner, weak_slot
from jacviz.gui.lab.jobs import failure_message, start_generator_job
from jacviz.nets.comparison import Comparison, EstimatorSpread, Progress, comparison_steps
from jacviz.nets.datasets import Dataset
from jacviz.nets.training import TrainConfig
from jacviz.state.compare import (
    BallReading,
    CompareState,
    lambda_name,
    read_ball,
    read_estimator,
    summary,
)

__all__ = ["CompareController"]


@dataclass(eq=False)
class _Run:
    """One comparison job: its generation, its worker, and what it delivered."""

    generation: int
    worker: GeneratorWorker | None = None
    result: Comparison | None = None
    failure: str | None = None


class CompareController(QObject):
    """Runs comparisons of λ = 0 with λ > 0 and the readings of the Compare tab's views.

    Call :meth:`compare` with a dataset and the regularized run's configuration; the plain run
    is the same configuration with λ = 0. Call :meth:`shutdown` before the views go away (the
    lab window's ``closeEvent``): it stops every job and waits for it.

    Signals
    -------
    sigRunningChanged(bool)
        A comparison started (True) or ended (False): :attr:`busy`.
    sigStarted(Dataset)
        A comparison started on these points, and none is shown yet.
    sigProgress(float)
        The share of the running comparison's work done.
    sigComparisonChanged(Comparison)
        A comparison finished and is now :attr:`state`'s.
    sigStateChanged(CompareState)
        The ε-ball or the number of projections changed (the readings follow).
    sigBallRead(BallReading)
        The current ε-ball's reading.
    sigEstimatorRead(EstimatorSpread)
        The estimator view's reading for the current number of projections.
    sigFinished(bool)
        A :meth:`compare` run ended: True when its results are now shown, False when it was
        refused, stopped or failed. Once per run not superseded by a newer :meth:`compare`.
    sigStatus(str)
        A one-line status: progress, results, a divergence or an error.
    """

    sigRunningChanged = pyqtSignal(bool)
    sigStarted = pyqtSignal(object)
    sigProgress = pyqtSignal(float)
    sigComparisonChanged = pyqtSignal(object)
    sigStateChanged = pyqtSignal(object)
    sigBallRead = pyqtSignal(object)
    sigEstimatorRead = pyqtSignal(object)
    sigFinished = pyqtSignal(bool)
    sigStatus = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.state = CompareState()
        """What the views show (see :class:`~jacviz.state.compare.CompareState`)."""
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._generation = 0
        self._runs: list[_Run] = []
        """Comparison jobs not yet ended, kept referenced until they report their end."""
        self._running = False
        self._ball = LatestOnlyRunner(self)
        self._ball.sigResult.connect(self._on_ball_read)
        self._ball.sigFailed.connect(lambda message: self._say(f"The ε-ball failed: {message}"))
        self._estimator = LatestOnlyRunner(self)
        self._estimator.sigResult.connect(self._on_estimator_read)
        self._estimator.sigFailed.connect(
            lambda message: self._say(f"The estimator view failed: {message}")
        )

    # ---- queries ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True from :meth:`compare` until its run has ended (or the controller shut down)."""
        return self._running

    @property
    def comparison(self) -> Comparison | None:
        """The comparison on screen, or None before the first one finishes."""
        return self.state.comparison

    # ---- intents ---------------------------------------------------------------------------
    def compare(self, dataset: Dataset, config: TrainConfig) -> bool:
        """Start training ``config`` (λ > 0) and its λ = 0 twin on ``dataset``, off the GUI thread.

        A comparison still running is stopped and superseded. Returns False (and says why on
        :attr:`sigStatus`, then emits ``sigFinished(False)``) when ``config.jr_lambda`` is 0,
        since then there is nothing to compare.
        """
        self._supersede()
        if not config.regularized:
            self._set_running(False)
            self._say("Set λ > 0 to compare a regularized run with a plain one.")
            self.sigFinished.emit(False)
            return False
        self._running = True
        self.sigRunningChanged.emit(True)  # even if one ran: the new one can be stopped
        if self.state.comparison is None:  # something to look at while the first one runs
            self.sigStarted.emit(dataset)
        self.sigProgress.emit(0.0)
        self._say(f"Comparing λ = 0 with {lambda_name(config)} on {dataset.name}…")
        run = _Run(self._generation)
        run.worker = start_generator_job(
            self._pool,
            comparison_steps,
            dataset,
            config,
            yielded=weak_slot(self, "_on_run_yielded", run),
            errored=weak_slot(self, "_on_run_errored", run),
            finished=weak_slot(self, "_on_run_finished", run),
        )
        self._runs.append(run)
        return True

    def stop(self) -> None:
        """Stop the running comparison soon (at its next piece of work); do not wait."""
        if self._running:
            for run in self._runs:
                if run.generation == self._generation and run.worker is not None:
                    run.worker.quit()
            self._say("Stopping…")

    def pick(self, x: float, y: float) -> None:
        """Put the ε-ball's centre at ``(x, y)`` (what a click on any plane does)."""
        centre = np.array([x, y], dtype=np.float64)
        self._set_state(centre=centre, ball=None)
        self._read_ball()

    def set_epsilon(self, eps: float) -> None:
        """Make the ε-ball's radius ``eps``."""
        if eps != self.state.eps:
            self._set_state(eps=eps, ball=None)
            self._read_ball()

    def set_n_proj(self, n_proj: int) -> None:
        """Show the estimator's spread with ``n_proj`` projections per estimate."""
        if n_proj != self.state.n_proj:
            self._set_state(n_proj=n_proj, estimator=None)
            self._read_estimator()

    def shutdown(self, msecs: int = -1) -> bool:
        """Stop every job and wait up to ``msecs`` (-1: for ever) for them to end.

        No signal is emitted for the stopped run. Returns True when no worker thread runs.
        Afterwards :meth:`compare` works again (a closed window shown again).
        """
        self._supersede()
        self._ball.cancel()
        self._estimator.cancel()
        done = self.wait(msecs)
        if done:
            self._runs.clear()  # ended: their queued reports are stale and dropped
            self._set_running(False)
        return done

    def wait(self, msecs: int = -1) -> bool:
        """Block until no job runs (tests, shutdown); True if none does."""
        return all(
            [self._pool.waitForDone(msecs), self._ball.wait(msecs), self._estimator.wait(msecs)]
        )

    # ---- the comparison job ----------------------------------------------------------------
    def _supersede(self) -> None:
        """Stop the running comparison and make whatever it still delivers stale."""
        for run in self._runs:
            if run.worker is not None:
                run.worker.quit()
        self._generation += 1

    def _on_run_yielded(self, run: _Run, item: Progress | Comparison) -> None:
        if run.generation != self._generation:
            return
        if isinstance(item, Comparison):
            run.result = item
            return
        self.sigProgress.emit(item.fraction)
        self._say(item.message[:1].upper() + item.message[1:] + "…")

    def _on_run_errored(self, run: _Run, error: BaseException) -> None:
        run.failure = failure_message(error)

    def _on_run_finished(self, run: _Run) -> None:
        if run in self._runs:
            self._runs.remove(run)
        if run.generation != self._generation:
            return
        self._set_running(False)
        if run.failure is not None:
            self._say(f"The comparison failed: {run.failure}")
            self.sigFinished.emit(False)
        elif run.result is None or (run.worker is not None and run.worker.abort_requested):
            shown = " The previous comparison stays shown." if self.state.comparison else ""
            self._say("Stopped." + shown)
            self.sigFinished.emit(False)
        else:
            self._show(run.result)
            self.sigFinished.emit(True)

    def _show(self, comparison: Comparison) -> None:
        state = self.state
        first = state.comparison is None
        self.state = CompareState(
            comparison,
            state.centre,
            comparison.table_epsilon if first else state.eps,
            comparison.regularized.config.n_proj if first else state.n_proj,
        )
        self.sigComparisonChanged.emit(comparison)
        self.sigStateChanged.emit(self.state)
        self._read_ball()
        self._read_estimator()
        self._say(summary(comparison))

    # ---- the readings ----------------------------------------------------------------------
    def _read_ball(self) -> None:
        comparison, centre, eps = self.state.comparison, self.state.centre, self.state.eps
        if comparison is None or centre is None:
            self._ball.cancel()
            return
        self._ball.submit_checked(lambda cancelled: read_ball(comparison, centre, eps, cancelled))

    def _on_ball_read(self, reading: BallReading | None) -> None:
        state = self.state
        if reading is None or state.centre is None or reading.eps != state.eps:
            return
        if not np.array_equal(reading.centre, state.centre):
            return
        self.state = dataclasses.replace(state, ball=reading)
        self.sigBallRead.emit(reading)

    def _read_estimator(self) -> None:
        comparison, n_proj = self.state.comparison, self.state.n_proj
        if comparison is None:
            self._estimator.cancel()
            return
        self._estimator.submit(lambda: read_estimator(comparison, n_proj))

    def _on_estimator_read(self, spread: EstimatorSpread) -> None:
        if spread.n_proj != self.state.n_proj:
            return
        self.state = dataclasses.replace(self.state, estimator=spread)
        self.sigEstimatorRead.emit(spread)

    # ---- helpers ---------------------------------------------------------------------------
    def _set_state(self, **changes: object) -> None:
        self.state = dataclasses.replace(self.state, **changes)
        self.sigStateChanged.emit(self.state)

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self.sigRunningChanged.emit(running)

    def _say(self, message: str) -> None:
        self.sigStatus.emit(message)
