"""Jacobian fields: the Jacobians on a set of points and the per-point quantities derived from them.

Everything the heatmaps and overlays show about the local linear map ``J(x)`` at the grid
points is a :class:`JacobianField`: the determinant, singular values, Frobenius norm, condition
number and log-determinant, computed once (by the closed forms of
:mod:`~jacviz.math.jacobian.closed_forms` for 2-column Jacobians) and shared read-only between
worker threads and views. Points where the map was not finite become NaN holes, never errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jacviz.math.jacobian.closed_forms import singular_values_and_determinant
from jacviz.math.jacobian.inputs import as_real_array

__all__ = ["HEATMAP_QUANTITIES", "JacobianField"]

HEATMAP_QUANTITIES: dict[str, str] = {
    "det": "det J",
    "logdet": "log |det J|",
    "smax": "largest singular value σ₁",
    "smin": "smallest singular value σ₂",
    "cond": "condition number σ₁/σ₂",
    "frob": "Frobenius norm ‖J‖F",
}
"""Per-point scalar fields a heatmap can show: key -> human-readable label."""


_TINY = float(np.finfo(np.float64).tiny)


def _readonly(array: np.ndarray) -> np.ndarray:
    """Mark ``array`` read-only (in place) and return it."""
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
        vals_in = as_real_array(values)
        jac_in = as_real_array(jacobian)
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

        mask = nonfinite if nonfinite.any() else None
        det = None
        with np.errstate(all="ignore"):
            if n == 2:
                sv, det = singular_values_and_determinant(clean, mask)
            else:
                sv = np.ascontiguousarray(
                    np.linalg.svd(clean.astype(np.float64), compute_uv=False).T
                )
                if mask is not None:
                    sv[:, mask] = np.nan
            smax, smin = sv[0], sv[-1]
            # x / 0 = inf at singular points; 0 / 0 = NaN at J = 0, also infinitely
            # ill-conditioned.
            condition = np.nan_to_num(smax / smin, nan=np.inf, posinf=np.inf, copy=False)
            if len(sv) <= 2:
                frobenius = np.hypot(smax, smin) if len(sv) == 2 else smax.copy()
            else:  # sum sigma_i**2 relative to sigma_1, so that nothing can overflow
                ratios = sv / np.maximum(smax, _TINY)
                frobenius = smax * np.sqrt(np.einsum("kn,kn->n", ratios, ratios))
            log_abs_det = None
            if m == n == 2:
                # log sigma_1 + log sigma_2 = log|det|, but finite where det over/underflows.
                log_abs_det = np.log(smax) + np.log(smin)
        if mask is not None:
            condition[mask] = np.nan  # nan_to_num made the NaN rows inf
        return cls(
            values=_readonly(vals),
            jacobian=_readonly(jac),
            det=None if det is None else _readonly(det),
            singular_values=_readonly(sv.T),
            frobenius=_readonly(frobenius),
            condition=_readonly(condition),
            log_abs_det=None if log_abs_det is None else _readonly(log_abs_det),
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
