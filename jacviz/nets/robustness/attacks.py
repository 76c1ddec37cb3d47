"""Adversarial attacks on classifiers of any number of inputs: FGSM and PGD in L2 and L∞ balls.

:func:`fgsm` (Goodfellow et al.) takes one step up the cross-entropy; :func:`pgd` (Madry et
al.) takes many, each projected back onto the ball: in the plane from starts spread evenly
round the ball's edge, in ``d != 2`` dimensions from the point itself and from seeded random
points of the edge (:func:`unit_starts`). Both were cross-checked against torchattacks. The
row-wise pieces (:func:`fgsm_points`, :func:`pgd_rows`, :func:`unit_starts`) give every row its
own radius, so that :func:`~jacviz.nets.robustness.accuracy.robust_accuracy` attacks all radii
in one batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from jacviz.nets.robustness.balls import (
    check_norm,
    edge_points,
    into_balls,
    onto_edge,
    project,
    step_direction,
)
from jacviz.nets.robustness.checks import (
    check_int,
    check_labels,
    check_number,
    check_points,
    check_seed,
    model_dtype,
)
from jacviz.nets.robustness.defaults import ATTACKS, PGD_RESTARTS, PGD_STEPS
from jacviz.nets.robustness.running import (
    classes_of,
    count_classes,
    run_logits,
    weighted_gradients,
)
from jacviz.support.threads import single_threaded

__all__ = [
    "ATTACKS",
    "PGD_RESTARTS",
    "PGD_STEPS",
    "fgsm",
    "fgsm_points",
    "pgd",
    "pgd_rows",
    "unit_starts",
]


def _ascent_weights(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Weights ``w`` (float64, ``(n, k)``) such that ``wᵀ ∂logits/∂x`` points up the cross-entropy.

    The gradient of the cross-entropy with respect to the logits is ``softmax(z) − onehot(y)``,
    which underflows to exactly zero once the label's logit leads by ~745 (float64) or ~104
    (float32): confident points would never move. Divided by ``1 − p_y > 0`` it becomes ``q −
    onehot(y)`` with ``q`` the softmax of the *other* logits, which never underflows. Sign steps
    and normalised steps are unchanged by that positive factor, so attacks still follow the
    cross-entropy gradient exactly. Rows with a non-finite logit get zero weights (no step).
    """
    onehot = torch.nn.functional.one_hot(labels, logits.shape[1]).bool()
    finite = torch.isfinite(logits).all(dim=1, keepdim=True)
    others = torch.where(finite, logits, 0.0).masked_fill(onehot, -torch.inf)
    weights = torch.softmax(others, dim=1) - onehot.to(torch.float64)
    return torch.where(finite, weights, 0.0)


def _ascent_gradient(
    model: nn.Module, points: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input gradients along which the cross-entropy grows, and the logits, both float64.

    The gradients are positive multiples of the cross-entropy's (see :func:`_ascent_weights`),
    zero where they are not finite or the logits do not depend on the input.
    """
    logits, gradient = weighted_gradients(model, dtype, points, labels, _ascent_weights)
    return torch.where(torch.isfinite(gradient), gradient, 0.0), logits


def _attack_inputs(
    model: nn.Module, points: object, labels: object
) -> tuple[np.ndarray, torch.dtype, np.ndarray]:
    """Checked ``(n, d)`` points, the model's dtype, and checked labels for its classes."""
    centres = check_points(points)
    dtype = model_dtype(model)
    k = count_classes(model, dtype, centres.shape[1])
    return centres, dtype, check_labels(labels, len(centres), k)


def _better(
    wrong: torch.Tensor, loss: torch.Tensor, best_wrong: torch.Tensor, best_loss: torch.Tensor
) -> torch.Tensor:
    """Where an iterate beats the best so far: misclassified first, then the higher loss."""
    return (wrong & ~best_wrong) | ((wrong == best_wrong) & (loss >= best_loss))


def fgsm_points(
    model: nn.Module,
    dtype: torch.dtype,
    centres: torch.Tensor,
    labels: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
) -> np.ndarray:
    """One FGSM step from every row, each of its own radius ``eps``, inside its ball (float64).

    What :func:`fgsm` returns for one radius, and robust accuracy for many at once.
    """
    gradient, _ = _ascent_gradient(model, centres, labels, dtype)
    adversarial = centres + eps[:, None] * step_direction(gradient, norm)
    return into_balls(centres.numpy(), adversarial.numpy(), eps.numpy(), norm)


def pgd_rows(
    model: nn.Module,
    dtype: torch.dtype,
    centres: torch.Tensor,
    labels: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
    steps: int,
    step_size: torch.Tensor,
    unit_start: torch.Tensor | None,
    until_wrong: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PGD on every row at once, each with its own radius ``eps`` and step size (float64).

    Returns, per row, the iterate with the highest cross-entropy, misclassified iterates
    first, whether it is misclassified, and its loss: Madry et al. keep the last iterate, but
    an earlier one that was already wrong is an equally valid witness, and keeping it makes
    the attack never weaker than its last step. With ``until_wrong`` a row stops at its
    first misclassified iterate: all a robust accuracy needs, at a fraction of the work.
    """
    points = centres.clone() if unit_start is None else centres + eps[:, None] * unit_start
    best = points.clone()
    best_wrong = torch.zeros(len(centres), dtype=torch.bool)
    best_loss = torch.full((len(centres),), -torch.inf, dtype=torch.float64)
    onehot = torch.nn.functional.one_hot(labels, count_classes(model, dtype, centres.shape[1]))
    onehot = onehot.bool()
    active = torch.arange(len(centres))
    for step in range(steps + 1):
        if len(active) == 0:
            break
        if step < steps:
            gradient, logits = _ascent_gradient(model, points[active], labels[active], dtype)
        else:
            logits = run_logits(model, points[active], dtype)
        wrong = classes_of(logits) != labels[active]
        # log of sum_{j != y} exp(z_j - z_y): monotone in the cross-entropy (CE = log(1 + e^this))
        # but, unlike CE, it does not round to 0 for confident points, so comparisons still work.
        finite = torch.isfinite(logits).all(dim=1)
        own = onehot[active]
        label_logit = torch.where(own, logits, 0.0).sum(dim=1)
        loss = torch.logsumexp(logits.masked_fill(own, -torch.inf), dim=1) - label_logit
        loss = torch.where(finite, loss, -torch.inf)
        was_wrong = best_wrong[active]
        better = _better(wrong, loss, was_wrong, best_loss[active])
        rows = active[better]
        best[rows], best_loss[rows] = points[rows], loss[better]
        best_wrong[active] = was_wrong | wrong
        if until_wrong:
            active = active[~wrong]
            if step < steps:
                gradient = gradient[~wrong]
        if step < steps:
            moved = points[active] + step_size[active, None] * step_direction(gradient, norm)
            points[active] = project(centres[active], moved, eps[active], norm)
    return best, best_wrong, best_loss


def unit_starts(n: int, norm: str, seed: int, restarts: int, dim: int) -> Iterator[torch.Tensor]:
    """The ``restarts`` starts of ``n`` points in the unit ball, one ``(n, dim)`` tensor each.

    Starts are offsets to scale by ε. In the plane (``dim == 2``), point ``i``'s starts are
    ``(r + u_i) / restarts`` of the way round the edge, ``u_i`` uniform in [0, 1) from ``seed``
    alone: evenly spread, so that a region of another class in any direction of the ball is
    approached from a start beside it, and at the edge, where a loss that grows outwards has
    its maxima.

    In ``dim != 2`` dimensions no few starts can surround a point, so restart 0 is the point
    itself (zero: the first step goes straight up the loss's gradient there) and restart
    ``r >= 1`` is a seeded Gaussian direction per point scaled onto the edge
    (:func:`.balls.onto_edge`; uniform on the sphere for L2), drawn from a private generator
    one restart after another: the same seed gives the same starts, more restarts only add
    starts, and only one restart's ``(n, dim)`` draws are held at a time (a user's data may
    have millions of coordinates).
    """
    generator = torch.Generator().manual_seed(seed)
    if dim == 2:
        phase = torch.rand((n,), generator=generator, dtype=torch.float64)
        turns = (torch.arange(restarts, dtype=torch.float64)[:, None] + phase[None, :]) / restarts
        yield from edge_points(turns, norm)
        return
    yield torch.zeros((n, dim), dtype=torch.float64)
    for _ in range(restarts - 1):
        gaussian = torch.randn((n, dim), generator=generator, dtype=torch.float64)
        yield onto_edge(gaussian, norm)


@single_threaded()
def fgsm(
    model: nn.Module, points: np.ndarray, labels: np.ndarray, eps: float, norm: str = "inf"
) -> np.ndarray:
    """Fast gradient (sign) method: one step of size ``eps`` up the cross-entropy from each point.

    Goodfellow et al.'s single-step attack: ``x + eps·sign(∇ₓCE)`` for L∞, and
    ``x + eps·∇ₓCE/‖∇ₓCE‖`` for L2. For a linear binary classifier it is the exact worst case in
    either norm (the gradient direction is constant), which makes it a useful reference; for a
    curved model it is a quick, weak attack.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, d)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, d)`` finite inputs, any ``d >= 1``.
    labels : numpy.ndarray
        ``(n,)`` true classes, integers in ``[0, k)``.
    eps : float
        Radius of the attack ball, ``>= 0``.
    norm : {"inf", "2"}
        Which ball.

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` float64 adversarial points, each within ``eps`` of its input in the chosen
        norm as float64 computes it. Points where the gradient is zero or not finite stay put.

    Raises
    ------
    ValueError
        For an unknown norm, a negative or non-finite ``eps``, points not ``(n, d)`` and finite,
        labels of the wrong shape or outside ``[0, k)``, or a model that does not take ``d``
        inputs and give ``(B, k >= 2)`` logits.

    """
    norm = check_norm(norm)
    eps = check_number(eps, "eps")
    centres, dtype, targets = _attack_inputs(model, points, labels)
    radius = torch.full((len(centres),), eps, dtype=torch.float64)
    x, y = torch.from_numpy(centres), torch.from_numpy(targets)
    return fgsm_points(model, dtype, x, y, radius, norm)


@single_threaded()
def pgd(
    model: nn.Module,
    points: np.ndarray,
    labels: np.ndarray,
    eps: float,
    norm: str = "2",
    steps: int = PGD_STEPS,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    *,
    restarts: int = PGD_RESTARTS,
) -> np.ndarray:
    """Projected gradient descent attack (Madry et al. 2018) on a batch of points.

    Starting from a random point on the edge of the eps-ball (``random_start``), take ``steps``
    steps up the cross-entropy (sign of the gradient for L∞, normalised gradient for L2), each
    followed by the projection onto the eps-ball around the original point (clipping for L∞,
    rescaling for L2); then again from ``restarts − 1`` other starts: in the plane spread
    evenly round the edge, in ``d != 2`` dimensions the first run starts at the point itself
    and the others at seeded random points of the edge (:func:`unit_starts`). All points move
    together, one batched forward and backward per step.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, d)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, d)`` finite inputs, any ``d >= 1``.
    labels : numpy.ndarray
        ``(n,)`` true classes, integers in ``[0, k)``.
    eps : float
        Radius of the attack ball, ``>= 0``.
    norm : {"2", "inf"}
        Which ball.
    steps : int
        Number of gradient steps, ``>= 1``.
    step_size : float, optional
        Length of each step (L2) or of each coordinate's step (L∞). Default ``2.5·eps/steps``
        (Madry et al.): enough to cross the ball from any start, with room to slide along its
        edge.
    random_start : bool
        Start on the edge of the ball (the circle for L2, the square for L∞) instead of at the
        input. Madry et al. start uniformly inside the ball; in 2D the edge serves better: the
        starts of one point go evenly round it (see ``restarts``). In ``d != 2`` dimensions
        the first run still starts at the input, the others on the edge.
    seed : int
        Seed of the starts, drawn from a private ``torch.Generator``, so the same seed gives
        the same result and global random state is never touched: in the plane, per point,
        where round the edge the first one is (the others follow at equal steps); in ``d != 2``
        dimensions the random directions.
    restarts : int
        Runs per point, ``>= 1`` (one without ``random_start``: every run would be the same);
        in the plane from starts ``1/restarts`` of the way round the edge apart. A ball that
        holds a region of another class in a narrow range of directions traps runs from
        elsewhere in a local maximum of the loss: on the spirals example at L2 ε = 0.3, Madry
        et al.'s single run of 20 steps reports a robust accuracy of 0.325 where the truth is
        0.15; from 12 starts round the edge it is 0.15.

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` float64 adversarial points, each within ``eps`` of its input in the chosen
        norm as float64 computes it. Per point, the iterate (starts included) of all runs with
        the highest cross-entropy, misclassified iterates first; Madry et al. keep the last
        iterate, which can only be a weaker witness.

    Raises
    ------
    ValueError
        For an unknown norm, a negative or non-finite ``eps``, ``steps < 1``, ``restarts < 1``,
        a step size that is not finite and positive, points not ``(n, d)`` and finite, labels
        of the wrong shape or outside ``[0, k)``, or a model that does not take ``d`` inputs and
        give ``(B, k >= 2)`` logits.

    Notes
    -----
    Steps follow ``(q − onehot(y))ᵀ ∂z/∂x`` with ``q`` the softmax of the logits other than the
    label's: the cross-entropy gradient divided by ``1 − p_y``. Signs and directions are the
    same, but confident points, whose true gradient underflows to zero, still move.

    """
    norm = check_norm(norm)
    eps = check_number(eps, "eps")
    steps = check_int(steps, "steps", 1)
    if step_size is None:
        size = 2.5 * eps / steps
    else:
        size = check_number(step_size, "step_size", positive=True)
    seed = check_seed(seed)
    restarts = check_int(restarts, "restarts", 1) if random_start else 1
    centres, dtype, targets = _attack_inputs(model, points, labels)
    n = len(centres)
    x, y = torch.from_numpy(centres), torch.from_numpy(targets)
    radius = torch.full((n,), eps, dtype=torch.float64)
    sizes = torch.full((n,), size, dtype=torch.float64)
    starts = unit_starts(n, norm, seed, restarts, centres.shape[1]) if random_start else [None]
    best = x.clone()
    best_wrong = torch.zeros(n, dtype=torch.bool)
    best_loss = torch.full((n,), -torch.inf, dtype=torch.float64)
    for start in starts:
        found, wrong, loss = pgd_rows(model, dtype, x, y, radius, norm, steps, sizes, start)
        better = _better(wrong, loss, best_wrong, best_loss)
        best = torch.where(better[:, None], found, best)
        best_wrong, best_loss = best_wrong | wrong, torch.where(better, loss, best_loss)
    return into_balls(centres, best.numpy(), np.full(n, eps), norm)
