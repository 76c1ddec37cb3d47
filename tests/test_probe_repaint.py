"""A probe move repaints the probe's figures and the insets, never the planes' grids.

The grids, fold lines and heatmap stay while the probe moves: they are kept as pixels, and
drawn again only when their data or the view changes. Each plane is painted once per move,
the inset included. Counted in paints, never timed.
"""

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtWidgets import QApplication

from jacviz.gui.common.labels import text_size, write_value
from jacviz.gui.common.plots import Curve
from jacviz.math.probe import format_number

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


def test_a_probe_move_repaints_no_axis(window, settle, monkeypatch):
    """The insets keep clear of the axes: a move does not redraw tick labels."""
    import pyqtgraph as pg

    settle()
    moves(window, 3)
    painted = []
    paint = pg.AxisItem.paint

    def counting(self, painter, option, widget=None):
        painted.append(self.orientation)
        paint(self, painter, option, widget)

    monkeypatch.setattr(pg.AxisItem, "paint", counting)
    moves(window, 12)
    assert painted == []


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


def test_a_probe_move_builds_each_figure_path_once_for_plane_and_inset(window, settle, monkeypatch):
    """The plane's figure and its copy in the inset draw one path, built once per move."""
    import pyqtgraph as pg

    settle()
    moves(window, 3)
    built = []
    build = pg.functions.arrayToQPath

    def counting(*args, **kwargs):
        built.append(args[0])
        return build(*args, **kwargs)

    monkeypatch.setattr(pg.functions, "arrayToQPath", counting)
    moves(window, 6)
    figures = []
    for plane in (window.input_plane, window.output_plane):
        for name in ("square", "circle", "ellipse", "ellipse_axes", "e1", "e2", "je1", "je2"):
            item = vars(plane).get(name)
            if item is not None:
                figures.append(item)
                assert item.getPath() is plane.magnifier.twin(item).getPath(), name
    assert len(figures) == 10  # 4 on the input plane, 6 curves on the output plane
    # At most one path per figure and move: the inset's copies share them, and nothing else
    # (a grid) is rebuilt while the probe moves.
    assert 0 < len(built) <= 6 * len(figures)
    assert window.input_plane.magnifier.view.isVisible()
    assert window.output_plane.magnifier.view.isVisible()


def test_a_figure_keeps_the_points_it_was_given(window, settle):
    """The probe's figures hold exactly the linearization's points (what is drawn is exact)."""
    settle()
    moves(window, 2)
    lin = window.controller.linearization
    planes = window.input_plane, window.output_plane
    for plane, item, expected in (
        (planes[0], planes[0].square, lin.square),
        (planes[0], planes[0].circle, lin.circle),
        (planes[1], planes[1].square, lin.square_image),
        (planes[1], planes[1].ellipse, lin.ellipse),
    ):
        for each in (item, plane.magnifier.twin(item)):
            x, y = each.getData()
            np.testing.assert_array_equal(np.column_stack([x, y]), expected)
        path = item.getPath()
        assert path.elementCount() == len(expected)
        first = path.elementAt(0)
        assert (first.x, first.y) == tuple(expected[0])


def test_a_probe_move_writes_each_inset_scale_once(window, settle, monkeypatch):
    """The inset's label and scale bar are written once per move, though asked for twice
    (by the inset's new range, then by its placing)."""
    from jacviz.gui.mapview import magnifier as magnifier_module

    settle()
    moves(window, 3)
    written = []
    zoom_text = magnifier_module.zoom_text
    monkeypatch.setattr(
        magnifier_module, "zoom_text", lambda zoom: written.append(zoom) or zoom_text(zoom)
    )
    moves(window, 8)
    assert len(written) == 2 * 8  # each plane's inset, once per move
    for magnifier in (window.input_plane.magnifier, window.output_plane.magnifier):
        assert magnifier.label.text() == f"{zoom_text(magnifier.zoom())} around {magnifier.what}"


class LayoutRequests(QObject):
    """Counts the layout requests of every widget (a new text in a label asks for one)."""

    def __init__(self):
        super().__init__()
        self.count = 0
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False

    def close(self):
        QApplication.instance().removeEventFilter(self)


def test_the_inspector_shows_each_move_without_laying_the_panel_out(window, settle):
    """Its value labels keep their size while the text fits: the side panel is not laid out
    again at every move, and what they show is the controller's numbers."""
    settle()
    moves(window, 12)  # the labels take the sizes of these texts
    requests = LayoutRequests()
    try:
        moves(window, 12)  # the same points again
    finally:
        requests.close()
    assert requests.count == 0  # 3 per move when each new text re-laid out the panel
    inspector, lin = window.inspector, window.controller.inspected
    assert inspector.values["sigma1"].text() == format_number(float(lin.report.singular_values[0]))
    for label in inspector.values.values():
        if label.isVisibleTo(inspector) and not label.wordWrap():
            need = text_size(label, label.text())
            assert label.height() == need.height() and label.width() >= need.width()


def test_a_wider_value_gets_room_at_once(window, settle):
    """A value wider than its label lays the panel out again: no text is ever cut."""
    settle()
    moves(window, 2)
    label = window.inspector.values["point"]
    wide = "(" + ", ".join(["-1.23456e+300"] * 2) + ")"
    write_value(label, wide)
    QApplication.instance().processEvents()
    assert label.text() == wide and label.width() >= text_size(label, wide).width()
    write_value(label, "(0, 0)")  # much narrower: the label narrows too
    QApplication.instance().processEvents()
    assert label.text() == "(0, 0)"
    assert text_size(label, "(0, 0)").width() == label.width() < text_size(label, wide).width()


def test_text_size_is_the_size_an_unfixed_label_asks_for(qtbot):
    from PyQt6.QtWidgets import QLabel

    for text in ("(1, 0.5)", "│ 1  -2 │\n│ 3.5  4 │", "–", "a\tb"):
        label = QLabel(text)
        label.setTextFormat(Qt.TextFormat.PlainText)
        assert text_size(label, text) == label.sizeHint()


def test_a_networks_layer_table_follows_the_probe_without_laying_the_panel_out(window, settle):
    """The layer table changes at every move of a network's probe: like the inspector's values
    it keeps its size while its text fits, so the side column is not laid out again (a layout
    request per move before), and it shows the controller's factors. A message (a network
    that cannot be walked) still wraps, and a table after it gets its full size back."""
    from jacviz.gui.mapview.layers_panel import factor_rows
    from jacviz.math.maps import TorchMap
    from jacviz.nets.networks import make_mlp

    window.controller.set_map(TorchMap(make_mlp([2, 16, 16, 2], seed=1), "mlp", 2, 2))
    settle()
    moves(window, 12)  # the table takes the size of these texts
    requests = LayoutRequests()
    try:
        moves(window, 12)
    finally:
        requests.close()
    assert requests.count == 0
    table = window.layers.table
    factors = window.controller._factors()
    assert table.text() == "\n".join(factor_rows(factors))
    assert table.width() >= text_size(table, table.text()).width()
    window.layers.show_factors("Not available for this network:\n" + "word " * 60)
    assert table.wordWrap() and table.minimumWidth() == 0
    window.layers.show_factors(factors)
    assert not table.wordWrap() and table.text() == "\n".join(factor_rows(factors))
    assert table.size() == text_size(table, table.text())


def test_curves_share_their_views_pixel_size(window, settle, monkeypatch):
    """A probe move reframes each inset: its copies of the figures ask their pixel size once
    per view, not once each, and get what each would have worked out on its own."""
    settle()
    moves(window, 3)
    asked = []
    own = Curve._own_pixel_size

    def counting(self):
        asked.append(self)
        return own(self)

    monkeypatch.setattr(Curve, "_own_pixel_size", counting)
    moves(window, 10)
    views = {curve.getViewBox() for curve in asked}
    assert len(asked) <= 2 * 10 * len(views)  # was ~14 a move: one per copy in the insets
    monkeypatch.undo()
    for plane in (window.input_plane, window.output_plane):
        for item in plane.scene().items():
            if isinstance(item, Curve) and item.isVisible() and item.getViewBox() is not None:
                shared, alone = item._pixel_size(), item._own_pixel_size()
                assert shared == pytest.approx(alone, rel=1e-12)
