"""The distance from each point to its decision boundary: the size of its decision cell.

Jacobian regularization is meant to grow the disc around each point inside its own decision
cell. :func:`boundary_distance` measures that disc's radius: first a cover of the disc by
cells labelled with what is known of them (:mod:`~jacviz.nets.robustness.cover`: an attained
distance, an upper bound, is kept), then rays and narrowing fans of rays through the cells
left, each change along them located exactly (:mod:`~jacviz.nets.robustness.rays`). Every
distance returned is attained: some point that far away really has another class.

The search covers discs with annular sectors and fans of rays by angle: it is a measure of the
plane, and points of any other number of coordinates are refused with one ValueError line
(the attacks of :mod:`~jacviz.nets.robustness.attacks` work in any number).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from jacviz.nets.robustness.balls import lengths, unit
from jacviz.nets.robustness.checks import check_int, check_number, check_points, model_dtype
from jacviz.nets.robustness.cover import (
    COVER_RINGS,
    Candidates,
    by_owner,
    cover,
    nearest_per_owner,
)
from jacviz.nets.robustness.rays import (
    first_change_estimates,
    locate,
    margin_gradients,
    ray_radii,
    tangent_crossing,
)
from jacviz.nets.robustness.running import CHUNK_ROWS, classes_of, count_classes, run_logits
from jacviz.support.threads import single_threaded

__all__ = ["RADIAL_SAMPLES", "SECTORS", "boundary_distance"]

SECTORS: int = 16
"""Sectors around each point in :func:`boundary_distance`'s first cover of its disc."""

RADIAL_SAMPLES: int = 16
"""Rings out to ``max_radius`` in :func:`boundary_distance`'s first cover of each point's disc.

Only where the search starts: cells are halved wherever the logit margin is too small for
them, so regions far thinner than ``max_radius / RADIAL_SAMPLES`` are still found."""

_MAX_SEEDS = 8  # fans of the refinement per point, the nearest first
_LOCATED = 4  # rays of each cluster located exactly before fans start from the best ones
_MAX_ROUNDS = 40  # rounds of a fan that may move on without narrowing
_PAST = 1e-6  # how far (relative) a Newton probe steps past the boundary
_ANGLE_TOL = 1e-5  # radians; a distance error of ~tol²/2 relative for a straight boundary
_REFINE_RAYS = 12  # rays per fan of the refinement: each round narrows it 5.5-fold
_PLANE = "the distance to the boundary is searched in discs of the plane (2 inputs)"


def _clusters(owner: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
    """The cluster of each cell: a run of one point's cells whose angle ranges touch or overlap.

    One stretch of boundary, with its own nearest point. Returns cluster numbers, unique
    across points.
    """
    order = by_owner(owner, t0)
    # Angles are < 2π < 8, so owner·8 + angle sorts by owner, then angle, and a running
    # maximum of it never carries one point's range into the next point's.
    start, end = 8.0 * owner[order] + t0[order], 8.0 * owner[order] + t1[order]
    new = torch.ones(len(order), dtype=torch.bool)
    new[1:] = start[1:] > torch.cummax(end, dim=0).values[:-1]
    cluster = torch.empty_like(order)
    cluster[order] = torch.cumsum(new, dim=0) - 1
    return cluster


def _refine(
    model: nn.Module,
    dtype: torch.dtype,
    origins: torch.Tensor,
    classes: torch.Tensor,
    candidates: Candidates,
    best: torch.Tensor,
) -> torch.Tensor:
    """Each point's nearest class change, from the cells that :func:`.cover.cover` left.

    Two rays per cell: through its centre, sampled evenly across the cell and on to ``best``
    and around where the ray meets the margin's tangent line at the centre; and through where
    one Newton step from the centre crosses the boundary, sampled around there
    (:func:`.rays.ray_radii`). Those probes meet a region however thin, or however small between
    rays. The margins' secants rank the rays; the best ray of each stack of cells (one angle
    range), for the ``_LOCATED`` best stacks of each cluster (:func:`_clusters`), is located
    exactly (:func:`.rays.locate`). The nearest of those in each cluster, and the nearest two
    cells' widths away from it (at most ``_MAX_SEEDS`` per point), start fans of
    ``_REFINE_RAYS`` rays across their cell's angle, sampled the same way around the tangent
    line at the change so far. Each round the nearest change becomes the fan's centre, and the
    fan narrows 5.5-fold (or moves on, when that change is on its edge), down to
    ``_ANGLE_TOL``: near a minimum, the distance along a ray is smooth in the angle and least
    along the boundary's normal. Returns the smaller of that and ``best`` per point; every
    distance is attained.
    """
    if len(candidates.owner) == 0:
        return best
    c = candidates
    cluster = _clusters(c.owner, c.t0, c.t1).repeat(2)
    depth = c.r1 - c.r0
    # Per cell, two rays: through its centre, probed around the margin's tangent line; and
    # through where one Newton step from the centre crosses the boundary, a little beyond,
    # probed there: a region smaller than the cell, between rays, is met that way.
    slope = lengths(c.gradient)
    step = (c.margin / slope + _PAST * lengths(c.offset))[:, None] * c.gradient / slope[:, None]
    newton = c.offset - step
    newton = torch.where(torch.isfinite(newton).all(dim=1, keepdim=True), newton, c.offset)
    rays = torch.cat([c.offset, newton]) / torch.cat([lengths(c.offset), lengths(newton)])[:, None]
    owner = c.owner.repeat(2)
    # The centre rays also sample evenly across the cell and on to the best distance so far:
    # a cell deep in a wide band of cells still meets the boundary.
    centre = len(c.owner)
    crossing = tangent_crossing(c.offset, c.margin, c.gradient, rays[:centre])
    stop = torch.maximum(c.r1 + depth, best[c.owner])
    parts = [
        first_change_estimates(
            model, dtype, origins[c.owner], classes[c.owner], rays[:centre],
            ray_radii(crossing, c.r0, stop),
        ),
        first_change_estimates(
            model, dtype, origins[c.owner], classes[c.owner], rays[centre:],
            ray_radii(lengths(newton)),
        ),
    ]  # fmt: skip
    estimate, lo, hi = (torch.cat(part) for part in zip(*parts, strict=True))
    # The secant estimates only rank the rays. The best ray through each stack of cells (the
    # cells of one angle range) competes; the best few stacks of each cluster are located.
    # A sharp dip of the boundary between two cells' rays is only seen by a fan beside it.
    ranges = torch.stack([c.owner.to(torch.float64), c.t0, c.t1], dim=1)
    stack = torch.unique(ranges, dim=0, return_inverse=True)[1].repeat(2)
    seed = nearest_per_owner(stack, estimate, 1)
    seed = seed[nearest_per_owner(cluster[seed], estimate[seed], _LOCATED)]
    seed = seed[torch.isfinite(estimate[seed])]
    exact = locate(
        model, dtype, origins[owner[seed]], classes[owner[seed]], rays[seed], lo[seed], hi[seed]
    )
    # Fans start from the nearest located ray of each cluster and from the nearest one well
    # away from it (two cells' widths), which may sit in another dip of the boundary.
    group = cluster[seed]
    first = nearest_per_owner(group, exact, 1)
    angle = torch.atan2(rays[seed, 1], rays[seed, 0])
    lead = torch.zeros(int(cluster.max()) + 1, dtype=torch.float64)
    lead[group[first]] = angle[first]
    apart = torch.remainder(angle - lead[group] + math.pi, 2.0 * math.pi) - math.pi
    width = (c.t1 - c.t0).repeat(2)[seed]
    other = torch.nonzero(apart.abs() > 2.0 * width).squeeze(1)
    second = other[nearest_per_owner(group[other], exact[other], 1)]
    first = torch.cat([first, second])
    first = first[nearest_per_owner(owner[seed[first]], exact[first], _MAX_SEEDS)]
    seed, found = seed[first], exact[first]
    rows = owner[seed]
    theta = torch.atan2(rays[seed, 1], rays[seed, 0])
    half, depth = (c.t1 - c.t0).repeat(2)[seed], depth.repeat(2)[seed]
    offsets = torch.linspace(-1.0, 1.0, _REFINE_RAYS, dtype=torch.float64)
    rounds = 0
    while True:
        active = torch.nonzero(half > _ANGLE_TOL).squeeze(1)
        if len(active) == 0:
            break
        at, reach = rows[active], found[active]
        point = reach[:, None] * unit(theta[active])
        margin, gradient, _ = margin_gradients(model, dtype, origins[at] + point, classes[at])
        angles = theta[active, None] + half[active, None] * offsets[None, :]
        fan = unit(angles)  # (a, m, 2)
        crossing = tangent_crossing(point[:, None], margin[:, None], gradient[:, None], fan)
        # Rays within ±half of the nearest one cross within about ±half of its distance.
        width = reach * torch.minimum(half[active], depth[active] / reach)
        start, stop = (reach - width).clamp(min=0.0), reach + width
        radii = ray_radii(
            crossing, start[:, None].expand(crossing.shape), stop[:, None].expand(crossing.shape)
        )
        m = _REFINE_RAYS
        estimate, lo, hi = first_change_estimates(
            model, dtype, origins[at].repeat_interleave(m, 0), classes[at].repeat_interleave(m),
            fan.reshape(-1, 2), radii.reshape(len(active) * m, -1),
        )  # fmt: skip
        estimate, ray = estimate.reshape(-1, m).min(dim=1)
        hit = torch.isfinite(estimate)
        pick = torch.nonzero(hit).squeeze(1)
        index = pick * m + ray[pick]
        chosen = active[pick]
        located = locate(
            model, dtype, origins[rows[chosen]], classes[rows[chosen]],
            fan.reshape(-1, 2)[index], lo[index], hi[index],
        )  # fmt: skip
        better = located < found[chosen]
        found[chosen] = torch.where(better, located, found[chosen])
        theta[chosen] = torch.where(better, angles[pick, ray[pick]], theta[chosen])
        # A fan whose best ray is an edge one moves on at the same width: the minimum is
        # beyond it. The others narrow around their best ray.
        edge = torch.zeros(len(active), dtype=torch.bool)
        edge[pick] = better & ((ray[pick] == 0) | (ray[pick] == m - 1))
        half[active] *= torch.where(edge & (rounds < _MAX_ROUNDS), 1.0, 2.0 / (m - 1))
        rounds += 1
    return best.clone().scatter_reduce_(0, rows, found, "amin")


@single_threaded()
def boundary_distance(
    model: nn.Module,
    points: np.ndarray,
    max_radius: float,
    n_directions: int = SECTORS,
    *,
    radial_samples: int = RADIAL_SAMPLES,
) -> np.ndarray:
    """L2 distance from each point to the nearest input the model classifies differently.

    The radius of the largest disc around the point inside its own decision cell: the quantity
    Jacobian regularization is meant to grow. Found in two stages, vectorised over points:

    1. A cover of the disc of radius ``max_radius`` by annular sectors, ``n_directions`` x
       ``radial_samples`` at first, 8 rings at a time outwards (:func:`.cover.cover`). A sector is
       done when its centre has another class (an attained distance), when it is no nearer
       than the best such distance, or when the logit margin at its centre exceeds its size
       times the margin's Lipschitz constant: then no change fits in it. The constant is
       estimated as 1.5 times the steepest margin seen anywhere around the point. Other
       sectors are halved, down to 3 % of the best distance. So a region is found however
       thin, where a march along fixed rays at fixed radii steps over anything thinner than
       its steps (it once reported 0.058 for a pocket 0.0186 away on the spirals example).
    2. From the sectors left, rays probed where the margin's tangent lines and Newton steps say
       the boundary is, then fans of rays narrowing the angle to 1e-5 rad, each change along
       them located by a safeguarded secant search on the margin to about 1e-7 relative
       (:func:`_refine`).

    Cost: on the examples' test sets (2-64-64-2 and 2-32-32-2 MLPs, 90-120 points), about
    500-1,100 margin gradients and 1,000-2,500 forward passes per point, 2x the time of the
    former fixed march (``benchmarks/bench_robustness.py``).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 2)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, 2)`` finite inputs.
    max_radius : float
        How far to search, ``> 0``.
    n_directions : int
        Sectors around each point in the first cover, ``>= 1``. Only where the search starts:
        sectors are halved wherever the margin is too small for them.
    radial_samples : int
        Rings out to ``max_radius`` in the first cover, ``>= 1``; the same.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 distances; ``inf`` where no class change was found within
        ``max_radius``. Each finite distance is attained: some point at that distance has
        another class, so it never under-estimates. Where the nearest boundary is smooth the
        result is within about 1e-6 relative of the true distance, or of the model dtype's
        resolution at the point, whichever is coarser. The Lipschitz estimate is the one
        assumption: a margin flat wherever the search looked and steeper than 1.5 times that
        only inside one sector could hide a region there, and logits that jump (to NaN, say)
        have no Lipschitz constant: the jump is found, perhaps not its nearest part. Measured
        against dense searches: the examples' 420 test points, 585 points of 120 random networks
        (tanh, ReLU, softplus, GELU; 2-4 classes; float32 and float64), 400 points near strips
        and discs 1e-4 to 1e-2 across.

    Raises
    ------
    ValueError
        For points not ``(n, 2)`` (the search is the plane's: sectors and rays by angle) and
        finite, a ``max_radius`` that is not finite and positive,
        ``n_directions < 1`` or ``radial_samples < 1``, or a model that does not give
        ``(B, k >= 2)`` logits.

    """
    max_radius = check_number(max_radius, "max_radius", positive=True)
    n_directions = check_int(n_directions, "n_directions", 1)
    radial_samples = check_int(radial_samples, "radial_samples", 1)
    centres = check_points(points, dim=2, why=_PLANE)
    dtype = model_dtype(model)
    n = len(centres)
    if n == 0:
        count_classes(model, dtype, 2)  # still check the model
        return np.zeros(0)
    x = torch.from_numpy(centres)
    own = classes_of(run_logits(model, x, dtype))
    result = torch.empty(n, dtype=torch.float64)
    # Chunks of points keep the first cells (points x sectors x rings) in bounded memory.
    per_chunk = max(1, CHUNK_ROWS // (n_directions * COVER_RINGS))
    for start in range(0, n, per_chunk):
        rows = slice(start, min(start + per_chunk, n))
        origins, classes = x[rows], own[rows]
        best, candidates = cover(
            model, dtype, origins, classes, max_radius, n_directions, radial_samples
        )
        result[rows] = _refine(model, dtype, origins, classes, candidates, best)
    # Rays may look a little past max_radius; what they find there is out of reach.
    return torch.where(result <= max_radius, result, torch.inf).numpy()
