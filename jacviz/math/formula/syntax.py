"""The first stage of parsing, without sympy: formula text to the syntax tree of each output.

It runs the text guards (:mod:`~jacviz.math.formula.guards`) and Python's own parser
(``ast.parse``, which only builds a tree), and refuses with one
:class:`~jacviz.math.formula.limits.FormulaError` line what is not well-formed: bad
characters, unbalanced or too deep brackets, syntax errors, trees too large, empty or too
many outputs. :func:`~jacviz.math.formula.parse.parse_formula` goes on from here to sympy.

Kept apart from sympy on purpose: importing sympy takes about a quarter of a second, and the
app's window can say how many outputs a saved formula has (and show it in its editor) before
sympy is imported, after its first paint.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

from jacviz.math.formula.guards import (
    character_problem,
    check_brackets,
    check_tree_size,
    split_outputs,
    syntax_message,
)
from jacviz.math.formula.limits import MAX_TEXT_LENGTH, FormulaError
from jacviz.math.formula.source import Source


@dataclass(frozen=True)
class Outputs:
    """A formula text read as far as its syntax: its source and one tree per output."""

    source: Source
    elements: tuple[ast.expr, ...]


def read_outputs(text: str) -> Outputs:
    """Read ``text`` up to the syntax tree of each of its outputs.

    Raises
    ------
    FormulaError
        For text that is not a well-formed formula (see the module's docstring), with the
        1-based column where possible. Names, functions and numbers are checked later, by the
        compiler to sympy.

    """
    if len(text) > MAX_TEXT_LENGTH:
        raise FormulaError(f"formula too long ({len(text)} characters; at most {MAX_TEXT_LENGTH})")
    for index, ch in enumerate(text):
        problem = character_problem(ch)
        if problem is not None:
            raise FormulaError(problem, index + 1)
    source = Source(text)
    if not source.code.strip():
        raise FormulaError("empty formula")
    check_brackets(source)
    try:
        with warnings.catch_warnings():
            # Python warns on stderr about spellings such as "1if" or "2(x)"; the compiler
            # refuses what they mean with its own message.
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source.code, mode="eval")
    except SyntaxError as error:
        column = source.syntax_column(error)
        message = syntax_message(error)
        if column is not None and text[column - 1 : column] == "=":
            message = "'=' is not allowed"
        raise FormulaError(message, column) from None
    except (RecursionError, MemoryError, OverflowError):
        raise FormulaError("formula too complex to parse") from None
    except ValueError as error:
        raise FormulaError(f"cannot parse formula: {error}") from None
    check_tree_size(source, tree.body)
    return Outputs(source, tuple(split_outputs(source, tree.body)))


def count_outputs(text: str) -> int:
    """How many outputs the formula ``text`` has, read without sympy.

    Raises
    ------
    FormulaError
        As :func:`read_outputs` does; a text this accepts may still be refused by
        :func:`~jacviz.math.formula.parse.parse_formula` (an unknown name, a number too large).
    TypeError
        If ``text`` is not a string.

    """
    if not isinstance(text, str):
        raise TypeError(f"formula text must be a str, got {type(text).__name__}")
    try:
        return len(read_outputs(text).elements)
    except RecursionError:
        raise FormulaError("formula too complex") from None
