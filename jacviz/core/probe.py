"""Everything jacviz knows about a map at one point, as plain numbers and readable warnings.

The same report feeds ``jacviz probe`` (text or JSON) and the app's inspector, so both say
the same thing about the same point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jacviz.core.jacobian import JacobianField
from jacviz.core.maps import FormulaMap, Map, as_points

VARIABLES = ("x", "y")


def format_number(value: float, digits: int = 6) -> str:
    """Compact human form of a float: ``6`` significant digits, no ``-0``, ``inf``/``nan`` kept."""
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = f"{value:.{digits}g}"
    return "0" if text in ("-0", "0") else text


def align_columns(cells: list[list[str]], separator: str = "  ") -> list[str]:
    """Rows of a text matrix with each column right-aligned to its widest entry."""
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))] if cells else []
    return [separator.join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]


def orientation_word(det: float | None) -> str:
    """Plain-words meaning of the sign of det J."""
    if det is None or math.isnan(det):
        return "undefined"
    if det > 0:
        return "orientation preserved"
    if det < 0:
        return "orientation reversed"
    return "singular: areas collapse to zero"


def _finite_or_none(array: np.ndarray) -> object:
    """Nested lists of floats with every non-finite entry replaced by None (JSON has no inf)."""
    if np.ndim(array) == 0:
        value = float(array)
        return value if math.isfinite(value) else None
    return [_finite_or_none(item) for item in array]


def _nonfinite_word(value: float) -> str:
    return "undefined (NaN)" if math.isnan(value) else "infinite"


@dataclass(frozen=True)
class ProbeReport:
    """The value, Jacobian and its derived quantities of a map at one point.

    ``det`` and ``log_abs_det`` are None when the map does not have 2 outputs and 2 inputs;
    ``symbolic_jacobian`` is None for maps that are not formulas. ``warnings`` explains
    every non-finite number in plain words.
    """

    map_name: str
    point: np.ndarray
    field: JacobianField
    symbolic_jacobian: list[list[str]] | None
    warnings: tuple[str, ...]

    @property
    def value(self) -> np.ndarray:
        """f(p), shape (m,); NaN where not finite."""
        return self.field.values[0]

    @property
    def jacobian(self) -> np.ndarray:
        """J(p), shape (m, n): row i = output i, column j = input j."""
        return self.field.jacobian[0]

    @property
    def det(self) -> float | None:
        """det J(p) for square 2×2 Jacobians, else None."""
        return None if self.field.det is None else float(self.field.det[0])

    @property
    def singular_values(self) -> np.ndarray:
        """σ1 ≥ σ2 ≥ ... of J(p)."""
        return self.field.singular_values[0]

    @property
    def frobenius(self) -> float:
        """‖J(p)‖_F, the root of the sum of squared entries."""
        return float(self.field.frobenius[0])

    @property
    def condition(self) -> float:
        """σ1 / σ_min, inf when J(p) is singular."""
        return float(self.field.condition[0])

    def to_json(self) -> dict[str, object]:
        """The report as a JSON-ready dict; non-finite numbers become None (see ``warnings``)."""
        report: dict[str, object] = {
            "point": _finite_or_none(self.point),
            "value": _finite_or_none(self.value),
            "jacobian": _finite_or_none(self.jacobian),
            "det": None if self.det is None else _finite_or_none(np.float64(self.det)),
            "singular_values": _finite_or_none(self.singular_values),
            "frobenius": _finite_or_none(np.float64(self.frobenius)),
            "condition": _finite_or_none(np.float64(self.condition)),
        }
        if self.symbolic_jacobian is not None:
            report["symbolic_jacobian"] = self.symbolic_jacobian
        report["warnings"] = list(self.warnings)
        return report


def _where(point: np.ndarray) -> str:
    if len(point) == 2:
        return f"(x, y) = ({format_number(point[0])}, {format_number(point[1])})"
    return "(" + ", ".join(format_number(c) for c in point) + ")"


def _warnings(
    map_: Map, point: np.ndarray, values: np.ndarray, jacobian: np.ndarray, field: JacobianField
) -> list[str]:
    """Plain-words reasons for every non-finite number in the report."""
    where = _where(point)
    formula = map_.formula if isinstance(map_, FormulaMap) else None
    labels = (
        list(formula.components)
        if formula is not None
        else [f"output {i + 1}" for i in range(map_.output_dim)]
    )
    symbolic = formula.jacobian_strings() if formula is not None else None
    names = VARIABLES if map_.input_dim == 2 else [f"x{j + 1}" for j in range(map_.input_dim)]
    messages = [
        f"{labels[i]} is {_nonfinite_word(v)} at {where}"
        for i, v in enumerate(values)
        if not math.isfinite(v)
    ]
    for (i, j), entry in np.ndenumerate(jacobian):
        if not math.isfinite(entry):
            derivative = f"∂({labels[i]})/∂{names[j]}"
            if symbolic is not None:
                derivative += f" = {symbolic[i][j]}"
            messages.append(f"{derivative} is {_nonfinite_word(entry)} at {where}")
    if messages:
        return messages
    # The Jacobian is finite, so anything non-finite below is a property of J itself.
    if field.det is not None and not math.isfinite(field.det[0]):
        messages.append("det J overflows double precision at this point")
    if not math.isfinite(field.frobenius[0]):
        messages.append("the Jacobian's entries are too large to square in double precision")
    if math.isinf(field.condition[0]):
        messages.append(
            "the condition number is infinite: J is singular here (smallest singular value 0)"
        )
    return messages


def probe(map_: Map, point: np.ndarray | tuple[float, ...]) -> ProbeReport:
    """Evaluate ``map_`` and its Jacobian at ``point`` and explain what is not finite."""
    p = as_points(point, map_.input_dim)
    values, jacobian = map_.evaluate_with_jacobian(p)
    field = JacobianField.from_arrays(values, jacobian)
    symbolic = map_.formula.jacobian_strings() if isinstance(map_, FormulaMap) else None
    return ProbeReport(
        map_name=map_.name,
        point=p[0],
        field=field,
        symbolic_jacobian=symbolic,
        warnings=tuple(_warnings(map_, p[0], values[0], jacobian[0], field)),
    )
