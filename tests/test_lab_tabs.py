"""The lab window's Sweep and Plane tabs, wired: File → Open data…, opening a sweep's model.

The pages themselves are tested alone (test_sweep_page, test_plane_page); these tests check
what the window adds: the tabs, the menu item, the Train tab's settings reaching the sweep,
and a sweep's chosen model opening where it can be seen (the Plane tab for more than two
inputs, the map view for two).
"""

from dataclasses import replace

import pytest
from PyQt6.QtWidgets import QFileDialog
from test_lab import SMALL, assert_closed_cleanly, open_lab
from test_render_cli import tiny_npz
from test_sweep import needs_proc, wait_for_no_workers

from jacviz.gui.lab.lab_window import LAB_VIEWS
from jacviz.nets.networks import load_network

WAIT_MS = 240_000  # a one-run sweep: a worker process starts (torch import) and trains


def menu_action(window, menu_title, text):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == menu_title)
    return next(a for a in menu.actions() if a.text() == text)


def sweep_once(qtbot, lab, source):
    """Run a one-run sweep (λ = 0.1, seed 0) of ``source`` on the lab's Sweep tab, choose it."""
    page = lab.sweep_page
    lab.tabs.setCurrentWidget(page)
    page.form.source.setCurrentIndex(page.form.source.findData(source))
    page.form.lambdas.setText("0.1")
    page.form.seeds.setText("0")
    page.form.steps.setText("20")
    page.form.workers.setValue(1)
    with qtbot.waitSignal(page.controller.sigFinished, timeout=WAIT_MS) as finished:
        assert page.start()
    assert finished.args[1] == "done"
    page.choose_run(0.1, 0)
    assert page.open_button.isEnabled()
    return page


@pytest.fixture
def lab(qtbot):
    wait_for_no_workers()
    window = open_lab(qtbot)
    yield window
    assert_closed_cleanly(window)
    assert window.sweep_page.shutdown(0) and window.plane_page.shutdown(0)


def test_the_tabs_and_the_train_tabs_settings_reach_the_sweep(lab):
    names = [lab.tabs.tabText(i) for i in range(lab.tabs.count())]
    assert names == ["Train", "Compare λ = 0 and λ > 0", "Sweep λ", "Plane through three inputs"]
    assert set(LAB_VIEWS) >= {"sweep", "plane"}
    lab.controller.set_model_settings(replace(SMALL.model, hidden="12"))
    assert lab.sweep_page.form.check().config.hidden == (12,)


def test_open_data_shows_the_users_npz_on_the_plane_tab(qtbot, lab, tmp_path, monkeypatch):
    path = tiny_npz(tmp_path)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    menu_action(lab, "&File", "Open data (.npz)…").trigger()
    assert lab.tabs.currentWidget() is lab.plane_page
    # The page starts reading the digits when first shown; the file asked for wins.
    qtbot.waitUntil(lambda: not lab.plane_page.busy(), timeout=60_000)
    data = lab.plane_page.data
    assert data is not None and data.train_points.shape[1] == 16 and data.name == "tiny"


@needs_proc
@pytest.mark.timeout(300)
def test_a_sweeps_model_of_more_inputs_opens_on_the_plane_tab(qtbot, lab, tmp_path):
    page = lab.sweep_page
    page.form.set_npz_path(str(tiny_npz(tmp_path)))
    sweep_once(qtbot, lab, "npz")
    page.open_button.click()
    assert lab.tabs.currentWidget() is lab.plane_page
    plane = lab.plane_page
    assert plane.data is page.chosen_model().data
    assert plane.models[0].label.startswith("λ = 0.1, seed 0")
    assert lab.statusBar().currentMessage() == (
        "Showing tiny, λ = 0.1, seed 0 on the plane, beside λ = 0 of its seed (trained here)."
    )
    # Its λ = 0 partner is trained on the page from the same seed, then shown on the left.
    qtbot.waitUntil(lambda: not plane.busy(), timeout=120_000)
    assert [m.label.split(",")[0] for m in plane.models] == ["λ = 0", "λ = 0.1"]
    assert lab.figure("plane").body is plane.display


@needs_proc
@pytest.mark.timeout(300)
def test_a_sweeps_2d_model_is_saved_and_opened_in_the_map_view(qtbot, tmp_path, monkeypatch):
    wait_for_no_workers()
    opened: list[str] = []
    window = open_lab(qtbot, open_network=opened.append)
    try:
        target = tmp_path / "chosen.safetensors"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
        page = sweep_once(qtbot, window, "lab")
        page.open_button.click()
        assert opened == [str(target)]
        assert load_network(target).module is not None
        assert window.statusBar().currentMessage() == "Opened chosen.safetensors in the map view."
    finally:
        assert_closed_cleanly(window)


@needs_proc
@pytest.mark.timeout(300)
def test_without_a_map_view_a_2d_model_says_where_to_open_the_lab(qtbot, lab, monkeypatch):
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a) or ("", ""))
    sweep_once(qtbot, lab, "lab").open_button.click()
    message = lab.statusBar().currentMessage()
    assert message.startswith("To see a 2D model in the map view, open the lab from the main")
    assert asked == [] and lab.tabs.currentWidget() is lab.sweep_page
