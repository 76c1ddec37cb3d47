"""What jacviz accepts as a network: sizes, dtypes and the formats it reads.

Every reader of network files (:mod:`.mlp_format`, :mod:`.torchscript`, :mod:`.exported`,
:mod:`.loading`) checks against these same numbers and words its refusals with these same
hints, so they are kept in one place. Importing it does not import torch (the app and the
command line read these before any network is loaded); :data:`FLOAT_DTYPES`, made of torch
dtypes, is built on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "ACTIVATION_NAMES",
    "EXTRA_FILE",
    "FLOAT_DTYPES",
    "FLOAT_DTYPE_NAMES",
    "MAX_ARCHIVE_ENTRIES",
    "MAX_FILE_BYTES",
    "MAX_LINEAR_LAYERS",
    "MAX_OUTPUTS",
    "MAX_PARAMETERS",
    "MAX_UNPACKED_BYTES",
    "MAX_WIDTH",
    "SAVE_INSTEAD",
    "SUPPORTED",
    "too_many_parameters",
]

MAX_FILE_BYTES: int = 64 * 1024 * 1024
"""Largest network file :func:`load_network` reads. The whole file is read into memory once, so
that what is checked is exactly what is loaded; networks jacviz can draw interactively are far
smaller (a 2-256-256-2 MLP is 270 KB)."""

MAX_WIDTH: int = 4096
"""Widest layer a jacviz MLP file may declare."""

MAX_LINEAR_LAYERS: int = 64
"""Most Linear layers a jacviz MLP file may declare (activations come on top)."""

MAX_PARAMETERS: int = 4_000_000
"""Most parameters (weights and buffers) of a network jacviz opens: a probe move then costs
milliseconds and a heatmap, sized to :mod:`jacviz.math.budget`, is still finer than 64²;
bigger networks are not for drawing (a 2-2048-2048-2 MLP has 4.2 million)."""

MAX_OUTPUTS: int = MAX_WIDTH
"""Most outputs a network may have: each is a row of every Jacobian jacviz computes."""

MAX_UNPACKED_BYTES: int = 2 * MAX_FILE_BYTES
"""Most bytes the entries of a TorchScript or torch.export archive may unpack to, together.
Checked from the archive's directory before any entry is read, so a small file that would
unpack to gigabytes (a zip bomb) is refused at once."""

MAX_ARCHIVE_ENTRIES: int = 10_000
"""Most entries such an archive may list (a real network has a few dozen)."""

ACTIVATION_NAMES: tuple[str, ...] = ("tanh", "relu", "gelu", "softplus", "sigmoid")
"""The activations a jacviz MLP file may name (:data:`~jacviz.nets.networks.mlp.ACTIVATIONS`)."""

FLOAT_DTYPE_NAMES: tuple[str, ...] = ("float32", "float64")
"""The dtypes jacviz computes Jacobians in, so the only ones a network's weights may have."""

if TYPE_CHECKING:
    FLOAT_DTYPES: tuple[torch.dtype, ...]
    """:data:`FLOAT_DTYPE_NAMES` as torch dtypes."""

EXTRA_FILE = "jacviz.json"
"""Name of the optional metadata entry inside TorchScript and torch.export archives."""

SUPPORTED = (
    "jacviz reads its own MLP files (.safetensors written by jacviz.nets.networks.save_mlp), "
    "TorchScript files (torch.jit.save) and torch.export programs (torch.export.save)"
)
"""The end of a refusal: which formats jacviz does read."""

SAVE_INSTEAD = (
    "save model.state_dict() instead (a Sequential of Linear layers; open it with "
    "--activation), or use torch.export.save, torch.jit.save or jacviz.save_mlp"
)
"""The end of a refusal of a format jacviz will never read: what to save instead."""


def too_many_parameters(name: str, count: int) -> str:
    """The refusal of a network with more than :data:`MAX_PARAMETERS` parameters."""
    return (
        f"{name} has {count:,} parameters; jacviz draws networks of at most "
        f"{MAX_PARAMETERS:,} (each picture evaluates it at tens of thousands of points)"
    )


def __getattr__(name: str) -> Any:
    """``FLOAT_DTYPES``: :data:`FLOAT_DTYPE_NAMES` as torch dtypes, imported on first use."""
    if name == "FLOAT_DTYPES":
        import torch

        return tuple(getattr(torch, dtype) for dtype in FLOAT_DTYPE_NAMES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
