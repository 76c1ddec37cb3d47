"""The ``jacviz`` command: the app by default, plus scriptable subcommands.

``jacviz probe --map "x**2 + y, x*y" --at 1,2 [--json]`` prints the value, Jacobian,
determinant, singular values, Frobenius norm and condition number of a map at a point.
``jacviz train --dataset moons --jr-lambda 0.1 [--json]`` trains a classifier headless and
reports its accuracy, Jacobian norm and robustness.
``jacviz render --map "x**2 + y, x*y" --view warp --out warp.svg`` draws a view of the app
with no display, to PNG, SVG or PDF.
Bad input ends with exit status 2 and one line on stderr that says what is wrong.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jacviz import __version__

if TYPE_CHECKING:
    from jacviz.core.maps import FormulaMap, TorchMap
    from jacviz.core.probe import ProbeReport
    from jacviz.gui.headless import RenderRequest

# The core (torch, sympy) is imported inside the commands that need it, so that
# `jacviz --help` and `--version` answer at once.

EXIT_USAGE = 2
COMMANDS = ("probe", "train", "render")
DEFAULT_EPSILONS = (0.05, 0.1, 0.2, 0.3)
VALUE_OPTIONS = ("--at", "--probe", "--domain")
"""Options whose value may start with a minus sign (a negative coordinate)."""
MIN_SIZE, MAX_SIZE = 100, 10_000


class UsageError(Exception):
    """Bad command-line input: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one clear line instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Turn argparse's complaint into a :class:`UsageError`."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def parse_point(text: str, dimension: int) -> np.ndarray:
    """Parse ``"X,Y"`` (``dimension`` comma-separated finite numbers) into an array."""
    parts = [part.strip() for part in text.split(",")]
    try:
        coordinates = [float(part) for part in parts]
    except ValueError:
        raise UsageError(
            f"--at expects {dimension} comma-separated numbers like 1,2; got {text!r}"
        ) from None
    if len(coordinates) != dimension:
        raise UsageError(
            f"--at expects {dimension} coordinates for this map, got {len(coordinates)} in {text!r}"
        )
    if not all(math.isfinite(c) for c in coordinates):
        raise UsageError(f"--at coordinates must be finite numbers, got {text!r}")
    return np.array(coordinates)


def _matrix_lines(matrix: np.ndarray) -> list[str]:
    """Rows of a matrix as aligned text, e.g. ``[[2, 1],`` / `` [2, 1]]``."""
    from jacviz.core.probe import align_columns, format_number

    rows = align_columns([[format_number(v) for v in row] for row in matrix], ", ")
    last = len(rows) - 1
    return [
        ("[[" if i == 0 else " [") + row + ("]]" if i == last else "],")
        for i, row in enumerate(rows)
    ]


def format_report(report: ProbeReport) -> str:
    """Human-readable text of a :class:`jacviz.core.probe.ProbeReport`."""
    from jacviz.core.probe import format_number, orientation_word

    def vector(values: np.ndarray) -> str:
        return "(" + ", ".join(format_number(v) for v in values) + ")"

    lines = [
        f"map                 {report.map_name}",
        f"point p             {vector(report.point)}",
        f"value f(p)          {vector(report.value)}",
    ]
    matrix = _matrix_lines(report.jacobian)
    lines.append(f"Jacobian J(p)       {matrix[0]}")
    lines.extend(f"                    {row}" for row in matrix[1:])
    if report.symbolic_jacobian is not None:
        symbolic = "[" + ", ".join("[" + ", ".join(r) + "]" for r in report.symbolic_jacobian) + "]"
        lines.append(f"symbolic J(x, y)    {symbolic}")
    if report.det is not None:
        det = report.det
        meaning = orientation_word(det)
        if det > 0:
            meaning += "; areas scale by this factor"
        elif det < 0:
            meaning += "; areas scale by |det|"
        lines.append(f"det J               {format_number(det)}  ({meaning})")
    sigma = ", ".join(
        f"σ{i + 1} = {format_number(s)}" for i, s in enumerate(report.singular_values)
    )
    lines.append(f"singular values     {sigma}  (σ1 = local Lipschitz constant)")
    lines.append(f"Frobenius ‖J‖F      {format_number(report.frobenius)}")
    lines.append(f"condition σ1/σ2     {format_number(report.condition)}")
    lines.extend(f"warning: {w}" for w in report.warnings)
    return "\n".join(lines)


def _formula_map(text: str) -> FormulaMap:
    """The map typed after ``--map``, or a :class:`UsageError` saying what is wrong and where."""
    from jacviz.core.formula import FormulaError
    from jacviz.core.maps import FormulaMap

    try:
        return FormulaMap.from_text(text)
    except FormulaError as error:
        raise UsageError(f"bad --map formula: {error}") from None


def _network_map(path: str) -> TorchMap:
    """The network in the file at ``path``, or a :class:`UsageError` saying why it can't be used."""
    from jacviz.core.networks import NetworkError, load_network

    try:
        return load_network(path).as_map()
    except NetworkError as error:
        raise UsageError(str(error)) from None


def _probe(args: argparse.Namespace) -> int:
    from jacviz.core.probe import probe

    map_ = _formula_map(args.map) if args.map is not None else _network_map(args.network)
    report = probe(map_, parse_point(args.at, map_.input_dim))
    if args.json:
        print(json.dumps(report.to_json(), allow_nan=False, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def parse_numbers(text: str, option: str, kind: type = float) -> list:
    """Parse ``"64,64"`` or ``"0.05,0.1"`` for ``option``; a UsageError says what is wrong."""
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        noun = "whole numbers" if kind is int else "numbers"
        raise UsageError(f"{option} expects comma-separated {noun}, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise UsageError(f"{option} expects comma-separated finite numbers, got {text!r}")
    return values


def _train(args: argparse.Namespace) -> int:
    import torch

    from jacviz.core.datasets import DatasetError, load_csv, make_dataset
    from jacviz.core.networks import NetworkError, save_mlp
    from jacviz.core.robustness import robust_accuracy
    from jacviz.core.training import (
        TrainConfig,
        TrainingError,
        jacobian_frobenius,
        load_state,
    )
    from jacviz.core.training import run as run_training

    if args.out is not None:
        _check_writable(Path(args.out))  # before training, not after minutes of it
    epsilons = parse_numbers(args.epsilons, "--epsilons")
    if any(e < 0 for e in epsilons):
        raise UsageError(f"--epsilons must be ≥ 0, got {args.epsilons!r}")
    try:
        config = TrainConfig(
            hidden=tuple(parse_numbers(args.hidden, "--hidden", int)),
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
        if args.csv is not None:
            data = load_csv(args.csv, test_fraction=args.test_fraction, seed=args.seed)
        else:
            data = make_dataset(
                args.dataset,
                n_points=args.points,
                noise=args.noise,
                seed=args.seed,
                test_fraction=args.test_fraction,
                n_classes=args.classes,
            )
        last = run_training(data, config)
    except (TrainingError, DatasetError) as error:
        raise UsageError(str(error)) from None
    model = load_state(config, last.state, data.train_points.shape[1], data.n_classes)
    # Robustness and ‖J‖F are measured on held-out points when there are any.
    held_out = data.test_points.shape[0] > 0
    points = data.test_points if held_out else data.train_points
    labels = data.test_labels if held_out else data.train_labels
    pgd = robust_accuracy(model, points, labels, epsilons, attack="pgd", norm="2", seed=config.seed)
    result = {
        "dataset": data.name,
        "classes": int(data.n_classes),
        "train_points": int(data.train_points.shape[0]),
        "test_points": int(data.test_points.shape[0]),
        "config": config.to_dict(),
        "steps_done": last.step,
        "train_accuracy": last.train_accuracy,
        "test_accuracy": last.test_accuracy if held_out else None,
        "mean_jacobian_frobenius": float(jacobian_frobenius(model, points).mean()),
        "measured_on": "test" if held_out else "train",
        "pgd_accuracy": {repr(float(e)): a for e, a in sorted(pgd.items())},
        "seconds": last.seconds,
        "diverged": last.diverged,
        "saved": None,
    }
    if args.out is not None:
        metadata = {
            "class_names": list(data.class_names),
            "description": f"trained by jacviz train on {data.name}",
            "dataset": data.name,
            "training": config.to_dict(),
            "train_accuracy": last.train_accuracy,
            "test_accuracy": result["test_accuracy"],
            "domain": [data.domain.xmin, data.domain.xmax, data.domain.ymin, data.domain.ymax],
        }
        try:
            save_mlp(model.to(torch.float32), args.out, metadata=metadata)
        except (NetworkError, OSError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise UsageError(f"cannot save the model to {args.out}: {reason}") from None
        result["saved"] = str(args.out)
    if args.json:
        print(json.dumps(result, allow_nan=False, ensure_ascii=False))
    else:
        print(format_training(result))
    return 0


def _check_writable(path: Path) -> None:
    """A UsageError unless a file can be created at ``path`` (its folder exists, is writable)."""
    from jacviz.core.files import target_problem

    problem = target_problem(path)
    if problem is not None:
        raise UsageError(f"cannot save the model to {path}: {problem}")


def format_training(result: dict) -> str:
    """Human-readable text of :func:`_train`'s result."""
    from jacviz.core.probe import format_number

    config = result["config"]
    widths = "-".join(str(w) for w in [2, *config["hidden"], result["classes"]])
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
    lines.append(f"L2 PGD accuracy       {curve}")
    if result["diverged"]:
        lines.append(f"warning: {result['diverged']}")
    if result["saved"]:
        lines.append(f"saved {result['saved']} (open it with: jacviz {result['saved']})")
    return "\n".join(lines)


def _check_showable(args: argparse.Namespace) -> None:
    """A UsageError unless the app can show ``--map`` or ``--network`` on its plane."""
    from jacviz.core.maps import require_planar
    from jacviz.core.views import SliceMap

    map_ = _formula_map(args.map) if args.map is not None else _network_map(args.network)
    if map_.input_dim > 2:
        map_ = SliceMap(map_)  # the app shows it on the plane of its first two inputs
    try:
        require_planar(map_)
    except ValueError as error:
        raise UsageError(f"{error} ('jacviz probe' reads any map at a point)") from None


def _launch_app(args: argparse.Namespace) -> int:
    from jacviz.core.state import ViewState

    if args.session is not None:
        from jacviz.core.session import SessionError, load_session

        try:
            load_session(args.session)  # a bad file: one line and status 2, as for networks
        except SessionError as error:
            raise UsageError(str(error)) from None
        from jacviz.gui.app import run_app

        return run_app(session=str(Path(args.session).resolve()))
    state, network = None, None
    if args.map is not None or args.network is not None:
        _check_showable(args)
        if args.map is not None:
            state = ViewState(formula=args.map)
        else:
            network = str(Path(args.network).resolve())
    from jacviz.gui.app import run_app

    return run_app(state, network=network)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``--size "WxH"`` (pixels, each 100 to 10000) into ``(W, H)``."""
    parts = text.lower().split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise UsageError(
            f"--size expects WIDTHxHEIGHT in pixels like 800x600, got {text!r}"
        ) from None
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise UsageError(f"--size: width and height must be {MIN_SIZE} to {MAX_SIZE}, got {text!r}")
    return width, height


def _render_request(args: argparse.Namespace, folder: str) -> RenderRequest:
    """The :class:`~jacviz.gui.headless.RenderRequest` the arguments ask for.

    A session's network is opened from its file when that still holds the saved bytes, else
    from a copy of the embedded bytes written to ``folder``.
    """
    import dataclasses

    from jacviz.core.grid import Domain
    from jacviz.core.session import SessionError, load_session, network_file
    from jacviz.core.state import ViewState
    from jacviz.gui.headless import KEEP, RenderRequest

    heatmap = KEEP if args.heatmap is None else None if args.heatmap == "none" else args.heatmap
    if args.view == "regions" and heatmap not in (KEEP, "classes"):
        raise UsageError(
            f"--view regions shows decision regions; leave out --heatmap {args.heatmap} "
            "or use --view input"
        )
    domain = probe = None
    if args.domain is not None:
        bounds = parse_numbers(args.domain, "--domain")
        if len(bounds) != 4:
            raise UsageError(f"--domain expects XMIN,XMAX,YMIN,YMAX, got {args.domain!r}")
        try:
            domain = Domain(*bounds)
        except ValueError as error:
            raise UsageError(f"--domain: {error}") from None
    if args.probe is not None:
        point = parse_numbers(args.probe, "--probe")
        if len(point) != 2:
            raise UsageError(f"--probe expects X,Y, got {args.probe!r}")
        probe = (point[0], point[1])
    state, network = ViewState(), None
    if args.session is not None:
        try:
            session = load_session(args.session)
            path, _ = network_file(session, folder)
        except SessionError as error:
            raise UsageError(str(error)) from None
        state = dataclasses.replace(session.view, network=path)
    elif args.map is not None:
        _check_showable(args)
        state = ViewState(formula=args.map)
    else:
        _check_showable(args)
        network = str(Path(args.network).resolve())
    return RenderRequest(
        state=state,
        view=args.view,
        network=network,
        heatmap=heatmap,
        domain=domain,
        probe=probe,
        size=None if args.size is None else parse_size(args.size),
        scale=args.scale,
        transparent=args.transparent,
        layer=args.layer,
    )


def _render(args: argparse.Namespace) -> int:
    import tempfile

    from jacviz.gui.export import ExportError, check_target

    try:
        check_target(args.out)  # before the window is built, not after
    except ExportError as error:
        raise UsageError(str(error)) from None
    with tempfile.TemporaryDirectory(prefix="jacviz-session-") as folder:
        request = _render_request(args, folder)
        from jacviz.gui.headless import RenderError, render_to_file

        try:
            path, width, height = render_to_file(request, args.out)
        except (RenderError, ExportError) as error:
            raise UsageError(str(error)) from None
    scale = f" at scale {args.scale:g}" if path.suffix.lower() == ".png" and args.scale != 1 else ""
    print(f"saved {path} ({width}×{height} px{scale})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``jacviz`` and its subcommands."""
    parser = _Parser(
        prog="jacviz",
        description="See Jacobians: the best local linear map of a 2D map or a small network. "
        "With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"jacviz {__version__}")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--map",
        metavar="FORMULA",
        help='open the app on this map, e.g. "x**2 + y, x*y" (default: the last one shown)',
    )
    start.add_argument(
        "--network",
        metavar="FILE",
        help="open the app on this network file (also: jacviz FILE)",
    )
    start.add_argument(
        "--session",
        metavar="FILE",
        help="open the app on this saved session (also: jacviz FILE.jacviz)",
    )
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    probe = commands.add_parser(
        "probe",
        help="print the value, Jacobian, det and singular values of a map at a point",
        description="Evaluate a map and its Jacobian at one point.",
    )
    source = probe.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--map",
        metavar="FORMULA",
        help='comma-separated components in x and y, e.g. "x**2 + y, x*y"',
    )
    source.add_argument(
        "--network",
        metavar="FILE",
        help="a network file: jacviz MLP (.safetensors), TorchScript, or torch.export (.pt2)",
    )
    probe.add_argument(
        "--at",
        required=True,
        metavar="X,Y",
        help="the point, e.g. 1,2 (or --at=-1,2); as many coordinates as the map has inputs",
    )
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    probe.set_defaults(run=_probe)
    _add_train_parser(commands)
    _add_render_parser(commands)
    return parser


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    from jacviz.core.datasets import DATASETS
    from jacviz.core.training import ESTIMATORS, OPTIMIZERS, TRAINABLE_ACTIVATIONS, TrainConfig

    defaults = TrainConfig()
    train = commands.add_parser(
        "train",
        help="train a 2D classifier, with or without Jacobian regularization, and measure it",
        description="Train an MLP classifier on a toy dataset (or a CSV of x,y,label) and "
        "report its accuracy, mean Jacobian Frobenius norm and accuracy under L2 PGD attacks.",
    )
    data = train.add_mutually_exclusive_group()
    data.add_argument("--dataset", choices=DATASETS, default="moons", help="(default: moons)")
    data.add_argument("--csv", metavar="FILE", help="points from a CSV file: x,y,label[,split]")
    train.add_argument("--points", type=int, default=200, help="dataset size (default: 200)")
    train.add_argument("--noise", type=float, default=0.1, help="noise std (default: 0.1)")
    train.add_argument("--classes", type=int, default=3, help="classes of 'blobs' (default: 3)")
    train.add_argument(
        "--test-fraction", type=float, default=0.3, help="held-out share (default: 0.3)"
    )
    train.add_argument(
        "--jr-lambda", type=float, default=0.0, help="weight λ of mean ‖J‖²F (default: 0, off)"
    )
    train.add_argument("--estimator", choices=ESTIMATORS, default=defaults.estimator)
    train.add_argument("--n-proj", type=int, default=defaults.n_proj, help="random projections")
    train.add_argument(
        "--hidden",
        default=",".join(map(str, defaults.hidden)),
        help=f"hidden widths (default: {','.join(map(str, defaults.hidden))})",
    )
    train.add_argument("--activation", choices=TRAINABLE_ACTIVATIONS, default=defaults.activation)
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer)
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--weight-decay", type=float, default=0.0, help="L2 on the weights")
    train.add_argument("--steps", type=int, default=defaults.steps)
    train.add_argument("--seed", type=int, default=0, help="data, initialization and batches")
    train.add_argument(
        "--epsilons",
        default=",".join(map(str, DEFAULT_EPSILONS)),
        help="PGD radii (L2, data units) for pgd_accuracy",
    )
    train.add_argument("--out", metavar="FILE", help="save the model (.safetensors)")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(run=_train)


def _add_render_parser(commands: argparse._SubParsersAction) -> None:
    from jacviz.core.jacobian import HEATMAP_QUANTITIES

    render = commands.add_parser(
        "render",
        help="draw a view of the app to a PNG, SVG or PDF file, with no display",
        description="Draw what the app shows, headless: the same window, at the size asked, "
        "after its heatmap is computed. The file's extension picks the format.",
    )
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--map", metavar="FORMULA", help='e.g. "x**2 + y, x*y"')
    source.add_argument("--network", metavar="FILE", help="a network file the app opens")
    source.add_argument("--session", metavar="FILE", help="a saved .jacviz session")
    render.add_argument(
        "--view",
        choices=("warp", "input", "regions", "layers", "composite"),
        default="composite",
        help="warp: the output plane (the warped grid) with its legend; input: the input "
        "plane with the heatmap; regions: the input plane with a classifier's decision "
        "regions; layers: the grid inside the network's layers; composite: the whole window "
        "(default)",
    )
    render.add_argument(
        "--heatmap",
        choices=(*HEATMAP_QUANTITIES, "classes", "none"),
        help="what colours the input plane (default: det, or decision regions for a "
        "classifier, or the session's)",
    )
    render.add_argument("--probe", metavar="X,Y", help="the probe point (or --probe=-1,2)")
    render.add_argument(
        "--layer",
        type=int,
        metavar="N",
        help="with --view layers: the layer to show, counted from 1 as the app lists them",
    )
    render.add_argument(
        "--domain", metavar="XMIN,XMAX,YMIN,YMAX", help="the input plane's rectangle"
    )
    render.add_argument(
        "--size",
        metavar="WxH",
        help="the picture's size in pixels (default: 1500x820 for composite, 720x720 for "
        "one view, which then fills the window)",
    )
    render.add_argument(
        "--scale", type=float, default=1.0, help="PNG pixels per pixel, e.g. 2 (default: 1)"
    )
    render.add_argument(
        "--transparent", action="store_true", help="PNG without the plots' white background"
    )
    render.add_argument("--out", required=True, metavar="FILE", help="FILE.png, .svg or .pdf")
    render.set_defaults(run=_render)


def _join_negative_values(argv: list[str]) -> list[str]:
    """Let ``--at -1,2`` (and --probe, --domain) work: argparse reads ``-1,2`` as an option."""
    joined: list[str] = []
    iterator = iter(argv)
    for arg in iterator:
        if arg in VALUE_OPTIONS:
            value = next(iterator, None)
            joined.append(arg if value is None else f"{arg}={value}")
        else:
            joined.append(arg)
    return joined


def _file_as_network(argv: list[str]) -> list[str]:
    """``jacviz FILE`` means ``jacviz --network FILE`` (``--session`` for ``.jacviz`` files).

    That is, for a first word that is no command.
    """
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        word = argv[0]
        if not Path(word).exists() and not any(c in word for c in "./\\"):
            raise UsageError(f"{word!r} is neither a command ({', '.join(COMMANDS)}) nor a file")
        return ["--session" if word.lower().endswith(".jacviz") else "--network", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jacviz`` command; returns the process exit status."""
    parser = build_parser()
    try:
        arguments = _file_as_network(list(sys.argv[1:] if argv is None else argv))
        args = parser.parse_args(_join_negative_values(arguments))
        if args.command is None:
            return _launch_app(args)
        return args.run(args)
    except UsageError as error:
        print(f"jacviz: error: {error}", file=sys.stderr)
        return EXIT_USAGE
