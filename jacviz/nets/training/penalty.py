"""The Jacobian regularizer: ``λ · mean ‖J(x)‖²_F`` added to the loss, and its gradients.

The training loss is cross-entropy plus ``λ · mean ‖J(x)‖²_F`` over the batch, where J is the
Jacobian of the logits with respect to the input (Hoffman, Roberts & Yaida 2019, "Robust
Learning with Jacobian Regularization"). Two estimators of ``‖J‖²_F`` are offered:

``"exact"``
    ``Σ_i ‖J e_i‖²`` over the input basis: with 2 inputs, two tangent directions.
``"random"``
    ``(n / n_proj) Σ_j ‖J u_j‖²`` with ``u_j`` drawn uniformly on the unit sphere: unbiased, with a
    variance that falls like ``1 / n_proj``.

Both work on the cheaper side of J (:func:`projection_side`). On the *input* side (2D data:
2 inputs, 2 to 8 classes) the directions ``u`` are pushed forward, ``J u``. On the *output*
side (the 8×8 digits: 64 inputs, 10 classes) they are pulled back, ``vᵀJ``, as Hoffman et al.
do for images: the exact norm then costs k = 10 directions instead of d = 64, and the random
estimate ``(k / n_proj) Σ_j ‖v_jᵀ J‖²`` is unbiased for the same number, since
``tr(JᵀJ) = tr(JJᵀ)``. The gradient of ``‖g‖²`` with ``g = Jᵀv`` needs no second reverse pass:
``∂‖g‖²/∂θ = 2 ∂(vᵀ J u)/∂θ`` at the fixed ``u = g``, a forward tangent along ``u`` whose
backward pass is the input side's.

When the trained network reads standardized inputs ``z = (x - mean) · s``, the Jacobian that
matters is the one of the saved model, with respect to the raw inputs: ``J · diag(s)``.
:class:`FusedStep` takes ``input_scale = s`` and penalises that (``u`` becomes ``s ⊙ u`` on the
input side, ``g`` becomes ``s ⊙ g`` on the output side).

:class:`Directions` draws the estimator's directions ``u_j`` (:func:`projection_estimates` shows
the spread it gives), and :class:`FusedStep` computes the loss and its gradients.

Speed. For networks this small a training step costs per-operation overhead, not arithmetic,
and the textbook implementation (``autograd.grad(..., create_graph=True)`` then ``backward``)
costs about 1.8× a plain step. :class:`FusedStep` writes the forward pass, the tangents
``J·u`` and the backward pass of both terms out by hand, for the MLPs jacviz builds: the
tangents travel in the same matrix products as the points (stacked as extra rows, as the
forward tangents of :mod:`jacviz.math.jacobian.sequential` do), and the backward pass of the
regularizer shares the plain backward's matrix products, adding only a few elementwise
operations per layer. It reads the network's layers with the MLP walker
(:mod:`jacviz.math.jacobian.walker`); its activations are its own, because the backward pass
of the tangents needs their second derivatives. Its gradients are tested against torch.autograd
to float64 rounding; ``benchmarks/bench_training.py`` measures the cost ratio.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from jacviz.math.jacobian.walker import LinearStep, named_steps
from jacviz.nets.training.config import TrainConfig

__all__ = [
    "SIDES",
    "Directions",
    "FusedStep",
    "directions_count",
    "projection_estimates",
    "projection_side",
]

SIDES: tuple[str, ...] = ("input", "output")
"""Where the estimator's directions live: pushed forward (``J u``) or pulled back (``vᵀ J``)."""

_aten = torch.ops.aten
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_DIRECTION_BLOCK_STEPS = 64
_DIRECTION_BLOCK_ROWS = 1 << 16


# ----------------------------------------------------------------------------------------------
# Activations with the derivatives the fused step needs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Activation:
    """An activation φ as the fused step uses it.

    ``forward(z, out)`` writes φ(z); ``first(z, a, out)`` writes φ'(z) given ``a = φ(z)``;
    ``backward(grad, z, a, d1, s)`` turns the adjoint of the activation's output into that of
    its input, in place: ``grad ← grad · φ'(z) + s · φ''(z)``, where ``s`` (None without
    tangents) is the tangents' contribution ``Σ_j ū_j ⊙ t_j`` of the regularizer.
    """

    forward: Callable[[torch.Tensor, torch.Tensor], Any]
    first: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]
    backward: Callable[..., Any]


def _tanh_backward(grad, z, a, d1, s):
    if s is not None:
        grad.addcmul_(a, s, value=-2.0)  # φ'' = -2 φ φ', so grad φ' + s φ'' = φ' (grad - 2 φ s)
    grad.mul_(d1)


def _relu_backward(grad, z, a, d1, s):
    grad.mul_(d1)  # φ'' = 0 away from the kink


def _softplus_backward(grad, z, a, d1, s):
    if s is not None:
        grad.add_(s).addcmul_(s, d1, value=-1.0)  # φ'' = σ(1 - σ) = φ' (1 - φ')
    grad.mul_(d1)


def _gelu_pdf(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(z * z * -0.5).mul_(_INV_SQRT_2PI)


def _gelu_first(z: torch.Tensor, a: torch.Tensor, out: torch.Tensor) -> None:
    cdf = torch.erf(z * _INV_SQRT_2).add_(1.0).mul_(0.5)
    torch.addcmul(cdf, z, _gelu_pdf(z), out=out)  # Φ(z) + z ϕ(z)


def _gelu_backward(grad, z, a, d1, s):
    grad.mul_(d1)
    if s is not None:
        grad.addcmul_(s, _gelu_pdf(z).mul_(2.0 - z * z))  # φ'' = ϕ(z) (2 - z²)


_KERNELS: dict[str, _Activation] = {
    "tanh": _Activation(
        lambda z, out: torch.tanh(z, out=out),
        lambda z, a, out: torch.mul(a, a, out=out).neg_().add_(1.0),
        _tanh_backward,
    ),
    # φ'(0) = 0, as torch's own ReLU backward.
    "relu": _Activation(
        lambda z, out: torch.clamp(z, min=0, out=out),
        lambda z, a, out: out.copy_(z > 0),
        _relu_backward,
    ),
    # nn.Softplus's defaults (beta 1, threshold 20) so the trained model is the saved one;
    # φ' is σ(z) everywhere (torch switches to 1 above 20, where σ = 1 - 2e-9 anyway).
    "softplus": _Activation(
        lambda z, out: _aten.softplus.out(z, 1, 20, out=out),
        lambda z, a, out: torch.sigmoid(z, out=out),
        _softplus_backward,
    ),
    "gelu": _Activation(
        lambda z, out: _aten.gelu.out(z, approximate="none", out=out), _gelu_first, _gelu_backward
    ),
}


# ----------------------------------------------------------------------------------------------
# The fused training step
# ----------------------------------------------------------------------------------------------


class _Block:
    """A ``((1 + k)·B, width)`` buffer and the views the fused step reads and writes.

    ``top`` is the batch's rows, ``tangents`` the ``(k, B, width)`` view of the directions'
    rows (None without directions). Views are made once: on these small matrices each view
    made per step costs as much as an arithmetic operation.
    """

    def __init__(self, batch: int, directions: int, width: int, dtype: torch.dtype):
        self.all = torch.zeros((1 + directions) * batch, width, dtype=dtype)
        self.top = self.all[:batch]
        self.tangents = self.all[batch:].view(directions, batch, width) if directions else None
        self.transposed = self.all.t()


class FusedStep:
    """Loss and gradients of ``CE + λ · estimated mean ‖J‖²_F`` for an MLP, written out by hand.

    Rows ``0..B-1`` of every activation buffer hold the batch; rows ``B + jB .. B + (j+1)B - 1``
    hold the tangents ``∂h/∂x · u_j`` of direction ``j``. One matrix product per layer moves
    both; the backward pass moves the adjoints of both in the same two products per layer that
    a plain backward pass needs. With no directions it is a plain (fast) training step.

    All buffers are allocated once and the gradients land in the parameters' ``.grad``
    tensors, ready for a torch optimizer (which updates the weights in place, so the
    transposed views of them made here stay valid).

    ``model`` is a network of :func:`~jacviz.nets.training.config.build_model`, whose Linear
    layers are found by the MLP walker (a model it refuses raises its ``WalkRefused``), with
    ``activation`` (a key of ``TRAINABLE_ACTIVATIONS``) between them; ``points`` and ``labels``
    are the whole training set, of which each call takes the ``batch`` rows it is given;
    ``directions`` is the number of directions per point (0: a plain step), which the caller
    fills in through :attr:`direction_rows`: input directions ``u`` for ``side="input"``, output
    directions ``v`` for ``side="output"``. ``input_scale`` (a ``(d,)`` tensor, optional) makes
    the penalised Jacobian ``J · diag(input_scale)``.
    """

    def __init__(
        self,
        model: nn.Sequential,
        activation: str,
        points: torch.Tensor,
        labels: torch.Tensor,
        batch: int,
        directions: int,
        weight_decay: float = 0.0,
        *,
        side: str = "input",
        input_scale: torch.Tensor | None = None,
    ):
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        linears = [item.module for item in named_steps(model) if isinstance(item.step, LinearStep)]
        self._weights = [layer.weight for layer in linears]
        self._transposed = [w.t() for w in self._weights]
        self._biases = [layer.bias for layer in linears]
        for parameter in (*self._weights, *self._biases):
            parameter.grad = torch.zeros_like(parameter)
        self._kernel = _KERNELS[activation]
        self._points = points
        self._labels = labels
        self.batch = batch
        self.directions = directions
        self._weight_decay = weight_decay
        dtype = points.dtype
        widths = [self._weights[0].shape[1]] + [w.shape[0] for w in self._weights]
        # inputs[l]: what layer l reads (the points, then activations); pre[l]: what it
        # computes (pre-activations; the last is the logits, then their adjoint in place);
        # back[l]: the adjoint of inputs[l], for the layers below the first.
        self._inputs = [_Block(batch, directions, w, dtype) for w in widths[:-1]]
        self._pre = [_Block(batch, directions, w, dtype) for w in widths[1:]]
        self._back = [None] + [_Block(batch, directions, w, dtype) for w in widths[1:-1]]
        self._slopes = [torch.empty(batch, w, dtype=dtype) for w in widths[1:-1]]
        self._minus_one = torch.full((batch, 1), -1.0, dtype=dtype)
        self._batch_labels = torch.empty(batch, dtype=torch.long)
        self._label_column = self._batch_labels[:, None]
        self._tangent_out = self._pre[-1].all[batch:].view(-1)
        self._contribution = [torch.empty(batch, w, dtype=dtype) for w in widths[1:-1]]
        self._output_side = bool(directions) and side == "output"
        self._scale = None if input_scale is None else input_scale.to(dtype).reshape(1, -1)
        # Views of the direction rows, made once: what each layer reads, computes, pulls back.
        self._rows_in = [block.all[batch:] for block in self._inputs]
        self._rows_pre = [block.all[batch:] for block in self._pre]
        self._rows_back = [None] + [block.all[batch:] for block in self._back[1:]]
        self._directions = self._rows_in[0]
        if self._output_side:
            self._directions = torch.zeros(directions * batch, widths[-1], dtype=dtype)
        elif directions and self._scale is not None:
            self._directions = torch.zeros_like(self._rows_in[0])

    @property
    def tangent_inputs(self) -> torch.Tensor:
        """The ``(directions·B, d)`` rows the caller fills with the input directions ``u_j``."""
        return self._inputs[0].all[self.batch :]

    @property
    def direction_rows(self) -> torch.Tensor:
        """The ``(directions·B, d or k)`` rows the caller fills with the estimator's directions.

        Input directions ``u`` (before ``input_scale``) on the input side, output directions
        ``v`` on the output side.
        """
        return self._directions

    def __call__(
        self, index: torch.Tensor, jr_lambda: float
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Set the gradients for the batch ``points[index]``.

        Returns the batch's mean cross-entropy and, with directions, the batch *sum* of
        ``Σ_j ‖J u_j‖²`` (divided by B: the estimate of mean ``‖J‖²_F`` that λ multiplies;
        the division is left to the caller, who accumulates many steps), as 0-d tensors.
        """
        batch, k = self.batch, self.directions
        kernel, inputs, pre = self._kernel, self._inputs, self._pre
        torch.index_select(self._points, 0, index, out=inputs[0].top)
        labels = torch.index_select(self._labels, 0, index, out=self._batch_labels)
        pushed = k and not self._output_side  # tangents move with the points
        if pushed and self._scale is not None:
            torch.mul(self._directions, self._scale, out=self._rows_in[0])
        last = len(self._weights) - 1
        for layer in range(last + 1):
            z = pre[layer]
            rows = inputs[layer].all if pushed else inputs[layer].top
            torch.mm(rows, self._transposed[layer], out=z.all if pushed else z.top)
            z.top.add_(self._biases[layer])
            if layer == last:
                break
            out = inputs[layer + 1]
            kernel.forward(z.top, out.top)
            slope = self._slopes[layer]
            kernel.first(z.top, out.top, slope)
            if pushed:
                torch.mul(z.tangents, slope, out=out.tangents)
        jacobian_sum = self._pull_back() if self._output_side else None
        logits = pre[last]
        log_p = torch.log_softmax(logits.top, dim=1)
        cross_entropy = torch.nn.functional.nll_loss(log_p, labels)
        # d CE / d logits = (softmax - onehot) / B, built in place of the logits.
        torch.exp(log_p, out=logits.top).scatter_add_(1, self._label_column, self._minus_one)
        logits.top.mul_(1.0 / batch)
        if self._output_side:
            # The adjoint of vᵀ J u is v: ∂‖g‖²/∂θ = 2 ∂(vᵀ J u)/∂θ at u = s² ⊙ g (see above).
            torch.mul(self._directions, 2.0 * jr_lambda / batch, out=self._rows_pre[last])
        elif k:
            tangent_out = self._tangent_out
            jacobian_sum = torch.dot(tangent_out, tangent_out)
            tangent_out.mul_(2.0 * jr_lambda / batch)
        adjoint = logits
        for layer in range(last, -1, -1):
            weight = self._weights[layer]
            torch.mm(adjoint.transposed, inputs[layer].all, out=weight.grad)
            if self._weight_decay:
                weight.grad.add_(weight, alpha=self._weight_decay)  # d/dW of (wd/2)‖W‖²
            torch.sum(adjoint.top, 0, out=self._biases[layer].grad)
            if layer == 0:
                break
            back = self._back[layer]
            torch.mm(adjoint.all, weight, out=back.all)
            below = layer - 1
            z, slope = pre[below], self._slopes[below]
            contribution = None
            if k:
                # Σ_j ū_j ⊙ t_j; a loop of addcmul is 5x cheaper here than einsum's bmm.
                contribution = self._contribution[below]
                torch.mul(back.tangents[0], z.tangents[0], out=contribution)
                for j in range(1, k):
                    contribution.addcmul_(back.tangents[j], z.tangents[j])
                back.tangents.mul_(slope)
            kernel.backward(back.top, z.top, inputs[layer].top, slope, contribution)
            adjoint = back
        return cross_entropy, jacobian_sum

    def _pull_back(self) -> torch.Tensor:
        """Output side: ``g = s ⊙ Jᵀv`` per direction, then the tangents ``J (s ⊙ g)``.

        Returns the batch sum of ``‖g‖²`` over the directions. Needs the forward pass of the
        points done (the slopes); leaves the tangent rows as the input side's forward pass
        would for inputs ``u = s² ⊙ g``, ready for the shared backward pass.
        """
        last = len(self._weights) - 1
        adjoint = self._directions
        for layer in range(last, -1, -1):
            target = self._rows_in[0] if layer == 0 else self._rows_back[layer]
            torch.mm(adjoint, self._weights[layer], out=target)
            if layer == 0:
                break
            self._back[layer].tangents.mul_(self._slopes[layer - 1])
            adjoint = target
        pulled = self._rows_in[0]
        if self._scale is not None:
            pulled.mul_(self._scale)
        total = torch.dot(pulled.view(-1), pulled.view(-1))
        if self._scale is not None:
            pulled.mul_(self._scale)
        for layer in range(last + 1):
            torch.mm(self._rows_in[layer], self._transposed[layer], out=self._rows_pre[layer])
            if layer == last:
                break
            torch.mul(
                self._pre[layer].tangents, self._slopes[layer], out=self._inputs[layer + 1].tangents
            )
        return total


class Directions:
    """Fills the tangent rows with the estimator's input directions.

    They are scaled so that the sum of ``‖J u‖²`` over a point's directions estimates (random)
    or equals (exact) ``‖J‖²_F``. Random directions are drawn for many steps at once and
    copied in step by step: one operation per step instead of four, which is a tenth of what
    the regularizer adds to a step of a small MLP.
    """

    def __init__(
        self, config: TrainConfig, rows: torch.Tensor, batch: int, generator: torch.Generator
    ):
        self._rows = rows
        self._generator = generator
        self._random = config.estimator == "random"
        dim = rows.shape[1]
        self._scale = math.sqrt(dim / config.n_proj)
        if not self._random:
            # e_1 for every point, then e_2, ...: fixed, set once.
            rows.copy_(torch.eye(dim, dtype=rows.dtype).repeat_interleave(batch, dim=0))
            return
        steps = max(1, min(_DIRECTION_BLOCK_STEPS, _DIRECTION_BLOCK_ROWS // rows.shape[0]))
        self._block = torch.empty((steps, *rows.shape), dtype=rows.dtype)
        self._steps = self._block.unbind(0)  # views made once, not one per step
        self._next = steps

    def draw(self) -> None:
        """New uniformly random unit directions (times the scale) for this step."""
        if not self._random:
            return
        block = self._block
        if self._next == block.shape[0]:
            torch.randn(block.shape, generator=self._generator, dtype=block.dtype, out=block)
            block.mul_(self._scale / torch.linalg.vector_norm(block, dim=2, keepdim=True))
            self._next = 0
        self._rows.copy_(self._steps[self._next])
        self._next += 1


def projection_side(input_dim: int, n_outputs: int) -> str:
    """The cheaper side of a ``n_outputs × input_dim`` Jacobian for the estimators.

    ``"output"`` when there are fewer outputs than inputs (the digits: 10 < 64), where the
    exact norm takes ``n_outputs`` directions; else ``"input"`` (every 2D classifier).
    """
    return "output" if n_outputs < input_dim else "input"


def directions_count(config: TrainConfig, input_dim: int, n_outputs: int | None = None) -> int:
    """Directions per point the regularizer sends through the network (0 if off).

    The exact estimator takes one per dimension of the cheaper side (:func:`projection_side`;
    the input side when ``n_outputs`` is not given), the random one ``config.n_proj``.
    """
    if not config.regularized:
        return 0
    if config.estimator == "random":
        return config.n_proj
    if n_outputs is None or projection_side(input_dim, n_outputs) == "input":
        return input_dim
    return n_outputs


def projection_estimates(
    jacobians: np.ndarray, n_proj: int, draws: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``‖J‖²_F`` and ``draws`` random-projection estimates of it, per Jacobian.

    The estimates use the trainer's own direction sampler on the trainer's side of J
    (:func:`projection_side`), so what a user sees spread around the exact value is what the
    ``"random"`` estimator feeds the loss.

    Parameters
    ----------
    jacobians : numpy.ndarray
        ``(N, k, n)`` Jacobians (e.g. of a classifier's logits at test points).
    n_proj : int
        Projections per estimate.
    draws : int
        Independent estimates per Jacobian.
    seed : int
        Seed of the directions.

    Returns
    -------
    exact : numpy.ndarray
        ``(N,)`` float64.
    estimates : numpy.ndarray
        ``(draws, N)`` float64; each row is one draw of the estimator for every Jacobian.

    """
    jac = torch.as_tensor(np.asarray(jacobians, dtype=np.float64))
    if jac.ndim != 3:
        raise ValueError(f"expected (N, k, n) Jacobians, got shape {tuple(jac.shape)}")
    n_points, outputs, inputs = jac.shape
    output_side = projection_side(inputs, outputs) == "output"
    dim = outputs if output_side else inputs
    config = TrainConfig(jr_lambda=1.0, estimator="random", n_proj=n_proj)
    # One draw of the sampler for all estimates at once: a "batch" of draws × N points.
    rows = torch.empty(n_proj * draws * n_points, dim, dtype=torch.float64)
    Directions(config, rows, draws * n_points, torch.Generator().manual_seed(seed)).draw()
    rows = rows.view(n_proj, draws, n_points, dim)
    if output_side:
        pushed = torch.einsum("nkd,pwnk->pwnd", jac, rows)
    else:
        pushed = torch.einsum("nkd,pwnd->pwnk", jac, rows)
    estimates = (pushed**2).sum(dim=(0, 3)).numpy()
    return (jac**2).sum(dim=(1, 2)).numpy(), estimates
