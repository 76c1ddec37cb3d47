"""``jacviz sweep``: train every (λ, seed) of two lists, here or on a cluster, and compare.

``jacviz sweep --dataset digits --jr-lambda 0,0.001,0.01,0.1 --seeds 0,1,2 [train options]
[--workers N] [--dask tcp://HOST:PORT] [--json]`` runs :func:`jacviz.nets.sweep.run_sweep`:
each run is what ``jacviz train --jr-lambda λ --seed s`` with the same options would report
(test accuracy, mean ‖J‖F, L2 PGD accuracy), and the numbers do not depend on the number of
workers or on the engine. Every list, option and the cluster's address are checked before any
training; an unreachable scheduler is one line after ``--dask-timeout`` seconds.
"""

from __future__ import annotations

import argparse
import copy
from typing import TYPE_CHECKING

from jacviz.cli.arguments import REAL, WHOLE, UsageError, numbers_option
from jacviz.cli.output import print_json
from jacviz.cli.train import add_epsilons_option, add_training_options, parse_epsilons
from jacviz.support.text_input import parse_integer, parse_real

if TYPE_CHECKING:
    from jacviz.nets.data import VectorDataset
    from jacviz.nets.datasets import Dataset
    from jacviz.nets.sweep import Sweep, SweepRun

DEFAULT_LAMBDAS = "0,0.001,0.01,0.1"
"""The λ ``--jr-lambda`` lists by default."""
DEFAULT_SEEDS = "0,1,2"
"""The seeds ``--seeds`` lists by default."""
MAX_DASK_TIMEOUT = 600.0
"""Longest wait for a Dask scheduler, in seconds."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``sweep`` and its options to the command's subparsers."""
    sweep = commands.add_parser(
        "sweep",
        help="train every (λ, seed) of two lists, on local processes or a Dask cluster",
        description="Train one classifier per (λ, seed) with the options of 'jacviz train' and "
        "report test accuracy, mean Jacobian Frobenius norm and L2 PGD accuracy of each run.",
    )
    add_training_options(sweep, vector_data=True, lists=(DEFAULT_LAMBDAS, DEFAULT_SEEDS))
    add_epsilons_option(sweep)
    sweep.add_argument(
        "--workers", type=WHOLE, default=1, help="local worker processes (default: 1, this one)"
    )
    sweep.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on the dask.distributed scheduler at ADDRESS (tcp://HOST:PORT) instead",
    )
    sweep.add_argument(
        "--dask-timeout",
        type=REAL,
        default=10.0,
        help=f"seconds to wait for the scheduler, up to {MAX_DASK_TIMEOUT:g} (default: 10)",
    )
    sweep.add_argument("--json", action="store_true", help="print one JSON object")
    sweep.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep ``args`` describe and print it; returns the exit status."""
    from jacviz.cli.train import training_config, training_data
    from jacviz.nets.datasets import DatasetError
    from jacviz.nets.sweep import SweepError, check_sweep, run_sweep
    from jacviz.nets.training import TrainingError

    lambdas = numbers_option(str(args.jr_lambda), "--jr-lambda", parse_real, example="0,0.01")
    seeds = numbers_option(str(args.seed), "--seeds", parse_integer, example="0,1,2")
    epsilons = None if args.epsilons is None else parse_epsilons(args.epsilons)
    if not 0 < args.dask_timeout <= MAX_DASK_TIMEOUT:
        raise UsageError(
            f"--dask-timeout must be in (0, {MAX_DASK_TIMEOUT:g}] seconds, got {args.dask_timeout}"
        )
    if args.dask is not None and args.dask.startswith("inproc://"):
        raise UsageError(
            "an inproc:// address names a cluster inside one Python process; give the "
            "scheduler's tcp://HOST:PORT"
        )
    if args.dask is not None and args.workers != 1:
        raise UsageError("--workers sets local processes: leave it out with --dask")
    first = copy.copy(args)
    first.jr_lambda, first.seed = (lambdas or [0.0])[0], (seeds or [0])[0]
    config = training_config(first)  # every other setting checked once, here
    try:
        check_sweep(config, lambdas, seeds, args.workers, args.dask)
    except SweepError as error:
        raise UsageError(str(error)) from None

    def make_data(seed: int) -> Dataset | VectorDataset:  # as 'jacviz train' reads it
        each = copy.copy(args)
        each.seed = seed
        return training_data(each)

    def report(done: int, total: int, result: SweepRun) -> None:
        if not args.json:
            print(f"[{done}/{total}] {format_run(result)}", flush=True)

    try:
        sweep = run_sweep(
            make_data,
            config,
            lambdas,
            seeds,
            epsilons,
            workers=args.workers,
            dask_address=args.dask,
            connect_timeout=args.dask_timeout,
            progress=report,
        )
    except (SweepError, TrainingError, DatasetError) as error:
        raise UsageError(str(error)) from None
    result = {
        "dataset": training_data(first).name,
        "config": {k: v for k, v in config.to_dict().items() if k not in ("jr_lambda", "seed")},
        "jr_lambdas": [float(v) for v in lambdas],
        "seeds": [int(s) for s in seeds],
        "epsilons": list(sweep.epsilons),
        "engine": "dask" if args.dask is not None else "joblib",
        "workers": args.workers,
        "runs": [r.to_json() for r in sweep.runs],
    }
    if args.json:
        print_json(result)
    else:
        print(format_summary(sweep))
    return 0


def format_run(run: SweepRun) -> str:
    """One line for a finished run: λ, seed, accuracy, ‖J‖F and the PGD curve."""
    from jacviz.math.probe import format_number

    test = "—" if run.test_accuracy is None else f"{run.test_accuracy:.4f}"
    curve = " ".join(f"{a:.3f}" for _, a in sorted(run.pgd_accuracy.items()))
    line = (
        f"λ={format_number(run.jr_lambda)} seed={run.seed}: test {test}  "
        f"‖J‖F {format_number(run.mean_jacobian_frobenius)}  PGD {curve}  ({run.seconds:.1f} s)"
    )
    return line + (f"  warning: {run.diverged}" if run.diverged else "")


def format_summary(sweep: Sweep) -> str:
    """Per λ, the mean and spread (min–max) over seeds of accuracy, ‖J‖F and PGD accuracy."""
    import numpy as np

    from jacviz.math.probe import format_number

    radii = "  ".join(f"ε={e:g}" for e in sorted(sweep.epsilons))
    lines = [f"mean over seeds [min, max]; PGD accuracy at {radii}"]
    for value in dict.fromkeys(r.jr_lambda for r in sweep.runs):
        runs = [r for r in sweep.runs if r.jr_lambda == value]
        tests = [r.test_accuracy for r in runs if r.test_accuracy is not None]
        norms = np.array([r.mean_jacobian_frobenius for r in runs])
        pgd = np.array([[a for _, a in sorted(r.pgd_accuracy.items())] for r in runs])
        accuracy = (
            f"test {np.mean(tests):.4f} [{min(tests):.4f}, {max(tests):.4f}]" if tests else "—"
        )
        lines.append(
            f"λ={format_number(value):<8} {accuracy}  ‖J‖F {format_number(float(norms.mean()))} "
            f"[{format_number(float(norms.min()))}, {format_number(float(norms.max()))}]  PGD "
            + " ".join(f"{a:.3f}" for a in pgd.mean(axis=0))
        )
    return "\n".join(lines)
