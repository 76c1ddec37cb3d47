"""λ sweeps: one training run per (λ, seed), on local processes or a Dask cluster.

Hoffman et al. compare Jacobian regularization across weights λ; a single run says little,
since a seed fixes the split, the initial weights, the batches and the projections. A sweep
trains every (λ, seed) of two lists with one base :class:`~jacviz.nets.training.TrainConfig`
and measures each run as ``jacviz train`` does (:mod:`jacviz.nets.trained`): test accuracy,
mean ‖J‖F and accuracy under L2 PGD, on raw inputs.

Runs are independent and each is fully determined by its data, config and radii, and runs on
one torch thread, so the numbers are identical whatever runs them: :func:`run_sweep` in this
process (``workers=1``), on ``workers`` local processes (joblib's loky executor), or on a
``dask.distributed`` cluster. Nothing here schedules: loky and Dask do. A sweep is planned
(:func:`plan_sweep`: lists checked, each seed's data made, radii fixed), then its runs are
pulled as they finish (:func:`sweep_runs`, a generator that also wakes every
:data:`POLL_SECONDS` while other processes work, so that its caller can stop it at once);
:func:`run_sweep` does both with a ``progress`` callback and a ``cancel`` poll, for
``jacviz sweep``; the lab's Sweep tab pulls the generator on a worker thread.

Each run carries its trained weights back (:attr:`SweepRun.weights`), so that any run of a
sweep can be rebuilt as a model on raw inputs and opened or saved (:func:`sweep_model`).
No Qt here.
"""

from __future__ import annotations

import concurrent.futures
import gc
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jacviz.nets.data import VectorDataset
from jacviz.nets.datasets import Dataset
from jacviz.nets.metadata import classifier_metadata
from jacviz.nets.networks import save_mlp
from jacviz.nets.trained import default_epsilons, measure, raw_model
from jacviz.nets.training import MAX_PENALTY, MAX_SEED, TrainConfig, TrainingError, run
from jacviz.nets.training.config import is_whole_number
from jacviz.support.text_input import quote
from jacviz.support.threads import WORKER_THREADS, single_threaded

__all__ = [
    "DASK_SCHEMES",
    "MAX_RUNS",
    "MAX_WORKERS",
    "POLL_SECONDS",
    "Sweep",
    "SweepError",
    "SweepModel",
    "SweepPlan",
    "SweepRun",
    "check_sweep",
    "plan_sweep",
    "run_sweep",
    "sweep_model",
    "sweep_runs",
    "train_and_measure",
]

MAX_RUNS: int = 256
"""Most (λ, seed) runs a sweep takes: a day of the 2-core machine for digits-sized runs."""

MAX_WORKERS: int = 64
"""Most local worker processes (each holds torch: about 300 MB)."""

POLL_SECONDS: float = 0.1
"""Longest wait of :func:`sweep_runs` for other processes before it yields (None), so that a
caller polling between yields stops a sweep within about this long."""

DASK_SCHEMES: tuple[str, ...] = ("tcp", "ws", "inproc")
"""Address schemes of the Dask schedulers a sweep connects to: ``tcp://HOST:PORT`` (the usual),
``ws://HOST:PORT`` and ``inproc://...`` (a LocalCluster in this process). TLS needs security
settings a command line does not carry."""


class SweepError(ValueError):
    """A sweep that cannot be run: bad lists, workers or cluster; the message says why."""


@dataclass(frozen=True)
class SweepRun:
    """One finished run of a sweep: its λ and seed, and what ``jacviz train`` would report.

    ``test_accuracy`` is None without held-out points (then ‖J‖F and PGD are measured on the
    training points, ``measured_on == "train"``); ``seconds`` is the training time, the only
    number that differs between two executions of the same run. ``weights`` is the trained
    network's ``state_dict`` as numpy arrays (on the standardized inputs it was trained on:
    :func:`sweep_model` makes the model on raw inputs of it); it is neither in :meth:`to_json`
    nor compared, and None for a run made without it.
    """

    jr_lambda: float
    seed: int
    test_accuracy: float | None
    train_accuracy: float
    mean_jacobian_frobenius: float
    measured_on: str
    pgd_accuracy: dict[float, float]
    steps_done: int
    diverged: str | None
    seconds: float
    weights: Mapping[str, np.ndarray] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The run as ``jacviz sweep --json`` prints it (radii as text keys, as ``train``)."""
        return {
            "jr_lambda": self.jr_lambda,
            "seed": self.seed,
            "test_accuracy": self.test_accuracy,
            "train_accuracy": self.train_accuracy,
            "mean_jacobian_frobenius": self.mean_jacobian_frobenius,
            "measured_on": self.measured_on,
            "pgd_accuracy": {repr(e): a for e, a in sorted(self.pgd_accuracy.items())},
            "steps_done": self.steps_done,
            "diverged": self.diverged,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Sweep:
    """The runs of a sweep in the order λ then seed; fewer if it was ``cancelled``."""

    runs: tuple[SweepRun, ...]
    epsilons: tuple[float, ...]
    cancelled: bool = False


def train_and_measure(
    data: Dataset | VectorDataset, config: TrainConfig, epsilons: Sequence[float]
) -> SweepRun:
    """Train ``config`` on ``data`` and measure the model: one run, on one torch thread.

    What every worker runs (a top-level function, so processes and Dask workers can import
    it). The run carries its weights back as numpy arrays (a few kB to a few MB). Raises
    TrainingError if the data cannot be trained on.
    """
    with single_threaded():
        last = run(data, config, snapshot_every=config.steps)
        model = raw_model(data, config, last.state)
        measured = measure(model, data, epsilons, config.seed)
    test = last.test_accuracy if measured.measured_on == "test" else None
    return SweepRun(
        jr_lambda=config.jr_lambda,
        seed=config.seed,
        test_accuracy=test,
        train_accuracy=last.train_accuracy,
        mean_jacobian_frobenius=measured.mean_jacobian_frobenius,
        measured_on=measured.measured_on,
        pgd_accuracy=measured.pgd_accuracy,
        steps_done=last.step,
        diverged=last.diverged,
        seconds=last.seconds,
        weights={name: tensor.detach().cpu().numpy() for name, tensor in last.state.items()},
    )


def check_sweep(
    config: TrainConfig,
    lambdas: Sequence[float],
    seeds: Sequence[int],
    workers: int = 1,
    dask_address: str | None = None,
) -> list[TrainConfig]:
    """Check a sweep's lists and engine before any work; the config of every run, in order.

    Raises
    ------
    SweepError
        For an empty list, a λ out of range, a seed that is not a whole number in range, a
        value listed twice, more than :data:`MAX_RUNS` runs, ``workers`` outside
        1..:data:`MAX_WORKERS`, or a Dask address that is not ``scheme://host:port``.

    """
    if not lambdas or not seeds:
        raise SweepError("a sweep needs at least one λ and one seed")
    for what, values in (("λ", lambdas), ("seed", seeds)):
        if len(set(values)) != len(values):
            raise SweepError(f"each {what} may be listed once, got {list(values)}")
    for value in lambdas:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SweepError(f"λ must be numbers, got {value!r}")
        if not (math.isfinite(value) and 0 <= value <= MAX_PENALTY):
            raise SweepError(f"each λ must be from 0 to {MAX_PENALTY:g}, got {value!r}")
    for value in seeds:
        if not is_whole_number(value) or not 0 <= value <= MAX_SEED:
            raise SweepError(f"seeds must be whole numbers from 0 to {MAX_SEED}, got {value!r}")
    count = len(lambdas) * len(seeds)
    if count > MAX_RUNS:
        raise SweepError(f"a sweep takes at most {MAX_RUNS} runs, got {count} (λ × seeds)")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise SweepError(f"workers must be a whole number from 1 to {MAX_WORKERS}, got {workers!r}")
    if dask_address is not None and not _is_dask_address(dask_address):
        raise SweepError(
            f"a Dask scheduler address looks like tcp://HOST:PORT, got {quote(dask_address)}"
        )
    try:
        return [
            config.replace(jr_lambda=float(value), seed=int(seed))
            for value in lambdas
            for seed in seeds
        ]
    except TrainingError as error:
        raise SweepError(str(error)) from None


def _is_dask_address(address: object) -> bool:
    """Whether ``address`` is ``scheme://HOST:PORT`` (a port 1..65535), or ``inproc://...``."""
    if not isinstance(address, str) or not address.isprintable():
        return False
    scheme, _, rest = address.partition("://")
    if scheme not in DASK_SCHEMES or not rest:
        return False
    if scheme == "inproc":
        return True
    host, _, port = rest.rpartition(":")
    if host.startswith("[") != host.endswith("]"):
        return False
    return bool(host.strip("[]")) and port.isdigit() and 1 <= int(port) <= 65535


@dataclass(frozen=True, eq=False)
class SweepPlan:
    """A checked sweep with its data made: what :func:`sweep_runs` runs.

    Attributes
    ----------
    configs : tuple of TrainConfig
        One per run, λ first, then seed (the order of :attr:`Sweep.runs`).
    data : dict of int to Dataset or VectorDataset
        Each seed's data, made once and sent to the workers with each run of that seed.
    epsilons : tuple of float
        The PGD radii of every run.

    """

    configs: tuple[TrainConfig, ...]
    data: dict[int, Dataset | VectorDataset]
    epsilons: tuple[float, ...]

    @property
    def total(self) -> int:
        """How many runs the sweep has."""
        return len(self.configs)

    def order(self, run: SweepRun) -> int:
        """The place of ``run`` in :attr:`configs` (each λ and seed is listed once)."""
        for index, config in enumerate(self.configs):
            if (config.jr_lambda, config.seed) == (run.jr_lambda, run.seed):
                return index
        raise SweepError(f"no run λ = {run.jr_lambda!r}, seed {run.seed} in this sweep")


def plan_sweep(
    make_data: Callable[[int], Dataset | VectorDataset],
    config: TrainConfig,
    lambdas: Sequence[float],
    seeds: Sequence[int],
    epsilons: Sequence[float] | None = None,
    workers: int = 1,
    dask_address: str | None = None,
) -> SweepPlan:
    """Check a sweep (:func:`check_sweep`), make each seed's data and fix the PGD radii.

    Arguments as :func:`run_sweep`'s. Raises SweepError for a bad argument or radius, and
    whatever ``make_data`` raises (DatasetError), before any training.
    """
    configs = check_sweep(config, lambdas, seeds, workers, dask_address)
    data = {int(seed): make_data(int(seed)) for seed in seeds}
    first = data[int(seeds[0])]
    radii = tuple(default_epsilons(first) if epsilons is None else map(float, epsilons))
    if not radii or not all(math.isfinite(eps) and eps >= 0 for eps in radii):
        raise SweepError(f"PGD radii must be finite and ≥ 0, got {list(radii)}")
    return SweepPlan(tuple(configs), data, radii)


def sweep_runs(
    plan: SweepPlan,
    *,
    workers: int = 1,
    dask_address: str | None = None,
    connect_timeout: float = 10.0,
    processes: bool = False,
) -> Iterator[SweepRun | None]:
    """Yield every run of ``plan`` as it finishes, in the order they finish.

    With ``workers > 1``, ``processes`` or a Dask cluster, the runs go to other processes and
    the generator also yields None after each :data:`POLL_SECONDS` without a result, so that
    its consumer can decide to stop. Closing the generator (or leaving it to be collected)
    stops the sweep: runs not started never start, and runs in progress are stopped at once
    on local processes (the processes are ended) and dropped on a Dask cluster (its workers
    finish them, unused). In this process (``workers == 1``, no ``processes``) a run in
    progress always finishes first, since it runs inside the consumer's ``next``. No process
    is left behind however the generator ends: stopped, its processes are ended before it
    returns; finished, they are told to exit and do so on their own a moment later.

    Raises
    ------
    SweepError
        An unreachable scheduler, a missing package or a worker process that died.
    TrainingError
        A run that cannot be trained (raised in the worker, passed on here).

    """
    tasks = [(plan.data[c.seed], c, plan.epsilons) for c in plan.configs]
    if dask_address is not None:
        yield from _on_dask(tasks, dask_address, connect_timeout)
    elif workers > 1 or processes:
        yield from _on_processes(tasks, workers)
    else:
        for task in tasks:
            yield train_and_measure(*task)


def run_sweep(
    make_data: Callable[[int], Dataset | VectorDataset],
    config: TrainConfig,
    lambdas: Sequence[float],
    seeds: Sequence[int],
    epsilons: Sequence[float] | None = None,
    *,
    workers: int = 1,
    dask_address: str | None = None,
    connect_timeout: float = 10.0,
    processes: bool = False,
    progress: Callable[[int, int, SweepRun], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Sweep:
    """Train and measure every (λ, seed) of ``config`` with ``lambdas`` × ``seeds``.

    Parameters
    ----------
    make_data : callable
        ``make_data(seed)``: the data of a seed (its split, or its points for a generated
        set), made here once per seed and sent to the workers, so that they need no file.
    config : TrainConfig
        Every setting but ``jr_lambda`` and ``seed``, which each run replaces.
    lambdas, seeds : sequence
        The λ and seeds; runs go λ first, then seed (the order of :attr:`Sweep.runs`).
    epsilons : sequence of float, optional
        PGD radii; by default :func:`~jacviz.nets.trained.default_epsilons` of the first seed's
        data, the same for every run so that runs compare.
    workers : int
        Local processes (joblib's loky executor); 1 runs in this process.
    dask_address : str, optional
        A ``dask.distributed`` scheduler (``tcp://HOST:PORT``) to run on instead.
    connect_timeout : float
        Seconds to wait for the scheduler before giving up.
    processes : bool
        Run on ``workers`` child processes even when ``workers`` is 1 (then a run in
        progress can be stopped, and never holds this process's interpreter).
    progress : callable, optional
        ``progress(done, total, run)`` after each run, in the order runs finish.
    cancel : callable, optional
        Polled before the first run, after each, and every :data:`POLL_SECONDS` while runs
        are in other processes; when it returns True the sweep stops as closing
        :func:`sweep_runs` does (runs in progress on local processes are stopped at once) and
        returns the finished runs with ``cancelled=True``.

    Raises
    ------
    SweepError
        For bad arguments (:func:`check_sweep`, radii), an unreachable scheduler, a missing
        package or a worker process that died; TrainingError or DatasetError from the data
        or a run.

    """
    plan = plan_sweep(make_data, config, lambdas, seeds, epsilons, workers, dask_address)
    if cancel is not None and cancel():
        return Sweep((), plan.epsilons, cancelled=True)
    finished: dict[int, SweepRun] = {}
    runs = sweep_runs(
        plan,
        workers=workers,
        dask_address=dask_address,
        connect_timeout=connect_timeout,
        processes=processes,
    )
    stopped = False
    try:
        for result in runs:
            if result is not None:
                finished[plan.order(result)] = result
                if progress is not None:
                    progress(len(finished), plan.total, result)
            if cancel is not None and cancel():
                stopped = len(finished) < plan.total
                break
    finally:
        runs.close()  # on cancel: the runs not finished are stopped
    return Sweep(tuple(finished[i] for i in sorted(finished)), plan.epsilons, cancelled=stopped)


def _indexed(index: int, task: tuple) -> tuple[int, SweepRun]:
    return index, train_and_measure(*task)


THREAD_VARIABLES: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
"""Thread-pool sizes set in a sweep's worker processes (the variables joblib's own processes
set): one process per core already keeps the cores busy, and more threads per process only
make them wait for each other."""


def worker_environment() -> dict[str, str]:
    """The thread-pool variables a sweep's worker processes start with.

    Each is :data:`~jacviz.support.threads.WORKER_THREADS` (jacviz's policy off the GUI
    thread), set before torch and numpy start their pools, unless the user set it already.
    """
    return {name: os.environ.get(name, str(WORKER_THREADS)) for name in THREAD_VARIABLES}


def _on_processes(tasks: list[tuple], workers: int) -> Iterator[SweepRun | None]:
    """Run ``tasks`` on ``workers`` fresh loky processes, ended whichever way this ends.

    A pool of its own rather than joblib's shared one: stopping a sweep ends its processes
    (the only way to stop a run in progress), which must not touch anyone else's work. At
    most one task per process is handed to the pool at a time, so that every task the pool
    holds is running when it is shut down (loky's shutdown of a pool still holding tasks not
    yet queued to a process can fail in its manager thread and leave a process behind).
    """
    try:
        from joblib.externals.loky import BrokenProcessPool, ProcessPoolExecutor
    except ImportError:
        raise SweepError("parallel sweeps need joblib: pip install joblib") from None
    size = min(workers, len(tasks))
    executor = ProcessPoolExecutor(max_workers=size, env=worker_environment())
    waiting = list(enumerate(tasks))[::-1]
    futures: dict[concurrent.futures.Future, int] = {}

    def hand_over() -> None:
        while waiting and len(futures) < size:
            index, task = waiting.pop()
            futures[executor.submit(_indexed, index, task)] = index

    complete = False
    try:
        hand_over()
        while futures:
            done, _ = concurrent.futures.wait(
                futures, timeout=POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
            )
            if not done:
                yield None
            for future in sorted(done, key=futures.__getitem__):
                del futures[future]
                try:
                    result = future.result()[1]
                except BrokenProcessPool as error:
                    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                    raise SweepError(f"a sweep's worker process died: {reason}") from None
                hand_over()  # before the result goes out: the processes keep busy meanwhile
                yield result
        complete = True
    finally:
        if not complete:  # let the pool queue what was just handed over (see above)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and not all(f.running() or f.done() for f in futures):
                time.sleep(0.005)
        if complete:  # the processes exit as they are told, without keeping the caller
            executor.shutdown(wait=False)  # (a process with torch takes seconds to exit)
        else:  # stopped or failed: they are ended, with the runs they were in
            executor.shutdown(wait=True, kill_workers=True)


def _on_dask(tasks: list[tuple], address: str, timeout: float) -> Iterator[SweepRun | None]:
    """Run ``tasks`` on the Dask scheduler at ``address``; stopped, its futures are cancelled."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise SweepError("--dask needs dask.distributed: pip install 'jacviz[dask]'") from None
    started = time.monotonic()
    failure = None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        waited = time.monotonic() - started
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        failure = f"cannot reach the Dask scheduler at {address} (gave up after {waited:.0f} s): "
        failure += reason
    if failure is not None:
        # A Client that failed to start complains again when collected (its __del__ closes
        # it): a second message. It is collected now, with such complaints silenced.
        previous_hook = sys.unraisablehook
        sys.unraisablehook = lambda _: None
        try:
            gc.collect()
        finally:
            sys.unraisablehook = previous_hook
        raise SweepError(failure)
    futures: list = []
    complete = False
    try:
        shared = {}
        for data, _, _ in tasks:  # each seed's data travels to the cluster once
            if id(data) not in shared:
                shared[id(data)] = client.scatter(data, broadcast=False)
        futures = [
            client.submit(_indexed, i, (shared[id(data)], cfg, radii), pure=False)
            for i, (data, cfg, radii) in enumerate(tasks)
        ]
        arriving = as_completed(futures, loop=client.loop)
        while not arriving.is_empty():
            if not arriving.has_ready():
                time.sleep(POLL_SECONDS)
                yield None
                continue
            yield next(arriving).result()[1]
        complete = True
    finally:
        if not complete and futures:
            client.cancel(futures)
        client.close()


@dataclass(frozen=True, eq=False)
class SweepModel:
    """One run of a sweep as a model to open or save: what the lab's Sweep tab hands on.

    Attributes
    ----------
    data : Dataset or VectorDataset
        The data the run was trained on (its seed's split).
    model : nn.Sequential
        The trained network on raw inputs (:func:`~jacviz.nets.trained.raw_model`: float32,
        eval mode, no gradients; for standardized data the standardization is folded in).
    config : TrainConfig
        The run's configuration (the sweep's, with the run's λ and seed).
    run : SweepRun
        What the run measured.

    """

    data: Dataset | VectorDataset
    model: nn.Sequential
    config: TrainConfig
    run: SweepRun

    @property
    def jr_lambda(self) -> float:
        """The run's λ."""
        return self.config.jr_lambda

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self.config.seed

    @property
    def inputs(self) -> int:
        """Number of inputs of the model: 2 for the plane's datasets."""
        return int(self.data.train_points.shape[1])

    @property
    def label(self) -> str:
        """A short name: ``"digits, λ = 0.01, seed 1"``."""
        return f"{self.data.name}, λ = {self.jr_lambda:g}, seed {self.seed}"

    def metadata(self) -> dict[str, Any]:
        """The metadata a saved file of this model carries (as ``jacviz train`` writes it)."""
        run = self.run
        return classifier_metadata(
            f"trained by a λ sweep on {self.data.name}, λ = {self.jr_lambda:g}, "
            f"seed {self.seed}, {run.steps_done} steps",
            self.data,
            self.config,
            run.train_accuracy,
            run.test_accuracy,
            step=run.steps_done,
            mean_jacobian_frobenius=(
                run.mean_jacobian_frobenius if run.measured_on == "test" else None
            ),
        )

    def save(self, path: str | Path) -> None:
        """Write the model to ``path`` in jacviz's network format, with :meth:`metadata`.

        Raises NetworkError (a model jacviz cannot open: fewer than 2 inputs) or OSError.
        """
        save_mlp(self.model, path, metadata=self.metadata())


def sweep_model(run: SweepRun, data: Dataset | VectorDataset, config: TrainConfig) -> SweepModel:
    """The model of ``run``, trained on ``data`` with ``config``'s settings and its λ and seed.

    Raises SweepError for a run without weights.
    """
    if run.weights is None:
        raise SweepError(f"the run λ = {run.jr_lambda:g}, seed {run.seed} has no weights")
    config = config.replace(jr_lambda=run.jr_lambda, seed=run.seed)
    state = {name: torch.from_numpy(np.asarray(array)) for name, array in run.weights.items()}
    return SweepModel(data, raw_model(data, config, state), config, run)
