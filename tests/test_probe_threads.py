"""A probe move, a hover and a new grid of a network run torch on one thread, then as before.

jacviz runs all of its torch work on one intra-op thread (jacviz.support.threads); on the GUI
thread the probe's few hundred points never gain from a second one, and on a busy machine a
second one made probe moves up to ~95 ms. Counted in threads, never timed.
"""

import numpy as np
import pytest
import torch

import jacviz.gui.mapview.controller as controller_module
from jacviz.gui.mapview.controller import Controller
from jacviz.math.maps import TorchMap
from jacviz.nets.networks import make_mlp

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def two_threads():
    """The GUI thread on two torch threads (the default on a 2-core machine), then as before."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def recording(function, seen):
    def record(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return function(*args, **kwargs)

    return record


def test_grid_probe_and_hover_of_a_network_run_on_one_torch_thread(qtbot, two_threads, monkeypatch):
    controller = Controller()
    model = make_mlp([2, 16, 16, 2], seed=1, dtype=torch.float64)
    warped: list[int] = []
    monkeypatch.setattr(controller_module, "warp", recording(controller_module.warp, warped))
    controller.set_map(TorchMap(model, "mlp", 2, 2))
    assert warped == [1]  # the new grid too
    seen: list[int] = []
    for name in ("linearize", "probe_factors"):
        monkeypatch.setattr(
            controller_module, name, recording(getattr(controller_module, name), seen)
        )
    hovered = []
    controller.sigHoverChanged.connect(lambda value: hovered.append(torch.get_num_threads()))
    try:
        controller.set_probe(0.3, -0.2)
        controller.hover(0.1, 0.4)
        assert seen == [1, 1]  # the linearization and the chain-rule factors
        assert hovered == [1]
        assert torch.get_num_threads() == 2  # the GUI thread's own count is back
        # and the numbers are those of the network, to rounding
        point = torch.tensor([0.3, -0.2], dtype=torch.float64)
        expected = torch.autograd.functional.jacobian(model, point).numpy()
        np.testing.assert_allclose(controller.linearization.jacobian, expected, rtol=1e-12)
    finally:
        controller.shutdown()
