"""The Compare tab's numbers: a table of both models, and the ε-ball panel.

:class:`CompareTable` holds, per model, clean accuracy, mean ‖J‖_F, mean distance to the
decision boundary and PGD accuracy (L2 and L∞) at the table's radius, each cell keeping its
exact number for tests and exports. :class:`BallPanel` holds the ε-ball's radius and shows,
per model, the share of the ball whose class flips next to what the Jacobian predicts.
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from jacviz.gui.lab.compare_style import (
    MODEL_COLOURS,
    MODEL_TITLES,
    UPPER_BOUND,
    attack_description,
)
from jacviz.math.probe import format_number
from jacviz.nets.comparison import Comparison, ModelResult
from jacviz.state.compare import DEFAULT_EPSILON, BallReading, lambda_name, percent

__all__ = ["TABLE_ROWS", "BallPanel", "CompareTable"]

TABLE_ROWS: tuple[str, ...] = (
    "accuracy",
    "frobenius",
    "boundary",
    "pgd_2",
    "pgd_inf",
)
"""Keys of the table's rows, top to bottom (see :meth:`CompareTable.value`)."""


def _row_titles(comparison: Comparison | None) -> list[str]:
    where = "test" if comparison is None or comparison.on_test_points else "training"
    eps = "ε" if comparison is None else f"ε = {format_number(comparison.table_epsilon, 3)}"
    return [
        f"{where} accuracy",
        f"mean ‖J‖F on {where} points",
        "mean distance to the boundary",
        f"PGD L2 accuracy (upper bound), {eps}",
        f"PGD L∞ accuracy (upper bound), {eps}",
    ]


class CompareTable(QTableWidget):
    """One column per model, one row per key of :data:`TABLE_ROWS`; sized to its rows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(len(TABLE_ROWS), 2, parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setHorizontalHeaderLabels(list(MODEL_TITLES))
        self.setVerticalHeaderLabels(_row_titles(None))
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit_height()

    def value(self, row: str, model: int) -> float:
        """The number behind a cell: ``row`` from :data:`TABLE_ROWS`, model 0 or 1."""
        item = self.item(TABLE_ROWS.index(row), model)
        return float("nan") if item is None else float(item.data(Qt.ItemDataRole.UserRole))

    def show_comparison(self, comparison: Comparison) -> None:
        """Both models' numbers, their λ in the headers (a dagger for a diverged run)."""
        self.setVerticalHeaderLabels(_row_titles(comparison))
        for model, result in enumerate(comparison.models):
            # A dagger, not "(diverged)": the column is narrow; the message is in the tooltip.
            header = QTableWidgetItem(
                lambda_name(result.config) + (" †" if result.diverged else "")
            )
            header.setToolTip(result.diverged or "")
            header.setForeground(pg.mkColor(MODEL_COLOURS[model]))
            self.setHorizontalHeaderItem(model, header)
            cells = _cells(result, comparison)
            for row, key in enumerate(TABLE_ROWS):
                value, fmt, tip = cells[key]
                item = QTableWidgetItem(fmt(value))
                item.setData(Qt.ItemDataRole.UserRole, float(value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if tip:
                    item.setToolTip(tip)
                self.setItem(row, model, item)
        self._fit_height()

    def _fit_height(self) -> None:
        self.resizeRowsToContents()
        height = self.horizontalHeader().height() + 2 * self.frameWidth()
        height += sum(self.rowHeight(row) for row in range(self.rowCount()))
        self.setFixedHeight(height)


def _cells(
    result: ModelResult, comparison: Comparison
) -> dict[str, tuple[float, Callable[[float], str], str]]:
    """Each row's number, how it is written and its tooltip, for one model."""
    distance, unreached = result.mean_boundary_distance(comparison.max_radius)
    eps = comparison.table_epsilon
    return {
        "accuracy": (result.snapshot.test_accuracy, percent, ""),
        "frobenius": (
            result.snapshot.test_frobenius,
            lambda v: format_number(v, 3),
            "exact ‖J‖F of the logits, averaged over the points",
        ),
        "boundary": (
            distance,
            lambda v: ("≥ " if unreached else "") + format_number(v, 3),
            (
                f"{unreached} point(s) have no other class within "
                f"{format_number(comparison.max_radius, 3)} (the view's diagonal); they "
                "count at that distance, so the mean is a lower bound."
            )
            if unreached
            else "L2 distance from each point to the nearest input of another class",
        ),
        **{
            f"pgd_{norm}": (
                result.curves["pgd", norm][eps],
                percent,
                f"{attack_description('pgd', norm)} {UPPER_BOUND}",
            )
            for norm in ("2", "inf")
        },
    }


class BallPanel(QGroupBox):
    """The ε-ball's radius and, per model, the share of the ball whose class flips."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Share of an ε-ball whose class flips", parent)
        self.epsilon_spin = QDoubleSpinBox()
        self.epsilon_spin.setDecimals(3)
        self.epsilon_spin.setRange(0.001, 100.0)
        self.epsilon_spin.setSingleStep(0.05)
        self.epsilon_spin.setValue(DEFAULT_EPSILON)
        self.epsilon_spin.setToolTip("Radius of the L2 ball around the clicked point.")
        # Not word-wrapped: a wrapped label would make the Compare tab's scrolling column as
        # tall as its preferred height. Its lines are short; the tooltip repeats them.
        self.ball_label = QLabel("Click a plane to place an ε-ball.")
        self.ball_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QGridLayout(self)
        layout.addWidget(QLabel("ε"), 0, 0)
        layout.addWidget(self.epsilon_spin, 0, 1)
        layout.setColumnStretch(2, 1)
        layout.addWidget(self.ball_label, 1, 0, 1, 3)

    def show_epsilon(self, eps: float, step: float | None = None) -> None:
        """Show this radius (and spin step), without asking for a new reading."""
        spin = self.epsilon_spin
        if step is not None:
            spin.setSingleStep(step)
        if spin.value() != eps:  # not while typing it: that would rewrite the text
            spin.blockSignals(True)
            spin.setValue(eps)
            spin.blockSignals(False)

    def show_reading(self, reading: BallReading, comparison: Comparison) -> None:
        """Per model: the share of the ball that flips, and the Jacobian's prediction."""
        where = ", ".join(format_number(float(c), 3) for c in reading.centre)
        rows = "".join(
            f"<tr><td style='color:{MODEL_COLOURS[m]}'><b>{lambda_name(r.config)}</b></td>"
            f"<td align='right'>{percent(true)}</td>"
            f"<td align='right'>{percent(linear)}</td></tr>"
            for m, (r, (true, linear)) in enumerate(
                zip(comparison.models, reading.flips, strict=True)
            )
        )
        text = (
            f"Ball of radius {format_number(reading.eps, 3)} around ({where}):"
            "<table cellspacing='6'><tr><td></td><td>flips</td>"
            f"<td>Jacobian predicts</td></tr>{rows}</table>"
        )
        self.ball_label.setText(text)
        self.ball_label.setToolTip(text)
