"""The architecture holds: layers, module cycles, private names and module size are checked.

The layer contracts live in pyproject.toml ([tool.importlinter]) and are checked by
import-linter; the rules it has no contract for (no cycle between two modules, no ``_private``
name used outside its module, no module too long to read in one sitting) are checked here on
the same import graph.
"""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jacviz"
MAX_LINES_OF_CODE = 450


def modules() -> dict[str, Path]:
    """Every module of jacviz by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def lines_of_code(source: str) -> int:
    """Lines holding code: blank lines, comments and docstrings are not counted."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            docstrings.update(range(node.lineno, node.end_lineno + 1))
    code: set[int] = set()
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT}
    skipped |= {tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            code.update(range(token.start[0], token.end[0] + 1))
    return len(code - docstrings)


def test_the_counter_skips_docstrings_comments_and_blank_lines():
    source = (
        '"""Module.\n\ntext\n"""\n\n# comment\nx = 1  # note\n\n\n'
        'def f():\n    """Doc."""\n    return (\n        2\n    )\n'
    )
    assert lines_of_code(source) == 5


def test_import_linter_contracts_are_kept():
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    linter = linter or shutil.which("lint-imports")
    if linter is None:
        pytest.skip("import-linter is not installed (it comes with the 'test' extra)")
    result = subprocess.run([linter], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_no_import_cycle_between_modules():
    """Imports made only for type checking count too: they are still a dependency to read."""
    graph = grimp.build_graph("jacviz", exclude_type_checking_imports=False)
    names = set(modules())
    cycles = set()
    for module in sorted(names):
        for imported in graph.find_modules_directly_imported_by(module) & names:
            if imported.startswith(module + ".") or module.startswith(imported + "."):
                continue  # a package and its own submodules (re-exports)
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.add(" -> ".join((module, *back)))
    assert not cycles, "\n".join(sorted(cycles))


def test_no_private_name_is_imported_from_another_module():
    found = modules()
    offences = []
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = node.module or ""
            if node.level:
                stem = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*stem, *([node.module] if node.module else [])])
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if base.startswith("jacviz") and private:
                    offences.append(f"{name} imports {base}.{alias.name}")
    assert not offences, "\n".join(offences)


def test_no_module_is_too_long_to_read():
    long = {
        name: count
        for name, path in modules().items()
        if (count := lines_of_code(path.read_text())) > MAX_LINES_OF_CODE
    }
    assert not long, f"over {MAX_LINES_OF_CODE} lines of code: {long}"
