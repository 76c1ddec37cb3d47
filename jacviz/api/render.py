"""``jacviz.render``: the app's picture of a map, as an RGBA array and, if asked, a file.

The same headless window ``jacviz render`` draws (:mod:`jacviz.gui.shell.headless`), on
Qt's offscreen platform unless a QApplication is already running (a script's, or
IPython's with ``%gui qt``), in which case that one is used and nothing appears on screen.
A formula or a network file is opened as the command opens it; a module or callable held in
memory is handed to the window as a map, never written to disk.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jacviz.api.field import domain_of
from jacviz.api.objects import (
    MapLike,
    ObjectError,
    hand_activation,
    is_network_path,
    opened_map,
)


def render(
    obj: MapLike,
    out: str | os.PathLike[str] | None = None,
    *,
    view: str = "composite",
    heatmap: str | None = None,
    probe: Sequence[float] | None = None,
    domain: Sequence[float] | None = None,
    size: tuple[int, int] | None = None,
    scale: float = 1,
    activation: str | None = None,
) -> np.ndarray:
    """Draw a view of the app on ``obj`` with no display; return it as an RGBA image.

    Parameters
    ----------
    obj : str, os.PathLike, torch.nn.Module or callable
        Formula text, an ``nn.Module`` or callable on ``(N, 2)`` tensors, or the path of a
        network file (see :func:`jacviz.probe`).
    out : str or os.PathLike, optional
        Also save the picture there: .png (at ``scale``), .svg or .pdf.
    view : str
        ``"composite"``, ``"input"``, ``"warp"``, ``"regions"`` and the others of
        ``jacviz render --view``.
    heatmap : str, optional
        A heatmap key of ``jacviz render --heatmap`` (``"det"``, ``"sigma1"``, ...), or
        ``"none"``; by default the one the app would choose.
    probe : (x, y), optional
        The probe point.
    domain : (xmin, xmax, ymin, ymax), optional
        The input plane's rectangle.
    size : (width, height), optional
        The figure in pixels at scale 1 (default that of ``jacviz render``).
    scale : float
        Pixels per figure pixel, for the array and a PNG.
    activation : str, optional
        For a state dict file (``torch.save(model.state_dict())`` of an ``nn.Sequential`` of
        Linear layers): the activation between them, ``"tanh"``, ``"relu"``, ``"gelu"``,
        ``"softplus"`` or ``"sigmoid"`` (``jacviz FILE --activation``). Other maps ignore it.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(height·scale, width·scale, 4)``: RGBA, row 0 at the top.

    Raises
    ------
    ValueError
        With one line saying why the map, an option or the file cannot be used.

    """
    from jacviz.gui.common.export import ExportError, check_target, export_figure, figure_image
    from jacviz.gui.shell.headless import KEEP, RenderError, RenderRequest, rendered_window
    from jacviz.gui.shell.headless import view_figure as window_figure
    from jacviz.state.view import ViewState

    try:
        if out is not None:
            check_target(out)  # before any window is built
        request = RenderRequest(
            state=ViewState(),
            view=view,
            heatmap=KEEP if heatmap is None else None if heatmap == "none" else heatmap,
            domain=None if domain is None else domain_of(domain),
            probe=None if probe is None else (float(probe[0]), float(probe[1])),
            size=None if size is None else tuple(size),  # type: ignore[arg-type]
            scale=scale,
        )
    except (RenderError, ExportError, TypeError, IndexError, ValueError) as error:
        raise ObjectError(str(error)) from None
    in_memory = None
    if is_network_path(obj):
        network = str(Path(os.fspath(obj)).resolve())  # type: ignore[arg-type]
        hand_activation(network, activation)
        request = dataclasses.replace(request, network=network)
    elif isinstance(obj, str):
        with opened_map(obj):  # a bad formula is refused here, in one line
            request = dataclasses.replace(request, state=ViewState(formula=obj))
    else:
        in_memory = opened_map(obj, input_dim=2)
    try:
        if in_memory is None:
            return _draw(request, out, rendered_window, window_figure, figure_image, export_figure)
        with in_memory as map_:
            return _draw(
                request, out, rendered_window, window_figure, figure_image, export_figure, map_
            )
    except (RenderError, ExportError) as error:
        raise ObjectError(str(error)) from None


def _draw(request, out, rendered_window, window_figure, figure_image, export_figure, map_=None):
    """Build the window, hand it ``map_`` if given, and take its picture (and file)."""
    given: list[bool] = []

    def figure_of(window):
        # The first moment the window exists: a map held in memory is shown from here on,
        # before the window is sized and its heatmap awaited.
        if map_ is not None and not given:
            given.append(True)
            try:
                window.controller.set_map(map_)
            except ValueError as error:
                raise ObjectError(str(error)) from None
        return window_figure(window, request)

    with rendered_window(request, figure_of) as (window, _errors):
        if map_ is not None:  # the title names the state's formula, not a map held in memory
            window.setWindowTitle(f"jacviz — {map_.name}")
        figure = window_figure(window, request)
        image = figure_image(figure, request.scale)
        if out is not None:
            export_figure(figure, out, request.scale)
    # The image's own class names the format: Qt is imported by jacviz.gui only.
    rgba = image.convertToFormat(type(image).Format.Format_RGBA8888)
    width, height = rgba.width(), rgba.height()
    pixels = np.frombuffer(rgba.constBits().asstring(rgba.sizeInBytes()), dtype=np.uint8)
    return (
        pixels.reshape(height, rgba.bytesPerLine())[:, : width * 4].reshape(height, width, 4).copy()
    )
