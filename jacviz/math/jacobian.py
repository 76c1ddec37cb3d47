"""Batched Jacobian fields of 2D maps and small torch networks.

Everything the heatmaps and overlays show about the local linear map ``J(x)`` comes from here: the
Jacobians themselves (by hand-pushed forward tangents for plain MLPs, by reverse-mode autograd for
anything else) and the per-point quantities derived from them (determinant, singular values,
Frobenius norm, condition number), computed with closed forms that stay accurate near singular
points and for badly scaled entries.

The torch helpers work chunk by chunk: on this machine tensors above ~32 MB page-fault on every
call, so chunks of ~2048 points are 2-4x faster than one big batch (see ``PERF_NOTES.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "CHUNK_SIZE",
    "HEATMAP_QUANTITIES",
    "JacobianField",
    "autograd_jacobian",
    "determinant",
    "sequential_jacobian",
    "singular_values",
]

CHUNK_SIZE: int = 2048
"""Points per chunk. For the 2-64-64-64-2 MLP at 256**2, 2048 and 4096 measured within noise of
each other, 1024 and 8192 5-10 % slower; 2048 keeps the two stacked value+tangent buffers
(2 x 3 x 2048 x 64 float32) near the 2 MB L2 cache."""

HEATMAP_QUANTITIES: dict[str, str] = {
    "det": "det J",
    "logdet": "log |det J|",
    "smax": "largest singular value σ₁",
    "smin": "smallest singular value σ₂",
    "cond": "condition number σ₁/σ₂",
    "frob": "Frobenius norm ‖J‖_F",
}
"""Per-point scalar fields a heatmap can show: key -> human-readable label."""

_aten = torch.ops.aten

# Veltkamp's splitting constant 2**27 + 1: splits a float64 into two halves of 26 bits so that
# products of halves are exact (Dekker's TwoProduct, used for cancellation-free determinants).
_SPLIT = 134217729.0
_TINY = float(np.finfo(np.float64).tiny)


# ----------------------------------------------------------------------------------------------
# Generic Jacobians by reverse-mode autograd
# ----------------------------------------------------------------------------------------------


def _check_chunk_size(chunk_size: int) -> int:
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    return chunk_size


def _as_points(points: Any, dtype: torch.dtype | None = None, device: Any = None) -> torch.Tensor:
    """Return ``points`` as a detached 2-D floating tensor (converted to ``dtype``/``device``)."""
    pts = torch.as_tensor(points).detach()
    if pts.ndim != 2:
        raise ValueError(f"points must have shape (N, n), got {tuple(pts.shape)}")
    if dtype is None and not pts.is_floating_point():
        dtype = torch.get_default_dtype()
    return pts.to(dtype=dtype or pts.dtype, device=device or pts.device)


def autograd_jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor],
    points: torch.Tensor,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate a batched torch function and its per-point Jacobians by reverse-mode autograd.

    The generic fallback for maps that :func:`sequential_jacobian` cannot walk (formula maps, models
    with custom layers). Per chunk it runs one forward pass and ``m`` backward passes, the fastest
    generic method measured on this machine (``vmap(jacrev)`` and forward mode were 1.5-3x slower).

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
    chunk_size = _check_chunk_size(chunk_size)
    pts = _as_points(points)
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


# ----------------------------------------------------------------------------------------------
# Forward tangents pushed through chains of Linear layers and elementwise activations
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LinearStep:
    weight_t: torch.Tensor  # (in, out): a transposed *view* of the weight; see sequential_jacobian
    bias: torch.Tensor | None

    @property
    def in_features(self) -> int:
        return self.weight_t.shape[0]

    @property
    def out_features(self) -> int:
        return self.weight_t.shape[1]


@dataclass(frozen=True)
class _ActivationStep:
    # Applies the activation in place to the (B, w) pre-activation values.
    forward_: Callable[[torch.Tensor], Any]
    # Either from_result(tangents, output, out=...) computing tangents * f'(x) from f(x) ...
    from_result: Callable[..., Any] | None = None
    # ... or derivative(ones, x, out=...) computing f'(x) from the pre-activation x.
    derivative: Callable[..., Any] | None = None
    # A faster equivalent ufunc for float32/float64 CPU tensors, applied in place via .numpy().
    numpy_forward: np.ufunc | None = None


def _activation_step(module: nn.Module) -> _ActivationStep | None:
    """Return the in-place forward and derivative of a supported activation module, else None.

    Derivatives use torch's own backward kernels, so the tangents agree with autograd to rounding
    (including the conventions at kinks: ReLU'(0) = 0, ELU'(0) = alpha, LeakyReLU'(0) = slope).
    """
    kind = type(module)
    if kind is nn.Tanh:
        # torch.tanh is the bottleneck of these MLPs on this CPU: 145 us per 2048 x 64 float32
        # block (2 threads) against 24 us for numpy's SIMD tanh (1 thread), which is accurate to
        # 1.4 ulp (torch: 0.5 ulp); for float64 280 us against 113 us.
        return _ActivationStep(
            torch.tanh_, from_result=_aten.tanh_backward.grad_input, numpy_forward=np.tanh
        )
    if kind is nn.Sigmoid:
        return _ActivationStep(torch.sigmoid_, from_result=_aten.sigmoid_backward.grad_input)
    if kind is nn.ReLU:
        return _ActivationStep(
            torch.relu_,
            derivative=lambda g, x, out: _aten.threshold_backward.grad_input(
                g, x, 0, grad_input=out
            ),
        )
    if kind is nn.LeakyReLU:
        slope = float(module.negative_slope)
        return _ActivationStep(
            lambda x: _aten.leaky_relu_(x, slope),
            derivative=lambda g, x, out: _aten.leaky_relu_backward.grad_input(
                g, x, slope, False, grad_input=out
            ),
        )
    if kind is nn.ELU:
        alpha = float(module.alpha)
        return _ActivationStep(
            lambda x: _aten.elu_(x, alpha),
            derivative=lambda g, x, out: _aten.elu_backward.grad_input(
                g, alpha, 1, 1, False, x, grad_input=out
            ),
        )
    if kind is nn.Softplus:
        beta, threshold = float(module.beta), float(module.threshold)
        return _ActivationStep(
            lambda x: _aten.softplus.out(x, beta, threshold, out=x),
            derivative=lambda g, x, out: _aten.softplus_backward.grad_input(
                g, x, beta, threshold, grad_input=out
            ),
        )
    if kind is nn.GELU:
        approximate = str(module.approximate)
        return _ActivationStep(
            lambda x: _aten.gelu_(x, approximate=approximate),
            derivative=lambda g, x, out: _aten.gelu_backward.grad_input(
                g, x, approximate=approximate, grad_input=out
            ),
        )
    if kind is nn.SiLU:
        return _ActivationStep(
            _aten.silu_,
            derivative=lambda g, x, out: _aten.silu_backward.grad_input(g, x, grad_input=out),
        )
    return None


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _walk(module: nn.Module, steps: list[_LinearStep | _ActivationStep]) -> bool:
    """Append the steps of ``module`` to ``steps``; False if some layer cannot be walked.

    Types are matched exactly (not with isinstance) because a subclass may override ``forward``;
    modules with forward hooks are refused because the hooks could change the output.
    """
    if _has_hooks(module):
        return False
    kind = type(module)
    if kind is nn.Sequential:
        return all(_walk(child, steps) for child in module)
    if kind is nn.Linear:
        weight = module.weight.detach()
        bias = None if module.bias is None else module.bias.detach()
        # A transposed view, not a contiguous copy: MKL's (B, 64) @ (64, 2) is ~4x faster with the
        # transposed-B flag than with a contiguous (64, 2) matrix (measured).
        steps.append(_LinearStep(weight.t(), bias))
        return True
    if kind is nn.Identity:
        return True
    if kind is nn.Flatten:
        # On (B, n) input, flattening dims 1..1 is the identity; other dims would change the shape.
        return module.start_dim in (1, -1) and module.end_dim in (1, -1)
    step = _activation_step(module)
    if step is None:
        return False
    steps.append(step)
    return True


def _plan(model: nn.Module) -> list[_LinearStep | _ActivationStep] | None:
    """Flatten ``model`` into Linear and activation steps, or None when it cannot be walked."""
    global_hooks = (
        getattr(torch.nn.modules.module, "_global_forward_hooks", None),
        getattr(torch.nn.modules.module, "_global_forward_pre_hooks", None),
    )
    if any(global_hooks):
        return None
    steps: list[_LinearStep | _ActivationStep] = []
    if not _walk(model, steps):
        return None
    return steps


def _walkable(
    model: torch.nn.Module, points: torch.Tensor
) -> tuple[list[_LinearStep | _ActivationStep], torch.Tensor] | None:
    """The model's steps and the points in its dtype and device; None if it cannot be walked.

    Raises ValueError if the parameters mix dtypes or devices.
    """
    steps = _plan(model)
    if steps is None:
        return None
    params = list(model.parameters())
    if len({(p.dtype, p.device) for p in params}) > 1:
        raise ValueError("model parameters mix dtypes or devices; cannot choose one to compute in")
    pts = _as_points(points, params[0].dtype, params[0].device) if params else _as_points(points)
    return steps, pts


def _numpy_ok(pts: torch.Tensor) -> bool:
    """Whether numpy's ufuncs can work in place on ``pts``'s memory (CPU float32/64)."""
    return pts.device.type == "cpu" and pts.dtype in (torch.float32, torch.float64)


def sequential_jacobian(
    model: torch.nn.Module,
    points: torch.Tensor,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Evaluate a chain of Linear layers and activations and its Jacobians by forward tangents.

    The fast path for the small MLPs jacviz trains and shows: the ``n`` input tangent directions
    travel through the layers next to the values (Linear -> multiply by ``W``; activation ->
    multiply by its derivative). For a float32 2-64-64-64-2 tanh MLP on this machine it costs
    1.1-1.3x the model's own forward pass (1.65-1.9x with torch's tanh, which is 6x slower than
    numpy's here), against 2.1-2.4x for :func:`autograd_jacobian`.

    Parameters
    ----------
    model : torch.nn.Module
        ``nn.Sequential`` (possibly nested) of ``nn.Linear``, ``nn.Tanh``, ``nn.ReLU``,
        ``nn.Sigmoid``, ``nn.Softplus`` (beta and threshold honoured), ``nn.GELU`` (both
        approximations), ``nn.ELU``, ``nn.LeakyReLU``, ``nn.SiLU``, ``nn.Identity`` and
        ``nn.Flatten`` (as the identity on 2-D input), or a single such layer. Subclasses and
        modules with forward hooks count as unknown.
    points : torch.Tensor
        ``(N, n)`` evaluation points; converted to the model's parameter dtype and device (the
        points' own dtype when the model has no parameters). Never modified.
    chunk_size : int, optional
        Points per chunk.

    Returns
    -------
    tuple of torch.Tensor or None
        ``values`` ``(N, m)`` and ``jacobian`` ``(N, m, n)``, contiguous, without autograd history,
        in the parameter dtype; ``values`` equal ``model(points)`` up to rounding. None when the
        model contains a layer that cannot be walked, so callers fall back to
        :func:`autograd_jacobian`.

    Raises
    ------
    ValueError
        If ``points`` is not 2-D or its width does not match the first Linear layer, or the
        model's parameters mix dtypes or devices.

    Notes
    -----
    Values and tangents are stacked in one ``(n + 1, B, width)`` buffer, so every hidden Linear is
    one ``addmm`` for the value rows plus one ``mm`` for all tangent rows; the first Linear's
    tangents are the columns of its weight (constant over points, never multiplied); activations
    run in place and scale the tangents with torch's fused backward kernels (``tanh_backward``
    reuses the computed output: ``1 - y**2``). Buffers and views are built once per call, so the
    chunk loop only launches arithmetic. Tanh values come from numpy's tanh on CPU float32/64
    (<= 1.4 ulp against torch's 0.5 ulp), so values may differ from ``model(points)`` by an ulp
    of the activations.

    """
    chunk_size = _check_chunk_size(chunk_size)
    walk = _walkable(model, points)
    if walk is None:
        return None
    steps, pts = walk
    num, n = pts.shape
    dtype, device = pts.dtype, pts.device

    # Static shape pass: widths, and where the tangents stop being constant over points.
    width = max_width = n
    first_activation = len(steps)
    for index, step in enumerate(steps):
        if isinstance(step, _LinearStep):
            if step.in_features != width:
                raise ValueError(
                    f"linear layer expects {step.in_features} input features but gets {width}"
                    + (" (the points' width)" if index == 0 else "")
                )
            width = step.out_features
            max_width = max(max_width, width)
        else:
            first_activation = min(first_activation, index)
    m = width

    # Outputs are allocated outside inference mode so callers get normal tensors.
    values_out = torch.empty((num, m), dtype=dtype, device=device)
    jac_out = torch.empty((num, m, n), dtype=dtype, device=device)
    if num == 0:
        return values_out, jac_out

    with torch.inference_mode():
        _push_tangents(steps, pts, first_activation, max_width, chunk_size, values_out, jac_out)
    return values_out, jac_out


def sequential_values(
    model: torch.nn.Module, points: torch.Tensor, chunk_size: int = CHUNK_SIZE
) -> torch.Tensor | None:
    """The values of a walkable chain of layers, as :func:`sequential_jacobian` computes them.

    The same walk without the tangents: each Linear is one ``addmm`` and each activation runs
    in place, tanh through numpy's (about 6x faster than torch's on this CPU, within 1.4 ulp).
    The views of the app (grids, decision regions, hover points) evaluate networks this way:
    for a 2-32-32-3 tanh MLP on a 256² grid it took the lab's region pictures from 37 ms to
    28 ms. Returns None when the model cannot be walked (callers then run the module).
    ``points`` is never modified; the result is in the parameters' dtype.
    """
    chunk_size = _check_chunk_size(chunk_size)
    walk = _walkable(model, points)
    if walk is None:
        return None
    steps, pts = walk
    numpy_ok = _numpy_ok(pts)
    chunks = []
    with torch.inference_mode():
        for chunk in pts.split(chunk_size):
            x, fresh = chunk, False  # fresh: x is ours to overwrite in place
            for step in steps:
                if isinstance(step, _LinearStep):
                    if step.in_features != x.shape[1]:
                        raise ValueError(
                            f"linear layer expects {step.in_features} input features but gets "
                            f"{x.shape[1]}"
                        )
                    x = (
                        x @ step.weight_t
                        if step.bias is None
                        else torch.addmm(step.bias, x, step.weight_t)
                    )
                    fresh = True
                    continue
                if not fresh:
                    x, fresh = x.clone(), True
                if step.numpy_forward is not None and numpy_ok:
                    array = x.numpy()
                    step.numpy_forward(array, out=array)
                else:
                    step.forward_(x)
            chunks.append(x if fresh else x.clone())
    if not chunks:
        width = next((s.out_features for s in reversed(steps) if isinstance(s, _LinearStep)), 0)
        return torch.empty((0, width or pts.shape[1]), dtype=pts.dtype, device=pts.device)
    return torch.cat(chunks)


def _push_tangents(
    steps: list[_LinearStep | _ActivationStep],
    pts: torch.Tensor,
    first_activation: int,
    max_width: int,
    chunk_size: int,
    values_out: torch.Tensor,
    jac_out: torch.Tensor,
) -> None:
    """Chunk loop of :func:`sequential_jacobian`; writes into ``values_out`` and ``jac_out``."""
    num = pts.shape[0]
    m = values_out.shape[1]
    chunk_size = min(chunk_size, num)
    derivatives = any(isinstance(s, _ActivationStep) and s.derivative for s in steps)
    workspace = _Workspace(pts, chunk_size, max_width, m, derivatives)
    full = _Program(steps, chunk_size, first_activation, workspace)
    rest = num % chunk_size
    tail = _Program(steps, rest, first_activation, workspace) if rest else full
    for start in range(0, num, chunk_size):
        stop = min(start + chunk_size, num)
        program = full if stop - start == chunk_size else tail
        program.run(pts[start:stop], values_out[start:stop], jac_out[start:stop])


class _Workspace:
    """Buffers shared by the programs of one call: two ping-pong blocks and scratch space."""

    def __init__(
        self, pts: torch.Tensor, chunk_size: int, max_width: int, m: int, derivatives: bool
    ) -> None:
        self.n = pts.shape[1]
        kwargs = {"dtype": pts.dtype, "device": pts.device}
        size = (self.n + 1) * chunk_size * max_width
        self.blocks = [torch.empty(size, **kwargs), torch.empty(size, **kwargs)]
        # f'(x) and the unit "gradient" it is computed from, for activations without a fused
        # from-result backward (all but tanh and sigmoid).
        scratch = chunk_size * max_width if derivatives else 0
        self.deriv = torch.empty(scratch, **kwargs)
        self.ones = torch.ones(scratch, **kwargs)
        self.tangents_out = torch.empty(self.n * chunk_size * m, **kwargs)
        self.eye = torch.eye(self.n, **kwargs).unsqueeze(1)
        self.numpy_ok = _numpy_ok(pts)

    def block(self, index: int, size: int, width: int) -> torch.Tensor:
        """(n + 1, size, width) view: row block 0 holds values, blocks 1..n the tangents."""
        rows = self.n + 1
        return self.blocks[index][: rows * size * width].view(rows, size, width)

    def scratch(self, flat: torch.Tensor, size: int, width: int) -> torch.Tensor:
        return flat[: size * width].view(size, width)


class _Program:
    """The tensor operations for chunks of one size, with every view built once.

    Slicing and viewing cost ~1 us each in Python; prebuilding them keeps the per-chunk loop to
    the arithmetic itself (it measured ~4 % of the forward-pass time otherwise).
    """

    def __init__(
        self,
        steps: list[_LinearStep | _ActivationStep],
        size: int,
        first_activation: int,
        work: _Workspace,
    ) -> None:
        n = work.n
        self.ops: list[Callable[[], Any]] = []
        self.take_input: Callable[[torch.Tensor], Any] | None = None
        values: torch.Tensor | None = None  # None: the chunk's points themselves (read-only)
        # Tangents: (n, 1, width) while constant over points, then (n, size, width) views.
        tangents = work.eye
        constant = True
        cur, width = 0, n
        body = steps[:-1] if steps and isinstance(steps[-1], _LinearStep) else steps
        for index, step in enumerate(body):
            if isinstance(step, _LinearStep):
                cur, width = 1 - cur, step.out_features
                z = work.block(cur, size, width)
                if values is None:
                    self.take_input = partial(_affine_into, step=step, out=z[0])
                else:
                    self.ops.append(partial(_affine_into, values, step=step, out=z[0]))
                if index < first_activation:
                    tangents = (tangents.squeeze(1) @ step.weight_t).unsqueeze(1)
                else:
                    self.ops.append(
                        partial(
                            torch.mm,
                            tangents.reshape(n * size, -1),
                            step.weight_t,
                            out=z[1:].view(n * size, width),
                        )
                    )
                    tangents, constant = z[1:], False
                values = z[0]
            else:
                z = work.block(cur, size, width)
                if values is None:  # copy the points first: activations work in place
                    self.take_input = z[0].copy_
                    values = z[0]
                if step.from_result is not None:
                    if step.numpy_forward is not None and work.numpy_ok:
                        array = values.numpy()
                        self.ops.append(partial(step.numpy_forward, array, out=array))
                    else:
                        self.ops.append(partial(step.forward_, values))
                    self.ops.append(partial(step.from_result, tangents, values, grad_input=z[1:]))
                else:
                    assert step.derivative is not None
                    deriv = work.scratch(work.deriv, size, width)
                    ones = work.scratch(work.ones, size, width)
                    self.ops.append(partial(step.derivative, ones, values, deriv))
                    self.ops.append(partial(torch.mul, tangents, deriv, out=z[1:]))
                    self.ops.append(partial(step.forward_, values))
                tangents, constant = z[1:], False
        self.values = values
        self.final: _LinearStep | None = None
        if len(body) < len(steps):  # the last Linear writes straight into the outputs
            final = steps[-1]
            assert isinstance(final, _LinearStep)
            self.final = final
            m = final.out_features
            if constant:  # an affine model
                tangents = (tangents.squeeze(1) @ final.weight_t).unsqueeze(1)
            else:
                out = work.tangents_out[: n * size * m]
                self.ops.append(
                    partial(
                        torch.mm,
                        tangents.reshape(n * size, -1),
                        final.weight_t,
                        out=out.view(n * size, m),
                    )
                )
                tangents = out.view(n, size, m)
        # (n, size | 1, m) -> (size | 1, m, n): copy_ broadcasts the constant case over points.
        self.jacobian = tangents.permute(1, 2, 0)

    def run(self, x: torch.Tensor, values_out: torch.Tensor, jac_out: torch.Tensor) -> None:
        """Push one chunk of points ``x`` through, writing its slices of the outputs."""
        if self.take_input is not None:
            self.take_input(x)
        for op in self.ops:
            op()
        values = x if self.values is None else self.values
        if self.final is not None:
            _affine_into(values, self.final, values_out)
        else:
            values_out.copy_(values)
        jac_out.copy_(self.jacobian)


def _affine_into(x: torch.Tensor, step: _LinearStep, out: torch.Tensor) -> None:
    if step.bias is None:
        torch.mm(x, step.weight_t, out=out)
    else:
        torch.addmm(step.bias, x, step.weight_t, out=out)


# ----------------------------------------------------------------------------------------------
# Determinants and singular values of 2-column Jacobians, in closed form
# ----------------------------------------------------------------------------------------------
# Elementwise torch float64 on (N,)-long planes: 0.3 ms at 256² against 0.4-1.7 ms for the same
# formulas in numpy (np.hypot and small-axis reductions are slow there) and 10 ms for svdvals.


def _to_numpy(array: Any) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    out = np.asarray(array)
    if out.dtype.kind not in "fiub":
        raise TypeError(f"expected a real array, got dtype {out.dtype}")
    return out


@dataclass(frozen=True)
class _Planes:
    """A stack of (N, m, 2) matrices as float64 planes ``data[column, row]`` of length N."""

    data: torch.Tensor  # (2, m, N) float64, contiguous: every entry an (N,) vector
    exponent: torch.Tensor | None  # (N,) powers of two the matrices were divided by, or None
    exact: bool  # plain float64 products of entries are exact (input had <= 24-bit mantissas)
    bad: torch.Tensor | None  # (N,) rows with a non-finite entry, if any (float64 input only)


def _load(jacobian: Any, rows: int | None) -> _Planes:
    """Validate an (N, m, 2) stack and lay it out for the closed forms.

    Inputs of at most single precision, or float64 values that fit in float32, have at most
    24-bit mantissas, so their products are exact in float64 and cannot overflow it: nothing more
    to do. Float64 matrices whose largest entry is below 1 or above 2**500 are scaled by a power
    of two (exact) so that it lies in [0.5, 1): squares then neither overflow nor underflow and
    Dekker's splitting cannot overflow. Accuracy holds while the entries of one matrix span less
    than ~1e300 (beyond that, the smallest ones would have to become subnormal).
    """
    arr = _to_numpy(jacobian)
    if arr.ndim != 3 or arr.shape[2] != 2 or arr.shape[1] < 1 or (rows and arr.shape[1] != rows):
        want = "(N, 2, 2)" if rows == 2 else "(N, m, 2)"
        raise ValueError(f"expected matrices of shape {want}, got {arr.shape}")
    exact = arr.dtype.kind == "f" and arr.dtype.itemsize <= 4
    data = torch.empty(arr.shape[::-1], dtype=torch.float64)
    if arr.flags.writeable and arr.dtype.isnative and arr.dtype.kind == "f":
        data.copy_(torch.from_numpy(arr).permute(2, 1, 0))  # 2x faster than numpy's strided copy
    else:  # torch.from_numpy warns on read-only arrays
        data.numpy()[...] = arr.transpose(2, 1, 0)
    if not exact:
        # Float64 copies of float32 values (maps.py converts network Jacobians before building a
        # field) take the exact route too: the check costs ~0.1 ms, the float64 route ~2 ms.
        exact = torch.equal(data, data.float().double())
    if exact or arr.shape[0] == 0:
        return _Planes(data, None, exact, None)
    biggest = data.abs().amax(dim=(0, 1))  # NaN-propagating
    bad = _nonfinite_rows(biggest)
    if bad is not None:
        biggest.masked_fill_(bad, 1.0)
    _, exponent = torch.frexp(biggest)
    exponent = exponent.to(torch.int64)
    # Scaling up is exact, so matrices with largest entry below 1 are normalised to [0.5, 1): their
    # products cannot underflow needlessly. Scaling down could push tiny entries of the same
    # matrix into subnormals, so it is kept for matrices whose squares could overflow (largest
    # entry above 2**500). Clamping keeps 2**-e normal (subnormal matrices still scale up by
    # 2**1021, which is plenty).
    exponent.masked_fill_((exponent > 0) & (exponent <= 500), 0).clamp_(-1021, 1021)
    data *= _power_of_two(-exponent)
    return _Planes(data, exponent, False, bad)


def _power_of_two(exponent: torch.Tensor) -> torch.Tensor:
    """Exact ``2.0**exponent`` for integer exponents in [-1022, 1023], built from the bits."""
    return ((exponent + 1023) << 52).view(torch.float64)


def _nonfinite_rows(values: torch.Tensor) -> torch.Tensor | None:
    """Mask of the non-finite entries of an (N,) tensor, or None if all are finite.

    One reduction answers the common all-finite case: isfinite() + any() cost ~70 us at 256**2,
    a sum ~10 us (NaN/inf propagate into it; a false alarm from overflow only costs the mask).
    """
    if bool(torch.isfinite(values.sum())):
        return None
    return ~torch.isfinite(values)


def _finish(
    values: torch.Tensor, planes: _Planes, power: int, bad: torch.Tensor | None
) -> torch.Tensor:
    """Undo the scaling of a quantity of degree ``power`` in the entries; NaN at ``bad`` rows.

    Works in place on ``values``, an (N,) or (k, N) tensor.
    """
    if planes.exponent is not None:
        factor = _power_of_two(planes.exponent)
        for _ in range(power):  # one factor at a time, so 2**(2e) never has to be representable
            values *= factor
    if bad is not None:
        values.masked_fill_(bad, np.nan)
    return values


def _two_product(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dekker's TwoProduct: ``a * b == p + e`` exactly (needs |a|, |b| <= 2**500 or so)."""
    p = a * b
    t = a * _SPLIT
    a_hi = t - (t - a)
    a_lo = a - a_hi
    t = b * _SPLIT
    b_hi = t - (t - b)
    b_lo = b - b_hi
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _diff_of_products(
    a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor, exact: bool
) -> torch.Tensor:
    """``a*b - c*d`` to a few ulps of the result, even when the two products nearly cancel.

    With exact products that is one rounding. Otherwise both products are split into exact
    unevaluated sums ``p + e``; the leading parts are subtracted (exactly when they are close, by
    Sterbenz's lemma) and the error terms added back.
    """
    if exact:
        return a * b - c * d
    p, e = _two_product(a, b)
    q, f = _two_product(c, d)
    return (p - q) + (e - f)


def _det_planes(planes: _Planes) -> torch.Tensor:
    (a, c), (b, d) = planes.data  # data[column, row]
    return _diff_of_products(a, d, b, c, planes.exact)


def _bad_rows(planes: _Planes, result: torch.Tensor) -> torch.Tensor | None:
    # Exact route (planes.bad unknown): a non-finite entry always makes sigma_1 and det
    # non-finite, and entries that fit in float32 cannot overflow them in float64, so their
    # finiteness tells. The float64 route checked while scaling.
    return planes.bad if planes.exponent is not None else _nonfinite_rows(result)


def determinant(jacobian: np.ndarray) -> np.ndarray:
    """Determinants of a stack of 2x2 matrices, accurate even for nearly singular ones.

    Parameters
    ----------
    jacobian : numpy.ndarray
        ``(N, 2, 2)`` real matrices (a CPU torch tensor is accepted too).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` float64 ``ad - bc``. For float32 input the products are exact in float64, so the
        result is the correctly rounded determinant of the stored matrix; float64 input uses
        compensated products (a few ulps), after exact power-of-two scaling if its entries are
        huge or tiny. ``inf`` where the true determinant overflows float64; NaN for matrices
        with a non-finite entry.

    """
    planes = _load(jacobian, rows=2)
    det = _det_planes(planes)
    return _finish(det, planes, 2, _bad_rows(planes, det)).numpy()


def _singular_values(planes: _Planes) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return the (k, N) singular values, k = min(m, 2), and for m == 2 the determinant.

    Both still scaled (see :func:`_finish`) and with garbage at rows that had inf/NaN entries.
    """
    # Contiguous (N,) rows throughout: torch's elementwise kernels on strided columns of an
    # (N, 2) array measured 2-3x slower.
    cols = planes.data
    m, num = cols.shape[1:]
    out = torch.empty((min(m, 2), num), dtype=torch.float64)
    det = None
    if m == 1:
        torch.hypot(cols[0, 0], cols[1, 0], out=out[0])
        return out, None
    s1, s2 = out
    if m == 2:
        (a, c), (b, d) = cols
        torch.hypot(a + d, b - c, out=s1)  # sqrt(P)
        s1.add_(torch.hypot(a - d, b + c)).mul_(0.5)  # + sqrt(Q)
        det = _diff_of_products(a, d, b, c, planes.exact)
        torch.abs(det, out=s2)
    else:
        norms = (cols * cols).sum(dim=1)  # (2, N): |c_1|**2, |c_2|**2
        cross = (cols[0] * cols[1]).sum(dim=0)
        spread = torch.hypot(norms[0] - norms[1], 2.0 * cross)  # sigma_1**2 - sigma_2**2
        torch.sqrt((norms[0] + norms[1] + spread).mul_(0.5), out=s1)
        s2.zero_()
        for i in range(m - 1):  # a loop over rows, vectorised over points
            a, c = cols[0, i], cols[1, i]
            b, d = cols[0, i + 1 :], cols[1, i + 1 :]
            minors = _diff_of_products(a, d, b, c, planes.exact)
            s2 += (minors * minors).sum(dim=0)
        s2.sqrt_()  # D = sigma_1 sigma_2 (Cauchy-Binet)
    # sigma_1 == 0 only for J == 0, where the numerator is 0 too: 0 / tiny = 0.
    s2.div_(s1.clamp(min=_TINY))
    # Rounding can put sigma_2 an ulp above sigma_1 when they are equal (e.g. [[0, x], [x, 0]]).
    torch.minimum(s2, s1, out=s2)
    return out, det


def singular_values(jacobian: np.ndarray) -> np.ndarray:
    """Singular values of a stack of 2-column matrices in closed form, stable and vectorised.

    About 30x faster than ``torch.linalg.svdvals`` and more accurate for tiny sigma_2, which the
    condition-number and log-det heatmaps depend on.

    Parameters
    ----------
    jacobian : numpy.ndarray
        ``(N, m, 2)`` real matrices (a CPU torch tensor is accepted too).

    Returns
    -------
    numpy.ndarray
        ``(N, 2)`` float64, descending (``(N, 1)`` when ``m == 1``, which has one singular value).
        NaN rows for matrices with a non-finite entry.

    Notes
    -----
    For ``J = [[a, b], [c, d]]``: ``P = (a+d)**2 + (b-c)**2``, ``Q = (a-d)**2 + (b+c)**2``,
    ``sigma_1 = (sqrt(P) + sqrt(Q)) / 2`` and ``sigma_2 = |det| / sigma_1``, with the determinant
    evaluated without cancellation (as in :func:`determinant`), so sigma_2 keeps full relative
    accuracy near singular points. For ``m > 2`` rows: ``D = sqrt(sum of squared 2x2 minors)``
    (Cauchy-Binet, ``D = sigma_1 sigma_2``), ``s = ||J||_F**2``, ``R = hypot(|c_1|**2 - |c_2|**2,
    2 c_1.c_2) = sigma_1**2 - sigma_2**2``, ``sigma_1 = sqrt((s + R) / 2)``, ``sigma_2 = D /
    sigma_1``: this avoids ``sqrt(s - 2D)``, which loses half the digits when sigma_1 ~ sigma_2.
    Float64 matrices with a largest entry below 1 or above ~3e150 are scaled by a power of two
    (exactly), so entries near 1e+-150 and beyond neither overflow nor underflow; float32 input
    needs no scaling once in float64.

    """
    planes = _load(jacobian, rows=None)
    sv, _ = _singular_values(planes)
    bad = _bad_rows(planes, sv[0])
    # A transposed (F-ordered) view of the (k, N) result: no copy, contiguous columns.
    return _finish(sv, planes, 1, bad).numpy().T


# ----------------------------------------------------------------------------------------------
# Jacobian fields
# ----------------------------------------------------------------------------------------------


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _rows_finite(table: np.ndarray) -> np.ndarray:
    """Return which rows of an (N, k) array hold no inf/NaN.

    A loop over the few columns: numpy's reductions over short trailing axes measured ~10x slower
    than k elementwise passes.
    """
    ok = np.isfinite(table[:, 0])
    for column in range(1, table.shape[1]):
        ok &= np.isfinite(table[:, column])
    return ok


@dataclass(frozen=True)
class JacobianField:
    """Jacobians on a set of points and the per-point quantities the heatmaps show.

    Build it with :meth:`from_arrays`; arrays are float64 and read-only (the field is shared
    between worker threads and views), so copy before modifying. Points where the map's value or
    Jacobian was not finite are flagged in ``nonfinite``; their non-finite entries are NaN and all
    their derived quantities are NaN, so heatmaps show them as holes instead of raising.

    Attributes
    ----------
    values : numpy.ndarray
        ``(N, m)`` map values.
    jacobian : numpy.ndarray
        ``(N, m, n)`` Jacobians.
    det : numpy.ndarray or None
        ``(N,)`` determinants when ``m == n == 2``, else None.
    singular_values : numpy.ndarray
        ``(N, k)`` descending, ``k = min(m, n)`` (``(N, 2)`` for the usual 2-D map): closed form
        when ``n == 2``, ``numpy.linalg.svd`` otherwise.
    frobenius : numpy.ndarray
        ``(N,)`` Frobenius norms.
    condition : numpy.ndarray
        ``(N,)`` ``sigma_1 / sigma_k``; ``inf`` where ``sigma_k == 0`` (including J = 0).
    log_abs_det : numpy.ndarray or None
        ``(N,)`` ``log|det|`` when ``m == n == 2`` (``-inf`` where det is 0), else None. Computed
        as ``log sigma_1 + log sigma_2`` so it stays finite where det itself over/underflows.
    nonfinite : numpy.ndarray
        ``(N,)`` bool, True where the value or the Jacobian had an inf/NaN entry.

    """

    values: np.ndarray
    jacobian: np.ndarray
    det: np.ndarray | None
    singular_values: np.ndarray
    frobenius: np.ndarray
    condition: np.ndarray
    log_abs_det: np.ndarray | None
    nonfinite: np.ndarray

    @classmethod
    def from_arrays(cls, values: np.ndarray, jacobian: np.ndarray) -> JacobianField:
        """Build a field from values ``(N, m)`` and Jacobians ``(N, m, n)``.

        Parameters
        ----------
        values : numpy.ndarray
            ``(N, m)`` map values (numpy array or CPU torch tensor, any real dtype).
        jacobian : numpy.ndarray
            ``(N, m, n)`` Jacobians. Pass them in the dtype they were computed in: float32 input
            takes the exact (and faster) route to det and singular values.

        Returns
        -------
        JacobianField
            The field; nothing raises or warns for inf/NaN input.

        Raises
        ------
        ValueError
            If the shapes are not ``(N, m)`` and ``(N, m, n)``.

        """
        vals_in = _to_numpy(values)
        jac_in = _to_numpy(jacobian)
        if vals_in.ndim != 2 or jac_in.ndim != 3 or jac_in.shape[:2] != vals_in.shape:
            raise ValueError(
                "expected values (N, m) and jacobian (N, m, n); "
                f"got {vals_in.shape} and {jac_in.shape}"
            )
        num, m, n = jac_in.shape
        if m == 0 or n == 0:
            raise ValueError(f"Jacobians must have at least one row and column, got {jac_in.shape}")
        vals = vals_in.astype(np.float64)  # always a copy: the caller's arrays are left alone
        jac = jac_in.astype(np.float64)
        nonfinite = ~(_rows_finite(vals) & _rows_finite(jac.reshape(num, m * n)))
        clean = jac_in
        if nonfinite.any():
            np.copyto(vals, np.nan, where=~np.isfinite(vals))
            np.copyto(jac, np.nan, where=~np.isfinite(jac))
            # Derived quantities from zeroed matrices at flagged points (NaN-ed below), in the
            # original precision so float32 Jacobians keep the exact, unscaled route.
            clean = np.where(nonfinite[:, None, None], 0, jac_in)

        mask = torch.from_numpy(nonfinite) if nonfinite.any() else None
        det = None
        if n == 2:
            planes = _load(clean, rows=None)
            sv, det = _singular_values(planes)
            sv = _finish(sv, planes, 1, mask)
            if det is not None:
                det = _finish(det, planes, 2, mask)
        else:
            sv64 = np.linalg.svd(clean.astype(np.float64), compute_uv=False)
            sv = torch.from_numpy(np.ascontiguousarray(sv64.T))
            if mask is not None:
                sv.masked_fill_(mask, np.nan)
        smax, smin = sv[0], sv[-1]
        # x / 0 = inf at singular points; 0 / 0 = NaN at J = 0, also infinitely ill-conditioned.
        condition = (smax / smin).nan_to_num_(nan=np.inf, posinf=np.inf)
        if len(sv) <= 2:
            frobenius = torch.hypot(smax, smin) if len(sv) == 2 else smax.clone()
        else:  # sum sigma_i**2 relative to sigma_1, so that nothing can overflow
            frobenius = smax * (sv / smax.clamp(min=_TINY)).square().sum(dim=0).sqrt()
        log_abs_det = None
        if m == n == 2:
            # log sigma_1 + log sigma_2 = log|det|, but finite where det itself over/underflows.
            log_abs_det = torch.log(smax) + torch.log(smin)
        if mask is not None:
            condition.masked_fill_(mask, np.nan)  # nan_to_num made the NaN rows inf
        return cls(
            values=_readonly(vals),
            jacobian=_readonly(jac),
            det=None if det is None else _readonly(det.numpy()),
            singular_values=_readonly(sv.numpy().T),
            frobenius=_readonly(frobenius.numpy()),
            condition=_readonly(condition.numpy()),
            log_abs_det=None if log_abs_det is None else _readonly(log_abs_det.numpy()),
            nonfinite=_readonly(nonfinite),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, m, n)``: points, outputs, inputs."""
        num, m, n = self.jacobian.shape
        return num, m, n

    def quantity(self, key: str) -> np.ndarray:
        """Return one per-point scalar field for a heatmap.

        Parameters
        ----------
        key : str
            One of :data:`HEATMAP_QUANTITIES`: ``"det"``, ``"logdet"``, ``"smax"``, ``"smin"``,
            ``"cond"``, ``"frob"``.

        Returns
        -------
        numpy.ndarray
            A fresh, writable ``(N,)`` float64 array; NaN where undefined (non-finite points).
            ``"cond"`` may contain ``inf`` and ``"logdet"`` ``-inf`` (singular points).

        Raises
        ------
        KeyError
            If ``key`` is not a known quantity.
        ValueError
            For ``"det"``/``"logdet"`` when the Jacobians are not 2x2.

        """
        if key not in HEATMAP_QUANTITIES:
            raise KeyError(
                f"unknown quantity {key!r}; expected one of {sorted(HEATMAP_QUANTITIES)}"
            )
        if key in ("det", "logdet"):
            if self.det is None or self.log_abs_det is None:
                _, m, n = self.shape
                raise ValueError(
                    f"{HEATMAP_QUANTITIES[key]!r} needs 2x2 Jacobians (a map R^2 -> R^2); "
                    f"this field has {m}x{n} Jacobians"
                )
            source = self.det if key == "det" else self.log_abs_det
        elif key == "smax":
            source = self.singular_values[:, 0]
        elif key == "smin":
            source = self.singular_values[:, -1]
        elif key == "cond":
            source = self.condition
        else:
            source = self.frobenius
        return np.array(source, dtype=np.float64, copy=True)
