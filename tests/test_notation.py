"""One notation for the Frobenius norm in what the user reads: ‖J‖F (‖J‖<sub>F</sub> in rich text).

The app mixed "‖J‖_F" with "‖J‖F" across labels, legends, table rows and status texts. This
reads every string the GUI and the command line show (docstrings and comments aside: those
are for programmers, and file formats keep their keys).
"""

import ast
import itertools
import re
from pathlib import Path

import jacviz

PACKAGE = Path(jacviz.__file__).parent
UNDERSCORED = re.compile(r"‖J‖²?_F")
PLAIN_IN_RICH_TEXT = re.compile(r"‖J‖²?F")


def shown_strings(path: Path):
    """(line, text) of every string literal in ``path`` that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
        # A string right after an assignment documents the name (attribute docstrings).
        body = getattr(node, "body", None)
        statements = body if isinstance(body, list) else []
        for first, second in itertools.pairwise(statements):
            if isinstance(first, ast.Assign | ast.AnnAssign) and isinstance(second, ast.Expr):
                docstrings.add(id(second.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield node.lineno, node.value


def test_every_user_visible_string_writes_the_frobenius_norm_one_way():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}"
        for folder in ("gui", "cli", "state", "math", "nets")
        for path in sorted((PACKAGE / folder).rglob("*.py"))
        for line, text in shown_strings(path)
        if UNDERSCORED.search(text) or ("</" in text and PLAIN_IN_RICH_TEXT.search(text))
    ]
    assert not found, "\n".join(found)
