"""The magnifier: an inset on each plane that frames the probe's neighbourhood.

At the default map and h the local picture is a small blob on the output plane; the inset
must frame it (contain it, at a much smaller range than the plane's), draw the linear
approximations on top of the true curves, follow the probe, obey View → Magnifier, and be
part of exported and rendered figures.
"""

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtWidgets import QApplication

from jacviz.gui.common.export import export_png
from jacviz.gui.mapview.magnifier import SETTING_KEY, magnifiers_in, nice_length, zoom_text
from jacviz.gui.shell import headless
from jacviz.gui.shell.main_window import MainWindow
from jacviz.state.view import ViewState


def local_pictures(window):
    """What each plane's inset must frame, by plane."""
    lin = window.controller.linearization
    return {
        "input": np.concatenate([lin.square, lin.circle]),
        "output": np.concatenate(
            [lin.square_image, lin.parallelogram, lin.circle_image, lin.ellipse]
        ),
    }


def planes(window):
    return {"input": window.input_plane, "output": window.output_plane}


def assert_frames(window, min_ratio=3.0):
    pictures = local_pictures(window)
    for name, plane in planes(window).items():
        inset = plane.magnifier.view
        assert inset.isVisible(), name
        (u0, u1), (v0, v1) = inset.viewRange()
        points = pictures[name]
        assert points[:, 0].min() >= u0 and points[:, 0].max() <= u1, name
        assert points[:, 1].min() >= v0 and points[:, 1].max() <= v1, name
        (x0, x1), (y0, y1) = plane.getViewBox().viewRange()
        assert (x1 - x0) / (u1 - u0) >= min_ratio, name
        assert (y1 - y0) / (v1 - v0) >= min_ratio, name
        # The picture fills the inset: it spans at least half of it one way or the other.
        span = points.max(axis=0) - points.min(axis=0)
        assert max(span[0] / (u1 - u0), span[1] / (v1 - v0)) >= 0.5, name


def view_action(window, text):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    return next(a for a in menu.actions() if a.text() == text)


def test_the_inset_frames_the_local_picture_at_the_default_map(window):
    assert_frames(window)
    output = window.output_plane.magnifier
    assert output.zoom() >= 2.0
    assert output.label.text().startswith(zoom_text(output.zoom()))
    assert "f(p)" in output.label.text()
    assert window.input_plane.magnifier.label.text().endswith("around p")


def test_the_inset_stays_inside_the_plane_and_off_the_point_it_magnifies(window):
    lin = window.controller.linearization
    centers = {"input": lin.point, "output": lin.value}
    for name, plane in planes(window).items():
        inset, host = plane.magnifier.view, plane.getViewBox()
        assert host.sceneBoundingRect().contains(inset.sceneBoundingRect()), name
        center = host.mapViewToScene(QPointF(*centers[name]))
        assert not inset.sceneBoundingRect().contains(center), name


def test_linear_approximations_are_drawn_over_the_true_curves(window):
    plane = window.output_plane
    twin = plane.magnifier.twin
    for approximation in (plane.parallelogram, plane.ellipse):
        for true_curve in (plane.square, plane.circle):
            assert approximation.zValue() > true_curve.zValue()
            assert twin(approximation).zValue() > twin(true_curve).zValue()
    # Dashed outlines, so the true curve shows through where they agree.
    assert plane.parallelogram.pen().style() != plane.square.opts["pen"].style()
    assert plane.parallelogram.brush().color().alpha() < 128


def test_the_inset_follows_a_probe_move(qtbot, window):
    before = [plane.magnifier.view.viewRange() for plane in planes(window).values()]
    window.controller.set_probe(-1.2, 1.4)
    qtbot.wait(10)
    assert_frames(window)
    after = [plane.magnifier.view.viewRange() for plane in planes(window).values()]
    for old, new in zip(before, after, strict=True):
        assert not np.allclose(old, new)
    lin = window.controller.linearization
    twin = window.output_plane.magnifier.twin(window.output_plane.center_marker)
    np.testing.assert_allclose([twin.pos().x(), twin.pos().y()], lin.value)


def test_view_magnifier_hides_and_shows_it_and_is_remembered(qtbot, window, settings):
    action = view_action(window, "Magnifier")
    assert action.isCheckable() and action.isChecked()
    magnifiers = magnifiers_in(window)
    assert len(magnifiers) == 2
    action.trigger()
    assert not any(m.view.isVisible() for m in magnifiers)
    assert settings.value(SETTING_KEY, type=bool) is False
    window.controller.set_probe(0.5, -0.5)  # a probe move does not bring it back
    assert not any(m.view.isVisible() for m in magnifiers)
    other = MainWindow(ViewState(), settings)
    qtbot.addWidget(other)
    assert not view_action(other, "Magnifier").isChecked()
    assert not any(m.enabled for m in magnifiers_in(other))
    other.close()
    action.trigger()
    assert all(m.view.isVisible() for m in magnifiers)
    assert settings.value(SETTING_KEY, type=bool) is True


def test_it_hides_when_the_plane_is_zoomed_in_as_far(qtbot, window):
    plane = window.output_plane
    (u0, u1), (v0, v1) = plane.magnifier.view.viewRange()
    plane.setRange(xRange=(u0, u1), yRange=(v0, v1), padding=0)
    qtbot.wait(10)
    assert not plane.magnifier.view.isVisible()
    window.reframe()
    qtbot.wait(10)
    assert plane.magnifier.view.isVisible()


def test_exported_figures_show_it(window, tmp_path):
    figure = window.figure("output")
    with_inset = tmp_path / "with.png"
    export_png(figure, with_inset)
    view_action(window, "Magnifier").trigger()
    without = tmp_path / "without.png"
    export_png(window.figure("output"), without)
    assert with_inset.read_bytes() != without.read_bytes()


def test_render_shows_it(monkeypatch, tmp_path):
    seen = []
    original = headless.export_figure

    def spy(figure, *args, **kwargs):
        seen.extend(m.view.isVisible() for m in magnifiers_in(figure.body))
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(headless, "export_figure", spy)
    request = headless.RenderRequest(state=ViewState(), view="composite")
    headless.render_to_file(request, tmp_path / "shot.png")
    assert seen == [True, True]
    QApplication.processEvents()


@pytest.mark.parametrize(
    ("span", "length"), [(0.37, 0.2), (1.0, 1.0), (7.9, 5.0), (0.0012, 0.001), (0.0, 0.0)]
)
def test_scale_bar_lengths_are_round(span, length):
    assert nice_length(span) == pytest.approx(length)


def test_the_pointer_over_the_inset_works_the_plane_under_it(qtbot, window):
    from PyQt6.QtCore import QEvent, QPoint
    from PyQt6.QtGui import QMouseEvent, QWheelEvent

    plane = window.output_plane
    inset = plane.magnifier.view
    inset_range = inset.viewRange()
    pos = plane.mapFromScene(inset.sceneBoundingRect().center())
    (x0, x1), _ = plane.getViewBox().viewRange()
    wheel = QWheelEvent(
        QPointF(pos),
        QPointF(plane.viewport().mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(plane.viewport(), wheel)
    (u0, u1), _ = plane.getViewBox().viewRange()
    assert u1 - u0 < x1 - x0  # the plane zoomed
    left = Qt.MouseButton.LeftButton
    before = plane.getViewBox().viewRange()
    viewport = plane.viewport()
    for kind, point, button, buttons in (
        (QEvent.Type.MouseButtonPress, pos, left, left),
        (QEvent.Type.MouseMove, pos + QPoint(20, 0), Qt.MouseButton.NoButton, left),
        (QEvent.Type.MouseMove, pos + QPoint(40, 0), Qt.MouseButton.NoButton, left),
        (QEvent.Type.MouseButtonRelease, pos + QPoint(40, 0), left, Qt.MouseButton.NoButton),
    ):
        event = QMouseEvent(
            kind,
            QPointF(point),
            QPointF(viewport.mapToGlobal(point)),
            button,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(viewport, event)
        qtbot.wait(5)
    assert plane.getViewBox().viewRange()[0][0] < before[0][0]  # the plane panned
    assert np.allclose(inset.viewRange(), inset_range)  # the inset only follows f(p)


def test_the_inset_stays_in_its_corner_while_the_morph_slider_moves(window):
    magnifier = window.output_plane.magnifier
    corner = magnifier.view.pos()
    for step in range(100, -1, -10):
        window.morph.setValue(step)
        assert magnifier.view.pos() == corner


@pytest.mark.parametrize("empty", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_the_inset_takes_the_corner_that_hides_fewest_grid_points(qtbot, empty):
    """Grid points everywhere but near one corner: the inset goes there (and never over the
    picture it magnifies, which sits in the middle)."""
    from jacviz.gui.common.plots import Plane
    from jacviz.gui.mapview.magnifier import Magnifier

    plane = Plane("t", "x", "y")
    qtbot.addWidget(plane)
    plane.resize(600, 600)
    plane.show()
    qtbot.waitExposed(plane)
    plane.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    QApplication.instance().processEvents()
    magnifier = Magnifier(plane, "p")
    magnifier.focus(np.array([[0.49, 0.49], [0.51, 0.51]]))
    axis = np.linspace(0.0, 1.0, 61)
    points = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    left, bottom = empty.endswith("left"), empty.startswith("bottom")
    away = (points[:, 0] > 0.45) if left else (points[:, 0] < 0.55)
    away |= (points[:, 1] > 0.45) if bottom else (points[:, 1] < 0.55)
    magnifier.set_clutter(points[away][np.newaxis])
    assert magnifier.view.isVisible()
    where, host = magnifier.view.pos(), plane.getViewBox()
    assert (where.x() < host.width() / 2) == left
    assert (where.y() > host.height() / 2) == bottom  # a view box's y grows downwards
