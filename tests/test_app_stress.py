"""Hundreds of rapid changes, as an impatient user makes them: no exception, no warning.

A seeded random walk through the window's controls (formulas good and bad, domains, probe
moves, hovering, heatmaps, h, grid lines, presets, example networks, slices and classifier
options), without waiting for background work between steps. Any exception in a slot fails
the test (pytest-qt), and so does any warning (numpy's RuntimeWarnings included): the app
must expect every non-finite value it meets.
"""

from __future__ import annotations

import random
import warnings

import pytest
from conftest import wait_for_heatmap

from jacviz.math.grid import Domain
from jacviz.math.jacobian import HEATMAP_QUANTITIES
from jacviz.math.presets import PRESETS
from jacviz.nets.networks import EXAMPLES_DIR
from jacviz.state.view import CLASSES

FORMULAS = [
    "x**2 + y, x*y",
    "1/x, y/x",  # poles on the plane
    "log(x), sqrt(y)",  # undefined on half of it
    "exp(50*x), y",  # overflow
    "x/y, y/x",
    "tan(3*x), atan(y)",
    "x - y, x*y - 0.5, 1 - x**2 - y**2",  # a classifier
    "x**2 + z, y",  # refused
    "x, ",  # refused
    "abs(x) + sign(y), max(x, y)",
    "exp(709.7*x/2) - exp(-709.7*x/2), y",  # a picture wider than float64
]
NETWORKS = ["tanh_warp.safetensors", "moons_jr.safetensors", "turn_3d.safetensors"]


def _random_domain(rng: random.Random) -> Domain:
    scale = 10 ** rng.uniform(-4, 3)
    x, y = rng.uniform(-5, 5), rng.uniform(-5, 5)
    return Domain(x - scale, x + scale * rng.uniform(0.5, 2), y - scale, y + scale)


@pytest.mark.timeout(600)
def test_rapid_random_changes_raise_and_warn_nothing(qtbot, window):
    rng = random.Random(2026)
    controller = window.controller
    heatmaps = [None, *HEATMAP_QUANTITIES, CLASSES]
    messages: list[str] = []
    controller.sigStatus.connect(messages.append)  # a failed background job reports here
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in range(300):
            action = rng.randrange(12)
            domain = controller.state.domain
            if action == 0:
                controller.request_formula(rng.choice(FORMULAS))
            elif action == 1:
                controller.set_domain(_random_domain(rng))
            elif action == 2:
                controller.set_probe(
                    rng.uniform(domain.xmin, domain.xmax), rng.uniform(domain.ymin, domain.ymax)
                )
            elif action == 3:  # exactly on poles and axes, where values are not finite
                controller.set_probe(rng.choice([0.0, 1.0, -1.0]), rng.choice([0.0, 1.0]))
            elif action == 4:
                controller.hover(
                    rng.uniform(domain.xmin, domain.xmax), rng.uniform(domain.ymin, domain.ymax)
                )
            elif action == 5:
                controller.set_heatmap(rng.choice(heatmaps))
            elif action == 6:
                controller.set_h(10 ** rng.uniform(-6, 1))
            elif action == 7:
                controller.set_grid_lines(rng.randrange(2, 60))
            elif action == 8:
                controller.load_preset(rng.choice(PRESETS))
            elif action == 9 and step % 4 == 0:
                controller.request_network(str(EXAMPLES_DIR / rng.choice(NETWORKS)))
            elif action == 10:
                controller.set_jacobian_of(rng.choice(["logits", "probabilities"]))
                controller.set_output_view(rng.choice(["pca", "outputs(0,1)"]))
            elif action == 11:
                window.morph.setValue(rng.randrange(0, 101))
            qtbot.wait(rng.choice([0, 0, 0, 5, 30]))  # sometimes let background work land
        wait_for_heatmap(qtbot, window)
    if window.problem is not None:
        window.problem.close()
    failures = [m for m in messages if m.startswith(("Could not", "Network failed"))]
    assert failures == []


@pytest.mark.timeout(300)
def test_every_formula_at_its_poles_and_axes_warns_nothing(qtbot, window, settle):
    controller = window.controller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for formula in FORMULAS:
            if not controller.set_formula(formula):
                continue  # refused formulas keep the last map
            for point in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (-1.0, 0.0)]:
                controller.set_probe(*point)
                controller.hover(*point)
                controller.set_h(1e-9)
                controller.set_h(0.25)
            settle()
