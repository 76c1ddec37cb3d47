"""``jacviz`` with no subcommand: open the app, on a map, a network file or a saved session.

``jacviz``, ``jacviz --map "x**2 + y, x*y"``, ``jacviz --network FILE`` (or ``jacviz FILE``)
and ``jacviz --session FILE.jacviz`` (or ``jacviz FILE.jacviz``) check what they are given
first, so that a bad formula or file ends in one line and status 2 rather than in a window
with an error; the GUI is imported only then, so that importing the command loads no Qt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jacviz.cli.arguments import FILE_NAME, UsageError, add_activation_option
from jacviz.cli.sources import check_showable


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the app's own options (what it opens on) to the command's top-level parser."""
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
    add_activation_option(parser)


def launch(args: argparse.Namespace) -> int:
    """Open the app on what ``args`` name, once it is checked; returns the app's exit status."""
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
        check_showable(args, run_code=False)
        if args.map is not None:
            state = ViewState(formula=args.map)
        else:
            network = str(Path(args.network).resolve())
            if args.network_activation is not None:
                from jacviz.gui.mapview.loaded_network import choose_activation

                choose_activation(network, args.network_activation)
    from jacviz.gui.shell.app import run_app

    return run_app(state, network=network)
