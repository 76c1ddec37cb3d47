"""Dragging on the input plane moves the probe; panning takes the middle button or a modifier.

Each drag is a real press, moves and release on the plane's viewport, as a user makes it.
"""

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication

LEFT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton
NONE = Qt.KeyboardModifier.NoModifier


def widget_pos(plane, x, y):
    """Viewport pixel of the data point (x, y)."""
    return plane.mapFromScene(plane.getViewBox().mapViewToScene(QPointF(x, y)))


def data_per_pixel(plane):
    (x0, x1), (y0, y1) = plane.getViewBox().viewRange()
    rect = plane.getViewBox().sceneBoundingRect()
    return max((x1 - x0) / rect.width(), (y1 - y0) / rect.height())


def send(widget, kind, pos, button, buttons, modifiers):
    event = QMouseEvent(
        kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons, modifiers
    )
    QApplication.sendEvent(widget, event)


def drag(qtbot, plane, start, end, button=LEFT, modifiers=NONE, on_move=None, steps=8):
    """Press at ``start``, move to ``end`` in ``steps``, release; call ``on_move`` after each."""
    viewport = plane.viewport()
    send(viewport, QEvent.Type.MouseButtonPress, start, button, button, modifiers)
    for k in range(1, steps + 1):
        t = k / steps
        point = QPoint(
            round(start.x() + t * (end.x() - start.x())),
            round(start.y() + t * (end.y() - start.y())),
        )
        send(viewport, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button, modifiers)
        qtbot.wait(5)
        if on_move is not None:
            on_move(point)
    send(viewport, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton, modifiers)
    qtbot.wait(5)


def test_a_left_drag_anywhere_moves_the_probe_and_not_the_view(qtbot, window):
    plane = window.input_plane
    controller = window.controller
    before = plane.getViewBox().viewRange()
    tolerance = 1.5 * data_per_pixel(plane)
    followed = []

    def check(point):
        # After every move the probe is where the pointer is.
        view = plane.getViewBox().mapSceneToView(plane.mapToScene(point))
        followed.append(np.allclose(controller.state.probe, (view.x(), view.y()), atol=tolerance))

    # Far from the probe at (1, 0.5): today this drag would pan the plane.
    drag(qtbot, plane, widget_pos(plane, -1.5, -1.0), widget_pos(plane, 0.5, 1.5), on_move=check)
    assert followed == [True] * 8
    np.testing.assert_allclose(controller.state.probe, (0.5, 1.5), atol=tolerance)
    np.testing.assert_allclose(plane.getViewBox().viewRange(), before)
    x, y = controller.state.probe
    np.testing.assert_allclose(plane.target.pos(), (x, y))


@pytest.mark.parametrize(
    ("button", "modifiers"),
    [
        (MIDDLE, NONE),
        (LEFT, Qt.KeyboardModifier.ShiftModifier),
        (LEFT, Qt.KeyboardModifier.ControlModifier),
    ],
)
def test_middle_or_modified_drags_pan_and_leave_the_probe(qtbot, window, button, modifiers):
    plane = window.input_plane
    probe = window.controller.state.probe
    (x0, x1), (y0, _) = plane.getViewBox().viewRange()
    start, end = widget_pos(plane, -1.0, -1.0), widget_pos(plane, 0.0, 0.0)
    drag(qtbot, plane, start, end, button, modifiers)
    assert window.controller.state.probe == probe
    (u0, u1), (v0, _) = plane.getViewBox().viewRange()
    # The plane moved with the pointer: the point under it is still (-1, -1).
    assert u0 == pytest.approx(x0 - 1.0, abs=0.05) and v0 == pytest.approx(y0 - 1.0, abs=0.05)
    assert u1 - u0 == pytest.approx(x1 - x0)


def test_the_wheel_still_zooms(qtbot, window):
    from PyQt6.QtGui import QWheelEvent

    plane = window.input_plane
    (x0, x1), _ = plane.getViewBox().viewRange()
    pos = QPointF(widget_pos(plane, 0.0, 0.0))
    event = QWheelEvent(
        pos,
        QPointF(plane.viewport().mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        NONE,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(plane.viewport(), event)
    (u0, u1), _ = plane.getViewBox().viewRange()
    assert u1 - u0 < x1 - x0


def test_the_plane_says_how(window):
    tip = window.input_plane.toolTip()
    assert "drag to move the probe" in tip and "Shift/Ctrl" in tip and "middle button" in tip
