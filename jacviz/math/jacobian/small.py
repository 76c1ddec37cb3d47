"""A few points through a walkable chain in numpy: the probe's work, without torch's overheads.

A probe move asks a network for its value and Jacobian at one point, and the layer table for
its factors there. At this size torch spends most of its time launching ops (5-10 us each),
and numpy's matrix products and ufuncs cost about 1 us: for a 2-64-64-64-2 tanh MLP the
arithmetic of a value and Jacobian at one point takes 20-40 us in numpy against 200 us in
torch. Planning the walk costs ~60 us more, so
:func:`~jacviz.math.jacobian.sequential_jacobian` gains 1.5x for one point
(``benchmarks/bench_jacobian.py`` prints both routes), and a
:class:`~jacviz.math.maps.TorchMap` keeps its module's chain (:func:`model_chain`): its value
and Jacobian at one point went from 225 us to 88 us. In the app, a probe move of that MLP
measured 1-6 % faster (interleaved with the torch route), the layer table's factors included
(:func:`~jacviz.nets.layers.factorize`). Bigger batches (the probe's square and circle, 256
points) stay on torch (:data:`SMALL_WORK`), unless numpy's BLAS is held to one thread, as
in the app (:data:`ONE_THREAD_WORK`).

The chain is the MLP walker's (:func:`~jacviz.math.jacobian.walker.plan`): the weights are
numpy views of the layers' own tensors (so they follow in-place training), the activations
are their :class:`~jacviz.math.jacobian.walker.NumpyKernels`, torch's formulas in the
parameters' dtype. Values and Jacobians therefore agree with the torch walk to rounding.
:func:`~jacviz.math.jacobian.sequential` takes this route by itself for batches small enough
that no matrix product exceeds :data:`SMALL_WORK` when every step has numpy kernels and the
parameters are CPU float32 or float64; everything else stays on torch.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from jacviz.math.jacobian.walker import (
    ActivationStep,
    LinearStep,
    NumpyKernels,
    Step,
    global_hooks_registered,
    parameter_dtype,
    plan,
)
from jacviz.support import threads

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["ONE_THREAD_WORK", "SMALL_WORK", "NumpyChain", "model_chain", "numpy_chain"]

SMALL_WORK = 65_536
"""The largest matrix product, in multiply-adds (points × a Linear's inputs × its outputs), a
batch may need to go through numpy: one point of any layer up to 256 × 256, 16 points of the
2-64-64-64-2 MLP. numpy's BLAS (OpenBLAS) runs bigger products on a thread per core, and while
a heatmap was computed on the other core those products waited for it: a 256-point batch took
0.9 ms a layer instead of 20 us, and MLP map changes 87-92 ms -> 101-125 ms. Below this size
BLAS stays on the calling thread (OpenBLAS's threshold is 4x higher), as jacviz's thread
policy wants (:mod:`jacviz.support.threads`); larger batches, where numpy gained only 10 %,
go through torch on its one thread."""
ONE_THREAD_WORK = 4_194_304
"""The same limit while numpy's BLAS is held to one thread, as the app holds it
(:func:`~jacviz.support.threads.limit_blas_threads`): nothing then waits for another core, and
numpy stays faster than torch's op launches up to about here (measured on one thread each:
1024 points of the 2-64-64-64-2 MLP 330 us against 394, 258 points 95 us against 178; 64
points of a 2-256-256-2 MLP 142 against 197). The probe's square and circle (258 points) of
that MLP then go through numpy."""


_Layer = tuple[np.ndarray, np.ndarray | None] | NumpyKernels
"""A step in numpy: ``(weight_t, bias)`` of a Linear, or an activation's kernels."""
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _as_torch_does(method: _Method) -> _Method:
    """Run ``method`` with numpy's float warnings off, as torch computes.

    Torch overflows to inf and propagates NaN silently, and the callers (as for the torch
    walk) read the non-finite results.
    """

    @functools.wraps(method)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return method(*args, **kwargs)

    return quiet  # type: ignore[return-value]


class NumpyChain:
    """A walkable chain's steps as numpy arrays and kernels (see the module docstring)."""

    def __init__(self, layers: list[_Layer], dtype: np.dtype) -> None:
        self._layers = layers
        self.dtype = dtype
        sizes = [layer[0].size for layer in layers if not isinstance(layer, NumpyKernels)]
        self.largest = max(sizes, default=1)
        """The largest Linear's inputs × outputs: a point's work in its product."""

    def fits(self, count: int) -> bool:
        """Whether ``count`` points stay within :data:`SMALL_WORK` in every product.

        Or within :data:`ONE_THREAD_WORK` when numpy's BLAS is held to one thread (the app).
        """
        limit = ONE_THREAD_WORK if threads.blas_on_one_thread() else SMALL_WORK
        return count * self.largest <= limit

    @_as_torch_does
    def values(self, points: np.ndarray) -> np.ndarray:
        """The chain's values ``(N, m)`` at ``points`` ``(N, n)``, in the chain's dtype."""
        x = self._input(points)
        for _layer, _pre, post in self._walk(x):
            x = post
        return np.array(x, order="C")  # a copy even with no layers: never the caller's points

    @_as_torch_does
    def jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and Jacobians ``(N, m, n)`` at ``points``, by forward tangents.

        The ``n`` tangent directions travel next to the values as an ``(n, N, width)`` stack:
        a Linear multiplies them by its weight, an activation by its derivative.
        """
        x = self._input(points)
        count, n = x.shape
        tangents = np.broadcast_to(np.eye(n, dtype=self.dtype)[:, None, :], (n, count, n))
        for layer, pre, post in self._walk(x):
            if isinstance(layer, NumpyKernels):
                tangents = tangents * layer.derivative(pre, post)
            else:
                tangents = tangents @ layer[0]
            x = post
        return np.ascontiguousarray(x), np.ascontiguousarray(tangents.transpose(1, 2, 0))

    @_as_torch_does
    def derivatives(self, points: np.ndarray) -> list[np.ndarray | None]:
        """Each activation's ``f'(z)`` at the pre-activations ``z`` that ``points`` reach.

        None for a Linear. These are the diagonal chain-rule factors of
        :func:`~jacviz.nets.layers.factorize`.
        """
        return [
            layer.derivative(pre, post) if isinstance(layer, NumpyKernels) else None
            for layer, pre, post in self._walk(self._input(points))
        ]

    def _walk(self, x: np.ndarray) -> Iterator[tuple[_Layer, np.ndarray, np.ndarray]]:
        """Each layer with its input and output, from ``x`` on: the forward pass all three share."""
        for layer in self._layers:
            y = layer.forward(x) if isinstance(layer, NumpyKernels) else _affine(x, *layer)
            yield layer, x, y
            x = y

    def _input(self, points: np.ndarray) -> np.ndarray:
        x = np.asarray(points, dtype=self.dtype)
        if x.ndim != 2:
            raise ValueError(f"points must have shape (N, n), got {x.shape}")
        return x


def _affine(x: np.ndarray, weight_t: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    if weight_t.shape[0] != x.shape[-1]:
        raise ValueError(
            f"linear layer expects {weight_t.shape[0]} input features but gets {x.shape[-1]}"
        )
    y = x @ weight_t
    if bias is not None:
        y += bias
    return y


def numpy_chain(steps: list[Step], points: torch.Tensor) -> NumpyChain | None:
    """The numpy form of ``steps`` for ``points`` (in the parameters' dtype), else None.

    None when a product would exceed :data:`SMALL_WORK`, the points are not on the CPU in
    float32 or float64, or a step has no numpy kernels: the caller then walks in torch.
    """
    import torch

    if points.device.type != "cpu":
        return None
    if points.dtype not in (torch.float32, torch.float64):
        return None
    layers: list[_Layer] = []
    for step in steps:
        if isinstance(step, LinearStep):
            tensors = (step.weight_t, step.bias)
            if any(
                t is not None and (t.device.type != "cpu" or t.dtype != points.dtype)
                for t in tensors
            ):
                return None
            bias = None if step.bias is None else step.bias.numpy()
            layers.append((step.weight_t.numpy(), bias))
        elif isinstance(step, ActivationStep) and step.numpy is not None:
            layers.append(step.numpy)
        else:
            return None
    chain = NumpyChain(layers, np.dtype(str(points.dtype).removeprefix("torch.")))
    return chain if chain.fits(points.shape[0]) else None


_CHAINS: weakref.WeakKeyDictionary[nn.Module, tuple[Hashable, NumpyChain | None]] = (
    weakref.WeakKeyDictionary()
)
_CHAINS_LOCK = threading.Lock()


def model_chain(model: nn.Module, count: int | None = None) -> NumpyChain | None:
    """``model``'s numpy chain (None: it has none), built once per state of the model.

    Planning the walk and building the chain cost ~60 us, three times the arithmetic of a
    one-point Jacobian; a probe move asks twice. The chain is kept with a fingerprint of
    everything the walk reads (:func:`_fingerprint`) and built again when that changes. Its
    weights are views of the parameters' memory, so training in place is always seen.

    With ``count``, None also when the chain does not fit ``count`` points
    (:meth:`NumpyChain.fits`). The chain kept for ``model`` is asked before the fingerprint
    (~100 us of the probe outline's move): whether a batch is small decides only where it
    runs, never what it gets.
    """
    import torch

    def for_count(chain: NumpyChain | None) -> NumpyChain | None:
        return chain if chain is None or count is None or chain.fits(count) else None

    with _CHAINS_LOCK:
        kept = _CHAINS.get(model)
    if kept is not None and kept[1] is not None and for_count(kept[1]) is None:
        return None
    fingerprint = _fingerprint(model)
    if kept is not None and kept[0] == fingerprint:
        return for_count(kept[1])
    steps = plan(model)
    found = parameter_dtype(model) if steps is not None else None
    dtype, device = found or (torch.float32, torch.device("cpu"))
    chain = None
    if steps is not None:
        chain = numpy_chain(steps, torch.empty((0, 1), dtype=dtype, device=device))
    with _CHAINS_LOCK:
        _CHAINS[model] = (fingerprint, chain)
    return for_count(chain)


def _fingerprint(model: nn.Module) -> Hashable:
    """What :func:`~jacviz.math.jacobian.walker.plan` and the chain's arrays depend on.

    Every module (identity, type, hooks and its plain settings, e.g. a LeakyReLU's slope) and
    every parameter (identity and the memory, dtype and shape of its data: assigning
    ``.data`` moves the memory), and whether global forward hooks are registered. ~20 us for
    a 2-64-64-64-2 MLP.
    """
    modules = tuple(
        (
            id(module),
            type(module),
            len(module._forward_hooks) + len(module._forward_pre_hooks),
            tuple(
                (name, value)
                for name, value in vars(module).items()
                if not name.startswith("_") and isinstance(value, int | float | str | bool)
            ),
        )
        for module in model.modules()
    )
    parameters = tuple(
        (id(p), p.data_ptr(), p.dtype, p.device, tuple(p.shape)) for p in model.parameters()
    )
    return global_hooks_registered(), modules, parameters
