"""jacviz's own network format: an MLP as a safetensors file, with no code and no pickle.

:func:`save_mlp` writes a plain ``nn.Sequential`` of Linear layers and activations as its
tensors plus, in the safetensors header, the architecture description of :mod:`.mlp_schema`;
:func:`load_jacviz_mlp` rebuilds the network from those tensors and that description only,
after checking every tensor's name, shape and dtype against it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.limits import FLOAT_DTYPES
from jacviz.nets.networks.loaded import LoadedNetwork, finish_network, nonfinite_message
from jacviz.nets.networks.mlp import ACTIVATIONS
from jacviz.nets.networks.mlp_schema import (
    HEADER_KEY,
    MLP_FORMAT,
    MLP_VERSION,
    check_mlp_document,
)
from jacviz.nets.networks.strict import strict_json
from jacviz.support.files import write_atomically
from jacviz.support.isolation import error_line

__all__ = ["load_jacviz_mlp", "mlp_bytes", "safetensors_header_size", "save_mlp"]


def save_mlp(
    model: torch.nn.Sequential,
    path: str | os.PathLike,
    metadata: dict | None = None,
) -> None:
    """Save an MLP in jacviz's own safe format, which :func:`load_network` reads back exactly.

    The file is a ``.safetensors`` file: the Linear layers' tensors (named ``"<i>.weight"`` and
    ``"<i>.bias"`` after their index in the layer list, as in ``nn.Sequential.state_dict()``),
    and in the header metadata, under the key ``"jacviz"``, one JSON document describing the
    architecture::

        {"format": "jacviz-mlp", "version": 1,
         "layers": [{"type": "linear", "in": 2, "out": 64, "bias": true}, {"type": "tanh"}, ...],
         "metadata": {...}}

    Loading such a file needs no pickle and no code, only the tensors and this description.

    Parameters
    ----------
    model : torch.nn.Sequential
        A plain ``nn.Sequential`` (nested ones are flattened) of ``nn.Linear`` layers, the
        activations in :data:`ACTIVATIONS` (Softplus's ``beta``/``threshold`` and GELU's
        ``approximate`` are kept) and ``nn.Identity``; float32 or float64 weights, on any device.
        At least 2 inputs, as :func:`load_network` requires.
    path : str or os.PathLike
        Destination, conventionally ending in ``.safetensors``. Written atomically: the data go
        to a temporary file in the same directory, which then replaces ``path`` in one step, so
        a crash never leaves a half-written network behind.
    metadata : dict, optional
        JSON-serialisable information kept with the network, e.g. ``{"class_names": ["a",
        "b"], "description": "...", "training": {"steps": 2000}}``.

    Raises
    ------
    NetworkError
        If the model contains anything else (other layer types, subclasses, forward hooks,
        activations with settings the format cannot store), has non-finite weights, mixes
        dtypes, or ``metadata`` is not JSON-serialisable. Nothing is written then.
    OSError
        If the file cannot be written.

    """
    target = Path(path)
    write_atomically(target, mlp_bytes(model, target.name or str(target), metadata))


def mlp_bytes(model: torch.nn.Sequential, name: str, metadata: dict | None = None) -> bytes:
    """The content of the file :func:`save_mlp` writes, without writing it.

    For networks kept in memory as a jacviz MLP file (a rebuilt state dict that a session
    embeds, so that reopening it needs no activation). ``name`` stands for the file in messages.

    Raises
    ------
    NetworkError
        As :func:`save_mlp`.

    """
    layers, tensors = _describe_mlp(model, name)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(key, str) for key in metadata):
        raise NetworkError(
            f"cannot save {name}: metadata must be a dict with string keys, got {metadata!r:.80}"
        )
    document = {
        "format": MLP_FORMAT,
        "version": MLP_VERSION,
        "layers": layers,
        "metadata": metadata,
    }
    # What load_network would refuse (too wide, too deep, odd activation settings) is refused now.
    check_mlp_document(document, name, lambda what: NetworkError(f"cannot save {name}: {what}"))
    try:
        header = json.dumps(document, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise NetworkError(
            f"cannot save {name}: its metadata is not plain JSON ({error_line(error)})"
        ) from error
    return safetensors.torch.save(tensors, metadata={HEADER_KEY: header})


def _describe_mlp(model: nn.Module, name: str) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Return the layer descriptions and the tensors of a savable MLP, or raise NetworkError."""
    kinds = ", ".join([*ACTIVATIONS, "identity"])

    def refuse(what: str) -> NetworkError:
        return NetworkError(
            f"cannot save {name}: {what}; jacviz's MLP format describes plain nn.Sequential "
            f"chains of Linear layers and activations ({kinds}), so save other networks with "
            "torch.jit.save or torch.export.save"
        )

    if type(model) is not nn.Sequential:
        raise refuse(f"the model is a {type(model).__name__}, not an nn.Sequential")
    modules: list[nn.Module] = []

    def flatten(sequential: nn.Module) -> None:
        for child in sequential.children():
            if child._forward_hooks or child._forward_pre_hooks:
                raise refuse(f"a {type(child).__name__} layer has forward hooks")
            if type(child) is nn.Sequential:
                flatten(child)
            else:
                modules.append(child)

    if model._forward_hooks or model._forward_pre_hooks:
        raise refuse("the model has forward hooks")
    flatten(model)

    layers: list[dict] = []
    tensors: dict[str, torch.Tensor] = {}
    for index, module in enumerate(modules):
        if type(module) is nn.Linear:
            layers.append(
                {
                    "type": "linear",
                    "in": module.in_features,
                    "out": module.out_features,
                    "bias": module.bias is not None,
                }
            )
            # Clones: tied weights (one Linear used twice) would otherwise share storage,
            # which safetensors refuses; the loaded copies compute the same function.
            tensors[f"{index}.weight"] = module.weight.detach().to("cpu").contiguous().clone()
            if module.bias is not None:
                tensors[f"{index}.bias"] = module.bias.detach().to("cpu").contiguous().clone()
        else:
            layers.append(_describe_activation(module, refuse))
    linear = [layer for layer in layers if layer["type"] == "linear"]
    if not linear:
        raise refuse("it has no Linear layer")
    dtypes = {tensor.dtype for tensor in tensors.values()}
    if len(dtypes) > 1 or not dtypes <= set(FLOAT_DTYPES):
        found = ", ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))
        raise NetworkError(
            f"cannot save {name}: jacviz MLP files hold float32 or float64 weights of one dtype, "
            f"this model has {found}; convert it with model.float() or model.double() first"
        )
    width = linear[0]["in"]
    for layer in linear:
        if layer["in"] != width:
            raise refuse(f"a Linear layer expects {layer['in']} inputs but gets {width}")
        width = layer["out"]
    if linear[0]["in"] < 2:
        raise NetworkError(
            f"cannot save {name}: the network takes {linear[0]['in']} input, but jacviz shows "
            "maps of the plane and needs at least 2 inputs, so it could not load the file back"
        )
    for key, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise NetworkError(
                f"cannot save {name}: tensor {key!r} has NaN or infinite weights, so jacviz "
                "could not load the file back"
            )
    return layers, tensors


def _describe_activation(module: nn.Module, refuse: Callable[[str], NetworkError]) -> dict:
    kind = type(module)
    if kind is nn.Identity:
        return {"type": "identity"}
    if kind is nn.Softplus:
        return {
            "type": "softplus",
            "beta": float(module.beta),
            "threshold": float(module.threshold),
        }
    if kind is nn.GELU:
        return {"type": "gelu", "approximate": str(module.approximate)}
    for key, cls in ACTIVATIONS.items():
        if kind is cls:
            # Any other setting (e.g. a slope) would be lost: refuse rather than save a different
            # function. In-place evaluation does not change the function.
            settings = module.extra_repr().replace("inplace=True", "").strip(" ,")
            if settings != cls().extra_repr():
                raise refuse(f"its {kind.__name__} layer has settings ({settings}) it cannot store")
            return {"type": key}
    raise refuse(f"it contains a {kind.__name__} layer")


# ---- reading -------------------------------------------------------------------------------


def safetensors_header_size(data: bytes) -> int | None:
    """Header length of a safetensors file (8-byte little-endian size, then a JSON object)."""
    if len(data) < 10:
        return None
    size = int.from_bytes(data[:8], "little")
    if size < 2 or size > len(data) - 8 or data[8:9] != b"{":
        return None
    return size


def load_jacviz_mlp(data: bytes, name: str) -> LoadedNetwork:
    """Rebuild and check the network of a jacviz MLP file (``data`` has a safetensors header).

    Raises
    ------
    NetworkError
        If the description is missing or invalid, a tensor is missing, unexpected, of the
        wrong shape or dtype, or not finite, or the rebuilt network fails the checks of
        :func:`~.loaded.finish_network`.

    """
    size = safetensors_header_size(data)
    assert size is not None

    def bad(what: str) -> NetworkError:
        return NetworkError(f"{name} is not a valid jacviz MLP file: {what}")

    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NetworkError(f"{name} is a damaged safetensors file (unreadable header)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or HEADER_KEY not in meta:
        raise NetworkError(
            f"{name} is a safetensors file without jacviz's architecture description (bare "
            "weights cannot be rebuilt into a network); save networks with "
            "jacviz.nets.networks.save_mlp, torch.jit.save or torch.export.save"
        )
    try:
        document = strict_json(str(meta[HEADER_KEY]))
    except (ValueError, RecursionError) as error:
        raise bad(f"its architecture description is not valid JSON ({error})") from None
    layers, metadata = check_mlp_document(document, name, bad)

    try:
        tensors = safetensors.torch.load(data)
    except Exception as error:
        raise NetworkError(f"{name} is a damaged safetensors file: {error_line(error)}") from None
    expected: dict[str, tuple[int, ...]] = {}
    for index, layer in enumerate(layers):
        if layer["type"] == "linear":
            expected[f"{index}.weight"] = (layer["out"], layer["in"])
            if layer.get("bias", True):
                expected[f"{index}.bias"] = (layer["out"],)
    for key in sorted(set(expected) - set(tensors)):
        raise bad(f"tensor {key!r} is missing")
    for key in sorted(set(tensors) - set(expected)):
        raise bad(f"it has an unexpected tensor {key!r}")
    dtypes = set()
    for key, shape in expected.items():
        tensor = tensors[key]
        if tuple(tensor.shape) != shape:
            raise bad(
                f"tensor {key!r} has shape {tuple(tensor.shape)} but the architecture says {shape}"
            )
        if tensor.dtype not in FLOAT_DTYPES:
            raise bad(
                f"tensor {key!r} is {str(tensor.dtype).removeprefix('torch.')}, "
                "but jacviz MLP files hold float32 or float64 weights"
            )
        dtypes.add(tensor.dtype)
        if not bool(torch.isfinite(tensor).all()):
            raise NetworkError(nonfinite_message(name, key, tensor))
    if len(dtypes) != 1:
        raise bad("its tensors mix float32 and float64")
    (dtype,) = dtypes

    modules: list[nn.Module] = []
    for index, layer in enumerate(layers):
        modules.append(_build_layer(layer, dtype, tensors, index))
    module = nn.Sequential(*modules)
    linear = [layer for layer in layers if layer["type"] == "linear"]
    return finish_network(
        module,
        name,
        MLP_FORMAT,
        linear[0]["in"],
        dtype,
        metadata,
        expected_output=linear[-1]["out"],
    )


def _build_layer(
    layer: dict, dtype: torch.dtype, tensors: dict[str, torch.Tensor], index: int
) -> nn.Module:
    kind = layer["type"]
    if kind == "linear":
        bias = layer.get("bias", True)
        # skip_init: no random initialisation (the weights are overwritten anyway), so loading
        # leaves the global random state alone.
        linear = nn.utils.skip_init(nn.Linear, layer["in"], layer["out"], bias=bias, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(tensors[f"{index}.weight"])
            if bias:
                linear.bias.copy_(tensors[f"{index}.bias"])
        return linear
    if kind == "identity":
        return nn.Identity()
    if kind == "softplus":
        return nn.Softplus(beta=layer.get("beta", 1.0), threshold=layer.get("threshold", 20.0))
    if kind == "gelu":
        return nn.GELU(approximate=layer.get("approximate", "none"))
    return ACTIVATIONS[kind]()
