"""Flip fractions: how much of a small disc around a point the model classifies differently.

0 inside a decision cell, about 1/2 on a straight boundary, more or less on a curved one.
:func:`flip_fraction` measures it for the model, :func:`linearized_flip_fraction` for the
first-order model its Jacobian gives at the point, on the same deterministic samples
(:func:`disc_samples`): their difference shows how much the boundary curves within the disc,
which the lab's Compare tab sets beside what the Jacobian predicts.

Both are areas of discs, so they are measures of the plane: a point or Jacobian of any other
number of inputs is refused with one ValueError line (in ``d`` dimensions the same idea would
need samples of a ball, and the lab shows flips only for its 2D classifiers).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from jacviz.nets.robustness.checks import check_int, check_number, check_point, model_dtype
from jacviz.nets.robustness.running import classes_of, run_logits
from jacviz.support.threads import single_threaded

__all__ = ["GOLDEN_ANGLE", "disc_samples", "flip_fraction", "linearized_flip_fraction"]

GOLDEN_ANGLE: float = math.pi * (3.0 - math.sqrt(5.0))
"""The angle between consecutive points of a Vogel (sunflower) spiral, about 137.5°."""


def disc_samples(n: int) -> np.ndarray:
    """``n`` deterministic, evenly spread points of the unit disc: a Vogel (sunflower) spiral.

    Point ``i`` is at radius ``sqrt((i + 1/2) / n)`` and angle ``i`` times the golden angle, so
    each point stands for an equal area ``π/n`` and there are no gaps or clumps. Area fractions
    estimated from them vary smoothly with the region, with no random noise, so flip
    fractions of a model and of its linearization can be compared sample for sample.

    Parameters
    ----------
    n : int
        Number of points, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 points with norms in ``(0, 1)``.

    Raises
    ------
    ValueError
        If ``n`` is not a non-negative integer.

    """
    n = check_int(n, "n", 0)
    i = np.arange(n, dtype=np.float64)
    radius = np.sqrt((i + 0.5) / max(n, 1))
    angle = GOLDEN_ANGLE * i
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def _scaled_disc(eps: object, n_samples: object) -> np.ndarray:
    """The :func:`disc_samples` spiral of ``n_samples`` points scaled to radius ``eps``.

    Both flip fractions sample it, so that they agree sample for sample; both arguments are
    checked here, ``eps >= 0`` and ``n_samples >= 1``.
    """
    eps = check_number(eps, "eps")
    n_samples = check_int(n_samples, "n_samples", 1)
    return eps * disc_samples(n_samples)


@single_threaded()
def flip_fraction(model: nn.Module, point: np.ndarray, eps: float, n_samples: int = 2048) -> float:
    """Fraction of the L2 eps-disc around ``point`` that the model classifies differently.

    0 inside a decision cell, about 1/2 on a straight boundary, and more or less than 1/2 on a
    curved one. Estimated on the :func:`disc_samples` spiral scaled to radius ``eps``: for a
    straight boundary the estimate is within ``1.2·n_samples^(-3/4)`` of the exact area of the
    disc's segment (measured over chord directions and offsets; 0.004 for 2048 samples), where
    random samples would be off by ~``n_samples^(-1/2)``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 2)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    point : numpy.ndarray
        ``(2,)`` finite centre.
    eps : float
        Radius of the disc, ``>= 0``.
    n_samples : int
        Number of sample points, ``>= 1``.

    Returns
    -------
    float
        The fraction of samples whose class differs from the class at ``point``, in [0, 1].

    Raises
    ------
    ValueError
        For a point that is not 2 finite numbers, a negative or non-finite ``eps``,
        ``n_samples < 1``, or a model that does not give ``(B, k >= 2)`` logits.

    """
    centre = check_point(point, "flip fractions are measured in discs of the plane")
    disc = _scaled_disc(eps, n_samples)
    dtype = model_dtype(model)
    samples = np.vstack([centre, centre + disc])
    classes = classes_of(run_logits(model, torch.from_numpy(samples), dtype))
    return float((classes[1:] != classes[0]).to(torch.float64).mean())


def linearized_flip_fraction(
    logits: np.ndarray, jacobian: np.ndarray, eps: float, n_samples: int = 2048
) -> float:
    """:func:`flip_fraction` of the first-order model ``l(p) + J·δ``: what the Jacobian predicts.

    The linearized logits have straight decision boundaries, so this is the flip fraction a
    point would have if the model were its tangent map there. Same samples as
    :func:`flip_fraction`, so for a linear model the two agree sample for sample, and for a
    smooth one they agree to first order as ``eps → 0``; the difference measures how much the
    boundary curves within ``eps``. At a point on a boundary of curvature ``κ`` the two differ
    by ``κ·eps/(3π) + O(eps²)``: the area between the boundary and its tangent.

    Parameters
    ----------
    logits : numpy.ndarray
        ``(k,)`` finite logits at the point, ``k >= 2``.
    jacobian : numpy.ndarray
        ``(k, 2)`` finite Jacobian of the logits at the point.
    eps : float
        Radius of the disc, ``>= 0``.
    n_samples : int
        Number of sample points, ``>= 1``.

    Returns
    -------
    float
        The fraction of samples whose linearized class differs from ``argmax(logits)``.

    Raises
    ------
    ValueError
        For logits that are not ``k >= 2`` finite numbers, a Jacobian that is not ``(k, 2)`` and
        finite, a negative or non-finite ``eps``, or ``n_samples < 1``.

    """
    try:
        z = np.array(logits, dtype=np.float64)
        jac = np.array(jacobian, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("logits and jacobian must be arrays of numbers") from None
    if z.ndim != 1 or len(z) < 2:
        raise ValueError(f"logits must have shape (k,) with k >= 2, got {z.shape}")
    if jac.shape != (len(z), 2):
        raise ValueError(
            f"jacobian must have shape ({len(z)}, 2) for {len(z)} logits, got {jac.shape}: "
            "flip fractions are measured in discs of the plane"
        )
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(jac))):
        raise ValueError("logits and jacobian must be finite")
    linear = z + _scaled_disc(eps, n_samples) @ jac.T
    return float(np.mean(np.argmax(linear, axis=1) != np.argmax(z)))
