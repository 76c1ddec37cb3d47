"""Value labels that change at every probe move without laying their window out again.

A label's new text asks its parents for a new layout (and the side panel then measures its
minimum width), which cost as much as the rest of the inspector at every probe move, and more
for a network's layer table. :func:`write_value` holds a plain-text label at a fixed size, its
text's, which grows with a wider text or more lines and shrinks only when the text is much
narrower (:data:`SHRINK`): a probe move then lays out nothing.
"""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtWidgets import QLabel

__all__ = ["SHRINK", "text_size", "write_value"]

SHRINK = 0.5
"""A value's label narrows (and the panel is laid out again) only below this share of its width."""


def write_value(label: QLabel, text: str) -> bool:
    """Show ``text`` in a plain-text, unwrapped ``label``, keeping the layout if it fits.

    Returns True when the label took a new size (its parents are then laid out again).
    """
    if label.text() == text:
        return False
    label.setText(text)  # a fixed-size label asks for no new layout
    need = text_size(label, text)
    width, height = label.maximumWidth(), label.maximumHeight()
    fixed = label.minimumSize() == label.maximumSize()
    if not fixed or need.height() != height or not SHRINK * width <= need.width() <= width:
        label.setFixedSize(need)
        return True
    return False


def text_size(label: QLabel, text: str) -> QSize:
    """The size a plain-text, unwrapped ``label`` asks for to show ``text`` (its sizeHint).

    Worked out here: a label's own hint never falls below its minimum size, which is fixed.
    """
    size = label.fontMetrics().size(Qt.TextFlag.TextExpandTabs, text)
    margins = label.contentsMargins()
    extra = 2 * label.margin()
    return QSize(
        size.width() + margins.left() + margins.right() + extra,
        size.height() + margins.top() + margins.bottom() + extra,
    )
