"""``jacviz.show``: open the app on a map from a script or a notebook.

From a plain script the call blocks until the window is closed, as ``plt.show()`` does.
Inside IPython with a Qt event loop (``%gui qt``), or anywhere a QApplication is already
running its loop, it returns at once and the window lives on beside the prompt. A running
QApplication is always reused: Qt allows only one per process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jacviz.api.field import domain_of
from jacviz.api.objects import MapLike, ObjectError, is_network_path, opened_map

if TYPE_CHECKING:
    from jacviz.gui.shell.main_window import MainWindow


def show(
    obj: MapLike,
    *,
    domain: Sequence[float] | None = None,
    probe: Sequence[float] | None = None,
    block: bool | None = None,
) -> MainWindow:
    """Open jacviz's window on ``obj``.

    Parameters
    ----------
    obj : str, os.PathLike, torch.nn.Module or callable
        Formula text, an ``nn.Module`` or callable on ``(N, 2)`` tensors (shown in place,
        never copied), or the path of a network file (opened as ``jacviz FILE`` opens it,
        in the background; a classifier's file may bring its own domain).
    domain : (xmin, xmax, ymin, ymax), optional
        The input plane's rectangle.
    probe : (x, y), optional
        The probe point.
    block : bool, optional
        Wait until the window is closed. By default: yes from a plain script, no inside
        IPython with ``%gui qt`` or while a Qt event loop is already running.

    Returns
    -------
    MainWindow
        The window (closed already, when the call blocked).

    Raises
    ------
    ValueError
        With one line saying why ``obj``, ``domain`` or ``probe`` cannot be used.

    """
    from jacviz.gui.shell.app import show_window
    from jacviz.state.view import ViewState

    try:
        options = {} if domain is None else {"domain": domain_of(domain)}
        if probe is not None:
            options["probe"] = (float(probe[0]), float(probe[1]))
        state = ViewState(**options)  # type: ignore[arg-type]
    except (TypeError, IndexError, ValueError) as error:
        raise ObjectError(f"show: {error}") from None
    map_ = None
    if isinstance(obj, str) and not is_network_path(obj):
        with opened_map(obj):  # a bad formula is refused here, before any window
            state = ViewState(**{**state.__dict__, "formula": obj})
    elif not is_network_path(obj):
        with opened_map(obj, input_dim=2) as held:  # a module or callable: nothing to close
            map_ = held
    network = str(Path(os.fspath(obj)).resolve()) if is_network_path(obj) else None  # type: ignore[arg-type]
    try:
        return show_window(state, map_=map_, network=network, block=block)
    except ValueError as error:
        raise ObjectError(str(error)) from None
