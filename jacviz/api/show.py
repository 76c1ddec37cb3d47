"""``jacviz.show``: open the app on a map from a script or a notebook.

From a plain script the call blocks until the window is closed, as ``plt.show()`` does.
Inside IPython with a Qt event loop (``%gui qt``), or anywhere a QApplication is already
running its loop, it returns at once and the window lives on beside the prompt. A running
QApplication is always reused: Qt allows only one per process.

A module or callable is shown where it is, never copied: its code runs in worker threads,
never on the GUI thread, each chunk of points within a time limit (:mod:`.guarded`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jacviz.api.field import domain_of
from jacviz.api.guarded import GuardedMap
from jacviz.api.objects import (
    MapLike,
    ObjectError,
    hand_activation,
    in_memory_name,
    is_network_path,
    module_map,
    opened_map,
)
from jacviz.math.maps import require_planar
from jacviz.nets.errors import NetworkError
from jacviz.nets.hosted import CALL_TIME_LIMIT

if TYPE_CHECKING:
    from jacviz.gui.shell.main_window import MainWindow


def show(
    obj: MapLike,
    *,
    domain: Sequence[float] | None = None,
    probe: Sequence[float] | None = None,
    block: bool | None = None,
    time_limit: float = CALL_TIME_LIMIT,
    activation: str | None = None,
) -> MainWindow:
    """Open jacviz's window on ``obj``.

    Parameters
    ----------
    obj : str, os.PathLike, torch.nn.Module or callable
        Formula text, an ``nn.Module`` or callable on ``(N, 2)`` tensors giving ``(N, 2)`` or
        more outputs (shown in place, never copied to disk; its forward runs in worker
        threads, never on the GUI thread), or the path of a network file (opened as
        ``jacviz FILE`` opens it, in the background; a classifier's file may bring its own
        domain).
    domain : (xmin, xmax, ymin, ymax), optional
        The input plane's rectangle.
    probe : (x, y), optional
        The probe point.
    block : bool, optional
        Wait until the window is closed. By default: yes from a plain script, no inside
        IPython with ``%gui qt`` or while a Qt event loop is already running.
    time_limit : float
        Seconds a module or callable may take on one chunk of 2048 points (values and
        Jacobians). Past it, the app stops using it, goes back to the last formula and says
        so in one line. A Python thread cannot be killed: the late call goes on in the
        background until your code returns, and the module stays in eval mode with frozen
        parameters until then. (A network file's code runs in a child process instead,
        which is killed at its limit.)
    activation : str, optional
        For a state dict file (``torch.save(model.state_dict())`` of an ``nn.Sequential`` of
        Linear layers): the activation between them, ``"tanh"``, ``"relu"``, ``"gelu"``,
        ``"softplus"`` or ``"sigmoid"`` (``jacviz FILE --activation``). Other maps ignore it.

    Returns
    -------
    MainWindow
        The window (closed already, when the call blocked).

    Raises
    ------
    ValueError
        With one line saying why ``obj``, ``domain`` or ``probe`` cannot be used (a module
        that fails, or takes longer than ``time_limit``, on its first points included).

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
    held = None
    if isinstance(obj, str) and not is_network_path(obj):
        with opened_map(obj):  # a bad formula is refused here, before any window
            state = ViewState(**{**state.__dict__, "formula": obj})
    elif not is_network_path(obj):
        name = in_memory_name(obj)
        try:
            held = GuardedMap(lambda: module_map(obj, 2), name, time_limit)
            require_planar(held)
        except (NetworkError, ValueError) as error:
            if held is not None:
                held.close()
            raise ObjectError(str(error)) from None
    network = str(Path(os.fspath(obj)).resolve()) if is_network_path(obj) else None  # type: ignore[arg-type]
    if network is not None:
        hand_activation(network, activation)
    try:
        return show_window(state, held=held, network=network, block=block)
    except ValueError as error:
        raise ObjectError(str(error)) from None
