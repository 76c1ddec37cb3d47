"""What the Compare tab computes: two runs, λ = 0 and λ > 0, and everything measured on them.

Hoffman, Roberts & Yaida (2019) report that penalising ‖J‖²_F gives larger decision cells and
better robustness to PGD. To let a user see that on 2D data, :func:`comparison_steps` trains
the plain and the regularized run of one configuration side by side (same seed, so same initial
weights and batches: only the regularizer differs) and then measures both the same way: decision
regions and ‖J‖_F over the plane, distances from the test points to the decision boundary,
accuracy under FGSM and PGD (L2 and L∞) over a sweep of attack radii, and, for the regularized
model, the Jacobians at the test points that the random-projection estimator view needs.

Everything here is numpy and torch (no Qt), so it runs on a worker thread and in plain tests.
It is a generator that yields :class:`Progress` between pieces of work and a :class:`Comparison`
last, so the caller can draw progress and stop between any two pieces by closing it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from torch import nn

from jacviz.math.contour import zero_contour
from jacviz.math.grid import Domain, sample_points
from jacviz.math.maps import TorchMap
from jacviz.nets.datasets import Dataset
from jacviz.nets.robustness import ATTACKS, NORMS, boundary_distance, robust_accuracy
from jacviz.nets.training import (
    Snapshot,
    TrainConfig,
    load_state,
    projection_estimates,
    train,
)
from jacviz.nets.views import DecisionRegions
from jacviz.support.threads import single_threaded

__all__ = [
    "EPSILON_COUNT",
    "REGION_COLUMNS",
    "Comparison",
    "EstimatorSpread",
    "ModelResult",
    "Progress",
    "attack_radii",
    "comparison_steps",
    "data_scale",
    "estimator_spread",
    "evaluation_set",
    "norm_name",
]

REGION_COLUMNS: int = 240
"""Pixels across the decision-region and ‖J‖_F images (rows follow the domain's aspect)."""

EPSILON_COUNT: int = 9
"""Attack radii in the robustness sweep, 0 included: an odd count has a middle one for the table."""

ATTACK_SEED: int = 0
"""Seed of PGD's starts: the same for both models, so they face the same attack."""

SNAPSHOTS_PER_RUN: int = 50
"""Progress reports (and stop checks) per training run."""

TRAINING_SHARE: float = 0.65
"""Share of the progress bar given to training; the measurements take the rest (about a third
of the time for the lab's default moons and 32-32 MLP, most of it PGD from 12 starts and the
boundary search)."""

_NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Progress:
    """How far a comparison has got.

    Attributes
    ----------
    fraction : float
        Work done, in [0, 1].
    message : str
        What is being done, for a status line.

    """

    fraction: float
    message: str


@dataclass(frozen=True)
class ModelResult:
    """One trained model of a comparison and what was measured on it.

    Attributes
    ----------
    config : TrainConfig
        The run's configuration.
    snapshot : Snapshot
        The run's last snapshot: its test accuracy and mean test ‖J‖_F are the table's, and when
        the run diverged its ``diverged`` message says so and its weights are the last finite ones.
    model : torch.nn.Module
        The snapshot's weights in a fresh module (eval mode, no gradients), for clicks on the view.
    regions : DecisionRegions
        ``(rows, columns)`` argmax class and confidence over the comparison's domain.
    frobenius : numpy.ndarray
        ``(rows, columns)`` exact ‖J‖_F of the logits at the same pixels.
    boundary_segments : numpy.ndarray
        ``(K, 2, 2)`` segments of the decision boundaries, to draw over the ‖J‖_F image.
    test_jacobians : numpy.ndarray
        ``(N, k, 2)`` Jacobians of the logits at the evaluation points.
    boundary : numpy.ndarray
        ``(N,)`` L2 distance from each evaluation point to the nearest other-class input,
        ``inf`` where none lies within the comparison's ``max_radius``.
    curves : dict
        ``{(attack, norm): {eps: accuracy}}`` from :func:`~jacviz.nets.robustness.robust_accuracy`
        for every attack in ``ATTACKS`` and norm in ``NORMS``: upper bounds on the true
        accuracy under attack (every error counted was found; an attack can miss some).

    """

    config: TrainConfig
    snapshot: Snapshot
    model: nn.Module
    regions: DecisionRegions
    frobenius: np.ndarray
    boundary_segments: np.ndarray
    test_jacobians: np.ndarray
    boundary: np.ndarray
    curves: dict[tuple[str, str], dict[float, float]]

    @property
    def diverged(self) -> str | None:
        """The divergence message of the run, or None if it trained to the end."""
        return self.snapshot.diverged

    def mean_boundary_distance(self, max_radius: float) -> tuple[float, int]:
        """Mean distance to the boundary, with unreached points counted at ``max_radius``.

        Returns the mean and how many points had no boundary within ``max_radius``: when that
        count is positive the mean is a lower bound. Counting those points at ``max_radius``
        (rather than leaving them out) keeps the most robust points in the average, so two
        models are compared on the same points.
        """
        if not self.boundary.size:
            return math.nan, 0
        unreached = ~np.isfinite(self.boundary)
        return float(np.where(unreached, max_radius, self.boundary).mean()), int(unreached.sum())


@dataclass(frozen=True)
class Comparison:
    """A finished comparison: both models, measured on the same points and radii.

    Attributes
    ----------
    dataset : Dataset
        The data both models were trained on.
    domain : Domain
        The rectangle the images cover (the dataset's).
    scale : float
        The data scale the attack radii are relative to (:func:`data_scale`).
    epsilons : tuple of float
        Attack radii of the robustness sweep, ascending, starting at 0.
    table_epsilon : float
        The middle radius of the sweep, the one the table reports.
    max_radius : float
        How far the boundary search looked: the domain's diagonal, so every boundary in view is
        within reach of every point in view.
    evaluation_points, evaluation_labels : numpy.ndarray
        The points everything is measured on: the test split, or the training points when
        there is no test split (as the trainer's snapshots do).
    on_test_points : bool
        Whether those are held-out points.
    plain, regularized : ModelResult
        λ = 0 and λ > 0.
    seconds : float
        Wall time of the whole comparison.

    """

    dataset: Dataset
    domain: Domain
    scale: float
    epsilons: tuple[float, ...]
    table_epsilon: float
    max_radius: float
    evaluation_points: np.ndarray
    evaluation_labels: np.ndarray
    on_test_points: bool
    plain: ModelResult
    regularized: ModelResult
    seconds: float

    @property
    def models(self) -> tuple[ModelResult, ModelResult]:
        """``(plain, regularized)``, the order of every side-by-side view."""
        return self.plain, self.regularized


def data_scale(points: np.ndarray) -> float:
    """Root-mean-square distance of ``points`` from their centroid (1 for fewer than 2 points).

    An attack radius only means something relative to how spread out the data are: the sweep
    runs over fractions of this length, so it suits moons (about 1) and spirals (about 1.2)
    alike.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 2:
        return 1.0
    spread = float(np.sqrt(np.mean(np.sum((points - points.mean(axis=0)) ** 2, axis=1))))
    return spread if spread > 0 else 1.0


def attack_radii(scale: float, count: int = EPSILON_COUNT) -> tuple[float, ...]:
    """``count`` evenly spaced radii from 0 to about ``scale / 2``, in round steps.

    The step is the 1, 2, 2.5 or 5 times a power of ten nearest (in ratio) to
    ``scale / 2 / (count - 1)``, so axis ticks and the table read ``ε = 0.2`` rather than
    ``ε = 0.2037``.
    """
    raw = 0.5 * scale / (count - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = min((nice * power for nice in _NICE_STEPS), key=lambda s: abs(math.log(s / raw)))
    return tuple(round(i * step, 12) for i in range(count))


def evaluation_set(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The points and labels measurements use: the test split, else the training points.

    The trainer measures ``test_frobenius`` on the same fallback, so the table's columns agree.
    """
    if len(dataset.test_points):
        return np.array(dataset.test_points), np.array(dataset.test_labels)
    return np.array(dataset.train_points), np.array(dataset.train_labels)


def _image_size(domain: Domain) -> tuple[int, int]:
    """``(rows, columns)`` of the images: :data:`REGION_COLUMNS` across, square pixels."""
    rows = max(2, round(REGION_COLUMNS * domain.height / domain.width))
    return rows, REGION_COLUMNS


def _boundary_segments(logits: np.ndarray, domain: Domain) -> np.ndarray:
    """Segments of every class's region boundary, from ``(rows, columns, k)`` logits.

    ``z_c − max_{j≠c} z_j`` is positive exactly where class ``c`` wins, so its zero contour is
    the edge of class ``c``'s region; together they are all decision boundaries (each drawn
    from both sides, which looks the same).
    """
    segments = []
    k = logits.shape[-1]
    for c in range(k):
        others = np.delete(logits, c, axis=-1).max(axis=-1)
        segments.append(zero_contour(logits[..., c] - others, domain))
        if k == 2:  # the other class's edge is the same curve
            break
    return np.concatenate(segments) if segments else np.zeros((0, 2, 2))


def _interleaved_training(
    dataset: Dataset, configs: tuple[TrainConfig, TrainConfig]
) -> Iterator[tuple[int, Snapshot]]:
    """Snapshots of both runs, alternating, as ``(which run, snapshot)``.

    Alternating (rather than one run, then the other) keeps both runs' progress on screen and
    a stop equally prompt in either; the runs do not interact, so each is exactly what
    :func:`~jacviz.nets.training.train` alone would give.
    """
    every = max(1, configs[0].steps // SNAPSHOTS_PER_RUN)
    runs = [train(dataset, config, snapshot_every=every) for config in configs]
    active = [0, 1]
    try:
        while active:
            for which in list(active):
                snapshot = next(runs[which], None)
                if snapshot is None:
                    active.remove(which)
                else:
                    yield which, snapshot
    finally:
        for run in runs:
            run.close()


def _measure_grid(
    model: nn.Module, domain: Domain, k: int
) -> tuple[DecisionRegions, np.ndarray, np.ndarray]:
    """Regions, ‖J‖_F and boundary segments over ``domain``, from one pass over the pixels."""
    rows, columns = _image_size(domain)
    logits, jacobians = TorchMap(model, "classifier", 2, k).evaluate_with_jacobian(
        sample_points(domain, columns, rows)
    )
    logits = logits.reshape(rows, columns, k)
    frobenius = np.sqrt(np.einsum("nij,nij->n", jacobians, jacobians)).reshape(rows, columns)
    return DecisionRegions.from_logits(logits), frobenius, _boundary_segments(logits, domain)


def comparison_steps(dataset: Dataset, config: TrainConfig) -> Iterator[Progress | Comparison]:
    """Train and measure the λ = 0 and λ > 0 runs of ``config``, yielding progress, then results.

    The regularized run is ``config`` itself and the plain run is ``config`` with
    ``jr_lambda = 0``: same seed, so same initial weights and minibatches. A run that diverges
    stops with its last finite weights (its snapshot's ``diverged`` says so) and is measured
    like the other, so the comparison always completes.

    Parameters
    ----------
    dataset : Dataset
        The data both models are trained on; measurements use its test split (or its training
        points when it has none).
    config : TrainConfig
        The regularized run's configuration, ``jr_lambda > 0``.

    Yields
    ------
    Progress or Comparison
        :class:`Progress` after each piece of work, the :class:`Comparison` last. Closing the
        generator stops the work at the next piece.

    Raises
    ------
    ValueError
        If ``config.jr_lambda`` is 0 (there would be nothing to compare).
    jacviz.nets.training.TrainingError
        If the dataset cannot be trained on (raised on the first ``next()``).

    """
    if not config.regularized:
        raise ValueError("the comparison needs λ > 0 for its regularized run")
    started = time.perf_counter()
    configs = (config.replace(jr_lambda=0.0), config)
    names = ("λ = 0", f"λ = {config.jr_lambda:g}")
    k = dataset.n_classes
    domain = dataset.domain
    points, labels = evaluation_set(dataset)
    scale = data_scale(dataset.points)
    epsilons = attack_radii(scale)
    max_radius = math.hypot(domain.width, domain.height)

    # Training: both runs, alternating.
    last: list[Snapshot | None] = [None, None]
    total_steps = 2 * config.steps
    for which, snapshot in _interleaved_training(dataset, configs):
        last[which] = snapshot
        done = sum(s.steps if s.done else s.step for s in last if s is not None)
        yield Progress(
            TRAINING_SHARE * done / total_steps,
            f"training {names[0]} (step {_step(last[0])}) and {names[1]} (step {_step(last[1])})",
        )
    assert last[0] is not None and last[1] is not None

    # Measurements: per model, the grid, the boundary search, then the attacks.
    pieces_per_model = 2 + len(ATTACKS) * len(NORMS)
    total_pieces = 2 * pieces_per_model
    finished = 0

    def report(message: str) -> Progress:
        fraction = TRAINING_SHARE + (1 - TRAINING_SHARE) * finished / total_pieces
        return Progress(min(fraction, 1.0), message)

    results = []
    for name, run_config, snapshot in zip(names, configs, last, strict=True):
        model = load_state(run_config, snapshot.state, 2, k)
        # One torch thread, as training and the attacks use: two contend badly on a busy core.
        with single_threaded():
            regions, frobenius, segments = _measure_grid(model, domain, k)
            _, test_jacobians = TorchMap(model, "classifier", 2, k).evaluate_with_jacobian(points)
        finished += 1
        yield report(f"{name}: searching for the decision boundary")
        # One search for all points: splitting it to stop sooner measured 2.5x slower.
        boundary = boundary_distance(model, points, max_radius)
        finished += 1
        yield report(f"{name}: attacking")
        curves = {}
        for attack in ATTACKS:
            for norm in NORMS:
                # The core's default steps and restarts, as `jacviz train` uses.
                curves[attack, norm] = robust_accuracy(
                    model, points, labels, epsilons, attack, norm, seed=ATTACK_SEED
                )
                finished += 1
                yield report(f"{name}: {attack.upper()} {norm_name(norm)} attacks")
        results.append(
            ModelResult(
                config=run_config,
                snapshot=snapshot,
                model=model,
                regions=regions,
                frobenius=frobenius,
                boundary_segments=segments,
                test_jacobians=test_jacobians,
                boundary=boundary,
                curves=curves,
            )
        )
    yield Comparison(
        dataset=dataset,
        domain=domain,
        scale=scale,
        epsilons=epsilons,
        table_epsilon=epsilons[len(epsilons) // 2],
        max_radius=max_radius,
        evaluation_points=points,
        evaluation_labels=labels,
        on_test_points=bool(len(dataset.test_points)),
        plain=results[0],
        regularized=results[1],
        seconds=time.perf_counter() - started,
    )


def _step(snapshot: Snapshot | None) -> str:
    return "0" if snapshot is None else str(snapshot.step)


def norm_name(norm: str) -> str:
    """``"L2"`` or ``"L∞"``: how the views name a norm of :data:`~jacviz.nets.robustness.NORMS`."""
    return "L∞" if norm == "inf" else f"L{norm}"


@dataclass(frozen=True)
class EstimatorSpread:
    """How random-projection estimates of ‖J‖²_F spread around the exact values.

    Attributes
    ----------
    n_proj : int
        Projections per estimate.
    points : int
        Number of Jacobians (points) estimated.
    relative_errors : numpy.ndarray
        ``(draws · points,)`` values of ``estimate / exact − 1`` (points with ``J = 0``, where
        every estimate is exact, left out).
    mean, std : float
        Their mean (about 0: the estimator is unbiased) and standard deviation.
    predicted_std : float
        What the standard deviation should be for inputs in 2D (see :func:`estimator_spread`).

    """

    n_proj: int
    points: int
    relative_errors: np.ndarray
    mean: float
    std: float
    predicted_std: float


def estimator_spread(
    jacobians: np.ndarray, n_proj: int, draws: int, seed: int = 0
) -> EstimatorSpread:
    """Relative errors of :func:`~jacviz.nets.training.projection_estimates` at ``jacobians``.

    For a 2-input Jacobian with ``JᵀJ`` eigenvalues ``a ≥ b``, one projection ``u`` uniform on
    the circle (scaled by √2) gives ``(a + b) + (a − b) cos 2θ``: a relative error of
    ``c cos 2θ`` with ``c = (a − b) / (a + b)``, variance ``c² / 2``. Averaging ``n_proj``
    independent projections divides the variance by ``n_proj``, so over the points the errors
    pool to a standard deviation of ``sqrt(mean(c²) / (2 n_proj))``: the ``1/√n_proj`` of
    Hoffman et al., times how anisotropic the Jacobians are (``c = 1`` for rank one, as the
    logits of a 2-class network nearly are).

    Parameters
    ----------
    jacobians : numpy.ndarray
        ``(N, k, 2)`` Jacobians.
    n_proj : int
        Projections per estimate.
    draws : int
        Estimates per Jacobian.
    seed : int
        Seed of the projections.

    """
    jacobians = np.asarray(jacobians, dtype=np.float64)
    exact, estimates = projection_estimates(jacobians, n_proj, draws, seed)
    nonzero = exact > 0
    errors = (estimates[:, nonzero] / exact[nonzero] - 1.0).ravel()
    eigenvalues = np.linalg.eigvalsh(np.einsum("nki,nkj->nij", jacobians, jacobians))[nonzero]
    anisotropy = (eigenvalues[:, 1] - eigenvalues[:, 0]) / exact[nonzero]
    if not errors.size:
        return EstimatorSpread(n_proj, len(jacobians), errors, 0.0, 0.0, 0.0)
    return EstimatorSpread(
        n_proj=n_proj,
        points=len(jacobians),
        relative_errors=errors,
        mean=float(errors.mean()),
        std=float(errors.std()),
        predicted_std=float(np.sqrt(np.mean(anisotropy**2) / (2 * n_proj))),
    )
