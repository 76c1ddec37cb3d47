"""Train small 2D classifiers, with or without Jacobian regularization.

The loss is cross-entropy plus ``λ · mean ‖J(x)‖²_F`` over the batch, where J is the Jacobian of
the logits with respect to the input (Hoffman, Roberts & Yaida 2019, "Robust Learning with
Jacobian Regularization"). Two estimators of ``‖J‖²_F`` are offered:

``"exact"``
    ``Σ_i ‖J e_i‖²`` over the input basis: with 2 inputs, two tangent directions.
``"random"``
    ``(n / n_proj) Σ_j ‖J u_j‖²`` with ``u_j`` drawn uniformly on the unit sphere: unbiased, with a
    variance that falls like ``1 / n_proj``. Hoffman et al. draw their projections on the *output*
    side (``C ‖vᵀJ‖²``) because their inputs are images with far more dimensions than classes;
    here the input has 2 dimensions, the cheap side, and ``tr(JᵀJ) = tr(JJᵀ)`` makes both
    estimators unbiased for the same number.

Speed. For networks this small a training step costs per-operation overhead, not arithmetic,
and the textbook implementation (``autograd.grad(..., create_graph=True)`` then ``backward``)
costs about 1.8× a plain step. :class:`_FusedStep` writes the forward pass, the tangents
``J·u`` and the backward pass of both terms out by hand, for the MLPs jacviz builds: the
tangents travel in the same matrix products as the points (stacked as extra rows), and the
backward pass of the regularizer shares the plain backward's matrix products, adding only a few
elementwise operations per layer. Its gradients are tested against torch.autograd to float64
rounding; ``benchmarks/bench_training.py`` measures the cost ratio.

Training is a generator of :class:`Snapshot` objects (step, losses, accuracies, a copy of the
weights) so a GUI can run it on a worker thread, draw progress, pause by not pulling, and stop
by closing it; it never hands out the live module.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from jacviz.math.maps import TorchMap
from jacviz.nets.networks import make_mlp
from jacviz.support.text_input import quote
from jacviz.support.threads import single_threaded

TRAINABLE_ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "gelu", "softplus")
"""Activations the trainer offers (each with the second derivative its regularizer needs)."""

ESTIMATORS: tuple[str, ...] = ("exact", "random")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")

MAX_WIDTH = 512
MAX_HIDDEN_LAYERS = 6
MAX_STEPS = 1_000_000
MAX_BATCH = 100_000
MAX_PROJECTIONS = 64
MAX_LEARNING_RATE = 10.0
MAX_PENALTY = 1e6
"""Largest λ and weight decay: far beyond any useful weight (Hoffman et al. use λ ≤ 1; a
million makes any run diverge, which is reported), and far below where float32 arithmetic
overflows (a weight decay of 1e39 raised)."""
MAX_SEED = 2**63 - 1


class TrainingError(ValueError):
    """A training configuration or dataset that cannot be trained; the message says why."""


class TrainingData(Protocol):
    """What :func:`train` needs of a dataset (:class:`jacviz.nets.datasets.Dataset` has it)."""

    @property
    def train_points(self) -> np.ndarray:
        """``(n, d)`` training inputs."""
        ...

    @property
    def train_labels(self) -> np.ndarray:
        """``(n,)`` integer classes of the training inputs."""
        ...

    @property
    def test_points(self) -> np.ndarray:
        """``(m, d)`` held-out inputs."""
        ...

    @property
    def test_labels(self) -> np.ndarray:
        """``(m,)`` integer classes of the held-out inputs."""
        ...

    @property
    def n_classes(self) -> int:
        """Number of classes k: the network has k outputs."""
        ...


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; the same config and data give the same model.

    Attributes
    ----------
    hidden : tuple of int
        Hidden layer widths, e.g. ``(32, 32)``.
    activation : str
        One of :data:`TRAINABLE_ACTIVATIONS`.
    optimizer : str
        ``"adam"`` or ``"sgd"`` (plain, no momentum).
    learning_rate, batch_size, steps, seed
        The usual. ``seed`` fixes the initial weights, the order of the minibatches and the
        random projections; two configs that differ only in ``jr_lambda`` start from the same
        weights and see the same batches, so their comparison isolates the regularizer.
    jr_lambda : float
        Weight λ of the Jacobian term ``λ · mean ‖J‖²_F``, 0 to :data:`MAX_PENALTY`; 0 trains
        plainly.
    estimator : str
        ``"exact"`` or ``"random"`` (see the module docstring).
    n_proj : int
        Number of random projections per point for the ``"random"`` estimator.
    weight_decay : float
        Plain L2 penalty ``(weight_decay / 2) · ‖W‖²`` on the weight matrices (not the biases),
        to compare against the Jacobian penalty; 0 to :data:`MAX_PENALTY`.

    Every field is checked when a config is made (whether typed in the lab, read from a
    session or given on the command line): a value of the wrong type or out of range raises a
    :class:`TrainingError` of one line naming the setting and its range.

    """

    hidden: tuple[int, ...] = (32, 32)
    activation: str = "tanh"
    optimizer: str = "adam"
    learning_rate: float = 0.01
    batch_size: int = 64
    steps: int = 2000
    seed: int = 0
    jr_lambda: float = 0.0
    estimator: str = "exact"
    n_proj: int = 1
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not 1 <= len(self.hidden) <= MAX_HIDDEN_LAYERS:
            raise TrainingError(
                f"hidden layers: give 1 to {MAX_HIDDEN_LAYERS} widths, got {len(self.hidden)}"
            )
        for width in self.hidden:
            if not _is_int(width) or not 1 <= width <= MAX_WIDTH:
                raise TrainingError(
                    f"hidden widths must be whole numbers 1..{MAX_WIDTH}, got {quote(width)}"
                )
        _choice("activation", self.activation, TRAINABLE_ACTIVATIONS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("estimator", self.estimator, ESTIMATORS)
        _positive("learning rate", self.learning_rate, upper=MAX_LEARNING_RATE)
        for name, value, lower, upper in (
            ("batch size", self.batch_size, 1, MAX_BATCH),
            ("steps", self.steps, 1, MAX_STEPS),
            ("number of projections", self.n_proj, 1, MAX_PROJECTIONS),
            ("seed", self.seed, 0, MAX_SEED),
        ):
            if not _is_int(value) or not lower <= value <= upper:
                raise TrainingError(
                    f"{name} must be a whole number {lower}..{upper}, got {quote(value)}"
                )
        for name, value in (("λ", self.jr_lambda), ("weight decay", self.weight_decay)):
            if not _is_real(value) or not 0 <= value <= MAX_PENALTY:
                raise TrainingError(
                    f"{name} must be a number from 0 to {MAX_PENALTY:g}, got {quote(value)}"
                )

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields, e.g. for network metadata and sessions."""
        data = dataclasses.asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The config :meth:`to_dict` wrote; unknown keys and bad values raise TrainingError."""
        if not isinstance(data, Mapping):
            raise TrainingError(f"a training configuration must be an object, got {quote(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(
                f"unknown training setting(s): {', '.join(quote(str(u)) for u in unknown[:5])}"
            )
        values = dict(data)
        if "hidden" in values:
            if not isinstance(values["hidden"], list | tuple):
                shown = quote(values["hidden"])
                raise TrainingError(f"hidden must be a list of widths, got {shown}")
            values["hidden"] = tuple(values["hidden"])
        return cls(**values)

    @property
    def regularized(self) -> bool:
        """Whether the Jacobian term is on."""
        return self.jr_lambda > 0


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """A finite int or float (not a bool): NaN fails every range check below, silently."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float64
        return False


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise TrainingError(f"unknown {name} {quote(value)}; choose from {', '.join(choices)}")


def _positive(name: str, value: object, upper: float) -> None:
    if not _is_real(value) or not 0 < value <= upper:
        raise TrainingError(f"{name} must be a number in (0, {upper:g}], got {quote(value)}")


def build_model(config: TrainConfig, input_dim: int, n_classes: int) -> nn.Sequential:
    """The untrained network of ``config``: ``input_dim → hidden… → n_classes``, float32."""
    widths = [input_dim, *config.hidden, n_classes]
    return make_mlp(widths, config.activation, seed=config.seed, dtype=torch.float32)


# ----------------------------------------------------------------------------------------------
# Activations with the derivatives the fused step needs
# ----------------------------------------------------------------------------------------------

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


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


_aten = torch.ops.aten
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


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


class _FusedStep:
    """Loss and gradients of ``CE + λ · estimated mean ‖J‖²_F`` for an MLP, written out by hand.

    Rows ``0..B-1`` of every activation buffer hold the batch; rows ``B + jB .. B + (j+1)B - 1``
    hold the tangents ``∂h/∂x · u_j`` of direction ``j``. One matrix product per layer moves
    both; the backward pass moves the adjoints of both in the same two products per layer that
    a plain backward pass needs. With no directions it is a plain (fast) training step.

    All buffers are allocated once and the gradients land in the parameters' ``.grad``
    tensors, ready for a torch optimizer (which updates the weights in place, so the
    transposed views of them made here stay valid).
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
    ):
        linears = [m for m in model if isinstance(m, nn.Linear)]
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

    @property
    def tangent_inputs(self) -> torch.Tensor:
        """The ``(directions·B, d)`` rows the caller fills with the input directions ``u_j``."""
        return self._inputs[0].all[self.batch :]

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
        last = len(self._weights) - 1
        for layer in range(last + 1):
            z = pre[layer]
            torch.mm(inputs[layer].all, self._transposed[layer], out=z.all)
            z.top.add_(self._biases[layer])
            if layer == last:
                break
            out = inputs[layer + 1]
            kernel.forward(z.top, out.top)
            slope = self._slopes[layer]
            kernel.first(z.top, out.top, slope)
            if k:
                torch.mul(z.tangents, slope, out=out.tangents)
        logits = pre[last]
        log_p = torch.log_softmax(logits.top, dim=1)
        cross_entropy = torch.nn.functional.nll_loss(log_p, labels)
        # d CE / d logits = (softmax - onehot) / B, built in place of the logits.
        torch.exp(log_p, out=logits.top).scatter_add_(1, self._label_column, self._minus_one)
        logits.top.mul_(1.0 / batch)
        jacobian_sum = None
        if k:
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


class _Directions:
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


_DIRECTION_BLOCK_STEPS = 64
_DIRECTION_BLOCK_ROWS = 1 << 16


def directions_count(config: TrainConfig, input_dim: int) -> int:
    """Tangent directions per point the regularizer pushes through the network (0 if off)."""
    if not config.regularized:
        return 0
    return input_dim if config.estimator == "exact" else config.n_proj


class _BatchStream:
    """Minibatch indices: each epoch a fresh permutation, batches running across epochs."""

    def __init__(self, n: int, batch: int, generator: torch.Generator):
        self._n, self._batch, self._generator = n, batch, generator
        self._order = torch.empty(0, dtype=torch.long)

    def next(self) -> torch.Tensor:
        if self._order.numel() < self._batch:
            fresh = torch.randperm(self._n, generator=self._generator)
            self._order = torch.cat([self._order, fresh])
        index, self._order = self._order[: self._batch], self._order[self._batch :]
        return index


# ----------------------------------------------------------------------------------------------
# Training runs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The state of a training run after ``step`` steps: what a progress view needs.

    Attributes
    ----------
    step, steps : int
        Steps done, and the run's total.
    cross_entropy : float
        Mean training cross-entropy over the batches since the previous snapshot (at step 0:
        on the whole training set).
    jacobian_term : float or None
        Mean estimated ``‖J‖²_F`` on those batches, the quantity λ multiplies; None when the
        regularizer is off.
    train_accuracy, test_accuracy : float
        On the whole training and test sets (NaN for an empty test set).
    test_frobenius : float
        Mean exact ``‖J‖_F`` of the logits over the test points (training points if there are no
        test points): the number the regularizer is meant to shrink, comparable between runs.
    state : dict of str to torch.Tensor
        A copy of the weights (``state_dict`` of the model :func:`build_model` makes); never the
        live tensors.
    seconds : float
        Training time so far, excluding the time spent measuring snapshots.
    diverged : str or None
        Set on the last snapshot of a run that produced non-finite numbers: what happened. The
        snapshot's ``state`` is then the last finite one, from step ``step``.

    """

    step: int
    steps: int
    cross_entropy: float
    jacobian_term: float | None
    train_accuracy: float
    test_accuracy: float
    test_frobenius: float
    state: dict[str, torch.Tensor]
    seconds: float
    diverged: str | None = None

    @property
    def done(self) -> bool:
        """Whether this is the run's last snapshot."""
        return self.step >= self.steps or self.diverged is not None


def load_state(
    config: TrainConfig, state: Mapping[str, torch.Tensor], input_dim: int, n_classes: int
) -> nn.Sequential:
    """A fresh model of ``config``'s architecture holding ``state`` (e.g. a snapshot's weights).

    Raises TrainingError if the weights do not fit that architecture.
    """
    model = build_model(config, input_dim, n_classes)
    _load_weights(model, state, config, input_dim, n_classes)
    return model.eval().requires_grad_(False)


def _load_weights(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    config: TrainConfig,
    input_dim: int,
    n_classes: int,
) -> None:
    """Load ``state`` into ``model``; a TrainingError says so when it does not fit."""
    try:
        model.load_state_dict(dict(state))
    except (RuntimeError, TypeError, ValueError, AttributeError) as error:
        raise TrainingError(
            f"the weights do not fit a {input_dim}-{'-'.join(map(str, config.hidden))}-"
            f"{n_classes} network: {str(error).splitlines()[0]}"
        ) from None


def _tensors(data: TrainingData) -> tuple[torch.Tensor, ...]:
    arrays = (data.train_points, data.train_labels, data.test_points, data.test_labels)
    points, labels, test_points, test_labels = (np.asarray(a) for a in arrays)
    if points.ndim != 2 or points.shape[0] < 2 or points.shape[1] < 1:
        raise TrainingError(
            f"need at least 2 training points, got an array of shape {points.shape}"
        )
    if not (np.isfinite(points).all() and np.isfinite(test_points).all()):
        raise TrainingError("the dataset has non-finite coordinates")
    k = int(data.n_classes)
    for name, values in (("training", labels), ("test", test_labels)):
        if values.size and (values.min() < 0 or values.max() >= k):
            raise TrainingError(f"{name} labels must be classes 0..{k - 1}")
    if k < 2 or np.unique(labels).size < 2:
        raise TrainingError("the training set needs points of at least two classes")
    return (
        torch.tensor(points, dtype=torch.float32),
        torch.tensor(labels, dtype=torch.long),
        torch.tensor(test_points, dtype=torch.float32).reshape(-1, points.shape[1]),
        torch.tensor(test_labels, dtype=torch.long),
    )


def accuracy(model: nn.Module, points: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``points`` whose argmax logit is the label (NaN if there are none)."""
    if points.shape[0] == 0:
        return math.nan
    with torch.no_grad():
        predicted = model(points.to(next(model.parameters()).dtype)).argmax(dim=1)
    return float((predicted == labels).double().mean())


def jacobian_frobenius(model: nn.Module, points: np.ndarray) -> np.ndarray:
    """Exact ``‖J‖_F`` of the logits at each point (float64), via the app's Jacobian code."""
    points = np.asarray(points, dtype=np.float64)
    n_out = int(
        next(m for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)).out_features
    )
    network = TorchMap(model, "classifier", points.shape[1], n_out)
    _, jacobian = network.evaluate_with_jacobian(points)
    return np.sqrt(np.einsum("nij,nij->n", jacobian, jacobian))


def _make_optimizer(config: TrainConfig, model: nn.Sequential) -> torch.optim.Optimizer:
    # One parameter group (weight decay is added to the gradients by the fused step): each
    # group costs a kernel launch and Python overhead per step.
    parameters = list(model.parameters())
    if config.optimizer == "adam":
        # The fused CPU kernel: a third less optimizer overhead than foreach on these tiny nets.
        return torch.optim.Adam(parameters, lr=config.learning_rate, fused=True)
    return torch.optim.SGD(parameters, lr=config.learning_rate)


def train(
    data: TrainingData,
    config: TrainConfig,
    snapshot_every: int = 50,
    initial_state: Mapping[str, torch.Tensor] | None = None,
    first_step: int = 0,
) -> Iterator[Snapshot]:
    """Train a classifier on ``data``, yielding a :class:`Snapshot` now and then.

    Snapshots come at step 0, every ``snapshot_every`` steps and at the end.

    The run is fully determined by ``config`` and ``data`` (and ``initial_state`` if given):
    when snapshots are taken does not change the weights. Stop early by closing the generator
    (or just not pulling from it). A step that produces a non-finite loss or weights ends the
    run with a last snapshot carrying ``diverged`` and the last finite weights.

    Parameters
    ----------
    data : TrainingData
        Points and labels, e.g. a :class:`jacviz.nets.datasets.Dataset`.
    config : TrainConfig
        Model, optimizer and regularizer.
    snapshot_every : int
        Steps between snapshots (≥ 1). A snapshot costs a forward pass over the data and a
        Jacobian over the test points, so very small values slow training down.
    initial_state : mapping, optional
        Start from these weights (a snapshot's ``state``) instead of the seeded initialization.
    first_step : int
        Go on with a run that stopped at this step (with ``initial_state`` its weights, e.g.
        from a saved session): snapshots count from here and the run ends at
        ``config.steps``. The optimizer starts afresh (its moments are not part of a
        snapshot), so the steps that follow differ from those of an uninterrupted run.

    Raises
    ------
    TrainingError
        If the data cannot be trained on (fewer than 2 points or classes, labels out of range,
        non-finite coordinates), ``snapshot_every`` < 1 or ``first_step`` outside
        0..``config.steps``; raised on the first ``next()``.

    """
    if not _is_int(snapshot_every) or snapshot_every < 1:
        raise TrainingError(f"snapshot interval must be a whole number ≥ 1, got {snapshot_every!r}")
    if not _is_int(first_step) or not 0 <= first_step <= config.steps:
        raise TrainingError(
            f"the first step must be a whole number 0..{config.steps}, got {first_step!r}"
        )
    points, labels, test_points, test_labels = _tensors(data)
    input_dim, n_classes = points.shape[1], int(data.n_classes)
    model = build_model(config, input_dim, n_classes)
    if initial_state is not None:
        _load_weights(model, initial_state, config, input_dim, n_classes)
    model.train()
    batch = min(config.batch_size, points.shape[0])
    generator = torch.Generator().manual_seed(config.seed)
    projections = torch.Generator().manual_seed(config.seed + 1)
    k = directions_count(config, input_dim)
    step_fn = _FusedStep(model, config.activation, points, labels, batch, k, config.weight_decay)
    directions = _Directions(config, step_fn.tangent_inputs, batch, projections) if k else None
    stream = _BatchStream(points.shape[0], batch, generator)
    optimizer = _make_optimizer(config, model)
    measure_points = test_points if test_points.shape[0] else points

    def snapshot(
        step: int, ce: float, term: float | None, seconds: float, diverged: str | None = None
    ) -> Snapshot:
        model.eval()
        frobenius = float(jacobian_frobenius(model, measure_points.double().numpy()).mean())
        result = Snapshot(
            step=step,
            steps=config.steps,
            cross_entropy=ce,
            jacobian_term=term,
            train_accuracy=accuracy(model, points, labels),
            test_accuracy=accuracy(model, test_points, test_labels),
            test_frobenius=frobenius,
            state={name: t.detach().clone() for name, t in model.state_dict().items()},
            seconds=seconds,
            diverged=diverged,
        )
        model.train()
        return result

    with torch.no_grad():
        initial_ce = float(torch.nn.functional.cross_entropy(model(points), labels))
    last_good = snapshot(first_step, initial_ce, None, 0.0)
    yield last_good
    elapsed = 0.0
    step = first_step
    while step < config.steps:
        chunk = min(snapshot_every, config.steps - step)
        started = time.perf_counter()
        ce_sum = torch.zeros((), dtype=torch.float64)
        term_sum = torch.zeros((), dtype=torch.float64)
        with torch.no_grad(), single_threaded():
            for _ in range(chunk):
                if directions is not None:
                    directions.draw()
                ce, term = step_fn(stream.next(), config.jr_lambda)
                optimizer.step()
                ce_sum += ce
                if term is not None:
                    term_sum += term  # a batch sum: divided by the batch size below
        elapsed += time.perf_counter() - started
        step += chunk
        mean_ce = float(ce_sum) / chunk
        mean_term = float(term_sum) / (chunk * batch) if k else None
        finite = math.isfinite(mean_ce) and (mean_term is None or math.isfinite(mean_term))
        finite = finite and all(bool(torch.isfinite(p).all()) for p in model.parameters())
        if not finite:
            model.load_state_dict(last_good.state)
            yield dataclasses.replace(
                last_good,
                seconds=elapsed,
                diverged=(
                    f"training diverged between steps {last_good.step} and {step} (the loss or "
                    "the weights became infinite or NaN); kept the weights of step "
                    f"{last_good.step}. Try a smaller learning rate or λ."
                ),
            )
            return
        last_good = snapshot(step, mean_ce, mean_term, elapsed)
        yield last_good


def run(data: TrainingData, config: TrainConfig, snapshot_every: int = 200) -> Snapshot:
    """Train to the end (or divergence) and return the last snapshot."""
    last = None
    for last in train(data, config, snapshot_every=snapshot_every):  # noqa: B007
        pass
    assert last is not None
    return last


def projection_estimates(
    jacobians: np.ndarray, n_proj: int, draws: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``‖J‖²_F`` and ``draws`` random-projection estimates of it, per Jacobian.

    The estimates use the trainer's own direction sampler, so what a user sees spread around
    the exact value is what the ``"random"`` estimator feeds the loss.

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
    n_points, _, dim = jac.shape
    config = TrainConfig(jr_lambda=1.0, estimator="random", n_proj=n_proj)
    # One draw of the sampler for all estimates at once: a "batch" of draws × N points.
    rows = torch.empty(n_proj * draws * n_points, dim, dtype=torch.float64)
    _Directions(config, rows, draws * n_points, torch.Generator().manual_seed(seed)).draw()
    pushed = torch.einsum("nkd,pwnd->pwnk", jac, rows.view(n_proj, draws, n_points, dim))
    estimates = (pushed**2).sum(dim=(0, 3)).numpy()
    return (jac**2).sum(dim=(1, 2)).numpy(), estimates
