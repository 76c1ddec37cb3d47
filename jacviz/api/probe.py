"""``jacviz.probe``: a map's value, Jacobian and what follows from it at one point, in Python.

The numbers are those of ``jacviz probe`` (the same :func:`jacviz.math.probe.probe` report),
and :meth:`ProbeResult.to_dict` is exactly what ``jacviz probe --json`` prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from jacviz.api.objects import MapLike, ObjectError, opened_map, points_of
from jacviz.math.probe import ProbeReport


@dataclass(frozen=True)
class ProbeResult:
    """What jacviz knows about a map at one point.

    Attributes
    ----------
    point : numpy.ndarray
        The point p, shape (n,).
    value : numpy.ndarray
        f(p), shape (m,).
    jacobian : numpy.ndarray
        J(p), shape (m, n): one row per output, one column per input.
    det : float or None
        det J(p) when the map has 2 inputs and 2 outputs, else None.
    singular_values : numpy.ndarray
        σ1 ≥ σ2 ≥ ... of J(p).
    frobenius : float
        ‖J(p)‖F.
    condition : float
        σ1 / σ_min (inf where J(p) is singular).
    warnings : tuple of str
        Plain-words reasons for every number that is not finite, and what a network file's
        code printed.
    symbolic_jacobian : list of list of str or None
        J as formulas, for a formula map; None otherwise.
    error, relative_error : float or None
        With ``h``: the linearization error over the square p + [0, h]² (shrinks like h²)
        and that error relative to the tangent parallelogram's size (shrinks like h).

    """

    report: ProbeReport
    error: float | None = None
    relative_error: float | None = None

    @property
    def point(self) -> np.ndarray:
        """The point p, shape (n,)."""
        return self.report.point

    @property
    def value(self) -> np.ndarray:
        """f(p), shape (m,)."""
        return self.report.value

    @property
    def jacobian(self) -> np.ndarray:
        """J(p), shape (m, n)."""
        return self.report.jacobian

    @property
    def det(self) -> float | None:
        """det J(p) for a map of 2 inputs and 2 outputs, else None."""
        return self.report.det

    @property
    def singular_values(self) -> np.ndarray:
        """σ1 ≥ σ2 ≥ ... of J(p)."""
        return self.report.singular_values

    @property
    def frobenius(self) -> float:
        """‖J(p)‖F, the root of the sum of squared entries."""
        return self.report.frobenius

    @property
    def condition(self) -> float:
        """σ1 / σ_min, inf when J(p) is singular."""
        return self.report.condition

    @property
    def warnings(self) -> tuple[str, ...]:
        """Why a number is not finite, and what a network file's code printed."""
        return self.report.warnings

    @property
    def symbolic_jacobian(self) -> list[list[str]] | None:
        """J(x, y) as formulas for a formula map, else None."""
        return self.report.symbolic_jacobian

    def to_dict(self) -> dict[str, object]:
        """The keys and values ``jacviz probe --json`` prints (non-finite numbers as None)."""
        return self.report.to_json()


def probe(
    obj: MapLike, at: object, *, h: float | None = None, activation: str | None = None
) -> ProbeResult:
    """Evaluate a map and its Jacobian at one point.

    Parameters
    ----------
    obj : str, os.PathLike, torch.nn.Module or callable
        Formula text in x and y (``"x**2 + y, x*y"``); any ``nn.Module`` or a callable
        mapping ``(N, n)`` tensors to ``(N, m)``; or the path of a network file (read as
        ``jacviz FILE`` reads it). A module is used in eval mode during the call and handed
        back as it came (training mode, ``requires_grad`` and hooks unchanged).
    at : sequence of float
        The point: as many coordinates as the map has inputs (a module or callable takes
        as many inputs as ``at`` has coordinates).
    h : float, optional
        Also measure the linearization error over the square p + [0, h]² (2 inputs only).
    activation : str, optional
        For a state dict file (``torch.save(model.state_dict())`` of an ``nn.Sequential`` of
        Linear layers): the activation between them, ``"tanh"``, ``"relu"``, ``"gelu"``,
        ``"softplus"`` or ``"sigmoid"`` (``jacviz FILE --activation``). Other maps ignore it.

    Returns
    -------
    ProbeResult
        ``value``, ``jacobian``, ``det``, ``singular_values``, ``frobenius``, ``condition``,
        ``warnings``, ``symbolic_jacobian``; ``to_dict()`` is ``jacviz probe --json``.

    Raises
    ------
    ValueError
        With one line saying why ``obj`` or ``at`` cannot be used.

    Examples
    --------
    >>> import jacviz
    >>> jacviz.probe("x**2 + y, x*y", (1, 2)).jacobian
    array([[2., 1.],
           [2., 1.]])

    """
    from jacviz.math.linearize import linearize
    from jacviz.math.probe import probe as probe_map
    from jacviz.nets.networks import NetworkError

    point = points_of(at)
    with opened_map(obj, input_dim=point.size, activation=activation) as map_:
        if point.size != map_.input_dim:
            raise ObjectError(
                f"at expects {map_.input_dim} coordinates for this map, got {point.size}"
            )
        error = relative = None
        try:
            report = probe_map(map_, point)
            if h is not None:
                picture = linearize(map_, point, h)
                error, relative = float(picture.error), float(picture.relative_error)
        except NetworkError as failure:  # a network file's code failing at this point
            raise ObjectError(str(failure)) from None
        notes = getattr(map_, "notes", None)
        if notes is not None:  # what a network file's code printed, as the command says it
            report = dataclasses.replace(report, warnings=(*report.warnings, *notes()))
    return ProbeResult(report, error, relative)
