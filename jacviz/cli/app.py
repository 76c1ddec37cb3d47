"""``jacviz`` with no subcommand: open the app, on a map, a network file or a saved session.

``jacviz``, ``jacviz --map "x**2 + y, x*y"``, ``jacviz --network FILE`` (or ``jacviz FILE``)
and ``jacviz --session FILE.jacviz`` (or ``jacviz FILE.jacviz``) check what they are given
first, so that a bad formula or file ends in one line and status 2 rather than in a window
with an error; the GUI is imported only then, so that importing the command loads no Qt.
A ``--map`` formula is checked in a child process while this one imports the GUI, and is
parsed here only after the window's first paint (sympy is not imported before it).
"""

from __future__ import annotations

import argparse
import threading
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
    if args.map is not None:
        check = MapCheck(args.map)
        from jacviz.gui.shell.app import run_app  # imported while the child checks the map

        check.result()
        state = ViewState(formula=args.map)
    elif args.network is not None:
        check_showable(args, run_code=False)
        network = str(Path(args.network).resolve())
        if args.network_activation is not None:
            from jacviz.gui.mapview.loaded_network import choose_activation

            choose_activation(network, args.network_activation)
    from jacviz.gui.shell.app import run_app

    return run_app(state, network=network)


class MapCheck:
    """Check the ``--map`` formula on a thread, in a child process, while the caller goes on.

    The child parses the formula with a time limit (:func:`jacviz.math.maps.check_formula`);
    this process reads only its syntax, for the number of outputs (no sympy). The thread
    mostly waits for the child, so the caller can import the GUI meanwhile on the other core.
    The modules the check needs are imported before the thread starts: two threads importing
    parts of one package at once can deadlock on its import locks.
    """

    def __init__(self, text: str) -> None:
        import jacviz.math.maps  # noqa: F401  (see above)

        self._text = text
        self._problem: Exception | None = None
        self._thread = threading.Thread(target=self._check, name="map-check", daemon=True)
        self._thread.start()

    def _check(self) -> None:
        try:
            self._problem = self._verdict()
        except Exception as error:  # a bug: raised by result(), in the caller's thread
            self._problem = error

    def _verdict(self) -> UsageError | None:
        from jacviz.math.formula import FormulaError
        from jacviz.math.maps import FormulaMap, check_formula, require_planar

        try:
            check_formula(self._text)
            map_ = FormulaMap.from_text(self._text, isolated=False)  # its syntax, for its outputs
        except FormulaError as error:
            return UsageError(f"bad --map formula: {error}")
        try:
            require_planar(map_)
        except ValueError as error:
            return UsageError(f"{error} ('jacviz probe' reads any map at a point)")
        return None

    def result(self) -> None:
        """Wait for the check; a UsageError (one line, as ``jacviz probe`` says it) if it failed.

        Any other exception of the check (a bug) is raised here too.
        """
        self._thread.join()
        if self._problem is not None:
            raise self._problem
