"""The inspector: the numbers at the probe, each with a one-line meaning on hover."""

from __future__ import annotations

import html
import math

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QFormLayout, QLabel, QWidget

from jacviz.math.linearize import Linearization
from jacviz.math.probe import align_columns, format_number, orientation_word

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
}


def _vector(values: object) -> str:
    return "(" + ", ".join(format_number(float(v)) for v in values) + ")"


def _matrix_text(cells: list[list[str]]) -> str:
    # Plain text in a monospace font: a rich-text table cost more to lay out than all the
    # rest of a probe update.
    return "\n".join(f"│ {row} │" for row in align_columns(cells))


class Inspector(QWidget):
    """Shows J, det, σ1, σ2, condition number, ‖J‖F and the linearization error at the probe.

    ``values[key]`` is the QLabel of row ``key`` (see :data:`ROWS`), so tests and exports can
    read exactly what the user sees.
    """

    def __init__(self) -> None:
        super().__init__()
        layout = QFormLayout(self)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.values: dict[str, QLabel] = {}
        for key, (label, meaning) in ROWS.items():
            name = QLabel(f"<b>{html.escape(label)}</b>")
            value = QLabel("–")
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setFont(mono)
            value.setWordWrap(key == "symbolic")
            for widget in (name, value):
                widget.setToolTip(meaning)
            layout.addRow(name, value)
            self.values[key] = value
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #B00020;")
        layout.addRow(self.warnings)

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
            "error": f"{format_number(lin.error, 3)}{share}",
        }
        # Only touch labels whose text changed: each new text re-lays out the panel.
        for key, text in texts.items():
            if self.values[key].text() != text:
                self.values[key].setText(text)
        warnings = "\n".join(report.warnings)
        if self.warnings.text() != warnings:
            self.warnings.setText(warnings)
