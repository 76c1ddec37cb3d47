"""How robust a small 2D classifier is: adversarial attacks, distances to the boundary, flips.

Hoffman, Roberts & Yaida (2019) penalise the input–output Jacobian of classifiers and report
larger decision cells and better robustness to projected-gradient attacks. This module measures
both for the 2D classifiers jacviz shows, so a view can compare networks, and compare a network
with what its Jacobian predicts:

- :func:`fgsm` and :func:`pgd`: adversarial points within an L2 or L∞ ball of each input;
- :func:`robust_accuracy`: accuracy under attack, per attack radius (an upper bound on the
  accuracy under any attack: an attack can miss errors, never invent them);
- :func:`boundary_distance`: the L2 distance from each point to the nearest input that the
  model classifies differently (the size of the point's decision cell around it);
- :func:`flip_fraction` and :func:`linearized_flip_fraction`: the fraction of a small disc whose
  class differs from the centre's, for the model and for its first-order (Jacobian) model.

Models are any ``torch.nn.Module`` mapping ``(B, 2)`` float tensors to ``(B, k)`` logits,
``k >= 2``. They run in the dtype of their parameters and are never modified: no mode switch,
no parameter gradients (input gradients come from :func:`torch.autograd.grad` with respect to the
input alone, or for plain chains of layers from the forward tangents of
:func:`~jacviz.math.jacobian.sequential_jacobian`), no global random state. Points cross the
API as float64 numpy arrays. A row of logits with a NaN or infinite entry has class −1: it is
never correct and differs from every class.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn

from jacviz.math.jacobian import sequential_jacobian, sequential_values
from jacviz.support.threads import single_threaded

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

NORMS: tuple[str, ...] = ("2", "inf")
"""Names of the attack norms: the Euclidean ball (``"2"``) and the square (``"inf"``)."""

ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
"""Names of the attacks :func:`robust_accuracy` runs."""

PGD_STEPS: int = 20
"""Default steps of each PGD run (Madry et al.'s step size 2.5·ε/steps crosses the ball twice)."""

PGD_RESTARTS: int = 12
"""Default PGD runs per point, from starts spread round the ball's edge (see :func:`pgd`)."""

SECTORS: int = 16
"""Sectors around each point in :func:`boundary_distance`'s first cover of its disc."""

RADIAL_SAMPLES: int = 16
"""Rings out to ``max_radius`` in :func:`boundary_distance`'s first cover of each point's disc.

Only where the search starts: cells are halved wherever the logit margin is too small for
them, so regions far thinner than ``max_radius / RADIAL_SAMPLES`` are still found."""

GOLDEN_ANGLE: float = math.pi * (3.0 - math.sqrt(5.0))
"""The angle between consecutive points of a Vogel (sunflower) spiral, about 137.5°."""

_CHUNK_ROWS = 1 << 16  # rows per forward pass: bounds the memory of hidden activations
_COVER_RINGS = 8  # rings of cells per block of boundary_distance's cover, outwards
_SAFETY = 1.5  # the margin's Lipschitz estimate: this x the steepest slope seen around a point
_SMALLEST_CELL = 3e-2  # cells are halved down to this fraction of the best distance so far
_MAX_CELLS = 4096  # cells per point and round of halving: bounds the work on any model
_MAX_SEEDS = 8  # fans of the refinement per point, the nearest first
_LOCATED = 4  # rays of each cluster located exactly before fans start from the best ones
_BISECTION_RTOL = 1e-7  # relative width at which a bracketed class change counts as found
_MAX_BISECTIONS = 80  # enough to exhaust float64 from any bracket, e.g. at a boundary point
_MAX_ROUNDS = 40  # rounds of a fan that may move on without narrowing
_RAY_SAMPLES = 4  # radii sampled evenly along each ray of the refinement
_TANGENT_PROBES = (-1e-4, 0.0, 1e-9, 1e-6, 1e-3)  # relative offsets around a crossing
_PAST = 1e-6  # how far (relative) a Newton probe steps past the boundary
_ANGLE_TOL = 1e-5  # radians; a distance error of ~tol²/2 relative for a straight boundary
_REFINE_RAYS = 12  # rays per fan of the refinement: each round narrows it 5.5-fold
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


def _checked(logits: object, batch: torch.Tensor) -> torch.Tensor:
    """``logits`` if they are a ``(B, k)`` tensor with ``k >= 2`` for the ``(B, 2)`` batch."""
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


def _call(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The model's logits for one batch, checked to be ``(B, k)`` with ``k >= 2``."""
    try:
        logits = model(batch)
    except RuntimeError as error:  # shape or dtype mismatch inside the model
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
        raise ValueError(
            f"the model failed on a {tuple(batch.shape)} {batch.dtype} batch: {first_line}"
        ) from None
    return _checked(logits, batch)


def _walk(
    model: nn.Module, batch: torch.Tensor, jacobians: bool
) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None:
    """Logits (and their Jacobians) by the layer walk of plain MLPs, or None for other models.

    The walk (:func:`~jacviz.math.jacobian.sequential_values`, ``sequential_jacobian``) gives
    the module's values up to an ulp or so of its activations, about 4x faster than calling it
    (numpy's tanh), and Jacobians by forward tangents instead of a backward pass. None also when
    the walk refuses the batch: calling the model then says what is wrong.
    """
    try:
        walked = (sequential_jacobian if jacobians else sequential_values)(model, batch)
    except ValueError:
        return None
    if walked is not None:
        _checked(walked[0] if jacobians else walked, batch)
    return walked


def _logits(model: nn.Module, points: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Float64 logits ``(n, k)`` at float64 ``points`` ``(n, 2)``, computed in ``dtype``."""
    chunks = []
    with torch.no_grad():
        for chunk in points.split(_CHUNK_ROWS):
            batch = chunk.to(dtype)
            walked = _walk(model, batch, jacobians=False)
            chunks.append(_call(model, batch) if walked is None else walked)
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


def _weighted_gradients(
    model: nn.Module,
    dtype: torch.dtype,
    points: torch.Tensor,
    extra: torch.Tensor,
    weigh: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at ``points`` and the input gradients of ``weigh(logits, extra)ᵀ logits``.

    ``weigh`` maps float64 logits ``(B, k)`` and the matching rows of ``extra`` to weights
    ``(B, k)``, held constant in the differentiation. Per chunk, by the walk's Jacobians
    (:func:`_walk`) or one forward and one backward pass; both results float64, gradients 0
    where the logits do not depend on the input.
    """
    gradients, logits_out = [], []
    for chunk, rows in zip(points.split(_CHUNK_ROWS), extra.split(_CHUNK_ROWS), strict=True):
        batch = chunk.to(dtype)
        walked = _walk(model, batch, jacobians=True)
        if walked is not None:
            logits, jacobians = (part.to(torch.float64) for part in walked)
            gradient = (weigh(logits, rows)[:, :, None] * jacobians).sum(dim=1)
        else:
            x = batch.clone().requires_grad_(True)
            gradient = None
            with torch.enable_grad():  # callers may be inside torch.no_grad()
                output = _call(model, x)
                logits = output.detach().to(torch.float64)
                if output.requires_grad:
                    weights = weigh(logits, rows).to(output.dtype)
                    (gradient,) = torch.autograd.grad(
                        (output * weights).sum(), x, allow_unused=True
                    )
            gradient = torch.zeros_like(chunk) if gradient is None else gradient.to(torch.float64)
        gradients.append(gradient)
        logits_out.append(logits)
    return torch.cat(logits_out), torch.cat(gradients)


def _ascent_gradient(
    model: nn.Module, points: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input gradients along which the cross-entropy grows, and the logits, both float64.

    The gradients are positive multiples of the cross-entropy's (see :func:`_ascent_weights`),
    zero where they are not finite or the logits do not depend on the input.
    """
    logits, gradient = _weighted_gradients(model, dtype, points, labels, _ascent_weights)
    return torch.where(torch.isfinite(gradient), gradient, 0.0), logits


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
    onehot = torch.nn.functional.one_hot(labels, _num_classes(model, dtype)).bool()
    active = torch.arange(len(centres))
    for step in range(steps + 1):
        if len(active) == 0:
            break
        if step < steps:
            gradient, logits = _ascent_gradient(model, points[active], labels[active], dtype)
        else:
            logits = _logits(model, points[active], dtype)
        wrong = _classes(logits) != labels[active]
        # log of sum_{j != y} exp(z_j - z_y): monotone in the cross-entropy (CE = log(1 + e^this))
        # but, unlike CE, it does not round to 0 for confident points, so comparisons still work.
        finite = torch.isfinite(logits).all(dim=1)
        own = onehot[active]
        label_logit = torch.where(own, logits, 0.0).sum(dim=1)
        loss = torch.logsumexp(logits.masked_fill(own, -torch.inf), dim=1) - label_logit
        loss = torch.where(finite, loss, -torch.inf)
        was_wrong = best_wrong[active]
        better = (wrong & ~was_wrong) | ((wrong == was_wrong) & (loss >= best_loss[active]))
        rows = active[better]
        best[rows], best_loss[rows] = points[rows], loss[better]
        best_wrong[active] = was_wrong | wrong
        if until_wrong:
            active = active[~wrong]
            if step < steps:
                gradient = gradient[~wrong]
        if step < steps:
            moved = points[active] + step_size[active, None] * _step_direction(gradient, norm)
            points[active] = _project(centres[active], moved, eps[active], norm)
    return best, best_wrong, best_loss


def _edge_points(fractions: torch.Tensor, norm: str) -> torch.Tensor:
    """Points ``(..., 2)`` on the edge of the unit ball, ``fractions`` of the way round it.

    The circle for L2 (by angle); the square's perimeter for L∞ (by length), from its corner
    ``(−1, −1)`` anticlockwise.
    """
    if norm == "2":
        return _unit(2.0 * math.pi * fractions)
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


def _unit_starts(n: int, norm: str, seed: int, restarts: int) -> torch.Tensor:
    """``(restarts, n, 2)`` starts on the edge of the unit ball: restart ``r`` of point ``i``.

    Point ``i``'s starts are ``(r + u_i) / restarts`` of the way round the edge, ``u_i``
    uniform in [0, 1) from ``seed`` alone: evenly spread, so that a region of another class
    in any direction of the ball is approached from a start beside it, and at the edge, where
    a loss that grows outwards has its maxima.
    """
    generator = torch.Generator().manual_seed(seed)
    phase = torch.rand((n,), generator=generator, dtype=torch.float64)
    turns = (torch.arange(restarts, dtype=torch.float64)[:, None] + phase[None, :]) / restarts
    return _edge_points(turns, norm)


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
    rescaling for L2); then again from ``restarts − 1`` other starts, spread evenly round the
    edge. All points move together, one batched forward and backward per step.

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
        Start on the edge of the ball (the circle for L2, the square for L∞) instead of at the
        input. Madry et al. start uniformly inside the ball; in 2D the edge serves better: the
        starts of one point go evenly round it (see ``restarts``).
    seed : int
        Seed of the starts: per point, where round the edge the first one is (the others
        follow at equal steps), drawn from a private ``torch.Generator``, so the same seed
        gives the same result and global random state is never touched.
    restarts : int
        Runs per point, ``>= 1``, from starts ``1/restarts`` of the way round the edge apart
        (one without ``random_start``: every run would be the same). A ball that holds a region
        of another class in a narrow range of directions traps runs from elsewhere in a local
        maximum of the loss: on the spirals example at L2 ε = 0.3, Madry et al.'s single run of
        20 steps reports a robust accuracy of 0.325 where the truth is 0.15; from 12 starts
        round the edge it is 0.15.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 adversarial points, each within ``eps`` of its input in the chosen
        norm as float64 computes it. Per point, the iterate (starts included) of all runs with
        the highest cross-entropy, misclassified iterates first; Madry et al. keep the last
        iterate, which can only be a weaker witness.

    Raises
    ------
    ValueError
        For an unknown norm, a negative or non-finite ``eps``, ``steps < 1``, ``restarts < 1``,
        a step size that is not finite and positive, points not ``(n, 2)`` and finite, labels
        of the wrong shape or outside ``[0, k)``, or a model that does not give ``(B, k >= 2)``
        logits.

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
    restarts = _check_int(restarts, "restarts", 1) if random_start else 1
    centres = _check_points(points)
    dtype = _model_dtype(model)
    targets = _check_labels(labels, len(centres), _num_classes(model, dtype))
    n = len(centres)
    x, y = torch.from_numpy(centres), torch.from_numpy(targets)
    radius = torch.full((n,), eps, dtype=torch.float64)
    sizes = torch.full((n,), size, dtype=torch.float64)
    starts = _unit_starts(n, norm, seed, restarts) if random_start else [None]
    best = x.clone()
    best_wrong = torch.zeros(n, dtype=torch.bool)
    best_loss = torch.full((n,), -torch.inf, dtype=torch.float64)
    for start in starts:
        found, wrong, loss = _pgd_rows(model, dtype, x, y, radius, norm, steps, sizes, start)
        better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (loss >= best_loss))
        best = torch.where(better[:, None], found, best)
        best_wrong, best_loss = best_wrong | wrong, torch.where(better, loss, best_loss)
    return _into_balls(centres, best.numpy(), np.full(n, eps), norm)


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
        PGD steps per start, ``>= 1`` (ignored by FGSM).
    seed : int
        Seed of PGD's random starts; the same unit-ball starts are scaled to every radius, so
        each radius gets the errors ``pgd(..., eps, seed=seed, restarts=restarts)`` alone
        would find.
    restarts : int
        PGD runs from different random starts, ``>= 1`` (ignored by FGSM). See :func:`pgd`.

    Returns
    -------
    dict of float to float
        ``{float(eps): accuracy}`` in the order of ``epsilons``, accuracies in ``[0, 1]``.

    Raises
    ------
    ValueError
        For an unknown attack or norm, a negative or non-finite radius, ``steps < 1``,
        ``restarts < 1``, no points, points not ``(n, 2)`` and finite, labels of the wrong shape
        or outside ``[0, k)``, or a model that does not give ``(B, k >= 2)`` logits.

    """
    if not isinstance(attack, str) or attack not in ATTACKS:
        raise ValueError(
            f"unknown attack {attack!r}; expected one of {', '.join(map(repr, ATTACKS))}"
        )
    norm = _check_norm(norm)
    steps = _check_int(steps, "steps", 1)
    seed = _check_seed(seed)
    restarts = _check_int(restarts, "restarts", 1)
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
            adversarial = all_centres.clone()
            wrong = torch.from_numpy(~np.tile(correct_clean, blocks))
            for start in _unit_starts(n, norm, seed, restarts):
                # A point already wrong at a radius is wrong at every larger one: skip those.
                done = torch.cummax(wrong.reshape(blocks, n).to(torch.uint8), dim=0).values
                rows = torch.nonzero(done.reshape(-1) == 0).squeeze(1)
                if len(rows) == 0:
                    break
                found, fell, _ = _pgd_rows(
                    model, dtype, all_centres[rows], all_labels[rows], eps_rows[rows], norm,
                    steps, 2.5 * eps_rows[rows] / steps, start.repeat(blocks, 1)[rows],
                    until_wrong=True,
                )  # fmt: skip
                adversarial[rows[fell]] = found[fell]
                wrong[rows[fell]] = True
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


def _unit(angles: torch.Tensor) -> torch.Tensor:
    """Unit vectors ``(..., 2)`` at ``angles``."""
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def _length(vectors: torch.Tensor) -> torch.Tensor:
    """Euclidean lengths of ``(..., 2)`` vectors."""
    return torch.hypot(vectors[..., 0], vectors[..., 1])


def _margin_weights(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Weights whose product with the logits' gradients is the gradient of :func:`_margins`.

    ``+1`` on the class's logit, ``−1`` on the strongest other one.
    """
    index = classes.clamp(min=0)[:, None]
    rival = torch.nan_to_num(logits).scatter(1, index, -torch.inf).argmax(dim=1, keepdim=True)
    weights = torch.zeros_like(logits).scatter(1, index, 1.0)
    return weights.scatter_add(1, rival, -torch.ones_like(rival, dtype=logits.dtype))


def _margin_gradients(
    model: nn.Module, dtype: torch.dtype, points: torch.Tensor, classes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Margins of ``classes`` at ``points``, their gradients ``(n, 2)``, and the classes there.

    All float64; margins are NaN where :func:`_margins` says so.
    """
    logits, gradient = _weighted_gradients(model, dtype, points, classes, _margin_weights)
    return _margins(logits, classes), gradient, _classes(logits)


@dataclass(frozen=True)
class _Cells:
    """Annular sectors ``r0 ≤ r ≤ r1``, ``t0 ≤ θ ≤ t1`` around the points ``owner`` indexes."""

    owner: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    t0: torch.Tensor
    t1: torch.Tensor

    @staticmethod
    def grid(points: torch.Tensor, rings: range, ring: float, sectors: int) -> _Cells:
        """``rings`` (indices of rings ``ring`` wide) x ``sectors`` around each of ``points``."""
        # Edges as multiples, not sums, so that neighbours share them exactly (see _clusters).
        radii = torch.arange(rings.start, rings.stop + 1, dtype=torch.float64) * ring
        turns = torch.arange(sectors + 1, dtype=torch.float64) * (2.0 * math.pi / sectors)
        shape = (len(points), len(rings), sectors)

        def spread(values: torch.Tensor, axis: int) -> torch.Tensor:
            view = [1, 1, 1]
            view[axis] = -1
            return values.reshape(view).expand(shape).reshape(-1)

        return _Cells(
            spread(points, 0),
            spread(radii[:-1], 1),
            spread(radii[1:], 1),
            spread(turns[:-1], 2),
            spread(turns[1:], 2),
        )

    def __len__(self) -> int:
        return len(self.owner)

    @property
    def radius(self) -> torch.Tensor:
        """Distance from the point to the centre: the mid-radius, mid-angle point."""
        return 0.5 * (self.r0 + self.r1)

    @property
    def reach(self) -> torch.Tensor:
        """An upper bound on the distance from the centre to any point of the cell.

        From ``(r_m, θ_m)`` to ``(r, θ)`` the squared distance is ``(r − r_m)² + 4 r r_m
        sin²((θ − θ_m)/2)``, at most its value at ``r = r1`` and the sector's edges.
        """
        quarter = torch.sin(0.25 * (self.t1 - self.t0))
        return torch.sqrt(
            (0.5 * (self.r1 - self.r0)) ** 2 + 4.0 * self.r1 * self.radius * quarter**2
        )

    def offsets(self) -> torch.Tensor:
        """The centres ``(len, 2)`` relative to their points."""
        return self.radius[:, None] * _unit(0.5 * (self.t0 + self.t1))

    def take(self, index: torch.Tensor) -> _Cells:
        """The cells at ``index`` (a mask or indices)."""
        return _Cells(*(getattr(self, field.name)[index] for field in fields(self)))

    def halves(self) -> _Cells:
        """Each cell cut in two across its longer side (its radial length or mid-radius arc)."""
        radial = (self.r1 - self.r0) >= self.radius * (self.t1 - self.t0)
        r_mid, t_mid = self.radius, 0.5 * (self.t0 + self.t1)
        return _Cells(
            self.owner.repeat(2),
            torch.cat([self.r0, torch.where(radial, r_mid, self.r0)]),
            torch.cat([torch.where(radial, r_mid, self.r1), self.r1]),
            torch.cat([self.t0, torch.where(radial, self.t0, t_mid)]),
            torch.cat([torch.where(radial, self.t1, t_mid), self.t1]),
        )


@dataclass(frozen=True)
class _Candidates:
    """The smallest cells that may hold their point's nearest change, as :func:`_cover` left them.

    ``owner``, ``r0``, ``r1``, ``t0`` and ``t1`` are the cells'; ``offset`` is the centre
    relative to its point, with the margin and its gradient there.
    """

    owner: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    t0: torch.Tensor
    t1: torch.Tensor
    offset: torch.Tensor
    margin: torch.Tensor
    gradient: torch.Tensor

    def take(self, index: torch.Tensor) -> _Candidates:
        """The candidates at ``index`` (a mask or indices)."""
        return _Candidates(*(getattr(self, field.name)[index] for field in fields(self)))

    @staticmethod
    def concat(parts: list[_Candidates]) -> _Candidates:
        """All candidates of ``parts`` in one."""
        return _Candidates(
            *(torch.cat([getattr(part, f.name) for part in parts]) for f in fields(_Candidates))
        )


def _nearest_per_owner(owner: torch.Tensor, key: torch.Tensor, cap: int) -> torch.Tensor:
    """Indices of at most ``cap`` entries per owner: those with the smallest ``key``."""
    order = torch.argsort(key, stable=True)
    order = order[torch.argsort(owner[order], stable=True)]
    ranked = owner[order]
    rank = torch.arange(len(order)) - torch.searchsorted(ranked, ranked)
    return order[rank < cap]


def _cover(
    model: nn.Module,
    dtype: torch.dtype,
    origins: torch.Tensor,
    classes: torch.Tensor,
    max_radius: float,
    sectors: int,
    rings: int,
) -> tuple[torch.Tensor, _Candidates]:
    """Cover each point's disc with cells until no class change can hide nearer than found.

    The disc of radius ``max_radius`` is cut into ``rings`` x ``sectors`` annular sectors,
    visited ``_COVER_RINGS`` rings at a time outwards. A cell whose centre has another class
    gives an attained distance (its centre's). A cell whose centre keeps the class with a
    margin above its reach times the margin's Lipschitz constant cannot hold a change: it is
    done. So is a cell no nearer than the best distance so far. Every other cell is halved,
    until it is smaller than ``_SMALLEST_CELL`` of that distance: such cells are where the
    nearest change can lie. No region, however thin, hides between samples.

    The Lipschitz constant is estimated as ``_SAFETY`` times the steepest margin seen so far
    around the point (at the centres of all its cells); a margin flat everywhere it was
    sampled and steep only inside one cell can still fool it.

    Returns, per point, the distance of the nearest other-class centre (``inf``: none within
    ``max_radius``) and the smallest cells nearer than it (``owner`` indexing the points).
    """
    p = len(origins)
    ring = max_radius / rings
    best = torch.full((p,), torch.inf, dtype=torch.float64)
    witness = torch.full((p, 2), torch.inf, dtype=torch.float64)  # offset of the best's centre
    lipschitz = torch.zeros(p, dtype=torch.float64)
    # Cells below a few ulps of the model's dtype would only sample the same inputs again.
    ulp = 16.0 * torch.finfo(dtype).eps
    size = origins.abs().amax(dim=1)
    candidates = []
    pending = torch.arange(p)
    for first in range(0, rings, _COVER_RINGS):
        if len(pending) == 0:
            break
        cells = _Cells.grid(pending, range(first, min(first + _COVER_RINGS, rings)), ring, sectors)
        while len(cells):
            offsets = cells.offsets()
            owner = cells.owner
            margin, gradient, found = _margin_gradients(
                model, dtype, origins[owner] + offsets, classes[owner]
            )
            other = found != classes[owner]
            radius = cells.radius
            best.scatter_reduce_(0, owner[other], radius[other], "amin")
            nearest = other & (radius == best[owner])
            witness[owner[nearest]] = offsets[nearest]
            slope = _length(gradient)
            slope = torch.where(torch.isfinite(slope), slope, torch.inf)  # nothing certifiable
            # The margin falls from m here to <= 0 at the nearest witness: it is at least that
            # steep on average, even where it jumps (to NaN, say) and its gradient says nothing.
            secant = margin / _length(offsets - witness[owner])
            slope = torch.maximum(slope, torch.where(secant > 0, secant, 0.0))
            lipschitz.scatter_reduce_(0, owner, _SAFETY * slope, "amax")
            reach = cells.reach
            certified = ~other & (margin > lipschitz[owner] * reach)  # False for NaN margins
            # A point whose own logits are not finite has no margin: nothing to certify or halve.
            unknown = ~other & torch.isnan(margin)
            open_ = ~(certified | unknown | (cells.r0 >= best[owner]))
            scale = torch.where(torch.isfinite(best), best, ring)[owner]
            resolution = ulp * (size[owner] + cells.r1)
            small = reach <= torch.maximum(_SMALLEST_CELL * scale, resolution)
            last = open_ & small
            candidates.append(
                _Candidates(
                    owner[last], cells.r0[last], cells.r1[last], cells.t0[last], cells.t1[last],
                    offsets[last], margin[last], gradient[last],
                )
            )  # fmt: skip
            cells = cells.take(open_ & ~small).halves()
            cells = cells.take(_nearest_per_owner(cells.owner, cells.r0, _MAX_CELLS))
        pending = pending[best[pending] > first * ring + _COVER_RINGS * ring]
    found = _Candidates.concat(candidates)
    return best, found.take(found.r0 < best[found.owner])


def _clusters(owner: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
    """The cluster of each cell: a run of one point's cells whose angle ranges touch or overlap.

    One stretch of boundary, with its own nearest point. Returns cluster numbers, unique
    across points.
    """
    order = torch.argsort(t0, stable=True)
    order = order[torch.argsort(owner[order], stable=True)]
    # Angles are < 2π < 8, so owner·8 + angle sorts by owner, then angle, and a running
    # maximum of it never carries one point's range into the next point's.
    start, end = 8.0 * owner[order] + t0[order], 8.0 * owner[order] + t1[order]
    new = torch.ones(len(order), dtype=torch.bool)
    new[1:] = start[1:] > torch.cummax(end, dim=0).values[:-1]
    cluster = torch.empty_like(order)
    cluster[order] = torch.cumsum(new, dim=0) - 1
    return cluster


def _first_change_estimates(
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
    logits = _logits(model, samples.reshape(-1, 2), dtype)
    changed = ((_classes(logits) != own).reshape(radii.shape)) & finite
    margins = _margins(logits, own).reshape(radii.shape)
    s = radii.shape[1]
    first = torch.cat([changed, torch.ones_like(changed[:, :1])], 1).to(torch.uint8).argmax(1)
    hit = first < s
    k = first.clamp(max=s - 1)[:, None]
    before = (k - 1).clamp(min=0)
    hi = radii.gather(1, k)[:, 0]
    lo = torch.where(k[:, 0] > 0, radii.gather(1, before)[:, 0], 0.0)
    m_lo, m_hi = margins.gather(1, before)[:, 0], margins.gather(1, k)[:, 0]
    estimate = torch.where(k[:, 0] > 0, lo + (hi - lo) * m_lo / (m_lo - m_hi), hi)
    estimate = torch.where(torch.isfinite(estimate) & (estimate <= hi), estimate, hi)
    inf = torch.full_like(hi, torch.inf)
    return torch.where(hit, estimate, inf), torch.where(hit, lo, inf), torch.where(hit, hi, inf)


def _tangent_crossing(
    offset: torch.Tensor, margin: torch.Tensor, gradient: torch.Tensor, rays: torch.Tensor
) -> torch.Tensor:
    """Where each ray from the point meets the margin's tangent line at ``offset``; NaN if not.

    The line ``m + g·(x − offset) = 0`` meets ``r·u`` at ``r = (g·offset − m) / (g·u)``.
    """
    radius = ((gradient * offset).sum(-1) - margin) / (gradient * rays).sum(-1)
    return torch.where(torch.isfinite(radius) & (radius > 0), radius, torch.nan)


def _ray_radii(
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


def _refine(
    model: nn.Module,
    dtype: torch.dtype,
    origins: torch.Tensor,
    classes: torch.Tensor,
    candidates: _Candidates,
    best: torch.Tensor,
) -> torch.Tensor:
    """Each point's nearest class change, from the cells :func:`_cover` left.

    Two rays per cell: through its centre, sampled evenly across the cell and on to ``best``
    and around where the ray meets the margin's tangent line at the centre; and through where
    one Newton step from the centre crosses the boundary, sampled around there
    (:func:`_ray_radii`). Those probes meet a region however thin, or however small between
    rays. The margins' secants rank the rays; the best ray of each stack of cells (one angle
    range), for the ``_LOCATED`` best stacks of each cluster (:func:`_clusters`), is located
    exactly (:func:`_locate`). The nearest of those in each cluster, and the nearest two
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
    slope = _length(c.gradient)
    step = (c.margin / slope + _PAST * _length(c.offset))[:, None] * c.gradient / slope[:, None]
    newton = c.offset - step
    newton = torch.where(torch.isfinite(newton).all(dim=1, keepdim=True), newton, c.offset)
    rays = torch.cat([c.offset, newton]) / torch.cat([_length(c.offset), _length(newton)])[:, None]
    owner = c.owner.repeat(2)
    # The centre rays also sample evenly across the cell and on to the best distance so far:
    # a cell deep in a wide band of cells still meets the boundary.
    centre = len(c.owner)
    crossing = _tangent_crossing(c.offset, c.margin, c.gradient, rays[:centre])
    stop = torch.maximum(c.r1 + depth, best[c.owner])
    parts = [
        _first_change_estimates(
            model, dtype, origins[c.owner], classes[c.owner], rays[:centre],
            _ray_radii(crossing, c.r0, stop),
        ),
        _first_change_estimates(
            model, dtype, origins[c.owner], classes[c.owner], rays[centre:],
            _ray_radii(_length(newton)),
        ),
    ]  # fmt: skip
    estimate, lo, hi = (torch.cat(part) for part in zip(*parts, strict=True))
    # The secant estimates only rank the rays. The best ray through each stack of cells (the
    # cells of one angle range) competes; the best few stacks of each cluster are located.
    # A sharp dip of the boundary between two cells' rays is only seen by a fan beside it.
    ranges = torch.stack([c.owner.to(torch.float64), c.t0, c.t1], dim=1)
    stack = torch.unique(ranges, dim=0, return_inverse=True)[1].repeat(2)
    seed = _nearest_per_owner(stack, estimate, 1)
    seed = seed[_nearest_per_owner(cluster[seed], estimate[seed], _LOCATED)]
    seed = seed[torch.isfinite(estimate[seed])]
    exact = _locate(
        model, dtype, origins[owner[seed]], classes[owner[seed]], rays[seed], lo[seed], hi[seed]
    )
    # Fans start from the nearest located ray of each cluster and from the nearest one well
    # away from it (two cells' widths), which may sit in another dip of the boundary.
    group = cluster[seed]
    first = _nearest_per_owner(group, exact, 1)
    angle = torch.atan2(rays[seed, 1], rays[seed, 0])
    lead = torch.zeros(int(cluster.max()) + 1, dtype=torch.float64)
    lead[group[first]] = angle[first]
    apart = torch.remainder(angle - lead[group] + math.pi, 2.0 * math.pi) - math.pi
    width = (c.t1 - c.t0).repeat(2)[seed]
    other = torch.nonzero(apart.abs() > 2.0 * width).squeeze(1)
    second = other[_nearest_per_owner(group[other], exact[other], 1)]
    first = torch.cat([first, second])
    first = first[_nearest_per_owner(owner[seed[first]], exact[first], _MAX_SEEDS)]
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
        point = reach[:, None] * _unit(theta[active])
        margin, gradient, _ = _margin_gradients(model, dtype, origins[at] + point, classes[at])
        angles = theta[active, None] + half[active, None] * offsets[None, :]
        fan = _unit(angles)  # (a, m, 2)
        crossing = _tangent_crossing(point[:, None], margin[:, None], gradient[:, None], fan)
        # Rays within ±half of the nearest one cross within about ±half of its distance.
        width = reach * torch.minimum(half[active], depth[active] / reach)
        start, stop = (reach - width).clamp(min=0.0), reach + width
        radii = _ray_radii(
            crossing, start[:, None].expand(crossing.shape), stop[:, None].expand(crossing.shape)
        )
        m = _REFINE_RAYS
        estimate, lo, hi = _first_change_estimates(
            model, dtype, origins[at].repeat_interleave(m, 0), classes[at].repeat_interleave(m),
            fan.reshape(-1, 2), radii.reshape(len(active) * m, -1),
        )  # fmt: skip
        estimate, ray = estimate.reshape(-1, m).min(dim=1)
        hit = torch.isfinite(estimate)
        pick = torch.nonzero(hit).squeeze(1)
        index = pick * m + ray[pick]
        chosen = active[pick]
        located = _locate(
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
       ``radial_samples`` at first, 8 rings at a time outwards (:func:`_cover`). A sector is
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
    result = torch.empty(n, dtype=torch.float64)
    # Chunks of points keep the first cells (points x sectors x rings) in bounded memory.
    per_chunk = max(1, _CHUNK_ROWS // (n_directions * _COVER_RINGS))
    for start in range(0, n, per_chunk):
        rows = slice(start, min(start + per_chunk, n))
        origins, classes = x[rows], own[rows]
        best, candidates = _cover(
            model, dtype, origins, classes, max_radius, n_directions, radial_samples
        )
        result[rows] = _refine(model, dtype, origins, classes, candidates, best)
    # Rays may look a little past max_radius; what they find there is out of reach.
    return torch.where(result <= max_radius, result, torch.inf).numpy()


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
