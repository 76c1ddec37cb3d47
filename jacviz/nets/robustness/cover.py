"""The boundary search's first stage: covering each point's disc until no change can hide.

:func:`~jacviz.nets.robustness.boundary.boundary_distance` starts by cutting the disc around
each point into annular sectors (cells) and labelling each: it holds another class at its
centre (an attained distance, an upper bound on the answer), it is certified free of any class
change by the logit margin there, it is no nearer than the best distance so far, or it is
halved. What is left are the smallest cells that may hold the nearest change
(:class:`Candidates`), which :mod:`~jacviz.nets.robustness.boundary` refines along rays. A
region however thin is found this way, where a march along fixed rays steps over it. Cells
are sectors of discs, so this is the plane's (2 inputs), as is the whole boundary search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TypeVar

import torch
from torch import nn

from jacviz.nets.robustness.balls import lengths, unit
from jacviz.nets.robustness.rays import margin_gradients

__all__ = ["COVER_RINGS", "Candidates", "by_owner", "cover", "nearest_per_owner"]

COVER_RINGS = 8
"""Rings of cells per block of :func:`cover`, outwards: a point is done once it has a change
nearer than the next block, and the first cells of a block bound its memory."""

_SAFETY = 1.5  # the margin's Lipschitz estimate: this x the steepest slope seen around a point
_SMALLEST_CELL = 3e-2  # cells are halved down to this fraction of the best distance so far
_MAX_CELLS = 4096  # cells per point and round of halving: bounds the work on any model


_RowsT = TypeVar("_RowsT", bound="_Rows")


class _Rows:
    """A dataclass of tensors with one row per cell, all indexed together."""

    def take(self: _RowsT, index: torch.Tensor) -> _RowsT:
        """The rows at ``index`` (a mask or indices)."""
        return type(self)(*(getattr(self, field.name)[index] for field in fields(self)))


@dataclass(frozen=True)
class _Cells(_Rows):
    """Annular sectors ``r0 ≤ r ≤ r1``, ``t0 ≤ θ ≤ t1`` around the points ``owner`` indexes."""

    owner: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    t0: torch.Tensor
    t1: torch.Tensor

    @staticmethod
    def grid(points: torch.Tensor, rings: range, ring: float, sectors: int) -> _Cells:
        """``rings`` (indices of rings ``ring`` wide) x ``sectors`` around each of ``points``."""
        # Edges as multiples, not sums, so that neighbours share them exactly: the refinement
        # groups cells whose angle ranges touch into clusters.
        radii = torch.arange(rings.start, rings.stop + 1, dtype=torch.float64) * ring
        turns = torch.arange(sectors + 1, dtype=torch.float64) * (2.0 * math.pi / sectors)
        shape = (len(points), len(rings), sectors)

        def spread(values: torch.Tensor, axis: int) -> torch.Tensor:
            view = [1, 1, 1]
            view[axis] = -1
            return values.reshape(view).expand(shape).reshape(-1)

        return _Cells(
            spread(points, 0),
            spread(radii[:-1], 1),
            spread(radii[1:], 1),
            spread(turns[:-1], 2),
            spread(turns[1:], 2),
        )

    def __len__(self) -> int:
        return len(self.owner)

    @property
    def radius(self) -> torch.Tensor:
        """Distance from the point to the centre: the mid-radius, mid-angle point."""
        return 0.5 * (self.r0 + self.r1)

    @property
    def reach(self) -> torch.Tensor:
        """An upper bound on the distance from the centre to any point of the cell.

        From ``(r_m, θ_m)`` to ``(r, θ)`` the squared distance is ``(r − r_m)² + 4 r r_m
        sin²((θ − θ_m)/2)``, at most its value at ``r = r1`` and the sector's edges.
        """
        quarter = torch.sin(0.25 * (self.t1 - self.t0))
        return torch.sqrt(
            (0.5 * (self.r1 - self.r0)) ** 2 + 4.0 * self.r1 * self.radius * quarter**2
        )

    def offsets(self) -> torch.Tensor:
        """The centres ``(len, 2)`` relative to their points."""
        return self.radius[:, None] * unit(0.5 * (self.t0 + self.t1))

    def halves(self) -> _Cells:
        """Each cell cut in two across its longer side (its radial length or mid-radius arc)."""
        radial = (self.r1 - self.r0) >= self.radius * (self.t1 - self.t0)
        r_mid, t_mid = self.radius, 0.5 * (self.t0 + self.t1)
        return _Cells(
            self.owner.repeat(2),
            torch.cat([self.r0, torch.where(radial, r_mid, self.r0)]),
            torch.cat([torch.where(radial, r_mid, self.r1), self.r1]),
            torch.cat([self.t0, torch.where(radial, self.t0, t_mid)]),
            torch.cat([torch.where(radial, self.t1, t_mid), self.t1]),
        )


@dataclass(frozen=True)
class Candidates(_Rows):
    """The smallest cells that may hold their point's nearest change, as :func:`cover` left them.

    ``owner`` (the point's index), ``r0``, ``r1``, ``t0`` and ``t1`` are the cells' (as for
    the annular sectors of the cover); ``offset`` is the centre relative to its point, with the
    margin and its gradient there.
    """

    owner: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    t0: torch.Tensor
    t1: torch.Tensor
    offset: torch.Tensor
    margin: torch.Tensor
    gradient: torch.Tensor

    @staticmethod
    def concat(parts: list[Candidates]) -> Candidates:
        """All candidates of ``parts`` in one."""
        return Candidates(
            *(torch.cat([getattr(part, f.name) for part in parts]) for f in fields(Candidates))
        )


def by_owner(owner: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """The order that sorts entries by ``owner``, then by ``key`` (both stable)."""
    order = torch.argsort(key, stable=True)
    return order[torch.argsort(owner[order], stable=True)]


def nearest_per_owner(owner: torch.Tensor, key: torch.Tensor, cap: int) -> torch.Tensor:
    """Indices of at most ``cap`` entries per owner: those with the smallest ``key``."""
    order = by_owner(owner, key)
    ranked = owner[order]
    rank = torch.arange(len(order)) - torch.searchsorted(ranked, ranked)
    return order[rank < cap]


def cover(
    model: nn.Module,
    dtype: torch.dtype,
    origins: torch.Tensor,
    classes: torch.Tensor,
    max_radius: float,
    sectors: int,
    rings: int,
) -> tuple[torch.Tensor, Candidates]:
    """Cover each point's disc with cells until no class change can hide nearer than found.

    The disc of radius ``max_radius`` is cut into ``rings`` x ``sectors`` annular sectors,
    visited :data:`COVER_RINGS` rings at a time outwards. A cell whose centre has another class
    gives an attained distance (its centre's). A cell whose centre keeps the class with a
    margin above its reach times the margin's Lipschitz constant cannot hold a change: it is
    done. So is a cell no nearer than the best distance so far. Every other cell is halved,
    until it is smaller than ``_SMALLEST_CELL`` of that distance: such cells are where the
    nearest change can lie. No region, however thin, hides between samples.

    The Lipschitz constant is estimated as ``_SAFETY`` times the steepest margin seen so far
    around the point (at the centres of all its cells); a margin flat everywhere it was
    sampled and steep only inside one cell can still fool it.

    Returns, per point, the distance of the nearest other-class centre (``inf``: none within
    ``max_radius``) and the smallest cells nearer than it (``owner`` indexing the points).
    """
    p = len(origins)
    ring = max_radius / rings
    best = torch.full((p,), torch.inf, dtype=torch.float64)
    witness = torch.full((p, 2), torch.inf, dtype=torch.float64)  # offset of the best's centre
    lipschitz = torch.zeros(p, dtype=torch.float64)
    # Cells below a few ulps of the model's dtype would only sample the same inputs again.
    ulp = 16.0 * torch.finfo(dtype).eps
    size = origins.abs().amax(dim=1)
    candidates = []
    pending = torch.arange(p)
    for first in range(0, rings, COVER_RINGS):
        if len(pending) == 0:
            break
        cells = _Cells.grid(pending, range(first, min(first + COVER_RINGS, rings)), ring, sectors)
        while len(cells):
            offsets = cells.offsets()
            owner = cells.owner
            margin, gradient, found = margin_gradients(
                model, dtype, origins[owner] + offsets, classes[owner]
            )
            other = found != classes[owner]
            radius = cells.radius
            best.scatter_reduce_(0, owner[other], radius[other], "amin")
            nearest = other & (radius == best[owner])
            witness[owner[nearest]] = offsets[nearest]
            slope = lengths(gradient)
            slope = torch.where(torch.isfinite(slope), slope, torch.inf)  # nothing certifiable
            # The margin falls from m here to <= 0 at the nearest witness: it is at least that
            # steep on average, even where it jumps (to NaN, say) and its gradient says nothing.
            secant = margin / lengths(offsets - witness[owner])
            slope = torch.maximum(slope, torch.where(secant > 0, secant, 0.0))
            lipschitz.scatter_reduce_(0, owner, _SAFETY * slope, "amax")
            reach = cells.reach
            certified = ~other & (margin > lipschitz[owner] * reach)  # False for NaN margins
            # A point whose own logits are not finite has no margin: nothing to certify or halve.
            unknown = ~other & torch.isnan(margin)
            open_ = ~(certified | unknown | (cells.r0 >= best[owner]))
            scale = torch.where(torch.isfinite(best), best, ring)[owner]
            resolution = ulp * (size[owner] + cells.r1)
            small = reach <= torch.maximum(_SMALLEST_CELL * scale, resolution)
            last = open_ & small
            candidates.append(
                Candidates(
                    owner[last], cells.r0[last], cells.r1[last], cells.t0[last], cells.t1[last],
                    offsets[last], margin[last], gradient[last],
                )
            )  # fmt: skip
            cells = cells.take(open_ & ~small).halves()
            cells = cells.take(nearest_per_owner(cells.owner, cells.r0, _MAX_CELLS))
        pending = pending[best[pending] > first * ring + COVER_RINGS * ring]
    found = Candidates.concat(candidates)
    return best, found.take(found.r0 < best[found.owner])
