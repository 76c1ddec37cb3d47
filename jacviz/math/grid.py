"""Grids over a rectangular domain, and their images under a map as smooth curves.

A straight grid line maps to a curve, so each line is sampled finely: jacviz starts from
``min_samples`` points per line and keeps doubling (inserting midpoints) until every image
segment is straight to within a small fraction of the picture (the *chord error*: how far
the image of a segment's midpoint lies from the segment's midpoint), as manim subdivides
each line into many pieces, but only as far as the map actually needs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from jacviz.math.maps import Map
from jacviz.support.text_input import quote

MAX_BOUND = 1e9
"""Largest size of a domain bound: far beyond any plane worth looking at, and small enough that
widths, grid midpoints and pixel centres never overflow or lose their digits."""

MIN_EXTENT = 1e-10
"""Smallest width or height of a domain, as a share of the larger of 1 and its largest bound:
below it, the 2049 samples of a grid line would come within a few hundred float64 roundings
of each other (the editor's finest step, 0.001 at 1e6, stays well above it)."""

MAX_ASPECT = 1e4
"""Largest ratio of a domain's longer side to its shorter: the plane keeps its aspect locked,
so a longer strip would be drawn thinner than a pixel."""


@dataclass(frozen=True)
class Domain:
    """The rectangle ``[xmin, xmax] × [ymin, ymax]`` of the input plane.

    Every domain can be drawn: its bounds are finite floats of size at most
    :data:`MAX_BOUND`, ``xmin < xmax`` and ``ymin < ymax``, each side is at least
    :data:`MIN_EXTENT` (relative to the coordinates' size), and the longer side at most
    :data:`MAX_ASPECT` times the shorter. Anything else raises a ValueError of one line, so
    that sessions, network files, the command line and the editor all refuse the same
    rectangles with the same words.
    """

    xmin: float = -2.0
    xmax: float = 2.0
    ymin: float = -2.0
    ymax: float = 2.0

    def __post_init__(self) -> None:
        bounds = (self.xmin, self.xmax, self.ymin, self.ymax)
        if not all(isinstance(b, numbers.Real) for b in bounds):
            shown = ", ".join(quote(repr(b), 20) for b in bounds)
            raise ValueError(f"domain bounds must be numbers, got {shown}")
        for name, value in zip(("xmin", "xmax", "ymin", "ymax"), bounds, strict=True):
            object.__setattr__(self, name, float(value))  # plain floats: JSON-ready
        xmin, xmax, ymin, ymax = (self.xmin, self.xmax, self.ymin, self.ymax)
        box = f"x in [{xmin:.6g}, {xmax:.6g}], y in [{ymin:.6g}, {ymax:.6g}]"
        if not all(math.isfinite(b) for b in (xmin, xmax, ymin, ymax)):
            raise ValueError(f"domain bounds must be finite numbers, got {box}")
        if max(abs(xmin), abs(xmax), abs(ymin), abs(ymax)) > MAX_BOUND:
            raise ValueError(f"domain bounds must be at most {MAX_BOUND:g} in size, got {box}")
        if not (xmin < xmax and ymin < ymax):
            raise ValueError(f"domain needs xmin < xmax and ymin < ymax, got {box}")
        width, height = xmax - xmin, ymax - ymin
        least = _least_extent(xmin, xmax, ymin, ymax)
        if min(width, height) < least:
            raise ValueError(
                f"domain too narrow: width and height must be at least {least:.3g} at these "
                f"coordinates (float64's resolution), got {width:.3g} × {height:.3g}"
            )
        if max(width / height, height / width) > MAX_ASPECT:
            raise ValueError(
                f"domain aspect ratio too extreme: the longer side may be at most "
                f"{MAX_ASPECT:g} times the shorter, got {width:.3g} × {height:.3g}"
            )

    @property
    def width(self) -> float:
        """Extent along x."""
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        """Extent along y."""
        return self.ymax - self.ymin


def _least_extent(*bounds: float) -> float:
    return MIN_EXTENT * max(1.0, *(abs(b) for b in bounds))


def domain_containing(xmin: float, xmax: float, ymin: float, ymax: float) -> Domain:
    """The smallest valid :class:`Domain` that contains the box, about the same centre.

    A side shorter than :data:`MIN_EXTENT` allows, or than the longer side over
    :data:`MAX_ASPECT`, is widened about its middle; this is how a box around data (a single
    point, points on a line) becomes a rectangle the plane can show.

    Raises
    ------
    ValueError
        If the box is not finite, has ``xmin > xmax`` or ``ymin > ymax``, or reaches beyond
        :data:`MAX_BOUND`.

    """
    box = (xmin, xmax, ymin, ymax)
    if not all(math.isfinite(b) for b in box) or xmin > xmax or ymin > ymax:
        raise ValueError(f"a domain cannot contain the box {box}")
    # Margins of a millionth keep the result valid after the rounding of centre ± half.
    least = 2.0 * _least_extent(*box)
    width = max(xmax - xmin, least)
    height = max(ymax - ymin, least)
    width = max(width, height / MAX_ASPECT * (1 + 1e-6))
    height = max(height, width / MAX_ASPECT * (1 + 1e-6))
    x_mid, y_mid = 0.5 * (xmin + xmax), 0.5 * (ymin + ymax)
    return Domain(
        min(xmin, x_mid - 0.5 * width),
        max(xmax, x_mid + 0.5 * width),
        min(ymin, y_mid - 0.5 * height),
        max(ymax, y_mid + 0.5 * height),
    )


def grid_lines(domain: Domain, lines: int = 21, samples: int = 65) -> np.ndarray:
    """Sampled grid lines covering ``domain``.

    Returns an array ``(2 * lines, samples, 2)``: first the ``lines`` vertical lines
    (x constant, left to right), then the ``lines`` horizontal ones (y constant, bottom to
    top), each sampled at ``samples`` evenly spaced points including both ends.
    """
    if lines < 2 or samples < 2:
        raise ValueError("a grid needs at least 2 lines and 2 samples per line")
    xs = np.linspace(domain.xmin, domain.xmax, lines)
    ys = np.linspace(domain.ymin, domain.ymax, lines)
    t_x = np.linspace(domain.xmin, domain.xmax, samples)
    t_y = np.linspace(domain.ymin, domain.ymax, samples)
    vertical = np.stack(np.broadcast_arrays(xs[:, None], t_y[None, :]), axis=-1)
    horizontal = np.stack(np.broadcast_arrays(t_x[None, :], ys[:, None]), axis=-1)
    return np.concatenate([vertical, horizontal])


def _insert_midpoints(curves: np.ndarray, midpoints: np.ndarray) -> np.ndarray:
    """Interleave ``midpoints`` (L, S-1, d) between the samples of ``curves`` (L, S, d)."""
    count, samples, dim = curves.shape
    merged = np.empty((count, 2 * samples - 1, dim))
    merged[:, 0::2] = curves
    merged[:, 1::2] = midpoints
    return merged


def chord_error(images: np.ndarray, midpoint_images: np.ndarray) -> float:
    """Largest distance between a segment's image midpoint and its chord's midpoint.

    ``images`` is ``(L, S, m)``; ``midpoint_images`` ``(L, S-1, m)`` holds the images of the
    parameter midpoints. Non-finite samples are ignored.
    """
    # Poles give inf - inf and huge images overflow: such samples are expected, and skipped.
    with np.errstate(invalid="ignore", over="ignore"):
        chord_mid = 0.5 * (images[:, 1:] + images[:, :-1])
        distance = np.linalg.norm(midpoint_images - chord_mid, axis=-1)
    finite = distance[np.isfinite(distance)]
    return float(finite.max()) if finite.size else 0.0


def picture_size(images: np.ndarray) -> float:
    """Diagonal of the bounding box of the finite points in ``images`` (0 if none)."""
    flat = images.reshape(-1, images.shape[-1])
    flat = flat[np.all(np.isfinite(flat), axis=1)]
    if not len(flat):
        return 0.0
    with np.errstate(over="ignore"):  # images near float64's limit: an infinite picture
        return float(np.linalg.norm(flat.max(axis=0) - flat.min(axis=0)))


@dataclass(frozen=True)
class WarpedGrid:
    """Grid lines in the input plane and their images under a map.

    ``lines`` is ``(L, S, n)`` and ``images`` is ``(L, S, m)``; sample ``k`` of line ``l``
    maps to ``images[l, k]``. Images are inf/NaN where the map is not finite (at poles);
    views break the curve there.
    """

    lines: np.ndarray
    images: np.ndarray

    def morph(self, t: float) -> np.ndarray:
        """Straight-line homotopy ``(1 - t)·p + t·f(p)`` of the grid, for 2D→2D maps."""
        if self.lines.shape[-1] != self.images.shape[-1]:
            raise ValueError("morphing needs a map with as many outputs as inputs")
        if t == 0:
            return self.lines.copy()  # the identity, even where f is not finite (0·inf is NaN)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite images stay so
            return (1.0 - t) * self.lines + t * self.images


def warp_grid(
    map_: Map,
    domain: Domain,
    lines: int = 21,
    min_samples: int = 65,
    max_samples: int = 2049,
    tolerance: float = 1e-3,
) -> WarpedGrid:
    """Image of the grid over ``domain`` under ``map_``, refined until it draws smooth.

    Sampling starts at ``min_samples`` per line and doubles while the chord error exceeds
    ``tolerance`` times the size of the picture (1e-3 is below half a pixel in a
    1000-pixel view), up to ``max_samples``. Maps with kinks (ReLU) converge too, since
    the chord error at a kink shrinks with the segment length.
    """
    grid = grid_lines(domain, lines, min_samples)
    count, samples, dim = grid.shape
    images = map_.evaluate(grid.reshape(-1, dim)).reshape(count, samples, -1)
    while 2 * samples - 1 <= max_samples:
        mid_lines = 0.5 * (grid[:, 1:] + grid[:, :-1])
        mid_images = map_.evaluate(mid_lines.reshape(-1, dim)).reshape(count, samples - 1, -1)
        done = chord_error(images, mid_images) <= tolerance * picture_size(images)
        grid = _insert_midpoints(grid, mid_lines)
        images = _insert_midpoints(images, mid_images)
        samples = 2 * samples - 1
        if done:
            break
    return WarpedGrid(grid, images)


def sample_points(domain: Domain, columns: int, rows: int | None = None) -> np.ndarray:
    """Pixel-centre points of a ``rows × columns`` image over ``domain``, for heatmaps.

    Returns ``(rows * columns, 2)`` in row-major order: row 0 is the bottom row (smallest y),
    so ``values.reshape(rows, columns)`` is an image whose first row is at ``ymin``, matching
    pyqtgraph's row-major image axis order with ``ImageItem.setRect``.
    """
    rows = columns if rows is None else rows
    xs = domain.xmin + (np.arange(columns) + 0.5) * (domain.width / columns)
    ys = domain.ymin + (np.arange(rows) + 0.5) * (domain.height / rows)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return np.column_stack([grid_x.ravel(), grid_y.ravel()])
