"""The example networks that come with a source checkout, for the app's menu and the tests."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES_DIR", "example_files"]

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"
"""The example networks of a source checkout (built by ``examples/build_examples.py``)."""

_NETWORK_SUFFIXES = (".safetensors", ".pt", ".pt2")


def example_files(folder: Path = EXAMPLES_DIR) -> list[Path]:
    """The network files in ``folder``, sorted by name; empty when the folder is absent."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in _NETWORK_SUFFIXES and p.is_file())
