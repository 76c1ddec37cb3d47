"""Strict readings of untrusted values: JSON with one meaning, integers that are integers.

Network files carry JSON (a jacviz MLP file's architecture, an archive's ``jacviz.json``, a
torch.export program's description) that jacviz validates and torch then reads again. Parsing
it strictly means the check and the later reader cannot see two different documents.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["is_int", "strict_json"]


def strict_json(text: str, allow_nonfinite: bool = False) -> Any:
    """json.loads that refuses duplicate keys, so that one text has one meaning to every reader.

    NaN/Infinity are refused too unless ``allow_nonfinite`` (torch.export writes them for
    constants such as ``clamp(max=inf)``).
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            raise ValueError("duplicate key in a JSON object")
        return result

    def constant(token: str) -> Any:
        raise ValueError(f"{token} is not allowed in JSON")

    if allow_nonfinite:
        return json.loads(text, object_pairs_hook=pairs)
    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def is_int(value: object) -> bool:
    """Whether ``value`` is a JSON integer (``True`` and ``False`` are not, unlike in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)
