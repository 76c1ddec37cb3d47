"""The 8×8 handwritten digits: 1,797 images of 64 pixels (0 to 16), 10 classes.

The UCI optical-recognition digits that scikit-learn ships inside its package
(:func:`sklearn.datasets.load_digits`): real, high-dimensional data that needs no download, small
enough to train on in seconds on two cores. scikit-learn is an optional extra
(``pip install 'jacviz[data]'``); without it, :func:`load_digits` says so in one line.
"""

from __future__ import annotations

import numpy as np

from jacviz.nets.data.vectors import VectorDataset
from jacviz.nets.datasets import (
    DatasetError,
    check_seed,
    check_test_fraction,
    stratified_split,
)

__all__ = ["DIGITS_SHAPE", "VECTOR_DATASETS", "load_digits"]

VECTOR_DATASETS: tuple[str, ...] = ("digits",)
"""Names of the built-in datasets with more than two inputs."""

DIGITS_SHAPE: tuple[int, int] = (8, 8)
"""How the 64 inputs of a digit form an image (row by row)."""


def load_digits(test_fraction: float = 0.3, seed: int = 0) -> VectorDataset:
    """The digits, split into train and test as the 2D datasets are (stratified, seeded).

    Parameters
    ----------
    test_fraction : float
        Share held out for testing, 0 to ``MAX_TEST_FRACTION``.
    seed : int
        Seed of the split (≥ 0): the same seed gives the same split on every machine.

    Raises
    ------
    DatasetError
        If scikit-learn is not installed, or an argument is out of range.

    """
    fraction = check_test_fraction(test_fraction)
    seed = check_seed(seed)
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DatasetError(
            "the digits dataset comes with scikit-learn, which is not installed: "
            "pip install 'jacviz[data]'"
        ) from None
    bunch = sklearn_digits()
    points = np.asarray(bunch.data, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    is_test = stratified_split(labels, 10, fraction, np.random.default_rng(seed))
    names = tuple(map(str, range(10)))
    return VectorDataset(points, labels, is_test, 10, "digits", names, DIGITS_SHAPE)
