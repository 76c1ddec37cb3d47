"""``jacviz render``: draw a view of the app to a PNG, SVG or PDF file, with no display.

``jacviz render --map "x**2 + y, x*y" --view warp --out warp.svg`` builds the same window the
app shows, headless, at the size asked, and saves one of its views after the heatmap is
computed. Every option is checked before the map is read or a window built; the GUI is
imported only then, so that importing the command loads no Qt.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from jacviz.cli.arguments import (
    FILE_NAME,
    REAL,
    WHOLE,
    UsageError,
    add_activation_option,
    numbers_option,
)
from jacviz.cli.sources import check_showable
from jacviz.support.text_input import NumberError, parse_integer, quote

if TYPE_CHECKING:
    from jacviz.gui.shell.headless import RenderRequest


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``render`` and its options to the command's subparsers."""
    from jacviz.math.jacobian import HEATMAP_QUANTITIES
    from jacviz.nets.data import VECTOR_DATASETS

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
    source.add_argument(
        "--dataset",
        choices=VECTOR_DATASETS,
        help="data for --view plane: the plane through three of its held-out points",
    )
    source.add_argument(
        "--npz", metavar="FILE", type=FILE_NAME, help="data of your own for --view plane"
    )
    add_activation_option(render)
    render.add_argument(
        "--view",
        choices=("warp", "input", "regions", "layers", "composite", "plane"),
        default=None,
        help="warp: the output plane (the warped grid) with its legend; input: the input "
        "plane with the heatmap; regions: the input plane with a classifier's decision "
        "regions; layers: the grid inside the network's layers; composite: the whole window "
        "(default for a map); plane: the lab's plane through three inputs of --dataset or "
        "--npz, λ = 0 and λ > 0 side by side (default for data)",
    )
    render.add_argument(
        "--heatmap",
        choices=(*HEATMAP_QUANTITIES, "classes", "margin", "none"),
        help="what colours the input plane (default: det, or decision regions for a "
        "classifier, or the session's); --view plane: classes (default), frob or margin",
    )
    render.add_argument(
        "--probe",
        metavar="X,Y",
        help="the probe point (or --probe=-1,2); --view plane: plane coordinates S,T "
        "(default: the anchors' centre)",
    )
    _add_plane_options(render)
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
        help="the picture's size in pixels, 320x240 to 10000x10000; the layout reflows to "
        "fit (default: 1500x820 for composite, 720x720 for one view)",
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
    render.set_defaults(run=run)


def _add_plane_options(render: argparse.ArgumentParser) -> None:
    """The plane view's anchors and training settings (the lab's defaults otherwise).

    The defaults are :data:`~jacviz.nets.plane_training.PLANE_CONFIG`'s, written out here:
    importing it would load torch to build the parser (tests check they agree).
    """
    plane = render.add_argument_group("--view plane")
    plane.add_argument(
        "--anchors",
        metavar="I,J,K",
        help="indices of three held-out points (default: the first of three classes)",
    )
    plane.add_argument(
        "--jr-lambda",
        type=REAL,
        help="λ of the regularized run, above 0 (default: 0.01; random projections)",
    )
    plane.add_argument("--hidden", help="hidden widths, tanh, Adam at 0.003 (default: 64,64)")
    plane.add_argument("--steps", type=WHOLE, help="training steps (default: 2000)")
    plane.add_argument("--seed", type=WHOLE, help="initialization and batches (default: 0)")


def run(args: argparse.Namespace) -> int:
    """Render the view ``args`` ask for to ``--out`` and say so; returns the exit status."""
    import tempfile

    from jacviz.gui.common.export import ExportError, check_target

    request = render_options(args)
    try:
        check_target(args.out)  # before the window is built, not after
    except ExportError as error:
        raise UsageError(str(error)) from None
    with tempfile.TemporaryDirectory(prefix="jacviz-session-") as folder:
        from jacviz.gui.shell.headless import RenderError, render_to_file

        try:
            if request.view == "plane":
                from jacviz.gui.shell.headless_plane import render_plane

                path, width, height = render_plane(request, args.out)
            else:
                request = with_source(request, args, folder)
                path, width, height = render_to_file(request, args.out)
        except (RenderError, ExportError) as error:
            raise UsageError(str(error)) from None
    scale = f" at scale {args.scale:g}" if path.suffix.lower() == ".png" and args.scale != 1 else ""
    print(f"saved {path} ({width}×{height} px{scale})")
    return 0


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


def render_options(args: argparse.Namespace, *, plane: bool = True) -> RenderRequest:
    """The request's options (view, heatmap, domain, probe, size, scale, layer), checked.

    Its map is still the default one: :func:`with_source` sets it. Checking everything that
    does not need the map first means an absurd option is refused before a network is read
    or a window built. ``plane=False`` is for commands whose ``--dataset`` and training
    options mean a training run, not the plane view's data (``jacviz animate``).
    """
    from jacviz.gui.shell.headless import KEEP, RenderError, RenderRequest
    from jacviz.math.grid import Domain
    from jacviz.state.view import ViewState

    data = None
    if plane:
        data = args.dataset if args.dataset is not None else args.npz
    if args.view is None:
        args.view = "composite" if data is None else "plane"
    heatmap = KEEP if args.heatmap is None else None if args.heatmap == "none" else args.heatmap
    if args.view != "plane" and heatmap == "margin":
        raise UsageError("--heatmap margin colours --view plane (the logit margin)")
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
            dataset=data,
            **(plane_options(args) if plane else {}),
        )
    except RenderError as error:
        raise UsageError(str(error)) from None


def plane_options(args: argparse.Namespace) -> dict:
    """``anchors`` and ``training`` of a plane request from the options, each checked.

    Empty when none of the plane's options is given; a UsageError says what is wrong.
    """
    from jacviz.nets.training import TrainingError

    options: dict = {}
    if args.anchors is not None:
        indices = numbers_option(args.anchors, "--anchors", parse_integer, example="0,10,20")
        if len(indices) != 3:
            raise UsageError(f"--anchors expects three indices I,J,K, got {quote(args.anchors)}")
        options["anchors"] = tuple(indices)
    given = {
        "jr_lambda": args.jr_lambda,
        "steps": args.steps,
        "seed": args.seed,
    }
    if args.hidden is not None:
        given["hidden"] = tuple(numbers_option(args.hidden, "--hidden", parse_integer, "64,64"))
    changes = {name: value for name, value in given.items() if value is not None}
    if changes:
        from jacviz.nets.plane_training import PLANE_CONFIG

        try:
            options["training"] = PLANE_CONFIG.replace(**changes)
        except TrainingError as error:
            raise UsageError(str(error)) from None
    return options


def with_source(request: RenderRequest, args: argparse.Namespace, folder: str) -> RenderRequest:
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
    check_showable(args)
    if args.map is not None:
        return dataclasses.replace(request, state=ViewState(formula=args.map))
    network = str(Path(args.network).resolve())
    if getattr(args, "network_activation", None) is not None:
        from jacviz.gui.mapview.loaded_network import choose_activation

        choose_activation(network, args.network_activation)  # the app's loader reads it
    return dataclasses.replace(request, network=network)
