"""A network's Jacobian layer by layer: chain-rule factors at a point, and the grid in every layer.

For an MLP ``f = f_L ∘ ⋯ ∘ f_1`` the chain rule writes the Jacobian at a point as a product of
one factor per layer, ``J = J_L ⋯ J_1``: a Linear layer contributes its weight ``W`` (the same at
every point) and an elementwise activation ``σ`` contributes ``diag(σ'(z))`` at the
pre-activation ``z`` the point reaches. Seeing the factors, their singular values and those of
the running products ``J_i ⋯ J_1`` shows which layer stretches the input and which squashes it.
:func:`factorize` computes them; for a network seen on a plane through its input space (a
:class:`~jacviz.nets.views.SliceMap`) the chain starts with the plane's own factor ``[u v]``.

:func:`layer_images` follows the whole input grid through the same layers: the images of the
grid lines in every layer's space, seen in 2D. Layers of width 2 are shown as they are; wider ones
through an orthonormal projection (by default onto the layer's top two principal directions, or
onto two of its units), so that lengths are never magnified and all layers keep one true scale.
(ConvNetJS's "classify 2D" demo rescales every layer's picture to fit its frame and so loses the
scale.) :func:`layer_path` sends a few more points (the probe and a small circle around it)
through the network and shows them exactly as an earlier :func:`layer_images` call showed the
grid, cheaply enough to follow a dragged probe.

All three read the network with the MLP walker (:mod:`jacviz.math.jacobian.walker`), so they walk
exactly the chains :func:`jacviz.math.jacobian.sequential_jacobian` walks, with its per-layer
rules and its activation derivatives (torch's own backward kernels, or for one point their
numpy twins, :mod:`jacviz.math.jacobian.small`; either way the factors agree with autograd to
rounding, kink conventions included); anything else raises :class:`LayerError` naming the
layer.
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jacviz.support.threads import single_threaded

if TYPE_CHECKING:
    import torch
    from torch import nn

    from jacviz.math.jacobian.walker import Step

# torch is imported by the functions that compute, so that the types here (and the app that
# shows them) load without it; any caller has a torch model, hence torch, already.

__all__ = [
    "PROJECTIONS",
    "Factor",
    "LayerError",
    "LayerImage",
    "factorize",
    "layer_images",
    "layer_path",
    "principal_plane",
]

PROJECTIONS: dict[str, str] = {
    "pca": "PCA: the layer's top two principal directions over the grid, centred",
    "coordinates": "the layer's first two units, uncentred: the unit pair (0, 1)",
}
"""Named projections :func:`layer_images` accepts for layers wider than 2: key -> description.

Besides these, a pair of unit indices ``(i, j)`` shows units ``i`` and ``j``.
"""

# Activation kinds whose name is not simply the lower-cased class name (torch's own classes).
_KIND_NAMES: dict[str, str] = {"LeakyReLU": "leaky_relu"}


class LayerError(ValueError):
    """The network cannot be walked layer by layer.

    ``str(error)`` names the offending layer (its path in the model, e.g. ``'1.2'``, and its
    class) and says why, so the app can tell the user why the layer views are unavailable.
    Subclasses :class:`ValueError`.
    """


# ----------------------------------------------------------------------------------------------
# Walking the model
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One walked step with the module it came from."""

    name: str  # dotted path in the model ("" for the model itself)
    module: nn.Module
    step: Step
    kind: str
    in_features: int
    out_features: int

    @property
    def label(self) -> str:
        if self.kind == "linear":
            return f"Linear {self.in_features}→{self.out_features}"
        return f"{self.kind} ({self.out_features})"


def _kind(module: nn.Module) -> str:
    from torch import nn

    cls = type(module)
    if cls is nn.Linear:
        return "linear"
    if cls is getattr(nn, cls.__name__, None):  # torch's own class, not a namesake
        return _KIND_NAMES.get(cls.__name__, cls.__name__.lower())
    return cls.__name__.lower()


def _layers(model: nn.Module, n: int) -> list[_Layer]:
    """Walk ``model`` for ``n`` inputs into named layers with their widths.

    Raises
    ------
    LayerError
        If a layer cannot be walked, or consecutive layers disagree on their width.
    ValueError
        If the first Linear layer does not take ``n`` inputs.

    """
    from jacviz.math.jacobian.walker import LinearStep, WalkRefused, named_steps

    try:
        named = named_steps(model)
    except WalkRefused as refused:
        raise LayerError(str(refused)) from None
    layers: list[_Layer] = []
    width = n
    for name, module, step in named:
        if isinstance(step, LinearStep):
            if step.in_features != width:
                if not layers:
                    raise ValueError(
                        f"the network takes {step.in_features} inputs (layer {name!r}), "
                        f"got points with {n}"
                    )
                raise LayerError(
                    f"cannot walk layer {name!r} (Linear {step.in_features}→"
                    f"{step.out_features}): it expects {step.in_features} features but the "
                    f"layer before it ({layers[-1].label}) gives {width}"
                )
            layers.append(_Layer(name, module, step, "linear", step.in_features, step.out_features))
            width = step.out_features
        else:
            layers.append(_Layer(name, module, step, _kind(module), width, width))
    return layers


def _model_dtype(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    # Activations only: numpy's float64 points are used as they are.
    import torch

    from jacviz.math.jacobian.walker import parameter_dtype

    return parameter_dtype(model) or (torch.float64, torch.device("cpu"))


def _call(layer: _Layer, x: torch.Tensor) -> torch.Tensor:
    """Run the layer's own module on ``x``, leaving ``x`` intact.

    ``nn.ReLU(inplace=True)`` and friends would overwrite ``x``: the pre-activation the
    derivative needs, or the caller's own points.
    """
    return layer.module(x.clone() if getattr(layer.module, "inplace", False) else x)


def _readonly(array: np.ndarray) -> np.ndarray:
    """Mark ``array`` read-only (in place) and return it: results are shared between threads."""
    array.flags.writeable = False
    return array


def _to_float64(tensor: torch.Tensor) -> np.ndarray:
    """A fresh float64 numpy copy (never a view of a model tensor that training may change)."""
    import torch

    return np.ascontiguousarray(
        tensor.detach().to(device="cpu", dtype=torch.float64, copy=True).numpy()
    )


# ----------------------------------------------------------------------------------------------
# Chain-rule factors at a point
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Factor:
    """One factor ``J_i`` of the chain rule ``J = J_L ⋯ J_1`` at a point, and the product so far.

    Arrays are float64 and read-only (results are shared between worker threads and views).

    Attributes
    ----------
    index : int
        Position in the walked chain, from 0 (Identity and Flatten layers are not counted: their
        factor is the identity). Matches :attr:`LayerImage.index`. The slice factor (see
        ``directions`` in :func:`factorize`) is -1, so that the layers keep their indices.
    kind : str
        ``"linear"``, the activation's name (``"tanh"``, ``"relu"``, ``"leaky_relu"``,
        ``"sigmoid"``, ``"softplus"``, ``"gelu"``, ``"elu"``, ``"silu"``), or ``"slice"``.
    label : str
        Human label, e.g. ``"Linear 2→64"``, ``"tanh (64)"`` or ``"slice [u v]"``.
    name : str
        The layer's dotted path in the model (as in ``model.named_modules()``), e.g. ``"2"``;
        ``""`` when the model is a single layer, and for the slice factor.
    shape : tuple of int
        ``(out, in)`` of the factor.
    weight : numpy.ndarray or None
        Linear layers: a copy of ``W`` ``(out, in)``, the factor itself; the slice factor: a
        copy of ``[u v]`` ``(n, 2)``. None for activations.
    diagonal : numpy.ndarray or None
        Activations: ``σ'(z)`` ``(width,)`` at the pre-activation ``z`` the point reaches, the
        factor's diagonal. None for Linear layers.
    singular_values : numpy.ndarray
        All ``min(out, in)`` singular values of the factor, descending.
    product : numpy.ndarray
        The running product ``J_i ⋯ J_1`` ``(out, n)``: the Jacobian of the network up to and
        including this layer. The last factor's is the network's Jacobian. On a slice the
        products are ``J_i ⋯ J_1 · [u v]`` ``(out, 2)``, ending with the slice map's Jacobian.
    product_singular_values : numpy.ndarray
        The ``min(out, n)`` (on a slice ``min(out, 2)``) singular values of :attr:`product`,
        descending.

    """

    index: int
    kind: str
    label: str
    name: str
    shape: tuple[int, int]
    weight: np.ndarray | None
    diagonal: np.ndarray | None
    singular_values: np.ndarray
    product: np.ndarray
    product_singular_values: np.ndarray

    @functools.cached_property
    def matrix(self) -> np.ndarray:
        """The factor ``J_i`` as a dense ``(out, in)`` matrix: ``W``, or ``diag(σ'(z))``.

        Activation factors are built on first access only: stored densely, a 4096-wide one
        would take 128 MB.
        """
        if self.weight is not None:
            return self.weight
        assert self.diagonal is not None
        return _readonly(np.diag(self.diagonal))


# Singular values of Linear weights, which do not depend on the point: a 1024 x 1024 SVD costs
# ~0.2 s, far too much to repeat on every mouse move. Keyed by module (dropped with it) and
# checked against a digest of the weight, so training or loading new weights is always seen
# (a check on the parameter's _version would miss writes through .data).
_WEIGHT_SV: weakref.WeakKeyDictionary[nn.Module, tuple[bytes, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)
_WEIGHT_SV_LOCK = threading.Lock()


def _weight_singular_values(module: nn.Module, weight: np.ndarray) -> np.ndarray:
    digest = hashlib.blake2b(weight, digest_size=16).digest()  # ~25 us for 64 x 64
    with _WEIGHT_SV_LOCK:
        cached = _WEIGHT_SV.get(module)
    if cached is not None and cached[0] == digest:
        return cached[1]
    values = _readonly(np.linalg.svd(weight, compute_uv=False))
    with _WEIGHT_SV_LOCK:
        _WEIGHT_SV[module] = (digest, values)
    return values


def _point_tensor(point: np.ndarray, dtype: torch.dtype, device: Any) -> torch.Tensor:
    import torch

    array = np.asarray(point, dtype=np.float64)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise ValueError(f"expected one point of shape (n,), got an array of shape {array.shape}")
    return torch.from_numpy(array).to(dtype=dtype, device=device).unsqueeze(0)


def factorize(
    model: torch.nn.Module, point: np.ndarray, directions: np.ndarray | None = None
) -> list[Factor]:
    """Factor the network's Jacobian at ``point`` by the chain rule, one factor per layer.

    The product of the factors' matrices, last first, is the network's Jacobian at the point;
    the singular values of each factor and of each running product show where the input is
    stretched and where it is squashed.

    A network with more than 2 inputs is seen on a plane ``x = b + s·u + t·v`` (see
    :class:`~jacviz.nets.views.SliceMap`), whose Jacobian is ``J_L ⋯ J_1 · [u v]``: pass
    ``directions = [u v]`` and the factors start with ``[u v]`` itself, so that every running
    product is the Jacobian of the plane's map into that layer and the last one is the slice
    map's own Jacobian.

    Parameters
    ----------
    model : torch.nn.Module
        An ``nn.Sequential`` (possibly nested) of the layers
        :func:`~jacviz.math.jacobian.sequential_jacobian` walks (``nn.Linear``, elementwise
        activations, ``nn.Identity``, ``nn.Flatten`` over dim 1), or one such layer: e.g.
        :func:`~jacviz.nets.networks.make_mlp`'s networks or the ``.module`` of a loaded jacviz
        MLP file.
    point : numpy.ndarray
        One input point ``(n,)`` (or ``(1, n)``). The forward pass runs in the model's dtype
        and device, as the network itself would. On a slice, the full input point ``b + s·u +
        t·v``, not its plane coordinates.
    directions : numpy.ndarray, optional
        ``(n, 2)`` matrix ``[u v]`` of a slice's directions, e.g.
        :attr:`SliceMap.directions <jacviz.nets.views.SliceMap.directions>`.

    Returns
    -------
    list of Factor
        One per Linear layer and activation, in forward order, after the slice factor
        (``kind == "slice"``, ``index == -1``) when ``directions`` is given; empty for a model
        without such layers and no slice (its Jacobian is the identity).

    Raises
    ------
    LayerError
        If a layer cannot be walked (the message names it) or layer widths do not chain.
    ValueError
        If ``point`` is not one point with as many coordinates as the network has inputs,
        ``directions`` is not ``(n, 2)`` and finite, or the model's parameters mix dtypes or
        devices.

    Notes
    -----
    Activation derivatives come from the MLP walker's kernels (the ones the Jacobians use;
    their numpy twins when every layer has them, a tenth of torch's cost for one point),
    evaluated on the activations the walk computes, so for float64 networks the product of the
    factors equals autograd's Jacobian to ~1e-15 relative. The singular values of each Linear
    weight are computed once per weight (cached by content) and those of the running products
    in one stacked SVD, so moving the point costs only the forward pass, the running products
    ``(width, n)`` and that SVD: ~0.45 ms for a 2-64-64-64-2 MLP.

    """
    from jacviz.math.jacobian.walker import LinearStep

    dtype, device = _model_dtype(model)
    x = _point_tensor(point, dtype, device)
    n = x.shape[1]
    layers = _layers(model, n)
    start = None if directions is None else _slice_factor(directions, n)
    product = np.eye(n) if start is None else start.product
    matrices: list[tuple[np.ndarray | None, np.ndarray | None, np.ndarray]] = []
    products = []
    for layer, derivative in zip(layers, _derivatives(layers, x), strict=True):
        if isinstance(layer.step, LinearStep):
            weight = _readonly(_to_float64(layer.step.weight_t.t()))
            product = weight @ product
            matrices.append((weight, None, _weight_singular_values(layer.module, weight)))
        else:
            diagonal = _readonly(derivative)
            product = diagonal[:, None] * product
            # A diagonal matrix's singular values are its entries' magnitudes.
            matrices.append((None, diagonal, _readonly(np.sort(np.abs(diagonal))[::-1])))
        products.append(_readonly(product))
    factors = [] if start is None else [start]
    for index, (layer, (weight, diagonal, values), product, product_values) in enumerate(
        zip(layers, matrices, products, _stacked_singular_values(products), strict=True)
    ):
        factors.append(
            Factor(
                index=index,
                kind=layer.kind,
                label=layer.label,
                name=layer.name,
                shape=(layer.out_features, layer.in_features),
                weight=weight,
                diagonal=diagonal,
                singular_values=values,
                product=product,
                product_singular_values=_readonly(product_values),
            )
        )
    return factors


def _derivatives(layers: list[_Layer], x: torch.Tensor) -> list[np.ndarray | None]:
    """``σ'(z)`` at the point ``x`` ``(1, n)`` for every activation layer (None for a Linear).

    Float64 copies. Through the walker's numpy kernels when every layer has them (a tenth of
    torch's cost for one point), else by running each layer's own module.
    """
    import torch

    from jacviz.math.jacobian.small import numpy_chain

    chain = numpy_chain([layer.step for layer in layers], x)
    if chain is not None:
        return [
            None if d is None else np.array(d[0], dtype=np.float64)
            for d in chain.derivatives(x.numpy())
        ]
    derivatives: list[np.ndarray | None] = []
    with torch.inference_mode():
        for layer in layers:
            y = _call(layer, x)
            step = layer.step
            derivatives.append(
                None if layer.kind == "linear" else _to_float64(step.derivative_at(x, y)[0])
            )
            x = y
    return derivatives


def _stacked_singular_values(matrices: list[np.ndarray]) -> list[np.ndarray]:
    """The singular values of each of ``matrices`` (all with the same number of columns).

    One LAPACK call for the whole stack: each matrix is padded with zero rows to the tallest,
    which leaves its ``min(rows, columns)`` singular values as they are and adds zeros, cut off
    again here. (Seven separate calls cost ~0.15 ms a probe move on a 2-64-64-64-2 MLP.)
    """
    if not matrices:
        return []
    rows = max(matrix.shape[0] for matrix in matrices)
    columns = matrices[0].shape[1]
    stack = np.zeros((len(matrices), rows, columns))
    for slot, matrix in zip(stack, matrices, strict=True):
        slot[: matrix.shape[0]] = matrix
    values = np.linalg.svd(stack, compute_uv=False)
    return [v[: min(matrix.shape)] for v, matrix in zip(values, matrices, strict=True)]


def _slice_factor(directions: np.ndarray, n: int) -> Factor:
    """The first factor ``[u v]`` of a network seen on a plane of its ``n``-dimensional input."""
    matrix = np.array(directions, dtype=np.float64)  # a copy: the caller's array may change
    if matrix.shape != (n, 2) or not np.all(np.isfinite(matrix)):
        raise ValueError(
            f"directions must be a finite ({n}, 2) matrix [u v] for a network of {n} inputs, "
            f"got shape {matrix.shape}"
        )
    _readonly(matrix)
    values = _readonly(np.linalg.svd(matrix, compute_uv=False))
    return Factor(
        index=-1,
        kind="slice",
        label="slice [u v]",
        name="",
        shape=(n, 2),
        weight=matrix,
        diagonal=None,
        singular_values=values,
        product=matrix,
        product_singular_values=values,
    )


# ----------------------------------------------------------------------------------------------
# The grid in every layer's space
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LayerImage:
    """The images of the grid lines in one layer's space, seen in 2D at true scale.

    Arrays are float64 and read-only.

    Attributes
    ----------
    index : int
        Position in the walked chain; matches :attr:`Factor.index`.
    kind : str
        ``"linear"`` or the activation's name (as in :class:`Factor`).
    label : str
        Human label, e.g. ``"Linear 2→64"`` or ``"tanh (64)"``.
    name : str
        The layer's dotted path in the model.
    width : int
        Number of units of the layer.
    curves : numpy.ndarray
        ``(L, S, 2)`` (the lines' shape with 2 coordinates): sample ``k`` of line ``l`` seen in
        this layer. Width 2: the activations themselves; width 1: the activation and 0; wider:
        ``(activations - mean) @ basis``, or units ``i`` and ``j`` themselves. inf/NaN where
        the network overflowed.
    basis : numpy.ndarray or None
        ``(width, 2)`` orthonormal columns the activations were projected on; None for
        width <= 2.
    mean : numpy.ndarray or None
        ``(width,)`` centre subtracted before projecting; None when nothing was subtracted.
    explained : float
        Fraction of the variance of the layer's activations over the grid (about their mean)
        that the 2D view shows, in [0, 1]; 1.0 for width <= 2 and for constant activations.
    units : tuple of int or None
        ``(i, j)`` when the layer is seen through two of its units (``basis`` is then columns
        ``i`` and ``j`` of the identity); None for PCA and for width <= 2.

    """

    index: int
    kind: str
    label: str
    name: str
    width: int
    curves: np.ndarray
    basis: np.ndarray | None
    mean: np.ndarray | None
    explained: float
    units: tuple[int, int] | None = None


def _finite(data: torch.Tensor) -> torch.Tensor:
    """The rows of an ``(N, w)`` tensor without inf/NaN (the tensor itself when all are)."""
    import torch

    if bool(torch.isfinite(data.sum())):  # one reduction answers the common case
        return data
    return data[torch.isfinite(data).all(dim=1)]


def _normalised(data: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``data * 2**-e`` with its largest magnitude in [0.5, 1), and ``e``.

    Power-of-two scaling is exact, and it keeps the scatter matrix and the variances finite for
    activations near the float64 limits (a network that blows up) or tiny ones.
    """
    peak = float(data.abs().amax()) if data.numel() else 0.0
    if not (peak > 0 and math.isfinite(peak)):
        return data, 0
    exponent = max(math.frexp(peak)[1], -1000)  # 2**1000 is the largest factor needed
    return data * math.ldexp(1.0, -exponent), exponent


def _scale_back(data: torch.Tensor, exponent: int) -> torch.Tensor:
    """``data * 2**exponent`` in place, in two steps since ``2**1024`` is not a float64."""
    half = exponent // 2
    return data.mul_(math.ldexp(1.0, half)).mul_(math.ldexp(1.0, exponent - half))


def _plane(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Top-2 principal plane of finite ``(N, w)`` float64 rows.

    Returns the basis, the mean, and the centred rows times ``2**-e``, and ``e``.
    """
    import torch

    width = data.shape[1]
    if not len(data):
        zeros = torch.zeros(width, dtype=data.dtype)
        return torch.eye(width, 2, dtype=data.dtype), zeros, data, 0
    scaled, exponent = _normalised(data)
    mean = scaled.mean(dim=0)
    centred = scaled - mean
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    basis = vectors[:, [-1, -2]]
    pivots = basis.abs().argmax(dim=0)
    basis *= torch.where(basis[pivots, [0, 1]] < 0, -1.0, 1.0)
    return basis, _scale_back(mean, exponent), centred, exponent


def _explained(centred: torch.Tensor, basis: torch.Tensor) -> float:
    """Fraction of ``|centred|²`` kept by projecting on ``basis`` (1.0 when there is none).

    ``centred`` should be normalised (see :func:`_normalised`) so that the sums stay finite.
    """
    total = float(centred.square().sum())
    if not total > 0:
        return 1.0
    shown = float((centred @ basis).square().sum())
    return min(max(shown / total, 0.0), 1.0)


def principal_plane(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The plane of the top two principal directions of a point cloud.

    Parameters
    ----------
    points : numpy.ndarray
        ``(N, w)`` points, ``w >= 2``. Rows with inf/NaN entries are ignored.

    Returns
    -------
    basis : numpy.ndarray
        ``(w, 2)`` float64 orthonormal columns spanning the plane, first the direction of
        largest variance. Signs are fixed (each column's largest-magnitude entry is positive)
        so that the view does not flip between nearby inputs.
    mean : numpy.ndarray
        ``(w,)`` centroid of the points.
    explained : float
        Fraction of the total variance about the centroid lying in the plane, in [0, 1]
        (1.0 for rank <= 2 data, including constant data).

    Notes
    -----
    ``eigh`` of the ``w x w`` scatter matrix in float64, in torch rather than numpy: numpy's
    OpenBLAS threads and torch's OpenMP threads slow each other down 3-10x when their calls
    alternate, as they do in :func:`layer_images`. O(N w² + w³): ~1 ms for 5418 points of
    width 64, seconds at width 4096.

    """
    import torch

    data = torch.as_tensor(np.asarray(points, dtype=np.float64))
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"expected points of shape (N, w) with w >= 2, got {tuple(data.shape)}")
    basis, mean, centred, _ = _plane(_finite(data))
    return basis.numpy(), mean.numpy(), _explained(centred, basis)


_Projection = str | tuple[int, int] | LayerImage
"""How one layer is seen: ``"pca"``, a unit pair ``(i, j)``, or as in an earlier image."""
_Projections = str | tuple[int, int] | Sequence[LayerImage]
"""What :func:`layer_images` accepts: one projection for every layer, or earlier images."""


@dataclass(frozen=True)
class _Projected:
    """One layer's activations in 2D and how they were projected (see :class:`LayerImage`)."""

    points: torch.Tensor
    basis: np.ndarray | None = None
    mean: np.ndarray | None = None
    explained: float = 1.0
    units: tuple[int, int] | None = None


def _project(activations: torch.Tensor, how: _Projection, measure: bool = True) -> _Projected:
    """Project one layer's ``(N, w)`` float64 rows to 2D; ``measure=False`` skips ``explained``."""
    import torch

    width = activations.shape[1]
    if width == 2:
        return _Projected(activations)
    if width == 1:
        return _Projected(torch.cat([activations, torch.zeros_like(activations)], dim=1))
    if isinstance(how, LayerImage) and how.units is not None:
        how = how.units
    if how == "pca":
        finite = _finite(activations)
        basis, mean, centred, exponent = _plane(finite)
        explained = _explained(centred, basis)
        if finite is activations:  # already centred (and exactly scaled by a power of two)
            points = _scale_back(centred @ basis, exponent)
        else:
            points = (activations - mean) @ basis
        return _Projected(points, basis.numpy(), mean.numpy(), explained)
    units: tuple[int, int] | None = None
    if isinstance(how, LayerImage):
        assert how.basis is not None
        basis = torch.from_numpy(np.array(how.basis, dtype=np.float64))
        mean = None if how.mean is None else torch.from_numpy(np.array(how.mean))
        points = (activations if mean is None else activations - mean) @ basis
    else:
        units = (int(how[0]), int(how[1]))
        basis, mean = torch.eye(width, dtype=activations.dtype)[:, list(units)], None
        # Indexing, not a product with the 0/1 basis: exact, and an infinite unit that is not
        # shown cannot turn the shown ones into NaN (inf * 0).
        points = activations[:, list(units)]
    explained = 1.0
    if measure:
        scaled, _ = _normalised(_finite(activations))
        explained = _explained(scaled - scaled.mean(dim=0) if len(scaled) else scaled, basis)
    return _Projected(
        points, basis.numpy(), None if mean is None else mean.numpy(), explained, units
    )


def _check_previous(previous: Sequence[LayerImage], layers: list[_Layer]) -> None:
    if len(previous) != len(layers) or any(
        image.width != layer.out_features for image, layer in zip(previous, layers, strict=False)
    ):
        raise ValueError(
            "projection: the previous layer images do not match this network's layers "
            f"({[image.width for image in previous]} vs {[la.out_features for la in layers]})"
        )
    for image in previous:
        if image.width > 2:
            basis = image.basis
            if basis is None or basis.shape != (image.width, 2):
                raise ValueError(f"projection: layer {image.index} has no (width, 2) basis")
            # max of the deviation rather than np.allclose: ~10x cheaper, and this runs on
            # every probe move (layer_path).
            if not np.abs(basis.T @ basis - np.eye(2)).max() <= 1e-9:
                raise ValueError(f"projection: the basis of layer {image.index} is not orthonormal")


def _unit_pair(projection: Sequence[Any], layers: list[_Layer]) -> tuple[int, int]:
    """Check a ``(i, j)`` projection against every layer wider than 2, which all show it."""
    if len(projection) != 2 or not all(
        isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in projection
    ):
        raise ValueError(
            f"projection {tuple(projection)!r}: a unit pair is two integers (i, j); other "
            f"projections are {', '.join(map(repr, PROJECTIONS))} or the layer images of an "
            "earlier call"
        )
    i, j = (int(k) for k in projection)
    if i == j or min(i, j) < 0:
        raise ValueError(f"projection ({i}, {j}): choose two different units, numbered from 0")
    wide = [layer for layer in layers if layer.out_features > 2]
    too_narrow = [layer for layer in wide if max(i, j) >= layer.out_features]
    if too_narrow:
        layer = too_narrow[0]
        narrowest = min(la.out_features for la in wide)
        raise ValueError(
            f"projection ({i}, {j}): layer {layers.index(layer) + 1}, {layer.label}, has "
            f"{layer.out_features} units (0 to {layer.out_features - 1}); every layer wider "
            f"than 2 shows the same two units, so pick units below {narrowest}"
        )
    return i, j


def _per_layer(projection: _Projections, layers: list[_Layer]) -> Sequence[_Projection]:
    """How each layer is seen, after checking ``projection`` against the network."""
    if isinstance(projection, str):
        if projection not in PROJECTIONS:
            raise ValueError(
                f"unknown projection {projection!r}; choose from {', '.join(PROJECTIONS)}, "
                "a unit pair (i, j) or the layer images of an earlier call"
            )
        if projection == "coordinates":
            return [_unit_pair((0, 1), layers)] * len(layers)
        return [projection] * len(layers)
    items = list(projection)
    if all(isinstance(item, LayerImage) for item in items):
        _check_previous(items, layers)
        return items
    return [_unit_pair(items, layers)] * len(layers)


def _forward(
    model: torch.nn.Module, points: np.ndarray, projection: _Projections, measure: bool
) -> list[tuple[_Layer, _Projected]]:
    """Run ``(..., n)`` points through the walked layers, projecting after each one."""
    import torch

    grid = np.asarray(points, dtype=np.float64)
    if grid.ndim < 1:
        raise ValueError("expected points of shape (..., n), got a number")
    dtype, device = _model_dtype(model)
    layers = _layers(model, grid.shape[-1])
    per_layer = _per_layer(projection, layers)
    x = torch.from_numpy(grid.reshape(-1, grid.shape[-1])).to(dtype=dtype, device=device)
    results = []
    # One torch thread, as everywhere in jacviz (see jacviz.support.threads): this runs on the
    # GUI thread, where two threads on a busy machine made a grid's layers 20-35x slower.
    with torch.inference_mode(), single_threaded():
        for layer, how in zip(layers, per_layer, strict=True):
            x = _call(layer, x)
            activations = x.detach().to(device="cpu", dtype=torch.float64, copy=True)
            results.append((layer, _project(activations, how, measure)))
    return results


def layer_widths(model: torch.nn.Module, n: int) -> list[int]:
    """The width of each layer :func:`layer_images` shows for ``n`` inputs, in forward order.

    Cheap (a walk of the modules, the model is not run): the app offers its "Inside the
    network" view, and checks a unit pair, with it, and draws the layers only when the view
    is on screen. Raises as :func:`layer_images` does when a layer cannot be walked or the
    first Linear layer does not take ``n`` inputs.
    """
    return [layer.out_features for layer in _layers(model, n)]


def layer_images(
    model: torch.nn.Module,
    lines: np.ndarray,
    projection: str | tuple[int, int] | Sequence[LayerImage] = "pca",
) -> list[LayerImage]:
    """Follow grid lines through the network: their images after every layer, in 2D.

    Parameters
    ----------
    model : torch.nn.Module
        A network :func:`factorize` accepts.
    lines : numpy.ndarray
        ``(L, S, n)`` sampled input lines, e.g. from :func:`jacviz.math.grid.grid_lines` (any
        leading shape works: ``(..., n)``). The forward pass runs in the model's dtype, on all
        points at once.
    projection : str, (int, int) or sequence of LayerImage, optional
        How layers wider than 2 are seen; always an orthonormal projection, so no length is
        ever magnified and all layers share the input's scale. ``"pca"`` (default): onto the
        top two principal directions of the layer's activations over the grid, centred (see
        :func:`principal_plane`). ``(i, j)``: units ``i`` and ``j`` (counted from 0) of every
        layer wider than 2, uncentred: exactly those activations. ``"coordinates"``: the same
        as ``(0, 1)``. Or the result of an earlier call for the same architecture: its
        bases, means and units are reused, so that frames of a training animation share one
        view instead of re-fitting PCA (which can rotate the picture from frame to frame);
        ``explained`` is still measured on the new activations.

    Returns
    -------
    list of LayerImage
        One per Linear layer and activation, in forward order (indices as in
        :func:`factorize`).

    Raises
    ------
    LayerError
        If a layer cannot be walked (the message names it) or layer widths do not chain.
    ValueError
        If ``lines`` does not end in the network's input width, ``projection`` is unknown or
        does not fit this network (a unit pair whose units are equal, negative, or missing
        from a layer wider than 2: the message names the layer), or the model's parameters mix
        dtypes or devices.

    """
    grid = np.asarray(lines, dtype=np.float64)
    if grid.ndim < 2:
        raise ValueError(f"expected lines of shape (L, S, n), got {grid.shape}")
    return [
        LayerImage(
            index=index,
            kind=layer.kind,
            label=layer.label,
            name=layer.name,
            width=layer.out_features,
            curves=_readonly(seen.points.numpy().reshape(*grid.shape[:-1], 2)),
            basis=None if seen.basis is None else _readonly(np.array(seen.basis)),
            mean=None if seen.mean is None else _readonly(np.array(seen.mean)),
            explained=seen.explained,
            units=seen.units,
        )
        for index, (layer, seen) in enumerate(_forward(model, grid, projection, measure=True))
    ]


def layer_path(
    model: torch.nn.Module, points: np.ndarray, images: Sequence[LayerImage]
) -> np.ndarray:
    """Where input points land in every layer's space, seen exactly as ``images`` show the grid.

    For the probe point and a small circle around it: drawn over the grid's images, they show
    the probe's path through the network and how each layer deforms its neighbourhood.

    Parameters
    ----------
    model : torch.nn.Module
        The network ``images`` came from (:func:`layer_images`).
    points : numpy.ndarray
        ``(..., n)`` input points, e.g. one point ``(n,)``.
    images : sequence of LayerImage
        The grid's images, whose projections (bases, centres, units) are reused unchanged.

    Returns
    -------
    numpy.ndarray
        ``(len(images), ..., 2)`` float64, read-only: entry ``k`` is the points after layer
        ``k``, as :attr:`LayerImage.curves` of ``images[k]`` would show them.

    Raises
    ------
    LayerError, ValueError
        As :func:`layer_images`, and if ``images`` do not fit this network's layers.

    Notes
    -----
    No variance is measured (``explained`` belongs to the grid), so the cost is the forward
    pass of the points and one small product per layer: ~0.5 ms for 65 points through a
    2-64-64-64-2 MLP.

    """
    import torch

    shape = np.shape(points)
    seen = [projected.points for _, projected in _forward(model, points, images, measure=False)]
    if not seen:  # a network without layers
        return _readonly(np.empty((0, *shape[:-1], 2)))
    return _readonly(torch.stack(seen).numpy().reshape(len(seen), *shape[:-1], 2))
