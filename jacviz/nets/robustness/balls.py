"""Geometry of the attacks: lengths, unit vectors, and the L2 and L∞ balls in d dimensions.

An attack moves each point within a ball around it: the Euclidean ball (``"2"``; the disc in
the plane) or the cube (``"inf"``; the square). This module holds what attacks need of those
balls, for points of any number ``d`` of coordinates: steepest-ascent steps and the projection
back onto a ball (as Madry et al.'s PGD takes them), points on a ball's edge (where PGD
starts: evenly round the circle or square in the plane, :func:`edge_points`; along given
directions in any ``d``, :func:`onto_edge`), and the final nudge that makes every returned
point lie inside its ball as float64 computes it. The boundary search, whose geometry is the
plane's, reuses :func:`unit` and :func:`lengths`.
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
    "onto_edge",
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
    """Euclidean lengths of ``(..., d)`` vectors (the vector norm over the last axis).

    In the plane by ``torch.hypot``, as jacviz always measured them there: the same value to
    within an ulp, but the plane's attacks and distances stay the same to the bit.
    """
    if vectors.shape[-1] == 2:
        return torch.hypot(vectors[..., 0], vectors[..., 1])
    return torch.linalg.vector_norm(vectors, dim=-1)


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
    """The norm of each row of ``delta`` ``(n, d)``, as callers of the attacks will measure it.

    Max-abs for L∞; for L2 ``np.linalg.norm`` over the row, and in the plane also ``np.hypot``
    (the larger of the two, which can differ by an ulp): either way a caller checks it, the
    returned points pass.
    """
    if norm == "inf":
        return np.abs(delta).max(axis=1, initial=0.0)
    size = np.linalg.norm(delta, axis=1)
    if delta.shape[1] == 2:
        size = np.maximum(size, np.hypot(delta[:, 0], delta[:, 1]))
    return size


def into_balls(centres: np.ndarray, points: np.ndarray, eps: np.ndarray, norm: str) -> np.ndarray:
    """``points`` moved by a few ulps where rounding left them outside their eps-ball.

    ``centre + delta`` rounds, so ``(centre + delta) − centre`` can exceed ``eps`` by an ulp of
    the centre even when ``delta`` did not. Callers get the guarantee as they will check it:
    ``size(points − centres) <= eps`` in float64 (``np.linalg.norm`` over each row, and
    ``np.hypot`` in the plane, for L2; max-abs for L∞).
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


def onto_edge(directions: torch.Tensor, norm: str) -> torch.Tensor:
    """``directions`` ``(..., d)`` scaled onto the edge of the unit ball: the sphere or cube.

    Divided by their Euclidean length for L2, by their largest coordinate's size for L∞ (a
    point of the cube's surface). Gaussian directions give uniform points of the sphere. A
    zero direction stays zero (the centre).
    """
    size = lengths(directions) if norm == "2" else directions.abs().amax(dim=-1)
    return directions / torch.where(size > 0, size, 1.0)[..., None]


def edge_points(fractions: torch.Tensor, norm: str) -> torch.Tensor:
    """Points ``(..., 2)`` on the edge of the unit disc or square, ``fractions`` of the way round.

    The plane's starts, evenly spread round the edge (other ``d`` use :func:`onto_edge`).

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
