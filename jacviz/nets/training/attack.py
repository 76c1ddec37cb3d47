"""Accuracy under L2 PGD for classifiers of any number of inputs (the digits: 64).

:func:`jacviz.nets.robustness.robust_accuracy` attacks the 2D classifiers the lab draws (its
starts go round a circle, its geometry is the plane's). A model trained on d-dimensional data
is measured here with the same definition: Madry et al.'s projected gradient ascent in the
L2 ball of each radius, from the point itself and then from random starts on the ball's edge,
each row stopping at its first misclassified iterate; an error found at a radius counts at
every larger one, so every error has a witness and the curve is an upper bound on the true
robust accuracy. The ascent follows ``logsumexp_{j≠y} z_j − z_y``, a monotone function of the
cross-entropy whose gradient does not underflow for confident points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from jacviz.nets.robustness import PGD_RESTARTS, PGD_STEPS
from jacviz.support.threads import single_threaded

__all__ = ["pgd_accuracy"]


def _ascent(
    model: nn.Module, points: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: whether the model is wrong at ``points``, and the gradient of the margin loss."""
    points = points.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(points)
        own = torch.nn.functional.one_hot(labels, logits.shape[1]).bool()
        others = torch.logsumexp(logits.masked_fill(own, -torch.inf), dim=1)
        loss = others - logits.gather(1, labels[:, None])[:, 0]
        (gradient,) = torch.autograd.grad(loss.sum(), points)
    wrong = (logits.argmax(dim=1) != labels) | ~torch.isfinite(logits).all(dim=1)
    return wrong.detach(), torch.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)


def _project(centres: torch.Tensor, points: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    delta = points - centres
    length = torch.linalg.vector_norm(delta, dim=1, keepdim=True)
    shrink = torch.where(length > eps[:, None], eps[:, None] / length.clamp_min(1e-300), 1.0)
    return centres + delta * shrink


@single_threaded()
def pgd_accuracy(
    model: nn.Module,
    points: np.ndarray,
    labels: np.ndarray,
    epsilons: Sequence[float],
    *,
    steps: int = PGD_STEPS,
    restarts: int = PGD_RESTARTS,
    seed: int = 0,
) -> dict[float, float]:
    """Accuracy under L2 PGD at each radius of ``epsilons`` (``{eps: accuracy}``, input order).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, d)`` tensors to ``(B, k)`` logits; run in float64 on a copy, never modified.
    points : numpy.ndarray
        ``(n, d)`` finite inputs, n ≥ 1, in the units the model reads.
    labels : numpy.ndarray
        ``(n,)`` classes in ``0 .. k-1``.
    epsilons : sequence of float
        Radii ≥ 0 (0 gives the clean accuracy).
    steps : int
        Ascent steps per start, each of length ``2.5 · eps / steps`` (Madry et al.).
    restarts : int
        Starts per point and radius: the point itself, then ``restarts - 1`` uniformly random
        points of the ball's edge drawn from ``seed`` (private generator: same seed, same
        result).
    seed : int
        Seed of the random starts.

    Raises
    ------
    ValueError
        For points that are not ``(n, d)`` finite numbers, labels that do not match, a negative
        or non-finite radius, or ``steps`` / ``restarts`` below 1.

    """
    x = torch.as_tensor(np.array(points, dtype=np.float64))
    if x.ndim != 2 or x.shape[0] < 1 or not bool(torch.isfinite(x).all()):
        raise ValueError(f"points must be a finite (n, d) array with n ≥ 1, got {tuple(x.shape)}")
    y = torch.as_tensor(np.array(labels, dtype=np.int64))
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    radii = [float(eps) for eps in epsilons]
    if not all(np.isfinite(eps) and eps >= 0 for eps in radii):
        raise ValueError(f"epsilons must be finite and ≥ 0, got {radii}")
    if steps < 1 or restarts < 1:
        raise ValueError("steps and restarts must be ≥ 1")
    network = _float64_copy(model)
    n = x.shape[0]
    with torch.no_grad():
        logits = network(x)
    if logits.ndim != 2 or not 0 <= int(y.min()) <= int(y.max()) < logits.shape[-1]:
        raise ValueError(f"labels must be classes 0..k-1 of the model's {logits.shape[-1]} logits")
    clean_wrong = logits.argmax(dim=1) != y
    positive = sorted({eps for eps in radii if eps > 0})
    blocks = len(positive)
    wrong = clean_wrong.repeat(blocks)
    centres, targets = x.repeat(blocks, 1), y.repeat(blocks)
    eps = torch.tensor(positive, dtype=torch.float64).repeat_interleave(n)
    generator = torch.Generator().manual_seed(seed)
    for start in range(restarts):
        # Draw every start's direction, so that restart r is the same whatever fell before.
        direction = torch.randn(centres.shape, generator=generator, dtype=torch.float64)
        # An error at a radius is an error at every larger one: those rows need no attack.
        done = torch.cummax(wrong.reshape(blocks, n).to(torch.uint8), dim=0).values.reshape(-1)
        rows = torch.nonzero(done == 0).squeeze(1)
        if start == 0:
            current = centres[rows].clone()
        else:
            unit = direction[rows] / torch.linalg.vector_norm(direction[rows], dim=1, keepdim=True)
            current = centres[rows] + eps[rows, None] * unit
        for step in range(steps + 1):
            if len(rows) == 0:
                break
            fell, gradient = _ascent(network, current, targets[rows])
            wrong[rows[fell]] = True
            keep = ~fell
            rows, current, gradient = rows[keep], current[keep], gradient[keep]
            if step == steps or len(rows) == 0:
                break
            length = torch.linalg.vector_norm(gradient, dim=1, keepdim=True)
            unit = torch.where(length > 0, gradient / length.clamp_min(1e-300), 0.0)
            moved = current + (2.5 * eps[rows, None] / steps) * unit
            current = _project(centres[rows], moved, eps[rows])
    wrong = torch.cummax(wrong.reshape(blocks, n).to(torch.uint8), dim=0).values.bool()
    accuracy = {0.0: float((~clean_wrong).double().mean())}
    for index, radius in enumerate(positive):
        accuracy[radius] = float((~wrong[index]).double().mean())
    return {eps: accuracy[eps] for eps in radii}


def _float64_copy(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` in eval mode without parameter gradients."""
    import copy

    network = copy.deepcopy(model).double().eval()
    network.requires_grad_(False)
    return network
