"""``jacviz.animate``: the morph from the identity to a map, as a GIF or MP4 file.

The frames ``jacviz animate`` draws (:mod:`jacviz.gui.shell.headless_animation`): the
output plane as t goes from 0 (the identity) to 1 (the map), each frame captioned with the
map, t and its number. A formula or a network file is opened as the command opens it; a
module or callable held in memory is handed to the same headless window as a map.
"""

from __future__ import annotations

import dataclasses
import html
import numbers
import os
from collections.abc import Iterator
from pathlib import Path

from jacviz.api.objects import (
    MapLike,
    ObjectError,
    hand_activation,
    is_network_path,
    opened_map,
)
from jacviz.math.maps import Map


def _count(frames: object, fps: object) -> None:
    """An ObjectError unless ``frames`` and ``fps`` are in the command's ranges."""
    from jacviz.gui.common.animation import MAX_FPS, MAX_FRAMES
    from jacviz.gui.shell.headless_animation import MIN_FRAMES

    whole = isinstance(frames, numbers.Integral) and not isinstance(frames, bool)
    if not (whole and MIN_FRAMES <= frames <= MAX_FRAMES):  # type: ignore[operator]
        raise ObjectError(
            f"frames must be a whole number {MIN_FRAMES} to {MAX_FRAMES}, got {frames!r}"
        )
    real = isinstance(fps, numbers.Real) and not isinstance(fps, bool)
    if not (real and 1 <= fps <= MAX_FPS):  # type: ignore[operator]
        raise ObjectError(f"fps must be from 1 to {MAX_FPS:g}, got {fps!r}")


def animate(
    obj: MapLike,
    out: str | os.PathLike[str],
    *,
    kind: str = "morph",
    frames: int = 60,
    fps: float = 30,
    size: tuple[int, int] | None = None,
    activation: str | None = None,
) -> Path:
    """Save the morph from the identity to ``obj`` as ``frames`` frames in ``out``.

    Parameters
    ----------
    obj : str, os.PathLike, torch.nn.Module or callable
        Formula text, an ``nn.Module`` or callable on ``(N, 2)`` tensors, or the path of a
        network file (see :func:`jacviz.probe`).
    out : str or os.PathLike
        A ``.gif`` or ``.mp4`` file (MP4 needs ffmpeg).
    kind : str
        ``"morph"``: (1 − t)·p + t·f(p) for t from 0 to 1 on the output plane.
    frames : int
        Number of frames, 2 to 1000.
    fps : float
        Frames per second, 1 to 60.
    size : (width, height), optional
        Each frame in pixels, caption included (default that of ``jacviz animate``).
    activation : str, optional
        For a state dict file (``torch.save(model.state_dict())`` of an ``nn.Sequential`` of
        Linear layers): the activation between them, ``"tanh"``, ``"relu"``, ``"gelu"``,
        ``"softplus"`` or ``"sigmoid"`` (``jacviz FILE --activation``). Other maps ignore it.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        With one line saying why the map, an option or the file cannot be used; no file is
        left behind then.

    """
    from jacviz.gui.common.animation import AnimationError, check_animation_target
    from jacviz.gui.shell.headless import RenderError, RenderRequest
    from jacviz.gui.shell.headless_animation import MAX_ANIMATION_PIXELS, save_morph
    from jacviz.state.view import ViewState

    if kind != "morph":
        raise ObjectError(
            f"kind must be 'morph' (jacviz animate --training trains a network), got {kind!r}"
        )
    _count(frames, fps)
    try:
        check_animation_target(out)
        request = RenderRequest(
            state=ViewState(), view="warp", size=None if size is None else tuple(size)
        )  # type: ignore[arg-type]
    except (RenderError, AnimationError, TypeError, ValueError) as error:
        raise ObjectError(str(error)) from None
    width, height = request.figure_size
    if frames * width * height > MAX_ANIMATION_PIXELS:
        raise ObjectError(
            f"{frames} frames of {width}×{height} pixels are more than "
            f"{MAX_ANIMATION_PIXELS // 1_000_000} million pixels: choose fewer frames or a "
            "smaller size"
        )
    try:
        if is_network_path(obj):
            network = str(Path(os.fspath(obj)).resolve())  # type: ignore[arg-type]
            hand_activation(network, activation)
            return save_morph(dataclasses.replace(request, network=network), out, frames, fps)[0]
        if isinstance(obj, str):
            with opened_map(obj):  # a bad formula is refused here, in one line
                request = dataclasses.replace(request, state=ViewState(formula=obj))
            return save_morph(request, out, frames, fps)[0]
        with opened_map(obj, input_dim=2) as map_:
            return _held_morph(request, map_, out, frames, fps)
    except (RenderError, AnimationError) as error:
        raise ObjectError(str(error)) from None


def _held_morph(request, map_: Map, out, count: int, fps: float) -> Path:
    """:func:`save_morph` for a map held in memory, handed to the window when it exists."""
    from jacviz.gui.common.animation import save_animation
    from jacviz.gui.common.export import figure_image
    from jacviz.gui.shell.headless import application, check_drawn, rendered_window
    from jacviz.gui.shell.headless_animation import frame_label
    from jacviz.gui.shell.render_layout import place_legend

    size = request.figure_size
    name = map_.name

    def figure(window, t: float, index: int):
        if window.controller.source is not map_:
            try:
                window.controller.set_map(map_)
            except ValueError as error:
                raise ObjectError(str(error)) from None
        caption = (
            f"<b>t = {t:.2f}</b>: (1 − t)·p + t·f(p), f = {html.escape(name)} · "
            f"{frame_label(index, count)}"
        )
        framed = place_legend(window.figure("output"), size)
        return dataclasses.replace(framed, above=caption, title=f"jacviz morph of {name}")

    with rendered_window(request, lambda w: figure(w, 1.0, count - 1)) as (window, errors):
        app = application()

        def images() -> Iterator[object]:
            for index in range(count):
                t = index / (count - 1)
                window.controller.set_morph(t)
                app.processEvents()
                check_drawn(errors, "morph")
                yield figure_image(figure(window, t, index))

        path = save_animation(images(), out, fps)  # type: ignore[arg-type]
    return Path(path) if path is not None else Path(out)
