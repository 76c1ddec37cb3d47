"""The runtime of a parsed formula: :class:`Formula`, its values and Jacobian on many points.

A Formula is a value (frozen, hashable, safe to share between threads) holding the sympy
expressions and symbolic Jacobian the parser built, and the torch functions compiled from them
once, when it is created. Evaluating it on a grid is then a handful of vectorised tensor
operations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch

from jacviz.math.formula.codegen import compile_torch


def _broadcast(value: Any, like: torch.Tensor) -> torch.Tensor:
    """Give one lambdified output the shape and dtype of ``like``; constants become fills."""
    if isinstance(value, torch.Tensor):
        if value.dtype != like.dtype:
            value = value.to(like.dtype)
        return value if value.shape == like.shape else value.expand(like.shape)
    # Fill in float64 and convert: a float32 fill with 1e300 raises instead of giving inf.
    filled = torch.full(like.shape, float(value), dtype=torch.float64, device=like.device)
    return filled.to(like.dtype)


def _split_points(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(points, torch.Tensor):
        raise TypeError(f"points must be a torch.Tensor, got {type(points).__name__}")
    if points.dim() < 1 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {tuple(points.shape)}")
    if not points.is_floating_point():
        points = points.to(torch.float64)
    return points[..., 0], points[..., 1]


@dataclass(frozen=True)
class Formula:
    """A parsed formula: a map from (x, y) to ``output_dim`` values, with its Jacobian.

    Create one with :func:`parse_formula`. The torch functions are compiled once, when the
    formula is created, so evaluation on a grid is a handful of vectorised tensor operations.

    Attributes
    ----------
    text : str
        The text as the user gave it.
    components : tuple of str
        The user's source text of each output, stripped, e.g. ``("x**2 + y", "x*y")``.
    exprs : tuple of sympy.Expr
        One sympy expression per output, in the real symbols :data:`X` and :data:`Y`.
    symbolic_jacobian : sympy.ImmutableMatrix
        ``output_dim`` x 2 matrix; row i holds d(output i)/dx and d(output i)/dy. Immutable so
        that a Formula stays a value (hashable, safe to share between threads).

    """

    text: str
    components: tuple[str, ...]
    exprs: tuple[sympy.Expr, ...]
    symbolic_jacobian: sympy.ImmutableMatrix
    _values_fn: Callable[..., Any] = field(init=False, repr=False, compare=False)
    _values_and_jacobian_fn: Callable[..., Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        jacobian = sympy.ImmutableMatrix(self.symbolic_jacobian)
        object.__setattr__(self, "symbolic_jacobian", jacobian)
        object.__setattr__(self, "_values_fn", compile_torch(self.exprs))
        object.__setattr__(self, "_values_and_jacobian_fn", compile_torch([*self.exprs, *jacobian]))

    @property
    def output_dim(self) -> int:
        """Number of outputs m (2 for a map of the plane)."""
        return len(self.exprs)

    def jacobian_strings(self) -> list[list[str]]:
        """Return the symbolic Jacobian as text, e.g. ``[["2*x", "1"], ["y", "x"]]``.

        Floats are printed with their shortest form (``0.1``, not ``0.100000000000000``).
        """
        return [list(row) for row in self._jacobian_text]

    @functools.cached_property
    def _jacobian_text(self) -> tuple[tuple[str, ...], ...]:
        # Printing is slow (about 10 ms for the swirl preset) and the probe asks on every
        # mouse move, so print once per formula.
        rows, cols = self.symbolic_jacobian.shape
        return tuple(
            tuple(sympy.sstr(self.symbolic_jacobian[i, j], full_prec=False) for j in range(cols))
            for i in range(rows)
        )

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        """Evaluate the map at many points at once.

        Parameters
        ----------
        points : torch.Tensor
            Shape (N, 2) (any leading shape works), columns x and y; float64 normally. Integer
            tensors are converted to float64.

        Returns
        -------
        torch.Tensor
            Shape (N, m), same dtype and device as ``points``. Constant outputs are broadcast.
            Points outside a function's domain give nan; overflow gives inf. The result is
            differentiable with torch.autograd.

        """
        x, y = _split_points(points)
        values = self._values_fn(x, y)
        return torch.stack([_broadcast(v, x) for v in values], dim=-1)

    def evaluate_with_jacobian(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluate the map and its Jacobian from the closed-form symbolic derivatives.

        Parameters
        ----------
        points : torch.Tensor
            Shape (N, 2), as for :meth:`evaluate`.

        Returns
        -------
        values : torch.Tensor
            Shape (N, m).
        jacobian : torch.Tensor
            Shape (N, m, 2); ``jacobian[k, i, j]`` is d(output i)/d(variable j) at point k.
            Non-smooth points follow torch's conventions: relu'(0) = 0, d/dz max(a, b) = 1/2 at
            a tie, sign' = 0.

        """
        x, y = _split_points(points)
        m = self.output_dim
        flat = [_broadcast(v, x) for v in self._values_and_jacobian_fn(x, y)]
        values = torch.stack(flat[:m], dim=-1)
        rows = [torch.stack(flat[m + 2 * i : m + 2 * i + 2], dim=-1) for i in range(m)]
        return values, torch.stack(rows, dim=-2)
