"""The main window never shows a stale state: messages, editors and marks follow the map shown.

Each test drives the window as a user would and checks that what was true of an earlier
state (an error, the linear map's matrix, an invalid domain, the previous example's domain)
goes away with it.
"""

from PyQt6.QtCore import Qt

from jacviz.gui.shell.status import HINT


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
