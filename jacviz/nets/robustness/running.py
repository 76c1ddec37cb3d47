"""Running a classifier for the robustness measures: logits, classes and input gradients.

Attacks and the boundary search call the model on many float64 points at once. This module
does it the same way for all of them: in chunks of :data:`CHUNK_ROWS` rows, in the model's own
dtype, through the fast layer walk of :mod:`jacviz.math.jacobian` where the model is a plain
chain of layers, and with the model's output checked to be ``(B, k >= 2)`` logits. Points
have any number ``d`` of coordinates, the model's inputs. Results come back as float64 tensors.
The model is never modified and gets no parameter gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from jacviz.math.jacobian import sequential_jacobian, sequential_values

__all__ = [
    "CHUNK_ROWS",
    "TANGENT_INPUTS",
    "classes_of",
    "count_classes",
    "run_logits",
    "weighted_gradients",
]

CHUNK_ROWS = 1 << 16
"""Rows per forward pass: bounds the memory of hidden activations."""

TANGENT_INPUTS = 2
"""Most inputs for which gradients come from the walk's forward tangents, not a backward pass.

The walk pushes one tangent per input through every layer, a backward pass one row of
weights whatever ``d``: the walk is the faster only for few inputs
(``benchmarks/bench_robustness.py`` measures both)."""


def _checked(logits: object, batch: torch.Tensor) -> torch.Tensor:
    """``logits`` if they are a ``(B, k)`` tensor with ``k >= 2`` for the ``(B, d)`` batch."""
    if (
        not isinstance(logits, torch.Tensor)
        or logits.ndim != 2
        or logits.shape[0] != batch.shape[0]
        or logits.shape[1] < 2
    ):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"the model must map (B, {batch.shape[1]}) inputs to (B, k) logits with k >= 2; "
            f"a {tuple(batch.shape)} batch gave {shape}"
        )
    return logits


def _call(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The model's logits for one batch, checked to be ``(B, k)`` with ``k >= 2``."""
    try:
        logits = model(batch)
    except RuntimeError as error:  # shape or dtype mismatch inside the model
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
        raise ValueError(
            f"the model failed on points of {batch.shape[1]} coordinates (a "
            f"{tuple(batch.shape)} {batch.dtype} batch): {first_line}"
        ) from None
    return _checked(logits, batch)


def _walk(
    model: nn.Module, batch: torch.Tensor, jacobians: bool
) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None:
    """Logits (and their Jacobians) by the layer walk of plain MLPs, or None for other models.

    The walk (:func:`~jacviz.math.jacobian.sequential_values`, ``sequential_jacobian``) gives
    the module's values up to an ulp or so of its activations, about 4x faster than calling it
    (numpy's tanh), and Jacobians by forward tangents instead of a backward pass: only for at
    most :data:`TANGENT_INPUTS` inputs, where that is the faster. None also when the walk
    refuses the batch: calling the model then says what is wrong.
    """
    if jacobians and batch.shape[1] > TANGENT_INPUTS:
        return None
    try:
        walked = (sequential_jacobian if jacobians else sequential_values)(model, batch)
    except ValueError:
        return None
    if walked is not None:
        _checked(walked[0] if jacobians else walked, batch)
    return walked


def run_logits(model: nn.Module, points: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Float64 logits ``(n, k)`` at float64 ``points`` ``(n, d)``, computed in ``dtype``."""
    chunks = []
    with torch.no_grad():
        for chunk in points.split(CHUNK_ROWS):
            batch = chunk.to(dtype)
            walked = _walk(model, batch, jacobians=False)
            chunks.append(_call(model, batch) if walked is None else walked)
    return torch.cat(chunks).to(torch.float64)


def classes_of(logits: torch.Tensor) -> torch.Tensor:
    """Argmax class per row (first index on ties), −1 where a logit is NaN or infinite."""
    finite = torch.isfinite(logits).all(dim=1)
    return torch.where(finite, torch.nan_to_num(logits).argmax(dim=1), -1)


def count_classes(model: nn.Module, dtype: torch.dtype, dim: int) -> int:
    """How many logits the model gives (its ``k``), checked on one point of ``dim`` inputs."""
    return run_logits(model, torch.zeros((1, dim), dtype=torch.float64), dtype).shape[1]


def weighted_gradients(
    model: nn.Module,
    dtype: torch.dtype,
    points: torch.Tensor,
    extra: torch.Tensor,
    weigh: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at ``points`` and the input gradients of ``weigh(logits, extra)ᵀ logits``.

    ``weigh`` maps float64 logits ``(B, k)`` and the matching rows of ``extra`` to weights
    ``(B, k)``, held constant in the differentiation. Per chunk, by the walk's Jacobians
    (:func:`_walk`) or one forward and one backward pass; both results float64, gradients 0
    where the logits do not depend on the input. One function for both uses: the attacks'
    cross-entropy ascent and the boundary search's margin gradients.
    """
    gradients, logits_out = [], []
    for chunk, rows in zip(points.split(CHUNK_ROWS), extra.split(CHUNK_ROWS), strict=True):
        batch = chunk.to(dtype)
        walked = _walk(model, batch, jacobians=True)
        if walked is not None:
            logits, jacobians = (part.to(torch.float64) for part in walked)
            gradient = (weigh(logits, rows)[:, :, None] * jacobians).sum(dim=1)
        else:
            x = batch.clone().requires_grad_(True)
            gradient = None
            with torch.enable_grad():  # callers may be inside torch.no_grad()
                output = _call(model, x)
                logits = output.detach().to(torch.float64)
                if output.requires_grad:
                    weights = weigh(logits, rows).to(output.dtype)
                    (gradient,) = torch.autograd.grad(
                        (output * weights).sum(), x, allow_unused=True
                    )
            gradient = torch.zeros_like(chunk) if gradient is None else gradient.to(torch.float64)
        gradients.append(gradient)
        logits_out.append(logits)
    return torch.cat(logits_out), torch.cat(gradients)
