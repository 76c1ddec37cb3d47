"""Measure start-up: ``jacviz probe --map`` and the window's first paint, as whole processes.

Each measurement starts a fresh Python process and times it from the parent, so interpreter
start-up and every import are included; pairs are interleaved (jacviz, then its baseline) so
that a busy machine slows both alike, and the medians, min–max and median ratios are printed:

- ``jacviz probe --map "x**2 + y, x*y" --at 1,2`` against ``python -c "import numpy"``, and
  against the same command run from an older checkout (``--old REV``, by default the last
  commit whose formula path imported torch), extracted with ``git archive``;
- the time from process start to the main window's first paint on a formula (a small driver
  calls ``run_app``, the function ``jacviz --map`` opens the window with, offscreen, and prints
  when the first paint event arrives) against a bare pyqtgraph window (QApplication + a shown
  PlotWidget); target: at most 2.5×. In the same rounds: the whole command
  ``jacviz --map FORMULA`` to its first paint (its formula checked in a child process first),
  and the window of an older checkout (``--old-window REV``, by default the last commit whose
  window parsed its formula, importing sympy, before its first paint);
- whether torch was imported: every process of the probe command and of the app driver is
  run once more under ``python -X importtime``, which lists the imports of the fork server and
  its children too;
- in this process, a formula map's ``evaluate_with_jacobian`` at one point (what the probe
  does per mouse move) and on a 256² grid, computed in numpy (now) and the old way (torch
  tensors, ``inference_mode``, back to numpy), interleaved call by call.

``--json`` prints one JSON object; :func:`measure_first_paint` is the window part alone, for
other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FORMULA = "x**2 + y, x*y"
PROBE_ARGS = ["-m", "jacviz", "probe", "--map", FORMULA, "--at", "1,2"]
FIRST_PAINT_TARGET = 2.5
OLD_REVISION = "a0e7315"
"""The last commit before formula maps stopped importing torch: the "old" probe command."""

OLD_WINDOW_REVISION = "aa12b9c"
"""The last commit whose window parsed its formula (importing sympy) before its first paint."""

READY = "first-paint"
DRIVER_TIME_LIMIT = 180.0
"""Seconds a first-paint driver may run before it is killed (a hang guard)."""

# The real app on a formula, opened by the same function ``jacviz --map`` calls
# (gui.shell.app.run_app: fork server, window, event loop); the first paint event of the
# window (or any widget in it) ends the run. Its settings live in a scratch XDG_CONFIG_HOME.
APP_DRIVER = f"""
import os, sys
from PyQt6.QtCore import QEvent, QObject
from jacviz.gui.shell.app import application, run_app
from jacviz.state.view import ViewState

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            print("{READY}", "torch" in sys.modules, flush=True)
            os._exit(0)
        return False

watcher = FirstPaint()
app = application()  # kept: run_app finds this QApplication, its filter installed
app.installEventFilter(watcher)
run_app(ViewState(formula={FORMULA!r}))
"""

# The whole command, as a user starts it: ``jacviz --map FORMULA``. The QApplication is made
# first (jacviz finds it) so that its first paint can be watched; Qt is imported either way.
CLI_DRIVER = f"""
import os, sys
from PyQt6.QtCore import QEvent, QObject
from PyQt6.QtWidgets import QApplication

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            print("{READY}", "torch" in sys.modules, flush=True)
            os._exit(0)
        return False

app = QApplication(sys.argv[:1])
watcher = FirstPaint()
app.installEventFilter(watcher)
from jacviz.cli import main
sys.exit(main(["--map", {FORMULA!r}]))
"""

# The baseline: the least a pyqtgraph window costs.
BARE_DRIVER = f"""
import os, sys
from PyQt6.QtCore import QEvent, QObject
from PyQt6.QtWidgets import QApplication
import pyqtgraph as pg

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            print("{READY}", "torch" in sys.modules, flush=True)
            os._exit(0)
        return False

app = QApplication(sys.argv[:1])
plot = pg.PlotWidget()
watcher = FirstPaint()
app.installEventFilter(watcher)
plot.resize(800, 600)
plot.show()
app.exec()
"""


def _environment(pythonpath: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(pythonpath))
    env.pop("PYTHONSTARTUP", None)
    return env


def _time_command(args: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds a whole process takes, from its start to its exit (status must be 0)."""
    start = time.perf_counter()
    done = subprocess.run([PYTHON, *args], env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed: {done.stderr.strip()[-500:]}")
    return elapsed


def _time_to_ready(script: str, env: dict[str, str], cwd: Path) -> tuple[float, bool]:
    """Seconds from starting ``python -c script`` to its READY line, and its torch flag.

    The driver is killed if it has not painted within :data:`DRIVER_TIME_LIMIT` seconds.
    """
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        process = subprocess.Popen(
            [PYTHON, "-c", script],
            env=dict(env, XDG_CONFIG_HOME=scratch, HOME=scratch),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        watchdog = threading.Timer(DRIVER_TIME_LIMIT, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith(READY):
                    elapsed = time.perf_counter() - start
                    process.wait(timeout=60)
                    return elapsed, line.split()[1] == "True"
            process.wait(timeout=60)
        finally:
            watchdog.cancel()
        errors.seek(0)
        raise RuntimeError(f"the driver ended without painting: {errors.read()[-800:]}")


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _ratios(numerators: list[float], denominators: list[float]) -> dict[str, float]:
    return _stats([a / b for a, b in zip(numerators, denominators, strict=True)])


def imports_torch(args: list[str], env: dict[str, str], cwd: Path) -> bool:
    """Whether any process of ``python args`` (fork server and children included) imports torch.

    ``-X importtime`` is inherited through the environment (``PYTHONPROFILEIMPORTTIME``) by
    every Python process started, and each writes its imports to the shared stderr.
    """
    env = dict(env, PYTHONPROFILEIMPORTTIME="1")
    done = subprocess.run([PYTHON, *args], env=env, cwd=cwd, capture_output=True, text=True)
    return any(
        line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "torch"
        for line in done.stderr.splitlines()
    )


def measure_first_paint(
    pairs: int, old_root: Path | None = None
) -> dict[str, float | bool | dict[str, float]]:
    """Time to the main window's first paint against a bare pyqtgraph window's, in ``pairs``.

    Returns ``first_paint_s`` and ``bare_pyqtgraph_s`` (medians, seconds),
    ``first_paint_over_bare_pyqtgraph`` (the median of the per-pair ratios), their min–max
    under ``*_spread`` keys, and ``torch_imported_by_window`` (in any of the app's runs).
    The same rounds time ``jacviz --map`` to its first paint (``cli_first_paint_s``,
    ``cli_first_paint_over_bare_pyqtgraph``) and, given the root of an older checkout
    (``old_root``), that checkout's window (``old_first_paint_s``, ``first_paint_over_old``).
    """
    env = _environment()
    old_env = _environment(old_root) if old_root is not None else None
    app_times, bare_times, cli_times, old_times, torch_seen = [], [], [], [], False
    _time_to_ready(BARE_DRIVER, env, ROOT)  # warm the file cache once for each
    _time_to_ready(APP_DRIVER, env, ROOT)
    _time_to_ready(CLI_DRIVER, env, ROOT)
    if old_env is not None and old_root is not None:
        _time_to_ready(APP_DRIVER, old_env, old_root)
    for _ in range(pairs):
        elapsed, torch_loaded = _time_to_ready(APP_DRIVER, env, ROOT)
        app_times.append(elapsed)
        torch_seen |= torch_loaded
        bare_times.append(_time_to_ready(BARE_DRIVER, env, ROOT)[0])
        elapsed, torch_loaded = _time_to_ready(CLI_DRIVER, env, ROOT)
        cli_times.append(elapsed)
        torch_seen |= torch_loaded
        if old_env is not None and old_root is not None:
            old_times.append(_time_to_ready(APP_DRIVER, old_env, old_root)[0])
    ratios = _ratios(app_times, bare_times)
    cli_ratios = _ratios(cli_times, bare_times)
    result: dict[str, float | bool | dict[str, float]] = {
        "first_paint_s": statistics.median(app_times),
        "first_paint_spread": _stats(app_times),
        "bare_pyqtgraph_s": statistics.median(bare_times),
        "bare_pyqtgraph_spread": _stats(bare_times),
        "first_paint_over_bare_pyqtgraph": ratios["median"],
        "first_paint_over_bare_pyqtgraph_spread": ratios,
        "cli_first_paint_s": statistics.median(cli_times),
        "cli_first_paint_spread": _stats(cli_times),
        "cli_first_paint_over_bare_pyqtgraph": cli_ratios["median"],
        "cli_first_paint_over_bare_pyqtgraph_spread": cli_ratios,
        "torch_imported_by_window": torch_seen,
    }
    if old_times:
        over_old = _ratios(app_times, old_times)
        result |= {
            "old_first_paint_s": statistics.median(old_times),
            "old_first_paint_spread": _stats(old_times),
            "first_paint_over_old": over_old["median"],
            "first_paint_over_old_spread": over_old,
        }
    return result


def _old_checkout(revision: str, into: Path) -> Path | None:
    """The ``jacviz`` package of ``revision``, extracted under ``into``; None if git cannot."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "jacviz"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return into


def measure_probe(pairs: int, old_revision: str | None) -> dict[str, object]:
    """``jacviz probe --map`` against ``import numpy`` and against ``old_revision``'s command."""
    env = _environment()
    probe, numpy_only, old = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        old_root = _old_checkout(old_revision, Path(scratch)) if old_revision else None
        old_env = _environment(old_root) if old_root is not None else None
        for _ in range(pairs):
            probe.append(_time_command(PROBE_ARGS, env, ROOT))
            numpy_only.append(_time_command(["-c", "import numpy"], env, ROOT))
            if old_env is not None:
                old.append(_time_command(PROBE_ARGS, old_env, Path(scratch)))
    result: dict[str, object] = {
        "probe_cli_s": statistics.median(probe),
        "probe_cli_spread": _stats(probe),
        "import_numpy_s": statistics.median(numpy_only),
        "import_numpy_spread": _stats(numpy_only),
        "probe_cli_over_import_numpy": _ratios(probe, numpy_only)["median"],
        "probe_cli_over_import_numpy_spread": _ratios(probe, numpy_only),
        "probe_cli_torch_imported": imports_torch(PROBE_ARGS, env, ROOT),
        "probe_cli_json_torch_imported": imports_torch([*PROBE_ARGS, "--json"], env, ROOT),
    }
    if old:
        result |= {
            "old_revision": old_revision,
            "old_probe_cli_s": statistics.median(old),
            "old_probe_cli_spread": _stats(old),
            "probe_cli_over_old": _ratios(probe, old)["median"],
            "probe_cli_over_old_spread": _ratios(probe, old),
        }
    return result


SPEED_FORMULAS = ("x**2 + y, x*y", "Swirl", "tanh layer")
"""Formulas (or preset names) whose evaluation speed is measured."""


def _old_evaluate_with_jacobian(formula: object, points: object) -> tuple[object, object]:
    """The old FormulaMap.evaluate_with_jacobian: through torch tensors and back."""
    import torch

    tensor = torch.from_numpy(points)
    with torch.inference_mode():
        values, jacobian = formula.evaluate_with_jacobian(tensor)
    return values.numpy(), jacobian.numpy()


def measure_formula_speed(repeats: int = 300) -> dict[str, dict[str, float]]:
    """Microseconds per evaluate_with_jacobian, numpy vs torch, at one point and on 256².

    Calls alternate (new, old) so that load on the machine hits both alike; the medians of
    per-call times and of the per-pair ratios are returned, by formula and size.
    """
    import numpy as np

    from jacviz.math.maps import FormulaMap
    from jacviz.math.presets import PRESETS

    texts = {p.name: p.formula for p in PRESETS}
    side = np.linspace(-2.0, 2.0, 256)
    grid = np.ascontiguousarray(np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2))
    results: dict[str, dict[str, float]] = {}
    for name in SPEED_FORMULAS:
        formula_map = FormulaMap.from_text(texts.get(name, name), isolated=False)
        for label, points, count in (
            ("point", np.array([[0.3, -0.7]]), repeats),
            ("grid", grid, 15),
        ):
            new, old = [], []
            _old_evaluate_with_jacobian(formula_map.formula, points)  # compile torch first
            for _ in range(count):
                start = time.perf_counter()
                formula_map.evaluate_with_jacobian(points)
                middle = time.perf_counter()
                _old_evaluate_with_jacobian(formula_map.formula, points)
                new.append(middle - start)
                old.append(time.perf_counter() - middle)
            results[f"{name} {label}"] = {
                "numpy_us": statistics.median(new) * 1e6,
                "torch_us": statistics.median(old) * 1e6,
                "numpy_over_torch": _ratios(new, old)["median"],
                "numpy_over_torch_min": _ratios(new, old)["min"],
                "numpy_over_torch_max": _ratios(new, old)["max"],
            }
    return results


def _line(label: str, stats: dict[str, float], unit: str = "s") -> str:
    return f"{label:<44} {stats['median']:7.3f} {unit}  ({stats['min']:.3f}–{stats['max']:.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pairs", type=int, default=7, help="interleaved pairs (default: 7)")
    parser.add_argument(
        "--old",
        default=OLD_REVISION,
        metavar="REV",
        help=f"git revision whose probe command is the old cost (default: {OLD_REVISION}; "
        "'' to skip)",
    )
    parser.add_argument(
        "--old-window",
        default=OLD_WINDOW_REVISION,
        metavar="REV",
        help="git revision whose window's first paint is the old cost (default: "
        f"{OLD_WINDOW_REVISION}; '' to skip)",
    )
    args = parser.parse_args(argv)
    pairs = max(1, args.pairs)
    results = measure_probe(pairs, args.old or None)
    with tempfile.TemporaryDirectory() as scratch:
        old_window = _old_checkout(args.old_window, Path(scratch)) if args.old_window else None
        results |= measure_first_paint(pairs, old_window)
    if old_window is not None:
        results["old_window_revision"] = args.old_window
    with tempfile.TemporaryDirectory() as scratch:
        results["app_torch_imported"] = imports_torch(
            ["-c", APP_DRIVER], dict(_environment(), XDG_CONFIG_HOME=scratch, HOME=scratch), ROOT
        )
    results["pairs"] = pairs
    results["formula_speed"] = measure_formula_speed()
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"start-up, {pairs} interleaved pairs of whole processes: median (min–max)")
    print(_line("jacviz probe --map ... --at 1,2", results["probe_cli_spread"]))
    print(_line('python -c "import numpy"', results["import_numpy_spread"]))
    print(_line("  ratio probe / import numpy", results["probe_cli_over_import_numpy_spread"], "×"))
    if "old_probe_cli_spread" in results:
        print(
            _line(
                f"jacviz probe at {results['old_revision']} (old)", results["old_probe_cli_spread"]
            )
        )
        print(_line("  ratio new / old", results["probe_cli_over_old_spread"], "×"))
    print(_line("main window on a formula: first paint", results["first_paint_spread"]))
    print(_line("bare pyqtgraph window: first paint", results["bare_pyqtgraph_spread"]))
    verdict = "ok" if results["first_paint_over_bare_pyqtgraph"] <= FIRST_PAINT_TARGET else "MISS"
    print(
        _line(
            "  ratio window / bare pyqtgraph",
            results["first_paint_over_bare_pyqtgraph_spread"],
            "×",
        )
        + f"  target ≤ {FIRST_PAINT_TARGET}: {verdict}"
    )
    print(_line("jacviz --map ...: first paint", results["cli_first_paint_spread"]))
    print(
        _line(
            "  ratio command / bare pyqtgraph",
            results["cli_first_paint_over_bare_pyqtgraph_spread"],
            "×",
        )
    )
    if "old_first_paint_spread" in results:
        print(
            _line(
                f"main window at {results['old_window_revision']} (old)",
                results["old_first_paint_spread"],
            )
        )
        print(_line("  ratio new / old", results["first_paint_over_old_spread"], "×"))
    print(
        "torch imported: "
        f"probe {results['probe_cli_torch_imported']}, "
        f"probe --json {results['probe_cli_json_torch_imported']}, "
        f"app on a formula {results['app_torch_imported'] or results['torch_imported_by_window']}"
    )
    print("formula evaluate_with_jacobian, numpy (now) vs torch (old), interleaved: median")
    for key, speed in results["formula_speed"].items():
        print(
            f"  {key:<28} {speed['numpy_us']:9.1f} µs vs {speed['torch_us']:9.1f} µs  "
            f"ratio {speed['numpy_over_torch']:.3f} "
            f"({speed['numpy_over_torch_min']:.3f}–{speed['numpy_over_torch_max']:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
