"""How robust a classifier is: adversarial attacks, distances to the boundary, flips.

Hoffman, Roberts & Yaida (2019) penalise the input–output Jacobian of classifiers and report
larger decision cells and better robustness to projected-gradient attacks. This package measures
both, so a view can compare networks, and compare a network with what its Jacobian predicts:

- :func:`fgsm` and :func:`pgd`: adversarial points within an L2 or L∞ ball of each input, for
  points of any number ``d`` of coordinates (the lab's 2D sets, the digits' 64 pixels);
- :func:`robust_accuracy`: accuracy under attack, per attack radius (an upper bound on the
  accuracy under any attack: an attack can miss errors, never invent them), any ``d``: what
  ``jacviz train``, ``jacviz sweep`` and the lab report;
- :func:`boundary_distance`: the L2 distance from each point to the nearest input that the
  model classifies differently (the size of the point's decision cell around it), in the plane;
- :func:`flip_fraction` and :func:`linearized_flip_fraction`: the fraction of a small disc whose
  class differs from the centre's, for the model and for its first-order (Jacobian) model, in
  the plane.

The last two search and sample discs, so they take points of 2 coordinates and refuse others
with one ValueError line. Models are any ``torch.nn.Module`` mapping ``(B, d)`` float tensors
to ``(B, k)`` logits, ``k >= 2``. They run in the dtype of their parameters and are never
modified: no mode switch, no parameter gradients (input gradients come from
:func:`torch.autograd.grad` with respect to the input alone, or for plain chains of layers of
2 inputs from the forward tangents of :func:`~jacviz.math.jacobian.sequential_jacobian`), no
global random state. Points cross the
API as float64 numpy arrays. A row of logits with a NaN or infinite entry has class −1: it is
never correct and differs from every class.

Modules, one idea each: :mod:`.attacks` (FGSM and PGD), :mod:`.accuracy` (accuracy under
attack), :mod:`.boundary` (the distance to the boundary) with its :mod:`.cover` of each disc
and its searches along :mod:`.rays`, :mod:`.flips` (flip fractions); underneath them
:mod:`.balls` (ball geometry), :mod:`.running` (calling the model) and
:mod:`.checks` (argument checks), and :mod:`.defaults` (names and default sizes, without
torch). Import the public names from this package; those that need torch load it on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jacviz.nets.robustness.defaults import ATTACKS, NORMS, PGD_RESTARTS, PGD_STEPS

if TYPE_CHECKING:
    from jacviz.nets.robustness.accuracy import robust_accuracy
    from jacviz.nets.robustness.attacks import fgsm, pgd
    from jacviz.nets.robustness.boundary import RADIAL_SAMPLES, SECTORS, boundary_distance
    from jacviz.nets.robustness.flips import (
        GOLDEN_ANGLE,
        disc_samples,
        flip_fraction,
        linearized_flip_fraction,
    )

# Names whose modules import torch: loaded on first use (the constants above need no torch).
_LAZY = {
    "robust_accuracy": "accuracy",
    "fgsm": "attacks",
    "pgd": "attacks",
    "RADIAL_SAMPLES": "boundary",
    "SECTORS": "boundary",
    "boundary_distance": "boundary",
    "GOLDEN_ANGLE": "flips",
    "disc_samples": "flips",
    "flip_fraction": "flips",
    "linearized_flip_fraction": "flips",
}

__all__ = [
    "ATTACKS",
    "GOLDEN_ANGLE",
    "NORMS",
    "PGD_RESTARTS",
    "PGD_STEPS",
    "RADIAL_SAMPLES",
    "SECTORS",
    "boundary_distance",
    "disc_samples",
    "fgsm",
    "flip_fraction",
    "linearized_flip_fraction",
    "pgd",
    "robust_accuracy",
]


def __getattr__(name: str) -> Any:
    """The attacks and searches, imported (with torch) the first time one is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
