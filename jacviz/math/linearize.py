"""The local linear approximation of a map at a point: what "the Jacobian" looks like.

Near p, f(p + δ) ≈ f(p) + J(p)·δ. jacviz shows this by drawing, for a small size h,
the true image of the square p + [0, h]² (a curved quadrilateral) on top of its tangent
parallelogram f(p) + J·δ, and the true image of the circle of radius h on top of the
singular-value ellipse (semi-axes h·σ1 and h·σ2 along the left singular vectors of J).
The gap between curve and straight figure is the linearization error; it shrinks like h²
(Taylor), which :attr:`Linearization.error` lets tests and users check.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from jacviz.math.jacobian import singular_values
from jacviz.math.maps import Map
from jacviz.math.probe import ProbeReport, probe

_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])


def square_boundary(point: np.ndarray, h: float, samples_per_side: int = 32) -> np.ndarray:
    """Closed boundary of the square ``point + [0, h]²``, counter-clockwise from ``point``.

    Returns ``(4 * samples_per_side + 1, 2)`` offsets-plus-point; the last row repeats the first.
    """
    return point + h * _unit_square(samples_per_side)


def unit_circle(samples: int = 128) -> np.ndarray:
    """Closed unit circle ``(samples + 1, 2)``, the last row repeating the first."""
    return _unit_circle(samples).copy()


# The templates are the same at every probe move: made once (read-only), they save a
# linearization ~80 us of linspace, column_stack, cos and sin.
@functools.lru_cache(maxsize=8)
def _unit_square(samples_per_side: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, samples_per_side, endpoint=False)
    zeros, ones = np.zeros_like(t), np.ones_like(t)
    unit = np.concatenate(
        [
            np.column_stack([t, zeros]),
            np.column_stack([ones, t]),
            np.column_stack([1.0 - t, ones]),
            np.column_stack([zeros, 1.0 - t]),
            [[0.0, 0.0]],
        ]
    )
    unit.flags.writeable = False
    return unit


@functools.lru_cache(maxsize=8)
def _unit_circle(samples: int) -> np.ndarray:
    theta = np.linspace(0.0, 2.0 * np.pi, samples + 1)
    circle = np.column_stack([np.cos(theta), np.sin(theta)])
    circle[-1] = circle[0]
    circle.flags.writeable = False
    return circle


@dataclass(frozen=True)
class OutputFigures:
    """The output-plane figures of a linearization, as drawn: each is (K, m) or (2, m)."""

    center: np.ndarray
    """Image of the point p, shape (m,)."""
    square_image: np.ndarray
    parallelogram: np.ndarray
    circle_image: np.ndarray
    ellipse: np.ndarray
    ellipse_axes: np.ndarray
    basis_images: np.ndarray


@dataclass(frozen=True)
class Linearization:
    """Everything the app draws for the local linear approximation at one point.

    Input-plane figures are ``(K, 2)``; output-plane figures are ``(K, m)``. All closed
    curves repeat their first row at the end.
    """

    point: np.ndarray
    """The point p, shape (2,)."""
    h: float
    """Size of the square (side) and of the circle (radius)."""
    report: ProbeReport
    """Value, Jacobian, det, singular values, ... at p, with warnings (what the inspector shows)."""
    square: np.ndarray
    """Boundary of the square p + [0, h]²."""
    square_image: np.ndarray
    """Its true image f(square): a curved quadrilateral."""
    parallelogram: np.ndarray
    """Tangent parallelogram f(p) + J·δ for δ at the square's corners, (5, m)."""
    circle: np.ndarray
    """Circle of radius h around p."""
    circle_image: np.ndarray
    """Its true image f(circle)."""
    ellipse: np.ndarray
    """Singular-value ellipse f(p) + J·δ for δ on the circle."""
    ellipse_axes: np.ndarray
    """(2, m): semi-axes h·σ1·u1 and h·σ2·u2 (u = left singular vectors of J)."""
    basis_images: np.ndarray
    """(2, m): h·J·e1 and h·J·e2, the images of the square's two edges at p (J's columns)."""
    error: float
    """Largest ‖f(p + δ) − f(p) − J·δ‖ over the square's boundary: shrinks like h²."""
    relative_error: float
    """``error`` divided by the parallelogram's size (largest ‖J·δ‖): shrinks like h."""

    @property
    def value(self) -> np.ndarray:
        """f(p), shape (m,)."""
        return self.report.value

    @property
    def jacobian(self) -> np.ndarray:
        """J(p), shape (m, 2)."""
        return self.report.jacobian

    def output_figures(self, t: float = 1.0) -> OutputFigures:
        """The figures under the morph g_t = (1 − t)·id + t·f, for the app's morph slider.

        At t = 1 these are f's own figures. In between, every figure is the same blend of its
        input-plane and output-plane versions, and the ellipse's axes are those of
        J_t = (1 − t)·I + t·J, the Jacobian of g_t (2D → 2D maps only).
        """
        if t == 1.0:
            return OutputFigures(
                self.value,
                self.square_image,
                self.parallelogram,
                self.circle_image,
                self.ellipse,
                self.ellipse_axes,
                self.basis_images,
            )
        if self.jacobian.shape != (2, 2):
            raise ValueError("morphing needs a map with 2 outputs")

        def blend(before: np.ndarray, after: np.ndarray) -> np.ndarray:
            return (1.0 - t) * before + t * after

        jacobian_t = blend(np.eye(2), self.jacobian)
        sigma_t = singular_values(jacobian_t[np.newaxis])[0]
        return OutputFigures(
            center=blend(self.point, self.value),
            square_image=blend(self.square, self.square_image),
            parallelogram=blend(self.point + self.h * _CORNERS, self.parallelogram),
            circle_image=blend(self.circle, self.circle_image),
            ellipse=blend(self.circle, self.ellipse),
            ellipse_axes=self.h * _semi_axes(jacobian_t, sigma_t),
            basis_images=blend(self.h * np.eye(2), self.basis_images),
        )


def _semi_axes(jacobian: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Left singular vectors of ``jacobian`` scaled by the (stable) singular values ``sigma``."""
    if not np.all(np.isfinite(jacobian)):
        return np.full((2, jacobian.shape[0]), np.nan)
    left, _, _ = np.linalg.svd(jacobian, full_matrices=False)
    return (left[:, :2] * sigma[:2]).T


def linearize(
    map_: Map,
    point: np.ndarray | tuple[float, float],
    h: float,
    samples_per_side: int = 32,
    circle_samples: int = 128,
) -> Linearization:
    """Compute the local linear approximation of ``map_`` at ``point`` for size ``h``.

    Raises
    ------
    ValueError
        If the map does not take 2 inputs or ``h`` is not a positive finite number.

    """
    if map_.input_dim != 2:
        raise ValueError("the local linear picture needs a map of 2 inputs (pick a 2D slice)")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"the size h must be a positive number, got {h}")
    report = probe(map_, point)
    p, value, jacobian = report.point, report.value, report.jacobian

    square = square_boundary(p, h, samples_per_side)
    circle = p + h * _unit_circle(circle_samples)
    images = map_.evaluate(np.concatenate([square, circle]))
    square_image, circle_image = images[: len(square)], images[len(square) :]

    corners = h * _CORNERS
    # At a pole or an overflow the value or J is not finite: the figures are then NaN or inf,
    # which the planes leave out; that is expected, not worth a warning.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        tangent_square = value + (square - p) @ jacobian.T
        remainder = np.linalg.norm(square_image - tangent_square, axis=1)
        size = np.linalg.norm((square - p) @ jacobian.T, axis=1).max()
        error = remainder.max()
        relative = error / size  # inf where J = 0 but f is not constant
        parallelogram = value + corners @ jacobian.T
        ellipse = value + h * _unit_circle(circle_samples) @ jacobian.T
        axes = h * _semi_axes(jacobian, report.singular_values)
        basis_images = h * jacobian.T
    return Linearization(
        point=p,
        h=float(h),
        report=report,
        square=square,
        square_image=square_image,
        parallelogram=parallelogram,
        circle=circle,
        circle_image=circle_image,
        ellipse=ellipse,
        ellipse_axes=axes,
        basis_images=basis_images,
        error=float(error),
        relative_error=float(relative),
    )
