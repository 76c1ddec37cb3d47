"""Windows open inside the screen's available area, whatever its size and scaling."""

import pytest
from PyQt6.QtCore import QRect, QSize
from PyQt6.QtGui import QScreen
from PyQt6.QtWidgets import QMainWindow

from jacviz.gui.common.screen import FRAME_ALLOWANCE, fit_to_screen, fitted_rect, saved_frame

LAPTOP = QRect(0, 0, 1366, 768 - 32)  # a 1366×768 screen less a task bar
SCALED = QRect(0, 0, 1280, 720 - 32)  # 1920×1080 at QT_SCALE_FACTOR=1.5, in logical pixels
LARGE = QRect(0, 0, 1920, 1080 - 32)


def frame_inside(rect: QRect, area: QRect, frame: QSize = FRAME_ALLOWANCE) -> bool:
    outer = QRect(rect.x(), rect.y(), rect.width() + frame.width(), rect.height() + frame.height())
    outer.translate(-frame.width() // 2, -(frame.height() - frame.width() // 2))
    return area.contains(outer)


@pytest.fixture
def screen_of(monkeypatch):
    """Make every screen report ``area`` as its available geometry."""

    def use(area: QRect) -> None:
        monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(area))

    return use


@pytest.mark.parametrize("area", [LAPTOP, SCALED, QRect(100, 50, 1366, 736)])
def test_the_preferred_size_is_capped_to_the_area_and_placed_on_it(area):
    rect = fitted_rect(QSize(1500, 860), area)
    assert rect.width() <= area.width() - FRAME_ALLOWANCE.width()
    assert rect.height() <= area.height() - FRAME_ALLOWANCE.height()
    assert frame_inside(rect, area)


def test_a_large_screen_gets_the_preferred_size():
    rect = fitted_rect(QSize(1500, 860), LARGE)
    assert rect.size() == QSize(1500, 860)
    assert frame_inside(rect, LARGE)


def test_a_saved_geometry_is_restored_only_if_it_still_fits(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    large = QMainWindow()
    qtbot.addWidget(large)
    large.setGeometry(QRect(200, 100, 1700, 1000))  # saved on a large monitor
    assert saved_frame(large.saveGeometry()) == QRect(200, 100, 1700, 1000)
    fit_to_screen(window, (1500, 860), large.saveGeometry(), available=LAPTOP)
    assert window.geometry() == fitted_rect(QSize(1500, 860), LAPTOP)
    small = QMainWindow()
    qtbot.addWidget(small)
    small.setGeometry(QRect(40, 60, 700, 500))
    fit_to_screen(window, (1500, 860), small.saveGeometry(), available=LAPTOP)
    assert window.geometry() == QRect(40, 60, 700, 500)
    fit_to_screen(window, (1500, 860), b"not a geometry", available=LAPTOP)
    assert window.geometry() == fitted_rect(QSize(1500, 860), LAPTOP)


@pytest.mark.parametrize(
    "area", [LAPTOP, SCALED, LARGE], ids=["1366x768", "1920x1080@1.5", "1920x1080"]
)
def test_the_main_window_opens_inside_the_screen(qtbot, settings, screen_of, area):
    from jacviz.gui.shell.main_window import MainWindow
    from jacviz.state.view import ViewState

    screen_of(area)
    window = MainWindow(ViewState(), settings)
    qtbot.addWidget(window)
    assert frame_inside(window.geometry(), area), window.geometry()
    hint = window.minimumSizeHint()
    assert hint.width() <= area.width() - FRAME_ALLOWANCE.width(), hint
    assert hint.height() <= area.height() - FRAME_ALLOWANCE.height(), hint
    if area == LARGE:
        assert window.size() == QSize(1500, 860)
    window.close()


@pytest.mark.parametrize(
    "area", [LAPTOP, SCALED, LARGE], ids=["1366x768", "1920x1080@1.5", "1920x1080"]
)
def test_the_lab_opens_inside_the_screen_on_either_tab(qtbot, screen_of, area):
    from jacviz.gui.lab.lab_window import LabWindow

    screen_of(area)
    window = LabWindow()
    qtbot.addWidget(window)
    assert frame_inside(window.geometry(), area), window.geometry()
    for tab in range(window.tabs.count()):
        window.tabs.setCurrentIndex(tab)
        hint = window.minimumSizeHint()
        assert hint.width() <= area.width() - FRAME_ALLOWANCE.width(), (tab, hint)
        assert hint.height() <= area.height() - FRAME_ALLOWANCE.height(), (tab, hint)
    window.close()


def test_the_side_panel_never_clips_sideways_for_a_torchscript_network(qtbot, window, settle):
    from PyQt6.QtWidgets import QLabel, QScrollArea

    from jacviz.nets.networks import EXAMPLES_DIR

    assert window.open_network(str(EXAMPLES_DIR / "coupling_flow.pt"))
    settle()
    window.resize(1366 - FRAME_ALLOWANCE.width(), 768 - FRAME_ALLOWANCE.height())
    qtbot.wait(50)
    panel = window.layers
    assert panel.isVisible() and "layers" in panel.table.text()  # why there are none
    scroll = next(w for w in window.findChildren(QScrollArea) if w.isAncestorOf(panel))
    column = scroll.widget()
    assert column.minimumSizeHint().width() <= scroll.viewport().width()
    assert column.width() <= scroll.viewport().width()
    for label in column.findChildren(QLabel):  # every label is wholly inside the panel
        if label.isVisible():
            right = label.mapTo(column, label.rect().topRight()).x()
            assert right <= scroll.viewport().width(), label.text()[:60]


def test_the_side_panel_keeps_its_column_width_when_the_content_outgrows_it(qtbot):
    """A longer text (a symbolic Jacobian) makes the column taller than the panel: the column
    must not narrow by a scroll bar's width, which shifted and repainted all of it."""
    from PyQt6.QtWidgets import QApplication, QLabel

    from jacviz.gui.common.panels import side_panel

    text = QLabel("short")
    text.setWordWrap(True)
    panel = side_panel([text], 300)
    qtbot.addWidget(panel)
    panel.resize(320, 300)
    panel.show()
    qtbot.waitExposed(panel)
    column = panel.widget()
    width = column.width()
    text.setText("\n".join(["a long line of the inspector"] * 40))
    QApplication.instance().processEvents()
    QApplication.instance().processEvents()
    assert column.height() > panel.viewport().height()  # it scrolls now
    assert column.width() == width


def test_a_long_message_in_a_form_is_shown_whole(qtbot):
    """A wrapped message under a field (nested in the side panel, as the lab's forms are)
    gets the height its text needs at its width, when it grows and when it shrinks."""
    from PyQt6.QtWidgets import QApplication, QLabel, QSpinBox, QWidget

    from jacviz.gui.common.panels import form_grid, side_panel

    box = QWidget()
    message = QLabel("short")
    message.setWordWrap(True)
    form_grid(box, [("Steps", QSpinBox()), message, ("Seed", QSpinBox())])
    panel = side_panel([box], 300)
    qtbot.addWidget(panel)
    panel.resize(340, 400)
    panel.show()
    qtbot.waitExposed(panel)
    long = "A long message about what is wrong with the settings, and what to do. " * 5
    for text in (long, "short", 2 * long, "x"):
        message.setText(text)
        for _ in range(3):
            QApplication.instance().processEvents()
        assert message.height() >= message.heightForWidth(message.width()), text
        assert message.width() > 250  # across the form, not squeezed into the field column
