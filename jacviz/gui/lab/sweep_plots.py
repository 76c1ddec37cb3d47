"""The Sweep tab's plots: test accuracy, accuracy under L2 PGD and mean ‖J‖F against λ.

λ is on a log axis. λ = 0 has no place on it, so it is drawn one decade left of the smallest
λ > 0, past a dashed break in the axis, and labelled "0" (:func:`lambda_axis`). Each plot
shows every run as a dot (click one to choose it), the mean over the seeds of each λ as a
line with a dash at each λ (not across the break), and the spread over the seeds as a bar
from the smallest to the largest value (min–max, as ``jacviz sweep`` prints it: with 2 to 5
seeds a standard deviation says little). Mean ‖J‖F is on a log axis too: its mean and spread
are of the values, drawn on that axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from jacviz.gui.common import style
from jacviz.nets.sweep import SweepRun

__all__ = ["METRICS", "LambdaAxis", "SweepPlots", "lambda_axis", "run_value", "summarise"]

METRICS: tuple[str, ...] = ("accuracy", "pgd", "frobenius")
"""The three plots, left to right: test accuracy, PGD accuracy at one ε, mean ‖J‖F (log)."""

RUN_COLOUR = style.VERMILLION
MEAN_COLOUR = style.SERIES
MAX_DECADE_TICKS = 8
"""At most this many labelled decades on an axis (every second one, etc., beyond)."""

EMPTY = (
    "No sweep yet: choose the data, λ and seeds on the left and press Start. Each run will "
    "appear here as a dot as soon as it finishes."
)
LEGEND = (
    f"<span style='color:{RUN_COLOUR}'>●</span> one run (click it to choose it) &nbsp; "
    f"<span style='color:{MEAN_COLOUR}'>━</span> mean over seeds &nbsp; "
    f"<span style='color:{MEAN_COLOUR}'>┃</span> min–max over seeds &nbsp; "
    "λ = 0 is drawn left of the dashed break"
)


@dataclass(frozen=True)
class LambdaAxis:
    """Where each λ is drawn on the plots' x axis (log10 λ), and the axis's ticks.

    ``positions[λ]`` is log10 λ for λ > 0; λ = 0 sits at ``zero`` (None without it), one
    decade left of the smallest λ > 0, and the axis is broken at ``break_at`` between them.
    """

    positions: dict[float, float]
    ticks: tuple[tuple[float, str], ...]
    zero: float | None
    break_at: float | None

    @property
    def span(self) -> tuple[float, float]:
        """The x range to show: every position, with half a decade on each side."""
        xs = list(self.positions.values()) or [0.0]
        return min(xs) - 0.5, max(xs) + 0.5


def _decade_label(power: int) -> str:
    return f"{10.0**power:g}"


def lambda_axis(lambdas: Sequence[float]) -> LambdaAxis:
    """The x positions and ticks of ``lambdas`` (each ≥ 0) on a log axis with λ = 0 at its left."""
    positive = sorted({float(v) for v in lambdas if v > 0})
    positions = {v: math.log10(v) for v in positive}
    ticks: list[tuple[float, str]] = []
    if positive:
        low, high = math.floor(positions[positive[0]]), math.ceil(positions[positive[-1]])
        step = max(1, math.ceil((high - low + 1) / MAX_DECADE_TICKS))
        ticks = [(float(k), _decade_label(k)) for k in range(low, high + 1, step)]
    zero = break_at = None
    if any(v == 0 for v in lambdas):
        zero = (math.floor(positions[positive[0]]) - 1.0) if positive else 0.0
        positions[0.0] = zero
        ticks = [(zero, "0"), *ticks]
        break_at = zero + 0.5 if positive else None
    return LambdaAxis(positions, tuple(ticks), zero, break_at)


def run_value(run: SweepRun, metric: str, epsilon: float | None) -> float:
    """What ``run`` shows on the plot of ``metric`` (NaN where it has nothing to show).

    ``"accuracy"``: test accuracy (train accuracy without held-out points); ``"pgd"``: the
    accuracy under L2 PGD at ``epsilon``; ``"frobenius"``: mean ‖J‖F.
    """
    if metric == "accuracy":
        value = run.test_accuracy if run.test_accuracy is not None else run.train_accuracy
    elif metric == "pgd":
        value = run.pgd_accuracy.get(epsilon, math.nan) if epsilon is not None else math.nan
    else:
        value = run.mean_jacobian_frobenius
    return float(value) if value is not None and math.isfinite(value) else math.nan


def summarise(
    runs: Sequence[SweepRun], metric: str, epsilon: float | None
) -> dict[float, tuple[float, float, float]]:
    """Per λ with at least one finite value: (mean, min, max) over its runs' values."""
    by_lambda: dict[float, list[float]] = {}
    for run in runs:
        value = run_value(run, metric, epsilon)
        if math.isfinite(value) and (metric != "frobenius" or value > 0):
            by_lambda.setdefault(run.jr_lambda, []).append(value)
    return {
        lam: (float(np.mean(values)), min(values), max(values))
        for lam, values in sorted(by_lambda.items())
    }


class _MetricPlot:
    """One plot of the three: spread bars, mean line, dots and the ring of the chosen run."""

    def __init__(self, plot: pg.PlotItem, metric: str, on_click: object) -> None:
        self.plot, self.metric = plot, metric
        self.log = metric == "frobenius"
        plot.setMenuEnabled(False)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setLabel("bottom", "λ (log scale; 0 left of the break)")
        for axis in ("bottom", "left"):
            plot.getAxis(axis).enableAutoSIPrefix(False)
        self.spread = pg.ErrorBarItem(
            x=np.zeros(0), y=np.zeros(0), pen=style.pen(MEAN_COLOUR, 1.5), beam=0.12
        )
        self.mean = pg.PlotDataItem(
            pen=style.pen(MEAN_COLOUR, 2.0),
            connect="finite",
            symbol="_",
            symbolSize=18,
            symbolPen=style.pen(MEAN_COLOUR, 2.0),
            symbolBrush=pg.mkBrush(MEAN_COLOUR),
        )
        self.dots = pg.ScatterPlotItem(
            size=9,
            pen=pg.mkPen(style.POINT_EDGE),
            brush=pg.mkBrush(RUN_COLOUR),
            hoverable=True,
            hoverSize=12,
            tip=lambda x, y, data: f"λ = {data[0]:g}, seed {data[1]} (click to choose)",
        )
        self.dots.sigClicked.connect(on_click)
        self.ring = pg.ScatterPlotItem(
            size=18, pen=style.pen(style.BLACK, 2.0), brush=pg.mkBrush(None)
        )
        self.gap = pg.InfiniteLine(
            angle=90, pen=style.pen(style.GREY, 1.0, style=Qt.PenStyle.DashLine)
        )
        self.empty = pg.TextItem("no runs yet", color=style.GREY, anchor=(0.5, 0.5))
        for item in (self.spread, self.mean, self.dots, self.ring):
            plot.addItem(item)
        plot.addItem(self.gap, ignoreBounds=True)
        plot.addItem(self.empty, ignoreBounds=True)

    def _y(self, value: float) -> float:
        return math.log10(value) if self.log else value

    def clear(self) -> None:
        self.mean.setData([], [])
        self.spread.setData(x=np.zeros(0), y=np.zeros(0), top=np.zeros(0), bottom=np.zeros(0))
        self.dots.setData([])
        self.ring.setData([])
        self.gap.setVisible(False)
        self.empty.setVisible(True)
        self.plot.setXRange(-1.0, 1.0, padding=0)
        self.plot.setYRange(0.0, 1.0, padding=0)
        self.empty.setPos(0.0, 0.5)
        self.plot.getAxis("bottom").setTicks([[], []])  # no numbers without runs
        self.plot.getAxis("left").setTicks([[], []])

    def show(
        self,
        axis: LambdaAxis,
        runs: Sequence[SweepRun],
        epsilon: float | None,
        chosen: tuple[float, int] | None,
    ) -> None:
        spots, ys = [], []
        for run in runs:
            value = run_value(run, self.metric, epsilon)
            if not math.isfinite(value) or (self.log and value <= 0):
                continue
            key = (run.jr_lambda, run.seed)
            spots.append({"pos": (axis.positions[run.jr_lambda], self._y(value)), "data": key})
            ys.append(self._y(value))
        self.dots.setData(spots)
        stats = summarise(runs, self.metric, epsilon)
        xs = np.array([axis.positions[lam] for lam in stats], dtype=float)
        means = np.array([self._y(mean) for mean, _, _ in stats.values()], dtype=float)
        lows = np.array([self._y(low) for _, low, _ in stats.values()], dtype=float)
        highs = np.array([self._y(high) for _, _, high in stats.values()], dtype=float)
        self.spread.setData(x=xs, y=means, top=highs - means, bottom=means - lows)
        # The mean's line never crosses the axis break: λ = 0 stands apart.
        line_x, line_y = list(xs), list(means)
        if 0.0 in stats and len(stats) > 1:
            line_x.insert(1, math.nan)
            line_y.insert(1, math.nan)
        self.mean.setData(line_x, line_y)
        self.ring.setData(pos=[s["pos"] for s in spots if s["data"] == chosen])
        self.gap.setVisible(axis.break_at is not None)
        if axis.break_at is not None:
            self.gap.setValue(axis.break_at)
        self.empty.setVisible(not spots)
        self.plot.getAxis("bottom").setTicks([list(axis.ticks), []])
        self.plot.setXRange(*axis.span, padding=0)
        if self.log:
            self._log_ticks(ys)
            if ys:
                self.plot.setYRange(min(ys) - 0.2, max(ys) + 0.2, padding=0)
        else:
            self.plot.getAxis("left").setTicks(None)
            self.plot.setYRange(0.0, 1.0, padding=0.04)

    def _log_ticks(self, ys: Sequence[float]) -> None:
        """Decades labelled (and 2× and 5× them within 2 decades of data); 2..9× minor."""
        if not ys:
            return
        low, high = math.floor(min(ys)) - 2, math.ceil(max(ys)) + 2
        narrow = max(ys) - min(ys) < 2.0
        major = [(float(k), _decade_label(k)) for k in range(low, high + 1)]
        minor = []
        for k in range(low, high):
            for m in range(2, 10):
                label = f"{m * 10.0**k:g}" if narrow and m in (2, 5) else ""
                (major if label else minor).append((k + math.log10(m), label))
        self.plot.getAxis("left").setTicks([major, minor])


class SweepPlots(QWidget):
    """The three plots against λ, with a legend line above them.

    Signals
    -------
    sigRunClicked(float, int)
        The user clicked the dot of the run (λ, seed).
    """

    sigRunClicked = pyqtSignal(float, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        self.caption = pg.LabelItem(justify="left", size="9pt", color=style.BLACK)
        self.canvas.addItem(self.caption, row=0, col=0, colspan=3)
        self.plots: dict[str, _MetricPlot] = {}
        for col, metric in enumerate(METRICS):
            plot = self.canvas.addPlot(row=1, col=col)
            self.plots[metric] = _MetricPlot(plot, metric, self._on_dots_clicked)
        self.plots["frobenius"].plot.setLabel("left", "log scale")
        self.canvas.setMinimumSize(600, 260)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.show_empty()

    def show_empty(self, message: str = EMPTY) -> None:
        """No runs: every plot empty, and ``message`` (what to do) above them."""
        self.caption.setText(message)
        self._titles(None, "test")
        for plot in self.plots.values():
            plot.clear()

    def show_runs(
        self,
        lambdas: Sequence[float],
        runs: Sequence[SweepRun],
        epsilon: float | None,
        chosen: tuple[float, int] | None = None,
    ) -> None:
        """Draw ``runs`` of a sweep over ``lambdas``, PGD at ``epsilon``, ``chosen`` ringed."""
        measured_on = runs[0].measured_on if runs else "test"
        self.caption.setText(LEGEND)
        self._titles(epsilon, measured_on)
        axis = lambda_axis(lambdas)
        for plot in self.plots.values():
            plot.show(axis, runs, epsilon, chosen)

    def _titles(self, epsilon: float | None, measured_on: str) -> None:
        held_out = measured_on == "test"
        pgd = "accuracy under L2 PGD" + (f", ε = {epsilon:g}" if epsilon is not None else "")
        titles = {
            "accuracy": "test accuracy" if held_out else "train accuracy (no test points)",
            "pgd": pgd + ("" if held_out else " (train points)"),
            "frobenius": "mean ‖J‖F" + (" (test points)" if held_out else " (train points)"),
        }
        for metric, title in titles.items():
            self.plots[metric].plot.setTitle(title, size="10pt")

    def _on_dots_clicked(self, _item: object, points: Sequence, _event: object = None) -> None:
        if len(points):
            lam, seed = points[0].data()
            self.sigRunClicked.emit(float(lam), int(seed))
