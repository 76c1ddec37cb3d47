"""The plane through three inputs of a network, and what a classifier does on it.

Three test points ``a0, a1, a2`` of a dataset with d inputs (three digits, say) span a plane of
input space. :class:`InputPlane` is that plane with *isometric* coordinates: ``(s, t)`` stands
for ``a0 + s·u + t·v`` with ``u, v`` orthonormal, so a unit step on the plane is a unit step in
raw input units, distances and angles on screen are those of input space, and the anchors sit
at ``(0, 0)``, ``(|a1 − a0|, 0)`` and the third's own coordinates (above the first axis). It is
the slice machinery of :class:`~jacviz.nets.views.SliceMap` (``b + s·u + t·v``), fixed by three
points instead of a base and two directions.

Over the plane, :func:`plane_fields` gives a classifier's decision (class, confidence, margin)
and the Frobenius norm of its *full* ``k × d`` Jacobian (not the ``k × 2`` of the slice: how
much the logits move for any small change of the input, the quantity the regularizer
shrinks); :func:`read_point` gives the Jacobian at one point with its singular values and top
right singular vectors (the input directions the logits are most sensitive to, images for the
digits). Everything runs on one torch thread (jacviz's policy for work off the GUI thread),
in the model's own dtype, in chunks of bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from jacviz.math.contour import zero_contour
from jacviz.math.grid import Domain, sample_points
from jacviz.math.maps import TorchMap
from jacviz.nets.data import VectorDataset
from jacviz.nets.views import MIN_SINE, DecisionRegions, SliceMap, softmax
from jacviz.support.threads import single_threaded

__all__ = [
    "CHUNK_VALUES",
    "MARGIN_SHARE",
    "InputPlane",
    "PlaneError",
    "PlaneFields",
    "PointReading",
    "anchor_indices",
    "boundary_segments",
    "held_out",
    "jacobians",
    "plane_fields",
    "read_point",
]

MARGIN_SHARE: float = 0.3
"""The default extent leaves this share of the anchors' larger span free on every side."""

CHUNK_VALUES: int = 1 << 21
"""Most Jacobian entries (``points × k × d``) held at once: 8 MB of float32 per chunk."""


class PlaneError(ValueError):
    """Three anchors that span no plane, or indices that pick no three points; one line."""


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class InputPlane:
    """The plane of input space through three anchors, in isometric coordinates.

    Make one with :meth:`through`. ``base`` is the first anchor, ``u`` the unit vector from
    it to the second, ``v`` the unit vector orthogonal to ``u`` in the plane, on the third
    anchor's side; ``coordinates`` holds the anchors' ``(s, t)``.
    """

    anchors: np.ndarray
    """``(3, d)`` float64, read-only: the three inputs, as given."""
    base: np.ndarray
    """``(d,)``: the first anchor, at ``(0, 0)``."""
    u: np.ndarray
    """``(d,)`` unit vector along the first coordinate."""
    v: np.ndarray
    """``(d,)`` unit vector along the second, orthogonal to ``u``."""
    coordinates: np.ndarray
    """``(3, 2)`` the anchors' plane coordinates: ``(0, 0)``, ``(|a1 − a0|, 0)``, ``(s2, t2)``."""

    @classmethod
    def through(cls, anchors: np.ndarray | Sequence[Sequence[float]]) -> InputPlane:
        """The plane through the three rows of ``anchors`` (``(3, d)``, d ≥ 2, finite).

        Raises
        ------
        PlaneError
            If there are not three finite points of the same d ≥ 2 inputs, two of them are
            the same point, or the three lie on one line (the sine of the angle at the first
            anchor below :data:`~jacviz.nets.views.MIN_SINE`).

        """
        try:
            points = np.array(anchors, dtype=np.float64)
        except (TypeError, ValueError):
            raise PlaneError("the anchors must be three points of numbers") from None
        if points.ndim != 2 or points.shape[0] != 3 or points.shape[1] < 2:
            raise PlaneError(f"a plane needs three points of 2 or more inputs, got {points.shape}")
        if not np.isfinite(points).all():
            raise PlaneError("the anchors must be finite (no NaN or infinity)")
        for i, j in ((0, 1), (0, 2), (1, 2)):
            if np.array_equal(points[i], points[j]):
                raise PlaneError(
                    f"anchors {i + 1} and {j + 1} are the same point: pick three different inputs"
                )
        first = points[1] - points[0]
        length = float(np.linalg.norm(first))
        u = first / length
        third = points[2] - points[0]
        s2 = float(u @ third)
        w = third - s2 * u
        w -= (u @ w) * u  # a second pass: one can leave a part along u of order eps / sine
        t2 = float(np.linalg.norm(w))
        sine = t2 / float(np.linalg.norm(third))
        if sine < MIN_SINE:
            raise PlaneError(
                f"the three anchors lie on one line (sine of their angle {sine:.2g}): "
                "they span no plane; pick another third input"
            )
        coordinates = np.array([[0.0, 0.0], [length, 0.0], [s2, t2]])
        return cls(
            anchors=_readonly(points),
            base=_readonly(points[0].copy()),
            u=_readonly(u),
            v=_readonly(w / t2),
            coordinates=_readonly(coordinates),
        )

    @property
    def input_dim(self) -> int:
        """Number of inputs d of the space the plane lies in."""
        return self.anchors.shape[1]

    def lift(self, points: np.ndarray) -> np.ndarray:
        """Inputs ``(N, d)`` that plane points ``(N, 2)`` (or one ``(2,)``) stand for."""
        st = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return self.base + st[:, :1] * self.u + st[:, 1:2] * self.v

    def project(self, inputs: np.ndarray) -> np.ndarray:
        """Plane coordinates ``(N, 2)`` of the inputs' orthogonal projections on the plane."""
        x = np.atleast_2d(np.asarray(inputs, dtype=np.float64)) - self.base
        return np.column_stack([x @ self.u, x @ self.v])

    def slice_of(self, model: nn.Module, name: str = "network") -> SliceMap:
        """The model on this plane as a :class:`~jacviz.nets.views.SliceMap` (2 inputs)."""
        outputs = _output_count(model)
        inner = TorchMap(model, name, self.input_dim, outputs)
        return SliceMap(inner, self.base, self.u, self.v)

    def default_domain(self) -> Domain:
        """The anchors' bounding box, :data:`MARGIN_SHARE` of its larger side added all round."""
        low, high = self.coordinates.min(axis=0), self.coordinates.max(axis=0)
        margin = MARGIN_SHARE * float((high - low).max())
        return Domain(low[0] - margin, high[0] + margin, low[1] - margin, high[1] + margin)


def anchor_indices(indices: Sequence[object], count: int) -> tuple[int, int, int]:
    """Three distinct point indices of a dataset of ``count`` points, checked.

    Raises PlaneError (one line) for anything but three different whole numbers 0..count−1.
    """
    if len(indices) != 3:
        raise PlaneError(f"pick three points, got {len(indices)}")
    checked = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise PlaneError(f"point indices are whole numbers, got {index!r:.40}")
        if not 0 <= int(index) < count:
            raise PlaneError(f"point index {int(index)} is outside 0..{count - 1}")
        checked.append(int(index))
    if len(set(checked)) < 3:
        raise PlaneError(f"the three points must differ, got {checked}")
    return checked[0], checked[1], checked[2]


def held_out(data: VectorDataset) -> tuple[np.ndarray, np.ndarray]:
    """The points anchors are picked from, raw, with their labels: the held-out ones.

    The training points when nothing is held out. Indices of anchors count in this array.
    """
    if data.raw_test_points.shape[0]:
        return data.raw_test_points, data.test_labels
    return data.raw_train_points, data.train_labels


def _output_count(model: nn.Module) -> int:
    last = next((m for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)), None)
    if last is None:
        raise PlaneError("the model has no Linear layer: its number of classes is unknown")
    return int(last.out_features)


def _dtype(model: nn.Module) -> torch.dtype:
    parameter = next(model.parameters(), None)
    return torch.float32 if parameter is None else parameter.dtype


def jacobians(model: nn.Module, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(N, k)`` and their exact Jacobians ``(N, k, d)`` at ``inputs`` ``(N, d)``.

    On the cheaper side of J: ``k`` pull-backs (``torch.func.jacrev``) when there are fewer
    classes than inputs (the digits: 10 < 64), else ``d`` forward tangents (``jacfwd``),
    batched over the points with ``vmap``, in chunks of at most :data:`CHUNK_VALUES` entries,
    in the model's dtype, on one torch thread. Returned as float64.
    """
    x = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
    n, d = x.shape
    k = _output_count(model)
    dtype = _dtype(model)
    chunk = max(1, CHUNK_VALUES // (k * d))

    def logits_of(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(point.unsqueeze(0)).squeeze(0)
        return out, out

    transform = torch.func.jacrev if k <= d else torch.func.jacfwd
    batched = torch.func.vmap(transform(logits_of, has_aux=True))
    values = np.empty((n, k))
    jacobian = np.empty((n, k, d))
    with single_threaded(), torch.no_grad():
        for start in range(0, n, chunk):
            block = torch.tensor(x[start : start + chunk], dtype=dtype)
            jac, out = batched(block)
            values[start : start + chunk] = out.double().numpy()
            jacobian[start : start + chunk] = jac.double().numpy()
    return values, jacobian


@dataclass(frozen=True, eq=False)
class PlaneFields:
    """A classifier over a ``rows × columns`` image of the plane (row 0 at ``domain.ymin``)."""

    domain: Domain
    regions: DecisionRegions
    """Class, confidence and logit margin (top minus runner-up) per pixel."""
    frobenius: np.ndarray
    """``(rows, columns)`` ‖J‖F of the full ``k × d`` Jacobian of the logits, raw input units."""
    boundaries: np.ndarray
    """``(K, 2, 2)`` segments of the decision boundaries (:func:`boundary_segments`)."""


def boundary_segments(logits: np.ndarray, domain: Domain) -> np.ndarray:
    """Segments ``(K, 2, 2)`` of the edges of the classes' regions, from ``(rows, columns, k)``.

    Class c wins where ``z_c − max_{j≠c} z_j > 0``; the zero contour of that, interpolated
    between pixel centres (:func:`~jacviz.math.contour.zero_contour`), is the edge of its
    region, smooth where a pixel outline would be a staircase. Only the classes that win some
    pixel are traced (the others have no edge in view).
    """
    segments = [np.zeros((0, 2, 2))]
    present = np.unique(np.argmax(logits, axis=-1))
    for c in present:
        others = np.delete(logits, c, axis=-1).max(axis=-1)
        segments.append(zero_contour(logits[..., c] - others, domain))
    return np.concatenate(segments)


def plane_fields(
    model: nn.Module, plane: InputPlane, domain: Domain, columns: int, rows: int | None = None
) -> PlaneFields:
    """Decision regions and ‖J‖F of ``model`` (on raw inputs) over ``domain`` of ``plane``.

    Pixels are sampled at their centres (:func:`~jacviz.math.grid.sample_points`).
    """
    rows = columns if rows is None else rows
    inputs = plane.lift(sample_points(domain, columns, rows))
    logits, jacobian = jacobians(model, inputs)
    frobenius = np.sqrt(np.einsum("nij,nij->n", jacobian, jacobian)).reshape(rows, columns)
    image = logits.reshape(rows, columns, -1)
    regions = DecisionRegions.from_logits(image)
    return PlaneFields(
        domain=domain,
        regions=regions,
        frobenius=frobenius,
        boundaries=boundary_segments(image, domain),
    )


@dataclass(frozen=True, eq=False)
class PointReading:
    """A classifier at one input: what the probe's panel shows."""

    point: np.ndarray
    """``(d,)`` the input, raw units."""
    logits: np.ndarray
    """``(k,)``."""
    probabilities: np.ndarray
    """``(k,)`` softmax of the logits."""
    jacobian: np.ndarray
    """``(k, d)`` Jacobian of the logits: row c is the gradient of logit c."""
    singular_values: np.ndarray
    """``(min(k, d),)`` in decreasing order; their root sum of squares is ‖J‖F."""
    right_vectors: np.ndarray
    """``(min(k, d), d)`` right singular vectors, in the same order: row i is the input
    direction that J stretches by ``singular_values[i]`` (sign as the SVD gives it)."""

    @property
    def predicted(self) -> int:
        """The class of the largest logit."""
        return int(np.argmax(self.logits))

    @property
    def frobenius(self) -> float:
        """‖J‖F at the point."""
        return float(np.linalg.norm(self.jacobian))


def read_point(model: nn.Module, point: np.ndarray) -> PointReading:
    """The logits, probabilities, Jacobian and its SVD of ``model`` at one input ``(d,)``."""
    x = np.asarray(point, dtype=np.float64).reshape(1, -1)
    logits, jacobian = jacobians(model, x)
    _, sigma, vt = np.linalg.svd(jacobian[0], full_matrices=False)
    return PointReading(
        point=_readonly(x[0].copy()),
        logits=_readonly(logits[0]),
        probabilities=_readonly(softmax(logits[0])),
        jacobian=_readonly(jacobian[0]),
        singular_values=_readonly(sigma),
        right_vectors=_readonly(vt),
    )
