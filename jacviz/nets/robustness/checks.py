"""Argument checks shared by the robustness measures: a clear ValueError before any work.

Every public function of :mod:`jacviz.nets.robustness` takes models, points, labels, radii,
counts and seeds from callers (the CLI, the lab, scripts). They check them here, the same way
and with the same messages, and get back clean values: numbers as ``float``/``int``, points as
fresh float64 arrays, labels as int64 class indices, and the dtype the model runs in.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

__all__ = [
    "check_int",
    "check_labels",
    "check_number",
    "check_point",
    "check_points",
    "check_seed",
    "model_dtype",
]

_SEED_MIN, _SEED_MAX = -(2**63), 2**64 - 1  # what torch.Generator.manual_seed accepts


def check_number(value: object, what: str, *, positive: bool = False) -> float:
    """``value`` as a finite float ``>= 0`` (``> 0`` if ``positive``), or a clear ValueError.

    ``what`` names the argument in the message, e.g. ``"eps"`` or ``"max_radius"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {value!r:.60}")
    number = float(value)
    if not math.isfinite(number) or (number <= 0.0 if positive else number < 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{what} must be finite and {bound}, got {number!r}")
    return number


def check_int(value: object, what: str, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (not a bool) of at least ``minimum``, or a clear ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {value!r:.60}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def check_seed(seed: object) -> int:
    """``seed`` as an ``int`` that :meth:`torch.Generator.manual_seed` accepts."""
    seed = check_int(seed, "seed")
    if not _SEED_MIN <= seed <= _SEED_MAX:
        raise ValueError(f"seed must be in [-2**63, 2**64 - 1], got {seed}")
    return seed


def check_points(
    points: object, what: str = "points", dim: int | None = None, why: str = ""
) -> np.ndarray:
    """``points`` as a fresh, finite float64 ``(n, d)`` array, or a clear ValueError.

    Any ``d >= 1`` (an attack works in any number of inputs); ``dim`` demands that one, e.g. 2
    for the measures whose geometry is the plane's (discs and their sectors), and ``why``
    ends the message about a wrong shape with the reason.
    """
    shape = "(n, d)" if dim is None else f"(n, {dim})"
    try:
        array = np.array(points, dtype=np.float64)  # a copy: callers' arrays are left alone
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be an {shape} array of numbers, got {points!r:.60}"
        ) from None
    if array.ndim != 2 or array.shape[1] < 1 or (dim is not None and array.shape[1] != dim):
        reason = f": {why}" if why else ""
        raise ValueError(f"{what} must have shape {shape}, got {array.shape}{reason}")
    if not np.all(np.isfinite(array)):
        rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
        raise ValueError(f"{what} have NaN or infinite coordinates (row {rows[0]} first)")
    return array


def check_point(point: object, why: str) -> np.ndarray:
    """``point`` as a fresh, finite float64 ``(2,)`` array (a point of the plane), or a ValueError.

    ``why`` ends the message about a wrong shape with the reason the plane is needed.
    """
    try:
        array = np.array(point, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"point must be 2 numbers, got {point!r:.60}") from None
    if array.shape != (2,):
        raise ValueError(f"point must have shape (2,), got {array.shape}: {why}")
    if not np.all(np.isfinite(array)):
        raise ValueError("point has NaN or infinite coordinates")
    return array


def check_labels(labels: object, n: int, k: int) -> np.ndarray:
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


def model_dtype(model: object) -> torch.dtype:
    """The floating dtype ``model`` runs in: its parameters', float32 if it has none.

    Raises TypeError for anything but a ``torch.nn.Module``, ValueError for integer weights.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    parameter = next(model.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    if not dtype.is_floating_point:
        raise ValueError(f"model parameters must be floating point, got {dtype}")
    return dtype
