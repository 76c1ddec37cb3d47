"""Everything below the GUI must work without a screen: importing it may load no Qt module."""

import subprocess
import sys


def test_importing_everything_below_the_gui_loads_no_qt():
    code = (
        "import importlib, pkgutil, sys\n"
        # Every module of every Qt-free package, so a new one cannot slip past this check.
        "for package in ('support', 'math', 'nets', 'state'):\n"
        "    root = importlib.import_module('jacviz.' + package)\n"
        "    for m in pkgutil.walk_packages(root.__path__, root.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        # The command too, every module of it: only a window or a render may load the GUI.
        "cli = importlib.import_module('jacviz.cli')\n"
        "for m in pkgutil.walk_packages(cli.__path__, cli.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PyQt6', 'PyQt5', 'PySide6', 'PySide2', 'pyqtgraph') or m.startswith('jacviz.gui'))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_importing_jacviz_loads_neither_qt_nor_torch():
    # The Python API is imported on first use: a script that only imports jacviz (or the
    # command, to print its help) pays for neither.
    code = (
        "import sys, jacviz, jacviz.cli\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PyQt6', 'pyqtgraph', 'superqt', 'torch') "
        "or m.startswith(('jacviz.gui', 'jacviz.api')))\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
