"""Everything jacviz knows about a map at one point, as plain numbers and readable warnings.

The same report feeds ``jacviz probe`` (text or JSON) and the app's inspector, so both say
the same thing about the same point.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from jacviz.math.jacobian import JacobianField
from jacviz.math.maps import FormulaMap, Map, as_points

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


def orientation_word(det: float | None, smallest_singular_value: float | None = None) -> str:
    """Plain-words meaning of the sign of det J.

    Pass J's smallest singular value too when it is known: a det of 0 with a positive one
    means the product of the singular values underflowed float64, not that J is singular.
    """
    if det is None or math.isnan(det):
        return "undefined"
    if det > 0:
        return "orientation preserved"
    if det < 0:
        return "orientation reversed"
    if smallest_singular_value is not None and smallest_singular_value > 0:
        return "too small for float64, but J is not singular"
    return "singular: areas collapse to zero"


def _finite_or_none(array: np.ndarray) -> object:
    """Nested lists of floats with every non-finite entry replaced by None (JSON has no inf)."""
    if np.ndim(array) == 0:
        value = float(array)
        return value if math.isfinite(value) else None
    return [_finite_or_none(item) for item in array]


def _nonfinite_phrase(value: float, arithmetic: str | None) -> str:
    """What a non-finite number is, in words that match how it prints (``nan``, ``inf``).

    An infinite result says what the arithmetic gave, not that the true value is infinite:
    1/y is +inf in float64 both at y = 0 (a pole) and at y = 5e-324, where the true value is
    2**1074, a finite number float64 cannot hold. Neither "infinite" nor "overflows" would be
    true of both, so the words name the arithmetic.
    """
    if math.isnan(value):
        return "is undefined (NaN)"
    sign = "+inf" if value > 0 else "-inf"
    return f"is {sign} in {arithmetic}" if arithmetic else f"is {sign}"


@dataclass(frozen=True, eq=False)  # an array field: == would be elementwise
class ClassifierReading:
    """What applies to the k×n Jacobian of a classifier's logits or probabilities at a point.

    A classifier's J is read through its margin: which class wins, by how much, and how fast
    that changes (``margin_gradient``). Some numbers of a square map say nothing here;
    ``hidden`` names them (among ``"det"``, ``"sigma2"``, ``"condition"``, ``"error"``, the
    last being the linearization error at h) and ``reason`` says why in one line.
    """

    probabilities: bool
    """True for the Jacobian of the softmax probabilities, False for the logits'."""
    top: int
    """The winning class (largest output; -1 where an output is not finite)."""
    runner_up: int
    """The class in second place (-1 where an output is not finite)."""
    margin: float
    """Top output minus the runner-up's (NaN where an output is not finite)."""
    margin_gradient: np.ndarray
    """``J[top] − J[runner_up]``, shape (n,): how fast the margin grows along each input."""
    hidden: tuple[str, ...]
    """Quantities left out for this Jacobian."""
    reason: str
    """One line saying why they are left out."""

    @property
    def symbol(self) -> str:
        """``"∇(z1 − z0)"`` or ``"∇(p1 − p0)"``: what :attr:`margin_gradient` is the gradient of."""
        letter = "p" if self.probabilities else "z"
        return f"∇({letter}{self.top} − {letter}{self.runner_up})"


def classifier_reading(report: ProbeReport, probabilities: bool) -> ClassifierReading:
    """Read ``report`` as the Jacobian of a classifier's ``probabilities`` or logits.

    Softmax probabilities sum to 1, so their Jacobian's rows sum to 0 and its rank is at most
    k − 1: with 2 classes det J and σ2 are 0 up to rounding, σ1/σ2 is rounding over rounding
    and the tangent parallelogram is flat, so the error at h relative to it says nothing.
    Logits matter only up to a shift added to all of them (softmax ignores it), and det J
    changes with that shift; with k > 2 outputs det is not defined at all. The margin's
    gradient is free of both and says how fast the decision changes.
    """
    values = np.asarray(report.value, dtype=np.float64)
    jacobian = np.asarray(report.jacobian, dtype=np.float64)
    k, n = jacobian.shape
    if np.all(np.isfinite(values)) and k >= 2:
        order = np.argsort(-values, kind="stable")
        top, runner_up = int(order[0]), int(order[1])
        margin = float(values[top] - values[runner_up])
        gradient = jacobian[top] - jacobian[runner_up]
    else:
        top = runner_up = -1
        margin = math.nan
        gradient = np.full(n, np.nan)
    if probabilities and k - 1 < n:
        hidden: tuple[str, ...] = ("det", "sigma2", "condition", "error")
        reason = (
            f"softmax outputs sum to 1: J has rank ≤ k−1 = {k - 1}, so det, σ2, σ1/σ2 and "
            "the error at h say nothing here; the margin gradient does"
        )
    elif probabilities:
        hidden = ("det",)
        reason = f"softmax outputs sum to 1: J has rank ≤ k−1 = {k - 1}; det needs a square J"
    elif k == n:
        hidden = ("det",)
        reason = (
            "softmax ignores a shift added to every logit, and det J changes with it, so det "
            "says nothing about the classifier; the margin gradient does"
        )
    else:
        hidden = ("det",)
        reason = f"det needs a square J ({k}×{n} here); the margin gradient says how fast the "
        reason += "decision changes"
    gradient.flags.writeable = False
    return ClassifierReading(probabilities, top, runner_up, margin, gradient, hidden, reason)


@dataclass(frozen=True)
class ProbeReport:
    """The value, Jacobian and its derived quantities of a map at one point.

    ``value`` and ``jacobian`` are the numbers the map computed, inf and NaN included;
    ``det``, the singular values, ``frobenius`` and ``condition`` are NaN where the Jacobian
    is not finite. ``det`` is None when the map does not have 2 outputs and 2 inputs;
    ``symbolic_jacobian`` is None for maps that are not formulas. ``warnings`` explains
    every non-finite number in plain words that say what it prints as.
    """

    map_name: str
    point: np.ndarray
    value: np.ndarray
    """f(p), shape (m,)."""
    jacobian: np.ndarray
    """J(p), shape (m, n): row i = output i, column j = input j."""
    field: JacobianField
    symbolic_jacobian: list[list[str]] | None
    warnings: tuple[str, ...]
    classifier: ClassifierReading | None = None
    """Set (by :meth:`as_classifier`) when the map is a classifier: what applies to its J."""

    def as_classifier(self, probabilities: bool) -> ProbeReport:
        """The same report, read as the Jacobian of a classifier (:func:`classifier_reading`).

        Warnings about a quantity the reading hides (det J underflowing, an infinite
        condition number) go with it: the reading says why it says nothing here.
        """
        reading = classifier_reading(self, probabilities)
        hidden_words = {"det": "det J ", "condition": "the condition number "}
        prefixes = tuple(hidden_words[key] for key in reading.hidden if key in hidden_words)
        warnings = tuple(w for w in self.warnings if not (prefixes and w.startswith(prefixes)))
        return dataclasses.replace(self, classifier=reading, warnings=warnings)

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
    # Formulas compute in float64; a network in its own dtype, which the map does not say.
    arithmetic = "float64" if formula is not None else None
    labels = (
        list(formula.components)
        if formula is not None
        else [f"output {i + 1}" for i in range(map_.output_dim)]
    )
    symbolic = formula.jacobian_strings() if formula is not None else None
    names = VARIABLES if map_.input_dim == 2 else [f"x{j + 1}" for j in range(map_.input_dim)]
    messages = [
        f"{labels[i]} {_nonfinite_phrase(v, arithmetic)} at {where}"
        for i, v in enumerate(values)
        if not math.isfinite(v)
    ]
    jacobian_finite = True
    for (i, j), entry in np.ndenumerate(jacobian):
        if not math.isfinite(entry):
            jacobian_finite = False
            derivative = f"∂({labels[i]})/∂{names[j]}"
            if symbolic is not None:
                derivative += f" = {symbolic[i][j]}"
            messages.append(f"{derivative} {_nonfinite_phrase(entry, arithmetic)} at {where}")
    if field.nonfinite[0]:
        # The field leaves every quantity derived from a non-finite point undefined.
        derived = "the singular values, ‖J‖F and the condition number"
        if field.det is not None:
            derived = f"det J, {derived}"
        culprit = "f(p)" if jacobian_finite else "J"
        messages.append(f"{derived} are undefined (NaN): {culprit} is not finite here")
    if messages:
        return messages
    # Everything at p is finite, so anything odd below is a property of J itself, computed
    # in float64 whatever the map's own arithmetic.
    sigma = field.singular_values[0]
    if field.det is not None:
        det = float(field.det[0])
        if not math.isfinite(det):
            messages.append(f"det J {_nonfinite_phrase(det, 'float64')} at this point")
        elif det == 0 and sigma[-1] > 0:
            messages.append(
                "det J underflows float64 to 0 at this point: J is not singular "
                f"(σ2 = {format_number(float(sigma[-1]))})"
            )
    frobenius = float(field.frobenius[0])
    if not math.isfinite(frobenius):
        messages.append(f"‖J‖F {_nonfinite_phrase(frobenius, 'float64')} at this point")
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
        value=np.asarray(values[0], dtype=np.float64),
        jacobian=np.asarray(jacobian[0], dtype=np.float64),
        field=field,
        symbolic_jacobian=symbolic,
        warnings=tuple(_warnings(map_, p[0], values[0], jacobian[0], field)),
    )
