"""Figures of any view: PNG, SVG and PDF files, and images on the clipboard.

A :class:`Figure` is a widget (a plot, a panel, a whole window) with optional rich-text
captions above and below it, such as a legend that the app shows in a separate label. Each
format has one function, shared by the app's dialog and the ``jacviz render`` command:
:func:`export_png`, :func:`export_svg` and :func:`export_pdf` (:func:`export_figure` picks one
by the file's extension).

Everything is drawn by Qt itself: ``QWidget.render`` paints the widget, with its pyqtgraph
scenes, onto a ``QImage`` (PNG), a ``QSvgGenerator`` (SVG) or a ``QPdfWriter`` (PDF). On the
vector devices the curves arrive as paths and the text as text; only images (a heatmap) stay
images. pyqtgraph's own ``SVGExporter`` is not used: in pyqtgraph 0.14 on Qt 6.11 it fails on
closed paths (pyqtgraph issue #3495).

The file is rendered to bytes in memory and then written atomically (a temporary file in the
same folder, then a rename), so a failed export never leaves a partial or broken file.
Every failure raises :class:`ExportError` with a one-line message for a dialog, the status
bar or the command line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pyqtgraph as pg
from PyQt6.QtCore import (
    QBuffer,
    QEvent,
    QIODevice,
    QMarginsF,
    QObject,
    QPoint,
    QRect,
    QSize,
    QSizeF,
    Qt,
)
from PyQt6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QImage,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
    QRegion,
    QTextDocument,
)
from PyQt6.QtSvg import QSvgGenerator
from PyQt6.QtWidgets import QAbstractGraphicsShapeItem, QGraphicsItem, QGraphicsView, QWidget

from jacviz.gui.common.svg_tree import bake_cosmetic_strokes, nest_svg
from jacviz.support.files import target_problem, write_atomically

FORMATS = {".png": "PNG image", ".svg": "SVG drawing", ".pdf": "PDF document"}
"""The file extensions a figure can be saved as, and what each gives."""
SCREEN_DPI = 96
"""Pixels per inch of a figure at scale 1: SVG and PDF keep the size the view has on screen."""
MAX_SCALE = 8.0
MIN_SCALE = 0.1
"""Smallest PNG scale: a 100-pixel figure still gets 10 pixels (below, Qt draws nothing)."""
MAX_PIXELS = 100_000_000
"""Largest PNG, in pixels (400 MB in memory): beyond it the scale is refused, not attempted."""
CAPTION_MARGIN = 4
"""Pixels of space around a caption."""


class ExportError(Exception):
    """A figure that cannot be made or saved; the message says why in one line."""


@dataclass(frozen=True)
class Figure:
    """What a figure shows: a widget, with rich-text captions above and below it.

    Attributes
    ----------
    body : QWidget
        The widget drawn, at its size on screen (any widget: a pyqtgraph ``PlotWidget``, a
        panel, a window's central widget). It must have been laid out (shown once).
    above, below : str
        Rich text drawn above and below ``body``, wrapped to its width: a title, or a legend
        that the window shows in a label of its own. Empty: none.
    title : str
        The document title written into SVG and PDF files.
    beside : str
        Rich text drawn to the right of ``body``, wrapped to ``beside_width`` pixels: a legend
        moved there when below it would leave the plot too little height. Empty: none.
    beside_width : int
        The width of the column of ``beside``, in pixels.
    sharpen : callable, optional
        Called with the export's scale around the painting: a context in which the view
        draws what is computed at screen resolution (a heatmap) for the exported pixels
        instead, and restores itself after. None: the view is drawn as it is.

    """

    body: QWidget
    above: str = ""
    below: str = ""
    title: str = "jacviz figure"
    beside: str = ""
    beside_width: int = 0
    sharpen: Callable[[float], AbstractContextManager[None]] | None = None


def figure_of(view: QWidget | Figure) -> Figure:
    """``view`` itself if it is a :class:`Figure`, else a figure of that widget alone."""
    return view if isinstance(view, Figure) else Figure(view)


# ----------------------------------------------------------------------------------------------
# Painting
# ----------------------------------------------------------------------------------------------


def _caption(html: str, width: int) -> QTextDocument | None:
    if not html:
        return None
    document = QTextDocument()
    document.setDocumentMargin(CAPTION_MARGIN)
    document.setHtml(html)
    document.setTextWidth(width)
    return document


def caption_height(html: str, width: int) -> int:
    """Height in pixels of the rich text ``html`` as a figure's caption ``width`` pixels wide."""
    return _Layout.text_height(_caption(html, width))


class _Layout:
    """Where the captions and the body of a figure go; its size in (logical) pixels."""

    def __init__(self, figure: Figure):
        body = figure.body
        if body.width() <= 0 or body.height() <= 0 or not body.isVisible():
            raise ExportError("the view is not on screen, so it has no size to draw at")
        self.body = body
        self.side = (
            _caption(figure.beside, figure.beside_width) if figure.beside_width > 0 else None
        )
        self.width = body.width() + (figure.beside_width if self.side is not None else 0)
        self.above = _caption(figure.above, self.width)
        self.below = _caption(figure.below, self.width)
        self.body_top = self.text_height(self.above)
        middle = max(body.height(), self.text_height(self.side))
        self.height = self.body_top + middle + self.text_height(self.below)

    @staticmethod
    def text_height(document: QTextDocument | None) -> int:
        """Height in pixels of a caption (0 for none)."""
        return 0 if document is None else math.ceil(document.size().height())

    def paint(self, painter: QPainter, transparent: bool = False) -> None:
        """Draw the figure with its top-left corner at the painter's origin."""
        if not transparent:
            painter.fillRect(0, 0, self.width, self.height, QColor("white"))
        if self.above is not None:
            self.above.drawContents(painter)
        flags = QWidget.RenderFlag.DrawChildren
        if not transparent:
            flags |= QWidget.RenderFlag.DrawWindowBackground
        # QWidget.render, not the overload a QGraphicsView has under the same name: that one
        # draws only the part of the scene that fits the unscaled viewport on a scaled image.
        QWidget.render(self.body, painter, QPoint(0, self.body_top), QRegion(), flags)
        if self.side is not None:
            painter.save()
            painter.translate(self.body.width(), self.body_top)
            self.side.drawContents(painter)
            painter.restore()
        if self.below is not None:
            painter.save()
            painter.translate(0, self.height - self.text_height(self.below))
            self.below.drawContents(painter)
            painter.restore()


def _graphics_views(widget: QWidget) -> list[QGraphicsView]:
    """The graphics views (pyqtgraph plots) that drawing ``widget`` draws: itself, children."""
    views = [view for view in widget.findChildren(QGraphicsView) if view.isVisibleTo(widget)]
    return [widget, *views] if isinstance(widget, QGraphicsView) else views


class _PaintBlocker(QObject):
    """An event filter that drops paint events: the widgets it filters are drawn elsewhere."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Drop paint events; let everything else through."""
        return event.type() == QEvent.Type.Paint


@contextmanager
def _unpainted(views: list[QGraphicsView]) -> Iterator[None]:
    """Leave the views' contents out of ``QWidget.render`` (their area stays background)."""
    blocker = _PaintBlocker()
    for view in views:
        view.viewport().installEventFilter(blocker)
    try:
        yield
    finally:
        for view in views:
            view.viewport().removeEventFilter(blocker)


_NO_CACHE = QGraphicsItem.CacheMode.NoCache


@contextmanager
def _prepared(views: list[QGraphicsView], transparent: bool) -> Iterator[None]:
    """Put the views in export mode while drawing them, then back as they were.

    pyqtgraph items are told that they are exported (``setExportMode``, as its own exporters
    do): scatter plots then draw each symbol as a shape instead of copying it from a cached
    pixmap, which would reach SVG and PDF as fragments of a bitmap and blur at a scale. A
    view's background is drawn afresh instead of from its pixmap cache (again a bitmap),
    or left out for ``transparent``; the cache is filled with the palette even when the
    background brush is empty. Items that keep their pixels between paints (a plane's grid,
    :func:`~jacviz.gui.common.plots.cache_pixels`) are drawn afresh too, for the same reason.
    """
    saved = [(v.cacheMode(), v.backgroundBrush(), v.viewport().autoFillBackground()) for v in views]
    every = [item for view in views for item in view.scene().items()]
    items = [item for item in every if isinstance(item, pg.GraphicsItem)]
    cached = [(item, item.cacheMode()) for item in every if item.cacheMode() != _NO_CACHE]
    try:
        for item, _mode in cached:
            item.setCacheMode(_NO_CACHE)
        for item in items:
            item.setExportMode(True, {"antialias": True})
        for view in views:
            view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
            if transparent:
                view.setBackgroundBrush(QBrush())
                view.viewport().setAutoFillBackground(False)
        yield
    finally:
        for item in items:
            item.setExportMode(False)
        for item, mode in cached:
            item.setCacheMode(mode)
        for view, (cache, brush, fill) in zip(views, saved, strict=True):
            view.setCacheMode(cache)
            view.setBackgroundBrush(brush)
            view.viewport().setAutoFillBackground(fill)


def _pen_of(item: QGraphicsItem) -> QPen | None:
    """The pen ``item`` strokes with, for the item kinds the views use (None: no such pen)."""
    if isinstance(item, QAbstractGraphicsShapeItem | pg.AxisItem):
        return item.pen()
    if isinstance(item, pg.PlotCurveItem):
        return item.opts["pen"]
    if isinstance(item, pg.TargetItem):
        return item.pen
    return None


@contextmanager
def _wider_cosmetic_pens(views: list[QGraphicsView], factor: float) -> Iterator[None]:
    """Widen the views' cosmetic pens ``factor`` times while drawing at ``factor`` × pixels.

    Qt draws cosmetic pens (constant width on screen, whatever the zoom) in device pixels, so
    on a 2× image every line would be half as thick, relative to the figure, as on screen;
    a scaled PNG should be the same picture with more pixels. The pens are put back after.
    """
    changed: list[tuple[QGraphicsItem, QPen]] = []
    try:
        for view in views if factor != 1 else []:
            for item in view.scene().items():
                pen = _pen_of(item)
                if pen is None or not pen.isCosmetic() or pen.style() == Qt.PenStyle.NoPen:
                    continue
                wider = QPen(pen)
                wider.setWidthF(max(pen.widthF(), 1.0) * factor)
                changed.append((item, QPen(pen)))
                item.setPen(wider)
        yield
    finally:
        for item, pen in reversed(changed):
            item.setPen(pen)


def _paint(
    figure: Figure, painter: QPainter, scale: float = 1.0, transparent: bool = False
) -> None:
    layout = _Layout(figure)
    views = _graphics_views(figure.body)
    sharper = figure.sharpen(scale) if figure.sharpen is not None else nullcontext()
    with sharper, _prepared(views, transparent), _wider_cosmetic_pens(views, scale):
        layout.paint(painter, transparent)


def figure_size(view: QWidget | Figure) -> tuple[int, int]:
    """Width and height of the figure in pixels at scale 1 (captions included)."""
    layout = _Layout(figure_of(view))
    return layout.width, layout.height


# ----------------------------------------------------------------------------------------------
# One function per format: bytes in memory, then an atomic write
# ----------------------------------------------------------------------------------------------


def _check_scale(scale: float, width: int, height: int) -> None:
    if not (math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE):
        raise ExportError(f"the scale must be from {MIN_SCALE:g} to {MAX_SCALE:g}, got {scale:g}")
    if round(width * scale) * round(height * scale) > MAX_PIXELS:
        raise ExportError(
            f"a {width}×{height} figure at scale {scale:g} would exceed "
            f"{MAX_PIXELS // 1_000_000} million pixels; choose a smaller scale"
        )


def figure_image(view: QWidget | Figure, scale: float = 1.0, transparent: bool = False) -> QImage:
    """The figure as an image of ``scale`` times its on-screen size in pixels.

    The image is drawn at a device pixel ratio of ``scale`` (text and shapes are rendered at
    that resolution, not enlarged), with lines widened to match; ``transparent`` leaves the
    background of the plots (and the margins of the captions) transparent.
    """
    figure = figure_of(view)
    width, height = figure_size(figure)
    _check_scale(scale, width, height)
    pixels = QSize(round(width * scale), round(height * scale))
    image = QImage(pixels, QImage.Format.Format_ARGB32_Premultiplied)
    if image.isNull():
        raise ExportError(f"not enough memory for a {pixels.width()}×{pixels.height()} image")
    image.setDevicePixelRatio(scale)
    dots_per_metre = round(SCREEN_DPI * scale / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    image.fill(QColor(0, 0, 0, 0))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        _paint(figure, painter, scale, transparent)
    finally:
        painter.end()
    return image


def _buffer() -> QBuffer:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    return buffer


def png_bytes(view: QWidget | Figure, scale: float = 1.0, transparent: bool = False) -> bytes:
    """The figure as a PNG file's content (see :func:`figure_image`)."""
    image = figure_image(view, scale, transparent)
    buffer = _buffer()
    if not image.save(buffer, "PNG"):
        raise ExportError("Qt could not encode the image as PNG")
    return bytes(buffer.data())


def _svg_document(
    width: int,
    height: int,
    title: str,
    version: QSvgGenerator.SvgVersion,
    paint: Callable[[QPainter], None],
) -> bytes:
    buffer = _buffer()
    generator = QSvgGenerator(version)
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(width, height))
    generator.setViewBox(QRect(0, 0, width, height))
    generator.setResolution(SCREEN_DPI)
    generator.setTitle(title)
    generator.setDescription("Drawn by jacviz")
    painter = QPainter(generator)
    try:
        paint(painter)
    finally:
        painter.end()
    return bytes(buffer.data())


def svg_bytes(view: QWidget | Figure) -> bytes:
    """The figure as an SVG drawing: curves as paths, text as text, heatmaps as images.

    One unit of the drawing is one pixel of the view on screen, at :data:`SCREEN_DPI`.

    Plots are drawn as SVG 1.1, whose clip paths keep curves inside a plot's frame; the rest
    (panels, captions) as SVG Tiny 1.2, without clipping. QSvgGenerator writes the clip paths
    of a widget drawn inside another at the wrong place (without the child's offset), so each
    plot is drawn on its own, at the origin, and nested into the whole at its position.
    """
    figure = figure_of(view)
    layout = _Layout(figure)
    views = _graphics_views(figure.body)
    plots = []
    with _prepared(views, transparent=False):
        for plot in views:
            drawing = _svg_document(
                plot.width(),
                plot.height(),
                figure.title,
                QSvgGenerator.SvgVersion.Svg11,
                lambda painter, plot=plot: QWidget.render(plot, painter, QPoint(), QRegion()),
            )
            corner = plot.mapTo(figure.body, QPoint(0, 0)) + QPoint(0, layout.body_top)
            plots.append((drawing, (corner.x(), corner.y())))
    with _unpainted(views):
        whole = _svg_document(
            layout.width,
            layout.height,
            figure.title,
            QSvgGenerator.SvgVersion.SvgTiny12,
            layout.paint,
        )
    document = nest_svg(whole, plots)
    bake_cosmetic_strokes(document)
    return ElementTree.tostring(document, encoding="utf-8", xml_declaration=True)


def pdf_bytes(view: QWidget | Figure) -> bytes:
    """The figure as a one-page PDF of its on-screen size at :data:`SCREEN_DPI`, in vectors.

    PDF pages are whole points (1/72 inch) wide and high, so the page can be up to a point
    larger than the figure; the figure sits in its top-left corner.
    """
    figure = figure_of(view)
    width, height = figure_size(figure)
    buffer = _buffer()
    writer = QPdfWriter(buffer)
    writer.setResolution(SCREEN_DPI)
    points = 72 / SCREEN_DPI
    page = QSizeF(math.ceil(width * points), math.ceil(height * points))
    writer.setPageSize(QPageSize(page, QPageSize.Unit.Point, "jacviz figure"))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    writer.setTitle(figure.title)
    writer.setCreator("jacviz")
    painter = QPainter(writer)
    try:
        _paint(figure, painter)
    finally:
        painter.end()
    return bytes(buffer.data())


def check_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path, if a figure can be saved there; else an :class:`ExportError`.

    The extension names the format (:data:`FORMATS`); the folder must exist and be writable.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise ExportError(
            f"cannot save a figure as {target.name!r}: the file name must end in {known}"
        )
    problem = target_problem(target)
    if problem is not None:
        raise ExportError(f"cannot save the figure to {target}: {problem}")
    return target


def _save(payload: bytes, target: Path) -> Path:
    try:
        write_atomically(target, payload)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ExportError(f"cannot save the figure to {target}: {reason}") from None
    return target


def export_png(
    view: QWidget | Figure,
    path: str | os.PathLike,
    scale: float = 1.0,
    transparent: bool = False,
) -> Path:
    """Save the figure as a PNG of ``scale`` × its on-screen size (DPI: 96 × ``scale``)."""
    target = check_target(path)
    return _save(png_bytes(view, scale, transparent), target)


def export_svg(view: QWidget | Figure, path: str | os.PathLike) -> Path:
    """Save the figure as an SVG drawing (see :func:`svg_bytes`)."""
    target = check_target(path)
    return _save(svg_bytes(view), target)


def export_pdf(view: QWidget | Figure, path: str | os.PathLike) -> Path:
    """Save the figure as a one-page PDF (see :func:`pdf_bytes`)."""
    target = check_target(path)
    return _save(pdf_bytes(view), target)


def export_figure(
    view: QWidget | Figure,
    path: str | os.PathLike,
    scale: float = 1.0,
    transparent: bool = False,
) -> Path:
    """Save the figure in the format its extension names: .png, .svg or .pdf.

    ``scale`` and ``transparent`` apply to PNG only; vector drawings have no pixel size, and
    their background is the page's.

    Raises
    ------
    ExportError
        For an unknown extension, a missing or unwritable folder, a view that is not on
        screen, a scale out of range, or a failed write; no file is left behind then.

    """
    suffix = check_target(path).suffix.lower()
    if suffix == ".png":
        return export_png(view, path, scale, transparent)
    if suffix == ".svg":
        return export_svg(view, path)
    return export_pdf(view, path)


def copy_figure(view: QWidget | Figure, scale: float = 1.0) -> QImage:
    """Put the figure on the clipboard as an image (opaque: many programs paste alpha black)."""
    image = figure_image(view, scale, transparent=False)
    QGuiApplication.clipboard().setImage(image)
    return image
