"""The plot pieces both views share."""

from jacviz.gui.common.plots import Plane


def test_zoomed_planes_show_plain_coordinates(qtbot):
    """Zoomed in to a thousandth, the axes keep their labels and plain tick values."""
    plane = Plane("Output plane", "f₁", "f₂")
    qtbot.addWidget(plane)
    plane.resize(400, 400)
    plane.setRange(xRange=(0.43, 0.58), yRange=(0.43, 0.58), padding=0)
    for side, label in (("bottom", "f₁"), ("left", "f₂")):
        axis = plane.getAxis(side)
        axis.setRange(0.43, 0.58)
        assert axis.autoSIPrefixScale == 1.0
        assert axis.labelString().count("x0.001") == 0
        assert label in axis.labelString()
