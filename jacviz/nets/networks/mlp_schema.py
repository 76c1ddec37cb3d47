"""The architecture description inside a jacviz MLP file, and its validation.

A jacviz MLP file (:mod:`.mlp_format`) stores, next to its tensors, one JSON document::

    {"format": "jacviz-mlp", "version": 1,
     "layers": [{"type": "linear", "in": 2, "out": 64, "bias": true}, {"type": "tanh"}, ...],
     "metadata": {...}}

:func:`check_mlp_document` is the one validation of that document: loading runs it on what a
file says, and saving runs it on what would be written, so that jacviz never writes a file it
would refuse to read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.limits import (
    ACTIVATION_NAMES,
    MAX_LINEAR_LAYERS,
    MAX_PARAMETERS,
    MAX_WIDTH,
    too_many_parameters,
)
from jacviz.nets.networks.strict import is_int

__all__ = ["HEADER_KEY", "MLP_FORMAT", "MLP_VERSION", "check_mlp_document"]

MLP_FORMAT = "jacviz-mlp"
"""The ``format`` a jacviz MLP file's description names (and the LoadedNetwork format)."""
MLP_VERSION = 1
"""The version of the description this jacviz writes and reads."""
HEADER_KEY = "jacviz"
"""The safetensors header metadata key holding the architecture JSON."""

_MLP_KEYS = {"format", "version", "layers", "metadata"}


def check_mlp_document(
    document: Any, name: str, bad: Callable[[str], NetworkError]
) -> tuple[list[dict], dict[str, object]]:
    """Validate the architecture JSON of a jacviz MLP file; return its layers and metadata."""
    if not isinstance(document, dict):
        raise bad("its architecture description is not a JSON object")
    if document.get("format") != MLP_FORMAT:
        raise bad(f"the header says format {document.get('format')!r}, not {MLP_FORMAT!r}")
    version = document.get("version")
    if not is_int(version):
        raise bad(f"its format version {version!r} is not an integer")
    if version > MLP_VERSION:
        raise NetworkError(
            f"{name} was written by a newer jacviz (MLP format version {version}; this jacviz "
            f"reads version {MLP_VERSION}), so update jacviz to open it"
        )
    if version != MLP_VERSION:
        raise bad(f"unknown MLP format version {version}")
    unknown = set(document) - _MLP_KEYS
    if unknown:
        raise bad(f"unknown field {sorted(unknown)[0]!r} in the architecture description")
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        raise bad("its metadata is not a JSON object")
    layers = document.get("layers")
    if not isinstance(layers, list) or not layers:
        raise bad("'layers' must be a non-empty list")
    if len(layers) > 4 * MAX_LINEAR_LAYERS:
        raise bad(f"it declares {len(layers)} layers, more than jacviz accepts")
    width = None
    linear_count = 0
    for index, layer in enumerate(layers):
        _check_layer(layer, index, bad)
        if layer["type"] != "linear":
            continue
        linear_count += 1
        if width is not None and layer["in"] != width:
            raise bad(
                f"layers[{index}] expects {layer['in']} inputs but the layer before gives {width}"
            )
        width = layer["out"]
    if linear_count == 0:
        raise bad("it has no linear layer")
    if linear_count > MAX_LINEAR_LAYERS:
        raise bad(f"it has {linear_count} linear layers, more than the {MAX_LINEAR_LAYERS} allowed")
    parameters = sum(
        layer["in"] * layer["out"] + (layer["out"] if layer.get("bias", True) else 0)
        for layer in layers
        if layer["type"] == "linear"
    )
    if parameters > MAX_PARAMETERS:
        raise NetworkError(too_many_parameters(name, parameters))
    return layers, metadata


_LAYER_FIELDS: dict[str, set[str]] = {
    "linear": {"in", "out", "bias"},
    "identity": set(),
    "softplus": {"beta", "threshold"},
    "gelu": {"approximate"},
}


def _check_layer(layer: Any, index: int, bad: Callable[[str], NetworkError]) -> None:
    where = f"layers[{index}]"
    if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
        raise bad(f"{where} is not an object with a 'type'")
    kind = layer["type"]
    if kind not in _LAYER_FIELDS and kind not in ACTIVATION_NAMES:
        known = ", ".join(["linear", "identity", *ACTIVATION_NAMES])
        raise bad(f"{where} has unknown type {kind!r} (known: {known})")
    extra = set(layer) - {"type"} - _LAYER_FIELDS.get(kind, set())
    if extra:
        raise bad(f"{where} ({kind}) has unknown field {sorted(extra)[0]!r}")
    if kind == "linear":
        for key in ("in", "out"):
            value = layer.get(key)
            if not is_int(value):
                raise bad(f"{where} needs an integer {key!r}, got {value!r:.40}")
            if not 1 <= value <= MAX_WIDTH:
                raise bad(f"{where} is {value} wide; jacviz MLP files allow 1 to {MAX_WIDTH}")
        if not isinstance(layer.get("bias", True), bool):
            raise bad(f"{where} has a non-boolean 'bias'")
    elif kind == "softplus":
        for key, default in (("beta", 1.0), ("threshold", 20.0)):
            value = layer.get(key, default)
            if not _is_number(value) or not 0 < value < 1e6:
                raise bad(f"{where} has an invalid softplus {key} {value!r:.40}")
    elif kind == "gelu" and layer.get("approximate", "none") not in ("none", "tanh"):
        raise bad(f"{where} has an invalid gelu approximation {layer.get('approximate')!r:.40}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
