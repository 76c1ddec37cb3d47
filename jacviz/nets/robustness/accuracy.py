"""Accuracy under attack, per radius: the robustness curve ``jacviz train`` and the lab show.

One batch attacks every point at every radius (each row with its own ball), and errors found
at a radius carry to all larger ones, so the curve never rises and every error it counts has a
witness: an upper bound on the true robust accuracy. Points have any number of coordinates:
the lab's 2D classifiers, the 64 pixels of the digits, a user's ``.npz`` data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from jacviz.nets.robustness.attacks import (
    ATTACKS,
    PGD_RESTARTS,
    PGD_STEPS,
    fgsm_points,
    pgd_rows,
    unit_starts,
)
from jacviz.nets.robustness.balls import check_norm, into_balls
from jacviz.nets.robustness.checks import (
    check_int,
    check_labels,
    check_number,
    check_points,
    check_seed,
    model_dtype,
)
from jacviz.nets.robustness.running import classes_of, count_classes, run_logits
from jacviz.support.threads import single_threaded

__all__ = ["robust_accuracy"]


@single_threaded()
def robust_accuracy(
    model: nn.Module,
    points: np.ndarray,
    labels: np.ndarray,
    epsilons: Sequence[float],
    attack: str = "pgd",
    norm: str = "2",
    steps: int = PGD_STEPS,
    seed: int = 0,
    *,
    restarts: int = PGD_RESTARTS,
) -> dict[float, float]:
    """Accuracy under attack for each radius in ``epsilons``: the curve robustness plots show.

    A point counts as correct at radius ``eps`` when it is classified correctly, and the attack
    found no misclassified point within ``eps`` of it, at this radius or any smaller one in
    ``epsilons`` (a witness within a smaller ball is in the larger one too). So the result never
    increases with ``eps``, and at ``eps = 0`` it is the clean accuracy. Every reported error
    has a witness, so the values are upper bounds on the true robust accuracy: an attack can
    miss an error, never invent one. All radii are attacked in one batch; PGD runs ``restarts``
    times from different random starts, each point and radius only until it is misclassified
    (at that radius or a smaller one), so the work shrinks as points fall: at most ``steps ×
    restarts`` forward and backward passes over ``n × len(epsilons)`` points.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, d)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, d)`` finite inputs, ``n >= 1``, any ``d >= 1``.
    labels : numpy.ndarray
        ``(n,)`` true classes, integers in ``[0, k)``.
    epsilons : sequence of float
        Attack radii, each finite and ``>= 0``, in any order.
    attack : {"pgd", "fgsm"}
        :func:`~jacviz.nets.robustness.attacks.pgd` (random start from ``seed``, default step
        size) or :func:`~jacviz.nets.robustness.attacks.fgsm`.
    norm : {"2", "inf"}
        Which ball.
    steps : int
        PGD steps per start, ``>= 1`` (ignored by FGSM).
    seed : int
        Seed of PGD's random starts; the same unit-ball starts are scaled to every radius, so
        each radius gets the errors ``pgd(..., eps, seed=seed, restarts=restarts)`` alone
        would find.
    restarts : int
        PGD runs from different starts, ``>= 1`` (ignored by FGSM): in the plane evenly round
        the edge of the ball; in ``d != 2`` dimensions from the point itself and from
        ``restarts − 1`` seeded random points of the edge. See ``pgd``.

    Returns
    -------
    dict of float to float
        ``{float(eps): accuracy}`` in the order of ``epsilons``, accuracies in ``[0, 1]``.

    Raises
    ------
    ValueError
        For an unknown attack or norm, a negative or non-finite radius, ``steps < 1``,
        ``restarts < 1``, no points, points not ``(n, d)`` and finite, labels of the wrong shape
        or outside ``[0, k)``, or a model that does not take ``d`` inputs and give
        ``(B, k >= 2)`` logits.

    """
    if not isinstance(attack, str) or attack not in ATTACKS:
        raise ValueError(
            f"unknown attack {attack!r}; expected one of {', '.join(map(repr, ATTACKS))}"
        )
    norm = check_norm(norm)
    steps = check_int(steps, "steps", 1)
    seed = check_seed(seed)
    restarts = check_int(restarts, "restarts", 1)
    radii = [check_number(eps, "each of epsilons") for eps in epsilons]
    centres = check_points(points)
    if len(centres) == 0:
        raise ValueError("robust accuracy needs at least one point")
    dtype = model_dtype(model)
    x = torch.from_numpy(centres)
    clean = classes_of(run_logits(model, x, dtype))
    k = count_classes(model, dtype, centres.shape[1])
    targets = torch.from_numpy(check_labels(labels, len(centres), k))
    correct_clean = (clean == targets).numpy()
    accuracy = {0.0: float(correct_clean.mean())}
    positive = sorted({eps for eps in radii if eps > 0.0})
    if positive:
        n, blocks = len(centres), len(positive)
        eps_rows = torch.tensor(positive, dtype=torch.float64).repeat_interleave(n)
        all_centres = x.repeat(blocks, 1)
        all_labels = targets.repeat(blocks)
        if attack == "pgd":
            adversarial = all_centres.clone()
            wrong = torch.from_numpy(~np.tile(correct_clean, blocks))
            for start in unit_starts(n, norm, seed, restarts, centres.shape[1]):
                # A point already wrong at a radius is wrong at every larger one: skip those.
                done = torch.cummax(wrong.reshape(blocks, n).to(torch.uint8), dim=0).values
                rows = torch.nonzero(done.reshape(-1) == 0).squeeze(1)
                if len(rows) == 0:
                    break
                found, fell, _ = pgd_rows(
                    model, dtype, all_centres[rows], all_labels[rows], eps_rows[rows], norm,
                    steps, 2.5 * eps_rows[rows] / steps, start[rows % n],
                    until_wrong=True,
                )  # fmt: skip
                adversarial[rows[fell]] = found[fell]
                wrong[rows[fell]] = True
            adversarial = into_balls(
                all_centres.numpy(), adversarial.numpy(), eps_rows.numpy(), norm
            )
        else:
            adversarial = fgsm_points(model, dtype, all_centres, all_labels, eps_rows, norm)
        attacked = classes_of(run_logits(model, torch.from_numpy(adversarial), dtype))
        correct = (attacked == all_labels).numpy().reshape(blocks, n) & correct_clean
        correct = np.logical_and.accumulate(correct, axis=0)  # errors carry to larger radii
        accuracy.update(zip(positive, correct.mean(axis=1).tolist(), strict=True))
    return {eps: accuracy[eps] for eps in radii}
