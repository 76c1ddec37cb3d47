"""Inside the network, driven as a user would: choosing the projection, dragging the probe,
and the layer-by-layer factors of a network seen on a slice."""

import numpy as np
import pytest
import torch
from test_app import curve_points, data_per_pixel, drag, saved_network, widget_pos

from jacviz.gui.mapview.pictures import PATH_CIRCLE_SAMPLES
from jacviz.math.grid import Domain, grid_lines
from jacviz.math.linearize import unit_circle
from jacviz.math.maps import TorchMap
from jacviz.nets.layers import layer_images
from jacviz.nets.networks import EXAMPLES_DIR, load_network

TANH_WARP = EXAMPLES_DIR / "tanh_warp.safetensors"  # Linear 2→32, tanh, Linear 32→32, tanh, …
TURN_3D = EXAMPLES_DIR / "turn_3d.safetensors"  # the same shape with 3 inputs


def activations(module, upto, points):
    """The output of the network's first ``upto`` layers at ``points`` (..., n), from torch."""
    points = np.asarray(points, dtype=np.float64)
    dtype = next(module.parameters()).dtype
    x = torch.from_numpy(points.reshape(-1, points.shape[-1])).to(dtype)
    with torch.no_grad():
        out = module[:upto](x)
    return out.double().numpy().reshape(*points.shape[:-1], -1)


def open_inside(window, settle, path, layer):
    assert window.open_network(str(path))
    settle()
    window.right_tabs.setCurrentIndex(1)
    view = window.layer_view
    view.layers.setCurrentIndex(layer)
    return view, load_network(path).module


def drawn_grid(view):
    return np.concatenate([curve_points(view.vertical_lines), curve_points(view.horizontal_lines)])


def test_choosing_two_units_draws_exactly_those_activations(qtbot, window, settle):
    view, module = open_inside(window, settle, TANH_WARP, 1)  # after the first tanh
    assert view.projection.isVisibleTo(window) and view.projection.currentIndex() == 0
    assert not view.unit_boxes[0].isEnabled()
    state = window.controller.state
    lines = grid_lines(state.domain, state.grid_lines)
    view.projection.setCurrentIndex(1)  # "two units i, j": starts at units 0 and 1
    assert window.controller.state.layer_units == (0, 1)
    view.unit_boxes[1].setValue(3)
    view.unit_boxes[0].setValue(2)
    assert window.controller.state.layer_units == (2, 3)
    assert view.unit_boxes[0].maximum() == view.unit_boxes[1].maximum() == 31
    expected = activations(module, 2, lines)[..., [2, 3]]
    np.testing.assert_allclose(drawn_grid(view), expected.reshape(-1, 2), rtol=1e-12, atol=1e-12)
    assert view.title.text().startswith("After layer 2, tanh (32): units 2 and 3 of its 32 (")
    # Every wide layer shows the same units; the 2-wide output is shown as it is.
    view.layers.setCurrentIndex(3)
    expected = activations(module, 4, lines)[..., [2, 3]]
    np.testing.assert_allclose(drawn_grid(view), expected.reshape(-1, 2), rtol=1e-12, atol=1e-12)
    view.layers.setCurrentIndex(4)
    assert "its 2 units directly" in view.title.text()
    # Moving one unit onto the other swaps them: the pair stays two different units.
    view.unit_boxes[0].setValue(3)
    assert (view.unit_boxes[0].value(), view.unit_boxes[1].value()) == (3, 2)
    assert window.controller.state.layer_units == (3, 2)
    # Back to PCA: the principal directions again, units remembered in the boxes.
    view.projection.setCurrentIndex(0)
    assert window.controller.state.layer_units is None
    view.layers.setCurrentIndex(1)
    pca = layer_images(module, lines)[1].curves
    np.testing.assert_allclose(drawn_grid(view), pca.reshape(-1, 2), atol=1e-12)
    assert "principal directions" in view.title.text()
    assert not view.unit_boxes[0].isEnabled() and view.unit_boxes[0].value() == 3


def test_units_that_a_network_lacks_are_refused_or_dropped(qtbot, window, settle, tmp_path):
    controller = window.controller
    view, _ = open_inside(window, settle, TANH_WARP, 1)
    view.projection.setCurrentIndex(1)
    view.unit_boxes[1].setValue(20)
    assert controller.state.layer_units == (0, 20)
    # Units beyond the narrowest wide layer: refused with the reason, the controls go back.
    controller.set_layer_units((0, 40))
    assert controller.state.layer_units == (0, 20)
    assert "Projection not changed" in window.statusBar().currentMessage()
    assert "pick units below 32" in window.statusBar().currentMessage()
    assert view.unit_boxes[1].value() == 20 and view.projection.currentIndex() == 1
    # A network whose layers are narrower: its wide layers are shown by PCA instead.
    _, path = saved_network(tmp_path, [2, 8, 2])
    assert window.open_network(str(path))
    settle()
    assert controller.state.layer_units is None
    assert view.projection.currentIndex() == 0 and view.unit_boxes[0].maximum() == 7
    view.projection.setCurrentIndex(1)  # the boxes offer a pair this network has
    assert controller.state.layer_units == (0, 1)
    assert "units 0 and 1 of its 8" in view.title.text()
    # Only 2-wide layers: nothing to choose.
    _, path = saved_network(tmp_path, [2, 2, 2], "narrow.safetensors")
    assert window.open_network(str(path))
    settle()
    assert not view.projection.isVisibleTo(window)


@pytest.mark.parametrize("units", [None, (5, 7)])
def test_dragging_the_probe_moves_its_mark_in_the_layer(qtbot, window, settle, units):
    view, module = open_inside(window, settle, TANH_WARP, 1)
    window.controller.set_layer_units(units)
    marker = view.probe_marker
    px, py = window.controller.state.probe
    assert marker.isVisible()
    moves = []
    window.controller.sigLayerPathChanged.connect(moves.append)
    plane = window.input_plane
    drag(qtbot, plane.viewport(), widget_pos(plane, px, py), widget_pos(plane, -1.0, 1.5))
    x, y = window.controller.state.probe
    tolerance = 1.5 * data_per_pixel(plane)
    assert abs(x + 1.0) <= tolerance and abs(y - 1.5) <= tolerance
    assert len(moves) >= 4  # followed during the drag, not only at the end
    # The mark is p's activation after layer 2, projected as the grid drawn under it.
    image = view.current
    point = np.array([x, y])
    circle = point + window.controller.state.h * unit_circle(PATH_CIRCLE_SAMPLES)
    seen = activations(module, 2, np.vstack([point, circle]))
    if units is None:
        expected = (seen - image.mean) @ image.basis
    else:
        assert image.units == units
        expected = seen[:, list(units)]
    np.testing.assert_allclose([marker.pos().x(), marker.pos().y()], expected[0], atol=1e-12)
    np.testing.assert_allclose(curve_points(view.circle), expected[1:], atol=1e-12)
    # Another layer: the same probe, seen there.
    view.layers.setCurrentIndex(4)
    output = window.controller.linearization.value
    np.testing.assert_allclose([marker.pos().x(), marker.pos().y()], output, atol=1e-12)
    # A formula has no layers: nothing is marked.
    window.controller.set_formula("y, x")
    assert not marker.isVisible()


def test_the_path_is_followed_only_while_the_layers_are_on_screen(qtbot, window, settle):
    view, _ = open_inside(window, settle, TANH_WARP, 4)  # the output layer: f itself
    controller, marker = window.controller, view.probe_marker
    paths = []
    controller.sigLayerPathChanged.connect(paths.append)
    window.right_tabs.setCurrentIndex(0)  # the output plane: nobody sees the layers
    controller.set_probe(-0.5, 0.25)
    controller.set_probe(0.75, -1.0)
    assert paths == []
    window.right_tabs.setCurrentIndex(1)  # shown again: at once where the probe is now
    assert len(paths) == 1
    value = controller.linearization.value
    np.testing.assert_allclose([marker.pos().x(), marker.pos().y()], value, atol=1e-12)


def test_a_sliced_network_is_factored_through_its_plane(qtbot, window, settle):
    assert window.open_network(str(TURN_3D))
    settle()
    controller = window.controller
    assert window.layers.isVisibleTo(window)

    def rows():
        return window.layers.table.text().splitlines()

    def last_sigmas():
        return [float(v) for v in rows()[-1].split("  ")[-1].split(",")]

    table = rows()
    assert len(table) == 1 + 1 + 5  # header, the slice, then the network's 5 layers
    assert table[1].split()[:4] == ["0", "slice", "[u", "v]"]
    assert "Linear 3→32" in table[2] and "Linear 32→2" in table[-1]
    assert table[1].split()[-2:] == ["1,", "1"]  # σ of [e1 e2]
    # The last 'σ so far' are the inspector's: σ of the 2D map shown.
    inspector = [float(window.inspector.values[k].text()) for k in ("sigma1", "sigma2")]
    np.testing.assert_allclose(last_sigmas(), inspector, rtol=5e-3)  # 3 significant digits
    # On a tilted plane through another base point, and at another probe.
    assert controller.set_slice((0.0, 0.0, 1.0), (1.0, 0.0, 1.0), (0.0, 2.0, 0.0)) is None
    controller.set_probe(-0.7, 0.9)
    table = rows()
    assert table[1].split()[-2:] == ["2,", "1.41"]  # σ of [u v]: |v| = 2, |u| = √2
    sigma = np.linalg.svd(controller.linearization.jacobian, compute_uv=False)
    np.testing.assert_allclose(last_sigmas(), sigma, rtol=5e-3)
    inspector = [float(window.inspector.values[k].text()) for k in ("sigma1", "sigma2")]
    np.testing.assert_allclose(last_sigmas(), inspector, rtol=5e-3)


def test_layers_are_drawn_only_while_their_view_is_shown(qtbot, window, settle, monkeypatch):
    import jacviz.gui.mapview.controller as controller_module

    drawn = []
    real = controller_module.layer_pictures

    def counting(source, state, units):
        images = real(source, state, units)
        drawn.append(source)
        return images

    monkeypatch.setattr(controller_module, "layer_pictures", counting)
    controller, tabs = window.controller, window.right_tabs
    assert window.open_network(str(TANH_WARP))
    settle()
    controller.set_domain(Domain(-1.0, 1.0, -1.0, 1.0))  # a map change while hidden
    # Offered (its tab enabled), but not drawn: nobody looks inside the network yet.
    assert tabs.isTabEnabled(1) and tabs.currentIndex() == 0
    assert drawn == []
    tabs.setCurrentIndex(1)  # the view appears: the layers of the map shown, drawn once
    assert len(drawn) == 1 and drawn[0] is controller.source
    module = load_network(TANH_WARP).module
    lines = grid_lines(controller.state.domain, controller.state.grid_lines)
    expected = layer_images(module, lines)
    assert window.layer_view.layers.count() == len(expected) == 5
    window.layer_view.layers.setCurrentIndex(1)
    np.testing.assert_allclose(drawn_grid(window.layer_view), expected[1].curves.reshape(-1, 2))
    # While shown, every map change draws them again; hidden again, none does.
    controller.set_domain(Domain(-2.0, 2.0, -1.0, 1.0))
    assert len(drawn) == 2
    tabs.setCurrentIndex(0)
    controller.set_domain(Domain(-1.0, 1.0, -2.0, 2.0))
    assert len(drawn) == 2
    # A figure of the view (as renders ask for it) draws the layers of the map shown.
    assert window.figure_available("layers") and len(drawn) == 3
    lines = grid_lines(controller.state.domain, controller.state.grid_lines)
    assert window.layer_view.layers.count() == 5
    np.testing.assert_allclose(
        controller.layer_images()[1].curves, layer_images(module, lines)[1].curves
    )
    assert len(drawn) == 3  # not again: nothing changed


def test_units_a_new_network_lacks_are_dropped_while_its_layers_are_hidden(qtbot, window, settle):
    controller = window.controller
    assert window.open_network(str(TANH_WARP))  # 32 units a layer
    settle()
    window.right_tabs.setCurrentIndex(1)
    controller.set_layer_units((30, 31))
    window.right_tabs.setCurrentIndex(0)
    small = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    controller.set_map(TorchMap(small.double(), "small", 2, 2))
    assert window.right_tabs.isTabEnabled(1)
    assert controller.state.layer_units is None  # dropped at once, as when shown
