"""Render a view of the app to a file with no display: what ``jacviz render`` runs.

The same :class:`~jacviz.gui.shell.main_window.MainWindow` the app shows is built on Qt's
offscreen platform (unless another one is asked for), with throwaway settings so the user's
own are never read or changed, and never appears on screen. It is given the map, sized so
that the chosen view has the requested size, left to finish its background heatmap, and
exported with :func:`~jacviz.gui.common.export.export_figure`: the picture is the one the app
would show at that size.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PyQt6.QtCore import (
    QEvent,
    QEventLoop,
    QMessageLogContext,
    QSettings,
    Qt,
    QtMsgType,
    qInstallMessageHandler,
)
from PyQt6.QtWidgets import QApplication

from jacviz.gui.common.export import (
    MAX_PIXELS,
    MAX_SCALE,
    MIN_SCALE,
    Figure,
    export_figure,
    figure_size,
)
from jacviz.gui.shell.main_window import MainWindow
from jacviz.gui.shell.render_layout import isolate, place_legend, reflow_window
from jacviz.math.grid import MAX_BOUND, Domain
from jacviz.state.view import CLASSES, ViewState
from jacviz.support.text_input import one_line, quote

KEEP = "keep"
"""``heatmap=KEEP``: leave the heatmap the window chose (det, or decision regions)."""

if TYPE_CHECKING:
    from jacviz.nets.training import TrainConfig

RENDER_VIEWS = {
    "warp": "output",
    "input": "input",
    "regions": "input",
    "layers": "layers",
    "composite": "window",
    "plane": "plane",
}
"""``jacviz render --view`` choices → the main window's figure views (``FIGURE_VIEWS``); ``plane``
is the lab's plane through three inputs (:mod:`.headless_plane`), drawn from data, not a map."""
PLANE_HEATMAPS = {
    KEEP: "classes",
    "classes": "classes",
    "frob": "frobenius",
    "margin": "margin",
}
"""``--heatmap`` choices of the plane view → what its plots colour (KEEP: decision regions)."""
DEFAULT_SIZES = {"composite": (1500, 820), "plane": (1500, 760)}
"""Figure sizes in pixels when none is asked for; the other views get :data:`DEFAULT_SIZE`."""
DEFAULT_SIZE = (720, 720)
MIN_SIZE = (320, 240)
"""Smallest figure, width and height in pixels: every view reflows down to it."""
MAX_SIZE = 10_000
"""Largest width or height of a figure, in pixels."""
HEATMAP_TIMEOUT = 120.0
"""Seconds to wait for the background heatmap before giving up."""


class RenderError(Exception):
    """A view that cannot be rendered as asked; the message says why in one line."""


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _size_text(size: object) -> str:
    """``size`` as ``W×H`` when it is two whole numbers, else quoted as given."""
    if isinstance(size, tuple) and len(size) == 2 and all(isinstance(n, int) for n in size):
        return f"{size[0]}×{size[1]}"
    return quote(size)


def check_size(size: object) -> None:
    """A RenderError unless ``size`` is a width and height from :data:`MIN_SIZE` to MAX_SIZE."""
    if not (
        isinstance(size, tuple)
        and len(size) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in size)
        and all(low <= n <= MAX_SIZE for low, n in zip(MIN_SIZE, size, strict=True))
    ):
        raise RenderError(
            f"--size: width must be a whole number {MIN_SIZE[0]} to {MAX_SIZE} and height "
            f"{MIN_SIZE[1]} to {MAX_SIZE}, got {_size_text(size)}"
        )


@dataclass(frozen=True)
class RenderRequest:
    """What to render.

    Attributes
    ----------
    state : ViewState
        The window's state at start: the map (formula, or a network file as a session
        restores it), domain, probe, heatmap.
    network : str or None
        A network file to open as File → Open network does (taking the file's domain and,
        for a classifier, showing its decision regions), after the window starts.
    view : str
        A key of :data:`RENDER_VIEWS`.
    heatmap : str or None
        A heatmap key, None for no heatmap, or :data:`KEEP`.
    domain : Domain or None
        Shown instead of the state's (or the network file's) domain.
    probe : tuple of float or None
        The probe point, instead of the state's.
    size : tuple of int or None
        Width and height of the figure in pixels (None: :data:`DEFAULT_SIZES`).
    scale : float
        PNG pixels per figure pixel.
    transparent : bool
        PNG without the plots' background.
    layer : int or None
        For the layers view: which layer, counted from 1 as the app lists them (None: 1).
    dataset : str or None
        For the plane view (and only for it): ``"digits"`` or the path of an ``.npz`` file.
    anchors : tuple of int or None
        For the plane view: indices of the three held-out points the plane passes through
        (None: the first of three different classes, as the lab picks them).
    training : TrainConfig or None
        For the plane view: the regularized run (λ > 0); the other is the same with λ = 0.
        None: the lab's defaults (the README's digits settings).

    """

    state: ViewState
    view: str = "composite"
    network: str | None = None
    heatmap: str | None = KEEP
    domain: Domain | None = None
    probe: tuple[float, float] | None = None
    size: tuple[int, int] | None = None
    scale: float = 1.0
    transparent: bool = False
    layer: int | None = None
    dataset: str | None = None
    anchors: tuple[int, int, int] | None = None
    training: TrainConfig | None = None

    def __post_init__(self) -> None:
        """Check what can be checked before a window is built; a RenderError says what is wrong.

        Everything that does not depend on the map is checked here, so that ``jacviz render``
        refuses an absurd option at once, not after loading a network and drawing a window.
        """
        if self.view not in RENDER_VIEWS:
            raise RenderError(
                f"unknown view {quote(self.view)}; choose from {', '.join(RENDER_VIEWS)}"
            )
        if self.size is not None:
            check_size(self.size)
        if not (_is_number(self.scale) and MIN_SCALE <= self.scale <= MAX_SCALE):
            raise RenderError(
                f"--scale must be from {MIN_SCALE:g} to {MAX_SCALE:g}, got {quote(self.scale)}"
            )
        width, height = self.figure_size
        pixels = round(width * self.scale) * round(height * self.scale)
        if pixels > MAX_PIXELS:
            raise RenderError(
                f"a {width}×{height} figure at scale {self.scale:g} would have "
                f"{pixels / 1e6:.0f} million pixels, more than {MAX_PIXELS // 1_000_000} "
                "million: choose a smaller --size or --scale"
            )
        if self.layer is not None:
            if isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < 1:
                raise RenderError(
                    f"--layer counts layers from 1 as the app lists them, got {quote(self.layer)}"
                )
            if self.view != "layers":
                raise RenderError("--layer picks the layer of --view layers")
        if self.probe is not None and not (
            len(self.probe) == 2
            and all(_is_number(c) and math.isfinite(c) for c in self.probe)
            and all(abs(c) <= MAX_BOUND for c in self.probe)
        ):
            raise RenderError(
                f"--probe coordinates must be finite numbers at most {MAX_BOUND:g} in size, "
                f"got {quote(self.probe)}"
            )
        if self.domain is not None and not isinstance(self.domain, Domain):
            raise RenderError(f"the domain must be a Domain, got {quote(self.domain)}")
        self._check_plane()

    def _check_plane(self) -> None:
        """The plane view's options: data, anchors, training, and what it cannot take."""
        plane = self.view == "plane"
        if plane != (self.dataset is not None):
            raise RenderError(
                "--view plane draws the plane through three inputs of --dataset digits or "
                "--npz FILE, and those draw nothing else"
            )
        if not plane:
            if self.anchors is not None or self.training is not None:
                raise RenderError("--anchors and the training options are for --view plane")
            return
        if self.heatmap not in PLANE_HEATMAPS:
            shown = "none" if self.heatmap is None else quote(self.heatmap)
            raise RenderError(f"--view plane colours by classes, frob or margin, not {shown}")
        if self.layer is not None or self.domain is not None:
            raise RenderError("--view plane takes neither --layer nor --domain")
        if self.anchors is not None and not (
            isinstance(self.anchors, tuple)
            and len(self.anchors) == 3
            and all(isinstance(a, int) and not isinstance(a, bool) and a >= 0 for a in self.anchors)
        ):
            raise RenderError(
                f"--anchors takes three point indices (whole numbers from 0), got "
                f"{quote(self.anchors)}"
            )
        if self.training is not None and not self.training.regularized:
            raise RenderError("--jr-lambda must be above 0: the plane compares it with λ = 0")

    @property
    def figure_size(self) -> tuple[int, int]:
        """Width and height of the figure in pixels at scale 1, default or asked for."""
        return self.size or DEFAULT_SIZES.get(self.view, DEFAULT_SIZE)


_APPLICATION: QApplication | None = None
"""The QApplication :func:`application` made, if it made one."""


def application() -> QApplication:
    """The running QApplication, or a new one on the offscreen platform.

    The offscreen platform is chosen unless ``QT_QPA_PLATFORM`` names another: rendering
    needs no display, and works the same on a desktop, over SSH and in CI.
    """
    global _APPLICATION
    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        qInstallMessageHandler(_quiet_platform_notes)
        app = QApplication(sys.argv[:1] or ["jacviz"])
        # Kept for the life of the process: once the caller's reference went, Python deleted
        # the QApplication, the next render made a new one, and after a few such rounds
        # pyqtgraph crashed the process (a segfault building a plot's menus).
        _APPLICATION = app
    return app


def _quiet_platform_notes(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Keep Qt's debug notes and warnings off stderr; only a fatal message is printed.

    ``jacviz render`` ends with one line on stderr when it fails, not with Qt's chatter
    ("This plugin does not support propagateSizeHints()" and the like: offscreen has no
    window manager); what matters in a failure is reported by jacviz itself.
    """
    if kind == QtMsgType.QtFatalMsg:  # Qt aborts next: say why, on one line
        print(f"jacviz: Qt: {one_line(message)}", file=sys.stderr)


def render_to_file(request: RenderRequest, out: str | os.PathLike) -> tuple[Path, int, int]:
    """Render ``request`` into the file ``out`` (.png, .svg or .pdf).

    Returns the path written and the figure's width and height in pixels (at scale 1).

    Raises
    ------
    RenderError
        If the map or view cannot be shown as asked: a network that does not open, a heatmap
        the map has not, decision regions of a map that is no classifier, the layers of a
        map that is no network, a size the view cannot take, a heatmap that never finishes.
    ExportError
        If the file cannot be written; no file is left behind then.

    """
    with rendered_window(request) as (window, _errors):
        figure = view_figure(window, request)
        width, height = figure_size(figure)
        path = export_figure(figure, out, request.scale, request.transparent)
    return path, width, height


@contextmanager
def rendered_window(
    request: RenderRequest, figure_of: Callable[[MainWindow], Figure] | None = None
) -> Iterator[tuple[MainWindow, list[str]]]:
    """A throwaway window showing ``request``, its figure laid out at the size asked.

    Yields the window, once its heatmap is drawn, with the list of errors raised since while
    drawing inside Qt's event handling (see :func:`drawing_errors`): a caller that draws
    more (an animation's frames) checks it with :func:`check_drawn`. ``figure_of`` gives the
    figure that must have the size asked (default: the window's figure of the view); the
    window is closed afterwards.
    """
    app = application()
    key = RENDER_VIEWS[request.view]
    with (
        drawing_errors() as errors,
        tempfile.TemporaryDirectory(prefix="jacviz-render-") as folder,
    ):
        settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(request.state, settings)
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        messages: list[str] = []
        window.controller.sigStatus.connect(messages.append)
        try:
            _apply(window, request, messages)
            window.show()
            if figure_of is None:
                figure = lambda: view_figure(window, request)  # noqa: E731
            else:
                figure = lambda: figure_of(window)  # noqa: E731
            _fit(app, window, key, figure, request)
            _wait_for_heatmap(app, window)
            check_drawn(errors, request.view)
            yield window, errors
        finally:
            window.close()
            window.deleteLater()
            QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def view_figure(window: MainWindow, request: RenderRequest) -> Figure:
    """The window's figure of the view ``request`` asks for, its legend placed for its size."""
    figure = window.figure(RENDER_VIEWS[request.view])
    return figure if request.view == "composite" else place_legend(figure, request.figure_size)


def check_drawn(errors: list[str], view: str) -> None:
    """A RenderError if drawing raised inside Qt's event handling: the picture is not right."""
    if errors:
        raise RenderError(f"the {view} view could not be drawn: {errors[0]}")


@contextmanager
def drawing_errors() -> Iterator[list[str]]:
    """Collect exceptions raised in Qt's event handling (slots, paint events) as one-line texts.

    PyQt hands them to ``sys.excepthook``, which prints a traceback and carries on: a render
    would then print tracebacks and still save a broken picture. While rendering, they are
    collected instead, so the render can fail with one line.
    """
    errors: list[str] = []
    previous = sys.excepthook

    def collect(kind: type[BaseException], error: BaseException, _tb: TracebackType | None):
        errors.append(one_line(f"{kind.__name__}: {error}", 200))

    sys.excepthook = collect
    try:
        yield errors
    finally:
        sys.excepthook = previous


def _apply(window: MainWindow, request: RenderRequest, messages: list[str]) -> None:
    """Give the window the map, domain, probe and heatmap asked for."""
    controller = window.controller
    controller.finish_loading()  # a session's network is opened in the background
    if request.state.network is not None and controller.state.network is None:
        why = next((m for m in reversed(messages) if m.startswith("Not shown: ")), "")
        fallback = f"the network {request.state.network} cannot be shown"
        raise RenderError(why.removeprefix("Not shown: ") or fallback)
    if request.network is not None:
        problem = controller.open_network(request.network)
        if problem is not None:
            raise RenderError(problem)
    if request.domain is not None:
        controller.set_domain(request.domain)
    if request.probe is not None:
        controller.set_probe(*request.probe)
    heatmap = request.heatmap
    if request.view == "regions":
        if not controller.is_classifier:
            raise RenderError(
                "--view regions shows a classifier's decision regions; this map is no "
                "classifier (use --view input for its heatmap)"
            )
        heatmap = CLASSES
    if heatmap != KEEP:
        messages.clear()
        controller.set_heatmap(heatmap)
        if controller.state.heatmap != heatmap:
            reason = messages[-1] if messages else f"the heatmap {heatmap!r} is not available"
            raise RenderError(f"--heatmap {heatmap or 'none'}: {reason}")
    if request.view == "layers" and not window.figure_available("layers"):
        raise RenderError(
            "--view layers shows a network's layers: use an MLP of Linear layers and "
            "activations (--network FILE)"
        )
    if request.layer is not None:
        choices = window.layer_view.layers
        if not 1 <= request.layer <= choices.count():
            raise RenderError(
                f"--layer {request.layer}: this network has layers 1 to {choices.count()}"
            )
        choices.setCurrentIndex(request.layer - 1)


def _settle(app: QApplication) -> None:
    """Let posted events (layouts, resizes, queued results) run."""
    for _ in range(3):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)


def _fit(
    app: QApplication,
    window: MainWindow,
    key: str,
    figure: Callable[[], Figure],
    request: RenderRequest,
) -> None:
    """Size the window so that ``figure`` (of the view ``key``) has the size ``request`` asks.

    A single view gets the window to itself (the panels beside it are hidden, and what
    surrounds it in its tab too), so that the picture is that view at the size asked, not a
    strip of a window of that size; the whole window is reflowed for the size
    (:mod:`.render_layout`).
    """
    size = request.figure_size
    splitter = window.centralWidget()
    if key == "window":
        side = splitter.widget(0)
        reflow_window(splitter, side, (window.input_plane, window.right_tabs), size)
    else:
        keep = window.input_plane if key == "input" else window.right_tabs
        for index in range(splitter.count()):
            splitter.widget(index).setVisible(splitter.widget(index) is keep)
        isolate(figure().body, keep)
    window.resize(*size)
    for _ in range(6):
        _settle(app)
        width, height = figure_size(figure())
        if (width, height) == size:
            return
        window.resize(window.width() + size[0] - width, window.height() + size[1] - height)
    raise RenderError(
        f"the {request.view} view cannot be drawn at {size[0]}×{size[1]} pixels (it came out "
        f"{width}×{height})"
    )


def _wait_for_heatmap(app: QApplication, window: MainWindow) -> None:
    runner = window.controller.heatmap_runner
    deadline = time.monotonic() + HEATMAP_TIMEOUT
    while runner.busy:
        if time.monotonic() > deadline:
            raise RenderError(f"the heatmap took longer than {HEATMAP_TIMEOUT:g} s")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)
    _settle(app)
