"""What the window's first paint waits for: only what it needs.

The app is started as ``jacviz --map`` starts it (:func:`jacviz.gui.shell.app.run_app`), in a
fresh process so that ``sys.modules`` starts clean; the first paint event of any widget is
recorded with what was imported by then and whether the fork server had been asked to start.
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

DRIVER = """
import json, os, sys
from PyQt6.QtCore import QEvent, QObject, QTimer
import jacviz.gui.shell.app as app_module
from jacviz.state.view import ViewState

seen = {"painted": False, "warm_up_before_paint": None, "warm_up_calls": 0}
real_warm_up = app_module.warm_up

def warm_up():
    seen["warm_up_calls"] += 1
    if seen["warm_up_before_paint"] is None:
        seen["warm_up_before_paint"] = not seen["painted"]
    real_warm_up()

app_module.warm_up = warm_up

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and not seen["painted"]:
            seen["painted"] = True
            seen["superqt_at_paint"] = any(name.split(".")[0] == "superqt" for name in sys.modules)
            seen["torch_at_paint"] = "torch" in sys.modules
            QTimer.singleShot(500, report)
        return False

def report():
    window = app_module.QApplication.instance().activeWindow() or next(
        w for w in app_module.QApplication.topLevelWidgets() if w.isVisible()
    )
    seen["formula"] = window.editor.formula.text()
    seen["grid"] = window.controller.grid is not None
    print(json.dumps(seen), flush=True)
    os._exit(0)

watcher = FirstPaint()
app = app_module.application()
app.installEventFilter(watcher)
app_module.run_app(ViewState(formula=sys.argv[1]))
"""


@pytest.mark.timeout(300)
def test_the_first_paint_waits_for_neither_superqt_nor_the_fork_server(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env.update(XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, "x*y, x - y"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["painted"]
    assert seen["superqt_at_paint"] is False  # the runner is written on QtCore alone
    assert seen["torch_at_paint"] is False
    # The fork server is started once, after the first paint (not before, not never).
    assert seen["warm_up_before_paint"] is False and seen["warm_up_calls"] == 1
    assert seen["formula"] == "x*y, x - y" and seen["grid"]
