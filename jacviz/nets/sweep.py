"""λ sweeps: one training run per (λ, seed), on local processes or a Dask cluster.

Hoffman et al. compare Jacobian regularization across weights λ; a single run says little,
since a seed fixes the split, the initial weights, the batches and the projections. A sweep
trains every (λ, seed) of two lists with one base :class:`~jacviz.nets.training.TrainConfig`
and measures each run as ``jacviz train`` does (:mod:`jacviz.nets.trained`): test accuracy,
mean ‖J‖F and accuracy under L2 PGD, on raw inputs.

Runs are independent and each is fully determined by its data, config and radii, and runs on
one torch thread, so the numbers are identical whatever runs them: :func:`run_sweep` in this
process (``workers=1``), on ``workers`` local processes through joblib (loky), or on a
``dask.distributed`` cluster. Nothing here schedules: joblib and Dask do. The caller gets each
run as it finishes (``progress``) and can stop the sweep (``cancel``); the lab's Sweep tab and
``jacviz sweep`` both call :func:`run_sweep`. No Qt here.
"""

from __future__ import annotations

import gc
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jacviz.nets.data import VectorDataset
from jacviz.nets.datasets import Dataset
from jacviz.nets.trained import default_epsilons, measure, raw_model
from jacviz.nets.training import MAX_PENALTY, MAX_SEED, TrainConfig, TrainingError, run
from jacviz.nets.training.config import is_whole_number
from jacviz.support.text_input import quote
from jacviz.support.threads import single_threaded

__all__ = [
    "DASK_SCHEMES",
    "MAX_RUNS",
    "MAX_WORKERS",
    "Sweep",
    "SweepError",
    "SweepRun",
    "check_sweep",
    "run_sweep",
    "train_and_measure",
]

MAX_RUNS: int = 256
"""Most (λ, seed) runs a sweep takes: a day of the 2-core machine for digits-sized runs."""

MAX_WORKERS: int = 64
"""Most local worker processes (each holds torch: about 300 MB)."""

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
    number that differs between two executions of the same run.
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
    it). Raises TrainingError if the data cannot be trained on.
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
        Local processes (joblib's loky backend); 1 runs in this process.
    dask_address : str, optional
        A ``dask.distributed`` scheduler (``tcp://HOST:PORT``) to run on instead.
    connect_timeout : float
        Seconds to wait for the scheduler before giving up.
    progress : callable, optional
        ``progress(done, total, run)`` after each run, in the order runs finish.
    cancel : callable, optional
        Polled before the first run and after each; when it returns True, the runs not
        finished are dropped (those running on other workers too) and the sweep returns the
        finished ones with ``cancelled=True``.

    Raises
    ------
    SweepError
        For bad arguments (:func:`check_sweep`, radii), an unreachable scheduler or a missing
        package; TrainingError or DatasetError from the data or a run.

    """
    configs = check_sweep(config, lambdas, seeds, workers, dask_address)
    data = {seed: make_data(seed) for seed in seeds}
    radii = tuple(default_epsilons(data[seeds[0]]) if epsilons is None else map(float, epsilons))
    if not all(math.isfinite(eps) and eps >= 0 for eps in radii):
        raise SweepError(f"PGD radii must be finite and ≥ 0, got {list(radii)}")
    tasks = [(data[c.seed], c, radii) for c in configs]
    finished: dict[int, SweepRun] = {}

    def arrived(index: int, result: SweepRun) -> bool:
        finished[index] = result
        if progress is not None:
            progress(len(finished), len(tasks), result)
        return cancel is not None and bool(cancel())

    if cancel is not None and cancel():
        return Sweep((), radii, cancelled=True)
    if dask_address is not None:
        stopped = _on_dask(tasks, dask_address, connect_timeout, arrived)
    else:
        stopped = _on_joblib(tasks, workers, arrived)
    return Sweep(tuple(finished[i] for i in sorted(finished)), radii, cancelled=stopped)


def _indexed(index: int, task: tuple) -> tuple[int, SweepRun]:
    return index, train_and_measure(*task)


def _on_joblib(tasks: list[tuple], workers: int, arrived: Callable[[int, SweepRun], bool]) -> bool:
    """Run ``tasks`` through joblib; True if ``arrived`` asked to stop."""
    try:
        from joblib import Parallel, delayed
    except ImportError:
        raise SweepError("parallel sweeps need joblib: pip install joblib") from None
    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
    results = parallel(delayed(_indexed)(i, task) for i, task in enumerate(tasks))
    try:
        for index, result in results:
            if arrived(index, result):
                return True
    finally:
        with warnings.catch_warnings():  # joblib warns that it cancelled tasks: we asked it to
            warnings.simplefilter("ignore", UserWarning)
            results.close()  # on cancel: joblib drops the runs not yet finished
    return False


def _on_dask(
    tasks: list[tuple], address: str, timeout: float, arrived: Callable[[int, SweepRun], bool]
) -> bool:
    """Run ``tasks`` on the Dask scheduler at ``address``; True if ``arrived`` asked to stop."""
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
    try:
        shared = {}
        for data, _, _ in tasks:  # each seed's data travels to the cluster once
            if id(data) not in shared:
                shared[id(data)] = client.scatter(data, broadcast=False)
        futures = {
            client.submit(_indexed, i, (shared[id(data)], cfg, radii), pure=False): i
            for i, (data, cfg, radii) in enumerate(tasks)
        }
        for future in as_completed(list(futures), loop=client.loop):
            index, result = future.result()
            if arrived(index, result):
                client.cancel(list(futures))
                return True
        return False
    finally:
        client.close()
