"""A probe move repaints the probe's figures and the insets, never the planes' grids.

The grids, fold lines and heatmap stay while the probe moves: they are kept as pixels, and
drawn again only when their data or the view changes. Each plane is painted once per move,
the inset included. Counted in paints, never timed.
"""

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QObject
from PyQt6.QtWidgets import QApplication

from jacviz.gui.common.plots import Curve

pytestmark = pytest.mark.timeout(120)


class PaintEvents(QObject):
    """Counts paint events of a widget."""

    def __init__(self, widget):
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def moves(window, count):
    """Move the probe ``count`` times along a circle, letting Qt paint after each move."""
    app = QApplication.instance()
    for angle in np.linspace(0, 2 * np.pi, count, endpoint=False):
        window.controller.set_probe(0.5 + 0.4 * np.cos(angle), 0.5 + 0.4 * np.sin(angle))
        app.processEvents()
        app.processEvents()


def test_a_probe_move_paints_each_plane_once_and_no_grid(window, settle, monkeypatch):
    settle()
    moves(window, 3)  # the first moves may show the insets, which lays them out
    painted = []
    paint = Curve.paint

    def counting(self, painter, option, widget=None):
        painted.append(self)
        paint(self, painter, option, widget)

    monkeypatch.setattr(Curve, "paint", counting)
    planes = (window.input_plane, window.output_plane)
    events = [PaintEvents(plane.viewport()) for plane in planes]
    moves(window, 12)
    grids = {
        window.input_plane.vertical_lines,
        window.input_plane.horizontal_lines,
        window.input_plane.fold_lines,
        window.output_plane.vertical_lines,
        window.output_plane.horizontal_lines,
    }
    assert not grids & set(painted), "a probe move repainted a plane's grid or fold lines"
    figures = {window.input_plane.square, window.output_plane.square}
    assert figures <= set(painted)  # while the probe's figures were painted
    assert [e.count for e in events] == [12, 12]  # each plane once per move, inset and all


def test_the_grid_is_painted_again_when_it_changes(window, settle, monkeypatch):
    settle()
    painted = []
    paint = Curve.paint

    def counting(self, painter, option, widget=None):
        painted.append(self)
        paint(self, painter, option, widget)

    monkeypatch.setattr(Curve, "paint", counting)
    window.controller.set_grid_lines(window.controller.state.grid_lines + 4)
    app = QApplication.instance()
    app.processEvents()
    app.processEvents()
    assert window.input_plane.vertical_lines in painted
    assert window.output_plane.horizontal_lines in painted
