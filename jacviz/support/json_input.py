"""Untrusted JSON in: a strict parser, and readers that check one field each.

Sessions (``.jacviz`` files) and the settings restored at start-up are JSON that anyone can
edit, so every value is checked before it is used: its type, its range, its length, and for
text that it holds no NUL, no lone surrogate (text that cannot be written back as UTF-8) and
no line breaks. Python's :mod:`json` is lenient where a reader must not be: it accepts
``NaN``, ``Infinity`` and ``-Infinity``, gives duplicate keys the last value, reads
``1e400`` as infinity and integers of any size. The readers here refuse all of that with a
:class:`ValueError` of one short line that names the field (``where``) and shows a shortened
form of the value, never the whole of it: a million-character name or a 400-digit number
would otherwise end up in the message.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from jacviz.support.text_input import quote

T = TypeVar("T")

MAX_DEPTH = 16
"""Deepest nesting of arrays and objects accepted (a session nests 5 deep: lab, dataset, points)."""

MAX_INTEGER = 2**63 - 1
"""Largest whole number any field takes (the int64 range): larger ones are refused before any
arithmetic, so a 400-digit number never reaches a float conversion."""


def shown(value: object) -> str:
    """A short, one-line form of a JSON value for a message.

    ``null``, ``true`` and ``false`` as JSON spells them; anything else as
    :func:`~jacviz.support.text_input.quote` shows it: escaped, cut with an ellipsis, long
    arrays described by their size rather than spelled out.
    """
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return quote(value)


def parse_json(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text strictly: one text, one meaning to every reader.

    Raises
    ------
    ValueError
        For invalid JSON, a duplicate key in an object, the tokens ``NaN``, ``Infinity`` or
        ``-Infinity``, or arrays and objects nested deeper than ``max_depth``.

    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            seen: set[str] = set()
            twice = next(key for key, _ in items if key in seen or seen.add(key))
            raise ValueError(f"duplicate key {shown(twice)} in a JSON object")
        return result

    def constant(token: str) -> Any:
        raise ValueError(f"{token} is not allowed in JSON (numbers must be finite)")

    try:
        document = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except RecursionError:
        raise ValueError(f"arrays or objects nested more than {max_depth} deep") from None
    _check_depth(document, max_depth)
    return document


def _check_depth(document: Any, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth``, without recursion."""
    level: list[Any] = [document]  # the containers at one depth: 1, then 2, ...
    for _ in range(max_depth):
        level = [
            child
            for node in level
            if isinstance(node, list | dict)
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, list | dict)
        ]
        if not level:
            return
    raise ValueError(f"arrays or objects nested more than {max_depth} deep")


# ----------------------------------------------------------------------------------------------
# Readers: each takes the value and ``where`` (what the field is called in messages)
# ----------------------------------------------------------------------------------------------


def text_problem(text: str, max_length: int) -> str | None:
    """Why ``text`` cannot be stored and shown as one line of text, or None.

    Longer than ``max_length`` characters, a NUL or another control character (line breaks
    included; tabs are allowed), or a lone surrogate (which UTF-8 cannot encode: such text
    comes from undecodable file names, and would make the next save fail).
    """
    if len(text) > max_length:
        return f"is longer than {max_length} characters ({len(text)})"
    if not text.isprintable():  # cheap: a C loop; only odd text is looked at closely
        for character in text:
            category = unicodedata.category(character)
            if category == "Cs":
                return "holds a lone surrogate (not valid Unicode text)"
            if category == "Cc" and character != "\t":
                return f"holds the control character U+{ord(character):04X}"
    return None


def read_text(value: object, where: str, max_length: int, allow_empty: bool = True) -> str:
    """``value`` if it is text that passes :func:`text_problem`, else ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{where} must be text, got {shown(value)}")
    if not value and not allow_empty:
        raise ValueError(f"{where} must not be empty")
    problem = text_problem(value, max_length)
    if problem:
        raise ValueError(f"{where} {problem}: {shown(value)}")
    return value


def read_choice(value: object, where: str, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``, else ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{where} must be one of {', '.join(choices)}; got {shown(value)}")
    return value


def read_integer(
    value: object, where: str, low: int = -MAX_INTEGER, high: int = MAX_INTEGER
) -> int:
    """``value`` if it is a whole number (not a bool, not 1.0) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be a whole number, got {shown(value)}")
    if not low <= value <= high:
        raise ValueError(f"{where} must be a whole number from {low} to {high}, got {shown(value)}")
    return value


def read_number(value: object, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float if it is a finite number in ``[low, high]``, else ValueError.

    Integers are taken too (JSON writes ``1.0`` as ``1`` in some tools), but only in the range
    of floats; ``1e400``, which Python's JSON reads as infinity, is refused as not finite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{where} must be a finite number, got {shown(value)}")
    if not low <= number <= high:
        raise ValueError(f"{where} must be a number from {low:g} to {high:g}, got {shown(value)}")
    return number


def read_list(
    value: object,
    where: str,
    read_item: Callable[[object, str], T],
    length: int | None = None,
    max_length: int | None = None,
) -> tuple[T, ...]:
    """``value`` as a tuple of its items read by ``read_item`` (``where[i]`` in messages).

    ``length`` is the exact number of items required, ``max_length`` the most accepted.
    """
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list, got {shown(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{where} must have {length} items, got {shown(value)}")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{where} must have at most {max_length} items, got {shown(value)}")
    return tuple(read_item(item, f"{where}[{index}]") for index, item in enumerate(value))


def read_object(
    value: object, where: str, required: Iterable[str], optional: Iterable[str] = ()
) -> dict[str, Any]:
    """``value`` if it is an object with all ``required`` fields and no others but ``optional``."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object, got {shown(value)}")
    required = tuple(required)
    known = {*required, *optional}
    unknown = [key for key in value if key not in known]
    if unknown:
        names = ", ".join(shown(key) for key in unknown[:3])
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise ValueError(f"{where} has unknown field(s): {names}{more}")
    missing = [key for key in required if key not in value]
    if missing:
        raise ValueError(f"{where} lacks field(s): {', '.join(missing)}")
    return value


def optional(read: Callable[..., T]) -> Callable[..., T | None]:
    """A reader that takes JSON null as None and reads anything else with ``read``."""

    def read_optional(value: object, where: str, *args: Any, **kwargs: Any) -> T | None:
        return None if value is None else read(value, where, *args, **kwargs)

    return read_optional
