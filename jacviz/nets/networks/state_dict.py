"""``torch.save(model.state_dict())`` of an MLP: rebuilt from its keys, shapes and an activation.

A state dict is what most people save, but it holds weights, not the architecture. For the
common case, an ``nn.Sequential`` of ``nn.Linear`` layers with one elementwise activation
between them, the architecture can be read back: the keys ``"0.weight"``, ``"0.bias"``,
``"2.weight"``, ... give the layers (an activation has no parameters, so the indices step by
2), their shapes the sizes, and the user says which activation it was (``--activation``, or
a dialog in the app). The file is a pickle, so it is only ever read with
``torch.load(weights_only=True)``, whose unpickler builds tensors and plain containers and
nothing else, after the loader's size and zip-bomb checks. Anything else is refused with one
line saying what is missing.
"""

from __future__ import annotations

import io
import re

import torch
from torch import nn

from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.limits import FLOAT_DTYPES, MAX_PARAMETERS, too_many_parameters
from jacviz.nets.networks.loaded import LoadedNetwork, finish_network, nonfinite_message
from jacviz.nets.networks.mlp import ACTIVATIONS
from jacviz.support.isolation import error_line

__all__ = ["ActivationNeeded", "load_state_dict", "state_dict_message"]

_KEY = re.compile(r"(\d{1,4})\.(weight|bias)")


class ActivationNeeded(NetworkError):
    """A state dict was opened without saying its activation; ask for one and load again."""


def state_dict_message(name: str) -> str:
    """The one line saying a state dict needs its activation to be loaded."""
    return (
        f"{name} is a PyTorch state dict (torch.save(model.state_dict())): it holds the weights "
        "but not the activation; give it with --activation "
        f"{'|'.join(ACTIVATIONS)} (jacviz rebuilds an nn.Sequential of Linear layers)"
    )


def load_state_dict(data: bytes, name: str, activation: str) -> LoadedNetwork:
    """Rebuild the MLP whose state dict ``data`` holds, with ``activation`` between layers.

    The activation follows every Linear layer but the last, as in ``make_mlp``.

    Raises
    ------
    NetworkError
        If the state dict is not that of such an MLP (one line saying what is missing), the
        activation is unknown, or the rebuilt network fails the usual checks.

    """
    if activation not in ACTIVATIONS:
        raise NetworkError(
            f"unknown activation {activation!r:.40} for {name}; choose from "
            f"{', '.join(ACTIVATIONS)}"
        )
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as error:
        raise NetworkError(
            f"{name} is a torch.save file that is not a plain state dict of tensors "
            f"({error_line(error)})"
        ) from None
    layers = _linear_layers(state, name)
    modules: list[nn.Module] = []
    for position, (weight, bias) in enumerate(layers):
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        linear = linear.to(weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if bias is not None:
                linear.bias.copy_(bias)
        modules.append(linear)
        if position < len(layers) - 1:
            modules.append(ACTIVATIONS[activation]())
    dtype = layers[0][0].dtype
    return finish_network(
        nn.Sequential(*modules), name, "state-dict", layers[0][0].shape[1], dtype, {}
    )


def _linear_layers(state: object, name: str) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """The (weight, bias) of each Linear layer, in order, checked to form one chain."""

    def refuse(what: str) -> NetworkError:
        return NetworkError(
            f"{name} is a state dict jacviz cannot rebuild as an nn.Sequential of Linear layers "
            f"and one activation: {what}"
        )

    if not isinstance(state, dict):
        raise refuse(f"it holds a {type(state).__name__}, not a dict of tensors")
    if not state:
        raise refuse("it is empty")
    found: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = _KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            raise refuse(
                f"it has the entry {key!r:.40}, not a Linear layer's '<index>.weight' or "
                "'<index>.bias' (buffers, nested modules and other layers have no place in it)"
            )
        if not isinstance(value, torch.Tensor):
            raise refuse(f"{key} is a {type(value).__name__}, not a tensor")
        if value.dtype not in FLOAT_DTYPES:
            raise refuse(
                f"{key} holds {str(value.dtype).removeprefix('torch.')} values, "
                "not float32 or float64"
            )
        found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    indices = sorted(found)
    expected = list(range(0, 2 * len(indices), 2))
    if indices != expected:
        gap = next(i for i, e in zip(indices, expected, strict=True) if i != e)
        raise refuse(
            f"its layer indices {indices[:8]} are not 0, 2, 4, ... (a Linear layer, the "
            f"activation, a Linear layer, ...; index {gap} is out of place)"
        )
    layers: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    count = 0
    for index in indices:
        weight = found[index].get("weight")
        bias = found[index].get("bias")
        if weight is None:
            raise refuse(f"layer {index} has a bias but no weight ('{index}.weight' is missing)")
        if weight.ndim != 2 or min(weight.shape) < 1:
            raise refuse(f"{index}.weight has shape {tuple(weight.shape)}, not (out, in)")
        if bias is not None and tuple(bias.shape) != (weight.shape[0],):
            raise refuse(
                f"{index}.bias has shape {tuple(bias.shape)}, not ({weight.shape[0]},) as "
                f"{index}.weight says"
            )
        if layers and layers[-1][0].shape[0] != weight.shape[1]:
            previous = indices[len(layers) - 1]
            raise refuse(
                f"{index}.weight takes {weight.shape[1]} inputs but layer {previous} gives "
                f"{layers[-1][0].shape[0]} outputs"
            )
        if layers and weight.dtype != layers[0][0].dtype:
            raise refuse("its tensors mix float32 and float64")
        for key, tensor in ((f"{index}.weight", weight), (f"{index}.bias", bias)):
            if tensor is not None:
                count += tensor.numel()
                if not bool(torch.isfinite(tensor).all()):
                    raise NetworkError(nonfinite_message(name, key, tensor))
        layers.append((weight, bias))
    if count > MAX_PARAMETERS:
        raise NetworkError(too_many_parameters(name, count))
    return layers
