"""torch.export programs (``torch.export.save``, ``.pt2``): loading them as jacviz networks.

The archive is screened first (:mod:`.export_screen`); then ``torch.export.load`` reads it and
the program must take one ``(N, n)`` tensor of points. Programs exported with a dynamic batch
run as they are (the fast path); programs exported for a limited range of batch sizes are
adapted by :class:`_ExportedModule`, which pads or splits batches; programs exported the
default way, for the static batch of their example input, are run by :class:`_StaticBatchModule`
through ``torch.func.vmap`` over chunks of that batch size. So jacviz can send any batch.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import zipfile
from typing import Any

import torch
from torch import nn

from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.export_screen import screen_export_graph, screen_pt2_archive
from jacviz.nets.networks.limits import EXTRA_FILE, FLOAT_DTYPES
from jacviz.nets.networks.loaded import (
    LoadedNetwork,
    archive_metadata,
    finish_archive_network,
    nonfinite_message,
)
from jacviz.support.isolation import error_line

__all__ = ["load_export"]

# torch.export.load keeps global state while deserializing (_CURRENT_DESERIALIZER) and fails if
# two loads overlap, e.g. from two worker threads.
_EXPORT_LOCK = threading.Lock()


def load_export(data: bytes, reader: Any, records: set[str], name: str) -> LoadedNetwork:
    """Load a torch.export archive in this process, screened before and after loading.

    ``reader`` is torch's reader of ``data`` and ``records`` its entries (as listed by
    :mod:`.loading`, so that the screen sees exactly what will be loaded).
    """
    screen_pt2_archive(reader, records, name)
    # When its pt2 reader fails, torch.export.load falls back to the PyTorch <= 2.7 layout, read
    # with Python's zipfile, whose state dict goes through torch.load(weights_only=False) on
    # failure. It takes that path only if Python's zipfile lists a top-level "version" entry.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if "version" in archive.namelist():
            raise NetworkError(
                f"{name} is a torch.export file that also looks like the PyTorch <= 2.7 layout, "
                "which torch.export.load could unpickle without restrictions; jacviz refuses it"
            )
    # Non-empty on purpose: torch.export.load replaces an empty dict ("extra_files or {}").
    extra_files: dict[str, Any] = {EXTRA_FILE: ""}
    try:
        with _EXPORT_LOCK:
            program = torch.export.load(io.BytesIO(data), extra_files=extra_files)
    except Exception as error:
        raise NetworkError(
            f"{name} is a torch.export file that PyTorch cannot load: {error_line(error)}"
        ) from error
    screen_export_graph(program.graph_module, name)

    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise NetworkError(
            f"{name} is a torch.export program with {len(user_inputs)} inputs; jacviz needs "
            "exactly one, an (N, n) tensor of points"
        )
    placeholder = next(
        (
            node
            for node in program.graph.nodes
            if node.op == "placeholder" and node.name == user_inputs[0]
        ),
        None,
    )
    example = placeholder.meta.get("val") if placeholder is not None else None
    shape = tuple(getattr(example, "shape", ()))
    if len(shape) != 2 or not isinstance(shape[1], int):
        raise NetworkError(
            f"{name} is a torch.export program whose input has shape {shape}; jacviz needs an "
            "(N, n) tensor of points with a fixed number n of coordinates"
        )
    tensors = {**program.state_dict, **program.constants}
    for key, value in tensors.items():
        if isinstance(value, torch.Tensor) and not bool(torch.isfinite(value).all()):
            raise NetworkError(nonfinite_message(name, key, value))
    metadata = archive_metadata(extra_files.get(EXTRA_FILE), name)
    module, evaluation = _batch_adapter(program, name, shape[0])
    dtype = example.dtype if getattr(example, "dtype", None) in FLOAT_DTYPES else None
    loaded = finish_archive_network(module, name, "torch-export", metadata, shape[1], dtype)
    return dataclasses.replace(loaded, evaluation=evaluation)


def _batch_adapter(program: Any, name: str, batch: Any) -> tuple[nn.Module, str]:
    """The program's module made to take any batch, and how it runs (for the status bar)."""
    if isinstance(batch, int):
        if batch < 1:
            raise NetworkError(
                f"{name} is a torch.export program for a batch of {batch} points; jacviz needs "
                "one exported for at least one point, e.g. torch.zeros(1, n)"
            )
        what = "one point" if batch == 1 else f"a static batch of {batch} points"
        return (
            _StaticBatchModule(program.module(), batch),
            f"torch.func.vmap over the torch.export program for {what}",
        )
    min_batch, max_batch = _batch_bounds(program, batch)
    if max_batch is not None and max_batch < max(min_batch, 1):
        raise NetworkError(
            f"{name} is a torch.export program for batches of {min_batch} to {max_batch} "
            "points, a range no batch fits; export it again with torch.zeros(1, n) as example"
        )
    module = _ExportedModule(program.module(), min_batch, max_batch)
    if min_batch <= 1 and max_batch is None:
        return module, "the torch.export program, with a dynamic batch"
    upper = "any number" if max_batch is None else str(max_batch)
    return module, f"the torch.export program, in batches of {min_batch} to {upper} points"


def _batch_bounds(program: Any, batch: Any) -> tuple[int, int | None]:
    """The batch sizes an exported program accepts, from its range constraints."""
    expression = getattr(getattr(batch, "node", None), "expr", None)
    bounds = program.range_constraints.get(expression) if expression is not None else None
    if bounds is None:
        return 0, None
    try:
        lower = max(int(bounds.lower), 0)
    except Exception:
        lower = 0
    try:
        upper = int(bounds.upper)
    except Exception:  # int_oo: no upper bound
        upper = None
    return min(lower, 4096), upper


class _ExportedModule(nn.Module):
    """An exported program's module as jacviz uses it.

    ``ep.module()`` refuses ``.eval()``/``.train()`` (its graph was fixed at export time), but
    :class:`~jacviz.math.maps.TorchMap` calls ``.eval()``; here the mode is only recorded.
    Batch sizes outside the range the program was exported for (``torch.export.Dim("batch",
    min=..., max=...)``, or ``Dim.AUTO``, which assumes at least 2) are adapted: small batches
    are padded with zero rows and the padding's outputs dropped, large ones are split. Rows
    are independent (:func:`load_network` checks it), so values and Jacobians are unchanged.
    """

    def __init__(self, program: nn.Module, min_batch: int = 0, max_batch: int | None = None):
        super().__init__()
        self.program = program
        self.min_batch = min_batch
        self.max_batch = max_batch

    def train(self, mode: bool = True) -> _ExportedModule:
        """Record the mode only; the exported graph's behaviour cannot change."""
        self.training = bool(mode)
        return self

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Run the exported program on ``(N, n)`` points, for any N."""
        count = points.shape[0]
        if self.max_batch is not None and count > self.max_batch:
            return torch.cat([self.forward(chunk) for chunk in points.split(self.max_batch)])
        if count < self.min_batch:
            padding = points.new_zeros((self.min_batch - count, *points.shape[1:]))
            return self.program(torch.cat([points, padding]))[:count]
        return self.program(points)


class _StaticBatchModule(nn.Module):
    """A program exported for a static batch of ``batch`` points, taking any number of points.

    The points are padded with zero rows to a multiple of ``batch``, cut into chunks of
    ``batch`` rows, and the chunks are mapped by ``torch.func.vmap`` over the program in one
    call (for ``batch == 1``: vmap over the single-example program). Autograd runs through the
    vmap as through any op, so Jacobians need nothing more. Rows are independent
    (:func:`load_network` checks it), so the padding's outputs, dropped, change nothing.
    """

    def __init__(self, program: nn.Module, batch: int):
        super().__init__()
        self.program = program
        self.batch = batch

    def train(self, mode: bool = True) -> _StaticBatchModule:
        """Record the mode only; the exported graph's behaviour cannot change."""
        self.training = bool(mode)
        return self

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Run the program on ``(N, n)`` points, ``batch`` at a time under vmap, for any N."""
        count, batch = points.shape[0], self.batch
        chunks = max(-(-count // batch), 1)
        padding = points.new_zeros((chunks * batch - count, *points.shape[1:]))
        stacked = torch.cat([points, padding]).reshape(chunks, batch, *points.shape[1:])
        outputs = torch.func.vmap(self.program)(stacked)
        return outputs.reshape(chunks * batch, *outputs.shape[2:])[:count]
