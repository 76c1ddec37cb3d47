"""Reading the command line: the parser class, the option types and the one refusal.

Every subcommand refuses bad input the same way: it raises :class:`UsageError`, whose
message :func:`jacviz.cli.command.main` prints as one line on stderr before exiting with
status 2. The parser and the option types here turn argparse's own complaints (a usage
dump, a traceback-prone ``float()``) into that same single line, so every command reads its
numbers and file names alike.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from jacviz.support.text_input import NumberError, parse_integer, parse_numbers, parse_real, quote

ACTIVATION_CHOICES = ("tanh", "relu", "gelu", "softplus", "sigmoid")
"""The activations a state dict's MLP may have (jacviz.nets.networks.ACTIVATIONS, unimported)."""


def add_activation_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--activation``: the activation of a network saved as a state dict.

    ``torch.save(model.state_dict())`` keeps weights, not the architecture; jacviz rebuilds
    an ``nn.Sequential`` of its Linear layers with this activation between them. Stored as
    ``network_activation`` (``jacviz animate``'s ``--activation`` is a training option).
    """
    parser.add_argument(
        "--activation",
        dest="network_activation",
        choices=ACTIVATION_CHOICES,
        help="for a --network saved as torch.save(model.state_dict()) of Linear layers: the "
        "activation between them",
    )


class UsageError(Exception):
    """Bad command-line input: reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one clear line instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Turn argparse's complaint into a :class:`UsageError`."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _option_type(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type`` reading plain decimal numbers only, refusing in one line."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except NumberError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = name  # argparse names the type in some messages
    return convert


REAL = _option_type(parse_real, "number")
"""An argparse ``type`` for one plain decimal number (no ``nan``, ``inf`` or ``1_0``)."""
WHOLE = _option_type(parse_integer, "whole number")
"""An argparse ``type`` for one whole number."""


def _file_name(text: str) -> str:
    """An argparse ``type`` for file names: refuses those no file can have, in one line."""
    if not text:
        raise argparse.ArgumentTypeError("the file name is empty")
    if "\0" in text:  # the system would raise ValueError deep inside
        raise argparse.ArgumentTypeError(f"{quote(text)} holds a NUL byte, which no file name can")
    return text


FILE_NAME = _file_name
"""An argparse ``type`` for a file name, refusing an empty one or one holding a NUL byte."""


def numbers_option(
    text: str, option: str, parse: Callable[[str], Any] = parse_real, example: str = "1,2"
) -> list:
    """The comma-separated numbers of ``option``; a UsageError in one line says what is wrong."""
    try:
        return parse_numbers(text, parse)
    except NumberError as error:
        noun = "whole numbers" if parse is parse_integer else "numbers"
        raise UsageError(
            f"{option} expects comma-separated {noun} like {example}: {error}"
        ) from None
