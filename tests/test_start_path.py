"""What the window's first paint waits for: only what it needs, and the picture comes after.

The app is started as ``jacviz --map`` starts it (:func:`jacviz.gui.shell.app.run_app`), in a
fresh process so that ``sys.modules`` starts clean; the first paint event of any widget is
recorded with what was imported by then, what the window shows, and whether the fork server
had been asked to start; then the first picture (grid, probe, heatmap) is waited for.
Work is checked, never the clock (``benchmarks/bench_startup.py`` measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("sympy", "torch", "superqt", "scipy", "PIL", "matplotlib", "IPython", "threadpoolctl")
"""Packages the first paint must not wait for (sympy parses formulas after it)."""

DRIVER = """
import json, os, sys, threading
from PyQt6.QtCore import QEvent, QObject, QTimer

class SympyImport:
    # Records the thread that imports sympy (finds nothing: the import goes on as usual).
    thread = None

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "sympy" and cls.thread is None:
            cls.thread = threading.current_thread().name
        return None

sys.meta_path.insert(0, SympyImport)
import jacviz.gui.shell.app as app_module
from jacviz.gui.shell.main_window import MainWindow
from jacviz.state.view import ViewState

HEAVY = sys.argv[2].split(",")
SESSION = sys.argv[3] if len(sys.argv) > 3 else None
seen = {"painted": False, "warm_up_before_paint": None, "warm_up_calls": 0}
real_warm_up = app_module.warm_up

def warm_up():
    seen["warm_up_calls"] += 1
    if seen["warm_up_before_paint"] is None:
        seen["warm_up_before_paint"] = not seen["painted"]
    real_warm_up()

app_module.warm_up = warm_up

def the_window():
    return next(w for w in app_module.QApplication.topLevelWidgets() if isinstance(w, MainWindow))

def picture(window):
    # The grid and the probe's picture, and the heatmap's image on the input plane.
    controller = window.controller
    heatmap = window.input_plane.image.image is not None
    return [controller.grid is not None, controller.linearization is not None, heatmap]

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and not seen["painted"]:
            seen["painted"] = True
            seen["heavy_at_paint"] = sorted(
                {name.split(".")[0] for name in sys.modules} & set(HEAVY)
            )
            window = the_window()
            seen["formula_at_paint"] = window.editor.formula.text()
            seen["status_at_paint"] = window.statusBar().currentMessage()
            seen["menus_at_paint"] = [a.text() for a in window.menuBar().actions()]
            seen["picture_at_paint"] = picture(window)
            poll.start()
        return False

def report():
    window = the_window()
    if not all(picture(window)) or (SESSION is not None and window.sessions.path is None):
        return  # not yet: the test's time limit ends a run that never draws
    seen["formula"] = window.editor.formula.text()
    seen["state_formula"] = window.controller.state.formula
    seen["status"] = window.statusBar().currentMessage()
    seen["picture"] = picture(window)
    seen["sympy_after"] = "sympy" in sys.modules
    seen["sympy_thread"] = SympyImport.thread
    from jacviz.support.threads import blas_on_one_thread
    seen["blas_on_one_thread"] = blas_on_one_thread()
    print(json.dumps(seen), flush=True)
    os._exit(0)

poll = QTimer(interval=50)
poll.timeout.connect(report)
watcher = FirstPaint()
app = app_module.application()
app.installEventFilter(watcher)
app_module.run_app(ViewState(formula=sys.argv[1]), session=SESSION)
"""


def first_paint(formula: str, tmp_path: Path, session: Path | None = None) -> dict:
    """Run the app on ``formula`` in a clean process: what its first paint and picture show.

    With ``session``, the app is also given that session file to open, as ``jacviz FILE``.
    """
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env.update(XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, formula, ",".join(HEAVY)]
        + ([] if session is None else [str(session)]),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
def test_the_window_paints_before_sympy_and_the_picture_follows(tmp_path: Path) -> None:
    seen = first_paint("x*y, x - y", tmp_path)
    assert seen["painted"]
    # Nothing heavy before the first paint: sympy parses the formula after it, the map
    # view's runner is written on QtCore alone (no superqt), and formulas never load torch.
    assert seen["heavy_at_paint"] == []
    # What the user sees at once is there: the formula in its editor, the menus, and a status
    # line saying the map is being drawn; the picture itself is not there yet.
    assert seen["formula_at_paint"] == "x*y, x - y"
    assert "&File" in seen["menus_at_paint"] or "File" in seen["menus_at_paint"]
    assert seen["status_at_paint"] == "Drawing the map…"
    assert seen["picture_at_paint"] == [False, False, False]
    # Then the first picture: grid, probe and heatmap, with sympy imported for it on a worker
    # thread, so that the window handles input meanwhile.
    assert seen["picture"] == [True, True, True] and seen["sympy_after"]
    assert seen["sympy_thread"] not in (None, "MainThread")
    assert seen["formula"] == seen["state_formula"] == "x*y, x - y"
    assert seen["status"] != "Drawing the map…"
    # The fork server is started once, after the first paint (not before, not never).
    assert seen["warm_up_before_paint"] is False and seen["warm_up_calls"] == 1
    # And the app holds numpy's BLAS to one thread, after the picture (threadpoolctl is in HEAVY).
    assert seen["blas_on_one_thread"]


@pytest.mark.timeout(300)
def test_a_saved_formula_that_does_not_parse_gives_way_to_the_default(tmp_path: Path) -> None:
    seen = first_paint("foo(x), y", tmp_path)  # as if hand-edited into the settings
    assert seen["heavy_at_paint"] == [] and seen["formula_at_paint"] == "foo(x), y"
    assert seen["picture"] == [True, True, True]
    assert seen["formula"] == seen["state_formula"] == "x**2 + y, x*y"
    assert seen["status"].startswith("The saved formula could not be read")
    assert "unknown function 'foo'" in seen["status"]


@pytest.mark.timeout(300)
def test_a_session_given_at_start_opens_after_the_first_picture(tmp_path: Path) -> None:
    from jacviz.state.session import Session, save_session
    from jacviz.state.view import ViewState

    path = tmp_path / "start.jacviz"
    save_session(Session(ViewState(formula="sin(x), x*y", probe=(0.5, -0.5))), path)
    seen = first_paint("x*y, x - y", tmp_path, path)
    assert seen["heavy_at_paint"] == [] and seen["picture_at_paint"] == [False, False, False]
    assert seen["picture"] == [True, True, True]
    assert seen["formula"] == seen["state_formula"] == "sin(x), x*y"
