"""A map change lays the planes out once: the axes keep the room their tick labels took.

Switching between maps whose tick labels differ in width used to resize a plane's view box
after its first paint (the left axis gave back room, and took it again at the next map):
each such change painted the plane twice and shifted it sideways under the user's eyes.
Counted in resizes, never timed.
"""

import pytest

from jacviz.math.presets import preset

pytestmark = pytest.mark.timeout(120)

PRESETS = ("(x² + y, xy)", "Complex exp", "Swirl", "Hénon map")


def test_switching_between_maps_does_not_lay_the_planes_out_again(window, settle):
    controller = window.controller
    formulas = [preset(name).formula for name in PRESETS]

    def show_each() -> None:
        for formula in formulas:
            controller.set_formula(formula)
            settle()

    show_each()  # the axes take the room the widest labels need
    resized = []
    for plane in (window.input_plane, window.output_plane):
        plane.getViewBox().sigResized.connect(lambda _box, plane=plane: resized.append(plane))
    show_each()
    show_each()
    assert resized == []
    # The labels still fit: each axis is at least as wide as its widest tick label asks.
    for plane in (window.input_plane, window.output_plane):
        axis = plane.getAxis("left")
        assert axis.width() >= axis.textWidth
