"""Labelled points with any number of inputs, standardized as the network sees them.

:class:`VectorDataset` is the n-dimensional sibling of :class:`jacviz.nets.datasets.Dataset`
(which stays 2D: the lab draws its points on the plane). It holds the *raw* inputs as the user
gave them, and the :class:`~jacviz.nets.data.standardize.Standardization` fitted on its
training split; :attr:`VectorDataset.train_points` and :attr:`VectorDataset.test_points` are
the standardized inputs the trainer fits, and :attr:`VectorDataset.input_scale` tells the
trainer how to measure and penalise the Jacobian with respect to the raw inputs instead, so
that the regularizer shrinks the Jacobian of the model the user will save and probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jacviz.nets.data.standardize import Standardization
from jacviz.nets.datasets import (
    MAX_COORDINATE,
    MAX_POINTS,
    DatasetError,
    checked_class_names,
)

__all__ = ["MAX_INPUTS", "MAX_VALUES", "MAX_VECTOR_CLASSES", "VectorDataset"]

MAX_INPUTS: int = 4096
"""Most inputs per point: a 64×64 image; also the widest layer a jacviz MLP file stores."""

MAX_VALUES: int = 20_000_000
"""Most numbers ``N × d`` a dataset may hold (160 MB of float64): well beyond what the 2-core
trainer gets through in minutes, small enough to hold twice (raw and standardized)."""

MAX_VECTOR_CLASSES: int = 256
"""Most classes: each is a network output, a row of every Jacobian the trainer computes."""


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class VectorDataset:
    """Labelled points of d dimensions with a train/test split and their standardization.

    The constructor copies and checks its inputs (the arrays become read-only) and fits the
    standardization on the training points. Datasets compare by identity.

    Attributes
    ----------
    raw_points : numpy.ndarray
        ``(n, d)`` float64, finite, each of size at most ``MAX_COORDINATE``: the inputs as given.
    labels : numpy.ndarray
        ``(n,)`` int64 classes ``0 .. n_classes - 1``.
    is_test : numpy.ndarray
        ``(n,)`` bool: True for the held-out points; at least one point is not.
    n_classes : int
        2 to :data:`MAX_VECTOR_CLASSES`.
    name : str
        ``"digits"`` or the file's stem.
    class_names : tuple of str
        One name per class, in label order.
    input_shape : tuple of int or None
        How the d inputs form an image, row by row (``(8, 8)`` for the digits); None for
        inputs that are not an image. Its product must be d.
    standardization : Standardization
        Fitted on the training split when the dataset is made (not a constructor argument).

    """

    raw_points: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    n_classes: int
    name: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...] | None = None
    standardization: Standardization = field(init=False)

    def __post_init__(self) -> None:
        points = np.array(self.raw_points, dtype=np.float64)
        if points.ndim != 2 or not 1 <= points.shape[1] <= MAX_INPUTS:
            raise DatasetError(f"points must have shape (n, d), d ≤ {MAX_INPUTS}: {points.shape}")
        count = points.shape[0]
        if not 2 <= count <= MAX_POINTS or points.size > MAX_VALUES:
            raise DatasetError(
                f"a dataset holds 2 to {MAX_POINTS} points and at most {MAX_VALUES:,} numbers, "
                f"got {count} × {points.shape[1]}"
            )
        if not np.isfinite(points).all():
            raise DatasetError("inputs must be finite numbers (no NaN or infinity)")
        largest = float(np.abs(points).max())
        if largest > MAX_COORDINATE:
            raise DatasetError(
                f"inputs must be at most {MAX_COORDINATE:g} in size, got {largest:.6g}"
            )
        labels = np.asarray(self.labels)
        if labels.shape != (count,) or labels.dtype.kind not in "iu":
            raise DatasetError(f"labels must be {count} integers, got shape {labels.shape}")
        is_test = np.asarray(self.is_test)
        if is_test.shape != (count,) or is_test.dtype != np.bool_:
            raise DatasetError(f"is_test must be {count} booleans, got shape {is_test.shape}")
        classes = self.n_classes
        if not isinstance(classes, int) or not 2 <= classes <= MAX_VECTOR_CLASSES:
            raise DatasetError(f"n_classes must be 2 to {MAX_VECTOR_CLASSES}, got {classes!r}")
        if labels.min() < 0 or labels.max() >= classes:
            raise DatasetError(f"labels must be in 0..{classes - 1}")
        if is_test.all():
            raise DatasetError("the split leaves no training point")
        names = checked_class_names(self.class_names, classes)
        object.__setattr__(self, "raw_points", _readonly(points))
        object.__setattr__(self, "labels", _readonly(labels.astype(np.int64)))
        object.__setattr__(self, "is_test", _readonly(is_test.copy()))
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "class_names", names)
        if self.input_shape is not None:
            shape = tuple(int(n) for n in self.input_shape)
            if not shape or min(shape) < 1 or int(np.prod(shape)) != points.shape[1]:
                raise DatasetError(f"input_shape {shape} does not hold {points.shape[1]} inputs")
            object.__setattr__(self, "input_shape", shape)
        standardization = Standardization.fit(points[~is_test])
        object.__setattr__(self, "standardization", standardization)

    @property
    def n_points(self) -> int:
        """Number of points, train and test together."""
        return self.raw_points.shape[0]

    @property
    def input_dim(self) -> int:
        """Number of inputs d per point."""
        return self.raw_points.shape[1]

    @property
    def input_scale(self) -> np.ndarray:
        """``1 / std`` per input: the trainer penalises and measures ``J · diag(input_scale)``.

        That is the Jacobian with respect to the raw inputs of the network trained on the
        standardized ones: the Jacobian of the model once saved (see
        :func:`~jacviz.nets.data.standardize.fold_standardization`).
        """
        return self.standardization.scale

    @property
    def train_points(self) -> np.ndarray:
        """``(n_train, d)`` standardized training inputs: what the network is trained on."""
        return _readonly(self.standardization.apply(self.raw_points[~self.is_test]))

    @property
    def train_labels(self) -> np.ndarray:
        """Read-only labels of the training split."""
        return _readonly(self.labels[~self.is_test])

    @property
    def test_points(self) -> np.ndarray:
        """``(n_test, d)`` standardized held-out inputs."""
        return _readonly(self.standardization.apply(self.raw_points[self.is_test]))

    @property
    def test_labels(self) -> np.ndarray:
        """Read-only labels of the test split."""
        return _readonly(self.labels[self.is_test])

    @property
    def raw_train_points(self) -> np.ndarray:
        """``(n_train, d)`` training inputs as given: what a saved model takes."""
        return _readonly(self.raw_points[~self.is_test])

    @property
    def raw_test_points(self) -> np.ndarray:
        """``(n_test, d)`` held-out inputs as given."""
        return _readonly(self.raw_points[self.is_test])
