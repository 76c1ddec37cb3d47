"""Jacobians of any batched torch function by reverse-mode autograd, chunk by chunk.

The generic route: formula maps, models with custom layers and anything else the MLP walker
(:mod:`~jacviz.math.jacobian.walker`) cannot read get their Jacobians here, one forward pass and
one backward pass per output per chunk.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from jacviz.math.jacobian.inputs import CHUNK_SIZE, as_points, check_chunk_size

__all__ = ["autograd_jacobian"]


def autograd_jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor],
    points: torch.Tensor,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate a batched torch function and its per-point Jacobians by reverse-mode autograd.

    The generic fallback for maps that :func:`~jacviz.math.jacobian.sequential_jacobian` cannot
    walk (formula maps, models with custom layers). Per chunk it runs one forward pass and ``m``
    backward passes, the fastest generic method measured on this machine (``vmap(jacrev)`` and
    forward mode were 1.5-3x slower).

    Parameters
    ----------
    fn : callable
        Maps an ``(B, n)`` tensor to an ``(B, m)`` tensor (a 1-D ``(B,)`` output is read as
        ``m == 1``). Output row ``i`` must depend only on input row ``i``: the Jacobian rows are
        read off the gradients of column sums, which would otherwise mix points.
    points : torch.Tensor
        ``(N, n)`` evaluation points. Integer input is converted to the default float dtype.
    chunk_size : int, optional
        Points per forward/backward pass.

    Returns
    -------
    values : torch.Tensor
        ``(N, m)`` function values, detached.
    jacobian : torch.Tensor
        ``(N, m, n)`` Jacobians ``d values[i] / d points[i]``, detached, in the dtype of the
        points (the dtype autograd produces gradients in).

    Notes
    -----
    Works inside a caller's ``torch.no_grad()`` or ``torch.inference_mode()`` block (grad mode is
    switched on locally; inference-mode points are cloned into normal tensors), never touches the
    ``.grad`` of any parameter and keeps no graph alive after returning. Outputs that do not depend
    on the input get zero Jacobian rows.

    """
    chunk_size = check_chunk_size(chunk_size)
    pts = as_points(points)
    num, n = pts.shape
    values: torch.Tensor | None = None
    jac: torch.Tensor | None = None
    # inference_mode(False) lets the function build a graph even if the caller is in inference mode.
    with torch.inference_mode(False), torch.enable_grad():
        # Always run at least one (possibly empty) chunk so the output width m is known.
        for start in range(0, max(num, 1), chunk_size):
            x = pts[start : start + chunk_size].clone().requires_grad_(True)
            y = fn(x)
            if y.ndim == 1:
                y = y.unsqueeze(1)
            if y.ndim != 2 or y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"fn must map (B, n) to (B, m); got {tuple(x.shape)} -> {tuple(y.shape)}"
                )
            m = y.shape[1]
            if values is None:
                values = torch.empty((num, m), dtype=y.dtype, device=y.device)
                jac = torch.empty((num, m, n), dtype=x.dtype, device=x.device)
            assert jac is not None
            stop = start + x.shape[0]
            values[start:stop] = y.detach()
            if not y.requires_grad:  # constant map
                jac[start:stop] = 0
                continue
            ones = torch.ones(x.shape[0], dtype=y.dtype, device=y.device)
            for i in range(m):
                (grad,) = torch.autograd.grad(
                    y[:, i], x, grad_outputs=ones, retain_graph=i < m - 1, allow_unused=True
                )
                jac[start:stop, i] = 0 if grad is None else grad
    assert values is not None and jac is not None
    return values, jac
