"""Building small seeded MLPs, the networks jacviz trains and ships as examples.

:data:`ACTIVATIONS` is also the list of activations jacviz's own MLP file format can store
(:mod:`.mlp_schema`). Importing this module does not import torch: the activation classes are
looked up, and torch imported, when an MLP is built or an activation is asked for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from jacviz.nets.networks.limits import ACTIVATION_NAMES

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["ACTIVATIONS", "make_mlp"]

# The torch.nn class of each activation, by name.
_CLASS_NAMES: dict[str, str] = {
    "tanh": "Tanh",
    "relu": "ReLU",
    "gelu": "GELU",
    "softplus": "Softplus",
    "sigmoid": "Sigmoid",
}


class _Activations(Mapping[str, "type[nn.Module]"]):
    """Activation name -> torch module class; torch is imported on the first lookup."""

    def __getitem__(self, name: str) -> type[nn.Module]:
        if name not in _CLASS_NAMES:
            raise KeyError(name)
        from torch import nn

        return getattr(nn, _CLASS_NAMES[name])

    def __iter__(self) -> Iterator[str]:
        return iter(ACTIVATION_NAMES)

    def __len__(self) -> int:
        return len(ACTIVATION_NAMES)

    def __contains__(self, name: object) -> bool:
        return name in _CLASS_NAMES

    def __repr__(self) -> str:
        return f"ACTIVATIONS({', '.join(ACTIVATION_NAMES)})"


assert tuple(_CLASS_NAMES) == ACTIVATION_NAMES, "the names and their classes must agree"

ACTIVATIONS: Mapping[str, type[nn.Module]] = _Activations()
"""The torch module of each activation a jacviz MLP may use, by name (torch-free names:
:data:`~jacviz.nets.networks.limits.ACTIVATION_NAMES`)."""


def make_mlp(
    widths: Sequence[int],
    activation: str = "tanh",
    seed: int = 0,
    dtype: torch.dtype | None = None,
) -> nn.Sequential:
    """A fully connected network ``widths[0] → … → widths[-1]`` with PyTorch's default init.

    The activation follows every Linear layer but the last. Weights depend only on ``seed``:
    they are PyTorch's default initialisation drawn from a generator of their own, never from
    the global random state, which threads building models side by side (a sweep on a Dask
    worker's threads, the lab's training and its plane page) would share and disturb.
    ``dtype`` defaults to ``torch.float32``.
    """
    import torch
    from torch import nn

    if len(widths) < 2 or any(int(w) < 1 for w in widths):
        raise ValueError(f"an MLP needs at least two positive widths, got {list(widths)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    dtype = torch.float32 if dtype is None else dtype
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for index, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        # Built without drawing (meta), then given nn.Linear's own init from the generator:
        # the same numbers as torch.manual_seed(seed) before building the layers would give.
        layer = nn.Linear(int(n_in), int(n_out), dtype=dtype, device="meta")
        layer = layer.to_empty(device="cpu")
        with torch.no_grad():
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(int(n_in))
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        layers.append(layer)
        if index < len(widths) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
