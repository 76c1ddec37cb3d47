"""``jacviz.jacobian_field``: the Jacobian on a grid over a rectangle, as plain numpy arrays.

For figures made in a script (matplotlib, say): the same numbers the app's heatmaps show,
from the same :class:`~jacviz.math.jacobian.JacobianField`, on pixel-centre grid points.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jacviz.api.objects import MapLike, ObjectError, opened_map
from jacviz.math.grid import Domain

MAX_POINTS = 4_000_000
"""Most grid points one call computes (2000 × 2000): more would take minutes and gigabytes."""


@dataclass(frozen=True, eq=False)  # array fields: == would be elementwise
class FieldResult:
    """A map's Jacobian on a ``rows × columns`` grid; row 0 is the bottom row (smallest y).

    Attributes
    ----------
    x, y : numpy.ndarray
        The grid's pixel-centre coordinates, shapes (columns,) and (rows,).
    values : numpy.ndarray
        f at the grid points, shape (rows, columns, m).
    jacobian : numpy.ndarray
        J, shape (rows, columns, m, 2): one row per output.
    det : numpy.ndarray or None
        det J, shape (rows, columns), for maps with 2 outputs; None otherwise.
    singular_values : numpy.ndarray
        σ1 ≥ σ2 of J, shape (rows, columns, min(m, 2)).
    frobenius : numpy.ndarray
        ‖J‖F, shape (rows, columns).
    condition : numpy.ndarray
        σ1 / σ_min, shape (rows, columns); inf where J is singular.

    Points where f or J is not finite have NaN in every derived quantity.

    """

    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    jacobian: np.ndarray
    det: np.ndarray | None
    singular_values: np.ndarray
    frobenius: np.ndarray
    condition: np.ndarray


def grid_size(resolution: object) -> tuple[int, int]:
    """``(columns, rows)`` from ``n`` or ``(columns, rows)``, or an ObjectError."""
    sizes = resolution if isinstance(resolution, Sequence) else (resolution, resolution)
    if len(sizes) != 2 or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise ObjectError(
            f"resolution must be a whole number ≥ 1 or (columns, rows), got {resolution!r}"
        )
    columns, rows = int(sizes[0]), int(sizes[1])
    if columns * rows > MAX_POINTS:
        raise ObjectError(
            f"a {columns} × {rows} grid has more than {MAX_POINTS:,} points: ask for fewer"
        )
    return columns, rows


def domain_of(domain: object) -> Domain:
    """A :class:`~jacviz.math.grid.Domain` from one or ``(xmin, xmax, ymin, ymax)``."""
    if isinstance(domain, Domain):
        return domain
    try:
        bounds = [float(b) for b in domain]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        bounds = []
    if len(bounds) != 4:
        raise ObjectError(f"domain must be (xmin, xmax, ymin, ymax), got {domain!r}")
    try:
        return Domain(*bounds)
    except ValueError as error:
        raise ObjectError(f"domain: {error}") from None


def jacobian_field(
    obj: MapLike,
    domain: Sequence[float] = (-2.0, 2.0, -2.0, 2.0),
    resolution: int | tuple[int, int] = 200,
    *,
    activation: str | None = None,
) -> FieldResult:
    """The Jacobian of a map of 2 inputs on a grid over ``domain``, as plain arrays.

    Parameters
    ----------
    obj : str, os.PathLike, torch.nn.Module or callable
        Formula text in x and y, an ``nn.Module`` or callable on ``(N, 2)`` tensors, or the
        path of a network file of 2 inputs (see :func:`jacviz.probe`).
    domain : (xmin, xmax, ymin, ymax)
        The rectangle of the input plane.
    resolution : int or (columns, rows)
        Grid points per side; at most :data:`MAX_POINTS` in all.
    activation : str, optional
        For a state dict file (``torch.save(model.state_dict())`` of an ``nn.Sequential`` of
        Linear layers): the activation between them, ``"tanh"``, ``"relu"``, ``"gelu"``,
        ``"softplus"`` or ``"sigmoid"`` (``jacviz FILE --activation``). Other maps ignore it.

    Returns
    -------
    FieldResult
        ``x``, ``y`` and, per grid point (row 0 at ``ymin``), ``values``, ``jacobian``,
        ``det``, ``singular_values``, ``frobenius`` and ``condition``.

    Raises
    ------
    ValueError
        With one line saying why ``obj``, ``domain`` or ``resolution`` cannot be used.

    Examples
    --------
    >>> import jacviz
    >>> field = jacviz.jacobian_field("x**2 - y**2, 2*x*y", (-1, 1, -1, 1), 64)
    >>> field.det.shape
    (64, 64)

    """
    from jacviz.math.grid import sample_points
    from jacviz.math.jacobian import JacobianField
    from jacviz.nets.networks import NetworkError

    area = domain_of(domain)
    columns, rows = grid_size(resolution)
    points = sample_points(area, columns, rows)
    with opened_map(obj, input_dim=2, activation=activation) as map_:
        if map_.input_dim != 2:
            raise ObjectError(
                f"{map_.name} takes {map_.input_dim} inputs; a field over a rectangle needs 2 "
                "(jacviz.probe reads any map at a point)"
            )
        try:
            values, jacobian = map_.evaluate_with_jacobian(points)
        except NetworkError as error:  # a network file's code failing on the grid
            raise ObjectError(str(error)) from None
    field = JacobianField.from_arrays(values, jacobian)

    def grid(array: np.ndarray) -> np.ndarray:
        return np.asarray(array).reshape(rows, columns, *np.shape(array)[1:])

    return FieldResult(
        x=points[:columns, 0].copy(),
        y=points[::columns, 1].copy(),
        values=grid(field.values),
        jacobian=grid(field.jacobian),
        det=None if field.det is None else grid(field.det),
        singular_values=grid(field.singular_values),
        frobenius=grid(field.frobenius),
        condition=grid(field.condition),
    )
