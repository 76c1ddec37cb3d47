"""The app with hostile input: it never freezes, keeps the map it had, and says why.

A network whose forward never ends, one that fails only at some batch size, a formula that
sends sympy into minutes of arithmetic, a network too big to draw at full resolution: each is
prepared off the GUI thread (its code in a child process), refused or contained with one
line, and the window goes on answering meanwhile.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import wait_for_heatmap
from PyQt6.QtCore import Qt
from torch import nn

import jacviz.math.maps as maps
import jacviz.nets.hosted as hosted
from jacviz.math.budget import side_within_budget
from jacviz.nets.networks import make_mlp, save_mlp


class Loops(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while bool(x.sum() > -1e30):
            x = x * 1.0
        return x


class FailsFarOut(nn.Module):
    """Fine on [-1, 1]², where loading tries it; fails wherever x > 1.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x[:, 0] > 1.5).any()):
            raise RuntimeError("too far out for me")
        return torch.tanh(x)


def scripted(module, folder, name="net.pt"):
    path = folder / name
    torch.jit.save(torch.jit.script(module), path)
    return path


@pytest.fixture
def short_limits(monkeypatch):
    monkeypatch.setattr(hosted, "LOAD_TIME_LIMIT", 5.0)
    monkeypatch.setattr(hosted, "CALL_TIME_LIMIT", 5.0)
    monkeypatch.setattr(maps, "FORMULA_TIME_LIMIT", 3.0)


@pytest.mark.timeout(180)
def test_opening_a_looping_network_keeps_the_window_answering_and_can_be_cancelled(
    qtbot, window, tmp_path
):
    controller = window.controller
    before = controller.map.name
    controller.request_network(str(scripted(Loops(), tmp_path)))
    assert controller.loading == "Opening net.pt…"
    qtbot.waitUntil(lambda: window.cancel_button.isVisibleTo(window), timeout=5000)
    assert "Opening net.pt… (Esc cancels)" == window.statusBar().currentMessage()
    # Meanwhile the window works on the map it shows.
    controller.set_probe(0.5, -0.25)
    assert tuple(controller.linearization.point) == (0.5, -0.25)
    assert controller.map.name == before
    window.cancel_button.click()
    assert controller.loading == ""
    assert not window.cancel_button.isVisibleTo(window)
    assert "Cancelled: Opening net.pt" in window.statusBar().currentMessage()
    wait_for_heatmap(qtbot, window)
    assert controller.map.name == before and controller.state.network is None


@pytest.mark.timeout(180)
def test_a_looping_network_is_refused_at_its_time_limit_and_the_map_stays(
    qtbot, window, tmp_path, short_limits
):
    controller = window.controller
    before = controller.map.name
    assert not window.open_network(str(scripted(Loops(), tmp_path)))
    assert window.problem is not None and "took longer than 5 s" in window.problem.text()
    window.problem.close()
    assert controller.map.name == before and controller.state.network is None


@pytest.mark.timeout(180)
def test_a_network_failing_on_the_plane_is_refused_before_it_replaces_the_map(
    qtbot, window, tmp_path
):
    controller = window.controller
    before = controller.map.name
    assert not window.open_network(str(scripted(FailsFarOut(), tmp_path)))  # domain [-2, 2]
    assert "too far out for me" in window.problem.text()
    window.problem.close()
    assert controller.map.name == before and controller.state.network is None


@pytest.mark.timeout(180)
def test_a_network_failing_later_gives_way_to_the_last_formula(qtbot, window, settle, tmp_path):
    from jacviz.math.grid import Domain

    controller = window.controller
    controller.set_domain(Domain(-1, 1, -1, 1))
    settle()
    assert window.open_network(str(scripted(FailsFarOut(), tmp_path)))
    settle()
    assert controller.state.network is not None
    with qtbot.waitSignal(controller.sigProblem, timeout=60000) as problem:
        controller.set_domain(Domain(-3, 3, -3, 3))
    title, message = problem.args
    assert title == "Network failed"
    assert "too far out for me" in message and "showing the formula" in message
    window.problem.close()
    settle()
    assert controller.state.network is None
    assert controller.map.name == controller.state.formula
    assert controller.state.domain == Domain(-3, 3, -3, 3)


@pytest.mark.timeout(180)
def test_a_formula_over_its_time_limit_is_refused_and_the_window_answers(
    qtbot, window, settle, monkeypatch
):
    # No formula the parser accepts takes long any more, so the limit is made too short for
    # any: the check runs in a child process that is killed at the limit, as a slow one is.
    monkeypatch.setattr(maps, "FORMULA_TIME_LIMIT", 0.001)
    controller = window.controller
    before = controller.map.name
    editor = window.editor.formula
    editor.setText("sin(x) + y, x*y")
    controller.request_formula(editor.text())
    assert controller.loading == "Checking the formula…"
    controller.set_probe(0.25, 0.25)  # the window answers meanwhile
    assert tuple(controller.linearization.point) == (0.25, 0.25)
    settle()
    assert "formula too complex: it took longer than 0.001 s" in window.editor.error.text()
    assert controller.map.name == before


@pytest.mark.timeout(180)
def test_a_heavy_network_is_drawn_coarser_and_says_so(qtbot, window, settle, tmp_path):
    model = make_mlp([2, 1200, 1200, 2], "tanh", seed=0)  # 1.45 million parameters
    path = tmp_path / "heavy.safetensors"
    save_mlp(model, path)
    messages = []
    window.controller.sigStatus.connect(messages.append)
    assert window.open_network(str(path))
    settle()
    side = side_within_budget(window.controller.analysed, 256)
    assert 16 <= side < 256
    image = window.input_plane.image.image
    assert image.shape[:2] == (side, side)
    assert any("heavy map" in m and f"{side}×{side}" in m for m in messages)


@pytest.mark.timeout(180)
def test_escape_cancels_opening_a_network(qtbot, window, tmp_path):
    controller = window.controller
    controller.request_network(str(scripted(Loops(), tmp_path)))
    assert controller.loading
    window.input_plane.setFocus()
    qtbot.keyClick(window.input_plane, Qt.Key.Key_Escape)
    assert controller.loading == ""
    assert "Cancelled" in window.statusBar().currentMessage()


class SlowIdentity:
    """A 2→2 map that takes a while per call and counts its Jacobian calls."""

    name, input_dim, output_dim = "slow identity", 2, 2

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, points):
        return np.array(points, dtype=np.float64)

    def evaluate_with_jacobian(self, points):
        import time

        self.calls += 1
        time.sleep(0.3)
        points = np.array(points, dtype=np.float64)
        return points, np.broadcast_to(np.eye(2), (len(points), 2, 2)).copy()


@pytest.mark.timeout(180)
def test_closing_stops_a_heatmap_between_blocks(qtbot, window):
    slow = SlowIdentity()
    window.controller.set_map(slow)
    qtbot.waitUntil(lambda: slow.calls >= 1, timeout=30000)
    window.controller.shutdown()  # what closing the window does
    blocks = 256 * 256 // 8192
    assert slow.calls < blocks, "the heatmap job ran to its end after shutdown"
