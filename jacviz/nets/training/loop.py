"""Training runs: a generator of :class:`Snapshot` objects, and what it measures along the way.

:func:`train` builds the network of a :class:`~jacviz.nets.training.config.TrainConfig`, takes
minibatch steps of the loss of :mod:`~jacviz.nets.training.penalty` (cross-entropy, plus the
Jacobian penalty when λ > 0) and yields a :class:`Snapshot` now and then (step, losses,
accuracies, a copy of the weights), so a GUI can run it on a worker thread, draw progress, pause
by not pulling, and stop by closing it; it never hands out the live module.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from jacviz.math.maps import TorchMap
from jacviz.nets.training.config import TrainConfig, TrainingError, build_model, is_whole_number
from jacviz.nets.training.penalty import (
    Directions,
    FusedStep,
    directions_count,
    projection_side,
)
from jacviz.support.threads import single_threaded

__all__ = [
    "Snapshot",
    "TrainingData",
    "accuracy",
    "input_scale",
    "jacobian_frobenius",
    "load_state",
    "run",
    "train",
]


class TrainingData(Protocol):
    """What :func:`train` needs of a dataset (:class:`jacviz.nets.datasets.Dataset` has it).

    A dataset whose points are standardized (:class:`jacviz.nets.data.VectorDataset`) also has
    ``input_scale``, a ``(d,)`` array ``s`` with points ``z = (x - mean) · s``: the trainer then
    penalises and measures ``J · diag(s)``, the Jacobian with respect to the raw inputs ``x``
    (see :func:`input_scale`).
    """

    @property
    def train_points(self) -> np.ndarray:
        """``(n, d)`` training inputs."""
        ...

    @property
    def train_labels(self) -> np.ndarray:
        """``(n,)`` integer classes of the training inputs."""
        ...

    @property
    def test_points(self) -> np.ndarray:
        """``(m, d)`` held-out inputs."""
        ...

    @property
    def test_labels(self) -> np.ndarray:
        """``(m,)`` integer classes of the held-out inputs."""
        ...

    @property
    def n_classes(self) -> int:
        """Number of classes k: the network has k outputs."""
        ...


class _BatchStream:
    """Minibatch indices: each epoch a fresh permutation, batches running across epochs."""

    def __init__(self, n: int, batch: int, generator: torch.Generator):
        self._n, self._batch, self._generator = n, batch, generator
        self._order = torch.empty(0, dtype=torch.long)

    def next(self) -> torch.Tensor:
        if self._order.numel() < self._batch:
            fresh = torch.randperm(self._n, generator=self._generator)
            self._order = torch.cat([self._order, fresh])
        index, self._order = self._order[: self._batch], self._order[self._batch :]
        return index


@dataclass(frozen=True)
class Snapshot:
    """The state of a training run after ``step`` steps: what a progress view needs.

    Attributes
    ----------
    step, steps : int
        Steps done, and the run's total.
    cross_entropy : float
        Mean training cross-entropy over the batches since the previous snapshot (at step 0:
        on the whole training set).
    jacobian_term : float or None
        Mean estimated ``‖J‖²_F`` on those batches, the quantity λ multiplies; None when the
        regularizer is off.
    train_accuracy, test_accuracy : float
        On the whole training and test sets (NaN for an empty test set).
    test_frobenius : float
        Mean exact ``‖J‖_F`` of the logits over the test points (training points if there are no
        test points): the number the regularizer is meant to shrink, comparable between runs
        (with respect to the raw inputs when the data has an ``input_scale``).
    state : dict of str to torch.Tensor
        A copy of the weights (``state_dict`` of the model :func:`build_model` makes); never the
        live tensors.
    seconds : float
        Training time so far, excluding the time spent measuring snapshots.
    diverged : str or None
        Set on the last snapshot of a run that produced non-finite numbers: what happened. The
        snapshot's ``state`` is then the last finite one, from step ``step``.

    """

    step: int
    steps: int
    cross_entropy: float
    jacobian_term: float | None
    train_accuracy: float
    test_accuracy: float
    test_frobenius: float
    state: dict[str, torch.Tensor]
    seconds: float
    diverged: str | None = None

    @property
    def done(self) -> bool:
        """Whether this is the run's last snapshot."""
        return self.step >= self.steps or self.diverged is not None


def load_state(
    config: TrainConfig, state: Mapping[str, torch.Tensor], input_dim: int, n_classes: int
) -> nn.Sequential:
    """A fresh model of ``config``'s architecture holding ``state`` (e.g. a snapshot's weights).

    Raises TrainingError if the weights do not fit that architecture.
    """
    model = build_model(config, input_dim, n_classes)
    _load_weights(model, state, config, input_dim, n_classes)
    return model.eval().requires_grad_(False)


def _load_weights(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    config: TrainConfig,
    input_dim: int,
    n_classes: int,
) -> None:
    """Load ``state`` into ``model``; a TrainingError says so when it does not fit."""
    try:
        model.load_state_dict(dict(state))
    except (RuntimeError, TypeError, ValueError, AttributeError) as error:
        raise TrainingError(
            f"the weights do not fit a {input_dim}-{'-'.join(map(str, config.hidden))}-"
            f"{n_classes} network: {str(error).splitlines()[0]}"
        ) from None


def _tensors(data: TrainingData) -> tuple[torch.Tensor, ...]:
    arrays = (data.train_points, data.train_labels, data.test_points, data.test_labels)
    points, labels, test_points, test_labels = (np.asarray(a) for a in arrays)
    if points.ndim != 2 or points.shape[0] < 2 or points.shape[1] < 1:
        raise TrainingError(
            f"need at least 2 training points, got an array of shape {points.shape}"
        )
    if not (np.isfinite(points).all() and np.isfinite(test_points).all()):
        raise TrainingError("the dataset has non-finite coordinates")
    k = int(data.n_classes)
    for name, values in (("training", labels), ("test", test_labels)):
        if values.size and (values.min() < 0 or values.max() >= k):
            raise TrainingError(f"{name} labels must be classes 0..{k - 1}")
    if k < 2 or np.unique(labels).size < 2:
        raise TrainingError("the training set needs points of at least two classes")
    return (
        torch.tensor(points, dtype=torch.float32),
        torch.tensor(labels, dtype=torch.long),
        torch.tensor(test_points, dtype=torch.float32).reshape(-1, points.shape[1]),
        torch.tensor(test_labels, dtype=torch.long),
    )


def input_scale(data: object) -> np.ndarray | None:
    """``data.input_scale`` as a float64 ``(d,)`` array, or None for data fed raw (the 2D sets)."""
    scale = getattr(data, "input_scale", None)
    return None if scale is None else np.asarray(scale, dtype=np.float64)


def accuracy(model: nn.Module, points: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``points`` whose argmax logit is the label (NaN if there are none)."""
    if points.shape[0] == 0:
        return math.nan
    with torch.no_grad():
        predicted = model(points.to(next(model.parameters()).dtype)).argmax(dim=1)
    return float((predicted == labels).double().mean())


def jacobian_frobenius(
    model: nn.Module, points: np.ndarray, scale: np.ndarray | None = None
) -> np.ndarray:
    """Exact ``‖J‖_F`` of the logits at each point (float64), via the app's Jacobian code.

    With ``scale`` (``(d,)``), of ``J · diag(scale)``: for a model of standardized inputs, the
    norm with respect to the raw inputs (see :class:`TrainingData`).
    """
    points = np.asarray(points, dtype=np.float64)
    n_out = int(
        next(m for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)).out_features
    )
    network = TorchMap(model, "classifier", points.shape[1], n_out)
    _, jacobian = network.evaluate_with_jacobian(points)
    if scale is not None:
        jacobian = jacobian * np.asarray(scale, dtype=np.float64)
    return np.sqrt(np.einsum("nij,nij->n", jacobian, jacobian))


def _make_optimizer(config: TrainConfig, model: nn.Sequential) -> torch.optim.Optimizer:
    # One parameter group (weight decay is added to the gradients by the fused step): each
    # group costs a kernel launch and Python overhead per step.
    parameters = list(model.parameters())
    if config.optimizer == "adam":
        # The fused CPU kernel: a third less optimizer overhead than foreach on these tiny nets.
        return torch.optim.Adam(parameters, lr=config.learning_rate, fused=True)
    return torch.optim.SGD(parameters, lr=config.learning_rate)


def train(
    data: TrainingData,
    config: TrainConfig,
    snapshot_every: int = 50,
    initial_state: Mapping[str, torch.Tensor] | None = None,
    first_step: int = 0,
) -> Iterator[Snapshot]:
    """Train a classifier on ``data``, yielding a :class:`Snapshot` now and then.

    Snapshots come at step 0, every ``snapshot_every`` steps and at the end.

    The run is fully determined by ``config`` and ``data`` (and ``initial_state`` if given):
    when snapshots are taken does not change the weights. Stop early by closing the generator
    (or just not pulling from it). A step that produces a non-finite loss or weights ends the
    run with a last snapshot carrying ``diverged`` and the last finite weights.

    Parameters
    ----------
    data : TrainingData
        Points and labels, e.g. a :class:`jacviz.nets.datasets.Dataset`.
    config : TrainConfig
        Model, optimizer and regularizer.
    snapshot_every : int
        Steps between snapshots (≥ 1). A snapshot costs a forward pass over the data and a
        Jacobian over the test points, so very small values slow training down.
    initial_state : mapping, optional
        Start from these weights (a snapshot's ``state``) instead of the seeded initialization.
    first_step : int
        Go on with a run that stopped at this step (with ``initial_state`` its weights, e.g.
        from a saved session): snapshots count from here and the run ends at
        ``config.steps``. The optimizer starts afresh (its moments are not part of a
        snapshot), so the steps that follow differ from those of an uninterrupted run.

    Raises
    ------
    TrainingError
        If the data cannot be trained on (fewer than 2 points or classes, labels out of range,
        non-finite coordinates), ``snapshot_every`` < 1 or ``first_step`` outside
        0..``config.steps``; raised on the first ``next()``.

    """
    if not is_whole_number(snapshot_every) or snapshot_every < 1:
        raise TrainingError(f"snapshot interval must be a whole number ≥ 1, got {snapshot_every!r}")
    if not is_whole_number(first_step) or not 0 <= first_step <= config.steps:
        raise TrainingError(
            f"the first step must be a whole number 0..{config.steps}, got {first_step!r}"
        )
    points, labels, test_points, test_labels = _tensors(data)
    input_dim, n_classes = points.shape[1], int(data.n_classes)
    model = build_model(config, input_dim, n_classes)
    if initial_state is not None:
        _load_weights(model, initial_state, config, input_dim, n_classes)
    model.train()
    batch = min(config.batch_size, points.shape[0])
    generator = torch.Generator().manual_seed(config.seed)
    projections = torch.Generator().manual_seed(config.seed + 1)
    scale = input_scale(data)
    if scale is not None and scale.shape != (input_dim,):
        raise TrainingError(f"input_scale must have {input_dim} entries, got {scale.shape}")
    k = directions_count(config, input_dim, n_classes)
    step_fn = FusedStep(
        model,
        config.activation,
        points,
        labels,
        batch,
        k,
        config.weight_decay,
        side=projection_side(input_dim, n_classes),
        input_scale=None if scale is None else torch.from_numpy(scale),
    )
    directions = Directions(config, step_fn.direction_rows, batch, projections) if k else None
    stream = _BatchStream(points.shape[0], batch, generator)
    optimizer = _make_optimizer(config, model)
    measure_points = test_points if test_points.shape[0] else points

    def snapshot(
        step: int, ce: float, term: float | None, seconds: float, diverged: str | None = None
    ) -> Snapshot:
        model.eval()
        # One torch thread, as the steps: on two, these small ops ran 10-25x slower under load.
        with single_threaded():
            measured = jacobian_frobenius(model, measure_points.double().numpy(), scale)
            result = Snapshot(
                step=step,
                steps=config.steps,
                cross_entropy=ce,
                jacobian_term=term,
                train_accuracy=accuracy(model, points, labels),
                test_accuracy=accuracy(model, test_points, test_labels),
                test_frobenius=float(measured.mean()),
                state={name: t.detach().clone() for name, t in model.state_dict().items()},
                seconds=seconds,
                diverged=diverged,
            )
        model.train()
        return result

    with torch.no_grad():
        initial_ce = float(torch.nn.functional.cross_entropy(model(points), labels))
    last_good = snapshot(first_step, initial_ce, None, 0.0)
    yield last_good
    elapsed = 0.0
    step = first_step
    while step < config.steps:
        chunk = min(snapshot_every, config.steps - step)
        started = time.perf_counter()
        ce_sum = torch.zeros((), dtype=torch.float64)
        term_sum = torch.zeros((), dtype=torch.float64)
        with torch.no_grad(), single_threaded():
            for _ in range(chunk):
                if directions is not None:
                    directions.draw()
                ce, term = step_fn(stream.next(), config.jr_lambda)
                optimizer.step()
                ce_sum += ce
                if term is not None:
                    term_sum += term  # a batch sum: divided by the batch size below
        elapsed += time.perf_counter() - started
        step += chunk
        mean_ce = float(ce_sum) / chunk
        mean_term = float(term_sum) / (chunk * batch) if k else None
        finite = math.isfinite(mean_ce) and (mean_term is None or math.isfinite(mean_term))
        finite = finite and all(bool(torch.isfinite(p).all()) for p in model.parameters())
        if not finite:
            model.load_state_dict(last_good.state)
            yield dataclasses.replace(
                last_good,
                seconds=elapsed,
                diverged=(
                    f"training diverged between steps {last_good.step} and {step} (the loss or "
                    "the weights became infinite or NaN); kept the weights of step "
                    f"{last_good.step}. Try a smaller learning rate or λ."
                ),
            )
            return
        last_good = snapshot(step, mean_ce, mean_term, elapsed)
        yield last_good


def run(data: TrainingData, config: TrainConfig, snapshot_every: int = 200) -> Snapshot:
    """Train to the end (or divergence) and return the last snapshot."""
    last = None
    for last in train(data, config, snapshot_every=snapshot_every):  # noqa: B007
        pass
    assert last is not None
    return last
