"""The app, driven as a user would: typing, clicking, dragging, choosing from menus."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import wait_for_heatmap
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication

from jacviz.gui.shell.main_window import MainWindow, save_state_to_settings
from jacviz.math.jacobian import HEATMAP_QUANTITIES
from jacviz.math.maps import FormulaMap, TorchMap
from jacviz.math.presets import PRESETS
from jacviz.nets.networks import EXAMPLES_DIR, load_network, make_mlp
from jacviz.state.view import ViewState


def curve_points(item):
    x, y = item.getData()
    return np.column_stack([x, y])


def widget_pos(plane, x, y):
    """Widget pixel position of data point (x, y) in a plane."""
    scene = plane.getViewBox().mapViewToScene(QPointF(x, y))
    return plane.mapFromScene(scene)


def data_per_pixel(plane):
    (x0, x1), (y0, y1) = plane.getViewBox().viewRange()
    rect = plane.getViewBox().sceneBoundingRect()
    return max((x1 - x0) / rect.width(), (y1 - y0) / rect.height())


def send_mouse(widget, kind, pos, buttons):
    button = Qt.MouseButton.LeftButton
    if kind == QEvent.Type.MouseMove:
        button = Qt.MouseButton.NoButton
    global_pos = QPointF(widget.mapToGlobal(pos))
    event = QMouseEvent(
        kind, QPointF(pos), global_pos, button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def drag(qtbot, widget, start, end, steps=8):
    """A real press–move–release drag (QTest's mouseMove carries no button state)."""
    left = Qt.MouseButton.LeftButton
    send_mouse(widget, QEvent.Type.MouseButtonPress, start, left)
    for k in range(1, steps + 1):
        t = k / steps
        point = QPoint(
            round(start.x() + t * (end.x() - start.x())),
            round(start.y() + t * (end.y() - start.y())),
        )
        send_mouse(widget, QEvent.Type.MouseMove, point, left)
        qtbot.wait(5)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def expected_jacobian(x, y):
    return np.array([[2 * x, 1.0], [y, x]])  # of the default map (x² + y, xy)


def assert_inspector_shows(window, jacobian):
    text = window.inspector.values["jacobian"].text()
    shown = [[float(v) for v in row.strip("│ ").split()] for row in text.splitlines()]
    np.testing.assert_allclose(shown, jacobian, rtol=1e-5)  # 6 significant digits shown
    if jacobian.shape == (2, 2):
        det = float(np.linalg.det(jacobian))
        word = "orientation preserved" if det > 0 else "orientation reversed"
        assert window.inspector.values["det"].text().endswith(f"({word})")
    sigma = np.linalg.svd(jacobian, compute_uv=False)
    assert float(window.inspector.values["sigma1"].text()) == pytest.approx(sigma[0], rel=1e-5)
    assert float(window.inspector.values["sigma2"].text()) == pytest.approx(sigma[1], rel=1e-5)


def test_typing_a_formula_updates_both_planes_and_the_inspector(qtbot, window, settle):
    editor = window.editor.formula
    editor.selectAll()
    qtbot.keyClicks(editor, "x**2 - y**2, 2*x*y")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    settle()
    assert window.controller.map.name == "x**2 - y**2, 2*x*y"
    grid = window.controller.grid
    half = grid.lines.shape[0] // 2
    lines = grid.lines[:half].reshape(-1, 2)
    np.testing.assert_allclose(
        curve_points(window.input_plane.vertical_lines), lines, rtol=0, atol=0
    )
    x, y = lines[:, 0], lines[:, 1]
    np.testing.assert_allclose(
        curve_points(window.output_plane.vertical_lines),
        np.column_stack([x**2 - y**2, 2 * x * y]),
        rtol=1e-12,
    )
    px, py = window.controller.state.probe
    assert_inspector_shows(window, np.array([[2 * px, -2 * py], [2 * py, 2 * px]]))


def test_typing_pauses_then_applies_without_enter(qtbot, window):
    editor = window.editor.formula
    editor.selectAll()
    qtbot.keyClicks(editor, "y, x")
    qtbot.waitUntil(lambda: window.controller.map.name == "y, x", timeout=3000)


def test_an_invalid_formula_shows_where_and_keeps_the_last_map(qtbot, window, settle):
    before = curve_points(window.output_plane.vertical_lines)
    editor = window.editor.formula
    editor.selectAll()
    qtbot.keyClicks(editor, "x**2 + z, x*y")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    settle()  # formulas are checked off the GUI thread
    error = window.editor.error
    assert error.isVisible()
    assert "unknown name 'z' at column 8" in error.text()
    assert "&nbsp;" * 7 + "^" in error.text()  # caret under the z
    assert window.controller.map.name == "x**2 + y, x*y"
    np.testing.assert_array_equal(curve_points(window.output_plane.vertical_lines), before)
    assert "last good map" in window.statusBar().currentMessage()
    # Fixing the text clears the error.
    editor.selectAll()
    qtbot.keyClicks(editor, "x + y, x - y")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    settle()
    assert not error.isVisible()


def test_one_output_is_refused_by_the_planes(qtbot, window, settle):
    window.editor.formula.setText("x*y")
    qtbot.keyClick(window.editor.formula, Qt.Key.Key_Return)
    settle()
    assert "maps 2 inputs to 1 output;" in window.editor.error.text()
    assert window.controller.map.output_dim == 2


def test_a_real_click_moves_the_probe_there(qtbot, window):
    plane = window.input_plane
    target = (0.5, -1.25)
    qtbot.mouseClick(plane.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(plane, *target))
    x, y = window.controller.state.probe
    tolerance = 1.5 * data_per_pixel(plane)  # a click lands on a whole pixel
    assert abs(x - target[0]) <= tolerance and abs(y - target[1]) <= tolerance
    np.testing.assert_allclose(
        window.controller.linearization.jacobian, expected_jacobian(x, y), rtol=1e-15
    )
    assert_inspector_shows(window, expected_jacobian(x, y))
    np.testing.assert_allclose(window.input_plane.target.pos(), (x, y))


def test_dragging_the_probe_updates_the_inspector_live(qtbot, window):
    plane = window.input_plane
    px, py = window.controller.state.probe
    seen = []
    window.controller.sigProbeChanged.connect(lambda lin: seen.append(tuple(lin.point)))
    drag(qtbot, plane.viewport(), widget_pos(plane, px, py), widget_pos(plane, -1.0, 1.5))
    x, y = window.controller.state.probe
    tolerance = 1.5 * data_per_pixel(plane)
    assert abs(x + 1.0) <= tolerance and abs(y - 1.5) <= tolerance
    assert len(seen) >= 4  # updated during the drag, not only at the end
    assert_inspector_shows(window, expected_jacobian(x, y))


def test_hovering_marks_the_image_point(qtbot, window):
    plane = window.input_plane
    pos = widget_pos(plane, 1.0, 1.0)
    qtbot.mouseMove(plane.viewport(), pos)
    marker = window.output_plane.hover_marker
    qtbot.waitUntil(marker.isVisible, timeout=3000)
    hx, hy = marker.pos().x(), marker.pos().y()
    tolerance = 6 * data_per_pixel(plane)  # |J| ≤ 3 near (1, 1), 1.5-pixel click rounding
    assert hx == pytest.approx(2.0, abs=tolerance) and hy == pytest.approx(1.0, abs=tolerance)


@pytest.mark.parametrize("key", list(HEATMAP_QUANTITIES))
def test_every_heatmap_mode_renders_finite_colours(qtbot, window, settle, key):
    window.heatmap_actions[key].trigger()
    settle()
    image = window.input_plane.image.image
    assert image.shape == (256, 256)
    assert np.isfinite(image).all()  # folds (log|det| = −inf, cond = inf) clip to the bar's end
    low, high = window.input_plane.colorbar.levels()
    assert np.isfinite([low, high]).all() and low < high
    if key in ("det", "logdet"):
        assert low == -high  # diverging, centred on 0: orientation reversal reads at a glance
    # The fold line det = 2x² − y = 0 is drawn.
    fold = curve_points(window.input_plane.fold_lines)
    assert len(fold) > 100
    assert np.abs(2 * fold[:, 0] ** 2 - fold[:, 1]).max() < 0.01


def test_no_heatmap_hides_the_colour_bar_but_keeps_the_folds(qtbot, window, settle):
    window.heatmap_actions[None].trigger()
    settle()
    assert not window.input_plane.image.isVisible()
    assert not window.input_plane.colorbar.isVisible()
    assert len(curve_points(window.input_plane.fold_lines)) > 100


def test_poles_are_masked_not_fatal(qtbot, window, settle):
    window.controller.set_formula("1/x, y/x")
    settle()
    image = window.input_plane.image.image
    assert np.isnan(image).sum() == 0 or np.isfinite(image).sum() > 0.9 * image.size


@pytest.mark.parametrize("entry", PRESETS, ids=lambda p: p.name)
def test_every_preset_loads(qtbot, window, settle, entry):
    window.controller.load_preset(entry)
    settle()
    assert window.controller.map.name == entry.formula
    assert window.editor.formula.text() == entry.formula
    assert entry.name in window.statusBar().currentMessage()
    images = window.controller.grid.images
    np.testing.assert_allclose(
        curve_points(window.output_plane.vertical_lines),
        images[: images.shape[0] // 2].reshape(-1, 2),
    )
    assert np.isfinite(window.input_plane.image.image).all()
    assert window.inspector.values["jacobian"].text() != "–"


def test_the_linear_preset_edits_its_matrix(qtbot, window, settle):
    combo = window.editor.presets
    combo.activated.emit(combo.findText("Linear map"))
    assert window.editor.matrix_group.isVisibleTo(window)
    window.editor.matrix[1].setValue(-2.0)
    settle()
    np.testing.assert_array_equal(window.controller.linearization.jacobian, [[1.5, -2], [0.25, 1]])


def test_morph_slider_blends_identity_and_map(qtbot, window):
    grid = window.controller.grid
    half = grid.lines.shape[0] // 2
    window.morph.setValue(0)
    np.testing.assert_allclose(
        curve_points(window.output_plane.vertical_lines), grid.lines[:half].reshape(-1, 2)
    )
    window.morph.setValue(50)
    np.testing.assert_allclose(
        curve_points(window.output_plane.vertical_lines),
        (0.5 * grid.lines[:half] + 0.5 * grid.images[:half]).reshape(-1, 2),
    )
    assert window.controller.state.morph == 0.5


def test_the_morph_animation_is_saved_whole_and_the_slider_put_back(
    qtbot, window, tmp_path, monkeypatch
):
    from PIL import Image
    from PyQt6.QtWidgets import QFileDialog

    from jacviz.gui.shell.figures import MORPH_FRAMES, MORPH_HOLD

    target = tmp_path / "morph.gif"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.morph.setValue(30)
    assert window.export_morph_animation() == target
    with Image.open(target) as gif:
        # The held frames at t = 1 are identical: the GIF keeps one, shown for all of them.
        assert gif.n_frames == MORPH_FRAMES
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert durations[-1] >= (MORPH_HOLD + 1) * durations[0]  # the map is held on screen
    assert abs(sum(durations) - (MORPH_FRAMES + MORPH_HOLD) * 1000 / 24) <= 10 * len(durations)
    assert window.controller.state.morph == 0.3 and window.morph.value() == 30


def test_arrow_keys_nudge_the_probe_and_brackets_resize_the_square(qtbot, window):
    x, y = window.controller.state.probe
    window.input_plane.setFocus()
    qtbot.keyClick(window.input_plane, Qt.Key.Key_Right)
    qtbot.keyClick(window.input_plane, Qt.Key.Key_Up)
    assert window.controller.state.probe == pytest.approx((x + 0.04, y + 0.04))
    h = window.controller.state.h
    qtbot.keyClick(window.input_plane, Qt.Key.Key_BracketRight)
    assert window.controller.state.h == pytest.approx(1.25 * h)


def test_domain_edits_reframe_the_input_plane(qtbot, window, settle):
    window.editor.domain[1].setValue(5.0)
    settle()
    assert window.controller.state.domain.xmax == 5.0
    assert window.input_plane.getViewBox().viewRange()[0][1] >= 5.0
    window.editor.domain[1].setValue(-3.0)  # xmax < xmin: refused with a message
    assert window.controller.state.domain.xmax == 5.0
    assert "xmin < xmax" in window.statusBar().currentMessage()


def test_window_remembers_its_map(qtbot, settings):
    first = MainWindow(ViewState(formula="y, x"), settings)
    qtbot.addWidget(first)
    first.controller.set_h(0.5)
    first.close()
    second = MainWindow(None, settings)
    qtbot.addWidget(second)
    assert second.controller.state.formula == "y, x"
    assert second.controller.state.h == 0.5
    second.close()


def test_a_stored_one_output_formula_falls_back_to_the_default_map(qtbot, settings):
    save_state_to_settings(settings, ViewState(formula="x*y", probe=(0.25, 0.5)))  # 1 output
    main = MainWindow(None, settings)
    qtbot.addWidget(main)
    assert main.controller.source.output_dim == 2
    assert main.controller.state.formula == ViewState().formula
    assert main.controller.state.probe == (0.25, 0.5)  # the rest of the settings were used
    main.close()


@pytest.mark.parametrize(
    "stored",
    [
        '{"formula": "x, y", "domain": ["a", "b"]}',
        '{"probe": [1_0, 2]}',  # Python's spelling of 10, not JSON's
        '{"probe": [NaN, 2]}',
        '{"h": "0.5"}',
        '{"formula": "x, y", "formula": "y, x"}',
        "not json at all",
        '{"network": "\\u0000"}',
    ],
)
def test_corrupt_settings_fall_back_to_defaults(qtbot, settings, stored):
    settings.setValue("state/view", stored)
    main = MainWindow(None, settings)
    qtbot.addWidget(main)
    assert main.controller.state == ViewState()
    main.close()


def test_formula_map_and_planes_agree_on_the_probe_image(qtbot, window):
    lin = window.controller.linearization
    center = window.output_plane.center_marker.pos()
    np.testing.assert_allclose([center.x(), center.y()], lin.value)
    expected = FormulaMap.from_text("x**2 + y, x*y").evaluate(lin.square)
    np.testing.assert_allclose(curve_points(window.output_plane.square), expected)


def test_a_network_map_is_shown_like_a_formula(qtbot, window, settle):
    model = make_mlp([2, 16, 2], seed=3, dtype=torch.float64)
    window.controller.set_map(TorchMap(model, "mlp", 2, 2))
    settle()
    lin = window.controller.linearization
    point = torch.tensor(lin.point, dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(model, point).numpy()
    np.testing.assert_allclose(lin.jacobian, expected, rtol=1e-12)
    assert np.isfinite(window.input_plane.image.image).all()
    with pytest.raises(ValueError, match="at least 2 outputs"):
        window.controller.set_map(TorchMap(make_mlp([2, 4, 1]), "one", 2, 1))


def saved_network(tmp_path, widths, name="net.safetensors"):
    from jacviz.nets.networks import save_mlp

    model = make_mlp(widths, seed=5, dtype=torch.float64)
    path = tmp_path / name
    save_mlp(model, path)
    return model, path


def test_open_network_shows_it_with_exact_jacobians(qtbot, window, settle, tmp_path):
    model, path = saved_network(tmp_path, [2, 12, 12, 2])
    assert window.open_network(str(path))
    settle()
    assert window.controller.state.network == str(path)
    assert window.windowTitle() == "jacviz — net.safetensors"
    lin = window.controller.linearization
    point = torch.tensor(lin.point, dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(model, point).numpy()
    np.testing.assert_allclose(lin.jacobian, expected, rtol=1e-12)
    assert_inspector_shows(window, expected)
    assert "forward tangents" in window.statusBar().currentMessage()
    # Typing a formula goes back to formulas.
    window.controller.set_formula("y, x")
    assert window.controller.state.network is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty"), (b"\x80\x04K\x01.", "pickle"), (None, "1 output")],
)
def test_a_bad_network_file_is_explained_and_changes_nothing(
    qtbot, window, tmp_path, content, expected
):
    if content is None:
        _, path = saved_network(tmp_path, [2, 4, 1], "one.safetensors")
    else:
        path = tmp_path / "bad.pt"
        path.write_bytes(content)
    before = window.controller.map
    assert not window.open_network(str(path))
    assert window.controller.map is before
    assert window.problem is not None and window.problem.isVisible()
    assert expected in window.problem.text()
    window.problem.close()


def test_dropping_a_network_file_opens_it(qtbot, window, settle, tmp_path):
    from PyQt6.QtCore import QMimeData, QUrl
    from PyQt6.QtGui import QDropEvent

    _, path = saved_network(tmp_path, [2, 6, 2])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert window.controller.loading == "Opening net.safetensors…"
    settle()  # opened in the background
    assert window.controller.state.network == str(path)


def test_window_remembers_its_network(qtbot, settings, tmp_path):
    _, path = saved_network(tmp_path, [2, 6, 2])
    first = MainWindow(ViewState(), settings)
    qtbot.addWidget(first)
    first.open_network(str(path))
    first.close()
    second = MainWindow(None, settings)
    qtbot.addWidget(second)
    wait_for_heatmap(qtbot, second)  # the network is opened in the background
    assert second.controller.state.network == str(path)
    assert second.controller.map.name == "net.safetensors"
    second.close()
    path.unlink()  # the file went away: start on the formula instead, without a dialog
    third = MainWindow(None, settings)
    qtbot.addWidget(third)
    wait_for_heatmap(qtbot, third)
    assert third.controller.state.network is None
    assert third.problem is None
    third.close()


def test_every_example_opens_from_the_examples_menu(qtbot, window, settle):
    actions = window.examples_menu.actions()
    methods = {
        "coupling_flow": "autograd",
        "moons_jr": "forward tangents",
        "moons_plain": "forward tangents",
        "relu_fold": "forward tangents",
        "spirals_jr": "forward tangents",
        "spirals_plain": "forward tangents",
        "tanh_warp": "forward tangents",
        "turn_3d": "forward tangents",
    }  # TorchScript cannot be walked layer by layer
    assert [Path(a.data()).stem for a in actions] == list(methods)
    for action in actions:
        action.trigger()
        settle()
        assert window.problem is None
        stem = Path(window.controller.state.network).stem
        assert stem == Path(action.data()).stem
        message = window.statusBar().currentMessage()
        assert f"Jacobians by {methods[stem]}" in message
        assert load_network(window.controller.state.network).metadata["description"] in message
        assert np.isfinite(window.input_plane.image.image).all()


def test_the_formula_field_does_not_claim_a_formula_while_a_network_is_shown(
    qtbot, window, tmp_path
):
    _, path = saved_network(tmp_path, [2, 6, 2])
    window.open_network(str(path))
    assert window.editor.formula.text() == ""
    assert "net.safetensors" in window.editor.formula.placeholderText()
    window.controller.set_formula("y, x")
    assert window.editor.formula.text() == "y, x"


def test_the_layers_panel_factors_a_network_at_the_probe(qtbot, window, settle, tmp_path):
    assert not window.layers.isVisibleTo(window)  # formulas have no layers
    _, path = saved_network(tmp_path, [2, 8, 8, 2])
    window.open_network(str(path))
    settle()
    assert window.layers.isVisibleTo(window)
    rows = window.layers.table.text().splitlines()
    assert rows[0].split() == ["#", "layer", "factor", "σ", "σ", "so", "far"]
    assert len(rows) == 1 + 5  # Linear, tanh, Linear, tanh, Linear
    assert "Linear 2→8" in rows[1] and "tanh (8)" in rows[2] and "Linear 8→2" in rows[5]
    # The last row's "σ so far" are the singular values of the network's own J at p.
    sigma = np.linalg.svd(window.controller.linearization.jacobian, compute_uv=False)
    shown = [float(v) for v in rows[-1].split("  ")[-1].split(",")]
    np.testing.assert_allclose(shown, sigma, rtol=5e-3)  # printed to 3 significant digits
    # Moving the probe updates the panel.
    before = window.layers.table.text()
    window.controller.set_probe(-1.3, 0.4)
    assert window.layers.table.text() != before


def test_the_layers_panel_explains_a_network_it_cannot_walk(qtbot, window, settle):
    window.open_network(str(EXAMPLES_DIR / "coupling_flow.pt"))
    settle()
    assert window.layers.isVisibleTo(window)
    assert window.layers.table.text().startswith("Not available for this network")
    window.controller.set_formula("y, x")
    assert not window.layers.isVisibleTo(window)


def test_a_map_undefined_on_the_whole_domain_is_shown_blank_with_a_message(qtbot, window, settle):
    assert window.controller.set_formula("log(x - 10), y")
    settle()
    assert "not finite on 100% of the plane" in window.statusBar().currentMessage()
    assert np.isnan(window.input_plane.image.image).all()
    assert not window.output_plane.center_marker.isVisible()
    assert "undefined (NaN)" in window.inspector.warnings.text()
    # And the app is still usable afterwards.
    assert window.controller.set_formula("x, y")
    settle()
    assert np.isfinite(window.input_plane.image.image).all()


def test_a_network_given_at_start_is_described_in_the_status_bar(qtbot, settings):
    path = EXAMPLES_DIR / "tanh_warp.safetensors"
    main = MainWindow(ViewState(network=str(path)), settings)
    qtbot.addWidget(main)
    wait_for_heatmap(qtbot, main)
    assert main.statusBar().currentMessage().startswith("tanh_warp.safetensors: 2→2 tanh MLP")
    main.close()


def test_a_network_with_three_inputs_is_shown_on_a_plane_the_user_picks(qtbot, window, settle):
    from jacviz.nets.views import SliceMap

    assert window.open_network(str(EXAMPLES_DIR / "turn_3d.safetensors"))
    settle()
    shown = window.controller.map
    assert isinstance(shown, SliceMap)
    assert window.editor.slice_group.isVisibleTo(window)
    assert [f.text() for f in window.editor.slice_fields] == ["0, 0, 0", "1, 0, 0", "0, 1, 0"]
    assert "shown on the slice" in window.statusBar().currentMessage()
    # A new base point: the plane z = 1.
    window.editor.slice_fields[0].setText("0, 0, 1")
    qtbot.keyClick(window.editor.slice_fields[0], Qt.Key.Key_Return)
    settle()
    assert window.controller.state.slice == ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    x, y = window.controller.state.probe
    inner = load_network(EXAMPLES_DIR / "turn_3d.safetensors").module
    point = torch.tensor([x, y, 1.0], dtype=torch.float64)
    full = torch.autograd.functional.jacobian(inner, point).numpy()
    np.testing.assert_allclose(window.controller.linearization.jacobian, full[:, :2], rtol=1e-12)
    # Parallel directions are refused and the plane stays.
    window.editor.slice_fields[2].setText("2, 0, 0")
    qtbot.keyClick(window.editor.slice_fields[2], Qt.Key.Key_Return)
    assert "Plane not changed" in window.statusBar().currentMessage()
    assert window.controller.state.slice[2] == (0.0, 1.0, 0.0)
    # Text that is not numbers is refused with a message.
    window.editor.slice_fields[1].setText("one, 0, 0")
    qtbot.keyClick(window.editor.slice_fields[1], Qt.Key.Key_Return)
    assert "comma-separated numbers" in window.statusBar().currentMessage()
    # Formulas hide the plane controls again.
    window.controller.set_formula("y, x")
    assert not window.editor.slice_group.isVisibleTo(window)


def test_a_map_with_three_outputs_is_shown_as_a_classifier(qtbot, window, settle):
    from jacviz.gui.common.plots import class_colours
    from jacviz.math.grid import sample_points
    from jacviz.nets.views import DecisionRegions, ProbabilityMap

    controller = window.controller
    assert controller.set_formula("x, y, 0")  # logits of 3 classes
    settle()
    assert controller.is_classifier and controller.state.heatmap == "classes"
    assert window.editor.classes_group.isVisibleTo(window)
    # Decision regions of the closed-form logits, coloured by class and confidence.
    points = sample_points(controller.state.domain, 256)
    logits = np.column_stack([points, np.zeros(len(points))]).reshape(256, 256, 3)
    expected = class_colours(DecisionRegions.from_logits(logits))
    np.testing.assert_array_equal(window.input_plane.regions.image, expected)
    np.testing.assert_array_equal(window.input_plane.regions.levels, [0, 255])  # colours as is
    assert window.input_plane.regions.isVisible()
    assert not window.input_plane.image.isVisible() and not window.input_plane.colorbar.isVisible()
    # The inspector shows the 3×2 Jacobian of the logits; det does not apply.
    assert_inspector_shows(window, np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    assert window.inspector.values["det"].text() == "–"
    # The output plane draws the 2D view of the outputs the controller chose (PCA).
    grid = controller.grid
    half = grid.lines.shape[0] // 2
    np.testing.assert_allclose(
        curve_points(window.output_plane.vertical_lines),
        controller.map.evaluate(grid.lines[:half].reshape(-1, 2)),
        atol=1e-12,
    )
    # Jacobian of the probabilities instead.
    window.editor.jacobian_of.setCurrentIndex(1)
    p = np.array(controller.state.probe)
    _, softmax_jacobian = ProbabilityMap(controller.source).evaluate_with_jacobian(p)
    assert_inspector_shows(window, softmax_jacobian[0])
    # det cannot colour a classifier: refused with a message, regions stay.
    window.heatmap_actions["det"].trigger()
    assert controller.state.heatmap == "classes"
    assert "needs a map with 2 outputs" in window.statusBar().currentMessage()
    # Two chosen logits as the output plane: (x, y) is the identity on the grid.
    window.editor.jacobian_of.setCurrentIndex(0)
    window.editor.output_view.setCurrentIndex(window.editor.output_view.findData("outputs(0,1)"))
    np.testing.assert_allclose(
        curve_points(window.output_plane.vertical_lines), grid.lines[:half].reshape(-1, 2)
    )
    # Back to a map of the plane: det again, no classifier controls.
    controller.set_formula("x**2 + y, x*y")
    settle()
    assert controller.state.heatmap == "det"
    assert not window.editor.classes_group.isVisibleTo(window)


def test_a_classifier_network_shows_its_layers_and_regions(qtbot, window, settle, tmp_path):
    _, path = saved_network(tmp_path, [2, 16, 4], "four.safetensors")
    assert window.open_network(str(path))
    settle()
    assert window.controller.state.heatmap == "classes"
    assert window.input_plane.regions.image.shape == (256, 256, 4)
    rows = window.layers.table.text().splitlines()
    assert "Linear 16→4" in rows[-1]
    assert len(window.editor.output_view) == 1 + 6  # PCA and the 6 pairs of 4 outputs


def test_a_two_class_classifier_opens_on_its_decision_regions_and_data_domain(
    qtbot, window, settle
):
    from jacviz.nets.datasets import make_dataset
    from jacviz.nets.networks import EXAMPLES_DIR, load_network
    from jacviz.nets.views import softmax

    path = EXAMPLES_DIR / "moons_jr.safetensors"
    metadata = load_network(path).metadata
    assert window.open_network(str(path))
    settle()
    controller = window.controller
    # Two outputs named as classes: a classifier, on the domain of its training data.
    assert controller.is_classifier and controller.state.heatmap == "classes"
    domain = controller.state.domain
    assert [domain.xmin, domain.xmax, domain.ymin, domain.ymax] == metadata["domain"]
    spec = dict(metadata["dataset"])
    data = make_dataset(spec.pop("name"), **spec)
    assert domain.xmin < data.points[:, 0].min() and domain.ymax > data.points[:, 1].max()
    assert window.input_plane.regions.image.shape == (256, 256, 4)
    assert window.editor.classes_group.isVisibleTo(window)
    assert window.editor.output_view.isVisibleTo(window)  # a classifier: its view can be switched
    # det still applies to a 2→2 map, and the probabilities' Jacobian is offered.
    controller.set_heatmap("det")
    settle()
    assert controller.state.heatmap == "det"
    controller.set_jacobian_of("probabilities")
    p = np.array([controller.state.probe])
    logits = controller.source.evaluate(p)
    probabilities = softmax(logits)[0]
    expected = (np.diag(probabilities) - np.outer(probabilities, probabilities)) @ (
        controller.source.evaluate_with_jacobian(p)[1][0]
    )
    np.testing.assert_allclose(controller.inspected.report.jacobian, expected, rtol=1e-9)


def test_inside_the_network_shows_the_grid_in_each_layer(qtbot, window, settle):
    from jacviz.math.grid import grid_lines
    from jacviz.nets.layers import layer_images

    tabs = window.right_tabs
    assert not tabs.isTabEnabled(1)  # formulas have no layers
    path = EXAMPLES_DIR / "tanh_warp.safetensors"
    assert window.open_network(str(path))
    settle()
    assert tabs.isTabEnabled(1)
    tabs.setCurrentIndex(1)
    view = window.layer_view
    assert [view.layers.itemText(i) for i in range(view.layers.count())] == [
        "1  Linear 2→32",
        "2  tanh (32)",
        "3  Linear 32→32",
        "4  tanh (32)",
        "5  Linear 32→2",
    ]
    view.layers.setCurrentIndex(1)
    state = window.controller.state
    expected = layer_images(load_network(path).module, grid_lines(state.domain, state.grid_lines))
    half = expected[1].curves.shape[0] // 2
    np.testing.assert_allclose(
        curve_points(view.vertical_lines), expected[1].curves[:half].reshape(-1, 2), atol=1e-12
    )
    assert "principal directions of its 32 units" in view.title.text()
    assert "true scale" in view.title.text()
    # The last layer is the network's output: its grid is the output plane's (unrefined).
    view.layers.setCurrentIndex(4)
    assert "its 2 units directly" in view.title.text()
    window.controller.set_formula("y, x")
    assert not tabs.isTabEnabled(1) and tabs.currentIndex() == 0


def test_inside_a_sliced_network_follows_the_plane(qtbot, window, settle):
    assert window.open_network(str(EXAMPLES_DIR / "turn_3d.safetensors"))
    settle()
    assert window.right_tabs.isTabEnabled(1)
    window.right_tabs.setCurrentIndex(1)  # the layers are drawn while their view is shown
    # After a tanh layer (the first Linear layer's image of a plane is a plane, which PCA
    # centres: the same picture wherever the plane lies).
    window.layer_view.layers.setCurrentIndex(1)
    first = window.layer_view.current.curves.copy()
    window.controller.set_slice((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    assert not np.allclose(window.layer_view.current.curves, first)


def test_window_remembers_the_plane_and_classifier_choices(qtbot, settings):
    first = MainWindow(ViewState(), settings)
    qtbot.addWidget(first)
    assert first.open_network(str(EXAMPLES_DIR / "turn_3d.safetensors"))
    assert first.controller.set_slice((0.0, 0.0, 0.5), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)) is None
    first.controller.set_jacobian_of("probabilities")
    first.controller.set_layer_units((2, 5))
    first.close()
    second = MainWindow(None, settings)
    qtbot.addWidget(second)
    wait_for_heatmap(qtbot, second)
    state = second.controller.state
    assert state.layer_units == (2, 5)
    assert state.slice == ((0.0, 0.0, 0.5), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    assert state.jacobian_of == "probabilities"
    np.testing.assert_array_equal(second.controller.source.base, [0.0, 0.0, 0.5])
    second.close()


def test_the_lab_opens_from_the_menu_and_its_model_opens_in_the_map_view(
    qtbot, window, settle, tmp_path
):
    from jacviz.gui.lab.lab_controller import ModelSettings

    action = next(
        a
        for menu in window.menuBar().actions()
        for a in menu.menu().actions()
        if a.text().startswith("Jacobian regularization")
    )
    assert action.shortcut().toString() == "Ctrl+T"
    action.trigger()
    lab = window.lab_window
    assert lab is not None and lab.isVisible()
    assert window.open_lab() is lab  # one lab per window
    lab.controller.set_model_settings(ModelSettings(hidden="8", steps=30))
    assert lab.controller.play()
    qtbot.waitUntil(lambda: not lab.controller.running, timeout=20000)
    path = tmp_path / "trained.safetensors"
    assert lab.controller.save_model(str(path))
    lab.open_in_map_view()
    settle()
    assert window.controller.state.network == str(path)
    assert window.controller.is_classifier and window.controller.state.heatmap == "classes"


def test_closing_the_window_stops_the_lab_mid_training(qtbot, settings):
    from PyQt6.QtWidgets import QApplication

    from jacviz.gui.lab.lab_controller import ModelSettings

    main = MainWindow(ViewState(), settings)
    qtbot.addWidget(main)
    main.show()
    lab = main.open_lab()
    lab.controller.set_model_settings(ModelSettings(steps=1_000_000))
    assert lab.controller.play()
    qtbot.waitUntil(lambda: (lab.controller.snapshot or None) is not None, timeout=10000)
    main.close()
    assert not lab.isVisible()
    assert not lab.controller.running
    assert not lab.controller.worker.busy and lab.controller.worker.wait(0)
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible()]


@pytest.mark.filterwarnings("error")
def test_images_too_wide_for_float64_keep_the_view(qtbot, window, settle):
    # Values near ±1.7e308 on both sides: the picture's width is not a float64.
    assert window.controller.set_formula("exp(709.7*x/2) - exp(-709.7*x/2), y")
    settle()
    assert window.controller.map.name.startswith("exp(709.7")


def test_zooming_the_input_plane_sharpens_its_heatmap_in_the_window(qtbot, window, settle):
    # The window wires the plane's view to the controller: after a zoom, the part in view is
    # computed again at screen resolution and drawn over the domain's field.
    plane, controller = window.input_plane, window.controller
    assert plane.detail.region is None
    plane.getViewBox().setRange(xRange=(0.2, 0.6), yRange=(-0.3, 0.1), padding=0)

    def drawn():
        request = plane.view_request()
        return request is not None and plane.detail.region == request.region

    qtbot.waitUntil(drawn, timeout=20000)
    settle()
    request = plane.view_request()
    detail = controller._heatmaps.current_detail()
    assert detail is not None and detail.domain == request.region
    domain = controller.state.domain
    assert detail.cols > 256 * request.region.width / domain.width  # finer than the domain's
    assert plane.detail.image.isVisible()
    assert plane.detail.image.image.shape == (detail.rows, detail.cols)
    # Home frames the domain again: the detail goes, the domain's field alone is shown.
    window.reframe()
    qtbot.waitUntil(lambda: plane.detail.region is None, timeout=5000)
    assert not plane.detail.image.isVisible()
