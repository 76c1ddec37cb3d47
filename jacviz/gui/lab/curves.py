"""Live training curves: the two loss terms, train and test accuracy, and mean test ‖J‖_F.

Three stacked plots sharing the step axis. The loss plot is logarithmic: cross-entropy falls
over orders of magnitude, and the Jacobian term λ·‖J‖²_F is drawn beside it, separately, so
the user sees which of the two the optimizer is trading.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt

from jacviz.gui.common import style
from jacviz.gui.lab.lab_controller import SNAPSHOT_EVERY, Curves


class LogAxis(pg.AxisItem):
    """A log axis with ticks at 1, 2 and 5 times the powers of ten.

    pyqtgraph ticks all of 1..9 × 10^k when the range spans less than a few decades, and their
    labels crowd into each other near the top of each decade.
    """

    def logTickValues(
        self, minVal: float, maxVal: float, size: float, stdTicks: list
    ) -> list[tuple[float | None, list[float]]]:
        """Decades where pyqtgraph puts them, then only the 2× and 5× of the minor ticks."""
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        kept = (0.0, float(np.log10(2)), float(np.log10(5)))
        return [
            (spacing, values)
            if spacing is not None
            else (None, [v for v in values if np.isclose(v - np.floor(v), kept).any()])
            for spacing, values in ticks
        ]


class CurvesView(pg.GraphicsLayoutWidget):
    """Loss, accuracy and ‖J‖_F against the training step; draws the :class:`Curves` given."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(260, 420)
        self.ci.setContentsMargins(2, 2, 14, 2)  # room for the last step label on the right
        # Each curve is named in its plot's title, in its colour: a legend would sit on the
        # curves somewhere, whichever corner it takes.
        penalty = _named("λ·‖J‖²<sub>F</sub>", style.VERMILLION)
        terms = f"{_named('cross-entropy', style.SERIES)} and {penalty}"
        self.loss_plot = self._plot(0, f"Loss: {terms}", log=True)
        self.loss_plot.setLogMode(y=True)
        self.accuracy_plot = self._plot(
            1,
            f"Accuracy: {_named('train', style.SERIES)} and "
            f"{_named('test', style.SERIES_HELD_OUT)} (dashed)",
        )
        self.accuracy_plot.setYRange(0.0, 1.0, padding=0.02)
        self.accuracy_plot.enableAutoRange(axis="y", enable=False)
        self.frobenius_plot = self._plot(
            2, f"Mean {_named('‖J‖<sub>F</sub>', style.GREEN)} on test points"
        )
        self.frobenius_plot.setLabel("bottom", "step")
        self.frobenius_plot.setLimits(yMin=0.0)  # a norm: the padding must not go below 0
        self.plots = (self.loss_plot, self.accuracy_plot, self.frobenius_plot)
        for plot in self.plots[1:]:
            plot.setXLink(self.loss_plot)
        self.cross_entropy = self._curve(self.loss_plot, style.SERIES)
        self.jacobian_term = self._curve(self.loss_plot, style.VERMILLION)
        self.train_accuracy = self._curve(self.accuracy_plot, style.SERIES)
        self.test_accuracy = self._curve(
            self.accuracy_plot, style.SERIES_HELD_OUT, Qt.PenStyle.DashLine
        )
        self.test_frobenius = self._curve(self.frobenius_plot, style.GREEN)

    def _plot(self, row: int, title: str, log: bool = False) -> pg.PlotItem:
        axes = {"left": LogAxis("left")} if log else None
        plot = self.addPlot(row=row, col=0, axisItems=axes)
        plot.setTitle(title, size="9pt")
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setMenuEnabled(False)
        left = plot.getAxis("left")
        left.setWidth(48)  # equal widths keep the three step axes aligned
        left.enableAutoSIPrefix(False)  # a "(x0.001)" factor would hide the actual losses
        return plot

    @staticmethod
    def _curve(plot: pg.PlotItem, colour: str, dash: Qt.PenStyle | None = None) -> pg.PlotDataItem:
        colour_pen = style.pen(colour, 2.0, style=dash)
        return plot.plot(pen=colour_pen, symbolPen=colour_pen, symbolBrush=colour, symbolSize=6)

    def show_curves(self, curves: Curves) -> None:
        """Draw the history of a run (empty arrays clear the plots)."""
        step = curves.step
        for item, values, logarithmic in (
            (self.cross_entropy, curves.cross_entropy, True),
            (self.jacobian_term, curves.jacobian_term, True),
            (self.train_accuracy, curves.train_accuracy, False),
            (self.test_accuracy, curves.test_accuracy, False),
            (self.test_frobenius, curves.test_frobenius, False),
        ):
            # NaN marks snapshots without a value (no λ term, no test points); a log axis
            # cannot show 0 either.
            shown = np.isfinite(values)
            if logarithmic:
                shown &= values > 0
            # A lone value (the untrained model) is a line of no length: mark it with a dot.
            item.setSymbol("o" if np.count_nonzero(shown) == 1 else None)
            item.setData(step[shown], values[shown])
        if len(step) > 1:
            self.loss_plot.enableAutoRange(axis="x")
        else:  # pyqtgraph would centre a lone step 0 in ±1000 steps
            self.loss_plot.setXRange(0, 10 * SNAPSHOT_EVERY, padding=0.02)


def _named(name: str, colour: str) -> str:
    """``name`` in ``colour``, bold, for a plot title."""
    return f"<span style='color:{colour}; font-weight:bold'>{name}</span>"
