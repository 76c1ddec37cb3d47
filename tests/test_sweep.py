"""λ sweeps: the same numbers in this process, on 2 local processes and on a Dask cluster."""

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from jacviz.cli import main
from jacviz.nets.datasets import make_dataset
from jacviz.nets.metadata import read_classifier_metadata
from jacviz.nets.networks import load_network
from jacviz.nets.sweep import (
    MAX_RUNS,
    SweepError,
    check_sweep,
    run_sweep,
    sweep_model,
    train_and_measure,
)
from jacviz.nets.trained import measure
from jacviz.nets.training import MAX_STEPS, TrainConfig

CONFIG = TrainConfig(hidden=(8,), steps=25, batch_size=32)
LAMBDAS, SEEDS = [0.0, 0.1], [0, 1]


DIGITS = TrainConfig(hidden=(8,), steps=10, batch_size=32, estimator="random")


def digits_data(seed):
    from jacviz.nets.data import load_digits

    return load_digits(seed=seed)


def moons(seed):
    return make_dataset("moons", n_points=60, seed=seed)


def numbers(sweep):
    """Every field of every run but the wall-clock seconds."""
    return [dict(run.to_json(), seconds=None) for run in sweep.runs]


@pytest.fixture(scope="module")
def reference():
    return run_sweep(moons, CONFIG, LAMBDAS, SEEDS, workers=1)


def test_runs_come_in_lambda_then_seed_order_and_are_what_one_run_gives(reference):
    assert [(r.jr_lambda, r.seed) for r in reference.runs] == [(0, 0), (0, 1), (0.1, 0), (0.1, 1)]
    assert reference.epsilons == (0.05, 0.1, 0.2, 0.3) and not reference.cancelled
    alone = train_and_measure(moons(1), CONFIG.replace(jr_lambda=0.1, seed=1), reference.epsilons)
    assert dict(alone.to_json(), seconds=None) == numbers(reference)[3]
    # Seeds fix everything, so two seeds differ, and λ changes the model.
    assert numbers(reference)[0] != numbers(reference)[1]
    assert reference.runs[2].mean_jacobian_frobenius < reference.runs[0].mean_jacobian_frobenius


@pytest.mark.timeout(300)
def test_two_local_processes_give_identical_runs(reference):
    seen = []
    sweep = run_sweep(
        moons, CONFIG, LAMBDAS, SEEDS, workers=2, progress=lambda d, t, r: seen.append((d, t))
    )
    assert numbers(sweep) == numbers(reference)
    assert sorted(seen) == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.timeout(300)
def test_a_dask_local_cluster_gives_identical_runs(reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as cluster:
        sweep = run_sweep(moons, CONFIG, LAMBDAS, SEEDS, dask_address=cluster.scheduler_address)
        # 64 inputs: the output-side estimator and the d-dimensional PGD, on the cluster too.
        digits = run_sweep(
            digits_data, DIGITS, LAMBDAS, [0], dask_address=cluster.scheduler_address
        )
    assert numbers(sweep) == numbers(reference)
    assert numbers(digits) == numbers(run_sweep(digits_data, DIGITS, LAMBDAS, [0]))


def test_cancel_stops_after_the_current_run_and_keeps_what_finished():
    stop = threading.Event()
    sweep = run_sweep(
        moons, CONFIG, LAMBDAS, SEEDS, progress=lambda *_: stop.set(), cancel=stop.is_set
    )
    assert sweep.cancelled and len(sweep.runs) == 1
    assert run_sweep(moons, CONFIG, LAMBDAS, SEEDS, cancel=lambda: True).runs == ()


@pytest.mark.parametrize(
    ("lambdas", "seeds", "workers", "address", "message"),
    [
        ([], [0], 1, None, "at least one"),
        ([0.1, 0.1], [0], 1, None, "listed once"),
        ([-1.0], [0], 1, None, "from 0 to"),
        ([float("nan")], [0], 1, None, "from 0 to"),
        (["0.1"], [0], 1, None, "numbers"),
        ([0.1], [-1], 1, None, "seeds must be"),
        ([0.1], [1.5], 1, None, "seeds must be"),
        ([0.1], [True], 1, None, "seeds must be"),
        ([0.1], [0], 0, None, "workers"),
        ([0.1], [0], 1000, None, "workers"),
        ([0.1], [0], 1, "localhost:8786", "tcp://HOST:PORT"),
        ([0.1], [0], 1, "tcp://host:notaport", "tcp://HOST:PORT"),
        ([0.1], [0], 1, "tcp://host:70000", "tcp://HOST:PORT"),
        ([0.1], [0], 1, "tcp://[::1:8786", "tcp://HOST:PORT"),
        ([0.1], [0], 1, "tls://host:8786", "tcp://HOST:PORT"),
        ([0.1], [0], 1, "tcp://host\n:1", "tcp://HOST:PORT"),
        (list(range(MAX_RUNS + 1)), [0], 1, None, "at most"),
    ],
)
def test_hostile_arguments_are_refused_before_any_work(lambdas, seeds, workers, address, message):
    with pytest.raises(SweepError, match=message):
        check_sweep(CONFIG, lambdas, seeds, workers, address)


@pytest.mark.timeout(60)
def test_an_unreachable_scheduler_is_one_line_after_the_timeout(capsys):
    argv = ["sweep", "--steps", "5", "--dask", "tcp://127.0.0.1:9", "--dask-timeout", "1"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_command_line_sweep_prints_the_runs_as_json(capsys, reference):
    argv = ["sweep", "--dataset", "moons", "--points", "60", "--hidden", "8", "--steps", "25"]
    argv += ["--batch-size", "32", "--jr-lambda", "0,0.1", "--seeds", "0,1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert [dict(run, seconds=None) for run in result["runs"]] == numbers(reference)
    assert result["jr_lambdas"] == [0.0, 0.1] and result["seeds"] == [0, 1]
    assert result["engine"] == "joblib" and result["config"]["steps"] == 25
    for run in result["runs"]:
        for key in ("jr_lambda", "seed", "test_accuracy", "mean_jacobian_frobenius"):
            assert key in run
        assert set(run["pgd_accuracy"]) == {"0.05", "0.1", "0.2", "0.3"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jr-lambda", "0,x"], "--jr-lambda expects comma-separated numbers"),
        (["--jr-lambda", "0,2e6"], "from 0 to"),
        (["--seeds", "0,0"], "listed once"),
        (["--seeds", "1.5"], "--seeds expects comma-separated whole numbers"),
        (["--workers", "0"], "workers"),
        (["--workers", "2", "--dask", "tcp://h:1"], "leave it out with --dask"),
        (["--dask", "nowhere"], "tcp://HOST:PORT"),
        (["--dask", "inproc://x"], "give the scheduler's tcp://HOST:PORT"),
        (["--dask-timeout", "0"], "--dask-timeout"),
        (["--hidden", "0"], "hidden widths"),
        (["--npz", "missing.npz"], "does not exist"),
    ],
)
def test_bad_sweep_options_are_one_line(capsys, argv, message):
    assert main(["sweep", "--steps", "5", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err


def test_bad_radii_are_refused_before_any_training():
    with pytest.raises(SweepError, match="radii"):
        run_sweep(moons, CONFIG, [0.0], [0], [0.1, -1.0])


def test_numpy_numbers_are_accepted_as_plain_ones():
    import numpy as np

    configs = check_sweep(CONFIG, [np.float64(0.1), 1], [np.int64(3)])
    assert [(c.jr_lambda, c.seed) for c in configs] == [(0.1, 3), (1.0, 3)]
    assert all(type(c.seed) is int and type(c.jr_lambda) is float for c in configs)


def loky_workers() -> list[int]:
    """Process ids of this process's loky worker children (not its resource trackers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == os.getpid() and b"popen_loky_posix" in command:
            found.append(int(entry.name))
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def wait_for_no_workers() -> None:
    """Let the processes of an earlier finished sweep exit (they do on their own, soon)."""
    while Path("/proc/self/stat").exists() and loky_workers():
        time.sleep(0.05)  # bounded by the test's timeout


@pytest.fixture
def no_workers():
    """No worker process of an earlier test is still exiting when the test starts."""
    wait_for_no_workers()


@needs_proc
@pytest.mark.timeout(300)
def test_cancelling_a_loky_sweep_after_a_run_keeps_it_and_ends_the_workers(no_workers):
    stop = threading.Event()
    sweep = run_sweep(
        moons, CONFIG, LAMBDAS, SEEDS, workers=2, progress=lambda *_: stop.set(), cancel=stop.is_set
    )
    assert sweep.cancelled and len(sweep.runs) == 1 and loky_workers() == []
    assert numbers(sweep)[0] in numbers(run_sweep(moons, CONFIG, LAMBDAS, SEEDS))


@needs_proc
@pytest.mark.timeout(120)  # the runs would take many minutes: cancel must not wait for them
def test_cancelling_a_loky_sweep_mid_run_stops_the_running_runs_and_leaves_no_worker(no_workers):
    endless = CONFIG.replace(steps=MAX_STEPS)
    polls: list[int] = []

    def cancel_one() -> bool:
        polls.append(len(loky_workers()))
        return polls[-20:] == [1] * 20

    def cancel() -> bool:
        # Stop once both workers have been there for 20 polls (2 s): they are busy with a run.
        polls.append(len(loky_workers()))
        return polls[-20:] == [2] * 20

    sweep = run_sweep(moons, endless, LAMBDAS, SEEDS, workers=2, cancel=cancel)
    assert sweep.cancelled and sweep.runs == ()
    assert max(polls) == 2 and loky_workers() == []
    # One worker process, as the lab runs them, stops the same way.
    polls.clear()
    sweep = run_sweep(moons, endless, LAMBDAS, SEEDS, workers=1, processes=True, cancel=cancel_one)
    assert sweep.cancelled and sweep.runs == () and loky_workers() == []


@pytest.mark.timeout(300)
def test_a_run_carries_its_model_which_measures_and_saves_as_the_run_says(tmp_path, reference):
    run = reference.runs[3]
    assert run.weights is not None and "weights" not in run.to_json()
    opened = sweep_model(run, moons(1), CONFIG)
    assert (opened.jr_lambda, opened.seed, opened.inputs) == (0.1, 1, 2)
    assert opened.label == "moons, λ = 0.1, seed 1"
    measured = measure(opened.model, moons(1), reference.epsilons, 1)
    assert measured.mean_jacobian_frobenius == run.mean_jacobian_frobenius
    assert measured.pgd_accuracy == run.pgd_accuracy
    opened.save(tmp_path / "run.safetensors")
    saved = load_network(tmp_path / "run.safetensors")
    meta = read_classifier_metadata(saved.metadata)
    assert meta.training == CONFIG.replace(jr_lambda=0.1, seed=1)
    assert meta.test_accuracy == run.test_accuracy and meta.domain == moons(1).domain
    points = torch.tensor(moons(1).test_points, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(saved.module(points), opened.model(points))
    # Weights are not part of a run's identity; a run without them has no model.
    assert dataclasses.replace(run, weights=None) == run
    with pytest.raises(SweepError, match="no weights"):
        sweep_model(dataclasses.replace(run, weights=None), moons(1), CONFIG)


def test_digits_runs_reopen_as_models_of_raw_pixels():
    pytest.importorskip("sklearn")
    sweep = run_sweep(digits_data, DIGITS, [0.01], [0])
    data = digits_data(0)
    opened = sweep_model(sweep.runs[0], data, DIGITS)
    assert opened.inputs == 64 and opened.metadata()["input_shape"] == [8, 8]
    frobenius = measure(opened.model, data, sweep.epsilons, 0).mean_jacobian_frobenius
    assert frobenius == sweep.runs[0].mean_jacobian_frobenius


def test_worker_processes_start_with_one_thread_per_pool_unless_the_user_chose(monkeypatch):
    from jacviz.nets.sweep import THREAD_VARIABLES, worker_environment

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert worker_environment() == dict.fromkeys(THREAD_VARIABLES, "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert worker_environment()["OMP_NUM_THREADS"] == "3"
