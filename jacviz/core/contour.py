"""Zero contours of a sampled field: where det J = 0, the map folds.

A vectorised marching-squares pass over the pixel-centre samples that
:func:`jacviz.core.grid.sample_points` produces. Each cell whose corners change sign gives one
segment (two at a saddle), with end points placed by linear interpolation along the edges,
so a linear field's contour is exact.
"""

from __future__ import annotations

import numpy as np

from jacviz.core.grid import Domain

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
    corners = np.stack(
        [values[:-1, :-1], values[:-1, 1:], values[1:, 1:], values[1:, :-1]], axis=-1
    )  # (rows-1, cols-1, 4)
    finite = np.all(np.isfinite(corners), axis=-1)
    positive = corners > 0

    points = np.full((*corners.shape[:2], 4, 2), np.nan)
    crosses = np.zeros((*corners.shape[:2], 4), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, (a, b) in enumerate(_EDGES):
            crosses[..., k] = finite & (positive[..., a] != positive[..., b])
            va, vb = corners[..., a], corners[..., b]
            t = va / (va - vb)
            offset = _CORNER_OFFSETS[a] + t[..., None] * (_CORNER_OFFSETS[b] - _CORNER_OFFSETS[a])
            points[..., k, :] = offset
    count = crosses.sum(axis=-1)

    # Ordinary cells: the two crossed edges, in edge order.
    ordinary = count == 2
    order = np.argsort(~crosses[ordinary], axis=-1, kind="stable")[:, :2]
    segments = [np.take_along_axis(points[ordinary], order[..., None], axis=1)]
    cell_index = [np.argwhere(ordinary)]

    # Saddles: the centre's sign decides which pair of opposite corners is cut off.
    saddle = count == 4
    centre_positive = corners[saddle].mean(axis=-1) > 0
    joins_00_22 = centre_positive == positive[saddle][:, 0]
    pairs = np.where(joins_00_22[:, None, None], [[0, 1], [2, 3]], [[3, 0], [1, 2]])
    saddle_points = points[saddle]
    for pair in range(2):
        segments.append(np.take_along_axis(saddle_points, pairs[:, pair, :, None], axis=1))
        cell_index.append(np.argwhere(saddle))

    local = np.concatenate(segments)  # (K, 2, 2) in cell units
    cells = np.concatenate(cell_index)  # (K, 2) as (row, col)
    dx, dy = domain.width / cols, domain.height / rows
    x = domain.xmin + (cells[:, 1, None] + 0.5 + local[..., 0]) * dx
    y = domain.ymin + (cells[:, 0, None] + 0.5 + local[..., 1]) * dy
    return np.stack([x, y], axis=-1)
