"""The main window's figures: which views File → Export figure… offers, and the morph movie.

:class:`WindowFigures` turns a view of the window (a key of :data:`FIGURE_VIEWS`) into the
:class:`~jacviz.gui.common.export.Figure` that export and ``jacviz render`` draw, bringing a
view on a hidden tab on screen first, and renders the frames of the morph animation from the
identity to the map (File → Export morph animation…).
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PyQt6.QtCore import QEvent
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QApplication, QMainWindow, QTabWidget

from jacviz.gui.common.animation import export_animation
from jacviz.gui.common.export import ExportError, Figure, figure_image
from jacviz.gui.mapview.controller import Controller
from jacviz.gui.mapview.detail import view_request
from jacviz.gui.mapview.layer_view import LEGEND as LAYER_LEGEND
from jacviz.gui.mapview.layer_view import LayerView
from jacviz.gui.mapview.planes import InputPlane, OutputPlane, legend_html
from jacviz.nets.views import SliceMap

MORPH_FRAMES = 48
"""Frames of the morph animation from t = 0 to t = 1 (2 s at 24 frames per second)..."""
MORPH_HOLD = 12
"""...then this many at t = 1, so the map stays on screen before the animation loops."""
MORPH_FPS = 24
FIGURE_VIEWS = {
    "input": "Input plane",
    "output": "Output plane",
    "layers": "Inside the network",
    "window": "Whole window",
}
"""The views File → Export figure… offers (:meth:`WindowFigures.figure`): key → name."""
LAYERS_TAB = 1
"""The index of the "Inside the network" tab among the right-hand tabs."""


class WindowFigures:
    """The exportable views of a main window, and its morph animation.

    Parameters
    ----------
    window : QMainWindow
        The window: its title captions the figures; its central widget is "window".
    controller : Controller
        The map view, whose morph the animation moves.
    input_plane, output_plane, layer_view : widgets
        The views drawn.
    right_tabs : QTabWidget
        The tabs of the output plane and the layer view.
    reframe : callable
        Frames both planes again (after the animation, as the slider's t is restored).

    """

    def __init__(
        self,
        window: QMainWindow,
        controller: Controller,
        input_plane: InputPlane,
        output_plane: OutputPlane,
        layer_view: LayerView,
        right_tabs: QTabWidget,
        reframe: Callable[[], None],
    ):
        self._window = window
        self._controller = controller
        self._input_plane = input_plane
        self._output_plane = output_plane
        self._layer_view = layer_view
        self._right_tabs = right_tabs
        self._reframe = reframe

    def available(self, view: str) -> bool:
        """Whether the view ``view`` (a key of :data:`FIGURE_VIEWS`) can be exported now."""
        return view != "layers" or self._right_tabs.isTabEnabled(LAYERS_TAB)

    def figure(self, view: str) -> Figure:
        """The figure of ``view``, a key of :data:`FIGURE_VIEWS`, for export.

        A view on a hidden tab is brought on screen first, so the figure shows what the
        window shows. Raises ExportError when the view has nothing to show.
        """
        if view not in FIGURE_VIEWS:
            raise ExportError(f"no view {view!r}; choose from {', '.join(FIGURE_VIEWS)}")
        if not self.available(view):
            raise ExportError(
                "'Inside the network' needs a network of Linear layers and activations (MLP)"
            )
        title = f"{self._window.windowTitle()}: {FIGURE_VIEWS[view].lower()}"
        if view in ("output", "layers"):
            tab = self._layer_view if view == "layers" else self._output_plane.parentWidget()
            if self._right_tabs.currentWidget() is not tab:
                self._right_tabs.setCurrentWidget(tab)
                # The tab was hidden: let it and its plot lay themselves out before drawing.
                QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        if view == "input":
            return Figure(self._input_plane, title=title, sharpen=self.sharper_heatmap)
        if view == "output":
            return Figure(self._output_plane, below=legend_html(), title=title)
        if view == "layers":
            above = html.escape(self._layer_view.title.text())
            return Figure(self._layer_view.plot, above=above, below=LAYER_LEGEND, title=title)
        return Figure(self._window.centralWidget(), title=title, sharpen=self.sharper_heatmap)

    @contextmanager
    def sharper_heatmap(self, scale: float) -> Iterator[None]:
        """Inside this block the input plane's heatmap has the exported figure's pixels.

        On screen, the heatmap of the whole domain is 256² (finer after a zoom: the part in
        view at screen resolution); a figure exported at ``scale`` gets the part in view
        computed at its own pixels (within the same limits), and the plane shows what it
        showed before once the figure is drawn.
        """
        plane = self._input_plane
        domain = self._controller.state.domain
        ratio = plane.devicePixelRatioF() * scale
        request = view_request(plane.getViewBox(), domain, ratio, whole=True)
        image = None if request is None else self._controller.export_heatmap(request)
        if image is None:
            yield
            return
        plane.show_heatmap(image)
        try:
            yield
        finally:
            for shown in self._controller.heatmap_images():
                plane.show_heatmap(shown)

    def morph_frames(self, count: int = MORPH_FRAMES, hold: int = MORPH_HOLD) -> Iterator[QImage]:
        """Frames of the output plane as the morph t goes from 0 to 1, then ``hold`` more at 1.

        Each frame is the exported output-plane figure captioned with what it shows: t and
        the map (not the window's title, whose unsaved-changes ``*`` comes and goes as t
        moves); the frame of the plot covers the whole motion. The slider's t is restored
        afterwards.
        """
        controller = self._controller
        previous = controller.state.morph
        shown = self.map_caption()
        try:
            for index in range(count + hold):
                t = min(index / (count - 1), 1.0)
                controller.set_morph(t)
                text = f"t = {t:.2f}: (1 − t)·p + t·f(p), {shown}"
                caption = f"<b>t = {t:.2f}</b>: (1 − t)·p + t·f(p), {html.escape(shown)}"
                figure = dataclasses.replace(self.figure("output"), above=caption, title=text)
                yield figure_image(figure)
        finally:
            controller.set_morph(previous)
            self._reframe()

    def map_caption(self) -> str:
        """What the output plane shows, in words: "f(x, y) = (…)" or the network's file."""
        state = self._controller.state
        if state.network is None:
            return f"f(x, y) = ({state.formula})"
        source = self._controller.source
        plane = f", on the {source.name}" if isinstance(source, SliceMap) else ""
        return f"f = the network {Path(state.network).name}{plane}"

    def export_morph_animation(self) -> Path | None:
        """Ask for a file and save the morph from the identity to the map as an animation."""
        frames = self.morph_frames()
        count = MORPH_FRAMES + MORPH_HOLD
        return export_animation(self._window, frames, count, "morph.gif", MORPH_FPS)
