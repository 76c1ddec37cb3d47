"""The Compare tab's plots: accuracy under attack against ε, and the estimator's spread.

:class:`RobustnessCurves` draws, for both models, accuracy under FGSM and PGD in L2 and L∞
over the sweep of attack radii (upper bounds: an attack can miss errors, never invent them).
:class:`EstimatorView` shows how the random-projection estimate of ‖J‖²_F that the
regularizer can train with spreads around the exact value, for a number of projections the
user picks.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QGridLayout, QGroupBox, QLabel, QSizePolicy, QSpinBox, QVBoxLayout

from jacviz.gui.common import style
from jacviz.gui.lab.compare_style import (
    ATTACK_STYLES,
    MODEL_COLOURS,
    MODEL_TITLES,
    UPPER_BOUND,
    attack_description,
)
from jacviz.nets.comparison import Comparison, EstimatorSpread, norm_name
from jacviz.state.compare import ESTIMATOR_DRAWS, lambda_name

__all__ = ["EstimatorView", "RobustnessCurves"]

_HISTOGRAM_BINS = 41


def _marked_curve(colour: str, line: Qt.PenStyle, symbol: str) -> pg.PlotDataItem:
    return pg.PlotDataItem(
        pen=style.pen(colour, 2.0, style=line),
        symbol=symbol,
        symbolSize=6,
        symbolPen=pg.mkPen(colour),
        symbolBrush=pg.mkBrush(colour),
    )


class RobustnessCurves(QGroupBox):
    """Accuracy under attack against ε, per model and (attack, norm), with a legend below.

    Attributes
    ----------
    curves : dict
        ``{(model, attack, norm): PlotDataItem}``.

    """

    def __init__(self) -> None:
        super().__init__("Accuracy under attack (upper bounds)")
        self.setToolTip(
            " ".join(attack_description(a, n) for a, n in ATTACK_STYLES) + " " + UPPER_BOUND
        )
        # The legend below the plot in three columns, so it never hides a curve and needs
        # little height; the minimum leaves the plot room for both axes above it.
        widget = pg.GraphicsLayoutWidget()
        widget.setMinimumHeight(260)
        self.plot = widget.addPlot(row=0, col=0)
        self.plot.setLabel("bottom", "ε (attack radius)")
        self.plot.setLabel("left", "accuracy (upper bound)")
        self.plot.setYRange(0.0, 1.0, padding=0.03)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMenuEnabled(False)
        for axis in ("bottom", "left"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.curves: dict[tuple[int, str, str], pg.PlotDataItem] = {}
        for model, colour in enumerate(MODEL_COLOURS):
            for (attack, norm), (line, symbol) in ATTACK_STYLES.items():
                item = _marked_curve(colour, line, symbol)
                self.plot.addItem(item)
                self.curves[model, attack, norm] = item
        self.legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-6, colCount=3)
        widget.addItem(self.legend, row=1, col=0)
        self._legend_models = [
            pg.PlotDataItem(pen=style.pen(colour, 3.0)) for colour in MODEL_COLOURS
        ]
        for item, name in zip(self._legend_models, MODEL_TITLES, strict=True):
            self.legend.addItem(item, name)
        for (attack, norm), (line, symbol) in ATTACK_STYLES.items():
            sample = _marked_curve(style.GREY, line, symbol)
            self.legend.addItem(sample, f"{attack.upper()} {norm_name(norm)}")
        QVBoxLayout(self).addWidget(widget)

    def show_comparison(self, comparison: Comparison) -> None:
        """Every curve of both models over the comparison's radii."""
        for (model, attack, norm), item in self.curves.items():
            curve = comparison.models[model].curves[attack, norm]
            item.setData(list(curve.keys()), list(curve.values()))
        self.plot.setXRange(0.0, comparison.epsilons[-1], padding=0.03)
        for sample, result in zip(self._legend_models, comparison.models, strict=True):
            self.legend.getLabel(sample).setText(lambda_name(result.config))


class EstimatorView(QGroupBox):
    """A histogram of estimate / exact − 1 over the regularized model's test points."""

    def __init__(self) -> None:
        super().__init__("Random-projection estimate of ‖J‖²F (λ > 0 model, test points)")
        self.n_proj_spin = QSpinBox()
        self.n_proj_spin.setRange(1, 64)
        self.n_proj_spin.setToolTip("Random projections per estimate of ‖J‖²F.")
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(150)
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "estimate / exact − 1")
        self.plot.setLabel("left", "count")
        for axis in ("bottom", "left"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.histogram = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=style.pen(MODEL_COLOURS[1], 1.5),
            fillBrush=style.brush(MODEL_COLOURS[1], 90),
        )
        self.plot.addItem(self.histogram)
        self.plot.addItem(
            pg.InfiniteLine(
                0.0, angle=90, pen=style.pen(style.BLACK, 1.5, style=Qt.PenStyle.DashLine)
            )
        )
        # One line beside the spin box: a wrapped label under the plot overlapped its axis.
        self.label = QLabel()
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QGridLayout(self)
        layout.addWidget(QLabel("n_proj"), 0, 0)
        layout.addWidget(self.n_proj_spin, 0, 1)
        layout.addWidget(self.label, 0, 2)
        layout.setColumnStretch(2, 1)
        layout.addWidget(self.plot, 1, 0, 1, 3)

    def show_n_proj(self, n_proj: int) -> None:
        """Show this number of projections, without asking for a new reading."""
        if self.n_proj_spin.value() != n_proj:  # not while typing it: that would rewrite it
            self.n_proj_spin.blockSignals(True)
            self.n_proj_spin.setValue(n_proj)
            self.n_proj_spin.blockSignals(False)

    def show_reading(self, spread: EstimatorSpread, comparison: Comparison) -> None:
        """The histogram of the relative errors, their mean and spread against the prediction."""
        errors = spread.relative_errors
        reach = float(np.max(np.abs(errors))) if errors.size else 1.0
        counts, edges = np.histogram(errors, bins=_HISTOGRAM_BINS, range=(-reach, reach))
        self.histogram.setData(edges, counts)
        self.plot.setXRange(-reach, reach, padding=0.02)
        trained = comparison.regularized.config
        how = (
            f"trained with {trained.n_proj} random projection(s)"
            if trained.estimator == "random"
            else "trained with the exact ‖J‖²F"
        )
        self.label.setText(
            f"mean {spread.mean:+.3f}, std {spread.std:.3f} (predicted {spread.predicted_std:.3f})"
        )
        self.label.setToolTip(
            f"{ESTIMATOR_DRAWS} estimates of ‖J‖²F at each of {spread.points} points with "
            f"{spread.n_proj} projection(s) each, relative to the exact value.\nUnbiased: the mean "
            "is about 0. For 2 inputs the std is √(mean c² / (2·n_proj)), "
            "c = (σ₁² − σ₂²)/(σ₁² + σ₂²):\nit falls like 1/√n_proj. "
            f"The model was {how}."
        )
