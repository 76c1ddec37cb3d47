"""``jacviz.show(module)``: a module held in memory never runs on the GUI thread, and has a limit.

The module is opened as a network file is (tried off the GUI thread, then shown); every call
of its forward goes through a worker thread with a time limit per chunk of points. A forward
that hangs is abandoned: the app goes back to the last formula and says why in one line.
Hangs here are bounded by pytest-timeout and by releasing the module's events; nothing times
the clock.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

import jacviz
from jacviz.nets.errors import NetworkError


class Recording(nn.Module):
    """A 2 → 2 module that notes which threads run its forward, and can be made to hang."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.linear = nn.Linear(2, 2, dtype=torch.float64)
        self.threads: set[str] = set()
        self.hang = threading.Event()
        self.release = threading.Event()
        self.hung = threading.Event()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.threads.add(threading.current_thread().name)
        if self.hang.is_set():
            self.hung.set()
            self.release.wait(60)  # released by the test; bounded in any case
        return torch.tanh(self.linear(x)) + x[:, [1, 0]] ** 2


@pytest.fixture
def shown(qtbot, monkeypatch, settings):
    """Show a Recording module without blocking, in a window with the test's settings."""
    from jacviz.gui.shell import app

    opened = []

    def window(state, settings_=None):
        from jacviz.gui.shell.main_window import MainWindow

        main = MainWindow(state, settings)
        opened.append(main)
        return main

    monkeypatch.setattr(app, "MainWindow", window)
    module = Recording()

    def show(**options):
        result = jacviz.show(module, block=False, **options)
        qtbot.addWidget(result)
        result.controller.finish_loading()
        return result

    yield module, show
    module.release.set()
    for main in opened:
        main.close()


@pytest.mark.timeout(120)
def test_a_module_is_shown_and_never_run_on_the_gui_thread(shown, qtbot):
    module, show = shown
    window = show(probe=(0.5, -0.25))
    controller = window.controller
    assert controller.state.network.startswith("Recording (in memory")
    qtbot.waitUntil(lambda: controller.heatmap_runner.wait(0) and controller.grid is not None)
    controller.set_probe(0.3, 0.7)
    controller.hover(0.1, 0.2)
    assert threading.main_thread().name not in module.threads
    assert module.threads  # it did run, elsewhere
    # The inspector's Jacobian is the module's, by autograd: checked against jacrev.
    point = torch.tensor([0.3, 0.7], dtype=torch.float64)
    expected = torch.func.jacrev(lambda p: module(p[None])[0])(point).detach().numpy()
    np.testing.assert_allclose(controller.linearization.jacobian, expected, rtol=1e-12)
    message = window.statusBar().currentMessage()
    assert "Recording: held in memory by your script" in message
    assert "Jacobians by autograd, in a worker thread (at most 30 s per 2048 points)" in message


@pytest.mark.timeout(120)
def test_a_module_that_hangs_is_abandoned_and_the_app_says_so(shown, qtbot):
    module, show = shown
    window = show(time_limit=0.5)
    controller = window.controller
    qtbot.waitUntil(lambda: controller.heatmap_runner.wait(0))
    module.hang.set()
    controller.set_probe(0.2, 0.1)  # the GUI thread waits at most the limit, then falls back
    assert module.hung.is_set()
    assert controller.state.network is None
    message = window.statusBar().currentMessage()
    assert "Recording took longer than 0.5 s on 1 point: jacviz stopped using it" in message
    assert "showing the formula" in message and "\n" not in message
    problem = window.problem
    assert problem is not None and "took longer than 0.5 s" in problem.text()
    problem.close()
    module.release.set()
    # The module's borrowed state comes back once its late call has returned.
    qtbot.waitUntil(lambda: module.training and module.linear.weight.requires_grad)


@pytest.mark.timeout(60)
def test_a_module_that_hangs_at_once_is_refused_before_any_window():
    module = Recording()
    module.hang.set()
    try:
        with pytest.raises(ValueError) as caught:
            jacviz.show(module, block=False, time_limit=0.3)
    finally:
        module.release.set()
    text = str(caught.value)
    assert "Recording took longer than 0.3 s on its first point" in text and "\n" not in text


@pytest.mark.timeout(120)
def test_a_module_in_memory_is_never_saved(shown, settings, tmp_path):
    from jacviz.gui.shell.window_settings import SETTINGS_KEY, state_from_settings

    _module, show = shown
    window = show()
    assert not window.sessions.save_to(tmp_path / "held.jacviz")
    assert not (tmp_path / "held.jacviz").exists()
    assert "never copies it to disk" in window.statusBar().currentMessage()
    window.problem.close()
    window.close()
    assert settings.value(SETTINGS_KEY)  # the view was remembered, without the module
    assert state_from_settings(settings).network is None


def test_a_guarded_map_turns_errors_into_one_line_and_lets_go_when_closed():
    from jacviz.api.guarded import GuardedMap
    from jacviz.api.objects import module_map

    def flaky(points: torch.Tensor) -> torch.Tensor:
        if len(points) == 3:
            raise RuntimeError("no\nsecond line")
        return 2 * points

    guarded = GuardedMap(lambda: module_map(flaky, 2), "flaky", time_limit=30)
    values, jacobians = guarded.evaluate_with_jacobian(np.ones((5000, 2)))  # 3 chunks
    np.testing.assert_array_equal(values, 2 * np.ones((5000, 2)))
    np.testing.assert_array_equal(jacobians, np.broadcast_to(2 * np.eye(2), (5000, 2, 2)))
    with pytest.raises(NetworkError, match=r"^flaky failed on 3 points: RuntimeError: no$"):
        guarded.evaluate(np.zeros((3, 2)))
    assert guarded.abandoned is None  # a failure is reported, not a reason to stop
    guarded.close()
    with pytest.raises(NetworkError, match="no longer shown"):
        guarded.evaluate(np.zeros((1, 2)))
