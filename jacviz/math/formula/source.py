"""The text of a formula as Python's parser sees it, and the way back to the user's columns.

Every refusal names the column of the user's text where the problem is, but Python's parser
sees a slightly rewritten text and reports byte offsets. :class:`Source` holds both texts and
maps positions between them.
"""

from __future__ import annotations

import ast


class Source:
    """The code handed to Python's parser, and the way back to columns of the user's text.

    Two rewrites keep Python's parser usable for formulas while every column still refers to
    the user's text: ``^`` becomes ``**`` (as a token, not as Python's bitwise xor, which binds
    more loosely than ``+``: ``x^2 + 1`` would mean x**3), and line breaks become spaces (a
    formula is one line; Python would end the expression at a newline). Leading whitespace is
    dropped because Python reads it as an indent.
    """

    def __init__(self, text: str) -> None:
        pieces: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(text):
            if ch == "^":
                pieces.append("**")
                origin += [i, i]
            else:
                pieces.append(" " if ch in "\r\n" else ch)
                origin.append(i)
        code = "".join(pieces)
        start = len(code) - len(code.lstrip())
        self.text = text
        self.code = code[start:]
        self._origin = [*origin[start:], len(text)]
        # Python's AST gives byte offsets into the UTF-8 encoded code.
        self._char_of_byte: list[int] = []
        for index, ch in enumerate(self.code):
            self._char_of_byte += [index] * len(ch.encode("utf-8"))
        self._char_of_byte.append(len(self.code))

    def char_index(self, byte_offset: int) -> int:
        """Index in ``code`` of an AST byte offset."""
        return self._char_of_byte[min(max(byte_offset, 0), len(self._char_of_byte) - 1)]

    def text_index(self, code_index: int) -> int:
        """Index in the user's text of an index in ``code``."""
        return self._origin[min(max(code_index, 0), len(self._origin) - 1)]

    def column(self, node: ast.AST) -> int | None:
        """1-based column in the user's text where ``node`` starts."""
        if getattr(node, "lineno", 1) != 1 or not hasattr(node, "col_offset"):
            return None
        return self.text_index(self.char_index(node.col_offset)) + 1

    def end(self, node: ast.AST) -> int:
        """Index in ``code`` just after ``node``."""
        end_col = getattr(node, "end_col_offset", None)
        return self.char_index(end_col) if end_col is not None else len(self.code)

    def span(self, node: ast.AST) -> str:
        """The user's text of ``node``, stripped."""
        start = self.text_index(self.char_index(node.col_offset))
        stop = self.text_index(self.end(node))
        return self.text[start:stop].strip()

    def next_token_column(self, after: ast.AST, default: ast.AST) -> int | None:
        """Column of the first token after ``after`` that is not a space or ``)``.

        That is the operator of a binary operation (``after`` being its left operand), the dot
        of an attribute access, and so on; the AST itself does not record operator positions.
        """
        index = self.end(after)
        while index < len(self.code) and (self.code[index].isspace() or self.code[index] == ")"):
            index += 1
        if index < len(self.code):
            return self.text_index(index) + 1
        return self.column(default)

    def syntax_column(self, error: SyntaxError) -> int | None:
        """Column of a SyntaxError, whose offset counts characters from 1."""
        if error.offset is None or error.lineno not in (None, 1):
            return None
        return self.text_index(error.offset - 1) + 1
