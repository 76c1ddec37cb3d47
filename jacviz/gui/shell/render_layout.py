"""How a headless render lays the window out at the size asked: any size from 320×240 up.

The window a render draws is the app's own, but a screen's window has minimum sizes (side
panel, planes, a legend on one line) that a figure need not keep: a figure of 800×600 or of
320×240 must come out exactly that size, its picture reflowed rather than refused or cut.
:func:`isolate` keeps only one view inside its part of the window (its legend and title are
then drawn as the figure's captions, which wrap to its width, and :func:`place_legend` moves
a legend that would take too much of a low figure's height beside the plot);
:func:`reflow_window` lets the whole window's parts shrink, drops the side panel when there is
no room for it beside the planes and stacks the planes when the picture is too narrow for
them side by side.

The window is a throwaway one, built for one render: these changes are never undone.
"""

from __future__ import annotations

import dataclasses

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QSizePolicy, QSplitter, QWidget

from jacviz.gui.common.export import Figure, caption_height

PLANES_MIN_WIDTH = 400
"""Width the planes need beside the side panel; below it the composite leaves the panel out."""
STACK_RATIO = 1.2
"""The planes sit side by side when they have this many times the height in width, else stack."""

LABEL_SHARE = 1 / 3
"""Largest share of a plane's height a label beside it (its legend) may take in a composite,
or a legend under a single view before it moves beside it."""
SIDE_SHARE = 0.4
"""Share of a figure's width a legend moved beside the plot takes."""


def _children(widget: QWidget) -> list[QWidget]:
    return widget.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)


def _ignore_hidden(root: QWidget) -> None:
    """Let hidden widgets inside ``root`` (a tab not shown, say) set no minimum size on it.

    A tab widget is as large as its largest page, shown or not; a hidden page whose size
    policy is Ignored no longer counts.
    """
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root):
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)


def isolate(body: QWidget, keep: QWidget) -> None:
    """Hide every widget inside ``keep`` but ``body``, what holds it and what it holds.

    A single view's figure is ``body`` with captions; the labels, sliders and tab bars around
    it on screen would only set a minimum size on the window that the figure does not need.
    """
    body.setMinimumSize(0, 0)  # a plot alone in a figure may be smaller than on screen
    child = body
    while child is not keep and child.parentWidget() is not None:
        parent = child.parentWidget()
        for sibling in _children(parent):
            if sibling is not child and not sibling.isWindow():
                sibling.hide()
        child = parent
    _ignore_hidden(keep)


def _let_shrink(widget: QWidget, cell: tuple[int, int]) -> None:
    """Let ``widget`` and what it holds get smaller than on screen, to fit ``cell`` pixels.

    Its labels (a legend, the morph's t) wrap their text to the width; one that would then
    take more than :data:`LABEL_SHARE` of the height is left out, so the plot keeps the room.
    """
    for child in [widget, *widget.findChildren(QWidget)]:
        child.setMinimumSize(0, 0)
    _ignore_hidden(widget)
    width, height = cell
    for label in widget.findChildren(QLabel):
        label.setWordWrap(True)
        policy = label.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        label.setSizePolicy(policy)
        if label.isVisibleTo(widget) and label.heightForWidth(width) > LABEL_SHARE * height:
            label.hide()


def place_legend(figure: Figure, size: tuple[int, int]) -> Figure:
    """``figure`` with its legend (the caption below) moved beside the plot if it is too tall.

    Under a plot of a wide, low figure (320×240, say) the legend would take half its height;
    it then moves to a column on the right, :data:`SIDE_SHARE` of the width, where it wraps,
    if it fits the figure's height there.
    """
    width, height = size
    if not figure.below or width < height:
        return figure
    if caption_height(figure.below, width) <= LABEL_SHARE * height:
        return figure
    column = round(SIDE_SHARE * width)
    if caption_height(figure.below, column) > height - caption_height(figure.above, width):
        return figure  # no taller than the figure beside the plot either: it stays below
    return dataclasses.replace(figure, below="", beside=figure.below, beside_width=column)


def reflow_window(
    splitter: QSplitter, side: QWidget, planes: tuple[QWidget, QWidget], size: tuple[int, int]
) -> None:
    """Arrange the window's ``splitter`` (``side`` panel, then the two ``planes``) for ``size``.

    The side panel keeps its width when the planes still get :data:`PLANES_MIN_WIDTH` beside
    it, else it is left out; the planes sit side by side when each is at least
    :data:`STACK_RATIO` / 2 times as wide as high, else one above the other.
    """
    width, height = size
    side_width = max(side.minimumWidth(), 1)
    show_side = width - side_width >= PLANES_MIN_WIDTH
    side.setVisible(show_side)
    stack = (width - side_width * show_side) < STACK_RATIO * height
    handles = splitter.handleWidth() * (len(planes) - 1 + show_side)
    room = (width - side_width if show_side else width) - handles
    cell = (room, height // 2) if stack else (room // 2, height)
    for plane in planes:
        _let_shrink(plane, cell)
    if stack:
        column = QSplitter(Qt.Orientation.Vertical)
        index = splitter.indexOf(planes[0])
        for plane in planes:
            column.addWidget(plane)
        splitter.insertWidget(index, column)
        column.setSizes([height // 2, height - height // 2])
        sizes = [room]
    else:
        sizes = [room // 2, room - room // 2]
    splitter.setSizes([side_width] * show_side + sizes if show_side else [0, *sizes])
