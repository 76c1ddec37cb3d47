"""Building small seeded MLPs, the networks jacviz trains and ships as examples.

:data:`ACTIVATIONS` is also the list of activations jacviz's own MLP file format can store
(:mod:`.mlp_schema`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from jacviz.nets.networks.limits import ACTIVATION_NAMES

__all__ = ["ACTIVATIONS", "make_mlp"]

_MODULES: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}

ACTIVATIONS: dict[str, type[nn.Module]] = {name: _MODULES[name] for name in ACTIVATION_NAMES}
"""The torch module of each activation a jacviz MLP may use, by name (torch-free names:
:data:`~jacviz.nets.networks.limits.ACTIVATION_NAMES`)."""


def make_mlp(
    widths: Sequence[int],
    activation: str = "tanh",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    """A fully connected network ``widths[0] → … → widths[-1]`` with PyTorch's default init.

    The activation follows every Linear layer but the last. Weights depend only on ``seed``
    (the global random state is left untouched), so benchmarks and examples are repeatable.
    """
    if len(widths) < 2 or any(int(w) < 1 for w in widths):
        raise ValueError(f"an MLP needs at least two positive widths, got {list(widths)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for index, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(int(n_in), int(n_out), dtype=dtype))
            if index < len(widths) - 2:
                layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
