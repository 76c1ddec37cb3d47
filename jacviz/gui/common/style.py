"""Colours and pens shared by every view: one place, so the planes and legends agree.

Okabe–Ito colours, which stay distinguishable with the common colour-vision deficiencies.
The horizontal grid lines run along e1 (the x direction), so J·e1 is drawn in their colour;
the vertical ones run along e2, so J·e2 is drawn in theirs.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QPen

BLUE = "#0072B2"  # vertical grid lines (x constant) and J·e2
ORANGE = "#E69F00"  # horizontal grid lines (y constant) and J·e1
VERMILLION = "#D55E00"  # tangent parallelogram f(p) + J·δ
GREEN = "#009E73"  # circle image and singular-value ellipse
BLACK = "#000000"  # curved image of the square, fold lines
GREY = "#555555"

CLASS_COLOURS = (BLUE, ORANGE, GREEN, "#CC79A7", "#56B4E9", VERMILLION, "#F0E442", GREY)
"""Decision-region colours, one per class (Okabe–Ito)."""

DIVERGING_COLORMAP = "CET-D1A"  # blue–white–red: det and log|det|, centred on 0
SEQUENTIAL_COLORMAP = "viridis"  # σ, condition number, Frobenius norm


def pen(color: str, width: float = 1.0, alpha: int = 255, style: Qt.PenStyle | None = None) -> QPen:
    """A cosmetic pen (constant width on screen, whatever the zoom)."""
    qcolor = QColor(color)
    qcolor.setAlpha(alpha)
    result = pg.mkPen(qcolor, width=width)
    if style is not None:
        result.setStyle(style)
    result.setCosmetic(True)
    return result


def brush(color: str, alpha: int) -> pg.QtGui.QBrush:
    """A translucent fill."""
    qcolor = QColor(color)
    qcolor.setAlpha(alpha)
    return pg.mkBrush(qcolor)
