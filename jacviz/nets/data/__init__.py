"""Data with more than two inputs: the 8×8 digits, your own ``.npz`` files, and standardization.

The toy 2D datasets and the CSV format stay in :mod:`jacviz.nets.datasets` (the lab draws their
points on the plane). This package holds labelled points of any dimension, one module per idea:

- :mod:`~jacviz.nets.data.vectors`: :class:`VectorDataset`, the raw points, labels and split,
  with the standardization fitted on the training split;
- :mod:`~jacviz.nets.data.standardize`: :class:`Standardization`, and
  :func:`fold_standardization`, which makes a network trained on standardized inputs take raw
  inputs exactly;
- :mod:`~jacviz.nets.data.digits`: :func:`load_digits` (scikit-learn's 8×8 digits);
- :mod:`~jacviz.nets.data.npz`: :func:`load_npz`, untrusted ``.npz`` archives read safely.

Every public name is importable from here.
"""

from jacviz.nets.data.digits import DIGITS_SHAPE, VECTOR_DATASETS, load_digits
from jacviz.nets.data.npz import MAX_NPZ_BYTES, load_npz
from jacviz.nets.data.standardize import Standardization, fold_standardization
from jacviz.nets.data.vectors import MAX_INPUTS, MAX_VALUES, MAX_VECTOR_CLASSES, VectorDataset

__all__ = [
    "DIGITS_SHAPE",
    "MAX_INPUTS",
    "MAX_NPZ_BYTES",
    "MAX_VALUES",
    "MAX_VECTOR_CLASSES",
    "VECTOR_DATASETS",
    "Standardization",
    "VectorDataset",
    "fold_standardization",
    "load_digits",
    "load_npz",
]
