"""One torch intra-op thread against several, for the work jacviz does, quiet and under load.

For each workload, times the app's own code with torch on 1 thread and on ``--threads``
(default: every core), interleaved in one run, first as the machine is, then with busy-loop
processes keeping ``--busy`` cores loaded (default: one, the other core of a 2-core machine
that a GUI thread or another program would be using):

- ``training step``: one step of the lab's default model and data (jacviz's trainer, its
  snapshots excluded);
- ``regions 256²``: the lab's 256² decision-regions picture of that model;
- ``jacobian field 256²``: values and exact Jacobians of a 2-64-64-64-2 tanh MLP on 256²
  points (the map view's heatmap);
- ``attack batch``: an L2 PGD attack on the lab model's test points (the Compare tab's work).

The app's calls are single-threaded by jacviz's policy (:mod:`jacviz.support.threads`); for
the several-thread column the benchmark swaps the policy's thread count for the run. Prints
medians and several/1 ratios (above 1: several threads are slower); ``--json`` for scripts.

Run: ``python benchmarks/bench_threads.py [--rounds 5] [--busy 1] [--threads 2] [--json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import jacviz.support.threads as threads
from jacviz.math.grid import Domain, sample_points
from jacviz.math.maps import TorchMap
from jacviz.nets.fields import REGIONS, compute_field
from jacviz.nets.networks import make_mlp
from jacviz.nets.robustness import pgd
from jacviz.nets.training import run, train
from jacviz.state.lab import LAB_START

BUSY_LOOP = "while True: pass"


def workloads() -> dict[str, Callable[[], object]]:
    """The timed calls, each doing one unit of the app's work."""
    data = LAB_START.data.make()
    config = LAB_START.model.config()
    trained = run(data, config.replace(steps=200), snapshot_every=200)
    model = make_mlp([2, 64, 64, 64, 2], "tanh", seed=0)
    network = TorchMap(model, "2-64-64-64-2 tanh", 2, 2)
    points = sample_points(Domain(), 256)
    from jacviz.nets.training import load_state

    classifier = load_state(config, trained.state, 2, data.n_classes)
    steps = 100

    def training_step() -> float:
        last = None
        for last in train(data, config.replace(steps=steps), snapshot_every=steps):  # noqa: B007
            pass
        return last.seconds / steps  # its own clock: the steps, not the snapshots

    return {
        "training step": training_step,
        "regions 256²": lambda: compute_field(
            config, trained.state, data.n_classes, data.domain, REGIONS, 0
        ),
        "jacobian field 256²": lambda: network.evaluate_with_jacobian(points),
        "attack batch": lambda: pgd(classifier, data.test_points, data.test_labels, 0.1),
    }


@contextlib.contextmanager
def policy_threads(count: int) -> Iterator[None]:
    """Make jacviz's thread policy use ``count`` threads (and torch too, outside its blocks)."""
    original = threads.torch_threads
    previous = torch.get_num_threads()

    @contextlib.contextmanager
    def forced(_count: int) -> Iterator[None]:
        with original(count):
            yield

    threads.torch_threads = forced
    torch.set_num_threads(count)
    try:
        yield
    finally:
        threads.torch_threads = original
        torch.set_num_threads(previous)


def time_once(work: Callable[[], object]) -> float:
    """Seconds of one call (the training step reports its own per-step time)."""
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    return result if isinstance(result, float) else elapsed


def measure(rounds: int, counts: tuple[int, ...]) -> dict[str, dict[int, float]]:
    """Median seconds of each workload for each thread count, interleaved over ``rounds``."""
    work = workloads()
    samples: dict[str, dict[int, list[float]]] = {name: {c: [] for c in counts} for name in work}
    for call in work.values():  # warm up: first-use imports and allocations
        with policy_threads(1):
            call()
    for _ in range(rounds):
        for name, call in work.items():
            for count in counts:
                with policy_threads(count):
                    samples[name][count].append(time_once(call))
    return {
        name: {count: statistics.median(values) for count, values in by_count.items()}
        for name, by_count in samples.items()
    }


@contextlib.contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """Keep ``count`` cores busy with busy-loop processes inside this block."""
    processes = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let them get going
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--busy", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = (1, args.threads)
    load_before = os.getloadavg()
    quiet = measure(args.rounds, counts)
    with busy_cores(args.busy):
        loaded = measure(args.rounds, counts)
    result = {
        "threads": counts,
        "busy_processes": args.busy,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "quiet_ms": {k: {c: 1e3 * v for c, v in d.items()} for k, d in quiet.items()},
        "loaded_ms": {k: {c: 1e3 * v for c, v in d.items()} for k, d in loaded.items()},
    }
    if args.json:
        print(json.dumps(result))
        return
    several = counts[1]
    print(
        f"median ms, 1 thread vs {several}; as the machine is, then with {args.busy} busy-loop "
        f"process(es) (load average before {load_before[0]:.2f}, after "
        f"{result['load_average_after'][0]:.2f})"
    )
    header = f"{'workload':<22}{'as is: 1':>10}{several:>10}{'ratio':>8}   "
    print(header + f"{'loaded: 1':>10}{several:>10}{'ratio':>8}")
    for name in quiet:
        cells = []
        for table in (quiet, loaded):
            one, many = table[name][1], table[name][several]
            cells.append(f"{1e3 * one:>10.2f}{1e3 * many:>10.2f}{many / one:>8.2f}")
        print(f"{name:<22}" + "   ".join(cells))


if __name__ == "__main__":
    main()
