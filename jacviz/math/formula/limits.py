"""The bounds every formula is held to, and the one error that reports a refusal.

Formulas are hostile input: the parser refuses absurd or malicious text quickly and with one
clear line. The numbers here are those bounds, on the text (its length, nodes, nesting and
outputs) and on the work sympy may be asked to do (the size of exact numbers, the degree of
roots, the size of the symbolic Jacobian). Every refusal is a :class:`FormulaError`.
"""

from __future__ import annotations

from typing import Any

#: Longest formula text accepted, in characters.
MAX_TEXT_LENGTH = 2000
#: Most expression nodes (numbers, names, operators, calls) in one formula.
MAX_NODES = 256
#: Deepest nesting of operations or brackets. Chains of ``+``/``-`` or ``*``/``/`` count once.
MAX_DEPTH = 32
#: Most comma-separated outputs.
MAX_OUTPUTS = 8
#: Longest :class:`FormulaError` message, in characters (without " at column N").
MAX_MESSAGE_LENGTH = 160

#: Bound on the size, in bits, of any exact rational sympy may be asked to build. It keeps
#: exact powers cheap and every integer printable (Python refuses to print ints of more than
#: 4300 digits, about 14000 bits).
MAX_BITS = 4096
#: Bound on the total number of sympy nodes in the symbolic Jacobian, a last guard that keeps
#: printing and compiling it quick.
MAX_JACOBIAN_NODES = 20000
#: Largest q in an exact number raised to a fraction p/q. Such a number is algebraic of degree
#: q, and sympy decides the sign of one it cannot tell from 0 numerically through its minimal
#: polynomial, of degree q: acos((3**35)**(10**-976)), within 1e-975 of acos(1), never finished.
MAX_ROOT_DEGREE = 4096
#: Exact numbers with more bits than this are rooted as floats (see the compiler's roots).
MAX_ROOT_BITS = 1024
#: Integers beyond this are printed as floats: torch cannot take them as scalars.
MAX_EXACT_INT = 2**53


class FormulaError(ValueError):
    """A formula text that cannot be accepted, with a message meant for the user.

    Parameters
    ----------
    message : str
        What is wrong, e.g. ``"unknown name 'z'"``.
    column : int or None
        1-based column in the user's text of the offending token, or None when the problem is
        not tied to one place (e.g. ``"empty formula"``).

    Notes
    -----
    ``str(error)`` is ``f"{message} at column {column}"``, or just the message without a column.
    The message is always one line of at most :data:`MAX_MESSAGE_LENGTH` characters: messages
    quote the user's text only in short pieces, and this backs that up for any message that
    passes on words from elsewhere (Python's parser, sympy).

    """

    def __init__(self, message: str, column: int | None = None) -> None:
        message = shorten(" ".join(str(message).split()), MAX_MESSAGE_LENGTH)
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"{message} at column {column}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep message and column apart when pickled (e.g. sent back from a worker process).
        return (type(self), (self.message, self.column))


def shorten(name: str, limit: int = 24) -> str:
    """``name`` cut to ``limit`` characters with a trailing "…", so messages stay one short line."""
    return name if len(name) <= limit else name[: limit - 1] + "…"
