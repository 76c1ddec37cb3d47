"""The models the plane through three inputs compares: λ = 0 and λ > 0, trained alike.

:func:`training_steps` trains one or more configurations that differ only in λ (same seed, so
the same initial weights, minibatches and projections: only the regularizer differs, as in the
Compare tab's :func:`~jacviz.nets.comparison.comparison_steps`) on data of any dimension, one
run after the other, yielding :class:`~jacviz.nets.comparison.Progress` between pieces and the
models last, each as a :class:`PlaneModel` on raw inputs
(:func:`~jacviz.nets.trained.raw_model`). No Qt: the page runs it on a worker and closes the
generator to stop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from torch import nn

from jacviz.nets.comparison import Progress
from jacviz.nets.data import VectorDataset
from jacviz.nets.trained import raw_model
from jacviz.nets.training import TrainConfig, train

__all__ = [
    "MAX_SNAPSHOT_EVERY",
    "PLANE_CONFIG",
    "SNAPSHOTS_PER_RUN",
    "PlaneModel",
    "paired_configs",
    "plane_model",
    "training_steps",
]

PLANE_CONFIG = TrainConfig(
    hidden=(64, 64),
    activation="tanh",
    optimizer="adam",
    learning_rate=0.003,
    steps=2000,
    jr_lambda=0.01,
    estimator="random",
)
"""The regularized run the plane's page and ``jacviz render --view plane`` train by default:
what ``jacviz train --dataset digits --hidden 64,64 --learning-rate 0.003 --jr-lambda 0.01
--estimator random`` trains, the README's digits numbers."""

SNAPSHOTS_PER_RUN: int = 5
"""Progress reports (and chances to stop) per run: each measures the model on the test points,
about 10 % of a 2000-step digits run at 5 (20 % at 10, measured)."""

MAX_SNAPSHOT_EVERY: int = 500
"""Most steps between two snapshots, whatever the run's length: a stop waits for at most this
many steps (a fraction of a second for the digits' 64-64 net)."""


@dataclass(frozen=True, eq=False)
class PlaneModel:
    """A trained classifier as the plane shows it.

    Attributes
    ----------
    label : str
        ``"λ = 0"``, ``"λ = 0.01"``, or a caller's name (a sweep's run).
    model : nn.Module
        The network on raw inputs (float32, eval mode, no gradients).
    config : TrainConfig or None
        How it was trained, when known.
    test_accuracy : float
        On the held-out points (NaN when unknown).
    diverged : str or None
        What happened when training diverged (the weights are then the last finite ones).

    """

    label: str
    model: nn.Module
    config: TrainConfig | None = None
    test_accuracy: float = float("nan")
    diverged: str | None = None


def plane_model(label: str, model: nn.Module, config: TrainConfig | None = None) -> PlaneModel:
    """A model trained elsewhere (a sweep's run, say), ready to show on the plane."""
    return PlaneModel(label=label, model=model.eval().requires_grad_(False), config=config)


def paired_configs(config: TrainConfig) -> tuple[TrainConfig, ...]:
    """``config`` with λ = 0, and ``config`` itself when its λ > 0: what the page compares."""
    plain = config.replace(jr_lambda=0.0)
    return (plain, config) if config.regularized else (plain,)


def training_steps(
    data: VectorDataset, configs: Sequence[TrainConfig]
) -> Iterator[Progress | tuple[PlaneModel, ...]]:
    """Train each of ``configs`` on ``data`` in turn; yield progress, then the models.

    Closing the generator stops the work at the next snapshot. A run that diverges keeps its
    last finite weights, and its model says so.

    Raises
    ------
    jacviz.nets.training.TrainingError
        If the data cannot be trained on (raised on the first ``next()``).

    """
    total = sum(config.steps for config in configs) or 1
    done = 0
    models = []
    for config in configs:
        label = f"λ = {config.jr_lambda:g}"
        every = max(1, min(config.steps // SNAPSHOTS_PER_RUN, MAX_SNAPSHOT_EVERY))
        last = None
        for last in train(data, config, snapshot_every=every):
            yield Progress((done + last.step) / total, f"training {label}: step {last.step}")
        assert last is not None
        done += config.steps
        models.append(
            PlaneModel(
                label=label,
                model=raw_model(data, config, last.state),
                config=config,
                test_accuracy=last.test_accuracy,
                diverged=last.diverged,
            )
        )
    yield tuple(models)
