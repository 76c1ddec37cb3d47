"""The shipped example networks: each loads, has exact Jacobians, and rebuilds from its seed."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from jacviz.math.jacobian import JacobianField
from jacviz.nets.networks import EXAMPLES_DIR, example_files, load_network

EXAMPLES = example_files()


def test_the_examples_are_shipped():
    assert {p.name for p in EXAMPLES} == {
        "tanh_warp.safetensors",
        "relu_fold.safetensors",
        "turn_3d.safetensors",
        "coupling_flow.pt",
        "moons_plain.safetensors",
        "moons_jr.safetensors",
        "spirals_plain.safetensors",
        "spirals_jr.safetensors",
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads_with_exact_jacobians(path):
    network = load_network(path)  # as the app loads it (TorchScript in its own process)
    module = load_network(path, isolated=False).module  # our own files: safe to run here
    assert network.output_dim == 2 and network.input_dim in (2, 3)
    assert network.metadata["description"]
    points = np.random.default_rng(0).uniform(-2, 2, size=(16, network.input_dim))
    values, jacobians = network.as_map().evaluate_with_jacobian(points)
    for point, value, jacobian in zip(points, values, jacobians, strict=True):
        tensor = torch.tensor(point, dtype=torch.float64)
        expected = torch.autograd.functional.jacobian(module, tensor[None])[0, :, 0, :]
        # float64 networks: both are exact up to rounding in a different order.
        np.testing.assert_allclose(jacobian, expected.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(value, module(tensor[None])[0].detach(), rtol=1e-13)


def test_the_flow_log_det_matches_the_jacobian():
    network = load_network(EXAMPLES_DIR / "coupling_flow.pt")
    points = np.random.default_rng(1).uniform(-3, 3, size=(200, 2))
    values, jacobians = network.as_map().evaluate_with_jacobian(points)
    field = JacobianField.from_arrays(values, jacobians)
    module = load_network(EXAMPLES_DIR / "coupling_flow.pt", isolated=False).module
    log_det = module.log_det(torch.from_numpy(points)).numpy()
    assert (field.det > 0).all()  # a flow is invertible: orientation is never reversed
    np.testing.assert_allclose(field.log_abs_det, log_det, rtol=1e-12, atol=1e-12)


def test_the_relu_example_has_folds():
    network = load_network(EXAMPLES_DIR / "relu_fold.safetensors")
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 64), np.linspace(-2, 2, 64)), -1)
    _, jacobians = network.as_map().evaluate_with_jacobian(grid.reshape(-1, 2))
    det = JacobianField.from_arrays(np.zeros((len(jacobians), 2)), jacobians).det
    assert (det > 0).mean() > 0.2 and (det < 0).mean() > 0.2


def test_the_3d_example_turns_each_plane_z_const_nearly_rigidly():
    from jacviz.nets.views import SliceMap

    network = load_network(EXAMPLES_DIR / "turn_3d.safetensors").as_map()
    for z in (-1.0, 0.0, 1.2):
        plane = SliceMap(network, base=(0.0, 0.0, z))
        points = np.random.default_rng(3).uniform(-1.5, 1.5, size=(64, 2))
        values, jacobians = plane.evaluate_with_jacobian(points)
        field = JacobianField.from_arrays(values, jacobians)
        # A rotation has σ1 = σ2 = 1; the fit is approximate, so allow 25 %.
        np.testing.assert_allclose(field.singular_values, 1.0, atol=0.25)


@pytest.mark.parametrize("dataset", ["moons", "spirals"])
def test_the_regularized_classifiers_have_smaller_jacobians_and_keep_accuracy(dataset):
    from jacviz.nets.datasets import make_dataset
    from jacviz.nets.training import jacobian_frobenius

    plain = load_network(EXAMPLES_DIR / f"{dataset}_plain.safetensors")
    regularized = load_network(EXAMPLES_DIR / f"{dataset}_jr.safetensors")
    spec = dict(plain.metadata["dataset"])
    data = make_dataset(spec.pop("name"), **spec)
    norms = []
    for network in (plain, regularized):
        logits = network.module(torch.from_numpy(data.test_points.copy()))
        accuracy = float((logits.argmax(1).numpy() == data.test_labels).mean())
        # The stored accuracy is the one these weights give on the rebuilt dataset.
        assert accuracy == pytest.approx(network.metadata["test_accuracy"], abs=1e-12)
        assert accuracy >= 0.9
        norms.append(jacobian_frobenius(network.module, data.test_points).mean())
    assert norms[1] < 0.5 * norms[0]


def test_the_build_script_rebuilds_the_examples_exactly(tmp_path):
    script = EXAMPLES_DIR / "build_examples.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, timeout=300)
    for shipped in EXAMPLES:
        rebuilt = tmp_path / shipped.name
        if shipped.suffix == ".safetensors":
            assert rebuilt.read_bytes() == shipped.read_bytes(), shipped.name
        else:  # TorchScript archives hold a random id: compare weights and outputs instead
            a = load_network(shipped, isolated=False).module
            b = load_network(rebuilt, isolated=False).module
            for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
                assert torch.equal(p, q), name
            points = torch.from_numpy(np.random.default_rng(2).uniform(-2, 2, (50, 2)))
            assert torch.equal(a(points), b(points))


def test_examples_folder_lookup_tolerates_a_missing_folder(tmp_path):
    assert example_files(tmp_path / "nowhere") == []
    (tmp_path / "notes.txt").write_text("not a network")
    (tmp_path / "net.pt").write_bytes(b"")
    assert example_files(tmp_path) == [Path(tmp_path / "net.pt")]
