"""``jacviz animate``: the morph of a map, or a training run, as a GIF or MP4, with no display.

``jacviz animate --map "x**2 + y, x*y" --frames 48 --out morph.gif`` saves the output plane as
the morph t goes from 0 (the identity) to 1 (the map), as File → Export morph animation does;
``jacviz animate --training --dataset spirals --jr-lambda 0.01 --out run.mp4`` trains a
classifier (the options and checks of ``jacviz train``) and saves its decision regions from
step 0 to the end, as the lab's Export training animation does. The file has exactly
``--frames`` frames of exactly ``--size`` pixels. As for ``jacviz render``, every option is
checked before any work, a refusal is one line with exit status 2, and no partial file is
ever left; the GUI is imported only to draw, so that importing the command loads no Qt.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from jacviz.cli.arguments import FILE_NAME, REAL, WHOLE, UsageError
from jacviz.cli.render import parse_size, render_options, with_source
from jacviz.cli.train import add_training_options, training_config, training_data
from jacviz.support.text_input import quote

MORPH_FRAMES, MORPH_FPS = 48, 24.0
"""The morph's frames and frames per second unless asked otherwise (2 s, as in the app)."""
TRAINING_FRAMES, TRAINING_FPS = 60, 20.0
"""A training movie's frames and frames per second unless asked otherwise (as in the lab)."""
TRAINING_SIZE = (720, 600)
"""A training movie's frame size unless asked otherwise (as in the lab)."""
MAX_FRAMES = 1000
"""Most frames of an animation (as the app's export takes)."""
MAX_FPS = 60.0
"""Most frames per second."""
MORPH_OPTIONS = ("probe", "domain")
"""Options of the morph only: refused with ``--training``."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``animate`` and its options to the command's subparsers."""
    from jacviz.nets.fields import DISPLAYS, REGIONS

    animate = commands.add_parser(
        "animate",
        help="save the morph of a map, or a training run, as a GIF or MP4, with no display",
        description="Save the morph from the identity to a map (--map, --network, --session) "
        "or a training run's decision regions (--training, with the options of 'jacviz "
        "train') as an animation with exactly --frames frames. The file's extension picks "
        "the format.",
    )
    source = animate.add_mutually_exclusive_group(required=True)
    source.add_argument("--map", metavar="FORMULA", help='morph this map, e.g. "x**2 + y, x*y"')
    source.add_argument("--network", metavar="FILE", type=FILE_NAME, help="morph this network")
    source.add_argument(
        "--session", metavar="FILE", type=FILE_NAME, help="morph a saved .jacviz session's map"
    )
    source.add_argument(
        "--training",
        action="store_true",
        help="film a training run instead, set by the options below (as for 'jacviz train')",
    )
    animate.add_argument(
        "--frames",
        type=WHOLE,
        help=f"frames, 2 to {MAX_FRAMES} (default: {MORPH_FRAMES} for the morph, "
        f"{TRAINING_FRAMES} for a run, at most its steps + 1)",
    )
    animate.add_argument(
        "--fps",
        type=REAL,
        help=f"frames per second, 1 to {MAX_FPS:g} (default: {MORPH_FPS:g} for the morph, "
        f"{TRAINING_FPS:g} for a run)",
    )
    animate.add_argument(
        "--size",
        metavar="WxH",
        help="each frame's size in pixels, caption included, 320x240 to 10000x10000 "
        f"(default: 720x720 for the morph, {TRAINING_SIZE[0]}x{TRAINING_SIZE[1]} for a run)",
    )
    animate.add_argument("--probe", metavar="X,Y", help="the morph's probe point")
    animate.add_argument(
        "--domain", metavar="XMIN,XMAX,YMIN,YMAX", help="the morph's input rectangle"
    )
    animate.add_argument(
        "--display",
        choices=DISPLAYS,
        help=f"what a run's frames show: {', '.join(f'{k} ({v})' for k, v in DISPLAYS.items())} "
        f"(default: {REGIONS})",
    )
    training = animate.add_argument_group("training run (with --training; as 'jacviz train')")
    training_options = add_training_options(training)
    animate.add_argument(
        "--out", required=True, metavar="FILE", type=FILE_NAME, help="FILE.gif or FILE.mp4"
    )
    # What render_options reads: the warp view at scale 1 on the map's own heatmap.
    animate.set_defaults(
        run=run,
        view="warp",
        heatmap=None,
        layer=None,
        scale=1.0,
        transparent=False,
        training_options=training_options,
        training_defaults={dest: animate.get_default(dest) for dest in training_options},
    )


def run(args: argparse.Namespace) -> int:
    """Save the animation ``args`` ask for to ``--out`` and say so; returns the exit status."""
    from jacviz.gui.common.animation import AnimationError, check_animation_target

    _check_options(args)
    count, fps = args.frames, args.fps
    if count is None:
        count = TRAINING_FRAMES if args.training else MORPH_FRAMES
    if fps is None:
        fps = TRAINING_FPS if args.training else MORPH_FPS
    if not 2 <= count <= MAX_FRAMES:
        raise UsageError(f"--frames must be from 2 to {MAX_FRAMES}, got {count}")
    if not 1 <= fps <= MAX_FPS:
        raise UsageError(f"--fps must be from 1 to {MAX_FPS:g}, got {fps:g}")
    try:
        check_animation_target(args.out)  # before any work, not after
    except AnimationError as error:
        raise UsageError(str(error)) from None
    if args.training:
        path, width, height = _training(args, count, fps)
    else:
        path, width, height = _morph(args, count, fps)
    print(f"saved {path} ({count} frames of {width}×{height} px at {fps:g} fps)")
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options of the morph with ``--training``, and of a run without it."""
    if args.training:
        given = [name for name in MORPH_OPTIONS if getattr(args, name) is not None]
        if given:
            raise UsageError(f"--{given[0]} sets the morph: leave it out with --training")
        return
    given = [
        dest
        for dest in (*args.training_options, "display")
        if getattr(args, dest) != args.training_defaults.get(dest)
    ]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise UsageError(f"{option} sets a training run: add --training, or leave it out")


def _pixels_check(count: int, size: tuple[int, int]) -> None:
    from jacviz.gui.shell.headless_animation import MAX_ANIMATION_PIXELS

    pixels = count * size[0] * size[1]
    if pixels > MAX_ANIMATION_PIXELS:
        raise UsageError(
            f"{count} frames of {size[0]}×{size[1]} pixels make {pixels / 1e6:.0f} million "
            f"pixels, more than {MAX_ANIMATION_PIXELS // 1_000_000} million: choose fewer "
            "--frames or a smaller --size"
        )


def _morph(args: argparse.Namespace, count: int, fps: float) -> tuple[Path, int, int]:
    """Save the morph of ``--map``, ``--network`` or ``--session``."""
    from jacviz.gui.common.animation import AnimationError
    from jacviz.gui.shell.headless import RenderError
    from jacviz.gui.shell.headless_animation import save_morph

    request = render_options(args, plane=False)  # size, probe and domain checked, before any window
    _pixels_check(count, request.figure_size)
    if args.network is not None:
        from jacviz.nets.networks import is_state_dict_file

        if is_state_dict_file(args.network):  # here --activation is the training's option
            raise UsageError(
                f"{quote(args.network)} is a PyTorch state dict: jacviz animate cannot take its "
                "activation; open it with 'jacviz FILE --activation A', save a session and "
                "animate that with --session"
            )

    with tempfile.TemporaryDirectory(prefix="jacviz-session-") as folder:
        request = with_source(request, args, folder)
        try:
            return save_morph(request, args.out, count, fps)
        except (RenderError, AnimationError) as error:
            raise UsageError(str(error)) from None


def _training(args: argparse.Namespace, count: int, fps: float) -> tuple[Path, int, int]:
    """Train as ``jacviz train`` would and save the run's frames."""
    from jacviz.gui.common.animation import AnimationError
    from jacviz.gui.shell.headless import RenderError, check_size
    from jacviz.gui.shell.headless_animation import save_training
    from jacviz.nets.fields import REGIONS
    from jacviz.nets.training import TrainingError

    config = training_config(args)
    if count > config.steps + 1:
        raise UsageError(
            f"--frames: a run of {config.steps} steps has at most {config.steps + 1} frames, "
            f"got {count}"
        )
    size = TRAINING_SIZE if args.size is None else parse_size(args.size)
    try:
        check_size(size)
    except RenderError as error:
        raise UsageError(str(error)) from None
    _pixels_check(count, size)
    data = training_data(args)
    try:
        return save_training(data, config, args.display or REGIONS, args.out, count, fps, size)
    except (RenderError, AnimationError, TrainingError) as error:
        raise UsageError(str(error)) from None
