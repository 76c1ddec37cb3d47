"""The runtime of a parsed formula: :class:`Formula`, its values and Jacobian on many points.

A Formula is a value (frozen, hashable, safe to share between threads) holding the sympy
expressions and symbolic Jacobian the parser built, and the numpy functions compiled from them
once, when it is created. Evaluating it on a grid is then a handful of vectorised float64
operations. Given torch tensors it answers in torch (differentiable by autograd), compiling
the torch functions on first use; nothing here imports torch before that.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import sympy

from jacviz.math.formula.numpy_backend import compile_numpy

if TYPE_CHECKING:
    import torch

_torch_lock = threading.Lock()  # compiles the torch functions of a formula once


def _is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor, without importing torch (no tensor exists without)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _split_array(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray(points)
    if array.ndim < 1 or array.shape[-1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {array.shape}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"points must be real numbers, got dtype {array.dtype}")
    # Contiguous float64 columns: numpy's elementwise loops on strided views are slower.
    return (
        np.ascontiguousarray(array[..., 0], dtype=np.float64),
        np.ascontiguousarray(array[..., 1], dtype=np.float64),
    )


def _split_tensor(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    if points.dim() < 1 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {tuple(points.shape)}")
    if not points.is_floating_point():
        points = points.to(torch.float64)
    return points[..., 0], points[..., 1]


def _broadcast_tensor(value: Any, like: torch.Tensor) -> torch.Tensor:
    """Give one lambdified output the shape and dtype of ``like``; constants become fills."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.dtype != like.dtype:
            value = value.to(like.dtype)
        return value if value.shape == like.shape else value.expand(like.shape)
    # Fill in float64 and convert: a float32 fill with 1e300 raises instead of giving inf.
    filled = torch.full(like.shape, float(value), dtype=torch.float64, device=like.device)
    return filled.to(like.dtype)


def _fill(out: np.ndarray, columns: Sequence[Any]) -> np.ndarray:
    """Write ``columns`` (arrays or constants, broadcast) into the last axis of ``out``."""
    for index, column in enumerate(columns):
        out[..., index] = column
    return out


@dataclass(frozen=True)
class Formula:
    """A parsed formula: a map from (x, y) to ``output_dim`` values, with its Jacobian.

    Create one with :func:`parse_formula`. The numpy functions are compiled once, when the
    formula is created, so evaluation on a grid is a handful of vectorised operations.

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
    _torch_fns: list[Callable[..., Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        jacobian = sympy.ImmutableMatrix(self.symbolic_jacobian)
        object.__setattr__(self, "symbolic_jacobian", jacobian)
        object.__setattr__(self, "_values_fn", compile_numpy(self.exprs))
        object.__setattr__(self, "_values_and_jacobian_fn", compile_numpy(self._flat_exprs))
        object.__setattr__(self, "_torch_fns", [])  # compiled on first use: (values, both)

    @property
    def _flat_exprs(self) -> list[sympy.Expr]:
        """The outputs, then the Jacobian's entries row by row."""
        return [*self.exprs, *self.symbolic_jacobian]

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

    def _torch(self) -> list[Callable[..., Any]]:
        """The torch functions (values; values and Jacobian), compiled once, on first use."""
        with _torch_lock:
            if not self._torch_fns:
                from jacviz.math.formula.torch_backend import compile_torch

                self._torch_fns.extend([compile_torch(self.exprs), compile_torch(self._flat_exprs)])
            return self._torch_fns

    @overload
    def evaluate(self, points: np.ndarray) -> np.ndarray: ...

    @overload
    def evaluate(self, points: torch.Tensor) -> torch.Tensor: ...

    def evaluate(self, points: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Evaluate the map at many points at once.

        Parameters
        ----------
        points : numpy.ndarray or torch.Tensor
            Shape (N, 2) (any leading shape works), columns x and y. An array is computed in
            float64 numpy; a tensor in torch, in its own dtype (integer tensors become
            float64) and differentiable with torch.autograd.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Shape (N, m): a float64 array for an array, a tensor of the points' dtype and
            device for a tensor. Constant outputs are broadcast. Points outside a function's
            domain give nan; overflow gives inf.

        """
        if _is_tensor(points):
            import torch

            x, y = _split_tensor(points)
            values = self._torch()[0](x, y)
            return torch.stack([_broadcast_tensor(v, x) for v in values], dim=-1)
        x, y = _split_array(points)
        out = np.empty((*x.shape, self.output_dim))
        return _fill(out, self._values_fn(x, y))

    @overload
    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @overload
    def evaluate_with_jacobian(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def evaluate_with_jacobian(
        self, points: np.ndarray | torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor]:
        """Evaluate the map and its Jacobian from the closed-form symbolic derivatives.

        Parameters
        ----------
        points : numpy.ndarray or torch.Tensor
            Shape (N, 2), as for :meth:`evaluate` (arrays in numpy, tensors in torch).

        Returns
        -------
        values : numpy.ndarray or torch.Tensor
            Shape (N, m).
        jacobian : numpy.ndarray or torch.Tensor
            Shape (N, m, 2); ``jacobian[k, i, j]`` is d(output i)/d(variable j) at point k.
            Non-smooth points follow torch's conventions: relu'(0) = 0, d/dz max(a, b) = 1/2 at
            a tie, sign' = 0.

        """
        m = self.output_dim
        if _is_tensor(points):
            import torch

            x, y = _split_tensor(points)
            flat = [_broadcast_tensor(v, x) for v in self._torch()[1](x, y)]
            values = torch.stack(flat[:m], dim=-1)
            rows = [torch.stack(flat[m + 2 * i : m + 2 * i + 2], dim=-1) for i in range(m)]
            return values, torch.stack(rows, dim=-2)
        x, y = _split_array(points)
        flat = self._values_and_jacobian_fn(x, y)
        values = _fill(np.empty((*x.shape, m)), flat[:m])
        jacobian = _fill(np.empty((*x.shape, 2 * m)), flat[m:])
        return values, jacobian.reshape(*x.shape, m, 2)
