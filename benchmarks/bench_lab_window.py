"""Measure the regularization lab window while it trains: plane refreshes and steps per second.

Opens the lab offscreen, presses Play for a few seconds on the configuration
``bench_training.py`` times headless (3-arm spirals, 600 points, a 32-32 tanh MLP, λ = 0.01),
presses Pause, and reads what the window measured: ``regions_refresh_hz``, 256² pictures of the
model drawn per second (target ≥ 10), and ``steps_per_second`` of training in the window. The
GUI thread draws everything it is sent, as on screen, so this includes the cost of drawing.

Run: ``python benchmarks/bench_lab_window.py [--seconds 5] [--display regions|frobenius]
[--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PyQt6.QtWidgets import QApplication

from jacviz.gui.lab.lab_controller import DataSettings, LabState, ModelSettings
from jacviz.gui.lab.lab_window import LabWindow
from jacviz.nets.fields import DISPLAYS

REFRESH_TARGET = 10.0


def spin(app: QApplication, seconds: float) -> None:
    """Run the event loop for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def measure(seconds: float, display: str) -> dict:
    """Play the lab for ``seconds`` and return what it measured."""
    app = QApplication.instance() or QApplication(sys.argv)
    state = LabState(
        data=DataSettings(name="spirals3", n_points=600, noise=0.05),
        model=ModelSettings(hidden="32,32", steps=1_000_000, jr_lambda=0.01),
        display=display,
    )
    window = LabWindow(state=state)
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
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--display", choices=tuple(DISPLAYS), default="regions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.seconds, args.display)
    if args.json:
        print(json.dumps(result))
        return
    ok = "meets" if result["regions_refresh_hz"] >= REFRESH_TARGET else "MISSES"
    print(
        f"regions_refresh_hz {result['regions_refresh_hz']:.1f} ({ok} target ≥ "
        f"{REFRESH_TARGET}) showing {DISPLAYS[args.display]}; "
        f"{result['steps_per_second']:.0f} training steps/s in the window "
        f"({result['steps']} steps in {args.seconds:g} s)"
    )


if __name__ == "__main__":
    main()
