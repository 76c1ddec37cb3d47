"""Live training curves: the two loss terms, train and test accuracy, and mean test ‖J‖_F.

Three stacked plots sharing the step axis. The loss plot is logarithmic: cross-entropy falls
over orders of magnitude, and the Jacobian term λ·‖J‖²_F is drawn beside it, separately, so
the user sees which of the two the optimizer is trading.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt

from jacviz.gui import style
from jacviz.gui.lab.lab_controller import Curves


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
        self.setMinimumSize(320, 420)
        self.loss_plot = self._plot(0, "Loss (training batches)", log=True)
        self.loss_plot.setLogMode(y=True)
        self.accuracy_plot = self._plot(1, "Accuracy")
        self.accuracy_plot.setYRange(0.0, 1.0, padding=0.02)
        self.accuracy_plot.enableAutoRange(axis="y", enable=False)
        self.frobenius_plot = self._plot(2, "Mean ‖J‖F on test points")
        self.frobenius_plot.setLabel("bottom", "step")
        for plot in (self.accuracy_plot, self.frobenius_plot):
            plot.setXLink(self.loss_plot)
        # Legends where the curves are not: losses fall (top right is free), accuracies rise.
        self.loss_plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.accuracy_plot.addLegend(offset=(-8, -8), labelTextSize="8pt")
        self.cross_entropy = self._curve(self.loss_plot, style.BLUE, "cross-entropy")
        self.jacobian_term = self._curve(self.loss_plot, style.VERMILLION, "λ·‖J‖²F")
        self.train_accuracy = self._curve(self.accuracy_plot, style.BLUE, "train")
        self.test_accuracy = self._curve(
            self.accuracy_plot, style.ORANGE, "test", Qt.PenStyle.DashLine
        )
        self.test_frobenius = self._curve(self.frobenius_plot, style.GREEN)

    def _plot(self, row: int, title: str, log: bool = False) -> pg.PlotItem:
        axes = {"left": LogAxis("left")} if log else None
        plot = self.addPlot(row=row, col=0, title=title, axisItems=axes)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setMenuEnabled(False)
        left = plot.getAxis("left")
        left.setWidth(48)  # equal widths keep the three step axes aligned
        left.enableAutoSIPrefix(False)  # a "(x0.001)" factor would hide the actual losses
        return plot

    @staticmethod
    def _curve(
        plot: pg.PlotItem, colour: str, name: str | None = None, dash: Qt.PenStyle | None = None
    ) -> pg.PlotDataItem:
        return plot.plot(pen=style.pen(colour, 2.0, style=dash), name=name)

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
            item.setData(step[shown], values[shown])
