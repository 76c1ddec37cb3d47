"""Shared test setup: Qt runs offscreen, so the suite needs no display."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from hypothesis import settings as hypothesis_settings

# CI runs the property tests on a fixed sequence of examples so that a red run can be
# reproduced; developers' runs keep exploring new examples.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def settings(tmp_path):
    """A QSettings in a temporary INI file, so tests never touch the user's settings."""
    from PyQt6.QtCore import QSettings

    return QSettings(str(tmp_path / "jacviz.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    """The main window on the default state, shown, with its first heatmap computed.

    After the test it is closed, and no window and no background job may be left behind.
    """
    from PyQt6.QtWidgets import QApplication

    from jacviz.gui.shell.main_window import MainWindow
    from jacviz.state.view import ViewState

    main = MainWindow(ViewState(), settings)
    qtbot.addWidget(main)
    main.resize(1400, 800)
    main.show()
    qtbot.waitExposed(main)
    wait_for_heatmap(qtbot, main)
    yield main
    main.close()
    assert not main.controller.loading, "a request outlived its window"
    runner = main.controller.heatmap_runner
    assert not runner.busy, "a heatmap job outlived its window"
    assert runner.wait(0), "a heatmap thread is still running"
    assert main.controller.wait(0), "a background thread of the map view is still running"
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert not leaked, f"windows left open: {leaked}"


def wait_for_heatmap(qtbot, main):
    """Wait until the map asked for is shown (formulas and networks are prepared in the
    background) and its background field for the current domain has been drawn."""
    controller = main.controller
    qtbot.waitUntil(lambda: not controller.loading, timeout=60000)
    qtbot.waitUntil(lambda: not controller.heatmap_runner.busy, timeout=20000)


@pytest.fixture
def settle(qtbot, window):
    """Call to wait until the window's background heatmap job has finished and been drawn."""
    return lambda: wait_for_heatmap(qtbot, window)
