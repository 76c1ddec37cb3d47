"""The side panel both windows put beside their plots: a column that scrolls, never clips.

The map view's formula editor and inspector and the lab's data and training settings are
taller than a laptop screen; in a scroll area they stay reachable at any window height. The
column only scrolls vertically, so it must never be narrower than what it holds: the panel's
minimum width follows the column's minimum (with room for the vertical scroll bar) whenever
its content changes, e.g. a network's layer table or a long message. Content should wrap
long text so that this minimum stays small; the splitter decides the width beyond it.
Forms in the column are laid out by :func:`form_grid`, which shows wrapped messages whole.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtWidgets import QGridLayout, QLabel, QLayout, QScrollArea, QVBoxLayout, QWidget

__all__ = ["SidePanel", "form_grid", "side_panel"]


class SidePanel(QScrollArea):
    """A vertically scrolling column that is always at least as wide as its content's minimum.

    Parameters
    ----------
    column : QWidget
        The content; its minimum width is watched.
    minimum_width : int
        The panel's own minimum width, whatever the content.

    """

    def __init__(self, column: QWidget, minimum_width: int) -> None:
        super().__init__()
        self._minimum_width = minimum_width
        self.setWidget(column)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Always there, so the column keeps its width: a scroll bar that came and went with
        # the content's height (a longer symbolic Jacobian) shifted the whole column sideways
        # and laid it out and repainted it again at such map changes.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        column.installEventFilter(self)
        self.fit_content()

    def fit_content(self) -> None:
        """Make the panel wide enough for the column's minimum and the vertical scroll bar."""
        column = self.widget()
        needed = (
            column.minimumSizeHint().width()
            + self.verticalScrollBar().sizeHint().width()
            + 2 * self.frameWidth()
        )
        width = max(self._minimum_width, needed)
        if width != self.minimumWidth():
            self.setMinimumWidth(width)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Refit when the column's layout changes (a widget shown, hidden or re-texted)."""
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit_content()
        return super().eventFilter(watched, event)


def side_panel(widgets: list[QWidget], minimum_width: int) -> SidePanel:
    """A vertically scrolling column of ``widgets``, top-aligned, at least ``minimum_width``."""
    column = QWidget()
    layout = QVBoxLayout(column)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return SidePanel(column, minimum_width)


FormRow = tuple[str, QWidget | QLayout] | QWidget | QLayout
"""A row of :func:`form_grid`: a label and its field, or a widget or layout across the row."""


def form_grid(parent: QWidget, rows: list[FormRow]) -> QGridLayout:
    """Lay ``rows`` out on ``parent`` as a form: labels on the left, fields on the right.

    A grid rather than a QFormLayout: a form nested in the panel's column gives a wrapped label
    (a message under a field, a note) the height its text needs at some other width, and cuts
    a long message's last lines off; a grid gives it the height for its own width.
    """
    grid = QGridLayout(parent)
    grid.setColumnStretch(1, 1)
    for row, item in enumerate(rows):
        if isinstance(item, tuple):
            text, field = item
            grid.addWidget(QLabel(text), row, 0)
            span: tuple[int, int, int, int] = (row, 1, 1, 1)
        else:
            field, span = item, (row, 0, 1, 2)
        if isinstance(field, QLayout):
            grid.addLayout(field, *span)
        else:
            grid.addWidget(field, *span)
    return grid
