"""The map a command works on: a ``--map`` formula or a ``--network`` file, refused in one line.

``jacviz probe``, ``jacviz render`` and the app launch all read their map from the same
options; this module turns those into a :class:`~jacviz.math.maps.Map` (or a
:class:`~jacviz.cli.arguments.UsageError` saying what is wrong) and checks that the app can
show it on its plane.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from jacviz.cli.arguments import UsageError

if TYPE_CHECKING:
    from jacviz.math.maps import FormulaMap, Map

# The core (sympy; torch for networks only) is imported inside the functions, so that
# importing the command costs nothing until a map is read, and a formula never loads torch.


def formula_map(text: str) -> FormulaMap:
    """The map typed after ``--map``, or a :class:`UsageError` saying what is wrong and where."""
    from jacviz.math.formula import FormulaError
    from jacviz.math.maps import FormulaMap

    try:
        return FormulaMap.from_text(text)
    except FormulaError as error:
        raise UsageError(f"bad --map formula: {error}") from None


def network_map(path: str, activation: str | None = None) -> Map:
    """The network in the file at ``path``, or a :class:`UsageError` saying why it can't be used.

    A TorchScript or torch.export network runs in a child process with time limits (a
    :class:`~jacviz.nets.hosted.HostedNetwork`), so that its code can neither hang the command
    nor print into its output.
    """
    from jacviz.nets.networks import NetworkError, load_network

    try:
        return load_network(path, activation=activation).as_map()
    except NetworkError as error:
        raise UsageError(str(error)) from None


def check_showable(args: argparse.Namespace, run_code: bool = True) -> None:
    """A UsageError unless the app can show ``--map`` or ``--network`` on its plane.

    With ``run_code`` False a network whose file holds code (TorchScript, torch.export) is
    only checked as far as that runs none of it: the app then loads it in the background,
    where the user sees it coming and can cancel, rather than before any window appears.
    """
    from jacviz.math.maps import require_planar
    from jacviz.nets.errors import NetworkError
    from jacviz.nets.views import SliceMap

    if args.map is not None:
        map_ = formula_map(args.map)  # numpy only: torch is imported for networks alone
    elif run_code:
        map_ = network_map(args.network, getattr(args, "network_activation", None))
    else:
        from jacviz.nets.networks import check_network_file

        try:
            network = check_network_file(args.network, getattr(args, "network_activation", None))
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
