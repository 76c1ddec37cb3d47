"""The Compare tab's state as plain values, and the readings computed from it.

The Compare tab trains the λ = 0 and λ > 0 runs of one configuration
(:func:`~jacviz.nets.comparison.comparison_steps`) and shows them side by side. What it shows
is one :class:`CompareState`: the finished comparison, the ε-ball the user placed (centre and
radius) and the number of projections the estimator view uses, with the two readings made from
them, :class:`BallReading` (:func:`read_ball`) and
:class:`~jacviz.nets.comparison.EstimatorSpread`. The lab's compare controller holds it and
computes the readings off the GUI thread; the words its status line uses are made here too.
No Qt, so all of it is tested without a window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jacviz.math.maps import TorchMap
from jacviz.math.probe import format_number
from jacviz.nets.comparison import Comparison, EstimatorSpread, estimator_spread
from jacviz.nets.robustness import flip_fraction, linearized_flip_fraction
from jacviz.nets.training import TrainConfig
from jacviz.support.threads import single_threaded

__all__ = [
    "BALL_SAMPLES",
    "DEFAULT_EPSILON",
    "ESTIMATOR_DRAWS",
    "BallReading",
    "CompareState",
    "divergences",
    "lambda_name",
    "log_ticks",
    "percent",
    "read_ball",
    "read_estimator",
    "summary",
]

BALL_SAMPLES: int = 2048
"""Sample points of the ε-ball for the flip fractions (the core's default)."""

ESTIMATOR_DRAWS: int = 200
"""Independent random-projection estimates per test point in the estimator view."""

DEFAULT_EPSILON: float = 0.2
"""Radius of the ε-ball before the first comparison sets it to the table's radius."""


@dataclass(frozen=True)
class BallReading:
    """What the ε-ball panel shows: per model, the true and the first-order flip fraction.

    Attributes
    ----------
    centre : numpy.ndarray
        ``(2,)`` the clicked point.
    eps : float
        Radius of the ball.
    flips : tuple of (float, float)
        For the λ = 0 and the λ > 0 model: ``(flip_fraction, linearized_flip_fraction)``.

    """

    centre: np.ndarray
    eps: float
    flips: tuple[tuple[float, float], ...]


@dataclass(frozen=True, eq=False)
class CompareState:
    """What the Compare tab shows; the controller makes new ones, never edits.

    Attributes
    ----------
    comparison : Comparison or None
        The comparison on screen, None before the first one finishes.
    centre : numpy.ndarray or None
        ``(2,)`` centre of the ε-ball, None before a point is picked.
    eps : float
        Radius of the ε-ball.
    n_proj : int
        Projections per estimate in the estimator view.
    ball : BallReading or None
        The reading of the current ball, None until it is computed (or without a ball).
    estimator : EstimatorSpread or None
        The estimator view's reading for ``n_proj``, None until it is computed.

    """

    comparison: Comparison | None = None
    centre: np.ndarray | None = None
    eps: float = DEFAULT_EPSILON
    n_proj: int = 1
    ball: BallReading | None = None
    estimator: EstimatorSpread | None = None


def read_ball(
    comparison: Comparison,
    centre: np.ndarray,
    eps: float,
    cancelled: Callable[[], bool] = lambda: False,
) -> BallReading | None:
    """The flip fractions of both models in the ball of radius ``eps`` around ``centre``.

    Work for a worker thread: ``cancelled`` is checked before each model, and None returned
    once it is True (a newer ball was asked for).
    """
    k = comparison.dataset.n_classes
    flips = []
    with single_threaded():
        for result in comparison.models:
            if cancelled():
                return None
            network = TorchMap(result.model, "classifier", 2, k)
            logits, jacobian = network.evaluate_with_jacobian(centre[np.newaxis])
            flips.append(
                (
                    flip_fraction(result.model, centre, eps, BALL_SAMPLES),
                    linearized_flip_fraction(logits[0], jacobian[0], eps, BALL_SAMPLES),
                )
            )
    return BallReading(centre.copy(), eps, tuple(flips))


def read_estimator(comparison: Comparison, n_proj: int) -> EstimatorSpread:
    """The estimator view's reading: ``n_proj``-projection estimates of ‖J‖²_F.

    At the regularized model's evaluation points, :data:`ESTIMATOR_DRAWS` per point.
    """
    return estimator_spread(comparison.regularized.test_jacobians, n_proj, ESTIMATOR_DRAWS)


def percent(value: float) -> str:
    """A share as the Compare tab shows it: ``"93.3 %"``, or ``"–"`` for NaN."""
    return "–" if not np.isfinite(value) else f"{100 * value:.1f} %"


def lambda_name(config: TrainConfig) -> str:
    """How the Compare tab names a run: ``"λ = 0.1"``."""
    return f"λ = {config.jr_lambda:g}"


def divergences(comparison: Comparison) -> list[str]:
    """One line per run that diverged: its name and what happened."""
    return [f"{lambda_name(m.config)}: {m.diverged}" for m in comparison.models if m.diverged]


def summary(comparison: Comparison) -> str:
    """The status line of a finished comparison: time, accuracies and ‖J‖_F of both runs."""
    plain, regularized = comparison.plain.snapshot, comparison.regularized.snapshot
    text = (
        f"Compared in {comparison.seconds:.1f} s: test accuracy "
        f"{percent(plain.test_accuracy)} vs {percent(regularized.test_accuracy)}, mean ‖J‖F "
        f"{format_number(plain.test_frobenius, 3)} vs "
        f"{format_number(regularized.test_frobenius, 3)}."
    )
    if divergences(comparison):
        text = "A run diverged; its last good model is compared. " + text
    return text


def log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Ticks for a log10 colour bar from ``low`` to ``high``, labelled with plain values.

    1, 2 and 5 times powers of ten over up to two decades, 1 and 3 up to four, the powers
    alone beyond: the bar is short, and its labels must not run into each other.
    """
    first, last = math.floor(low), math.ceil(high)
    span = high - low
    mantissas = (1.0, 2.0, 5.0) if span <= 2 else (1.0, 3.0) if span <= 4 else (1.0,)
    values = [m * 10.0**e for e in range(first, last + 1) for m in mantissas]
    return [(math.log10(v), format_number(v, 3)) for v in values if low <= math.log10(v) <= high]
