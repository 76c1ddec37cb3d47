"""Where the class changes along rays from a point: the boundary search's measuring tools.

The distance to the decision boundary is found along rays. This module samples rays at
chosen radii (:func:`first_change_estimates`), picks those radii where the logit margin's
tangent line says the boundary is (:func:`tangent_crossing`, :func:`ray_radii`), and narrows
a bracketed class change to a point the model really classifies differently (:func:`locate`).
All of them read the logit margin (:func:`margins`): how far the point's class leads. Rays
are ``(q, 2)`` directions of the plane, as everywhere in the boundary search.
"""

from __future__ import annotations

import torch
from torch import nn

from jacviz.nets.robustness.running import classes_of, run_logits, weighted_gradients

__all__ = [
    "first_change_estimates",
    "locate",
    "margin_gradients",
    "margins",
    "ray_radii",
    "tangent_crossing",
]

_BISECTION_RTOL = 1e-7  # relative width at which a bracketed class change counts as found
_MAX_BISECTIONS = 80  # enough to exhaust float64 from any bracket, e.g. at a boundary point
_RAY_SAMPLES = 4  # radii sampled evenly along each ray of the refinement
_TANGENT_PROBES = (-1e-4, 0.0, 1e-9, 1e-6, 1e-3)  # relative offsets around a crossing


def margins(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``z_c − max_{j≠c} z_j`` per row for the given classes: > 0 where ``c`` still wins.

    NaN where the class is −1 or a logit is not finite, so no secant is drawn through it.
    """
    index = classes.clamp(min=0)[:, None]
    own = logits.gather(1, index)[:, 0]
    others = logits.scatter(1, index, -torch.inf).max(dim=1).values
    margin = own - others
    return torch.where((classes >= 0) & torch.isfinite(margin), margin, torch.nan)


def _margin_weights(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Weights whose product with the logits' gradients is the gradient of :func:`margins`.

    ``+1`` on the class's logit, ``−1`` on the strongest other one.
    """
    index = classes.clamp(min=0)[:, None]
    rival = torch.nan_to_num(logits).scatter(1, index, -torch.inf).argmax(dim=1, keepdim=True)
    weights = torch.zeros_like(logits).scatter(1, index, 1.0)
    return weights.scatter_add(1, rival, -torch.ones_like(rival, dtype=logits.dtype))


def margin_gradients(
    model: nn.Module, dtype: torch.dtype, points: torch.Tensor, classes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Margins of ``classes`` at ``points``, their gradients ``(n, 2)``, and the classes there.

    All float64; margins are NaN where :func:`margins` says so.
    """
    logits, gradient = weighted_gradients(model, dtype, points, classes, _margin_weights)
    return margins(logits, classes), gradient, classes_of(logits)


def _first_true(mask: torch.Tensor) -> torch.Tensor:
    """Per row of a boolean ``(q, s)`` mask, the index of its first True; ``s`` if none."""
    return torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1).to(torch.uint8).argmax(dim=1)


def locate(
    model: nn.Module,
    dtype: torch.dtype,
    origins: torch.Tensor,
    classes: torch.Tensor,
    directions: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
) -> torch.Tensor:
    """Narrow brackets ``(lo, hi]`` of a class change along rays; return their far ends.

    The model gives ``classes`` at ``origin + lo·direction`` and another class at ``origin +
    hi·direction``, and every step keeps it so, until the bracket is ``_BISECTION_RTOL``
    relative or a few ulps of the model's dtype at the probed points, whichever is wider.
    Returning ``hi`` makes every distance attained: the model really classifies ``origin +
    distance·direction`` differently.

    Each step probes, in one forward pass, the midpoint and two points just either side of the
    secant root of the logit margin (:func:`margins`). The midpoint guarantees bisection's
    halving; where the margin is smooth the secant root is accurate to well under the
    tolerance after a step or two, and its two neighbours then close the bracket at once.
    2–6 passes on the networks measured, instead of bisection's ~20.
    """
    lo, hi = lo.clone(), hi.clone()
    # Below a few ulps of the model's dtype, nearby radii round to the same input: stop there.
    scale = origins.abs().amax(dim=1) + hi
    resolution = 4.0 * torch.finfo(dtype).eps * scale
    ends = torch.cat([origins + lo[:, None] * directions, origins + hi[:, None] * directions])
    margin_lo, margin_hi = margins(run_logits(model, ends, dtype), classes.repeat(2)).chunk(2)
    for _ in range(_MAX_BISECTIONS):
        mid = 0.5 * (lo + hi)
        width = hi - lo
        open_ = (width > _BISECTION_RTOL * hi) & (width > resolution) & (mid > lo) & (mid < hi)
        active = torch.nonzero(open_).squeeze(1)
        if len(active) == 0:
            break
        a, b, m_a, m_b = lo[active], hi[active], margin_lo[active], margin_hi[active]
        secant = a + (b - a) * (m_a / (m_a - m_b))
        secant = torch.where(torch.isfinite(secant), secant, mid[active])
        tau = 0.25 * torch.maximum(_BISECTION_RTOL * b, resolution[active])
        probes = torch.stack([secant - tau, secant + tau, mid[active]], dim=1)
        probes = torch.minimum(torch.maximum(probes, a[:, None]), b[:, None]).sort(dim=1).values
        cls = classes[active]
        points = origins[active, None, :] + probes[:, :, None] * directions[active, None, :]
        logits = run_logits(model, points.reshape(-1, 2), dtype)
        flipped = (classes_of(logits) != cls.repeat_interleave(3)).reshape(-1, 3)
        probed = margins(logits, cls.repeat_interleave(3)).reshape(-1, 3)
        # The new bracket: the first flipped probe (or hi) and the probe (or lo) before it.
        first = _first_true(flipped)  # 0..3, 3 = none of the probes
        positions = torch.cat([a[:, None], probes, b[:, None]], dim=1)
        values = torch.cat([m_a[:, None], probed, m_b[:, None]], dim=1)
        rows = torch.arange(len(active))
        lo[active], margin_lo[active] = positions[rows, first], values[rows, first]
        hi[active], margin_hi[active] = positions[rows, first + 1], values[rows, first + 1]
    return hi


def first_change_estimates(
    model: nn.Module,
    dtype: torch.dtype,
    origins: torch.Tensor,
    classes: torch.Tensor,
    rays: torch.Tensor,
    radii: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each ray's first sampled class change is: an estimate, and a bracket ``(lo, hi]``.

    ``origins`` ``(q, 2)`` with their ``classes``, unit ``rays`` ``(q, 2)`` and ``radii``
    ``(q, s)`` sampled along them (any order; NaN for none). ``hi`` is the first radius with
    another class, ``lo`` the sampled radius before it (0, the point, if none); the estimate
    is the secant root of the margins between them. All ``inf`` for a ray without a change.
    """
    radii = torch.where(torch.isfinite(radii), radii, torch.inf).sort(dim=1).values
    finite = torch.isfinite(radii)
    samples = origins[:, None, :] + torch.where(finite, radii, 0.0)[..., None] * rays[:, None, :]
    own = classes[:, None].expand(radii.shape).reshape(-1)
    logits = run_logits(model, samples.reshape(-1, 2), dtype)
    changed = ((classes_of(logits) != own).reshape(radii.shape)) & finite
    sampled = margins(logits, own).reshape(radii.shape)
    s = radii.shape[1]
    first = _first_true(changed)
    hit = first < s
    k = first.clamp(max=s - 1)[:, None]
    before = (k - 1).clamp(min=0)
    hi = radii.gather(1, k)[:, 0]
    lo = torch.where(k[:, 0] > 0, radii.gather(1, before)[:, 0], 0.0)
    m_lo, m_hi = sampled.gather(1, before)[:, 0], sampled.gather(1, k)[:, 0]
    estimate = torch.where(k[:, 0] > 0, lo + (hi - lo) * m_lo / (m_lo - m_hi), hi)
    estimate = torch.where(torch.isfinite(estimate) & (estimate <= hi), estimate, hi)
    inf = torch.full_like(hi, torch.inf)
    return torch.where(hit, estimate, inf), torch.where(hit, lo, inf), torch.where(hit, hi, inf)


def tangent_crossing(
    offset: torch.Tensor, margin: torch.Tensor, gradient: torch.Tensor, rays: torch.Tensor
) -> torch.Tensor:
    """Where each ray from the point meets the margin's tangent line at ``offset``; NaN if not.

    The line ``m + g·(x − offset) = 0`` meets ``r·u`` at ``r = (g·offset − m) / (g·u)``.
    """
    radius = ((gradient * offset).sum(-1) - margin) / (gradient * rays).sum(-1)
    return torch.where(torch.isfinite(radius) & (radius > 0), radius, torch.nan)


def ray_radii(
    crossing: torch.Tensor, start: torch.Tensor | None = None, stop: torch.Tensor | None = None
) -> torch.Tensor:
    """Radii to sample on rays: around ``crossing``, and evenly from ``start`` to ``stop``.

    The ones just before and after where a ray meets the margin's tangent line
    (``_TANGENT_PROBES``) find the change where it is, however thin the region beyond; the
    even ones (``_RAY_SAMPLES``) find it where the margin is far from linear.
    """
    around = crossing[..., None] * (1.0 + torch.tensor(_TANGENT_PROBES, dtype=torch.float64))
    if start is None or stop is None:
        return around
    even = torch.linspace(0.0, 1.0, _RAY_SAMPLES, dtype=torch.float64)
    return torch.cat([start[..., None] + (stop - start)[..., None] * even, around], dim=-1)
