"""Formula maps never import torch: the command line, the Python API and the app on a formula.

Each path runs in a fresh Python process (so ``sys.modules`` starts clean) with
``PYTHONPROFILEIMPORTTIME`` set: every Python process it starts (the fork server that checks
formulas, and its children) inherits that and lists its imports on the shared stderr, so
"no torch" holds for all of them, not only for the first. torch loads only when a network or
the lab is first needed; the lab's test checks that it then loads off the GUI thread, with
the status line and a busy cursor saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORMULA = "x**2 + y, x*y"


def run_python(
    args: list[str], tmp_path: Path, timeout: float = 240
) -> subprocess.CompletedProcess:
    """``python args`` in a clean process, offscreen, listing every import on stderr."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPROFILEIMPORTTIME="1")
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def imported(stderr: str) -> set[str]:
    """The modules ``-X importtime`` lists in ``stderr`` (any process that wrote there)."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def assert_no_torch(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    modules = imported(done.stderr)
    assert "sympy" in modules, "the import listing is missing: the check would prove nothing"
    assert "torch" not in modules


def test_the_listing_sees_torch_when_it_is_imported(tmp_path: Path) -> None:
    done = run_python(["-c", "import jacviz.nets.networks as n; n.make_mlp([2, 2])"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch" in imported(done.stderr)


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_probe_command_on_a_formula(tmp_path: Path, json_flag: list[str]) -> None:
    done = run_python(
        ["-m", "jacviz", "probe", "--map", FORMULA, "--at", "1,2", *json_flag], tmp_path
    )
    assert_no_torch(done)
    if json_flag:
        report = json.loads(done.stdout)
        assert report["value"] == [3.0, 2.0] and report["jacobian"] == [[2.0, 1.0], [2.0, 1.0]]
    else:
        assert "value f(p)          (3, 2)" in done.stdout


def test_render_command_on_a_formula(tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    done = run_python(["-m", "jacviz", "render", "--map", FORMULA, "--out", str(out)], tmp_path)
    assert_no_torch(done)
    assert out.stat().st_size > 10_000


def test_python_api_probe_of_a_formula(tmp_path: Path) -> None:
    code = "import jacviz; r = jacviz.probe('x**2+y, x*y', at=(1, 2)); print(r.value.tolist())"
    done = run_python(["-c", code], tmp_path)
    assert_no_torch(done)
    assert done.stdout.strip().endswith("[3.0, 2.0]")


# The real window, as ``jacviz --map`` opens it: shown, first heatmap drawn, the probe moved
# by a click and a hover, every preset shown, a formula typed into the editor.
APP_SESSION = """
import json, sys, time
from PyQt6.QtCore import QPoint, QSettings, Qt
from PyQt6.QtTest import QTest
from jacviz.gui.shell.app import application
from jacviz.gui.shell.main_window import MainWindow
from jacviz.math.presets import PRESETS
from jacviz.state.view import ViewState
from jacviz.support.isolation import warm_up

warm_up()
app = application()
settings = QSettings(sys.argv[2], QSettings.Format.IniFormat)
window = MainWindow(ViewState(formula=sys.argv[1]), settings=settings)
heatmaps = []
window.controller.sigHeatmapChanged.connect(heatmaps.append)
window.resize(1400, 800)
window.show()

def settle(until=lambda: True):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        app.processEvents()
        busy = window.controller.loading or window.controller.heatmap_runner.busy
        if not busy and until():
            return
        time.sleep(0.005)
    raise SystemExit("timed out")

settle(lambda: bool(heatmaps))
viewport = window.input_plane.viewport()
centre = viewport.rect().center()
QTest.mouseMove(viewport, centre + QPoint(20, 10))
QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
window.controller.set_probe(0.5, -0.25)
settle()
for preset in PRESETS:
    window.controller.load_preset(preset)
    settle()
window.editor.formula.setText("sin(x) + y, x*cos(y)")
QTest.keyClick(window.editor.formula, Qt.Key.Key_Return)
settle(lambda: window.controller.state.formula == "sin(x) + y, x*cos(y)")
print(json.dumps({
    "torch": "torch" in sys.modules,
    "heatmaps": len(heatmaps),
    "formula": window.controller.state.formula,
    "probe": list(window.controller.state.probe),
}))
window.close()
"""


@pytest.mark.timeout(400)
def test_app_on_a_formula_never_imports_torch(tmp_path: Path) -> None:
    from jacviz.math.presets import PRESETS

    done = run_python(["-c", APP_SESSION, FORMULA, str(tmp_path / "s.ini")], tmp_path, 360)
    assert_no_torch(done)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    assert result["formula"] == "sin(x) + y, x*cos(y)"
    assert result["heatmaps"] >= len(PRESETS) + 2  # the first map, each preset, the typed one


# The lab asked for on a window that has not loaded torch: torch loads on a worker, while the
# status line says so and the cursor is busy, then the lab opens.
LAB_SESSION = """
import json, sys, threading, time
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication
from jacviz.gui.shell.app import application
from jacviz.gui.shell.lab_loader import LOADING_MESSAGE
from jacviz.gui.shell.main_window import MainWindow
from jacviz.state.view import ViewState

class WhoImports:
    thread = None
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and self.thread is None:
            self.thread = threading.current_thread().name
        return None

who = WhoImports()
sys.meta_path.insert(0, who)
app = application()
settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
window = MainWindow(ViewState(formula="x, y"), settings=settings)
window.show()
app.processEvents()
before = "torch" in sys.modules
window.request_lab()
cursor = QApplication.overrideCursor()
during = {
    "message": window.statusBar().currentMessage() == LOADING_MESSAGE,
    "busy_cursor": cursor is not None and cursor.shape().name == "BusyCursor",
    "no_lab_yet": window.lab_window is None,
}
deadline = time.monotonic() + 200
while window.lab_window is None and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.01)
print(json.dumps({
    "torch_before": before,
    "during": during,
    "imported_on": who.thread,
    "lab_shown": window.lab_window is not None and window.lab_window.isVisible(),
    "cursor_restored": QApplication.overrideCursor() is None,
    "message_after": window.statusBar().currentMessage() != LOADING_MESSAGE,
}))
window.close()
"""


@pytest.mark.timeout(300)
def test_the_lab_loads_torch_off_the_gui_thread_with_a_visible_loading_state(
    tmp_path: Path,
) -> None:
    done = run_python(["-c", LAB_SESSION, str(tmp_path / "s.ini")], tmp_path, 280)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "torch_before": False,
        "during": {"message": True, "busy_cursor": True, "no_lab_yet": True},
        "imported_on": "lab-import",
        "lab_shown": True,
        "cursor_restored": True,
        "message_after": True,
    }


def test_every_lab_preload_module_exists() -> None:
    import importlib.util

    from jacviz.gui.shell.lab_loader import LAB_MODULE, LAB_PRELOAD

    for name in (*LAB_PRELOAD, LAB_MODULE):
        assert importlib.util.find_spec(name) is not None, name
