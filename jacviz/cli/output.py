"""What the command prints: JSON that is always valid, and errors as one short line.

Whatever the input and whatever the terminal, the ``jacviz`` command's output stays readable
by a script: ``--json`` documents are one line of strict JSON (no NaN, no infinity), an error
is one line on stderr that never floods the terminal with an echo of a huge argument, and no
character the terminal cannot encode makes printing fail.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import Any

from jacviz.support.text_input import MAX_QUOTE, one_line, quote

_LONG_TOKEN = re.compile(rf"\S{{{2 * MAX_QUOTE},}}")
"""A run of 80 or more characters without a space in a message: an echo of user input."""


def finite_json(document: dict) -> dict:
    """``document`` with every non-finite float replaced by None, and a reason for each.

    JSON has no NaN or infinity (``json.dumps(allow_nan=False)`` raises on them, and what
    Python writes otherwise other parsers refuse), so they are written as ``null`` and the
    document's ``warnings`` list says which number it was and why, as ``jacviz probe`` does.
    """
    reasons: list[str] = []

    def clean(value: Any, where: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            word = "undefined (NaN)" if math.isnan(value) else "infinite"
            reasons.append(f"{where} is {word}; written as null")
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    cleaned = clean(document, "")
    if reasons:
        cleaned["warnings"] = [*cleaned.get("warnings", []), *reasons]
    return cleaned


def print_json(document: dict) -> None:
    """Print ``document`` as one line of valid JSON, whatever its numbers and the terminal.

    Non-finite numbers become null (:func:`finite_json`); text is escaped to ASCII unless
    stdout takes UTF-8, so that the escapes stay valid JSON.
    """
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        utf8 = False
    print(json.dumps(finite_json(document), allow_nan=False, ensure_ascii=not utf8))


def tolerant_output() -> None:
    r"""Make printing never fail on the terminal's encoding.

    A path with bytes that are not UTF-8 (``\xff.png``) reaches Python as a lone surrogate,
    and a strict UTF-8 or ASCII stdout (``PYTHONIOENCODING=utf-8:strict``, ``LANG=C``) raised
    UnicodeEncodeError after the file was written. Characters the stream cannot encode are
    now written as backslash escapes (``\udcff``, ``\u03c3``).
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (OSError, ValueError):  # a closed or unusual stream: leave it
                pass


def _shorten_words(message: str, words: Sequence[str]) -> str:
    """``message`` with every long command-line word in it shortened.

    argparse quotes values whole: an invalid 5,000-character ``--view`` filled the terminal.
    """
    for word in sorted({w for w in words if len(w) > MAX_QUOTE}, key=len, reverse=True):
        message = message.replace(repr(word), quote(word)).replace(word, quote(word))
    # What other modules echo of it (a file's name without its folder) is cut too, so that
    # the reason after it still fits on the line.
    return _LONG_TOKEN.sub(lambda match: match.group()[: MAX_QUOTE - 1] + "…", message)


def complain(message: str, words: Sequence[str] = (), prefix: str = "error") -> None:
    """Print ``jacviz: error: message`` as one short line on stderr, whatever the message.

    ``words`` are the command line's words: any long one echoed in ``message`` is shortened.
    """
    line = one_line(f"jacviz: {prefix}: {_shorten_words(message, words)}")
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):  # stderr closed: nothing more can be said
        pass
