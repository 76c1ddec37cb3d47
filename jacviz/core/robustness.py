"""How robust a small 2D classifier is: adversarial attacks, distances to the boundary, flips.

Hoffman, Roberts & Yaida (2019) penalise the input–output Jacobian of classifiers and report
larger decision cells and better robustness to projected-gradient attacks. This module measures
both for the 2D classifiers jacviz shows, so a view can compare networks, and compare a network
with what its Jacobian predicts:

- :func:`fgsm` and :func:`pgd`: adversarial points within an L2 or L∞ ball of each input;
- :func:`robust_accuracy`: accuracy under attack, per attack radius;
- :func:`boundary_distance`: the L2 distance from each point to the nearest input that the
  model classifies differently (the size of the point's decision cell around it);
- :func:`flip_fraction` and :func:`linearized_flip_fraction`: the fraction of a small disc whose
  class differs from the centre's, for the model and for its first-order (Jacobian) model.

Models are any ``torch.nn.Module`` mapping ``(B, 2)`` float tensors to ``(B, k)`` logits,
``k >= 2``. They run in the dtype of their parameters and are never modified: no mode switch,
no parameter gradients (input gradients come from :func:`torch.autograd.grad` with respect to the
input alone), no global random state. Points cross the API as float64 numpy arrays. A row of
logits with a NaN or infinite entry has class −1: it is never correct and differs from every
class.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from jacviz.core.threads import single_threaded

__all__ = [
    "ATTACKS",
    "GOLDEN_ANGLE",
    "NORMS",
    "RADIAL_SAMPLES",
    "boundary_distance",
    "disc_samples",
    "fgsm",
    "flip_fraction",
    "linearized_flip_fraction",
    "pgd",
    "robust_accuracy",
]

NORMS: tuple[str, ...] = ("2", "inf")
"""Names of the attack norms: the Euclidean ball (``"2"``) and the square (``"inf"``)."""

ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
"""Names of the attacks :func:`robust_accuracy` runs."""

RADIAL_SAMPLES: int = 64
"""Samples per ray in :func:`boundary_distance`'s search for the first class change.

Decision regions thinner than ``max_radius / RADIAL_SAMPLES`` along a ray can be stepped over
(their far side is then found instead, or nothing)."""

GOLDEN_ANGLE: float = math.pi * (3.0 - math.sqrt(5.0))
"""The angle between consecutive points of a Vogel (sunflower) spiral, about 137.5°."""

_CHUNK_ROWS = 1 << 16  # rows per forward pass: bounds the memory of hidden activations
_RADIAL_BLOCK = 8  # radii per ray per forward pass while marching outwards
_BISECTION_RTOL = 1e-7  # relative width at which a bracketed class change counts as found
_MAX_BISECTIONS = 80  # enough to exhaust float64 from any bracket, e.g. at a boundary point
_ANGLE_TOL = 1e-5  # radians; a distance error of ~tol²/2 relative for a straight boundary
_REFINE_RAYS = 12  # rays per round of the angle refinement: each round narrows it 5.5-fold
_REFINE_RADII = 8  # radii sampled along each refining ray, in one forward pass
_SEED_MIN, _SEED_MAX = -(2**63), 2**64 - 1  # what torch.Generator.manual_seed accepts


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def _check_norm(norm: object) -> str:
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {', '.join(map(repr, NORMS))}")
    return norm


def _check_eps(eps: object, what: str = "eps") -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise ValueError(f"{what} must be a number, got {eps!r:.60}")
    value = float(eps)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{what} must be finite and >= 0, got {value!r}")
    return value


def _check_positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {value!r:.60}")
    number = float(value)
    if not math.isfinite(number) or number <= 0.0:
        raise ValueError(f"{what} must be finite and > 0, got {number!r}")
    return number


def _check_int(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {value!r:.60}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r:.60}")
    if not _SEED_MIN <= seed <= _SEED_MAX:
        raise ValueError(f"seed must be in [-2**63, 2**64 - 1], got {seed}")
    return int(seed)


def _check_points(points: object, what: str = "points") -> np.ndarray:
    """``points`` as a fresh, finite float64 ``(n, 2)`` array, or a clear ValueError."""
    try:
        array = np.array(points, dtype=np.float64)  # a copy: callers' arrays are left alone
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an (n, 2) array of numbers, got {points!r:.60}") from None
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{what} must have shape (n, 2), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} have NaN or infinite coordinates")
    return array


def _check_labels(labels: object, n: int, k: int) -> np.ndarray:
    """``labels`` as an int64 ``(n,)`` array of classes in ``[0, k)``, or a clear ValueError."""
    array = np.asarray(labels)
    if array.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per point, got {array.shape}")
    if array.dtype.kind == "f":  # e.g. labels read back from JSON; only whole numbers will do
        if not np.all(np.isfinite(array) & (array == np.round(array))):
            raise ValueError("labels must be whole numbers (class indices)")
    elif array.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {array.dtype}")
    if n and (array.min() < 0 or array.max() >= k):
        raise ValueError(
            f"labels must be classes in [0, {k - 1}] for a model with {k} logits, "
            f"got values in [{array.min():g}, {array.max():g}]"
        )
    return array.astype(np.int64)


def _model_dtype(model: object) -> torch.dtype:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    parameter = next(model.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    if not dtype.is_floating_point:
        raise ValueError(f"model parameters must be floating point, got {dtype}")
    return dtype


# ----------------------------------------------------------------------------------------------
# Running the model
# ----------------------------------------------------------------------------------------------


def _call(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The model's logits for one batch, checked to be ``(B, k)`` with ``k >= 2``."""
    try:
        logits = model(batch)
    except RuntimeError as error:  # shape or dtype mismatch inside the model
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
        raise ValueError(
            f"the model failed on a {tuple(batch.shape)} {batch.dtype} batch: {first_line}"
        ) from None
    if (
        not isinstance(logits, torch.Tensor)
        or logits.ndim != 2
        or logits.shape[0] != batch.shape[0]
        or logits.shape[1] < 2
    ):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"the model must map (B, 2) inputs to (B, k) logits with k >= 2; "
            f"a {tuple(batch.shape)} batch gave {shape}"
        )
    return logits


def _logits(model: nn.Module, points: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Float64 logits ``(n, k)`` at float64 ``points`` ``(n, 2)``, computed in ``dtype``."""
    with torch.no_grad():
        chunks = [_call(model, chunk.to(dtype)) for chunk in points.split(_CHUNK_ROWS)]
    return torch.cat(chunks).to(torch.float64)


def _classes(logits: torch.Tensor) -> torch.Tensor:
    """Argmax class per row (first index on ties), −1 where a logit is NaN or infinite."""
    finite = torch.isfinite(logits).all(dim=1)
    return torch.where(finite, torch.nan_to_num(logits).argmax(dim=1), -1)


def _num_classes(model: nn.Module, dtype: torch.dtype) -> int:
    return _logits(model, torch.zeros((1, 2), dtype=torch.float64), dtype).shape[1]


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
    gradients, logits_out = [], []
    for chunk, chunk_labels in zip(
        points.split(_CHUNK_ROWS), labels.split(_CHUNK_ROWS), strict=True
    ):
        x = chunk.to(dtype=dtype, copy=True).requires_grad_(True)
        with torch.enable_grad():  # callers may be inside torch.no_grad()
            logits = _call(model, x)
            z = logits.detach().to(torch.float64)
            gradient = None
            if logits.requires_grad:
                weights = _ascent_weights(z, chunk_labels).to(logits.dtype)
                (gradient,) = torch.autograd.grad((logits * weights).sum(), x, allow_unused=True)
        if gradient is None:
            gradient = torch.zeros_like(chunk)
        gradient = gradient.to(torch.float64)
        gradients.append(torch.where(torch.isfinite(gradient), gradient, 0.0))
        logits_out.append(z)
    return torch.cat(gradients), torch.cat(logits_out)


# ----------------------------------------------------------------------------------------------
# Attacks
# ----------------------------------------------------------------------------------------------


def _step_direction(gradient: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent unit step for the norm: sign for L∞, normalised gradient for L2."""
    if norm == "inf":
        return torch.sign(gradient)
    length = torch.hypot(gradient[:, 0], gradient[:, 1])[:, None]
    return torch.where(length > 0, gradient / length.clamp(min=torch.finfo(torch.float64).tiny), 0)


def _project(
    centres: torch.Tensor, points: torch.Tensor, eps: torch.Tensor, norm: str
) -> torch.Tensor:
    """Euclidean projection of ``points`` onto the eps-balls (per row) around ``centres``."""
    delta = points - centres
    radius = eps[:, None]
    if norm == "inf":
        delta = torch.minimum(torch.maximum(delta, -radius), radius)
    else:
        length = torch.hypot(delta[:, 0], delta[:, 1])[:, None]
        delta = delta * torch.where(length > radius, radius / length, 1.0)
    return centres + delta


def _offset_size(delta: np.ndarray, norm: str) -> np.ndarray:
    if norm == "inf":
        return np.maximum(np.abs(delta[:, 0]), np.abs(delta[:, 1]))
    return np.hypot(delta[:, 0], delta[:, 1])


def _into_balls(centres: np.ndarray, points: np.ndarray, eps: np.ndarray, norm: str) -> np.ndarray:
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


def _unit_start(n: int, norm: str, seed: int) -> torch.Tensor:
    """``n`` points uniform in the unit ball of the norm (disc or square), from ``seed`` alone."""
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand((n, 2), generator=generator, dtype=torch.float64)
    if norm == "inf":
        return 2.0 * u - 1.0
    radius = torch.sqrt(u[:, 0])  # area-uniform
    angle = 2.0 * math.pi * u[:, 1]
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)


def _pgd_rows(
    model: nn.Module,
    dtype: torch.dtype,
    centres: torch.Tensor,
    labels: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
    steps: int,
    step_size: torch.Tensor,
    unit_start: torch.Tensor | None,
) -> torch.Tensor:
    """PGD on every row at once, each with its own radius ``eps`` and step size (float64).

    Returns, per row, the iterate with the highest cross-entropy, misclassified iterates
    first: Madry et al. keep the last one, but an earlier iterate that was already wrong is an
    equally valid witness, and keeping it makes the attack never weaker than its last step.
    """
    points = centres.clone() if unit_start is None else centres + eps[:, None] * unit_start
    best = points.clone()
    best_wrong = torch.zeros(len(centres), dtype=torch.bool)
    best_loss = torch.full((len(centres),), -torch.inf, dtype=torch.float64)
    onehot = torch.nn.functional.one_hot(labels, _num_classes(model, dtype)).bool()
    for step in range(steps + 1):
        if step < steps:
            gradient, logits = _ascent_gradient(model, points, labels, dtype)
        else:
            logits = _logits(model, points, dtype)
        wrong = _classes(logits) != labels
        # log of sum_{j != y} exp(z_j - z_y): monotone in the cross-entropy (CE = log(1 + e^this))
        # but, unlike CE, it does not round to 0 for confident points, so comparisons still work.
        finite = torch.isfinite(logits).all(dim=1)
        label_logit = torch.where(onehot, logits, 0.0).sum(dim=1)
        loss = torch.logsumexp(logits.masked_fill(onehot, -torch.inf), dim=1) - label_logit
        loss = torch.where(finite, loss, -torch.inf)
        better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (loss >= best_loss))
        best = torch.where(better[:, None], points, best)
        best_wrong = best_wrong | wrong
        best_loss = torch.where(better, loss, best_loss)
        if step < steps:
            points = points + step_size[:, None] * _step_direction(gradient, norm)
            points = _project(centres, points, eps, norm)
    return best


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
        Maps ``(B, 2)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, 2)`` finite inputs.
    labels : numpy.ndarray
        ``(n,)`` true classes, integers in ``[0, k)``.
    eps : float
        Radius of the attack ball, ``>= 0``.
    norm : {"inf", "2"}
        Which ball.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 adversarial points, each within ``eps`` of its input in the chosen
        norm as float64 computes it. Points where the gradient is zero or not finite stay put.

    Raises
    ------
    ValueError
        For an unknown norm, a negative or non-finite ``eps``, points not ``(n, 2)`` and finite,
        labels of the wrong shape or outside ``[0, k)``, or a model that does not give
        ``(B, k >= 2)`` logits.

    """
    norm = _check_norm(norm)
    eps = _check_eps(eps)
    centres = _check_points(points)
    dtype = _model_dtype(model)
    targets = _check_labels(labels, len(centres), _num_classes(model, dtype))
    x = torch.from_numpy(centres)
    gradient, _ = _ascent_gradient(model, x, torch.from_numpy(targets), dtype)
    adversarial = (x + eps * _step_direction(gradient, norm)).numpy()
    return _into_balls(centres, adversarial, np.full(len(centres), eps), norm)


@single_threaded()
def pgd(
    model: nn.Module,
    points: np.ndarray,
    labels: np.ndarray,
    eps: float,
    norm: str = "2",
    steps: int = 20,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Projected gradient descent attack (Madry et al. 2018) on a batch of points.

    Starting from a uniform random point of the eps-ball (``random_start``), take ``steps``
    steps up the cross-entropy (sign of the gradient for L∞, normalised gradient for L2), each
    followed by the projection onto the eps-ball around the original point (clipping for L∞,
    rescaling for L2). All points move together, one batched forward and backward per step.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 2)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, 2)`` finite inputs.
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
        Start at a uniform random point of the ball (the disc for L2, the square for L∞)
        instead of at the input.
    seed : int
        Seed of the random start. The start is drawn from a private ``torch.Generator`` as one
        unit-ball sample per point scaled by ``eps``, so the same seed gives the same result
        and global random state is never touched.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 adversarial points, each within ``eps`` of its input in the chosen
        norm as float64 computes it. Per point, the iterate (start included) with the highest
        cross-entropy, misclassified iterates first; Madry et al. keep the last iterate, which
        can only be a weaker witness.

    Raises
    ------
    ValueError
        For an unknown norm, a negative or non-finite ``eps``, ``steps < 1``, a step size that
        is not finite and positive, points not ``(n, 2)`` and finite, labels of the wrong shape
        or outside ``[0, k)``, or a model that does not give ``(B, k >= 2)`` logits.

    Notes
    -----
    Steps follow ``(q − onehot(y))ᵀ ∂z/∂x`` with ``q`` the softmax of the logits other than the
    label's: the cross-entropy gradient divided by ``1 − p_y``. Signs and directions are the
    same, but confident points, whose true gradient underflows to zero, still move.

    """
    norm = _check_norm(norm)
    eps = _check_eps(eps)
    steps = _check_int(steps, "steps", 1)
    size = 2.5 * eps / steps if step_size is None else _check_positive(step_size, "step_size")
    seed = _check_seed(seed)
    centres = _check_points(points)
    dtype = _model_dtype(model)
    targets = _check_labels(labels, len(centres), _num_classes(model, dtype))
    n = len(centres)
    best = _pgd_rows(
        model,
        dtype,
        torch.from_numpy(centres),
        torch.from_numpy(targets),
        torch.full((n,), eps, dtype=torch.float64),
        norm,
        steps,
        torch.full((n,), size, dtype=torch.float64),
        _unit_start(n, norm, seed) if random_start else None,
    )
    return _into_balls(centres, best.numpy(), np.full(n, eps), norm)


@single_threaded()
def robust_accuracy(
    model: nn.Module,
    points: np.ndarray,
    labels: np.ndarray,
    epsilons: Sequence[float],
    attack: str = "pgd",
    norm: str = "2",
    steps: int = 20,
    seed: int = 0,
) -> dict[float, float]:
    """Accuracy under attack for each radius in ``epsilons``: the curve robustness plots show.

    A point counts as correct at radius ``eps`` when it is classified correctly, and the attack
    found no misclassified point within ``eps`` of it, at this radius or any smaller one in
    ``epsilons`` (a witness within a smaller ball is in the larger one too). So the result never
    increases with ``eps``, and at ``eps = 0`` it is the clean accuracy. Every reported error
    has a witness, so the values are upper bounds on the true robust accuracy. All radii are
    attacked in one batch: ``steps`` forward and backward passes over ``n × len(epsilons)``
    points for PGD.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 2)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, 2)`` finite inputs, ``n >= 1``.
    labels : numpy.ndarray
        ``(n,)`` true classes, integers in ``[0, k)``.
    epsilons : sequence of float
        Attack radii, each finite and ``>= 0``, in any order.
    attack : {"pgd", "fgsm"}
        :func:`pgd` (random start from ``seed``, default step size) or :func:`fgsm`.
    norm : {"2", "inf"}
        Which ball.
    steps : int
        PGD steps, ``>= 1`` (ignored by FGSM).
    seed : int
        Seed of PGD's random start; the same unit-ball start is scaled to every radius, so each
        radius gets what ``pgd(..., eps, seed=seed)`` alone would give.

    Returns
    -------
    dict of float to float
        ``{float(eps): accuracy}`` in the order of ``epsilons``, accuracies in ``[0, 1]``.

    Raises
    ------
    ValueError
        For an unknown attack or norm, a negative or non-finite radius, ``steps < 1``, no points,
        points not ``(n, 2)`` and finite, labels of the wrong shape or outside ``[0, k)``, or a
        model that does not give ``(B, k >= 2)`` logits.

    """
    if not isinstance(attack, str) or attack not in ATTACKS:
        raise ValueError(
            f"unknown attack {attack!r}; expected one of {', '.join(map(repr, ATTACKS))}"
        )
    norm = _check_norm(norm)
    steps = _check_int(steps, "steps", 1)
    seed = _check_seed(seed)
    radii = [_check_eps(eps, "each of epsilons") for eps in epsilons]
    centres = _check_points(points)
    if len(centres) == 0:
        raise ValueError("robust accuracy needs at least one point")
    dtype = _model_dtype(model)
    x = torch.from_numpy(centres)
    clean = _classes(_logits(model, x, dtype))
    targets = torch.from_numpy(_check_labels(labels, len(centres), _num_classes(model, dtype)))
    correct_clean = (clean == targets).numpy()
    accuracy = {0.0: float(correct_clean.mean())}
    positive = sorted({eps for eps in radii if eps > 0.0})
    if positive:
        n, blocks = len(centres), len(positive)
        eps_rows = torch.tensor(positive, dtype=torch.float64).repeat_interleave(n)
        all_centres = x.repeat(blocks, 1)
        all_labels = targets.repeat(blocks)
        if attack == "pgd":
            adversarial = _pgd_rows(
                model,
                dtype,
                all_centres,
                all_labels,
                eps_rows,
                norm,
                steps,
                2.5 * eps_rows / steps,
                _unit_start(n, norm, seed).repeat(blocks, 1),
            )
        else:
            gradient, _ = _ascent_gradient(model, all_centres, all_labels, dtype)
            adversarial = all_centres + eps_rows[:, None] * _step_direction(gradient, norm)
        adversarial = _into_balls(all_centres.numpy(), adversarial.numpy(), eps_rows.numpy(), norm)
        attacked = _classes(_logits(model, torch.from_numpy(adversarial), dtype))
        correct = (attacked == all_labels).numpy().reshape(blocks, n) & correct_clean
        correct = np.logical_and.accumulate(correct, axis=0)  # errors carry to larger radii
        accuracy.update(zip(positive, correct.mean(axis=1).tolist(), strict=True))
    return {eps: accuracy[eps] for eps in radii}


# ----------------------------------------------------------------------------------------------
# Decision cells
# ----------------------------------------------------------------------------------------------


def _margins(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``z_c − max_{j≠c} z_j`` per row for the given classes: > 0 where ``c`` still wins.

    NaN where the class is −1 or a logit is not finite, so no secant is drawn through it.
    """
    index = classes.clamp(min=0)[:, None]
    own = logits.gather(1, index)[:, 0]
    others = logits.scatter(1, index, -torch.inf).max(dim=1).values
    margin = own - others
    return torch.where((classes >= 0) & torch.isfinite(margin), margin, torch.nan)


def _locate(
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
    secant root of the logit margin (:func:`_margins`). The midpoint guarantees bisection's
    halving; where the margin is smooth the secant root is accurate to well under the
    tolerance after a step or two, and its two neighbours then close the bracket at once.
    2–6 passes on the networks measured, instead of bisection's ~20.
    """
    lo, hi = lo.clone(), hi.clone()
    # Below a few ulps of the model's dtype, nearby radii round to the same input: stop there.
    scale = origins.abs().amax(dim=1) + hi
    resolution = 4.0 * torch.finfo(dtype).eps * scale
    ends = torch.cat([origins + lo[:, None] * directions, origins + hi[:, None] * directions])
    margin_lo, margin_hi = _margins(_logits(model, ends, dtype), classes.repeat(2)).chunk(2)
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
        logits = _logits(model, points.reshape(-1, 2), dtype)
        flipped = (_classes(logits) != cls.repeat_interleave(3)).reshape(-1, 3)
        margins = _margins(logits, cls.repeat_interleave(3)).reshape(-1, 3)
        # The new bracket: the first flipped probe (or hi) and the probe (or lo) before it.
        flipped = torch.cat([flipped, torch.ones_like(flipped[:, :1])], dim=1)
        first = flipped.to(torch.uint8).argmax(dim=1)  # 0..3, 3 = none of the probes
        positions = torch.cat([a[:, None], probes, b[:, None]], dim=1)
        values = torch.cat([m_a[:, None], margins, m_b[:, None]], dim=1)
        rows = torch.arange(len(active))
        lo[active], margin_lo[active] = positions[rows, first], values[rows, first]
        hi[active], margin_hi[active] = positions[rows, first + 1], values[rows, first + 1]
    return hi


def _nearest_flip(
    model: nn.Module,
    dtype: torch.dtype,
    origins: torch.Tensor,
    classes: torch.Tensor,
    directions: torch.Tensor,
    scale: torch.Tensor,
    fractions: torch.Tensor,
    block: int,
) -> torch.Tensor:
    """The first class change along each point's rays, where it can be the point's nearest.

    ``origins`` ``(p, 2)`` with their ``classes`` ``(p,)`` and unit ``directions``
    ``(p, m, 2)``. All rays of all points march outwards together through the radii
    ``scale·fractions`` (``(p,)`` times increasing ``(s,)``, with the origin before the first),
    ``block`` radii per forward pass. A point stops at the first block where any of its rays
    changes class; only its rays that change at the earliest radius are located exactly
    (:func:`_locate`), the others get ``inf``: their first change lies beyond that radius,
    farther than the point's nearest. So ``min`` and ``argmin`` over a point's rays are those
    of the first changes, at a cost that grows with the distance found rather than with the
    last radius. Returns ``(p, m)`` float64 distances, ``inf`` where none.
    """
    p, m = directions.shape[:2]
    distance = torch.full((p, m), torch.inf, dtype=torch.float64)
    brackets = []  # (point, ray, lo, hi) of the rays that change class first
    pending = torch.arange(p)
    for start in range(0, len(fractions), block):
        if len(pending) == 0:
            break
        radii = scale[pending, None] * fractions[None, start : start + block]  # (q, b)
        samples = (
            origins[pending, None, None, :]
            + radii[:, None, :, None] * directions[pending, :, None, :]
        )  # (q, m, b, 2)
        flipped = (
            _classes(_logits(model, samples.reshape(-1, 2), dtype)).reshape(samples.shape[:3])
            != classes[pending, None, None]
        )
        # Index of each ray's first changed sample in the block, b where none.
        first = torch.cat([flipped, torch.ones_like(flipped[..., :1])], dim=2)
        first = first.to(torch.uint8).argmax(dim=2)  # (q, m)
        earliest = first.min(dim=1, keepdim=True).values
        point, ray = torch.nonzero((first == earliest) & (first < radii.shape[1]), as_tuple=True)
        if len(point):
            index = first[point, ray]
            before = start + index - 1  # the radius before it, -1 for the origin
            lo = torch.where(
                before >= 0, scale[pending[point]] * fractions[before.clamp(min=0)], 0.0
            )
            brackets.append((pending[point], ray, lo, radii[point, index]))
        pending = pending[earliest[:, 0] == radii.shape[1]]
    if brackets:
        point, ray, lo, hi = (torch.cat(parts) for parts in zip(*brackets, strict=True))
        distance[point, ray] = _locate(
            model, dtype, origins[point], classes[point], directions[point, ray], lo, hi
        )
    return distance


@single_threaded()
def boundary_distance(
    model: nn.Module,
    points: np.ndarray,
    max_radius: float,
    n_directions: int = 64,
    *,
    radial_samples: int = RADIAL_SAMPLES,
) -> np.ndarray:
    """L2 distance from each point to the nearest input the model classifies differently.

    The radius of the largest disc around the point inside its own decision cell: the quantity
    Jacobian regularization is meant to grow. Found by marching along ``n_directions`` evenly
    spaced rays for the first class change (``radial_samples`` radii up to ``max_radius``, then
    a safeguarded secant search on the logit margin to about 1e-7 relative), then refining
    the best ray's angle: 12 rays across its neighbourhood, re-centred on the best and
    narrowed 5.5-fold per round, to 1e-5 rad. Every stage is vectorised over points and rays:
    one batched forward pass per marching block or search step (300 points of a 2-32-32-3
    MLP: about 0.3 s; one point: about 10 ms).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 2)`` float tensors to ``(B, k)`` logits; run in its parameters' dtype.
    points : numpy.ndarray
        ``(n, 2)`` finite inputs.
    max_radius : float
        How far to search, ``> 0``.
    n_directions : int
        Number of rays of the initial search, ``>= 1``.
    radial_samples : int
        Radii sampled along each ray before the search, ``>= 1``. A region narrower than
        ``max_radius / radial_samples`` along a ray can be stepped over.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 distances; ``inf`` where no class change was found within
        ``max_radius``. Each finite distance is attained: some point at that distance has
        another class, so it never under-estimates. Where the nearest boundary is smooth the
        result is within about 1e-6 relative of the true distance, or of the model dtype's
        resolution at the point, whichever is coarser.

    Raises
    ------
    ValueError
        For points not ``(n, 2)`` and finite, a ``max_radius`` that is not finite and positive,
        ``n_directions < 1`` or ``radial_samples < 1``, or a model that does not give
        ``(B, k >= 2)`` logits.

    """
    max_radius = _check_positive(max_radius, "max_radius")
    n_directions = _check_int(n_directions, "n_directions", 1)
    radial_samples = _check_int(radial_samples, "radial_samples", 1)
    centres = _check_points(points)
    dtype = _model_dtype(model)
    n = len(centres)
    if n == 0:
        _num_classes(model, dtype)  # still check the model
        return np.zeros(0)
    x = torch.from_numpy(centres)
    own = _classes(_logits(model, x, dtype))

    def along(
        rows: torch.Tensor,
        angles: torch.Tensor,
        scale: torch.Tensor,
        fractions: torch.Tensor,
        block: int,
    ) -> torch.Tensor:
        directions = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
        return _nearest_flip(model, dtype, x[rows], own[rows], directions, scale, fractions, block)

    step = 2.0 * math.pi / n_directions
    grid = step * torch.arange(n_directions, dtype=torch.float64)
    best = torch.empty(n, dtype=torch.float64)
    best_ray = torch.empty(n, dtype=torch.int64)
    fractions = torch.arange(1, radial_samples + 1, dtype=torch.float64) / radial_samples
    # Chunks of points keep the marching samples (points x rays x block) in bounded memory.
    per_chunk = max(1, _CHUNK_ROWS // (n_directions * _RADIAL_BLOCK))
    for start in range(0, n, per_chunk):
        rows = torch.arange(start, min(start + per_chunk, n))
        reach = torch.full((len(rows),), max_radius, dtype=torch.float64)
        angles = grid.expand(len(rows), n_directions)
        found = along(rows, angles, reach, fractions, _RADIAL_BLOCK)
        best[rows], best_ray[rows] = found.min(dim=1)

    rows = torch.nonzero(torch.isfinite(best)).squeeze(1)
    if len(rows) == 0:
        return best.numpy()
    # For a smooth boundary the distance along a ray is smooth in the angle and least along
    # the normal, so grid angles alone over-estimate it by up to ~(step/2)²/2 relative. The
    # minimum lies within a grid step of the best ray, and then within one probe spacing of
    # the best probe. Refining rays sample 8 radii within ±10 % of the best distance so far,
    # in one pass: finely, so as not to step over a thin region the grid found (near a corner
    # of a cell, say). A change beyond them cannot be the minimum; one before them is found
    # from the origin; one they miss only means no improvement, as every distance is attained.
    found, theta, half = best[rows], grid[best_ray[rows]], step
    offsets = torch.linspace(-1.0, 1.0, _REFINE_RAYS, dtype=torch.float64)
    window = torch.linspace(0.9, 1.1, _REFINE_RADII + 1, dtype=torch.float64)[1:]
    while half > _ANGLE_TOL:
        angles = theta[:, None] + half * offsets[None, :]
        trial, ray = along(rows, angles, found, window, _REFINE_RADII).min(dim=1)
        better = trial < found
        theta = torch.where(better, angles[torch.arange(len(rows)), ray], theta)
        found = torch.where(better, trial, found)
        half *= 2.0 / (_REFINE_RAYS - 1)
    best[rows] = found
    return best.numpy()


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
    n = _check_int(n, "n", 0)
    i = np.arange(n, dtype=np.float64)
    radius = np.sqrt((i + 0.5) / max(n, 1))
    angle = GOLDEN_ANGLE * i
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def _check_point(point: object) -> np.ndarray:
    try:
        array = np.array(point, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"point must be 2 numbers, got {point!r:.60}") from None
    if array.shape != (2,):
        raise ValueError(f"point must have shape (2,), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("point has NaN or infinite coordinates")
    return array


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
    centre = _check_point(point)
    eps = _check_eps(eps)
    n_samples = _check_int(n_samples, "n_samples", 1)
    dtype = _model_dtype(model)
    samples = np.vstack([centre, centre + eps * disc_samples(n_samples)])
    classes = _classes(_logits(model, torch.from_numpy(samples), dtype))
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
            f"jacobian must have shape ({len(z)}, 2) for {len(z)} logits, got {jac.shape}"
        )
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(jac))):
        raise ValueError("logits and jacobian must be finite")
    eps = _check_eps(eps)
    n_samples = _check_int(n_samples, "n_samples", 1)
    linear = z + (eps * disc_samples(n_samples)) @ jac.T
    return float(np.mean(np.argmax(linear, axis=1) != np.argmax(z)))
