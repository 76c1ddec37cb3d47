"""Benchmark the lab's plane through three inputs on the digits, in one run.

Prints medians [min, max] over ``--rounds`` (absolute times on this shared 2-core machine vary
a lot; the ratio, measured interleaved in the same run, is what to compare):

- ``train_both_s``: seconds to train λ = 0 and λ = 0.01 with the page's defaults (64-64 tanh,
  Adam 0.003, 2000 steps, random projections), progress snapshots included (what Train does);
- ``fields_ms``: milliseconds for one model's fields over a 120 × 120 image of the plane
  (classes, confidence, margin and the exact ‖J‖F of the full 10 × 64 Jacobian);
- ``pullback_over_tangents``: that field by 10 pull-backs (``jacrev``, the cheaper side, what
  the page uses) over 64 forward tangents (``jacfwd``), interleaved: why the cheaper side;
- ``reading_ms``: milliseconds for one model's reading at the probe (J, its SVD, the
  probabilities), done off the GUI thread on every move;
- ``probe_gui_ms``: milliseconds the GUI thread spends per probe move (the input drawn at once,
  the readings only requested), on an offscreen page.

Run: ``python benchmarks/bench_plane.py [--rounds 5]``. Needs scikit-learn (the digits).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jacviz.math.grid import sample_points
from jacviz.nets import input_plane
from jacviz.nets.data import load_digits
from jacviz.nets.input_plane import InputPlane, held_out, plane_fields, read_point
from jacviz.nets.plane_training import PLANE_CONFIG, paired_configs, training_steps


def summary(values: list[float]) -> str:
    """Median [min, max] to 3 significant digits."""
    return f"{statistics.median(values):.3g} [{min(values):.3g}, {max(values):.3g}]"


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    data = load_digits()
    models = []
    train = []
    for _ in range(max(1, rounds // 2)):
        train.append(
            timed(
                lambda: models.append(list(training_steps(data, paired_configs(PLANE_CONFIG)))[-1])
            )
        )
    print(f"train_both_s            {summary(train)}")
    model = models[-1][0].model
    points = held_out(data)[0]
    plane = InputPlane.through(points[[5, 3, 8]])
    domain = plane.default_domain()
    fields = [1e3 * timed(lambda: plane_fields(model, plane, domain, 120)) for _ in range(rounds)]
    print(f"fields_ms               {summary(fields)}")
    inputs = plane.lift(sample_points(domain, 120, 120))
    ratios = []
    original = torch.func.jacrev
    for _ in range(rounds):
        pullback = timed(lambda: input_plane.jacobians(model, inputs))
        torch.func.jacrev = torch.func.jacfwd  # the same code on the other side of J
        try:
            tangents = timed(lambda: input_plane.jacobians(model, inputs))
        finally:
            torch.func.jacrev = original
        ratios.append(pullback / tangents)
    print(f"pullback_over_tangents  {summary(ratios)}")
    readings = [1e3 * timed(lambda: read_point(model, points[0])) for _ in range(20 * rounds)]
    print(f"reading_ms              {summary(readings)}")
    print(f"probe_gui_ms            {summary(probe_moves(data, models[-1], rounds))}")


def probe_moves(data, models, rounds: int) -> list[float]:
    """GUI-thread milliseconds per probe move on an offscreen page showing ``models``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    from jacviz.gui.lab.plane_page import PlanePage

    app = QApplication.instance() or QApplication(sys.argv[:1])
    page = PlanePage()
    page.resize(1366, 768)
    page.show()
    page.set_data(data)
    page.set_models(data, models)
    while page.busy():
        app.processEvents()
        time.sleep(0.005)
    start, end = page.plane.coordinates[0], page.plane.coordinates[1]
    times = []
    for k in range(40 * rounds):
        t = (k % 40) / 39
        times.append(1e3 * timed(lambda t=t: page.set_probe((1 - t) * start + t * end)))
        app.processEvents()
    page.shutdown()
    return times


if __name__ == "__main__":
    main()
