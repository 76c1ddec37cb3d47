"""``jacviz train``: train a classifier headless, measure it, and optionally save it.

``jacviz train --dataset moons --jr-lambda 0.1 [--json] [--out FILE]`` trains an MLP (with
or without Jacobian regularization) on a toy dataset, a CSV, the 8×8 digits
(``--dataset digits``) or an ``.npz`` of your own (``--npz FILE``), and reports its accuracy,
mean Jacobian Frobenius norm and accuracy under L2 PGD attacks, all on raw inputs (data of more
than two inputs is trained standardized, and saved with the standardization folded in). Every
setting is checked before any work, so that a bad one is refused at once rather than after
minutes of training.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from jacviz.cli.arguments import FILE_NAME, REAL, WHOLE, UsageError, numbers_option
from jacviz.cli.output import print_json
from jacviz.support.text_input import parse_integer, quote

if TYPE_CHECKING:
    from jacviz.nets.data import VectorDataset
    from jacviz.nets.datasets import Dataset
    from jacviz.nets.training import TrainConfig

DEFAULT_EPSILONS = (0.05, 0.1, 0.2, 0.3)
"""The PGD radii ``--epsilons`` defaults to for 2D data; for data of more inputs, these
fractions of its spread (:func:`jacviz.nets.trained.default_epsilons`, whose tuple this is: not
imported, since importing the cli package loads no torch)."""
MAX_EPSILONS = 16
"""Most PGD radii ``--epsilons`` takes: each is an attack over every test point."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``train`` and its options to the command's subparsers."""
    train = commands.add_parser(
        "train",
        help="train a classifier, with or without Jacobian regularization, and measure it",
        description="Train an MLP classifier on a toy dataset, a CSV of x,y,label, the 8x8 "
        "digits or an .npz of X, y[, split], and report its accuracy, mean Jacobian Frobenius "
        "norm and accuracy under L2 PGD attacks.",
    )
    add_training_options(train, vector_data=True)
    add_epsilons_option(train)
    train.add_argument(
        "--out", metavar="FILE", type=FILE_NAME, help="save the model (.safetensors)"
    )
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(run=run)


def add_epsilons_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--epsilons``, the PGD radii of ``pgd_accuracy`` (``jacviz train`` and ``sweep``)."""
    from jacviz.nets.datasets import MAX_COORDINATE
    from jacviz.nets.robustness import PGD_RESTARTS, PGD_STEPS

    parser.add_argument(
        "--epsilons",
        default=None,
        help=f"PGD radii (L2, raw data units; {PGD_STEPS} steps from each of {PGD_RESTARTS} "
        f"starts) for pgd_accuracy, an upper bound: up to {MAX_EPSILONS}, each 0 to "
        f"{MAX_COORDINATE:g} (default: {','.join(map(str, DEFAULT_EPSILONS))}; for data of more "
        "than 2 inputs, these fractions of its RMS spread)",
    )


def add_training_options(
    parser: argparse.ArgumentParser, vector_data: bool = False, lists: tuple[str, str] | None = None
) -> list[str]:
    """Add the options of a training run (data, model, optimizer, regularizer) to ``parser``.

    ``jacviz train``, ``jacviz sweep``, ``jacviz animate --training`` and ``jacviz lab`` read
    the same options with the same checks (:func:`training_config`, :func:`training_data`).
    With ``vector_data``, the data may also have more than two inputs: ``--dataset digits``
    and ``--npz FILE`` (the commands that draw the plane leave them out). With ``lists``
    (default λ and seed lists, as text), ``--jr-lambda`` and ``--seeds`` take comma-separated
    lists, kept as text for the caller to parse (``jacviz sweep``). Returns their destinations.
    """
    from jacviz.nets.datasets import (
        DATASETS,
        MAX_CLASSES,
        MAX_NOISE,
        MAX_POINTS,
        MAX_TEST_FRACTION,
    )
    from jacviz.nets.training import (
        ESTIMATORS,
        MAX_BATCH,
        MAX_LEARNING_RATE,
        MAX_PENALTY,
        MAX_PROJECTIONS,
        MAX_STEPS,
        MAX_WIDTH,
        OPTIMIZERS,
        TRAINABLE_ACTIVATIONS,
        TrainConfig,
    )

    before = {action.dest for action in parser._actions}
    defaults = TrainConfig()
    train = parser
    from jacviz.nets.data import VECTOR_DATASETS

    data = train.add_mutually_exclusive_group()
    names = DATASETS + VECTOR_DATASETS if vector_data else DATASETS
    data.add_argument("--dataset", choices=names, default="moons", help="(default: moons)")
    data.add_argument(
        "--csv", metavar="FILE", type=FILE_NAME, help="points from a CSV file: x,y,label[,split]"
    )
    if vector_data:
        data.add_argument(
            "--npz",
            metavar="FILE",
            type=FILE_NAME,
            help="points of any dimension from an .npz with arrays X (N x d), y (N) and "
            "optionally split (N: True or 1 or 'test' for held-out points)",
        )
    train.add_argument(
        "--points", type=WHOLE, default=200, help=f"dataset size, to {MAX_POINTS} (default: 200)"
    )
    train.add_argument(
        "--noise", type=REAL, default=0.1, help=f"noise std, 0 to {MAX_NOISE:g} (default: 0.1)"
    )
    train.add_argument(
        "--classes",
        type=WHOLE,
        default=3,
        help=f"classes of 'blobs', 2 to {MAX_CLASSES} (default: 3)",
    )
    train.add_argument(
        "--test-fraction",
        type=REAL,
        default=0.3,
        help=f"held-out share, 0 to {MAX_TEST_FRACTION:g} (default: 0.3; a file's split "
        "column or array takes precedence)",
    )
    if lists is None:
        train.add_argument(
            "--jr-lambda",
            type=REAL,
            default=0.0,
            help=f"weight λ of mean ‖J‖²F, 0 to {MAX_PENALTY:g} (default: 0, off)",
        )
    else:
        train.add_argument(
            "--jr-lambda",
            metavar="LAMBDAS",
            default=lists[0],
            help=f"comma-separated weights λ of mean ‖J‖²F, each 0 to {MAX_PENALTY:g} "
            f"(default: {lists[0]})",
        )
    train.add_argument("--estimator", choices=ESTIMATORS, default=defaults.estimator)
    train.add_argument(
        "--n-proj",
        type=WHOLE,
        default=defaults.n_proj,
        help=f"random projections, 1 to {MAX_PROJECTIONS}",
    )
    train.add_argument(
        "--hidden",
        default=",".join(map(str, defaults.hidden)),
        help=f"hidden widths, each 1 to {MAX_WIDTH} "
        f"(default: {','.join(map(str, defaults.hidden))})",
    )
    train.add_argument("--activation", choices=TRAINABLE_ACTIVATIONS, default=defaults.activation)
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer)
    train.add_argument(
        "--learning-rate",
        type=REAL,
        default=defaults.learning_rate,
        help=f"in (0, {MAX_LEARNING_RATE:g}]",
    )
    train.add_argument(
        "--batch-size", type=WHOLE, default=defaults.batch_size, help=f"1 to {MAX_BATCH}"
    )
    train.add_argument(
        "--weight-decay",
        type=REAL,
        default=0.0,
        help=f"L2 on the weights, 0 to {MAX_PENALTY:g}",
    )
    train.add_argument("--steps", type=WHOLE, default=defaults.steps, help=f"1 to {MAX_STEPS}")
    if lists is None:
        train.add_argument("--seed", type=WHOLE, default=0, help="data, initialization and batches")
    else:
        train.add_argument(
            "--seeds",
            dest="seed",
            metavar="SEEDS",
            default=lists[1],
            help=f"comma-separated seeds, each fixing a run's data split, initialization and "
            f"batches (default: {lists[1]})",
        )
    return [action.dest for action in parser._actions if action.dest not in before]


def run(args: argparse.Namespace) -> int:
    """Train, measure and maybe save the classifier ``args`` describe; returns the exit status."""
    from jacviz.nets.networks import NetworkError, save_mlp
    from jacviz.nets.trained import default_epsilons, measure, raw_model
    from jacviz.nets.training import TrainingError
    from jacviz.nets.training import run as run_training

    # Every setting is checked before any work: the config and the data settings check their
    # own ranges (as for the lab and sessions), then the target, then the file is read.
    epsilons = None if args.epsilons is None else parse_epsilons(args.epsilons)
    config = training_config(args)
    if args.out is not None:
        _check_writable(Path(args.out))  # before training, not after minutes of it
    data = training_data(args)
    if args.out is not None and data.train_points.shape[1] < 2:
        raise UsageError(
            f"cannot save the model to {quote(args.out)}: jacviz opens networks of at least 2 "
            "inputs, and the data has 1"
        )
    epsilons = default_epsilons(data) if epsilons is None else epsilons
    try:
        last = run_training(data, config)
    except TrainingError as error:
        raise UsageError(str(error)) from None
    # The model on raw inputs; robustness and ‖J‖F on held-out points when there are any.
    model = raw_model(data, config, last.state)
    measured = measure(model, data, epsilons, config.seed)
    held_out = measured.measured_on == "test"
    result = {
        "dataset": data.name,
        "inputs": int(data.train_points.shape[1]),
        "classes": int(data.n_classes),
        "train_points": int(data.train_points.shape[0]),
        "test_points": int(data.test_points.shape[0]),
        "config": config.to_dict(),
        "steps_done": last.step,
        "train_accuracy": last.train_accuracy,
        "test_accuracy": last.test_accuracy if held_out else None,
        "mean_jacobian_frobenius": measured.mean_jacobian_frobenius,
        "measured_on": measured.measured_on,
        "pgd_accuracy": {repr(float(e)): a for e, a in sorted(measured.pgd_accuracy.items())},
        "seconds": last.seconds,
        "diverged": last.diverged,
        "saved": None,
        "warnings": [],
    }
    if args.out is not None:
        from jacviz.nets.metadata import classifier_metadata

        metadata = classifier_metadata(
            f"trained by jacviz train on {data.name}",
            data,
            config,
            last.train_accuracy,
            result["test_accuracy"],  # None without held-out points: written as null
        )
        try:
            save_mlp(model, args.out, metadata=metadata)
        except (NetworkError, OSError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise UsageError(f"cannot save the model to {quote(args.out)}: {reason}") from None
        result["saved"] = str(args.out)
    if args.json:
        print_json(result)
    else:
        print(format_training(result))
    return 0


def training_config(args: argparse.Namespace) -> TrainConfig:
    """The run's settings from the options :func:`add_training_options` added, all checked.

    The data settings are checked too (unless the points come from a CSV), so that a bad
    one is refused at once, before any work; a UsageError says what is wrong in one line.
    """
    from jacviz.nets.datasets import DATASETS, DatasetError, check_dataset_settings
    from jacviz.nets.training import TrainConfig, TrainingError

    hidden = numbers_option(args.hidden, "--hidden", parse_integer, example="32,32")
    try:
        config = TrainConfig(
            hidden=tuple(hidden),
            activation=args.activation,
            optimizer=args.optimizer,
            learning_rate=args.learning_rate,
            batch_size=args.batch_size,
            steps=args.steps,
            seed=args.seed,
            jr_lambda=args.jr_lambda,
            estimator=args.estimator,
            n_proj=args.n_proj,
            weight_decay=args.weight_decay,
        )
        if args.csv is None and args.dataset in DATASETS and getattr(args, "npz", None) is None:
            # With a file or the digits, the generator's settings are unused.
            check_dataset_settings(
                args.dataset, args.points, args.noise, args.seed, args.test_fraction, args.classes
            )
    except (TrainingError, DatasetError) as error:
        raise UsageError(str(error)) from None
    return config


def training_data(args: argparse.Namespace) -> Dataset | VectorDataset:
    """The run's points: the ``--dataset`` drawn or loaded, or the ``--csv`` or ``--npz`` read.

    A UsageError of one line if they cannot be had. ``--dataset digits`` and ``--npz`` only
    exist for the commands added with ``vector_data``; the others always get a 2D Dataset.
    """
    from jacviz.nets.data import VECTOR_DATASETS, load_digits, load_npz
    from jacviz.nets.datasets import DatasetError, load_csv, make_dataset

    try:
        if getattr(args, "npz", None) is not None:
            return load_npz(args.npz, test_fraction=args.test_fraction, seed=args.seed)
        if args.dataset in VECTOR_DATASETS:
            return load_digits(test_fraction=args.test_fraction, seed=args.seed)
        if args.csv is not None:
            return load_csv(args.csv, test_fraction=args.test_fraction, seed=args.seed)
        return make_dataset(
            args.dataset,
            n_points=args.points,
            noise=args.noise,
            seed=args.seed,
            test_fraction=args.test_fraction,
            n_classes=args.classes,
        )
    except DatasetError as error:
        raise UsageError(str(error)) from None


def parse_epsilons(text: str) -> list[float]:
    """The PGD radii of ``--epsilons``: 1 to MAX_EPSILONS numbers, 0 to MAX_COORDINATE.

    A UsageError of one line otherwise.
    """
    from jacviz.nets.datasets import MAX_COORDINATE

    epsilons = numbers_option(text, "--epsilons", example="0.05,0.1")
    if len(epsilons) > MAX_EPSILONS:
        raise UsageError(f"--epsilons takes at most {MAX_EPSILONS} radii, got {len(epsilons)}")
    # No radius beyond the largest coordinate: such a ball holds all the data anyway.
    if not all(0 <= e <= MAX_COORDINATE for e in epsilons):
        raise UsageError(f"--epsilons must each be from 0 to {MAX_COORDINATE:g}, got {quote(text)}")
    return epsilons


def _check_writable(path: Path) -> None:
    """A UsageError unless a file can be created at ``path`` (its folder exists, is writable)."""
    from jacviz.support.files import target_problem

    problem = target_problem(path)
    if problem is not None:
        raise UsageError(f"cannot save the model to {quote(str(path))}: {problem}")


def format_training(result: dict) -> str:
    """Human-readable text of the result :func:`run` prints (its ``--json`` document)."""
    from jacviz.math.probe import format_number

    config = result["config"]
    widths = "-".join(
        str(w) for w in [result.get("inputs", 2), *config["hidden"], result["classes"]]
    )
    regularizer = (
        f"λ = {format_number(config['jr_lambda'])} ({config['estimator']}"
        + (f", {config['n_proj']} projection(s))" if config["estimator"] == "random" else ")")
        if config["jr_lambda"] > 0
        else "no Jacobian regularization"
    )
    lines = [
        f"trained a {widths} {config['activation']} MLP on {result['dataset']} "
        f"({result['train_points']} train / {result['test_points']} test points), "
        f"{result['steps_done']} steps in {result['seconds']:.2f} s, {regularizer}",
        f"train accuracy        {result['train_accuracy']:.4f}",
    ]
    if result["test_accuracy"] is not None:
        lines.append(f"test accuracy         {result['test_accuracy']:.4f}")
    where = result["measured_on"]
    label = f"mean ‖J‖F ({where})"
    lines.append(f"{label:<22}{format_number(result['mean_jacobian_frobenius'])}")
    curve = "  ".join(f"ε={e}: {a:.3f}" for e, a in result["pgd_accuracy"].items())
    # An attack that finds no adversarial point proves nothing: these are upper bounds.
    lines.append(f"L2 PGD accuracy (upper bound)  {curve}")
    if result["diverged"]:
        lines.append(f"warning: {result['diverged']}")
    lines.extend(f"warning: {w}" for w in result.get("warnings", ()))
    if result["saved"]:
        lines.append(f"saved {result['saved']} (open it with: jacviz {result['saved']})")
    return "\n".join(lines)
