"""The side panel both windows put beside their plots: a column that scrolls, never clips.

The map view's formula editor and inspector and the lab's data and training settings are
taller than a laptop screen; in a scroll area they stay reachable at any window height. The
column only scrolls vertically: its width is the splitter's to decide.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QScrollArea, QVBoxLayout, QWidget


def side_panel(widgets: list[QWidget], minimum_width: int) -> QScrollArea:
    """A vertically scrolling column of ``widgets``, top-aligned, at least ``minimum_width``."""
    column = QWidget()
    layout = QVBoxLayout(column)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidget(column)
    scroll.setWidgetResizable(True)
    scroll.setMinimumWidth(minimum_width)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll
