"""Plane geometry of the attacks: unit vectors, lengths, and the L2 and L∞ balls.

An attack on a 2D classifier moves each point within a ball around it: the disc (``"2"``) or
the square (``"inf"``). This module holds what attacks need of those balls: steepest-ascent
steps and the projection back onto a ball (as Madry et al.'s PGD takes them), points round a
ball's edge (where PGD starts), and the final nudge that makes every returned point lie inside
its ball as float64 computes it. The boundary search reuses :func:`unit` and :func:`lengths`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from jacviz.nets.robustness.defaults import NORMS

__all__ = [
    "NORMS",
    "check_norm",
    "edge_points",
    "into_balls",
    "lengths",
    "project",
    "step_direction",
    "unit",
]


def check_norm(norm: object) -> str:
    """``norm`` if it is one of :data:`NORMS`, else a ValueError naming them."""
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {', '.join(map(repr, NORMS))}")
    return norm


def unit(angles: torch.Tensor) -> torch.Tensor:
    """Unit vectors ``(..., 2)`` at ``angles``."""
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def lengths(vectors: torch.Tensor) -> torch.Tensor:
    """Euclidean lengths of ``(..., 2)`` vectors."""
    return torch.hypot(vectors[..., 0], vectors[..., 1])


def step_direction(gradient: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent unit step for the norm: sign for L∞, normalised gradient for L2."""
    if norm == "inf":
        return torch.sign(gradient)
    length = lengths(gradient)[:, None]
    return torch.where(length > 0, gradient / length.clamp(min=torch.finfo(torch.float64).tiny), 0)


def project(
    centres: torch.Tensor, points: torch.Tensor, eps: torch.Tensor, norm: str
) -> torch.Tensor:
    """Euclidean projection of ``points`` onto the eps-balls (per row) around ``centres``."""
    delta = points - centres
    radius = eps[:, None]
    if norm == "inf":
        delta = torch.minimum(torch.maximum(delta, -radius), radius)
    else:
        length = lengths(delta)[:, None]
        delta = delta * torch.where(length > radius, radius / length, 1.0)
    return centres + delta


def _offset_size(delta: np.ndarray, norm: str) -> np.ndarray:
    """The norm of each row of ``delta``, as callers of the attacks will measure it."""
    if norm == "inf":
        return np.maximum(np.abs(delta[:, 0]), np.abs(delta[:, 1]))
    return np.hypot(delta[:, 0], delta[:, 1])


def into_balls(centres: np.ndarray, points: np.ndarray, eps: np.ndarray, norm: str) -> np.ndarray:
    """``points`` moved by a few ulps where rounding left them outside their eps-ball.

    ``centre + delta`` rounds, so ``(centre + delta) − centre`` can exceed ``eps`` by an ulp of
    the centre even when ``delta`` did not. Callers get the guarantee as they will check it:
    ``size(points − centres) <= eps`` in float64 (``np.hypot`` for L2, max-abs for L∞).
    """
    points = points.copy()
    for _ in range(8):
        outside = _offset_size(points - centres, norm) > eps
        if not outside.any():
            return points
        # Each ulp towards the centre shrinks the computed offset or leaves it (rounding is
        # monotone); a couple of passes always suffice in practice.
        points[outside] = np.nextafter(points[outside], centres[outside])
    outside = _offset_size(points - centres, norm) > eps
    points[outside] = centres[outside]  # the centre itself is always inside
    return points


def edge_points(fractions: torch.Tensor, norm: str) -> torch.Tensor:
    """Points ``(..., 2)`` on the edge of the unit ball, ``fractions`` of the way round it.

    The circle for L2 (by angle); the square's perimeter for L∞ (by length), from its corner
    ``(−1, −1)`` anticlockwise.
    """
    if norm == "2":
        return unit(2.0 * math.pi * fractions)
    walked = 8.0 * torch.remainder(fractions, 1.0)  # the perimeter of [−1, 1]² is 8
    side = torch.floor(walked / 2.0).clamp(max=3.0)
    along = walked - 2.0 * side - 1.0  # −1 to 1 along the side
    one = torch.ones_like(along)
    x = torch.where(
        side == 0, along, torch.where(side == 1, one, torch.where(side == 2, -along, -one))
    )
    y = torch.where(
        side == 0, -one, torch.where(side == 1, along, torch.where(side == 2, one, -along))
    )
    return torch.stack([x, y], dim=-1)
