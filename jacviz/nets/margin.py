"""The picture of a 2-class classifier: its logit margin against the position along the boundary.

A 2-class network's two logits are nearly opposite (softmax only reads their difference, and
training pushes them apart symmetrically), so the plane of its raw logits shows the grid
squashed onto a line. :class:`MarginView` draws instead the two things that matter:

- across: the margin ``m = z1 − z0`` (0 on the decision boundary, > 0 where class 1 wins),
  divided by its median gradient norm over the plane, so that it reads roughly as the signed
  distance to the boundary in input units (exactly so for a linear classifier);
- along: the input's component along the boundary's mean direction, so that points the
  margin alone would pile up (the whole boundary goes to 0) stay apart.

It is a :class:`~jacviz.math.maps.Map` like the other views (:mod:`jacviz.nets.views`), so
the warped grid, the probe's parallelogram and its ellipse live in it unchanged, and its
Jacobian ``[∇m / g; t]`` is exact whenever the classifier's is.
"""

from __future__ import annotations

import numpy as np

from jacviz.math.maps import Map, as_points

__all__ = ["MarginView"]


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.flags.writeable = False
    return array


class MarginView:
    """``p ↦ ((z1 − z0)(p) / g, t · (p − c))`` for a map of 2 inputs and 2 logits ``z0, z1``.

    Parameters
    ----------
    inner : Map
        The classifier's logits: 2 inputs (the input plane), 2 outputs.
    points : array_like
        ``(N, 2)`` inputs (e.g. the grid) the scale ``g``, the direction ``t`` and the centre
        ``c`` are fitted on, once, so the picture never jumps when the view is re-evaluated.
        ``g`` is the median of ``‖∇m‖`` over the points where it is finite and positive (1 if
        there are none); ``t`` is the mean ``∇m`` turned by +90° and normalised (``e2`` when
        the mean is 0), so that ``[∇m/‖∇m‖; t]`` is a rotation and a linear classifier's view
        keeps orientation; ``c`` is the mean of the points.

    Raises
    ------
    ValueError
        If ``inner`` does not have 2 inputs and 2 outputs, or no point is given.

    """

    def __init__(self, inner: Map, points: np.ndarray):
        if inner.input_dim != 2 or inner.output_dim != 2:
            raise ValueError(
                f"the margin view needs 2 inputs and 2 logits; {inner.name} has "
                f"{inner.input_dim} inputs and {inner.output_dim} outputs"
            )
        xy = as_points(points, 2)
        if len(xy) == 0:
            raise ValueError("the margin view needs points to fit its scale and direction on")
        _, jacobian = inner.evaluate_with_jacobian(xy)
        gradients = np.asarray(jacobian[:, 1] - jacobian[:, 0], dtype=np.float64)
        gradients = gradients[np.all(np.isfinite(gradients), axis=1)]
        norms = np.linalg.norm(gradients, axis=1)
        positive = norms[norms > 0]
        scale = float(np.median(positive)) if len(positive) else 1.0
        self._scale = scale if np.isfinite(scale) and scale > 0 else 1.0
        mean = gradients.mean(axis=0) if len(gradients) else np.zeros(2)
        length = float(np.linalg.norm(mean))
        if np.isfinite(length) and length > 0:
            along = np.array([-mean[1], mean[0]]) / length
        else:
            along = np.array([0.0, 1.0])
        self._inner = inner
        self._along = _frozen(along)
        self._center = _frozen(xy.mean(axis=0))

    @property
    def name(self) -> str:
        """E.g. ``"margin z1 − z0 of moons.safetensors against the boundary direction"``."""
        return f"margin z1 − z0 of {self._inner.name} against the boundary direction"

    @property
    def kind(self) -> str:
        """Always ``"margin"``: the :class:`~jacviz.state.view.ViewState` value of this view."""
        return "margin"

    @property
    def input_dim(self) -> int:
        """Always 2."""
        return 2

    @property
    def output_dim(self) -> int:
        """Always 2: the scaled margin and the position along the boundary."""
        return 2

    @property
    def inner(self) -> Map:
        """The classifier's logits."""
        return self._inner

    @property
    def scale(self) -> float:
        """``g``: the margin is divided by it (the median ‖∇(z1 − z0)‖ over the fitted points)."""
        return self._scale

    @property
    def along(self) -> np.ndarray:
        """``t``, shape ``(2,)``, unit: the boundary's mean direction in the input plane."""
        return self._along

    @property
    def center(self) -> np.ndarray:
        """``c``, shape ``(2,)``: the input point whose position along the boundary is 0."""
        return self._center

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """``(N, 2)``: the scaled margin and the position along the boundary."""
        xy = as_points(points, 2)
        logits = self._inner.evaluate(xy)
        return self._stack(logits, xy)

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The view's values ``(N, 2)`` and Jacobians ``(N, 2, 2)``: rows ``∇m / g`` and ``t``."""
        xy = as_points(points, 2)
        logits, jacobian = self._inner.evaluate_with_jacobian(xy)
        jacobian = np.asarray(jacobian, dtype=np.float64)
        rows = np.empty((len(xy), 2, 2))
        rows[:, 0] = (jacobian[:, 1] - jacobian[:, 0]) / self._scale
        rows[:, 1] = self._along
        return self._stack(logits, xy), rows

    def _stack(self, logits: np.ndarray, xy: np.ndarray) -> np.ndarray:
        z = np.asarray(logits, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            margin = (z[:, 1] - z[:, 0]) / self._scale
        along = (xy - self._center) @ self._along
        return np.column_stack([margin, along])
