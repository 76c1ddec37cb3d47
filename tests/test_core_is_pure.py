"""The math core must work without a screen: importing it may load no Qt module."""

import subprocess
import sys


def test_importing_the_core_loads_no_qt():
    code = (
        "import sys\n"
        "import jacviz.core.formula, jacviz.core.maps, jacviz.core.jacobian\n"
        "import jacviz.core.grid, jacviz.core.linearize, jacviz.core.probe\n"
        "import jacviz.cli\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PyQt6', 'PyQt5', 'PySide6', 'PySide2', 'pyqtgraph') or m.startswith('jacviz.gui'))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
