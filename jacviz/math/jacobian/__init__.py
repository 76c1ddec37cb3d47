"""Batched Jacobian fields of 2D maps and small torch networks.

Everything the heatmaps and overlays show about the local linear map ``J(x)`` comes from here,
one module per idea:

- :mod:`~jacviz.math.jacobian.walker`: the MLP walker, which reads a torch model as a chain of
  Linear layers and elementwise activations (shared with the layer views and the trainer);
- :mod:`~jacviz.math.jacobian.sequential`: Jacobians of walkable models by forward tangents
  pushed through that chain (:func:`sequential_jacobian`, and :func:`sequential_values`);
- :mod:`~jacviz.math.jacobian.small`: the same walk in numpy for a few points at a time (a
  probe move), where torch's per-op launches would cost more than the arithmetic;
- :mod:`~jacviz.math.jacobian.autograd`: Jacobians of anything else by reverse-mode autograd
  (:func:`autograd_jacobian`);
- :mod:`~jacviz.math.jacobian.closed_forms`: determinants and singular values of 2-column
  Jacobians in closed forms that stay accurate near singular points and for badly scaled
  entries (:func:`determinant`, :func:`singular_values`);
- :mod:`~jacviz.math.jacobian.field`: :class:`JacobianField`, the Jacobians on a set of points
  with the per-point quantities of :data:`HEATMAP_QUANTITIES`;
- :mod:`~jacviz.math.jacobian.inputs`: the checks and conversions they share, and
  :data:`CHUNK_SIZE`.

The closed forms and fields are numpy and import no torch; the torch routes (``autograd``,
``sequential``, ``walker``) are imported on first use of their names here, so that a formula
map never loads torch. The torch routes work chunk by chunk: on this machine tensors above
~32 MB page-fault on every call, so chunks of ~2048 points are 2-4x faster than one big batch
(see ``PERF_NOTES.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jacviz.math.jacobian.closed_forms import determinant, singular_values
from jacviz.math.jacobian.field import HEATMAP_QUANTITIES, JacobianField
from jacviz.math.jacobian.inputs import CHUNK_SIZE

if TYPE_CHECKING:
    from jacviz.math.jacobian.autograd import autograd_jacobian
    from jacviz.math.jacobian.sequential import sequential_jacobian, sequential_values

_TORCH_ROUTES = {
    "autograd_jacobian": "jacviz.math.jacobian.autograd",
    "sequential_jacobian": "jacviz.math.jacobian.sequential",
    "sequential_values": "jacviz.math.jacobian.sequential",
}

__all__ = [
    "CHUNK_SIZE",
    "HEATMAP_QUANTITIES",
    "JacobianField",
    "autograd_jacobian",
    "determinant",
    "sequential_jacobian",
    "sequential_values",
    "singular_values",
]


def __getattr__(name: str) -> Any:
    """The torch routes, imported (with torch) the first time one is asked for."""
    module = _TORCH_ROUTES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
