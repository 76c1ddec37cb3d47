"""Colours and pens shared by every view: one place, so the planes and legends agree.

Each colour has one meaning, so that nothing vanishes over something else of the same colour:

- grid lines are two neutral dark tones, near-black for x = const and dark grey for y = const;
  the horizontal lines (y = const) run along e1, so h·e1 and J·e1 are drawn in their tone,
  the vertical ones along e2, so h·e2 and J·e2 are drawn in theirs;
- classes (decision regions, data points) take Paul Tol's "light" qualitative set, which stays
  distinguishable with the common colour-vision deficiencies and is used for nothing else;
- det J and log|det J| are coloured on ColorCET's CBD1 (blue–white–yellow, made for protan and
  deutan viewers), σ, the condition number and ‖J‖F on the lighter part of viridis.

Both heatmap colour maps keep a CIE lightness of 60 or more, and the class colours are light
too, so the dark grid lines and the probe's edges drawn over them stay readable (checked by
``tests/test_colours.py``). The overlays of the linear picture (the vermillion parallelogram,
the green circle and ellipse, the black curves) keep the Okabe–Ito colours.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from cmap import Colormap
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QPen

GRID_X_CONST = "#111111"  # vertical grid lines (x constant), h·e2 and J·e2: near-black
GRID_Y_CONST = "#444444"  # horizontal grid lines (y constant), h·e1 and J·e1: dark grey
VERMILLION = "#D55E00"  # tangent parallelogram f(p) + J·δ
GREEN = "#009E73"  # circle image and singular-value ellipse
BLACK = "#000000"  # curved image of the square, fold lines
GREY = "#555555"

SERIES = "#222222"  # a plot's main series (training loss and accuracy): near-black, solid
SERIES_HELD_OUT = "#666666"  # its held-out counterpart (test accuracy): grey, drawn dashed

CLASS_COLOURS = (
    "#EE8866",
    "#99DDFF",
    "#FFAABB",
    "#EEDD88",
    "#7799DD",
    "#BBCC33",
    "#DDDDDD",
    "#CC99EE",
)
"""Decision-region and data-point colours, one per class: Paul Tol's "light" set, without the
mint and olive that sit too close to the green overlay and the det map's yellow end, and a
lilac, so that the most classes a 2D dataset can have (8, ``datasets.MAX_CLASSES``) all get
colours of their own. Networks with more classes cycle through them (their names tell them
apart where it matters)."""

POINT_EDGE = "#333333"
"""Rim of a data point: dark, so a light class colour stands out on a pale region or map."""

DIVERGING_MAP = Colormap("colorcet:CET_CBD1")
"""det J and log|det J|, centred on 0: blue below, yellow above, white at 0."""

SEQUENTIAL_MAP = Colormap(
    [Colormap("viridis")(float(t)) for t in np.linspace(0.6, 1.0, 64)], name="viridis (light)"
)
"""σ, the condition number and ‖J‖F: viridis from teal to yellow (its lightness 60–92)."""

SEQUENTIAL_COLORMAP = "viridis"  # the lab's Compare tab, whose white lines need its dark end


def colormap(key: str) -> pg.ColorMap:
    """The colour map of heatmap ``key``: diverging for det and log|det|, else sequential.

    Converted once per map and shared (converting builds thousands of colours, each time a
    heatmap is drawn); callers must not change it.
    """
    return _pyqtgraph_map(key in ("det", "logdet"))


@functools.cache
def _pyqtgraph_map(diverging: bool) -> pg.ColorMap:
    return (DIVERGING_MAP if diverging else SEQUENTIAL_MAP).to_pyqtgraph()


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
