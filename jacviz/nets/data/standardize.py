"""Per-input standardization, and folding it into a trained network's first layer.

A network trained on data with inputs of very different sizes (pixel intensities 0 to 16, or a
table of metres and grams) learns badly from raw numbers, so jacviz trains on standardized
inputs ``(x - mean) / std``, the mean and standard deviation of each input taken from the
training split alone (the test points must not leak into the model).

The saved model must still take *raw* inputs: ``jacviz probe FILE --at ...``,
``jacviz.probe`` and every measurement (‖J‖F, attacks) read the data as the user has it.
:func:`fold_standardization` makes that exact without any change to the network format: the
first Linear layer ``W z + b`` of the standardized input ``z = (x - mean) / std`` is the Linear
layer ``(W / std) x + (b - W (mean / std))`` of the raw input, so nothing is applied at load
time, and the Jacobian of the saved model is the Jacobian with respect to the raw inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Standardization", "fold_standardization"]

_FLAT = 1e-12
"""An input whose training values spread less than this share of their size is constant: it is
centred but not scaled (scaling rounding noise up to unit size would invent a feature)."""


@dataclass(frozen=True, eq=False)
class Standardization:
    """The transform ``z = (x - mean) * scale`` of each input, with ``scale = 1 / std``.

    Attributes
    ----------
    mean : numpy.ndarray
        ``(d,)`` float64, read-only: each input's mean over the training split.
    std : numpy.ndarray
        ``(d,)`` float64, read-only, all > 0: each input's standard deviation over the training
        split (population, ``ddof=0``), or 1 for an input that is constant there.

    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        mean = np.array(self.mean, dtype=np.float64)
        std = np.array(self.std, dtype=np.float64)
        if mean.ndim != 1 or std.shape != mean.shape:
            raise ValueError(f"mean and std must be two (d,) arrays, got {mean.shape}, {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError("mean must be finite and std finite and > 0")
        for array in (mean, std):
            array.setflags(write=False)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def fit(cls, points: np.ndarray) -> Standardization:
        """The standardization of ``points`` (``(n, d)``, n ≥ 1, finite): their own mean and std."""
        points = np.asarray(points, dtype=np.float64)
        mean = points.mean(axis=0)
        std = points.std(axis=0)
        size = np.abs(points).max(axis=0)
        std = np.where(std > _FLAT * np.maximum(size, 1.0), std, 1.0)
        return cls(mean, std)

    @property
    def scale(self) -> np.ndarray:
        """``1 / std``: what the Jacobian's columns are multiplied by going to raw inputs."""
        return 1.0 / self.std

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``(points - mean) / std`` as float64: the inputs as the trained network sees them."""
        return (np.asarray(points, dtype=np.float64) - self.mean) / self.std

    def to_json(self) -> dict[str, Any]:
        """``{"mean": [...], "std": [...]}``: plain lists, as a model's metadata keeps them."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, data: object) -> Standardization | None:
        """What :meth:`to_json` wrote, or None if ``data`` is not a valid standardization."""
        if not isinstance(data, Mapping):
            return None
        mean, std = data.get("mean"), data.get("std")
        if not (isinstance(mean, list) and isinstance(std, list) and mean):
            return None
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in mean + std):
            return None
        try:
            return cls(np.array(mean, dtype=np.float64), np.array(std, dtype=np.float64))
        except ValueError:
            return None


def fold_standardization(model: nn.Sequential, standardization: Standardization) -> nn.Sequential:
    """A copy of ``model`` that takes raw inputs: the standardization folded into its first Linear.

    ``fold_standardization(model, s)(x)`` equals ``model(s.apply(x))`` up to float rounding,
    for a ``model`` whose first layer is an ``nn.Linear`` reading the ``d`` inputs of ``s``.
    The arithmetic is done in float64 and stored in the model's dtype. ``model`` is unchanged.

    Raises
    ------
    ValueError
        If the model does not start with a Linear layer of ``d`` inputs.

    """
    import torch  # here: reading data needs no torch
    from torch import nn

    folded = copy.deepcopy(model)
    first = next(iter(folded.children()), None)
    dim = standardization.mean.shape[0]
    if not isinstance(first, nn.Linear) or first.in_features != dim:
        raise ValueError(f"the model must start with a Linear layer of {dim} inputs to fold into")
    with torch.no_grad():
        weight = first.weight.double()
        scale = torch.from_numpy(standardization.scale)
        shift = torch.from_numpy(standardization.mean * standardization.scale)
        raw_weight = weight * scale
        raw_bias = -(weight @ shift)
        if first.bias is not None:
            raw_bias += first.bias.double()
            first.bias.copy_(raw_bias)
        else:
            first.bias = nn.Parameter(raw_bias.to(first.weight.dtype))
        first.weight.copy_(raw_weight)
    return folded
