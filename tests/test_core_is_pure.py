"""The math core must work without a screen: importing it may load no Qt module."""

import subprocess
import sys


def test_importing_the_core_loads_no_qt():
    code = (
        "import importlib, pkgutil, sys\n"
        "import jacviz.core\n"
        # Every module of the core, so a new one cannot slip past this check.
        "for m in pkgutil.iter_modules(jacviz.core.__path__):\n"
        "    importlib.import_module('jacviz.core.' + m.name)\n"
        "import jacviz.cli\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PyQt6', 'PyQt5', 'PySide6', 'PySide2', 'pyqtgraph') or m.startswith('jacviz.gui'))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
