"""Pictures of heavy maps are sized to a budget of work and memory, never to minutes or GB."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.torch
import torch

from jacviz.math.budget import (
    MEMORY_BUDGET,
    WORK_BUDGET,
    bytes_per_point,
    grid_samples_within_budget,
    points_within_budget,
    side_within_budget,
    work_per_point,
)
from jacviz.math.maps import FormulaMap, TorchMap
from jacviz.nets.networks import MAX_PARAMETERS, NetworkError, load_network, make_mlp
from jacviz.nets.views import ProbabilityMap, SliceMap


def mlp_map(widths, activation="tanh"):
    model = make_mlp(widths, activation)
    return TorchMap(model, "net", widths[0], widths[-1])


def test_small_maps_get_the_full_picture():
    assert side_within_budget(FormulaMap.from_text("x**2 + y, x*y", isolated=False), 256) == 256
    assert side_within_budget(mlp_map([2, 64, 64, 64, 2]), 256) == 256
    assert grid_samples_within_budget(mlp_map([2, 64, 64, 2]), 42, 2049) == 2049


def test_work_is_parameters_times_the_passes_a_jacobian_takes():
    net = mlp_map([2, 100, 3])  # 2*100 + 100 + 100*3 + 3 = 603 parameters
    assert work_per_point(net, jacobian=False) == 603
    assert work_per_point(net, jacobian=True) == 603 * 3  # values + 2 tangents
    # Views only reshape: the work is the network's.
    assert work_per_point(ProbabilityMap(net), jacobian=True) == 603 * 3


def test_a_heavy_network_gets_a_coarser_heatmap_within_the_work_budget():
    net = mlp_map([2, 1000, 1000, 2])
    side = side_within_budget(net, 256)
    assert 16 <= side < 256
    assert side * side * work_per_point(net, jacobian=True) <= WORK_BUDGET
    samples = grid_samples_within_budget(net, 42, 2049)
    assert samples < 2049 and (samples - 1) & (samples - 2) == 0  # 2**k + 1
    assert 42 * samples * work_per_point(net, jacobian=False) <= WORK_BUDGET


def test_many_outputs_get_a_coarser_heatmap_within_the_memory_budget():
    net = mlp_map([2, 2, 4096])  # a 35 KB file with 4096 classes
    side = side_within_budget(net, 256)
    assert side * side * bytes_per_point(net, jacobian=True) <= MEMORY_BUDGET
    assert side < 64  # 256² Jacobians of 4096 outputs would take 4 GB
    # ...and the picture really is computable at that size.
    points = np.random.default_rng(0).uniform(-1, 1, (side * side, 2))
    _, jacobian = net.evaluate_with_jacobian(points)
    assert jacobian.shape == (side * side, 4096, 2)


def test_a_slice_of_a_wide_input_network_costs_what_its_network_costs():
    net = mlp_map([5, 300, 2])
    assert work_per_point(SliceMap(net), jacobian=False) == work_per_point(net, jacobian=False)
    assert points_within_budget(SliceMap(net)) == points_within_budget(net)


@pytest.mark.timeout(60)
def test_a_network_over_the_parameter_limit_is_refused_from_its_header(tmp_path):
    width = 2100  # 2-2100-2100-2: 4.4 million parameters, declared in a 200-byte file
    layers = [
        {"type": "linear", "in": 2, "out": width},
        {"type": "tanh"},
        {"type": "linear", "in": width, "out": width},
        {"type": "tanh"},
        {"type": "linear", "in": width, "out": 2},
    ]
    header = {"format": "jacviz-mlp", "version": 1, "layers": layers, "metadata": {}}
    path = tmp_path / "huge.safetensors"
    safetensors.torch.save_file(
        {"0.weight": torch.zeros(1)}, path, metadata={"jacviz": json.dumps(header)}
    )
    with pytest.raises(NetworkError, match=f"at most {MAX_PARAMETERS:,}") as raised:
        load_network(path)
    assert "4,422,602 parameters" in str(raised.value)  # 2·2100 + 2100² + 2100·2 + biases
