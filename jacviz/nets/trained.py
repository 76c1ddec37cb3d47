"""A finished training run as the user gets it: the model on raw inputs, and its measurements.

``jacviz train`` and ``jacviz sweep`` report the same numbers for a run, measured the same way,
here: the saved model takes the data as the user has it (for standardized data, the
standardization folded into its first layer), and its mean ‖J‖F and its accuracy under L2 PGD
are measured on the held-out points (the training points when none are held out), in the
units of the raw inputs, the units of ``--epsilons``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from jacviz.nets.data import VectorDataset, fold_standardization
from jacviz.nets.datasets import Dataset
from jacviz.nets.robustness import robust_accuracy
from jacviz.nets.training import TrainConfig, jacobian_frobenius, load_state

__all__ = [
    "DEFAULT_EPSILONS",
    "Measurements",
    "default_epsilons",
    "measure",
    "raw_model",
]

DEFAULT_EPSILONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
"""PGD radii for 2D data (data units); for data of more inputs, fractions of its spread."""


def default_epsilons(data: Dataset | VectorDataset) -> list[float]:
    """The PGD radii to report when none are asked for.

    For the toy 2D sets, :data:`DEFAULT_EPSILONS` in data units (their points span about 2).
    For data of more inputs, the same fractions of its RMS spread ``sqrt(Σ_j std_j²)`` (the
    root-mean-square distance of a training point from their mean), rounded to 3 significant
    digits: for the digits (spread 34.7 pixel-intensity units) 1.73, 3.47, 6.94 and 10.4.
    """
    if isinstance(data, Dataset):
        return list(DEFAULT_EPSILONS)
    spread = float(np.sqrt((data.standardization.std**2).sum()))
    return [float(f"{fraction * spread:.3g}") for fraction in DEFAULT_EPSILONS]


def raw_model(
    data: Dataset | VectorDataset, config: TrainConfig, state: Mapping[str, torch.Tensor]
) -> nn.Sequential:
    """The trained network of ``state`` as a model of the raw inputs, float32, in eval mode.

    For standardized data, the standardization is folded into the first layer
    (:func:`~jacviz.nets.data.fold_standardization`): exact, and nothing to apply at load time.
    """
    dim = data.input_dim if isinstance(data, VectorDataset) else data.points.shape[1]
    model = load_state(config, state, dim, data.n_classes)
    if isinstance(data, VectorDataset):
        model = fold_standardization(model, data.standardization)
    return model.to(torch.float32).eval().requires_grad_(False)


@dataclass(frozen=True)
class Measurements:
    """What :func:`measure` found, on raw inputs.

    Attributes
    ----------
    measured_on : str
        ``"test"``, or ``"train"`` when there are no held-out points.
    mean_jacobian_frobenius : float
        Mean exact ‖J‖F of the logits over those points.
    pgd_accuracy : dict of float to float
        Accuracy under L2 PGD per radius (an upper bound: every counted error has a witness).

    """

    measured_on: str
    mean_jacobian_frobenius: float
    pgd_accuracy: dict[float, float]


def measure(
    model: nn.Module, data: Dataset | VectorDataset, epsilons: Sequence[float], seed: int
) -> Measurements:
    """Mean ‖J‖F and L2 PGD accuracy of ``model`` (a :func:`raw_model`) on ``data``'s points.

    Attacked by :func:`jacviz.nets.robustness.robust_accuracy` (L2 PGD, 20 steps from 12
    starts: round the circle for 2D models; for models of more inputs from the point itself
    and 11 random points of the ε-sphere), in the model's own dtype. Seeded, so a run's
    numbers are the same on every machine and in every worker.
    """
    if isinstance(data, VectorDataset):
        test, train = data.raw_test_points, data.raw_train_points
    else:
        test, train = data.test_points, data.train_points
    held_out = test.shape[0] > 0
    points = test if held_out else train
    labels = data.test_labels if held_out else data.train_labels
    frobenius = float(jacobian_frobenius(model, points).mean())
    pgd = robust_accuracy(model, points, labels, epsilons, attack="pgd", norm="2", seed=seed)
    return Measurements(
        measured_on="test" if held_out else "train",
        mean_jacobian_frobenius=frobenius if math.isfinite(frobenius) else math.nan,
        pgd_accuracy=pgd,
    )
