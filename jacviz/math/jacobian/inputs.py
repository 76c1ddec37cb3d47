"""What the Jacobian routes accept: points, chunk sizes and real arrays, checked and converted.

Both Jacobian routes (:mod:`~jacviz.math.jacobian.autograd` and the forward tangents of
:mod:`~jacviz.math.jacobian.sequential`) take ``(N, n)`` points and work chunk by chunk, and the
closed forms and fields take numpy arrays or CPU tensors; the checks live here so that every
entry point raises the same errors for the same mistakes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["CHUNK_SIZE", "as_points", "as_real_array", "check_chunk_size"]

CHUNK_SIZE: int = 2048
"""Points per chunk. For the 2-64-64-64-2 MLP at 256**2, 2048 and 4096 measured within noise of
each other, 1024 and 8192 5-10 % slower; 2048 keeps the two stacked value+tangent buffers
(2 x 3 x 2048 x 64 float32) near the 2 MB L2 cache. On this machine tensors above ~32 MB
page-fault on every call, so chunks are 2-4x faster than one big batch (see ``PERF_NOTES.md``)."""


def check_chunk_size(chunk_size: int) -> int:
    """Return ``chunk_size`` as an int; ValueError unless it is a positive integer."""
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    return chunk_size


def as_points(points: Any, dtype: torch.dtype | None = None, device: Any = None) -> torch.Tensor:
    """Return ``points`` as a detached 2-D floating tensor (converted to ``dtype``/``device``).

    Integer points become the default float dtype when no ``dtype`` is asked for; anything but
    an ``(N, n)`` array raises ValueError.
    """
    import torch

    pts = torch.as_tensor(points).detach()
    if pts.ndim != 2:
        raise ValueError(f"points must have shape (N, n), got {tuple(pts.shape)}")
    if dtype is None and not pts.is_floating_point():
        dtype = torch.get_default_dtype()
    return pts.to(dtype=dtype or pts.dtype, device=device or pts.device)


def as_real_array(array: Any) -> np.ndarray:
    """Return a numpy array (a CPU copy of a tensor) of a real dtype; TypeError otherwise.

    Never imports torch: without torch loaded, ``array`` cannot be a tensor.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    out = np.asarray(array)
    if out.dtype.kind not in "fiub":
        raise TypeError(f"expected a real array, got dtype {out.dtype}")
    return out
