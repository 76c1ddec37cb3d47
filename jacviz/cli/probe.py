"""``jacviz probe``: a map's value and Jacobian at one point, as text or JSON.

``jacviz probe --map "x**2 + y, x*y" --at 1,2 [--json]`` prints the value, Jacobian,
determinant, singular values, Frobenius norm and condition number of a formula, or of a
network file (``--network FILE``), at a point with as many coordinates as the map has inputs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import numpy as np

from jacviz.cli.arguments import FILE_NAME, UsageError, add_activation_option, numbers_option
from jacviz.cli.output import print_json
from jacviz.cli.sources import formula_map, network_map
from jacviz.support.text_input import quote

if TYPE_CHECKING:
    from jacviz.math.probe import ProbeReport


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``probe`` and its options to the command's subparsers."""
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
    add_activation_option(probe)
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    probe.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Probe the map of ``args`` at ``--at`` and print the report; returns the exit status."""
    from jacviz.math.probe import probe

    if args.map is not None:  # a formula: numpy only, torch is never imported
        map_ = formula_map(args.map)
        report = probe(map_, parse_point(args.at, map_.input_dim))
    else:
        report = _probe_network(args)
    if args.json:
        print_json(report.to_json())
    else:
        print(format_report(report))
    return 0


def _probe_network(args: argparse.Namespace) -> ProbeReport:
    """The report of ``--network`` at ``--at``; what the network's code printed is a warning."""
    import dataclasses

    from jacviz.math.probe import probe
    from jacviz.nets.errors import NetworkError
    from jacviz.nets.hosted import HostedNetwork

    map_ = network_map(args.network, args.network_activation)
    try:
        report = probe(map_, parse_point(args.at, map_.input_dim))
    except NetworkError as error:  # a hosted network failing or stopped at this point
        raise UsageError(str(error)) from None
    if isinstance(map_, HostedNetwork):
        # What the network's code printed or warned is told, never mixed into the output.
        report = dataclasses.replace(report, warnings=(*report.warnings, *map_.notes()))
        map_.close()
    return report


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
