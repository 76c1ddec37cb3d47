"""How the Compare tab tells its two models and its attacks apart, in every view alike.

The λ = 0 model is black and the λ > 0 model vermillion wherever both appear (plane titles,
table headers, curves, the ε-ball panel); each (attack, norm) curve has its own line style and
symbol. Accuracies under attack are upper bounds, and every place that shows one says so
with the same words (:data:`UPPER_BOUND`, :func:`attack_description`).
"""

from __future__ import annotations

from PyQt6.QtCore import Qt

from jacviz.gui.common import style
from jacviz.nets.comparison import norm_name
from jacviz.nets.robustness import PGD_RESTARTS, PGD_STEPS

__all__ = ["ATTACK_STYLES", "MODEL_COLOURS", "MODEL_TITLES", "UPPER_BOUND", "attack_description"]

MODEL_COLOURS: tuple[str, str] = (style.BLACK, style.VERMILLION)
"""Colour of the λ = 0 and the λ > 0 model wherever both appear (titles, table, curves)."""

MODEL_TITLES: tuple[str, str] = ("λ = 0", "λ > 0")
"""What the views call the two models before a comparison gives the λ."""

ATTACK_STYLES: dict[tuple[str, str], tuple[Qt.PenStyle, str]] = {
    ("pgd", "2"): (Qt.PenStyle.SolidLine, "o"),
    ("pgd", "inf"): (Qt.PenStyle.DashLine, "s"),
    ("fgsm", "2"): (Qt.PenStyle.DotLine, "t"),
    ("fgsm", "inf"): (Qt.PenStyle.DashDotLine, "d"),
}
"""Line style and symbol of each (attack, norm) curve; colour says which model."""

UPPER_BOUND: str = (
    "An upper bound on the accuracy under any attack of that size: every error counted was "
    "found by the attack, which can miss others."
)
"""What every accuracy under attack shown here is, for its tooltips."""


def attack_description(attack: str, norm: str) -> str:
    """One sentence on how an (attack, norm) of the comparison is run, for tooltips."""
    ball = f"the {norm_name(norm)} ball"
    if attack == "fgsm":
        return f"FGSM in {ball}: one step of size ε up the loss."
    return f"PGD in {ball}: {PGD_STEPS} steps from each of {PGD_RESTARTS} starts round its edge."
