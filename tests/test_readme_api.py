"""The README's "Use from Python" example runs as written, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- python-api-example -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "the README's Use from Python section lost its example"
    return match.group(1)


def test_the_readmes_python_example_runs_as_written(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(python_example(), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "[[2. 1.]" in result.stdout and "'jacobian': [[2.0, 1.0], [2.0, 1.0]]" in result.stdout
