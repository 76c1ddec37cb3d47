"""How much work one picture may cost, so that a heavy network never stalls the app.

A valid network file can still be expensive: a 2-2048-2048-2 MLP costs 4 million
multiply-adds per point, and a 256² heatmap of its Jacobians would take minutes; a network
with 4096 outputs needs 4 GB for the Jacobians of a 256² grid. jacviz estimates each map's
cost per point before drawing, and sizes its pictures (heatmap resolution, grid samples) to
fit a fixed budget of work and memory, saying so when a picture is coarser than usual.

The estimates are deliberately simple: a torch network's parameter count is its
multiply-adds per point (exact for chains of Linear layers), times the passes its Jacobian
takes; a hosted network's cost was measured when it was checked; formulas are cheap.
"""

from __future__ import annotations

import math

from jacviz.math.maps import FormulaMap, Map, TorchMap

__all__ = [
    "DETAIL_LIMIT",
    "MEMORY_BUDGET",
    "WORK_BUDGET",
    "detail_shape",
    "grid_samples_within_budget",
    "points_within_budget",
    "side_within_budget",
    "work_per_point",
]

WORK_BUDGET: float = 2e10
"""Multiply-adds one picture may take: about two seconds on this project's 2-core machine
(measured ~1e10 per second for float32 layers on batches of 2048)."""

MEMORY_BUDGET: int = 256 * 1024 * 1024
"""Bytes the arrays of one picture may take (values, Jacobians and what is derived)."""

DETAIL_LIMIT: int = 1024
"""Most points per side of a heatmap's detail (the visible part of a zoomed plane)."""

_MACS_PER_SECOND = 1e10  # converts a hosted network's measured seconds into work
_FORMULA_WORK = 200.0  # a formula's value and Jacobian: a few hundred flops per point
_COPIES = 4  # arrays of the Jacobians' size alive at once while a field is derived


def _unwrap(map_: Map) -> Map:
    """The map doing the work under views that only reshape its outputs or inputs."""
    inner = getattr(map_, "inner", None)
    return _unwrap(inner) if inner is not None else map_


def work_per_point(map_: Map, jacobian: bool) -> float:
    """Estimated multiply-adds per point for values (and Jacobians, if ``jacobian``)."""
    base = _unwrap(map_)
    if isinstance(base, FormulaMap):
        return _FORMULA_WORK
    if isinstance(base, TorchMap):
        forward = float(sum(p.numel() for p in base.module.parameters())) or 1.0
        if not jacobian:
            return forward
        if base.jacobian_method == "forward tangents":
            return forward * (1 + base.input_dim)  # the n tangents ride along the values
        return forward * (1 + 2 * base.output_dim)  # one forward, m backward passes
    seconds = getattr(base, "seconds_per_point", None)
    if seconds:  # a hosted network: measured for values and Jacobians together
        return float(seconds) * _MACS_PER_SECOND
    return _FORMULA_WORK


def bytes_per_point(map_: Map, jacobian: bool) -> float:
    """Bytes per point of the float64 arrays a picture keeps (values and Jacobians).

    A view's Jacobians are computed from those of the map under it (a slice's from the
    network's full ``m × n`` ones), so the wider of the two counts.
    """
    inputs = max(map_.input_dim, _unwrap(map_).input_dim) if jacobian else 0
    return 8.0 * map_.output_dim * (1 + inputs) * _COPIES


def points_within_budget(map_: Map, jacobian: bool = True) -> int:
    """How many points one picture of ``map_`` may evaluate within both budgets."""
    work = WORK_BUDGET / work_per_point(map_, jacobian)
    memory = MEMORY_BUDGET / bytes_per_point(map_, jacobian)
    return max(1, int(min(work, memory)))


def side_within_budget(map_: Map, wanted: int, least: int = 16) -> int:
    """Side of a square heatmap of ``map_`` (values and Jacobians): ``wanted`` if it fits.

    Never below ``least``: a picture that coarse still says something, and its cost is
    bounded by the network's size limits.
    """
    side = math.isqrt(points_within_budget(map_, jacobian=True))
    return max(least, min(wanted, side))


def grid_samples_within_budget(map_: Map, curves: int, wanted: int, least: int = 9) -> int:
    """Most samples per grid line (``2**k + 1``, at most ``wanted``) for ``curves`` lines."""
    fits = points_within_budget(map_, jacobian=False) // max(1, curves)
    samples = wanted
    while samples > least and samples > fits:
        samples = (samples - 1) // 2 + 1
    return max(least, samples)


def detail_shape(map_: Map, cols: int, rows: int, limit: int = DETAIL_LIMIT) -> tuple[int, int]:
    """Rows and columns of a field of ``map_`` filling ``cols`` × ``rows`` screen pixels.

    One point per pixel, but at most ``limit`` per side and within both budgets (for values
    and Jacobians): a larger request is scaled down evenly, keeping its aspect. At least one
    point per side.
    """
    cols, rows = max(1, int(cols)), max(1, int(rows))
    shrink = max(cols / limit, rows / limit, 1.0)
    cols, rows = max(1, int(cols / shrink)), max(1, int(rows / shrink))
    fits = points_within_budget(map_, jacobian=True)
    if cols * rows > fits:
        shrink = math.sqrt(cols * rows / fits)
        cols, rows = max(1, int(cols / shrink)), max(1, int(rows / shrink))
    return rows, cols
