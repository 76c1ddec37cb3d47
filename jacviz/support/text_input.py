"""Text that users type: plain decimal numbers, and short quotes of it for messages.

Python's ``float()`` and ``int()`` accept far more than a person means by a number:
``1_0`` (digit grouping), full-width or Arabic-Indic digits (``１``, ``١``), ``inf``, ``nan``
and ``Infinity``; ``float.fromhex`` and literals add ``0x10``. A command line option, a
coordinate or a CSV field that takes one of those is almost always a mistake, and a NaN or an
infinity that gets in travels far before anything fails. :func:`parse_real` and
:func:`parse_integer` accept only the plain decimal forms (ASCII digits, an optional sign,
point and exponent, surrounding spaces) and say in one line what they refused.

Messages echo what the user typed through :func:`quote`, which escapes what cannot be
printed (line breaks, a non-UTF-8 file name's bytes) and shortens long text with an ellipsis,
so a 4,000-character argument gives a readable one-line error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TypeVar

__all__ = [
    "MAX_LINE",
    "MAX_QUOTE",
    "NumberError",
    "one_line",
    "parse_integer",
    "parse_numbers",
    "parse_real",
    "printable",
    "quote",
]

MAX_QUOTE = 40
"""Characters of user text a message quotes (quotes and ellipsis included)."""

MAX_LINE = 300
"""Characters of a one-line message at most; longer ones end in an ellipsis."""

MAX_DIGITS = 100
"""Digits a whole number may have: far beyond any count, size or seed jacviz takes."""

_SPACES = " \t\r\n\f\v"
# re.ASCII: \d would also match the other scripts' digits that int() accepts.
_REAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)

Number = TypeVar("Number", int, float)


class NumberError(ValueError):
    """Text that is not the number asked for; ``str(error)`` is one line saying why."""


def quote(value: object, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` for a message: escaped and at most ``limit`` characters.

    Longer text is cut and ends in ``…`` inside the quotes, e.g. ``'xxxxxxx…'``; any other
    value's repr is cut the same way (a 400-digit integer shows as ``123456…``).
    """
    if isinstance(value, list | tuple | dict | set | frozenset) and len(value) > 8:
        # Not spelled out: the repr of a million points would take seconds to build.
        return f"<a {type(value).__name__} of {len(value)} items>"
    try:
        shown = repr(value)
    except ValueError:  # an integer beyond Python's 4300-digit limit for text
        shown = f"<an integer of {math.ceil(value.bit_length() * math.log10(2))} digits>"
    if len(shown) <= limit:
        return shown
    if isinstance(value, str):
        return shown[: max(limit - 2, 1)] + "…" + shown[0]
    return shown[: max(limit - 1, 1)] + "…"


def printable(text: str, limit: int = MAX_QUOTE) -> str:
    """``text`` itself if it is short and prints as it is (a file name), else :func:`quote`."""
    if len(text) <= limit and text.isprintable():
        return text
    return quote(text, limit)


def one_line(message: str, limit: int = MAX_LINE) -> str:
    r"""``message`` as one printable line of at most ``limit`` characters.

    Line breaks and tabs become spaces; other characters that do not print (a terminal's
    escape sequences, a non-UTF-8 file name's bytes) are written as escapes (``\x1b``,
    ``\udcff``), so a message can neither span lines, nor drive the terminal, nor fail to
    encode.
    """
    text = "".join(
        c if c.isprintable() else " " if c.isspace() else c.encode("unicode_escape").decode()
        for c in message
    )
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def parse_real(text: str) -> float:
    """The finite float written in ``text`` as a plain decimal number.

    Accepted: ASCII digits with an optional sign, decimal point and exponent, and spaces
    around them (``"2"``, ``"-0.5"``, ``".5"``, ``" 1e-3 "``). Refused: everything else
    ``float()`` takes (``1_0``, ``１``, ``inf``, ``nan``) and numbers beyond float64's range.

    Raises
    ------
    NumberError
        Saying what was refused and why.

    """
    stripped = text.strip(_SPACES)
    if not _REAL.fullmatch(stripped):
        raise NumberError(f"{quote(text)} is not a plain decimal number (like 2, -0.5 or 1e-3)")
    value = float(stripped)
    if not math.isfinite(value):
        raise NumberError(f"{quote(text)} is too large for a number (the limit is about 1.8e308)")
    return value


def parse_integer(text: str) -> int:
    """The whole number written in ``text``: ASCII digits with an optional sign, spaces around.

    Raises
    ------
    NumberError
        For anything else (``1.0``, ``1e3``, ``1_000``, ``１２``), or more than
        :data:`MAX_DIGITS` digits.

    """
    stripped = text.strip(_SPACES)
    if not _INTEGER.fullmatch(stripped):
        raise NumberError(f"{quote(text)} is not a whole number (like 12)")
    if len(stripped.lstrip("+-")) > MAX_DIGITS:
        raise NumberError(f"{quote(text)} has too many digits (at most {MAX_DIGITS})")
    return int(stripped)


def parse_numbers(
    text: str, parse: Callable[[str], Number] = parse_real, separator: str = ","
) -> list[Number]:
    """The numbers in ``text`` separated by ``separator``, each read by ``parse``.

    Raises
    ------
    NumberError
        For empty text, an empty entry (``"1,,2"``) or an entry ``parse`` refuses.

    """
    if not text.strip(_SPACES):
        raise NumberError("no numbers given (the text is empty)")
    parts = text.split(separator)
    if not all(part.strip(_SPACES) for part in parts):
        raise NumberError(f"{quote(text)} has an empty entry")
    return [parse(part) for part in parts]
