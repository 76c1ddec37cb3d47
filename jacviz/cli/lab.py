"""``jacviz lab``: open the Jacobian regularization lab directly, optionally on given settings.

``jacviz lab`` opens the app with its lab window in front, as Lab → Jacobian regularization
lab… does; ``jacviz lab --dataset spirals --jr-lambda 0.01 --hidden 64,64`` first sets the
lab's data and model as ``jacviz train`` reads them (the same options and checks, so a bad
setting is one line and status 2 before any window opens). λ starts at the lab's own start
value (:data:`~jacviz.state.lab.LAB_START_LAMBDA`) unless ``--jr-lambda`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jacviz.cli.arguments import UsageError
from jacviz.cli.train import add_training_options, training_config


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``lab`` and its options to the command's subparsers."""
    from jacviz.state.lab import LAB_START_LAMBDA

    lab = commands.add_parser(
        "lab",
        help="open the Jacobian regularization lab directly",
        description="Open the app with the Jacobian regularization lab in front. The options "
        "of 'jacviz train' set the lab's data and model before it starts (λ starts at "
        f"{LAB_START_LAMBDA:g}, the lab's own start, unless --jr-lambda is given).",
    )
    add_training_options(lab)
    lab.set_defaults(run=run, jr_lambda=LAB_START_LAMBDA)


def run(args: argparse.Namespace) -> int:
    """Check the settings, then open the app on the lab; returns the app's exit status."""
    from jacviz.state.lab import DataSettings, ModelSettings

    config = training_config(args)  # one line and status 2 for a bad setting, no window
    try:
        model = ModelSettings.from_config(config, "the lab's settings")
    except ValueError as error:
        raise UsageError(str(error)) from None
    data = DataSettings(
        name=args.dataset,
        n_points=args.points,
        noise=args.noise,
        test_fraction=args.test_fraction,
        seed=args.seed,
        n_classes=args.classes,
    )
    csv = None
    if args.csv is not None:
        from jacviz.cli.train import training_data

        training_data(args)  # a CSV that cannot be read is refused here, not in a dialog
        csv = str(Path(args.csv).resolve())
    from jacviz.gui.shell.app import LabStart, run_app

    return run_app(lab=LabStart(model=model, data=data, csv=csv))
