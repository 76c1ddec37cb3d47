"""Zero contours of a sampled field: where det J = 0, the map folds.

A vectorised marching-squares pass over the pixel-centre samples that
:func:`jacviz.math.grid.sample_points` produces. Each cell whose corners change sign gives one
segment (two at a saddle), with end points placed by linear interpolation along the edges,
so a linear field's contour is exact.
"""

from __future__ import annotations

import numpy as np

from jacviz.math.grid import Domain

# Edges of a cell, as (corner a, corner b) in the order bottom, right, top, left; corners are
# 0 = (i, j), 1 = (i, j+1), 2 = (i+1, j+1), 3 = (i+1, j) with i the row (y) and j the column (x).
_EDGES = ((0, 1), (1, 2), (3, 2), (0, 3))
_CORNER_OFFSETS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # (dx, dy)


def zero_contour(values: np.ndarray, domain: Domain) -> np.ndarray:
    """Segments of the curve ``values = 0`` over ``domain``, as an array ``(K, 2, 2)``.

    ``values`` is ``(rows, cols)`` sampled at pixel centres with row 0 at ``ymin``. Cells
    with a non-finite corner are skipped, so poles do not produce spurious contours.
    """
    rows, cols = values.shape
    if rows < 2 or cols < 2:
        return np.zeros((0, 2, 2))
    # Only the few cells whose corners change sign carry contour: find them with cheap boolean
    # planes first, then do the edge arithmetic on those cells alone.
    corner_planes = (values[:-1, :-1], values[:-1, 1:], values[1:, 1:], values[1:, :-1])
    with np.errstate(invalid="ignore"):
        finite = np.logical_and.reduce([np.isfinite(v) for v in corner_planes])
        signs = [v > 0 for v in corner_planes]
    mixed = finite & np.logical_or.reduce(signs) & ~np.logical_and.reduce(signs)
    cell_rows, cell_cols = np.nonzero(mixed)
    corners = np.stack([v[cell_rows, cell_cols] for v in corner_planes], axis=-1)  # (K, 4)
    positive = corners > 0

    points = np.empty((len(corners), 4, 2))
    crosses = np.empty((len(corners), 4), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, (a, b) in enumerate(_EDGES):
            crosses[:, k] = positive[:, a] != positive[:, b]
            va, vb = corners[:, a], corners[:, b]
            t = va / (va - vb)
            start, step = _CORNER_OFFSETS[a], _CORNER_OFFSETS[b] - _CORNER_OFFSETS[a]
            points[:, k, :] = start + t[:, None] * step
    count = crosses.sum(axis=-1)

    # Ordinary cells: the two crossed edges, in edge order.
    ordinary = count == 2
    order = np.argsort(~crosses[ordinary], axis=-1, kind="stable")[:, :2]
    segments = [np.take_along_axis(points[ordinary], order[..., None], axis=1)]
    cell_index = [np.flatnonzero(ordinary)]

    # Saddles: the centre's sign decides which pair of opposite corners is cut off.
    saddle = count == 4
    centre_positive = corners[saddle].mean(axis=-1) > 0
    joins_00_22 = centre_positive == positive[saddle][:, 0]
    pairs = np.where(joins_00_22[:, None, None], [[0, 1], [2, 3]], [[3, 0], [1, 2]])
    saddle_points = points[saddle]
    for pair in range(2):
        segments.append(np.take_along_axis(saddle_points, pairs[:, pair, :, None], axis=1))
        cell_index.append(np.flatnonzero(saddle))

    local = np.concatenate(segments)  # (S, 2, 2) in cell units
    cells = np.concatenate(cell_index)  # (S,) indices into the mixed cells
    dx, dy = domain.width / cols, domain.height / rows
    x = domain.xmin + (cell_cols[cells, None] + 0.5 + local[..., 0]) * dx
    y = domain.ymin + (cell_rows[cells, None] + 0.5 + local[..., 1]) * dy
    return np.stack([x, y], axis=-1)
