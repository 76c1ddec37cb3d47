"""The ``jacviz`` command: the app by default, plus scriptable subcommands.

``jacviz probe --map "x**2 + y, x*y" --at 1,2 [--json]`` prints the value, Jacobian,
determinant, singular values, Frobenius norm and condition number of a map at a point.
``jacviz train --dataset moons --jr-lambda 0.1 [--json]`` trains a classifier headless and
reports its accuracy, Jacobian norm and robustness.
``jacviz render --map "x**2 + y, x*y" --view warp --out warp.svg`` draws a view of the app
with no display, to PNG, SVG or PDF.
``jacviz animate --map "x**2 + y, x*y" --out morph.gif`` saves the morph from the identity to
the map, and ``jacviz animate --training [train options] --out run.mp4`` a training run's
decision regions, as GIF or MP4 with exactly ``--frames`` frames.
``jacviz lab [train options]`` opens the app with the regularization lab in front.
``jacviz sweep --dataset digits --jr-lambda 0,0.01,0.1 --seeds 0,1,2 [--workers N]
[--dask ADDRESS] [--json]`` trains every (λ, seed) and reports each run.
Bad input ends with exit status 2 and one line on stderr that says what is wrong; whatever
the input, nothing else reaches stderr (no traceback, no warning) and nothing printed can fail
on the terminal's encoding.

The modules, one per part of the command:

- :mod:`~jacviz.cli.command`: the parser and :func:`main`, which dispatches and reports.
- :mod:`~jacviz.cli.app`: ``jacviz`` with no subcommand, which opens the app.
- :mod:`~jacviz.cli.probe`, :mod:`~jacviz.cli.train`, :mod:`~jacviz.cli.render`,
  :mod:`~jacviz.cli.animate`, :mod:`~jacviz.cli.lab`, :mod:`~jacviz.cli.sweep`: the
  subcommands, each with its options and what it runs and prints.
- :mod:`~jacviz.cli.arguments`: the parser class, option types and :class:`UsageError`.
- :mod:`~jacviz.cli.output`: always-valid JSON and the one-line error.
- :mod:`~jacviz.cli.sources`: the ``--map`` or ``--network`` a command works on.

Importing this package loads no Qt, torch or sympy: each command imports what it needs.
``jacviz.cli:main`` is the console entry point.
"""

from jacviz.cli.arguments import FILE_NAME, REAL, WHOLE, UsageError, numbers_option
from jacviz.cli.command import (
    COMMANDS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    VALUE_OPTIONS,
    build_parser,
    main,
)
from jacviz.cli.output import finite_json, print_json
from jacviz.cli.probe import format_report, parse_point
from jacviz.cli.render import parse_size
from jacviz.cli.train import (
    DEFAULT_EPSILONS,
    MAX_EPSILONS,
    format_training,
)

__all__ = [
    "COMMANDS",
    "DEFAULT_EPSILONS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "FILE_NAME",
    "MAX_EPSILONS",
    "REAL",
    "VALUE_OPTIONS",
    "WHOLE",
    "UsageError",
    "build_parser",
    "finite_json",
    "format_report",
    "format_training",
    "main",
    "numbers_option",
    "parse_point",
    "parse_size",
    "print_json",
]
