"""The guards a formula text passes before the compiler sees it.

They refuse, each with one :class:`~jacviz.math.formula.limits.FormulaError` line, what must
never reach Python's parser or sympy: characters to which Python's tokenizer gives a meaning
the reader cannot see (``#`` starts a comment, full-width letters fold to ASCII), brackets
nested deeper than Python's parser can take, trees too large or too deep to compile quickly,
and empty or too many outputs. They also reword Python's syntax errors for people typing math.
"""

from __future__ import annotations

import ast
import unicodedata

from jacviz.math.formula.limits import MAX_DEPTH, MAX_NODES, MAX_OUTPUTS, FormulaError
from jacviz.math.formula.source import Source

CHAIN_GROUPS: dict[type, str] = {ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*"}
"""Operators whose left-nested chains (a + b - c + ...) sympy flattens into one node: such a
chain counts as one level of nesting, and the compiler walks it without recursion."""

# Characters that Python's tokenizer reads silently: the rest of the line becomes a comment,
# a line continues, a second statement starts.
_REFUSED_CHARACTERS = {
    "#": "'#' is not allowed (it would hide the rest of the formula)",
    "\\": "'\\' is not allowed",
    ";": "';' is not allowed (separate outputs with ',')",
}
# What to type instead of non-ASCII characters people paste from documents.
_ASCII_SPELLINGS = {
    "π": "pi",
    "−": "-",
    "–": "-",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "÷": "/",
    **{superscript: f"^{digit}" for digit, superscript in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
}


def character_problem(ch: str) -> str | None:
    """Why the character ``ch`` cannot appear in a formula, or None if it can.

    A formula is plain ASCII. Python's tokenizer would accept more and quietly change its
    meaning: it folds identifiers to their NFKC form (full-width 'ｘ' and italic '𝑥' become
    'x'), and reads non-ASCII spaces, invisible characters and other scripts' digits in ways a
    reader of the text cannot see.
    """
    code = ord(ch)
    if ch in _REFUSED_CHARACTERS:
        return _REFUSED_CHARACTERS[ch]
    if code == 0:
        return "null character is not allowed"
    if (code < 32 and ch not in "\t\n\r") or code == 127:
        return f"control character U+{code:04X} is not allowed"
    if code < 128:
        return None
    shown = f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{code:04X}"
    spelling = _ASCII_SPELLINGS.get(ch)
    if spelling is None and ch.isspace():
        spelling = "a plain space"
    if spelling is None and not "\ud800" <= ch <= "\udfff":
        folded = unicodedata.normalize("NFKC", ch)
        if unicodedata.digit(ch, None) is not None:
            folded = str(unicodedata.digit(ch))
        if folded.isascii() and folded.isprintable() and folded.strip():
            spelling = f"'{folded}'"
    hint = f" (write {spelling})" if spelling is not None else ""
    return f"non-ASCII character {shown} is not allowed{hint}"


def syntax_message(error: SyntaxError) -> str:
    """Reword Python's syntax errors for people who are typing math, not Python."""
    msg = (error.msg or "invalid syntax").strip()
    msg = msg.split(" (detected at line")[0]
    if "null bytes" in msg or "null character" in msg:
        return "null character is not allowed"
    if "'='" in msg or "assign" in msg:
        return "'=' is not allowed"
    if msg.startswith("invalid syntax. Perhaps you forgot a comma"):
        return "invalid syntax (missing operator or comma?)"
    if msg.startswith("invalid syntax"):
        return "invalid syntax"
    if "leading zeros" in msg or ("literal" in msg and "string" not in msg):
        return "invalid number"
    if "unexpected EOF" in msg or "unexpected end" in msg:
        return "unexpected end of formula"
    if "string" in msg:
        return "strings are not allowed"
    return msg


def check_brackets(source: Source) -> None:
    """Refuse bracket nesting deeper than MAX_DEPTH before Python's parser sees it."""
    depth = 0
    for index, ch in enumerate(source.code):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise FormulaError(
                    f"too many nested parentheses (at most {MAX_DEPTH} levels)",
                    source.text_index(index) + 1,
                )
        elif ch in ")]}":
            depth = max(depth - 1, 0)


def check_tree_size(source: Source, root: ast.expr) -> None:
    """Bound node count and nesting depth of the tree, without recursion."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise FormulaError(f"formula too long (more than {MAX_NODES} terms and operations)")
        if depth > MAX_DEPTH:
            raise FormulaError(
                f"formula too deeply nested (at most {MAX_DEPTH} levels)", source.column(node)
            )
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.expr, ast.keyword)):
                continue
            same_chain = (
                isinstance(node, ast.BinOp)
                and child is node.left
                and isinstance(child, ast.BinOp)
                and CHAIN_GROUPS.get(type(node.op), "") == CHAIN_GROUPS.get(type(child.op))
            )
            stack.append((child, depth if same_chain else depth + 1))


def split_outputs(source: Source, body: ast.expr) -> list[ast.expr]:
    """Split the formula into its outputs, refusing empty ones."""
    if not isinstance(body, ast.Tuple):
        return [body]
    elements = list(body.elts)
    if not elements:
        raise FormulaError("empty formula")
    index = source.end(elements[-1])
    code = source.code
    while index < len(code) and (code[index].isspace() or code[index] == ")"):
        index += 1
    if index < len(code) and code[index] == ",":
        raise FormulaError("trailing comma (empty output)", source.text_index(index) + 1)
    if len(elements) > MAX_OUTPUTS:
        raise FormulaError(
            f"too many outputs ({len(elements)}; at most {MAX_OUTPUTS})",
            source.column(elements[MAX_OUTPUTS]),
        )
    return elements
