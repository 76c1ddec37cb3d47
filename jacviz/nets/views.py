"""Adapters that show networks of any shape on jacviz's 2D planes, as Maps themselves.

The planes draw maps of 2 inputs, and the warped grid needs 2 outputs. Networks with other
shapes are seen through adapters that each satisfy the :class:`~jacviz.math.maps.Map`
protocol, so grid warping, linearization, heatmaps and the probe work on them unchanged and
the adapters compose (``OutputView(ProbabilityMap(SliceMap(net)), "pca", points)``):

- :class:`SliceMap`: a plane through the input space of a network with n > 2 inputs;
- :class:`ProbabilityMap`: the softmax of a classifier's logits, with its exact Jacobian;
- :class:`OutputView`: two coordinates of a k-output map (two chosen outputs, or a fixed
  projection onto the top-2 principal directions);
- :func:`decision_regions`: argmax class, confidence and margin of the logits over a grid.

Every Jacobian is the chain rule applied to the inner map's Jacobian, so it is exact to
rounding whenever the inner one is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from jacviz.math.grid import MAX_BOUND, Domain, sample_points
from jacviz.math.maps import Map, as_points
from jacviz.math.probe import format_number

__all__ = [
    "DecisionRegions",
    "OutputView",
    "ProbabilityMap",
    "SliceMap",
    "decision_regions",
    "softmax",
]

MIN_SINE: float = 1e-8
"""Slice directions closer to parallel than this (sine of the angle between them) are refused.

Below it the plane they span is fixed only by the few bits of ``v`` that ``u`` does not
explain: orthonormalizing divides rounding errors by the sine, and the slice's Jacobians have
a condition number above 1e8 that says more about the directions than about the map."""


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)  # always a copy: callers' arrays are left alone
    array.flags.writeable = False
    return array


def _vector(
    value: object, length: int, what: str, map_name: str, bounded: bool = True
) -> np.ndarray:
    """``value`` as a finite float64 vector of ``length`` entries, or a clear ValueError.

    ``bounded``: its entries must also be at most :data:`~jacviz.math.grid.MAX_BOUND` in size.
    """
    try:
        vector = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be a vector of {length} numbers, got {value!r:.60}"
        ) from None
    if vector.ndim != 1 or len(vector) != length:
        raise ValueError(
            f"{what} has shape {vector.shape}, but {map_name} takes {length} inputs, so it needs "
            f"exactly {length} coordinates"
        )
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{what} has NaN or infinite coordinates: {_format_vector(vector)}")
    if bounded and np.any(np.abs(vector) > MAX_BOUND):
        # b + s·u + t·v must stay finite for every (s, t) of a domain (bounded the same way).
        raise ValueError(f"{what} has coordinates beyond ±{MAX_BOUND:g}: {_format_vector(vector)}")
    return vector


def _norm(vector: np.ndarray) -> float:
    """Euclidean norm that neither overflows nor underflows for finite input."""
    scale = float(np.max(np.abs(vector)))
    if scale == 0.0:
        return 0.0
    return scale * float(np.linalg.norm(vector / scale))


def _format_vector(vector: np.ndarray) -> str:
    return "(" + ", ".join(format_number(float(c), 4) for c in vector) + ")"


def _describe(vector: np.ndarray, symbol: str, axes: bool = True) -> str:
    """Short label of a slice vector: ``0``, a unit axis ``e3``, few coordinates, or ``symbol``.

    ``axes=False`` (for points) never names a vector as a unit axis.
    """
    nonzero = np.flatnonzero(vector)
    if len(nonzero) == 0:
        return "0"
    if axes and len(nonzero) == 1 and vector[nonzero[0]] == 1.0:
        return f"e{nonzero[0] + 1}"
    if len(vector) <= 3:
        return _format_vector(vector)
    return symbol


# ----------------------------------------------------------------------------------------------
# A 2D slice through input space
# ----------------------------------------------------------------------------------------------


class SliceMap:
    """The map ``(s, t) ↦ inner(b + s·u + t·v)``: a plane through an n-dimensional input space.

    Networks with more than 2 inputs are shown on a plane of their input space; every tool
    that needs a map of 2 inputs (grid, heatmaps, probe, linearization) then works on the
    slice. The Jacobian is the chain rule ``J_inner(b + s·u + t·v) · [u v]`` (``(m, n)`` times
    ``(n, 2)``), exact whenever the inner Jacobian is.

    Parameters
    ----------
    inner : Map
        The map to slice, with ``n >= 2`` inputs.
    base : array_like, optional
        The point ``b`` of R^n that slice coordinates ``(0, 0)`` show. Default: the origin.
    u, v : array_like, optional
        Directions of R^n along the slice's first and second coordinates; finite and linearly
        independent. Default: ``e1`` and ``e2``, so the slice varies the first two inputs
        and holds the others at ``b``.
    orthonormalize : bool, optional
        Replace ``u, v`` by the orthonormal pair Gram–Schmidt makes of them (same plane, ``u``
        keeps its direction). Singular values of the slice's Jacobian measure stretch per unit
        of *slice* coordinate: with ``|u| = 2`` every σ doubles, and with ``u`` and ``v`` at an
        angle, areas and σmin/σmax mix the skew of ``[u v]`` with that of the map. With
        orthonormal directions a unit step in the slice is a unit step in input space, so σ,
        det and ‖J‖F are the map's own stretch restricted to the plane.

    Raises
    ------
    ValueError
        If ``inner`` has fewer than 2 inputs, or ``base``, ``u`` or ``v`` do not have one finite
        coordinate of size at most :data:`~jacviz.math.grid.MAX_BOUND` per input, or ``u`` or
        ``v`` is zero, or they are (nearly) parallel (sine of their angle below
        :data:`MIN_SINE`).

    """

    def __init__(
        self,
        inner: Map,
        base: np.ndarray | list | tuple | None = None,
        u: np.ndarray | list | tuple | None = None,
        v: np.ndarray | list | tuple | None = None,
        *,
        orthonormalize: bool = False,
    ):
        n = inner.input_dim
        if n < 2:
            raise ValueError(
                f"{inner.name} takes {n} input{'' if n == 1 else 's'}; a 2D slice needs at least 2"
            )
        eye = np.eye(n)
        base = np.zeros(n) if base is None else _vector(base, n, "slice base point b", inner.name)
        # Directions made orthonormal may come in any size: only what is kept is bounded.
        free = orthonormalize
        u = eye[0] if u is None else _vector(u, n, "slice direction u", inner.name, not free)
        v = eye[1] if v is None else _vector(v, n, "slice direction v", inner.name, not free)
        u_norm, v_norm = _norm(u), _norm(v)
        for symbol, norm in (("u", u_norm), ("v", v_norm)):
            if norm == 0.0:
                raise ValueError(f"slice direction {symbol} is the zero vector; it spans no line")
        u_hat, v_hat = u / u_norm, v / v_norm
        # v_hat minus its projection on u_hat, twice: one pass of classical Gram-Schmidt can
        # leave a component along u_hat of order eps / sine; the second removes it.
        w = v_hat - (u_hat @ v_hat) * u_hat
        w -= (u_hat @ w) * u_hat
        sine = _norm(w)
        if sine < MIN_SINE:
            raise ValueError(
                f"slice directions u = {_describe(u, 'u')} and v = {_describe(v, 'v')} are "
                f"parallel (sine of their angle {sine:.2g}); they must be linearly independent "
                "to span a plane"
            )
        if orthonormalize:
            u, v = u_hat, w / sine
        self._inner = inner
        self._base = _read_only(base)
        self._u = _read_only(u)
        self._v = _read_only(v)
        # (n, 2): the Jacobian of (s, t) -> b + s u + t v.
        self._directions = _read_only(np.column_stack([u, v]))

    @property
    def name(self) -> str:
        """E.g. ``"slice of net.pt through 0 along e1, e2"``."""
        return (
            f"slice of {self._inner.name} through {_describe(self._base, 'b', axes=False)} along "
            f"{_describe(self._u, 'u')}, {_describe(self._v, 'v')}"
        )

    @property
    def input_dim(self) -> int:
        """Always 2: the slice coordinates ``(s, t)``."""
        return 2

    @property
    def output_dim(self) -> int:
        """The inner map's number of outputs."""
        return self._inner.output_dim

    @property
    def inner(self) -> Map:
        """The sliced map."""
        return self._inner

    @property
    def base(self) -> np.ndarray:
        """The base point ``b``, shape ``(n,)``, read-only."""
        return self._base

    @property
    def u(self) -> np.ndarray:
        """Direction of the first slice coordinate, shape ``(n,)``, read-only."""
        return self._u

    @property
    def v(self) -> np.ndarray:
        """Direction of the second slice coordinate, shape ``(n,)``, read-only."""
        return self._v

    @property
    def directions(self) -> np.ndarray:
        """The matrix ``[u v]``, shape ``(n, 2)``, read-only: the Jacobian of :meth:`lift`."""
        return self._directions

    def lift(self, points: np.ndarray) -> np.ndarray:
        """Points of the input space, ``(N, n)``, that slice points ``(N, 2)`` stand for.

        Computed entrywise as ``b + s·u + t·v`` (no BLAS reductions), so the default slice of
        a 2-input map lifts every point to itself exactly.
        """
        st = as_points(points, 2)
        return self._base + st[:, :1] * self._u + st[:, 1:] * self._v

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, m)`` of the inner map at the lifted points."""
        return self._inner.evaluate(self.lift(points))

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and Jacobians ``J_inner · [u v]``, ``(N, m, 2)``."""
        values, jacobian = self._inner.evaluate_with_jacobian(self.lift(points))
        return values, jacobian @ self._directions


# ----------------------------------------------------------------------------------------------
# Classifier views
# ----------------------------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, stable for any finite logits.

    The row maximum is subtracted before exponentiating, so logits of ±1000 give exact
    probabilities instead of ``inf / inf``. A row with any NaN or infinite logit is all NaN:
    the softmax of an infinite logit is only a limit, and its Jacobian is undefined.

    Parameters
    ----------
    logits : numpy.ndarray
        ``(..., k)`` real array.

    Returns
    -------
    numpy.ndarray
        ``(..., k)`` float64 probabilities; finite rows are in [0, 1] and sum to 1.

    """
    z = np.asarray(logits, dtype=np.float64)
    finite = np.all(np.isfinite(z), axis=-1, keepdims=True)
    z = np.where(finite, z, 0.0)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return np.where(finite, p, np.nan)


class ProbabilityMap:
    """Class probabilities ``softmax(inner(x))`` of a map whose k >= 2 outputs are logits.

    Shows where a classifier is confident (heatmaps of p) and how fast its confidence changes
    (σ of the probability Jacobian), which the logits alone hide: logits can stretch a lot
    where probabilities barely move. The Jacobian is the chain rule with the softmax Jacobian
    ``diag(p) − p pᵀ``: row i is ``p_i (J_i − Σ_k p_k J_k)``, so its rows sum to zero (the
    probabilities always sum to 1) and adding a constant to every logit changes nothing.
    Values use :func:`softmax`: stable for large logits, NaN rows where a logit is not finite.
    """

    def __init__(self, inner: Map):
        if inner.output_dim < 2:
            raise ValueError(
                f"{inner.name} has {inner.output_dim} output; a softmax needs at least 2 logits "
                "(with one it is the constant 1)"
            )
        self._inner = inner

    @property
    def name(self) -> str:
        """E.g. ``"softmax(mlp.safetensors)"``."""
        return f"softmax({self._inner.name})"

    @property
    def input_dim(self) -> int:
        """The inner map's number of inputs."""
        return self._inner.input_dim

    @property
    def output_dim(self) -> int:
        """The number of classes k."""
        return self._inner.output_dim

    @property
    def inner(self) -> Map:
        """The map of logits."""
        return self._inner

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, k)``."""
        return softmax(self._inner.evaluate(points))

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities ``(N, k)`` and Jacobians ``(diag(p) − p pᵀ) · J_logits``, ``(N, k, n)``."""
        logits, jacobian = self._inner.evaluate_with_jacobian(points)
        p = softmax(logits)
        # Factored as p_i (J_i - pᵀJ) rather than diag(p) J - p (pᵀJ): one product per entry
        # instead of two, and each row is exactly proportional to p_i, so classes with
        # vanishing probability get vanishing rows rather than the rounding of two products.
        mean_row = np.einsum("nk,nkj->nj", p, jacobian)
        with np.errstate(invalid="ignore", over="ignore"):
            return p, p[:, :, None] * (jacobian - mean_row[:, None, :])


@dataclass(frozen=True, eq=False)  # arrays: == would be elementwise, not a bool
class DecisionRegions:
    """What a classifier decides at each point: class, confidence and logit margin.

    Arrays share the leading shape of the logits they come from (``(rows, columns)`` for
    :func:`decision_regions`). Where any logit is NaN or infinite the class is −1 and the
    confidence and margin are NaN, so views can leave those pixels blank.
    """

    classes: np.ndarray
    """Argmax class (int64); ties go to the lowest class index, as in ``numpy.argmax``."""
    confidence: np.ndarray
    """Largest softmax probability, in [1/k, 1]."""
    margin: np.ndarray
    """Top-1 minus top-2 logit (>= 0; 0 on decision boundaries)."""

    @classmethod
    def from_logits(cls, logits: np.ndarray) -> DecisionRegions:
        """Classify every row of ``(..., k)`` logits, ``k >= 2``.

        Raises
        ------
        ValueError
            If the last axis has fewer than 2 logits.

        """
        z = np.asarray(logits, dtype=np.float64)
        if z.ndim < 1 or z.shape[-1] < 2:
            raise ValueError(f"decision regions need at least 2 logits per point, got {z.shape}")
        finite = np.all(np.isfinite(z), axis=-1)
        clean = z if finite.all() else np.where(finite[..., None], z, 0.0)
        classes = np.argmax(clean, axis=-1)
        top = np.take_along_axis(clean, classes[..., None], axis=-1)
        # The largest softmax probability is exp(0) / Σ exp(z − max): no full softmax needed
        # (this is the lab's picture of the model, redrawn while training).
        confidence = 1.0 / np.exp(clean - top).sum(axis=-1)
        # The runner-up: the largest logit once the winner's own place is set to −inf (a tie
        # for first leaves the other equal logit, so the margin is 0 there).
        others = clean.copy()
        np.put_along_axis(others, classes[..., None], -np.inf, axis=-1)
        margin = top[..., 0] - others.max(axis=-1)
        return cls(
            classes=np.where(finite, classes, -1),
            confidence=np.where(finite, confidence, np.nan),
            margin=np.where(finite, margin, np.nan),
        )


def decision_regions(
    map_: Map, domain: Domain, columns: int, rows: int | None = None
) -> DecisionRegions:
    """Decision regions of a classifier's logits on a ``rows × columns`` image over ``domain``.

    Pixels are sampled at their centres (:func:`jacviz.math.grid.sample_points`), so the
    arrays are images whose first row is at ``ymin``, ready for a row-major heatmap.

    Parameters
    ----------
    map_ : Map
        A map of 2 inputs (slice a bigger network with :class:`SliceMap`) whose k >= 2 outputs
        are logits. Probabilities work too, but then ``margin`` is in probabilities.
    domain : Domain
        The rectangle of the plane to cover.
    columns, rows : int
        Image size; ``rows`` defaults to ``columns``.

    Returns
    -------
    DecisionRegions
        ``(rows, columns)`` arrays.

    Raises
    ------
    ValueError
        If the map does not take 2 inputs or has fewer than 2 outputs.

    """
    if map_.input_dim != 2:
        raise ValueError(
            f"{map_.name} takes {map_.input_dim} inputs; decision regions are drawn on a plane, "
            "so pick a 2D slice (SliceMap) first"
        )
    rows = columns if rows is None else rows
    logits = map_.evaluate(sample_points(domain, columns, rows))
    return DecisionRegions.from_logits(logits.reshape(rows, columns, -1))


_SELECTION = re.compile(r"\s*(?:logits|outputs)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*")


class OutputView:
    """Two coordinates of a map with k >= 2 outputs, for drawing its warped grid in a plane.

    Both kinds are fixed linear maps of the outputs with orthonormal rows, so they never
    magnify: σ of the view's Jacobian is at most σ of the inner Jacobian.

    Parameters
    ----------
    inner : Map
        The map whose outputs to show.
    kind : str
        ``"logits(i,j)"`` (or ``"outputs(i,j)"``): outputs ``i`` and ``j``, counted from 0; the
        Jacobian is rows ``i`` and ``j`` of the inner one. ``"pca"``: the outputs minus their
        mean over ``points``, projected onto their top-2 principal directions over ``points``.
    points : array_like, optional
        ``(N, n)`` inputs (e.g. the grid) the principal directions are computed over; required
        for ``"pca"``, unused otherwise. The directions are computed once, here, and stay fixed,
        so a picture never jumps when the view is re-evaluated elsewhere. Points where an output
        is not finite are skipped.

    Raises
    ------
    ValueError
        If ``inner`` has fewer than 2 outputs, ``kind`` is unknown, the indices are equal or out
        of range, or ``"pca"`` has fewer than 2 points where the map is finite.

    Notes
    -----
    Each principal direction's sign is fixed by making its largest-magnitude component positive
    (the first such, on ties), so the same outputs always give the same picture.

    """

    def __init__(self, inner: Map, kind: str, points: np.ndarray | None = None):
        k = inner.output_dim
        if k < 2:
            raise ValueError(f"{inner.name} has {k} output; an output view needs at least 2")
        self._inner = inner
        self._indices: tuple[int, int] | None = None
        self._explained: np.ndarray | None = None
        center = np.zeros(k)
        match = _SELECTION.fullmatch(kind)
        if match:
            i, j = int(match.group(1)), int(match.group(2))
            if i == j or max(i, j) >= k:
                raise ValueError(
                    f"{kind!r} needs two different output indices from 0 to {k - 1} "
                    f"({inner.name} has {k} outputs)"
                )
            self._indices = (i, j)
            self._kind = f"logits({i},{j})"
            basis = np.eye(k)[[i, j]]
        elif kind.strip().lower() == "pca":
            if points is None:
                raise ValueError("the 'pca' output view needs the points to compute directions on")
            self._kind = "pca"
            basis, center, self._explained = _principal_directions(
                inner.evaluate(as_points(points, inner.input_dim)), inner.name
            )
        else:
            raise ValueError(f"unknown output view {kind!r}; use 'logits(i,j)' or 'pca'")
        self._basis = _read_only(basis)
        self._center = _read_only(center)

    @property
    def name(self) -> str:
        """E.g. ``"outputs 0, 2 of net.pt"`` or ``"top-2 principal components of net.pt"``."""
        if self._indices is not None:
            i, j = self._indices
            return f"outputs {i}, {j} of {self._inner.name}"
        return f"top-2 principal components of {self._inner.name}"

    @property
    def kind(self) -> str:
        """``"logits(i,j)"`` (normalized) or ``"pca"``."""
        return self._kind

    @property
    def input_dim(self) -> int:
        """The inner map's number of inputs."""
        return self._inner.input_dim

    @property
    def output_dim(self) -> int:
        """Always 2."""
        return 2

    @property
    def inner(self) -> Map:
        """The map whose outputs are viewed."""
        return self._inner

    @property
    def basis(self) -> np.ndarray:
        """``(2, k)`` orthonormal rows the (centred) outputs are projected on, read-only."""
        return self._basis

    @property
    def center(self) -> np.ndarray:
        """``(k,)`` point subtracted before projecting: the mean output for PCA, else 0."""
        return self._center

    @property
    def explained_variance_ratio(self) -> np.ndarray | None:
        """Fraction of the outputs' variance along each of the 2 directions (PCA only).

        Each is in [0, 1] and their sum is how much of the picture the 2D view keeps; for
        outputs that do not vary at all it is ``(1, 0)``: nothing is lost. None for selections.
        """
        return self._explained

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """The 2 viewed coordinates, ``(N, 2)``."""
        return self._project(self._inner.evaluate(points))

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 2 viewed coordinates ``(N, 2)`` and Jacobians ``basis · J_inner``, ``(N, 2, n)``."""
        values, jacobian = self._inner.evaluate_with_jacobian(points)
        if self._indices is not None:
            return values[:, self._indices], jacobian[:, self._indices]
        return self._project(values), np.einsum("ak,nkj->naj", self._basis, jacobian)

    def _project(self, values: np.ndarray) -> np.ndarray:
        if self._indices is not None:
            # Indexing, not a product with a 0/1 matrix: exact, and an infinite unselected
            # output cannot turn the selected ones into NaN (inf * 0).
            return values[:, self._indices]
        return (values - self._center) @ self._basis.T


def _principal_directions(
    outputs: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-2 principal directions ``(2, k)``, mean ``(k,)`` and variance fractions ``(2,)``."""
    finite = outputs[np.all(np.isfinite(outputs), axis=1)]
    if len(finite) < 2:
        raise ValueError(
            f"{name} is finite at {len(finite)} of the {len(outputs)} points given; principal "
            "directions need at least 2"
        )
    center = finite.mean(axis=0)
    # SVD of the centred data rather than eigh of its covariance: squaring the data would
    # square its condition number and lose small principal components.
    _, sigma, vt = np.linalg.svd(finite - center, full_matrices=False)
    basis = vt[:2]
    largest = np.argmax(np.abs(basis), axis=1)
    basis = basis * np.sign(basis[np.arange(2), largest])[:, None]
    variance = sigma**2
    total = variance.sum()
    if total == 0.0:
        ratio = np.array([1.0, 0.0])
    else:
        ratio = np.clip(variance[:2] / total, 0.0, 1.0)
    return basis, center, _read_only(ratio)
