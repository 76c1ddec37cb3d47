"""Render the lab's plane through three inputs with no display: ``jacviz render --view plane``.

The lab's own :class:`~jacviz.gui.lab.plane_page.PlanePage` is built offscreen, given the data
and the anchors, trains λ = 0 and λ > 0 as its Train button does (on its worker), and once the
fields over the plane and the readings at the probe are in, its figure (the two plots, the
shared colour bar and the probe's panel; not the settings column) is laid out at exactly the
size asked and exported: the picture is the page's at that size. Narrower than
:data:`PANEL_MIN_WIDTH`, or too low for the probe's panel, the panel is left out and the plots
shrink to fit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PyQt6.QtCore import QEvent, QEventLoop, Qt
from PyQt6.QtWidgets import QApplication, QWidget

from jacviz.gui.common.export import export_figure, figure_size
from jacviz.gui.lab.plane_page import PlanePage, load_data
from jacviz.gui.shell.headless import (
    PLANE_HEATMAPS,
    RenderError,
    RenderRequest,
    application,
    check_drawn,
    drawing_errors,
)

__all__ = ["PANEL_MIN_WIDTH", "PLANE_TIMEOUT", "render_plane"]

PLANE_TIMEOUT: float = 600.0
"""Seconds the training and the pictures may take before the render gives up."""

PANEL_MIN_WIDTH: int = 900
"""Figures at least this wide keep the probe's panel beside the plots (if it fits their
height, with its readings, without a scroll bar)."""

PANEL_ROOM: int = 40
"""Pixels the panel's frame and the caption above the figure take beyond its own size."""


def _wait(app: QApplication, page: PlanePage, what: str) -> None:
    deadline = time.monotonic() + PLANE_TIMEOUT
    while page.busy():
        if time.monotonic() > deadline:
            raise RenderError(f"{what} took longer than {PLANE_TIMEOUT:g} s")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)
    for _ in range(3):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)


def _let_shrink(root: QWidget) -> None:
    for widget in [root, *root.findChildren(QWidget)]:
        widget.setMinimumSize(0, 0)


def render_plane(request: RenderRequest, out: str | os.PathLike) -> tuple[Path, int, int]:
    """Render the plane view of ``request`` into ``out``; the path and the size in pixels.

    Raises
    ------
    RenderError
        Data that cannot be read, anchors that span no plane, training settings refused or
        a run that fails, a probe off the plane's bounds, a picture that never finishes.
    ExportError
        If the file cannot be written; no file is left behind then.

    """
    app = application()
    data = load_data(request.dataset)
    if isinstance(data, str):
        raise RenderError(data)
    problems: list[str] = []
    with drawing_errors() as errors:
        page = PlanePage()
        page.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        page.sigStatus.connect(problems.append)
        try:
            page.set_data(data)
            if request.anchors is not None and not page.set_anchors(request.anchors):
                raise RenderError(problems[-1] if problems else "the anchors span no plane")
            heatmap = PLANE_HEATMAPS[request.heatmap]
            page.controls.heatmap.setCurrentIndex(page.controls.heatmap.findData(heatmap))
            if not page.train(request.training):
                raise RenderError(problems[-1] if problems else "the training was refused")
            page.settings_column.hide()
            page.show()
            _wait(app, page, "the training")
            width, height = request.figure_size
            panel = page.probe_panel.sizeHint()
            _let_shrink(page.display)
            if width < PANEL_MIN_WIDTH or height < panel.height() + PANEL_ROOM:
                page.probe_scroll.hide()  # a panel cut short would need a scroll bar
            else:
                page.probe_scroll.setFixedWidth(panel.width() + PANEL_ROOM)
            if problems:
                raise RenderError(problems[-1])
            if request.probe is not None:
                page.set_probe(request.probe)
            _fit(app, page, (width, height))
            _wait(app, page, "the pictures")
            check_drawn(errors, "plane")
            if problems:
                raise RenderError(problems[-1])
            figure = page.figure()
            size = figure_size(figure)
            path = export_figure(figure, out, request.scale, request.transparent)
        finally:
            page.shutdown()
            page.close()
            page.deleteLater()
            QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return path, *size


def _fit(app: QApplication, page: PlanePage, size: tuple[int, int]) -> None:
    """Resize the page until its figure is ``size`` pixels (captions included)."""
    page.resize(*size)
    for _ in range(8):
        for _ in range(3):
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        width, height = figure_size(page.figure())
        if (width, height) == size:
            return
        page.resize(page.width() + size[0] - width, page.height() + size[1] - height)
    raise RenderError(
        f"the plane view cannot be drawn at {size[0]}×{size[1]} pixels (it came out "
        f"{width}×{height})"
    )
