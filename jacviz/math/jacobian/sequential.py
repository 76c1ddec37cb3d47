"""Jacobians of walkable MLPs by forward tangents pushed through the layers, chunk by chunk.

The fast route for the small MLPs jacviz trains and shows. The MLP walker
(:mod:`~jacviz.math.jacobian.walker`) reads the model as a chain of Linear layers and
elementwise activations; here the ``n`` input tangent directions travel through that chain next
to the values (Linear -> multiply by ``W``; activation -> multiply by its derivative), stacked
in one buffer so that each layer is a couple of matrix products. :func:`sequential_values` is the
same walk without the tangents, the fast forward pass the views evaluate networks with.
Models the walker cannot read give None, and callers fall back to
:func:`~jacviz.math.jacobian.autograd_jacobian` or to running the module. Batches of a few
points (a probe move) take the same walk in numpy (:mod:`~jacviz.math.jacobian.small`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from jacviz.math.jacobian.inputs import CHUNK_SIZE, as_points, check_chunk_size
from jacviz.math.jacobian.small import numpy_chain
from jacviz.math.jacobian.walker import ActivationStep, LinearStep, Step, parameter_dtype, plan

__all__ = ["sequential_jacobian", "sequential_values"]


def _walkable(
    model: torch.nn.Module, points: torch.Tensor
) -> tuple[list[Step], torch.Tensor] | None:
    """The model's steps and the points in its dtype and device; None if it cannot be walked.

    Raises ValueError if the parameters mix dtypes or devices.
    """
    steps = plan(model)
    if steps is None:
        return None
    found = parameter_dtype(model)
    pts = as_points(points, *found) if found else as_points(points)
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
    numpy's here), against 2.1-2.4x for :func:`~jacviz.math.jacobian.autograd_jacobian`.

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
        :func:`~jacviz.math.jacobian.autograd_jacobian`.

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
    chunk_size = check_chunk_size(chunk_size)
    walk = _walkable(model, points)
    if walk is None:
        return None
    steps, pts = walk
    small = numpy_chain(steps, pts)
    if small is not None:  # a few points: numpy's ops cost a tenth of torch's launches
        values, jacobian = small.jacobian(pts.numpy())
        return torch.from_numpy(values), torch.from_numpy(jacobian)
    num, n = pts.shape
    dtype, device = pts.dtype, pts.device

    # Static shape pass: widths, and where the tangents stop being constant over points.
    width = max_width = n
    first_activation = len(steps)
    for index, step in enumerate(steps):
        if isinstance(step, LinearStep):
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
    chunk_size = check_chunk_size(chunk_size)
    walk = _walkable(model, points)
    if walk is None:
        return None
    steps, pts = walk
    small = numpy_chain(steps, pts)
    if small is not None:  # a few points: numpy's ops cost a tenth of torch's launches
        return torch.from_numpy(small.values(pts.numpy()))
    numpy_ok = _numpy_ok(pts)
    chunks = []
    with torch.inference_mode():
        for chunk in pts.split(chunk_size):
            x, fresh = chunk, False  # fresh: x is ours to overwrite in place
            for step in steps:
                if isinstance(step, LinearStep):
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
        width = next((s.out_features for s in reversed(steps) if isinstance(s, LinearStep)), 0)
        return torch.empty((0, width or pts.shape[1]), dtype=pts.dtype, device=pts.device)
    return torch.cat(chunks)


def _push_tangents(
    steps: list[Step],
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
    derivatives = any(isinstance(s, ActivationStep) and s.derivative for s in steps)
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
        steps: list[Step],
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
        body = steps[:-1] if steps and isinstance(steps[-1], LinearStep) else steps
        for index, step in enumerate(body):
            if isinstance(step, LinearStep):
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
        self.final: LinearStep | None = None
        if len(body) < len(steps):  # the last Linear writes straight into the outputs
            final = steps[-1]
            assert isinstance(final, LinearStep)
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


def _affine_into(x: torch.Tensor, step: LinearStep, out: torch.Tensor) -> None:
    if step.bias is None:
        torch.mm(x, step.weight_t, out=out)
    else:
        torch.addmm(step.bias, x, step.weight_t, out=out)
