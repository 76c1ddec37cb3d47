"""The ``jacviz`` command: the app by default, plus scriptable subcommands.

``jacviz probe --map "x**2 + y, x*y" --at 1,2 [--json]`` prints the value, Jacobian,
determinant, singular values, Frobenius norm and condition number of a map at a point.
``jacviz train --dataset moons --jr-lambda 0.1 [--json]`` trains a classifier headless and
reports its accuracy, Jacobian norm and robustness.
``jacviz render --map "x**2 + y, x*y" --view warp --out warp.svg`` draws a view of the app
with no display, to PNG, SVG or PDF.
Bad input ends with exit status 2 and one line on stderr that says what is wrong; whatever
the input, nothing else reaches stderr (no traceback, no warning) and nothing printed can fail
on the terminal's encoding.
"""

from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jacviz import __version__
from jacviz.support.text_input import (
    MAX_QUOTE,
    NumberError,
    one_line,
    parse_integer,
    parse_numbers,
    parse_real,
    quote,
)

if TYPE_CHECKING:
    from jacviz.gui.shell.headless import RenderRequest
    from jacviz.math.maps import FormulaMap, Map
    from jacviz.math.probe import ProbeReport

# The core (torch, sympy) is imported inside the commands that need it, so that
# `jacviz --help` and `--version` answer at once.

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
COMMANDS = ("probe", "train", "render")
DEFAULT_EPSILONS = (0.05, 0.1, 0.2, 0.3)
MAX_EPSILONS = 16
"""Most PGD radii ``--epsilons`` takes: each is an attack over every test point."""
_LONG_TOKEN = re.compile(rf"\S{{{2 * MAX_QUOTE},}}")
"""A run of 80 or more characters without a space in a message: an echo of user input."""
VALUE_OPTIONS = ("--at", "--probe", "--domain")
"""Options whose value may start with a minus sign (a negative coordinate)."""


class UsageError(Exception):
    """Bad command-line input: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one clear line instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Turn argparse's complaint into a :class:`UsageError`."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _option_type(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type`` reading plain decimal numbers only, refusing in one line."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except NumberError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = name  # argparse names the type in some messages
    return convert


REAL = _option_type(parse_real, "number")
WHOLE = _option_type(parse_integer, "whole number")


def _file_name(text: str) -> str:
    """An argparse ``type`` for file names: refuses those no file can have, in one line."""
    if not text:
        raise argparse.ArgumentTypeError("the file name is empty")
    if "\0" in text:  # the system would raise ValueError deep inside
        raise argparse.ArgumentTypeError(f"{quote(text)} holds a NUL byte, which no file name can")
    return text


FILE_NAME = _file_name


def numbers_option(
    text: str, option: str, parse: Callable[[str], Any] = parse_real, example: str = "1,2"
) -> list:
    """The comma-separated numbers of ``option``; a UsageError in one line says what is wrong."""
    try:
        return parse_numbers(text, parse)
    except NumberError as error:
        noun = "whole numbers" if parse is parse_integer else "numbers"
        raise UsageError(
            f"{option} expects comma-separated {noun} like {example}: {error}"
        ) from None


def parse_point(text: str, dimension: int) -> np.ndarray:
    """Parse ``"X,Y"`` (``dimension`` comma-separated plain decimal numbers) into an array."""
    example = ",".join(str(k + 1) for k in range(min(dimension, 4)))
    coordinates = numbers_option(text, "--at", example=example)
    if len(coordinates) != dimension:
        raise UsageError(
            f"--at expects {dimension} coordinates for this map, got {len(coordinates)} "
            f"in {quote(text)}"
        )
    return np.array(coordinates)


def _matrix_lines(matrix: np.ndarray) -> list[str]:
    """Rows of a matrix as aligned text, e.g. ``[[2, 1],`` / `` [2, 1]]``."""
    from jacviz.math.probe import align_columns, format_number

    rows = align_columns([[format_number(v) for v in row] for row in matrix], ", ")
    last = len(rows) - 1
    return [
        ("[[" if i == 0 else " [") + row + ("]]" if i == last else "],")
        for i, row in enumerate(rows)
    ]


def format_report(report: ProbeReport) -> str:
    """Human-readable text of a :class:`jacviz.math.probe.ProbeReport`."""
    from jacviz.math.probe import format_number, orientation_word

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
        meaning = orientation_word(det, float(report.singular_values[-1]))
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
    from jacviz.math.formula import FormulaError
    from jacviz.math.maps import FormulaMap

    try:
        return FormulaMap.from_text(text)
    except FormulaError as error:
        raise UsageError(f"bad --map formula: {error}") from None


def _network_map(path: str) -> Map:
    """The network in the file at ``path``, or a :class:`UsageError` saying why it can't be used.

    A TorchScript or torch.export network runs in a child process with time limits (a
    :class:`~jacviz.nets.hosted.HostedNetwork`), so that its code can neither hang the command
    nor print into its output.
    """
    from jacviz.nets.networks import NetworkError, load_network

    try:
        return load_network(path).as_map()
    except NetworkError as error:
        raise UsageError(str(error)) from None


def _probe(args: argparse.Namespace) -> int:
    import dataclasses

    from jacviz.math.probe import probe
    from jacviz.nets.hosted import HostedNetwork
    from jacviz.nets.networks import NetworkError

    map_ = _formula_map(args.map) if args.map is not None else _network_map(args.network)
    try:
        report = probe(map_, parse_point(args.at, map_.input_dim))
    except NetworkError as error:  # a hosted network failing or stopped at this point
        raise UsageError(str(error)) from None
    if isinstance(map_, HostedNetwork):
        # What the network's code printed or warned is told, never mixed into the output.
        report = dataclasses.replace(report, warnings=(*report.warnings, *map_.notes()))
        map_.close()
    if args.json:
        print_json(report.to_json())
    else:
        print(format_report(report))
    return 0


def finite_json(document: dict) -> dict:
    """``document`` with every non-finite float replaced by None, and a reason for each.

    JSON has no NaN or infinity (``json.dumps(allow_nan=False)`` raises on them, and what
    Python writes otherwise other parsers refuse), so they are written as ``null`` and the
    document's ``warnings`` list says which number it was and why, as ``jacviz probe`` does.
    """
    reasons: list[str] = []

    def clean(value: Any, where: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            word = "undefined (NaN)" if math.isnan(value) else "infinite"
            reasons.append(f"{where} is {word}; written as null")
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    cleaned = clean(document, "")
    if reasons:
        cleaned["warnings"] = [*cleaned.get("warnings", []), *reasons]
    return cleaned


def print_json(document: dict) -> None:
    """Print ``document`` as one line of valid JSON, whatever its numbers and the terminal.

    Non-finite numbers become null (:func:`finite_json`); text is escaped to ASCII unless
    stdout takes UTF-8, so that the escapes stay valid JSON.
    """
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        utf8 = False
    print(json.dumps(finite_json(document), allow_nan=False, ensure_ascii=not utf8))


def _train(args: argparse.Namespace) -> int:
    import torch

    from jacviz.nets.datasets import (
        DatasetError,
        check_dataset_settings,
        load_csv,
        make_dataset,
    )
    from jacviz.nets.networks import NetworkError, save_mlp
    from jacviz.nets.robustness import robust_accuracy
    from jacviz.nets.training import (
        TrainConfig,
        TrainingError,
        jacobian_frobenius,
        load_state,
    )
    from jacviz.nets.training import run as run_training

    # Every setting is checked before any work: the config and the data settings check their
    # own ranges (as for the lab and sessions), then the target, then the file is read.
    epsilons = _epsilons(args.epsilons)
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
        if args.csv is None:  # with --csv, the generator's settings are unused
            check_dataset_settings(
                args.dataset, args.points, args.noise, args.seed, args.test_fraction, args.classes
            )
    except (TrainingError, DatasetError) as error:
        raise UsageError(str(error)) from None
    if args.out is not None:
        _check_writable(Path(args.out))  # before training, not after minutes of it
    try:
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
        "warnings": [],
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
            raise UsageError(f"cannot save the model to {quote(args.out)}: {reason}") from None
        result["saved"] = str(args.out)
    if args.json:
        print_json(result)
    else:
        print(format_training(result))
    return 0


def _epsilons(text: str) -> list[float]:
    """The PGD radii of ``--epsilons``: 1 to MAX_EPSILONS numbers, 0 to MAX_COORDINATE."""
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
    """Human-readable text of :func:`_train`'s result."""
    from jacviz.math.probe import format_number

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
    # An attack that finds no adversarial point proves nothing: these are upper bounds.
    lines.append(f"L2 PGD accuracy (upper bound)  {curve}")
    if result["diverged"]:
        lines.append(f"warning: {result['diverged']}")
    lines.extend(f"warning: {w}" for w in result.get("warnings", ()))
    if result["saved"]:
        lines.append(f"saved {result['saved']} (open it with: jacviz {result['saved']})")
    return "\n".join(lines)


def _check_showable(args: argparse.Namespace, run_code: bool = True) -> None:
    """A UsageError unless the app can show ``--map`` or ``--network`` on its plane.

    With ``run_code`` False a network whose file holds code (TorchScript, torch.export) is
    only checked as far as that runs none of it: the app then loads it in the background,
    where the user sees it coming and can cancel, rather than before any window appears.
    """
    from jacviz.math.maps import require_planar
    from jacviz.nets.networks import NetworkError, check_network_file
    from jacviz.nets.views import SliceMap

    if args.map is not None:
        map_ = _formula_map(args.map)
    elif run_code:
        map_ = _network_map(args.network)
    else:
        try:
            network = check_network_file(args.network)
        except NetworkError as error:
            raise UsageError(str(error)) from None
        if network is None:
            return
        map_ = network.as_map()
    if map_.input_dim > 2:
        map_ = SliceMap(map_)  # the app shows it on the plane of its first two inputs
    try:
        require_planar(map_)
    except ValueError as error:
        raise UsageError(f"{error} ('jacviz probe' reads any map at a point)") from None


def _launch_app(args: argparse.Namespace) -> int:
    from jacviz.state.view import ViewState

    if args.session is not None:
        from jacviz.state.session import SessionError, load_session

        try:
            load_session(args.session)  # a bad file: one line and status 2, as for networks
        except SessionError as error:
            raise UsageError(str(error)) from None
        from jacviz.gui.shell.app import run_app

        return run_app(session=str(Path(args.session).resolve()))
    state, network = None, None
    if args.map is not None or args.network is not None:
        _check_showable(args, run_code=False)
        if args.map is not None:
            state = ViewState(formula=args.map)
        else:
            network = str(Path(args.network).resolve())
    from jacviz.gui.shell.app import run_app

    return run_app(state, network=network)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``--size "WxH"`` (whole numbers of pixels) into ``(W, H)``.

    The range is checked by :class:`~jacviz.gui.shell.headless.RenderRequest`.
    """
    parts = text.lower().split("x")
    try:
        if len(parts) != 2:
            raise NumberError(f"{quote(text)} is not two numbers joined by x")
        width, height = (parse_integer(part) for part in parts)
    except NumberError as error:
        raise UsageError(f"--size expects WIDTHxHEIGHT in pixels like 800x600: {error}") from None
    return width, height


def _render_options(args: argparse.Namespace) -> RenderRequest:
    """The request's options (view, heatmap, domain, probe, size, scale, layer), checked.

    Its map is still the default one: :func:`_with_source` sets it. Checking everything that
    does not need the map first means an absurd option is refused before a network is read
    or a window built.
    """
    from jacviz.gui.shell.headless import KEEP, RenderError, RenderRequest
    from jacviz.math.grid import Domain
    from jacviz.state.view import ViewState

    heatmap = KEEP if args.heatmap is None else None if args.heatmap == "none" else args.heatmap
    if args.view == "regions" and heatmap not in (KEEP, "classes"):
        raise UsageError(
            f"--view regions shows decision regions; leave out --heatmap {args.heatmap} "
            "or use --view input"
        )
    domain = probe = None
    if args.domain is not None:
        bounds = numbers_option(args.domain, "--domain", example="-2,2,-1,1")
        if len(bounds) != 4:
            raise UsageError(f"--domain expects XMIN,XMAX,YMIN,YMAX, got {quote(args.domain)}")
        try:
            domain = Domain(*bounds)
        except ValueError as error:
            raise UsageError(f"--domain: {error}") from None
    if args.probe is not None:
        point = numbers_option(args.probe, "--probe")
        if len(point) != 2:
            raise UsageError(f"--probe expects X,Y, got {quote(args.probe)}")
        probe = (point[0], point[1])
    try:
        return RenderRequest(
            state=ViewState(),
            view=args.view,
            heatmap=heatmap,
            domain=domain,
            probe=probe,
            size=None if args.size is None else parse_size(args.size),
            scale=args.scale,
            transparent=args.transparent,
            layer=args.layer,
        )
    except RenderError as error:
        raise UsageError(str(error)) from None


def _with_source(request: RenderRequest, args: argparse.Namespace, folder: str) -> RenderRequest:
    """``request`` with the map of ``--map``, ``--network`` or ``--session``.

    A session's network is opened from its file when that still holds the saved bytes, else
    from a copy of the embedded bytes written to ``folder``.
    """
    import dataclasses

    from jacviz.state.session import SessionError, load_session, network_file
    from jacviz.state.view import ViewState

    if args.session is not None:
        try:
            session = load_session(args.session)
            path, _ = network_file(session, folder)
        except SessionError as error:
            raise UsageError(str(error)) from None
        return dataclasses.replace(request, state=dataclasses.replace(session.view, network=path))
    _check_showable(args)
    if args.map is not None:
        return dataclasses.replace(request, state=ViewState(formula=args.map))
    return dataclasses.replace(request, network=str(Path(args.network).resolve()))


def _render(args: argparse.Namespace) -> int:
    import tempfile

    from jacviz.gui.common.export import ExportError, check_target

    request = _render_options(args)
    try:
        check_target(args.out)  # before the window is built, not after
    except ExportError as error:
        raise UsageError(str(error)) from None
    with tempfile.TemporaryDirectory(prefix="jacviz-session-") as folder:
        request = _with_source(request, args, folder)
        from jacviz.gui.shell.headless import RenderError, render_to_file

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
        type=FILE_NAME,
        help="open the app on this network file (also: jacviz FILE)",
    )
    start.add_argument(
        "--session",
        metavar="FILE",
        type=FILE_NAME,
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
        type=FILE_NAME,
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
    from jacviz.nets.datasets import (
        DATASETS,
        MAX_CLASSES,
        MAX_COORDINATE,
        MAX_NOISE,
        MAX_POINTS,
        MAX_TEST_FRACTION,
    )
    from jacviz.nets.robustness import PGD_RESTARTS, PGD_STEPS
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

    defaults = TrainConfig()
    train = commands.add_parser(
        "train",
        help="train a 2D classifier, with or without Jacobian regularization, and measure it",
        description="Train an MLP classifier on a toy dataset (or a CSV of x,y,label) and "
        "report its accuracy, mean Jacobian Frobenius norm and accuracy under L2 PGD attacks.",
    )
    data = train.add_mutually_exclusive_group()
    data.add_argument("--dataset", choices=DATASETS, default="moons", help="(default: moons)")
    data.add_argument(
        "--csv", metavar="FILE", type=FILE_NAME, help="points from a CSV file: x,y,label[,split]"
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
        help=f"held-out share, 0 to {MAX_TEST_FRACTION:g} (default: 0.3)",
    )
    train.add_argument(
        "--jr-lambda",
        type=REAL,
        default=0.0,
        help=f"weight λ of mean ‖J‖²F, 0 to {MAX_PENALTY:g} (default: 0, off)",
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
    train.add_argument("--seed", type=WHOLE, default=0, help="data, initialization and batches")
    train.add_argument(
        "--epsilons",
        default=",".join(map(str, DEFAULT_EPSILONS)),
        help=f"PGD radii (L2, data units; {PGD_STEPS} steps from each of {PGD_RESTARTS} starts) "
        f"for pgd_accuracy, an upper bound: up to {MAX_EPSILONS}, each 0 to {MAX_COORDINATE:g}",
    )
    train.add_argument(
        "--out", metavar="FILE", type=FILE_NAME, help="save the model (.safetensors)"
    )
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(run=_train)


def _add_render_parser(commands: argparse._SubParsersAction) -> None:
    from jacviz.math.jacobian import HEATMAP_QUANTITIES

    render = commands.add_parser(
        "render",
        help="draw a view of the app to a PNG, SVG or PDF file, with no display",
        description="Draw what the app shows, headless: the same window, at the size asked, "
        "after its heatmap is computed. The file's extension picks the format.",
    )
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--map", metavar="FORMULA", help='e.g. "x**2 + y, x*y"')
    source.add_argument(
        "--network", metavar="FILE", type=FILE_NAME, help="a network file the app opens"
    )
    source.add_argument("--session", metavar="FILE", type=FILE_NAME, help="a saved .jacviz session")
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
        type=WHOLE,
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
        "--scale", type=REAL, default=1.0, help="PNG pixels per pixel, e.g. 2 (default: 1)"
    )
    render.add_argument(
        "--transparent", action="store_true", help="PNG without the plots' white background"
    )
    render.add_argument(
        "--out", required=True, metavar="FILE", type=FILE_NAME, help="FILE.png, .svg or .pdf"
    )
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
        # os.path.exists, not Path.exists: a name too long for the system or holding a NUL
        # byte is simply no file, not an exception.
        if not os.path.exists(word) and not any(c in word for c in "./\\"):
            raise UsageError(
                f"{quote(word)} is neither a command ({', '.join(COMMANDS)}) nor a file"
            )
        return ["--session" if word.lower().endswith(".jacviz") else "--network", *argv]
    return argv


def _tolerant_output() -> None:
    r"""Make printing never fail on the terminal's encoding.

    A path with bytes that are not UTF-8 (``\xff.png``) reaches Python as a lone surrogate,
    and a strict UTF-8 or ASCII stdout (``PYTHONIOENCODING=utf-8:strict``, ``LANG=C``) raised
    UnicodeEncodeError after the file was written. Characters the stream cannot encode are
    now written as backslash escapes (``\udcff``, ``\u03c3``).
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (OSError, ValueError):  # a closed or unusual stream: leave it
                pass


@contextmanager
def _warnings_captured() -> Iterator[None]:
    """Keep warnings off stderr while a subcommand runs.

    torch's UserWarnings and numpy's RuntimeWarnings (an overflow while drawing, a deprecation
    in a loaded network) are no message to a user of the command line, and a failure must end
    with exactly one line. Code that has something to say about them (a network's own
    warnings) catches them where they arise.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            yield


def _shorten_words(message: str, words: Sequence[str]) -> str:
    """``message`` with every long command-line word in it shortened.

    argparse quotes values whole: an invalid 5,000-character ``--view`` filled the terminal.
    """
    for word in sorted({w for w in words if len(w) > MAX_QUOTE}, key=len, reverse=True):
        message = message.replace(repr(word), quote(word)).replace(word, quote(word))
    # What other modules echo of it (a file's name without its folder) is cut too, so that
    # the reason after it still fits on the line.
    return _LONG_TOKEN.sub(lambda match: match.group()[: MAX_QUOTE - 1] + "…", message)


def _complain(message: str, words: Sequence[str] = (), prefix: str = "error") -> None:
    """Print ``jacviz: error: message`` as one short line on stderr, whatever the message."""
    line = one_line(f"jacviz: {prefix}: {_shorten_words(message, words)}")
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):  # stderr closed: nothing more can be said
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jacviz`` command; returns the process exit status.

    0: done; 2: bad input, said in one line on stderr; 1: an internal error, also one line
    (a bug: please report it); 130: interrupted. Nothing else is printed on stderr.
    """
    _tolerant_output()
    words = [str(word) for word in (sys.argv[1:] if argv is None else argv)]
    try:
        parser = build_parser()
        arguments = _file_as_network(words)
        args = parser.parse_args(_join_negative_values(arguments))
        if args.command in (None, "probe", "render"):
            # Formulas and network code are checked in child processes started from a fork
            # server; starting it now lets it import jacviz while this process does too.
            from jacviz.support.isolation import warm_up

            warm_up()
        if args.command is None:
            return _launch_app(args)
        with _warnings_captured():
            return args.run(args)
    except UsageError as error:
        _complain(str(error), words)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _complain("interrupted", prefix="stopped")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`jacviz probe ... | head -1`): nothing to report.
        # Python would complain once more when flushing stdout at exit; point it at devnull.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_INTERNAL
    except Exception as error:  # the last net: a bug, but still one line
        _complain(f"{type(error).__name__}: {error} (please report it)", words, "internal error")
        return EXIT_INTERNAL
