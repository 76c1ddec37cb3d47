"""Measure the regularization lab window while it trains: plane refreshes and steps per second.

Opens the lab offscreen, presses Play for a few seconds on the configuration
``bench_training.py`` times headless (3-arm spirals, 600 points, a 32-32 tanh MLP, λ = 0.01),
presses Pause, and reads what the window measured: ``regions_refresh_hz``, 256² pictures of the
model drawn per second (target ≥ 30), and ``steps_per_second`` of training in the window. The
GUI thread draws everything it is sent, as on screen, so this includes the cost of drawing.

Each round also trains the same model on the same data headless for as long, in this process,
right before the window does: the trainer's generator pulled flat out with the lab's snapshot
interval and thread policy, no window, no pictures. ``window_over_headless`` is the median of
the rounds' window / headless step rates (target ≥ 0.5: pictures at 30 Hz may cost training at
most half its speed); pairing the rounds keeps the ratio meaningful on a busy machine.

Run: ``python benchmarks/bench_lab_window.py [--seconds 4] [--rounds 3]
[--display regions|frobenius] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PyQt6.QtWidgets import QApplication

from jacviz.gui.lab.lab_controller import SNAPSHOT_EVERY, DataSettings, LabState, ModelSettings
from jacviz.gui.lab.lab_window import LabWindow
from jacviz.nets.fields import DISPLAYS, REGIONS
from jacviz.nets.training import train
from jacviz.support.threads import worker_threads

REFRESH_TARGET = 30.0
RATIO_TARGET = 0.5
STATE = LabState(
    data=DataSettings(name="spirals3", n_points=600, noise=0.05),
    model=ModelSettings(hidden="32,32", steps=1_000_000, jr_lambda=0.01),
)
"""The benchmark's data and model (``display`` is set per run)."""


def spin(app: QApplication, seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def measure(seconds: float, display: str) -> dict:
    """Play the lab for ``seconds`` and return what it measured."""
    app = QApplication.instance() or QApplication(sys.argv)
    window = LabWindow(state=STATE.__class__(**{**STATE.__dict__, "display": display}))
    window.resize(1400, 860)
    window.show()
    controller = window.controller
    while controller.snapshot is None or controller.worker.busy:
        spin(app, 0.05)  # the untrained model, and torch's first-use imports
    window.run_controls.play.click()
    spin(app, seconds)
    window.run_controls.play.click()
    result = {
        "regions_refresh_hz": window.regions_refresh_hz,
        "steps_per_second": window.steps_per_second,
        "steps": controller.snapshot.step,
        "display": display,
        "seconds": seconds,
    }
    window.close()
    window.deleteLater()
    spin(app, 0.1)
    return result


def measure_headless(seconds: float) -> float:
    """Steps per second of the benchmark's run trained headless for ``seconds`` (wall time).

    The lab's snapshot interval and thread policy, so only the window's own costs differ.
    """
    dataset, config = STATE.data.make(), STATE.model.config()
    snapshots = train(dataset, config, SNAPSHOT_EVERY)
    with worker_threads():
        first = next(snapshots).step
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            last = next(snapshots).step
        elapsed = time.perf_counter() - started
    snapshots.close()
    return (last - first) / elapsed


def measure_paired(seconds: float, rounds: int, display: str = REGIONS) -> dict:
    """``rounds`` of headless then window training; medians, spreads and the paired ratio."""
    headless, window, refresh, ratios = [], [], [], []
    for _ in range(rounds):
        headless.append(measure_headless(seconds))
        result = measure(seconds, display)
        window.append(result["steps_per_second"])
        refresh.append(result["regions_refresh_hz"])
        ratios.append(window[-1] / headless[-1])
    return {
        "regions_refresh_hz": statistics.median(refresh),
        "steps_per_second_window": statistics.median(window),
        "steps_per_second_headless": statistics.median(headless),
        "window_over_headless": statistics.median(ratios),
        "rounds": {
            "regions_refresh_hz": refresh,
            "steps_per_second_window": window,
            "steps_per_second_headless": headless,
            "window_over_headless": ratios,
        },
        "display": display,
        "seconds": seconds,
        "load_average": os.getloadavg(),
    }


def report(result: dict) -> str:
    """The paired measurement as lines of text, with the targets."""
    rounds = result["rounds"]

    def spread(key: str, form: str) -> str:
        return "–".join(format(value, form) for value in (min(rounds[key]), max(rounds[key])))

    refresh_ok = "meets" if result["regions_refresh_hz"] >= REFRESH_TARGET else "MISSES"
    ratio_ok = "meets" if result["window_over_headless"] >= RATIO_TARGET else "MISSES"
    load = ", ".join(f"{value:.2f}" for value in result["load_average"])
    return "\n".join(
        [
            f"regions_refresh_hz {result['regions_refresh_hz']:.1f} (rounds "
            f"{spread('regions_refresh_hz', '.1f')}; {refresh_ok} target ≥ {REFRESH_TARGET:g}) "
            f"showing {DISPLAYS[result['display']]}",
            f"steps/s in the window {result['steps_per_second_window']:.0f} (rounds "
            f"{spread('steps_per_second_window', '.0f')}), headless "
            f"{result['steps_per_second_headless']:.0f} (rounds "
            f"{spread('steps_per_second_headless', '.0f')})",
            f"window_over_headless {result['window_over_headless']:.2f} (rounds "
            f"{spread('window_over_headless', '.2f')}; {ratio_ok} target ≥ {RATIO_TARGET:g})",
            f"load average during the run: {load}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--display", choices=tuple(DISPLAYS), default=REGIONS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure_paired(args.seconds, args.rounds, args.display)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
