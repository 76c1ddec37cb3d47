"""A loaded network, and the checks every network passes before jacviz shows it.

Whatever the format, a network ends up as a torch module that must behave like a map of the
plane's points: float32 or float64 parameters without NaN or inf, at least 2 inputs, at most
:data:`~.limits.MAX_OUTPUTS` outputs, and on small probe batches finite ``(N, m)`` outputs, the
same on every call and row by row independent of the batch. The format readers
(:mod:`.mlp_format`, :mod:`.torchscript`, :mod:`.exported`) end in :func:`finish_network` or
:func:`finish_archive_network`, which run these checks and wrap the module as a
:class:`LoadedNetwork`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from jacviz.math.maps import TorchMap
from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.limits import (
    EXTRA_FILE,
    FLOAT_DTYPES,
    MAX_OUTPUTS,
    MAX_PARAMETERS,
    too_many_parameters,
)
from jacviz.nets.networks.strict import strict_json
from jacviz.support.isolation import error_line

__all__ = [
    "LoadedNetwork",
    "archive_metadata",
    "finish_archive_network",
    "finish_network",
    "nonfinite_message",
]


@dataclass(frozen=True)
class LoadedNetwork:
    """A network loaded by :func:`load_network`, checked and ready to be shown.

    Attributes
    ----------
    module : torch.nn.Module
        The network, in eval mode, with ``requires_grad`` off on its parameters. It maps an
        ``(N, input_dim)`` tensor of the parameters' dtype to ``(N, output_dim)``.
    name : str
        The file name without its directory.
    input_dim : int
        Number of inputs n (at least 2; the app slices maps with more inputs).
    output_dim : int
        Number of outputs m (at least 1).
    format : str
        ``"jacviz-mlp"``, ``"torchscript"``, ``"torch-export"`` or ``"state-dict"``.
    metadata : dict
        Free-form JSON metadata stored with the network, e.g. ``{"class_names": [...],
        "description": "...", "training": {...}}``; empty if the file has none.
    evaluation : str
        How the module runs the file's program when that is not plainly the module itself,
        e.g. ``"torch.func.vmap over the torch.export program for one point"``; the status
        bar names it with the Jacobian method. Empty for modules jacviz rebuilt.

    """

    module: torch.nn.Module
    name: str
    input_dim: int
    output_dim: int
    format: str
    metadata: dict[str, object] = field(default_factory=dict, hash=False)
    evaluation: str = ""

    def as_map(self) -> TorchMap:
        """Wrap the network as a :class:`~jacviz.math.maps.TorchMap` for the Jacobian views."""
        return TorchMap(self.module, self.name, self.input_dim, self.output_dim)


def archive_metadata(raw: Any, name: str) -> dict[str, object]:
    """Parse the optional ``jacviz.json`` extra file of a TorchScript or export archive."""
    if not raw:
        return {}
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        value = strict_json(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NetworkError(f"{name} has an unreadable {EXTRA_FILE} (not valid JSON)") from None
    if not isinstance(value, dict):
        raise NetworkError(f"{name} has a {EXTRA_FILE} that is not a JSON object")
    return value


def nonfinite_message(name: str, key: str, tensor: torch.Tensor) -> str:
    """The refusal of a network whose tensor ``key`` holds NaN or infinite values."""
    kind = "NaN" if bool(torch.isnan(tensor).any()) else "infinite"
    return (
        f"{name} has {kind} weights (tensor {key!r}), so it cannot be drawn; a training run "
        "probably diverged"
    )


def finish_archive_network(
    module: nn.Module,
    name: str,
    fmt: str,
    metadata: dict[str, object],
    input_dim: int | None = None,
    input_dtype: torch.dtype | None = None,
) -> LoadedNetwork:
    """Finish a TorchScript / export network: find its dtype and input size, then check it.

    ``input_dim`` and ``input_dtype`` are what the archive declares, if anything; without a
    declared input size, the width of the first weight matrix is taken.
    """
    floating = [p for p in module.parameters() if p.is_floating_point()]
    count = sum(t.numel() for t in itertools.chain(module.parameters(), module.buffers()))
    if count > MAX_PARAMETERS:
        raise NetworkError(too_many_parameters(name, count))
    for key, tensor in itertools.chain(module.named_parameters(), module.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NetworkError(nonfinite_message(name, key, tensor))
    dtypes = {p.dtype for p in floating}
    if len(dtypes) > 1:
        raise NetworkError(
            f"{name} mixes parameter dtypes ({', '.join(sorted(map(str, dtypes)))}); convert it "
            "to one dtype with model.float() or model.double() before saving"
        )
    dtype = next(iter(dtypes)) if dtypes else (input_dtype or torch.float32)
    if dtype not in FLOAT_DTYPES:
        raise NetworkError(
            f"{name} has {str(dtype).removeprefix('torch.')} parameters; jacviz computes "
            "Jacobians in float32 or float64, so convert it with model.float() before saving"
        )
    if input_dim is None:
        # The first matrix's column count: for the usual first-Linear-layer networks, the input
        # size. The probe forward below tells if the guess is wrong.
        matrices = [p for p in floating if p.ndim == 2]
        input_dim = matrices[0].shape[1] if matrices else 2
    return finish_network(module, name, fmt, int(input_dim), dtype, metadata)


def finish_network(
    module: nn.Module,
    name: str,
    fmt: str,
    input_dim: int,
    dtype: torch.dtype,
    metadata: dict[str, object],
    expected_output: int | None = None,
) -> LoadedNetwork:
    """Check ``module`` as a network of ``input_dim`` inputs and wrap it as a LoadedNetwork.

    The module is put in eval mode with gradients off, then run on probe batches
    (:func:`_probe`); ``expected_output``, if given, is the output size the file declares.
    """
    if input_dim < 2:
        raise NetworkError(
            f"{name} takes {input_dim} input{'' if input_dim == 1 else 's'}, but jacviz shows "
            "maps of the plane and needs a network with at least 2 inputs"
        )
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    output_dim = _probe(module, name, fmt, input_dim, dtype)
    if expected_output is not None and output_dim != expected_output:
        raise NetworkError(
            f"{name} returns {output_dim} outputs but its description says {expected_output}"
        )
    return LoadedNetwork(module, name, input_dim, output_dim, fmt, dict(metadata))


def _probe(module: nn.Module, name: str, fmt: str, input_dim: int, dtype: torch.dtype) -> int:
    """Run the network on small batches; return m, or raise NetworkError saying what is wrong."""
    # Fixed, varied points in [-1, 1]: no random numbers, so the global RNG is left alone.
    points = torch.sin(torch.arange(1, 5 * input_dim + 1, dtype=torch.float64) * 1.7)
    points = points.reshape(5, input_dim).to(dtype)
    batches = [torch.zeros(3, input_dim, dtype=dtype), points, points[:1], points]
    outputs = []
    for batch in batches:
        try:
            with torch.no_grad():
                output = module(batch)
        except Exception as error:
            raise NetworkError(_forward_failure(name, fmt, input_dim, len(batch), error)) from None
        if not isinstance(output, torch.Tensor):
            raise NetworkError(
                f"{name} returns a {type(output).__name__}, not a tensor; jacviz needs a network "
                "that maps an (N, n) tensor to an (N, m) tensor"
            )
        if output.ndim != 2 or output.shape[0] != len(batch) or output.shape[1] < 1:
            raise NetworkError(
                f"{name} maps a batch of shape {tuple(batch.shape)} to shape "
                f"{tuple(output.shape)}; jacviz needs (N, {input_dim}) -> (N, m) with m >= 1 "
                "(add .unsqueeze(-1) for a single output)"
            )
        if not output.is_floating_point():
            raise NetworkError(f"{name} returns {output.dtype} values, not floating point")
        if output.shape[1] > MAX_OUTPUTS:
            raise NetworkError(
                f"{name} has {output.shape[1]:,} outputs; jacviz shows networks with at most "
                f"{MAX_OUTPUTS:,} (each output is a row of every Jacobian it computes)"
            )
        if not bool(torch.isfinite(output).all()):
            where = "at the origin" if batch is batches[0] else "at ordinary points in [-1, 1]"
            raise NetworkError(f"{name} gives NaN or infinite outputs {where}")
        outputs.append(output.to(torch.float64))
    zeros, first, single, again = outputs
    scale = float(first.abs().max()) + 1.0
    if not torch.allclose(again, first, rtol=1e-6, atol=1e-7 * scale):
        raise NetworkError(
            f"{name} gives different outputs for the same input (dropout or other randomness "
            "left on?); save the model in eval mode (model.eval()) so it is a fixed map"
        )
    if not torch.allclose(single, first[:1], rtol=1e-4, atol=1e-5 * scale):
        raise NetworkError(
            f"{name} gives a point a different value alone than in a batch, so its outputs mix "
            "points (e.g. batch normalization in training mode); jacviz needs each output row to "
            "depend only on its own input row"
        )
    return int(zeros.shape[1])


def _forward_failure(name: str, fmt: str, input_dim: int, batch: int, error: Exception) -> str:
    reason = error_line(error)
    if fmt == "torch-export" and ("Guard failed" in reason or "size()[0]" in reason):
        return (
            f"{name} is a torch.export program that does not accept a batch of {batch} points "
            f"({reason}); jacviz needs any batch size from 1 up, so export it with a dynamic "
            f"batch dimension: torch.export.export(model, (torch.zeros(8, {input_dim}),), "
            "dynamic_shapes=({0: torch.export.Dim('batch')},))"
        )
    guessed = " (the width of its first weight matrix)" if fmt == "torchscript" else ""
    return (
        f"{name} fails when run on a batch of {batch} points with {input_dim} inputs{guessed}: "
        f"{reason}"
    )
