"""The inspector: the numbers at the probe, each with a one-line meaning on hover.

For a classifier it shows only what applies to the k×2 Jacobian of its logits or
probabilities (its margin gradient among them) and says in one line why det, σ2, the
condition number or the error at h are left out (:class:`~jacviz.math.probe.ClassifierReading`).
"""

from __future__ import annotations

import html
import math

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QGridLayout, QLabel, QWidget

from jacviz.gui.common.labels import write_value
from jacviz.math.linearize import Linearization
from jacviz.math.probe import ClassifierReading, align_columns, format_number, orientation_word

# Row key -> (label, meaning shown on hover).
ROWS: dict[str, tuple[str, str]] = {
    "point": ("p", "The probe point: drag it, click anywhere, or use the arrow keys."),
    "value": ("f(p)", "Where the map sends the probe point."),
    "jacobian": (
        "J(p)",
        "The Jacobian: the linear map that best approximates f near p.\n"
        "Row i = output i, column j = input j; its columns are the images of e1 and e2.",
    ),
    "symbolic": ("J(x, y)", "The Jacobian as formulas, differentiated symbolically."),
    "det": ("det J", "det: how much area is scaled; negative means orientation is reversed."),
    "sigma1": ("σ1", "σ1: largest stretch = local Lipschitz constant."),
    "sigma2": ("σ2", "σ2: smallest stretch; 0 where the map folds (J singular)."),
    "condition": ("σ1/σ2", "Condition number: how unevenly directions are stretched."),
    "frobenius": ("‖J‖F", "‖J‖F: RMS stretch over all directions, times √2 (√(σ1² + σ2²))."),
    "error": (
        "error at h",
        "Largest gap between the true image of the square and its tangent parallelogram,\n"
        "and that gap relative to the parallelogram's size. It shrinks like h².",
    ),
    "margin": (
        "∇ margin",
        "A classifier's margin: the top class's output minus the runner-up's (0 on the\n"
        "decision boundary), and its gradient: how fast the decision changes near p.\n"
        "Margin / |gradient| is roughly the distance to the boundary.",
    ),
}
CLASSIFIER_ONLY = ("margin",)
"""Rows shown only for classifiers."""


WRAPPED = ("symbolic", "margin")
"""Rows whose text wraps: their labels follow the layout as usual."""


def _vector(values: object) -> str:
    return "(" + ", ".join(format_number(float(v)) for v in values) + ")"


def _matrix_text(cells: list[list[str]]) -> str:
    # Plain text in a monospace font: a rich-text table cost more to lay out than all the
    # rest of a probe update.
    return "\n".join(f"│ {row} │" for row in align_columns(cells))


class Inspector(QWidget):
    """Shows J, det, σ1, σ2, condition number, ‖J‖F and the linearization error at the probe.

    For a classifier, also the margin gradient, without what its J makes meaningless.

    ``values[key]`` is the QLabel of row ``key`` (see :data:`ROWS`), so tests and exports can
    read exactly what the user sees.
    """

    def __init__(self) -> None:
        super().__init__()
        # A grid, not a QFormLayout: a form gives a wrapped value (J(x, y) of a long formula)
        # the height it needs at some other width, and cuts its first and last lines off.
        layout = QGridLayout(self)
        layout.setColumnStretch(1, 1)
        top_left = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.values: dict[str, QLabel] = {}
        self.names: dict[str, QLabel] = {}
        for row, (key, (label, meaning)) in enumerate(ROWS.items()):
            name = QLabel(f"<b>{html.escape(label)}</b>")
            value = QLabel("–")
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setFont(mono)
            value.setWordWrap(key in WRAPPED)
            for widget in (name, value):
                widget.setToolTip(meaning)
            layout.addWidget(name, row, 0, top_left)
            # A wrapped value takes the column's width (and its height for that width).
            layout.addWidget(
                value, row, 1, Qt.AlignmentFlag.AlignTop if key in WRAPPED else top_left
            )
            if key in CLASSIFIER_ONLY:
                name.setVisible(False)
                value.setVisible(False)
            self.values[key] = value
            self.names[key] = name
        self.hidden_note = QLabel()
        """Why some rows are hidden (for a classifier), or empty."""
        self.hidden_note.setWordWrap(True)
        self.hidden_note.setStyleSheet("color: #555555;")
        self.hidden_note.setVisible(False)
        layout.addWidget(self.hidden_note, len(ROWS), 0, 1, 2)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #B00020;")
        layout.addWidget(self.warnings, len(ROWS) + 1, 0, 1, 2)

    def show_linearization(self, lin: Linearization) -> None:
        """Fill every row from the linearization at the probe."""
        report = lin.report
        det = report.det
        sigma = report.singular_values
        relative = lin.relative_error
        share = "" if not math.isfinite(relative) else f"  ({100 * relative:.3g} % of its size)"
        symbolic = report.symbolic_jacobian
        numbers = [[format_number(float(v)) for v in row] for row in report.jacobian]
        texts = {
            "point": _vector(report.point),
            "value": _vector(report.value),
            "jacobian": _matrix_text(numbers),
            "symbolic": "–" if symbolic is None else _matrix_text(symbolic),
            "det": "–"
            if det is None
            else f"{format_number(det)}  ({orientation_word(det, float(sigma[-1]))})",
            "sigma1": format_number(float(sigma[0])),
            "sigma2": format_number(float(sigma[1])),
            "condition": format_number(report.condition),
            "frobenius": format_number(report.frobenius),
            # NaN: measured on another view than the Jacobian shown (a classifier's 2D view).
            "error": "–" if math.isnan(lin.error) else f"{format_number(lin.error, 3)}{share}",
        }
        for key, text in texts.items():
            if key in WRAPPED:
                if self.values[key].text() != text:
                    self.values[key].setText(text)
            else:
                write_value(self.values[key], text)
        self._show_classifier(report.classifier)
        warnings = "\n".join(report.warnings)
        if self.warnings.text() != warnings:
            self.warnings.setText(warnings)

    def is_row_shown(self, key: str) -> bool:
        """Whether row ``key`` is on show (classifiers hide what does not apply to them)."""
        return not self.values[key].isHidden()

    def _show_classifier(self, reading: ClassifierReading | None) -> None:
        """Show the margin row and hide what says nothing for a classifier (None: a plain map)."""
        hidden = set() if reading is None else set(reading.hidden)
        for key in ROWS:
            shown = key not in hidden and (reading is not None or key not in CLASSIFIER_ONLY)
            if self.values[key].isHidden() == shown:
                self.values[key].setVisible(shown)
                self.names[key].setVisible(shown)
        note = "" if reading is None else f"Not shown: {reading.reason}."
        if self.hidden_note.text() != note:
            self.hidden_note.setText(note)
            self.hidden_note.setVisible(bool(note))
        if reading is not None:
            gradient = reading.margin_gradient
            text = (
                f"{reading.symbol} = {_vector(gradient)}\n"
                f"margin {format_number(reading.margin)}, |∇| "
                f"{format_number(float(np.linalg.norm(gradient)))}"
            )
            if self.values["margin"].text() != text:
                self.values["margin"].setText(text)
