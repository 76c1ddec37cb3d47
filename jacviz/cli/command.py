"""The ``jacviz`` command itself: its parser, and :func:`main`, which runs one subcommand.

:func:`main` reads the command line (``jacviz FILE`` and ``--at -1,2`` included), dispatches to
the app launch or to a subcommand's module (:mod:`~jacviz.cli.probe`,
:mod:`~jacviz.cli.train`, :mod:`~jacviz.cli.sweep`, :mod:`~jacviz.cli.render`,
:mod:`~jacviz.cli.animate`, :mod:`~jacviz.cli.lab`), and turns whatever goes wrong into one
line on stderr and an exit status: nothing else ever reaches stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from jacviz import __version__
from jacviz.cli.animate import add_parser as add_animate_parser
from jacviz.cli.app import add_options as add_app_options
from jacviz.cli.app import launch as launch_app
from jacviz.cli.arguments import Parser, UsageError
from jacviz.cli.lab import add_parser as add_lab_parser
from jacviz.cli.output import complain, tolerant_output
from jacviz.cli.probe import add_parser as add_probe_parser
from jacviz.cli.render import add_parser as add_render_parser
from jacviz.cli.sweep import add_parser as add_sweep_parser
from jacviz.cli.train import add_parser as add_train_parser
from jacviz.support.text_input import quote

# The core (torch, sympy) is imported inside the commands that need it, so that
# `jacviz --help` and `--version` answer at once.

EXIT_USAGE = 2
"""Exit status for bad input, said in one line on stderr."""
EXIT_INTERNAL = 1
"""Exit status for an internal error (a bug), also said in one line."""
EXIT_INTERRUPTED = 130
"""Exit status when interrupted (Ctrl+C), as shells report SIGINT."""
COMMANDS = ("probe", "train", "sweep", "render", "animate", "lab")
"""The subcommands: any other first word must be a file to open in the app."""
VALUE_OPTIONS = ("--at", "--probe", "--domain")
"""Options whose value may start with a minus sign (a negative coordinate)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``jacviz`` and its subcommands."""
    parser = Parser(
        prog="jacviz",
        description="See Jacobians: the best local linear map of a 2D map or a small network. "
        "With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"jacviz {__version__}")
    add_app_options(parser)
    commands = parser.add_subparsers(dest="command", parser_class=Parser)
    add_probe_parser(commands)
    add_train_parser(commands)
    add_sweep_parser(commands)
    add_render_parser(commands)
    add_animate_parser(commands)
    add_lab_parser(commands)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jacviz`` command; returns the process exit status.

    0: done; 2: bad input, said in one line on stderr; 1: an internal error, also one line
    (a bug: please report it); 130: interrupted. Nothing else is printed on stderr.
    """
    tolerant_output()
    words = [str(word) for word in (sys.argv[1:] if argv is None else argv)]
    try:
        parser = build_parser()
        arguments = _file_as_network(words)
        args = parser.parse_args(_join_negative_values(arguments))
        if args.command in ("probe", "render", "animate", "lab"):
            # Formulas and network code are checked in child processes started from a fork
            # server; starting it now lets it import jacviz while this process does too. The
            # app starts it after its window's first paint (gui/shell/app.py), not before.
            from jacviz.support.isolation import warm_up

            warm_up()
        if args.command is None:
            return launch_app(args)
        with _warnings_captured():
            return args.run(args)
    except UsageError as error:
        complain(str(error), words)
        return EXIT_USAGE
    except KeyboardInterrupt:
        complain("interrupted", prefix="stopped")
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
        complain(f"{type(error).__name__}: {error} (please report it)", words, "internal error")
        return EXIT_INTERNAL
