"""The main window never shows a stale state: messages, editors and marks follow the map shown.

Each test drives the window as a user would and checks that what was true of an earlier
state (an error, the linear map's matrix, an invalid domain, the previous example's domain)
goes away with it.
"""

import html
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMenu

from jacviz.gui.shell.status import HINT
from jacviz.math.grid import Domain
from jacviz.math.presets import PRESETS
from jacviz.nets.networks import EXAMPLES_DIR


def type_formula(qtbot, window, settle, text):
    """Replace the formula by ``text`` as a user types it, then press Enter and wait."""
    editor = window.editor.formula
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    settle()


def test_a_formula_error_leaves_the_status_bar_once_the_formula_is_fixed(qtbot, window, settle):
    type_formula(qtbot, window, settle, "sin(x) + y**2, x*cos(y")
    assert "Formula not applied" in window.statusBar().currentMessage()
    editor = window.editor.formula
    editor.end(False)
    qtbot.keyClicks(editor, ")")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    settle()
    assert window.controller.map.name == "sin(x) + y**2, x*cos(y)"
    assert window.statusBar().currentMessage() == HINT  # nor "Checking the formula…"
    assert not window.editor.error.isVisible()


def test_a_domain_error_leaves_the_status_bar_once_the_domain_is_fixed(qtbot, window, settle):
    xmin = window.editor.domain[0]
    xmin.setValue(3.0)  # beyond xmax = 2
    assert "xmin < xmax" in window.statusBar().currentMessage()
    xmin.setValue(-2.0)
    settle()
    assert "xmin < xmax" not in window.statusBar().currentMessage()
    assert window.statusBar().currentMessage() == HINT


def test_a_fixed_error_leaves_a_newer_message_alone(qtbot, window, settle):
    xmin = window.editor.domain[0]
    xmin.setValue(3.0)
    window.status.show_message("Saved the output plane")  # something newer was said since
    xmin.setValue(-2.0)
    assert window.statusBar().currentMessage() == "Saved the output plane"


def preset(name):
    return next(entry for entry in PRESETS if entry.name == name)


def test_the_matrix_editor_shows_only_while_the_linear_map_is_shown(qtbot, window, settle):
    matrix = window.editor.matrix_group
    assert not matrix.isVisibleTo(window)
    window.controller.load_preset(preset("Linear map"))  # as Presets → Linear map does
    settle()
    assert matrix.isVisibleTo(window)
    assert [box.value() for box in window.editor.matrix] == [1.5, 0.5, 0.25, 1.0]
    window.editor.matrix[1].setValue(-2.0)
    settle()
    assert matrix.isVisibleTo(window)  # its own edits keep it
    np.testing.assert_array_equal(window.controller.linearization.jacobian, [[1.5, -2], [0.25, 1]])
    window.controller.load_preset(preset("Shear"))
    settle()
    assert not matrix.isVisibleTo(window)
    combo = window.editor.presets
    combo.activated.emit(combo.findText("Linear map"))
    settle()
    assert matrix.isVisibleTo(window)
    window.open_network(str(EXAMPLES_DIR / "tanh_warp.safetensors"))
    settle()
    assert not matrix.isVisibleTo(window)
    window.controller.set_formula("x + y, x - y")
    settle()
    assert not matrix.isVisibleTo(window)


def marked(box):
    """Whether a field is marked as invalid: its text in the error red, on pink."""
    from PyQt6.QtGui import QPalette

    from jacviz.gui.mapview.editor import INVALID_BASE, INVALID_TEXT

    palette = box.palette()
    text = palette.color(QPalette.ColorRole.Text).name().upper()
    base = palette.color(QPalette.ColorRole.Base).name().upper()
    return text == INVALID_TEXT and base == INVALID_BASE


def test_invalid_domain_fields_are_marked_until_fixed(qtbot, window, settle):
    boxes = window.editor.domain
    tip = boxes[0].toolTip()
    boxes[0].setValue(3.0)  # x from 3 to 2
    for box in boxes[:2]:
        assert marked(box)
        assert "xmin < xmax" in box.toolTip()
    for box in boxes[2:]:
        assert not marked(box) and box.toolTip() == tip  # y is fine
    boxes[0].setValue(-2.0)
    settle()
    for box in boxes:
        assert not marked(box) and box.toolTip() == tip
    boxes[3].setValue(-3.0)  # y to −3, below y from −2
    assert [marked(box) for box in boxes] == [False, False, True, True]
    window.controller.load_preset(PRESETS[0])  # another state's domain replaces the fields
    settle()
    assert not any(marked(box) for box in boxes)
    assert window.statusBar().currentMessage().startswith(PRESETS[0].name)


def test_a_network_without_a_domain_does_not_keep_the_previous_ones(qtbot, window, settle):
    controller = window.controller
    assert window.open_network(str(EXAMPLES_DIR / "moons_jr.safetensors"))
    moons = controller.state.domain
    assert moons != Domain()  # the moons' rectangle, from the file
    for name in ("relu_fold", "tanh_warp", "turn_3d"):
        assert window.open_network(str(EXAMPLES_DIR / f"{name}.safetensors"))
        settle()
        assert controller.state.domain == Domain(), name
        x, y = controller.state.probe
        assert -2 < x < 2 and -2 < y < 2
    # A preset's own domain goes with it too...
    controller.load_preset(next(p for p in PRESETS if p.domain.xmin == 0.0))
    assert window.open_network(str(EXAMPLES_DIR / "relu_fold.safetensors"))
    assert controller.state.domain == Domain()
    # ...but a domain the user chose for a formula stays: it is where they look.
    controller.set_formula("x, y")
    controller.set_domain(Domain(-1.0, 1.0, -0.5, 0.5))
    assert window.open_network(str(EXAMPLES_DIR / "relu_fold.safetensors"))
    assert controller.state.domain == Domain(-1.0, 1.0, -0.5, 0.5)


def test_the_examples_menu_shows_titles_and_descriptions_without_loading(
    qtbot, window, monkeypatch
):
    import torch

    from jacviz.gui.shell.examples_menu import add_examples
    from jacviz.nets.networks import load_network

    actions = window.examples_menu.actions()
    titles = {Path(a.data()).stem: a.text() for a in actions}
    assert titles["moons_jr"] == "Moons classifier, Jacobian-regularized (λ = 0.05)"
    assert titles["moons_plain"] == "Moons classifier, not regularized"
    assert titles["relu_fold"] == "ReLU fold" and titles["turn_3d"] == "Turn 3D"
    for action in actions:
        assert "_" not in action.text() and action.text()[0].isupper()
        description = load_network(action.data()).metadata["description"]
        assert html.escape(description, quote=False) in action.toolTip()  # before opening
    # Filling the menu reads headers only: it works with loading made impossible.
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: pytest.fail("loaded"))
    monkeypatch.setattr("safetensors.torch.load", lambda *a, **k: pytest.fail("loaded"))
    menu = QMenu()
    add_examples(menu, lambda path: None)
    assert [a.toolTip() for a in menu.actions()] == [a.toolTip() for a in actions]


def menu_actions(menu):
    """Every enabled command of ``menu`` and its submenus (not separators, not submenus)."""
    for action in menu.actions():
        if action.menu() is not None:
            yield from menu_actions(action.menu())
        elif not action.isSeparator() and action.isEnabled():
            yield action


def test_every_menu_command_gets_its_arguments_not_qts_checked_flag(
    qtbot, settings, tmp_path, monkeypatch
):
    """Qt's triggered(checked) must never land in a slot's parameter (2-frame movies)."""
    import inspect
    import json

    from jacviz.gui.common.export_dialog import FigureExporter
    from jacviz.gui.mapview.controller import Controller
    from jacviz.gui.shell import menus
    from jacviz.gui.shell.main_window import MainWindow
    from jacviz.gui.shell.sessions import RECENT_KEY, SessionKeeper
    from jacviz.state.view import ViewState

    calls = []

    def recorder(name, original=None):
        """A stand-in for ``original`` that records its arguments.

        PyQt hands a slot as many of the signal's arguments as its signature takes, so the
        stand-in takes positional arguments only where the real slot does: then a slot that
        would receive ``checked`` in a parameter receives it here too.
        """
        try:
            takes = original is None or len(inspect.signature(original).parameters) > 1
        except ValueError:  # a Qt method (close): it takes no arguments
            takes = False

        def slot_taking(*args, **kwargs):
            calls.append((name, args[1:] if original is not None else args, kwargs))

        def slot_alone(_self):
            calls.append((name, (), {}))

        return slot_taking if takes else slot_alone

    patched = {
        MainWindow: [
            "choose_network",
            "request_network",
            "export_morph_animation",
            "focus_formula",
            "reframe",
            "open_lab",
            "close",
        ],
        SessionKeeper: ["choose_session", "save", "save_as", "open_session", "_clear_recent"],
        Controller: ["load_preset", "set_heatmap", "set_h"],
        FigureExporter: ["open_dialog", "copy"],
    }
    for owner, names in patched.items():
        for name in names:
            monkeypatch.setattr(owner, name, recorder(name, getattr(owner, name)))
    monkeypatch.setattr(menus, "show_shortcuts", recorder("help"))
    monkeypatch.setattr(menus, "show_explanation", recorder("help"))
    session = tmp_path / "old.jacviz"
    session.write_text("{}")
    settings.setValue(RECENT_KEY, json.dumps([str(session)]))

    window = MainWindow(ViewState(), settings)
    qtbot.addWidget(window)
    try:
        triggered = 0
        for action in menu_actions(window.menuBar()):
            action.trigger()
            triggered += 1
        assert triggered >= 30
        stray = [(name, args) for name, args, _ in calls if any(type(a) is bool for a in args)]
        assert not stray, f"Qt's checked flag reached these slots: {stray}"
        called = {name for name, _, _ in calls}
        expected = {name for names in patched.values() for name in names} | {"help"}
        assert called == expected
        presets = [args[0] for name, args, _ in calls if name == "load_preset"]
        assert [p.name for p in presets] == [p.name for p in PRESETS]
        assert all(isinstance(args[0], str) for name, args, _ in calls if name == "request_network")
        assert [args for name, args, _ in calls if name == "open_session"] == [(str(session),)]
    finally:
        monkeypatch.undo()
        window.close()
        window.controller.shutdown()


def test_morph_frames_are_captioned_by_the_map_and_t_not_the_window_title(
    qtbot, window, tmp_path, monkeypatch
):
    from PyQt6.QtWidgets import QFileDialog

    from jacviz.gui.shell import figures

    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "s.jacviz"), "")
    )
    assert window.sessions.save_as()  # the title now names the session, with * when changed
    captions = []
    monkeypatch.setattr(figures, "figure_image", lambda figure: captions.append(figure))
    frames = list(window.morph_frames(count=5, hold=2))
    assert len(frames) == 7
    ts = ["0.00", "0.25", "0.50", "0.75", "1.00", "1.00", "1.00"]
    for figure, t in zip(captions, ts, strict=True):
        assert f"t = {t}" in figure.above
        assert "x**2 + y, x*y" in figure.above  # the map shown
        assert "jacviz" not in figure.above and "jacviz" not in figure.title  # nor its *
    assert captions[-1].above == captions[-3].above  # the held frames are the same picture
    window.open_network(str(EXAMPLES_DIR / "relu_fold.safetensors"))
    captions.clear()
    list(window.morph_frames(count=2, hold=0))
    assert all("relu_fold.safetensors" in figure.above for figure in captions)
    assert window.sessions.save()  # nothing left unsaved when the window closes


def test_browsing_a_menu_leaves_the_message_in_place(qtbot, window):
    from PyQt6.QtGui import QStatusTipEvent
    from PyQt6.QtWidgets import QApplication

    window.status.show_message("relu_fold.safetensors: a ReLU MLP")
    menu_bar = window.menuBar()
    QApplication.sendEvent(menu_bar, QStatusTipEvent("Open a saved .jacviz session"))
    assert window.statusBar().currentMessage() == "Open a saved .jacviz session"
    QApplication.sendEvent(menu_bar, QStatusTipEvent(""))  # the pointer left the item
    assert window.statusBar().currentMessage() == "relu_fold.safetensors: a ReLU MLP"


def test_a_plane_typo_leaves_the_status_bar_once_the_fields_show_a_plane(qtbot, window, settle):
    assert window.open_network(str(EXAMPLES_DIR / "turn_3d.safetensors"))
    settle()
    base = window.editor.slice_fields[0]
    base.setText("0, 0, one")
    qtbot.keyClick(base, Qt.Key.Key_Return)
    assert "comma-separated numbers" in window.statusBar().currentMessage()
    window.editor.domain[1].setValue(3.0)  # the grid is drawn again: the fields show the plane
    settle()
    assert base.text() == "0, 0, 0"
    assert "comma-separated numbers" not in window.statusBar().currentMessage()


def test_a_quick_formula_check_flashes_no_loading_message(qtbot, window, settle):
    """A formula checked before is checked again in a few milliseconds: its "Checking…"
    message and Cancel button would only flash (and showing the button lays the whole window
    out again). A new formula's first check (in a child process) may show them."""
    from jacviz.gui.shell.status import LOADING_DELAY_MS

    settle()
    first = window.controller.map.name
    type_formula(qtbot, window, settle, "x*y, x - y")
    type_formula(qtbot, window, settle, first)
    # A busy machine may take longer than the delay even for a known formula: the test asks
    # for the behaviour (nothing shown before the delay, nothing left after), not the clock.
    window.status._loading_timer.setInterval(20 * LOADING_DELAY_MS)
    said = []
    window.statusBar().messageChanged.connect(said.append)
    shown = []
    original = window.cancel_button.setVisible

    def watch(visible):
        shown.append(visible)
        original(visible)

    window.cancel_button.setVisible = watch
    type_formula(qtbot, window, settle, "x*y, x - y")
    assert window.controller.map.name == "x*y, x - y"
    assert not any("Checking" in text for text in said), said
    assert True not in shown and not window.cancel_button.isVisible()
    assert not window.status._loading_timer.isActive()  # and it will not show later either


def test_a_long_symbolic_jacobian_is_shown_whole_after_any_map(qtbot, window, settle):
    """The wrapped rows take the height their text needs at their width, whatever came
    before: a form layout once gave J(x, y) of a long formula half its lines, cut off."""
    from jacviz.math.presets import preset

    long = preset("Swirl").formula
    for text in (long, "x**2 + y, x*y", long, preset("Complex exp").formula, long):
        assert window.controller.set_formula(text)
        settle()
        wrapped = [
            label
            for label in window.inspector.values.values()
            if label.isVisibleTo(window) and label.wordWrap()
        ]
        assert window.inspector.values["symbolic"] in wrapped

        def whole(labels=wrapped) -> bool:  # once the layout has run (it is posted)
            return all(label.height() >= label.heightForWidth(label.width()) for label in labels)

        qtbot.waitUntil(whole, timeout=3000)
