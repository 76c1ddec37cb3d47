"""Measure how fast the app responds, offscreen: a probe update, a map change, a zoom.

Also how soon a new map's first (coarse) heatmap is drawn, and how long the heatmap of the
part in view takes after a zoom (at screen resolution).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PyQt6.QtCore import QEvent, QObject, QSettings
from PyQt6.QtWidgets import QApplication

from jacviz.gui.mapview.magnifier import magnifiers_in
from jacviz.gui.shell.main_window import MainWindow
from jacviz.math.maps import FormulaMap, TorchMap
from jacviz.math.presets import preset
from jacviz.nets.networks import make_mlp
from jacviz.state.view import ViewState
from jacviz.support.threads import limit_blas_threads

PROBE_TARGET_MS = 8.0
FORMULA_PROBE_TARGET_MS = 5.0
FORMULA_CHANGE_TARGET_MS = 50.0
MLP_CHANGE_TARGET_MS = 100.0
FORMULAS = [preset(name).formula for name in ("(x² + y, xy)", "Complex exp", "Swirl", "Hénon map")]


def settle(app: QApplication, window: MainWindow) -> None:
    """Process events until the background heatmap has arrived and been drawn."""
    while window.controller.heatmap_runner.busy:
        app.processEvents()
        time.sleep(0.0005)
    app.processEvents()


class PaintCounter(QObject):
    """Counts paint events of the watched widgets, to prove the timings include painting."""

    def __init__(self, widgets: list) -> None:
        super().__init__()
        self.count = 0
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def redraw(app: QApplication, window: MainWindow) -> None:
    """Let Qt paint what changed, as before the next frame.

    A graphics scene reports changes through a queued call, and the view then posts its
    repaint: two rounds of event processing paint the dirty regions of both planes and the
    inspector (PaintCounter checks that they do).
    """
    app.processEvents()
    app.processEvents()


class LayoutCounter(QObject):
    """Counts layout requests of every widget (a label's new text asks for one)."""

    def __init__(self, app: QApplication) -> None:
        super().__init__()
        self.count = 0
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def probe_updates(
    app: QApplication, window: MainWindow, count: int, cpu: list[float] | None = None
) -> list[float]:
    """Milliseconds per probe move (compute + redraw), along a circle in the domain.

    ``cpu``, if given, receives the GUI thread's CPU milliseconds of each move: on a machine
    shared with other work the wall time also counts the waits for a core, this does not.
    """
    domain = window.controller.state.domain
    cx, cy = (domain.xmin + domain.xmax) / 2, (domain.ymin + domain.ymax) / 2
    radius = 0.3 * min(domain.width, domain.height)
    times = []
    for angle in np.linspace(0, 4 * np.pi, count):
        start, start_cpu = time.perf_counter(), time.thread_time()
        window.controller.set_probe(cx + radius * np.cos(angle), cy + radius * np.sin(angle))
        redraw(app, window)
        times.append(1e3 * (time.perf_counter() - start))
        if cpu is not None:
            cpu.append(1e3 * (time.thread_time() - start_cpu))
    return times


def without_magnifier(
    app: QApplication, window: MainWindow, count: int
) -> tuple[list[float], list[float]]:
    """:func:`probe_updates` with View → Magnifier off and on: what the two insets cost.

    Moves alternate in blocks of 10 with the magnifier off and on, so that a machine whose
    speed drifts during the run shifts both alike; returns the milliseconds of the moves
    without it and of those with it.
    """
    magnifiers = magnifiers_in(window)
    off: list[float] = []
    on: list[float] = []
    for _block in range(max(1, count // 10)):
        for shown, times in ((False, off), (True, on)):
            for magnifier in magnifiers:
                magnifier.set_enabled(shown)
            times.extend(probe_updates(app, window, 10))
    return off, on


def map_changes(app: QApplication, window: MainWindow, change, count: int) -> list[float]:
    """Milliseconds per map change: grid lines, probe, 256² heatmap, all drawn."""
    times = []
    for index in range(count):
        start = time.perf_counter()
        change(index)
        settle(app, window)
        redraw(app, window)
        times.append(1e3 * (time.perf_counter() - start))
    return times


class HeatmapClock:
    """Records when each heatmap of a map change reached the input plane."""

    def __init__(self, window: MainWindow) -> None:
        self.start = 0.0
        self.first: list[float] = []
        self._waiting = False
        # Connected after the window's own slot: the plane has taken the picture by then.
        window.controller.sigHeatmapChanged.connect(self._on_heatmap)

    def begin(self) -> None:
        self.start = time.perf_counter()
        self._waiting = True

    def _on_heatmap(self, _image: object) -> None:
        if self._waiting:
            self._waiting = False
            self.first.append(1e3 * (time.perf_counter() - self.start))


def timed_changes(app: QApplication, window: MainWindow, change, count: int, clock) -> list:
    """:func:`map_changes`, with the time to the first heatmap of each on ``clock``."""

    def started(index: int) -> None:
        clock.begin()
        change(index)

    return map_changes(app, window, started, count)


ZOOMS = [
    (0.2, 0.7, -0.4, 0.1),
    (-1.0, -0.2, 0.3, 1.1),
    (0.5, 0.9, 0.5, 0.9),
    (-0.6, 0.6, -0.6, 0.6),
]
"""Boxes of the domain [-2, 2]² to zoom into, as fractions of its half-width."""


def refinements(app: QApplication, window: MainWindow, count: int) -> tuple[list[float], int]:
    """Milliseconds from a settled zoom to its detail drawn, and the detail's points.

    The view is set, the plane's range settles (a redraw), and the plane's request is handed
    to the controller as the window does once the view rests; the time runs until the field
    of the part in view is drawn.
    """
    plane, controller = window.input_plane, window.controller
    domain = controller.state.domain
    times, points = [], 0
    for index in range(count):
        x0, x1, y0, y1 = (2.0 * v for v in ZOOMS[index % len(ZOOMS)])
        plane.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        redraw(app, window)
        request = plane.view_request()
        start = time.perf_counter()
        controller.set_view(request)
        while plane.detail.region != request.region:
            app.processEvents()
            time.sleep(0.0005)
        redraw(app, window)
        times.append(1e3 * (time.perf_counter() - start))
        detail = plane.detail.image.image
        points = 0 if detail is None else detail.shape[0] * detail.shape[1]
    plane.frame(np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax]))
    controller.set_view(None)
    settle(app, window)
    return times, points


def first_paint_ratio() -> dict[str, object]:
    """The window's first paint over a bare pyqtgraph window's, and its spread.

    Measured by ``bench_startup.measure_first_paint`` in 3 pairs of runs; empty if that
    benchmark is not there.
    """
    try:
        startup = importlib.import_module("bench_startup")
    except ImportError:
        return {}
    measure = getattr(startup, "measure_first_paint", None)
    if measure is None:
        return {}
    measured = measure(pairs=3)
    keys = ("first_paint_over_bare_pyqtgraph", "first_paint_over_bare_pyqtgraph_spread")
    return {key: measured[key] for key in keys if key in measured}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(probe_count: int, change_count: int) -> dict[str, object]:
    app = QApplication.instance() or QApplication([])
    limit_blas_threads()  # as the app does after its first picture (run_app)
    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    window = MainWindow(ViewState(), settings)
    window.resize(1500, 860)
    window.show()
    settle(app, window)
    controller = window.controller

    # Warm up every path once (lambdify, torch kernels, first paints).
    map_changes(app, window, lambda i: controller.set_formula(FORMULAS[i % len(FORMULAS)]), 4)
    probe_updates(app, window, 10)

    clock = HeatmapClock(window)
    formula_maps = [FormulaMap.from_text(text, isolated=False) for text in FORMULAS]
    timed_changes(
        app, window, lambda i: controller.set_map(formula_maps[i % len(formula_maps)]), 8, clock
    )
    coarse_formula = list(clock.first)
    refine_formula, refine_points = refinements(app, window, change_count)

    painted = PaintCounter(
        [window.input_plane.viewport(), window.output_plane.viewport(), window.inspector]
    )
    laid_out = LayoutCounter(app)
    formula_cpu: list[float] = []
    formula_probe = probe_updates(app, window, probe_count, formula_cpu)
    paints_per_probe_update = painted.count / probe_count
    layouts_per_probe_update = laid_out.count / probe_count
    app.removeEventFilter(laid_out)
    formula_bare, formula_inset = without_magnifier(app, window, probe_count)
    formula_change = map_changes(
        app, window, lambda i: controller.set_formula(FORMULAS[i % len(FORMULAS)]), change_count
    )
    # Formulas never shown before: each is checked in a child process first.
    new_formula_change = map_changes(
        app, window, lambda i: controller.set_formula(f"x**2 + y + {i + 1}/7, x*y"), change_count
    )

    mlps = [TorchMap(make_mlp([2, 64, 64, 64, 2], seed=s), f"mlp{s}", 2, 2) for s in (0, 1)]
    map_changes(app, window, lambda i: controller.set_map(mlps[i % 2]), 2)
    mlp_cpu: list[float] = []
    laid_out = LayoutCounter(app)
    mlp_probe = probe_updates(app, window, probe_count, mlp_cpu)
    layouts_per_probe_update_mlp = laid_out.count / probe_count
    app.removeEventFilter(laid_out)
    mlp_bare, mlp_inset = without_magnifier(app, window, probe_count)
    clock.first.clear()
    mlp_change = timed_changes(
        app, window, lambda i: controller.set_map(mlps[i % 2]), change_count, clock
    )
    coarse_mlp = list(clock.first)
    refine_mlp, _ = refinements(app, window, max(3, change_count // 4))
    window.close()

    probe_all = formula_probe + mlp_probe
    return {
        "probe_update_ms_median": statistics.median(probe_all),
        "probe_update_ms_p95": percentile(probe_all, 95),
        "probe_update_ms_median_formula": statistics.median(formula_probe),
        "probe_update_ms_p95_formula": percentile(formula_probe, 95),
        "probe_update_ms_median_mlp": statistics.median(mlp_probe),
        "probe_update_ms_p95_mlp": percentile(mlp_probe, 95),
        "probe_update_ms_median_formula_no_magnifier": statistics.median(formula_bare),
        "probe_update_ms_median_mlp_no_magnifier": statistics.median(mlp_bare),
        "magnifier_ms_formula": statistics.median(formula_inset) - statistics.median(formula_bare),
        "magnifier_ms_mlp": statistics.median(mlp_inset) - statistics.median(mlp_bare),
        "probe_update_cpu_ms_formula": statistics.median(formula_cpu),
        "probe_update_cpu_ms_mlp": statistics.median(mlp_cpu),
        "map_change_ms_formula": statistics.median(formula_change),
        "map_change_ms_formula_p95": percentile(formula_change, 95),
        "map_change_ms_mlp": statistics.median(mlp_change),
        "map_change_ms_mlp_p95": percentile(mlp_change, 95),
        "map_change_ms_formula_new": statistics.median(new_formula_change),
        "heatmap_coarse_ms": statistics.median(coarse_mlp),
        "heatmap_coarse_ms_formula": statistics.median(coarse_formula),
        "heatmap_refine_ms": statistics.median(refine_formula),
        "heatmap_refine_ms_p95": percentile(refine_formula, 95),
        "heatmap_refine_ms_mlp": statistics.median(refine_mlp),
        "heatmap_refine_points": refine_points,
        "mlp_jacobian_method": mlps[0].jacobian_method,
        "paints_per_probe_update": paints_per_probe_update,
        "layouts_per_probe_update": layouts_per_probe_update,
        "layouts_per_probe_update_mlp": layouts_per_probe_update_mlp,
        "load_average": os.getloadavg()[0],
        "probe_updates": probe_count,
        "map_changes": change_count,
    }


def report(result: dict[str, object]) -> None:
    def line(name: str, value: float, target: float | None = None) -> None:
        verdict = "" if target is None else f"   target ≤ {target:g} ms   "
        verdict += "" if target is None else ("PASS" if value <= target else "MISS")
        print(f"{name:<44} {value:8.2f} ms{verdict}")

    print("jacviz interaction benchmark (offscreen; compute + redraw)")
    line(
        "probe update, formula, median",
        result["probe_update_ms_median_formula"],
        FORMULA_PROBE_TARGET_MS,
    )
    line("probe update, formula, 95th percentile", result["probe_update_ms_p95_formula"])
    line(
        "probe update, MLP 2-64-64-64-2, median",
        result["probe_update_ms_median_mlp"],
        PROBE_TARGET_MS,
    )
    line("probe update, MLP, 95th percentile", result["probe_update_ms_p95_mlp"])
    line(
        "probe update, formula, View → Magnifier off",
        result["probe_update_ms_median_formula_no_magnifier"],
    )
    line(
        "probe update, MLP, View → Magnifier off",
        result["probe_update_ms_median_mlp_no_magnifier"],
    )
    line("magnifier's cost per probe update, formula", result["magnifier_ms_formula"])
    line("magnifier's cost per probe update, MLP", result["magnifier_ms_mlp"])
    line("probe update, formula, GUI thread's CPU", result["probe_update_cpu_ms_formula"])
    line("probe update, MLP, GUI thread's CPU", result["probe_update_cpu_ms_mlp"])
    line(
        "map change, formula (grid + 256² heatmap)",
        result["map_change_ms_formula"],
        FORMULA_CHANGE_TARGET_MS,
    )
    line("map change, MLP (grid + 256² heatmap)", result["map_change_ms_mlp"], MLP_CHANGE_TARGET_MS)
    line("map change, formula never shown before", result["map_change_ms_formula_new"])
    line("first (coarse) heatmap after a map change, MLP", result["heatmap_coarse_ms"])
    line("first (coarse) heatmap, formula", result["heatmap_coarse_ms_formula"])
    line("zoom: heatmap of the view drawn, formula", result["heatmap_refine_ms"])
    line("zoom: heatmap of the view drawn, MLP", result["heatmap_refine_ms_mlp"])
    print(f"points in the zoomed view's heatmap: {result['heatmap_refine_points']}")
    if result.get("first_paint_over_bare_pyqtgraph") is not None:
        ratio = result["first_paint_over_bare_pyqtgraph"]
        print(f"{'first paint over a bare pyqtgraph window':<44} {ratio:8.2f} ×")
    print(f"MLP Jacobian path: {result['mlp_jacobian_method']}")
    print(f"widgets painted per probe update: {result['paints_per_probe_update']:.2f} (of 3)")
    print(
        f"layout requests per probe update: {result['layouts_per_probe_update']:.2f} "
        f"(formula), {result['layouts_per_probe_update_mlp']:.2f} (MLP, its layer table shown)"
    )
    print(f"load average (1 min) at the end: {result['load_average']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--probes", type=int, default=200, help="probe updates to time")
    parser.add_argument("--changes", type=int, default=20, help="map changes to time")
    args = parser.parse_args(argv)
    result = run(args.probes, args.changes)
    result.update(first_paint_ratio())
    if args.json:
        print(json.dumps(result))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
