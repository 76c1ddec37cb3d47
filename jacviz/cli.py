"""The ``jacviz`` command: the app by default, plus scriptable subcommands.

``jacviz probe --map "x**2 + y, x*y" --at 1,2 [--json]`` prints the value, Jacobian,
determinant, singular values, Frobenius norm and condition number of a map at a point.
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

# The core (torch, sympy) is imported inside the commands that need it, so that
# `jacviz --help` and `--version` answer at once.

EXIT_USAGE = 2
COMMANDS = ("probe",)


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


def _launch_app(args: argparse.Namespace) -> int:
    from jacviz.core.maps import require_planar
    from jacviz.core.state import ViewState
    from jacviz.core.views import SliceMap

    state = None
    if args.map is not None or args.network is not None:
        map_ = _formula_map(args.map) if args.map is not None else _network_map(args.network)
        if map_.input_dim > 2:
            map_ = SliceMap(map_)  # the app shows it on the plane of its first two inputs
        try:
            require_planar(map_)
        except ValueError as error:
            raise UsageError(f"{error} ('jacviz probe' reads any map at a point)") from None
        if args.map is not None:
            state = ViewState(formula=args.map)
        else:
            state = ViewState(network=str(Path(args.network).resolve()))
    from jacviz.gui.app import run_app

    return run_app(state)


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
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """Let ``--at -1,2`` work: argparse would read ``-1,2`` as an option otherwise."""
    joined: list[str] = []
    iterator = iter(argv)
    for arg in iterator:
        if arg == "--at":
            value = next(iterator, None)
            joined.append(arg if value is None else f"--at={value}")
        else:
            joined.append(arg)
    return joined


def _file_as_network(argv: list[str]) -> list[str]:
    """``jacviz FILE`` means ``jacviz --network FILE``: a first word that is no command."""
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        word = argv[0]
        if not Path(word).exists() and not any(c in word for c in "./\\"):
            raise UsageError(f"{word!r} is neither a command ({', '.join(COMMANDS)}) nor a file")
        return ["--network", *argv]
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
