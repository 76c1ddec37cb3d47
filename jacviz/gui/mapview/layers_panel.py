"""The layer-by-layer panel: J = J_L ⋯ J_1 at the probe, one row per factor.

The panel sits in the side column, which scrolls vertically only: it must never be wider than
the column. A factor table wider than the column scrolls sideways on its own, and a message
(why a network cannot be walked) wraps.
"""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QFont, QResizeEvent
from PyQt6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from jacviz.gui.common.labels import write_value
from jacviz.math.probe import align_columns, format_number
from jacviz.nets.layers import Factor

QWIDGETSIZE_MAX = (1 << 24) - 1
"""Qt's largest widget size: a maximum size of this is no maximum."""

EXPLANATION = (
    "Each row is one factor of J = J_L ⋯ J_1 at p (chain rule): a Linear layer contributes its\n"
    "weight matrix W, an elementwise activation diag(σ'(z)) at the point's pre-activation z.\n"
    "'factor σ' is the range of that factor's singular values: how much the layer can stretch\n"
    "(> 1) or squash (< 1). 'σ so far' are the singular values of J_i ⋯ J_1, the map from the\n"
    "input plane into that layer's space; the last row is the network's own J.\n"
    "A network with more than 2 inputs is seen on the plane b + s·u + t·v: row 0 is that\n"
    "plane's own factor [u v], so the products are J_i ⋯ J_1 · [u v], ending with the J shown."
)


def factor_rows(factors: list[Factor]) -> list[str]:
    """The panel's table as aligned text rows, header first."""

    def spread(values: object) -> str:
        values = [float(v) for v in values]
        if len(values) == 1:
            return format_number(values[0], 3)
        return f"{format_number(max(values), 3)} … {format_number(min(values), 3)}"

    width = max([len("layer"), *(len(f.label) for f in factors)])
    cells = [["#", "layer".ljust(width), "factor σ", "σ so far"]]
    for factor in factors:
        so_far = ", ".join(format_number(float(v), 3) for v in factor.product_singular_values)
        label = factor.label.ljust(width)  # names read best left-aligned, numbers right
        cells.append([str(factor.index + 1), label, spread(factor.singular_values), so_far])
    return align_columns(cells)


class SidewaysText(QScrollArea):
    """A label that scrolls sideways when its lines are wider than the space it gets.

    As tall as its text (plus the scroll bar when one shows): the column around it does the
    vertical scrolling. A word-wrapped text wraps at the width it gets instead.
    """

    def __init__(self, label: QLabel) -> None:
        super().__init__()
        self.label = label
        self.setWidget(label)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

    def _text_height(self) -> int:
        width = self.viewport().width()
        if self.label.wordWrap():
            return self.label.heightForWidth(width)
        height = self.label.sizeHint().height()
        if self.label.sizeHint().width() > width:
            height += self.horizontalScrollBar().sizeHint().height()
        return height

    def sizeHint(self) -> QSize:
        """The text's own width, and its height at the width the panel has now."""
        return QSize(self.label.sizeHint().width(), self._text_height())

    def minimumSizeHint(self) -> QSize:
        """Narrow: a wide table scrolls rather than widen the side column."""
        return QSize(80, self._text_height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        """A new width can change the height (wrapping, the scroll bar): ask for a relayout."""
        super().resizeEvent(event)
        self.updateGeometry()


class LayersPanel(QWidget):
    """Shows the chain-rule factors of a network's Jacobian at the probe, or why it cannot."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Layer by layer at p</b>"))
        self.table = QLabel()
        self.table.setTextFormat(Qt.TextFormat.PlainText)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.table.setFont(mono)
        self.table.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._mono = mono
        self.table_area = SidewaysText(self.table)
        layout.addWidget(self.table_area)
        self.setToolTip(EXPLANATION)
        self.setVisible(False)

    def show_factors(self, factors: list[Factor] | str | None) -> None:
        """Show the factors; a string says why there are none; None hides the panel."""
        if factors is None:
            self.setVisible(False)
            return
        message = isinstance(factors, str)
        text = factors if message else "\n".join(factor_rows(factors))
        if message != self.table.wordWrap():
            # A message reads as prose and wraps; a table keeps its columns and scrolls.
            self.table.setWordWrap(message)
            self.table.setFont(self.font() if message else self._mono)
            self.table.setMinimumSize(0, 0)  # a table's fixed size (below) is a message's no more
            self.table.setMaximumSize(QWIDGETSIZE_MAX, QWIDGETSIZE_MAX)
            self.table.setText("")
        if message and self.table.text() != text:
            self.table.setText(text)
            self.table_area.updateGeometry()
        # The table changes at every probe move: held at its size while it fits, it lays the
        # side column out only when it grows (or shrinks much).
        elif not message and write_value(self.table, text):
            self.table_area.updateGeometry()
        self.setVisible(True)
