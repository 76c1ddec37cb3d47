"""The numpy route for a few points (jacviz.math.jacobian.small) against torch's walk and autograd.

A probe move, the layer table and the layer view send one to a few hundred points through a
network; they take this route, the heatmaps and grids the torch walk. Both must give the same
numbers to rounding, with torch's conventions at kinks and for overflow and NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from jacviz.math.jacobian import sequential_jacobian, sequential_values
from jacviz.math.jacobian.small import SMALL_WORK, numpy_chain
from jacviz.math.jacobian.walker import plan
from jacviz.nets.networks import make_mlp

# Activations with numpy kernels; GELU (erf) has none and stays on torch.
NUMPY_ACTIVATIONS = ["tanh", "relu", "softplus", "sigmoid"]


def leaky_mlp(dtype: torch.dtype) -> nn.Sequential:
    torch.manual_seed(4)
    return nn.Sequential(
        nn.Linear(2, 32, dtype=dtype), nn.LeakyReLU(0.05), nn.Linear(32, 3, dtype=dtype)
    )


def models(dtype: torch.dtype) -> list[nn.Module]:
    return [make_mlp([2, 32, 32, 3], name, seed=2, dtype=dtype) for name in NUMPY_ACTIVATIONS] + [
        leaky_mlp(dtype)
    ]


def torch_walk(model: nn.Module, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The torch walk's values and Jacobians at ``points``: padded past the numpy route's size."""
    padding = torch.zeros(SMALL_WORK + 1, points.shape[1], dtype=points.dtype)
    values, jacobian = sequential_jacobian(model, torch.cat([points, padding]))
    return values[: len(points)], jacobian[: len(points)]


def autograd(model: nn.Module, points: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.autograd.functional.jacobian(model, p) for p in points])


def test_small_batches_take_the_numpy_route_and_large_ones_torch():
    """numpy takes batches whose largest product stays single-threaded in BLAS (SMALL_WORK)."""
    model = make_mlp([2, 8, 2], "tanh", seed=0)  # largest product per point: 2 x 8 = 16
    steps = plan(model)
    limit = SMALL_WORK // 16
    assert numpy_chain(steps, torch.zeros(limit, 2)).largest == 16
    assert numpy_chain(steps, torch.zeros(limit + 1, 2)) is None
    wide = make_mlp([2, 256, 256, 2], "tanh", seed=0)
    assert numpy_chain(plan(wide), torch.zeros(1, 2)) is not None  # one point: any layer ≤ 256²
    assert numpy_chain(plan(wide), torch.zeros(2, 2)) is None
    assert numpy_chain(steps, torch.zeros(3, 2, dtype=torch.float64)) is None  # not the weights'
    gelu = make_mlp([2, 8, 2], "gelu", seed=0)
    assert numpy_chain(plan(gelu), torch.zeros(3, 2)) is None  # no numpy erf: torch's kernel
    half = make_mlp([2, 8, 2], "tanh", seed=0, dtype=torch.float16)
    assert numpy_chain(plan(half), torch.zeros(3, 2, dtype=torch.float16)) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_and_jacobians_agree_with_the_torch_walk_and_autograd(dtype):
    points = torch.randn(40, 2, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 2
    # float32: sums of 32 products rounded in a different order, and numpy's transcendental
    # functions within ~2 ulp of torch's; float64: the same at 1e-16.
    rtol = 2e-5 if dtype == torch.float32 else 1e-13
    for model in models(dtype):
        assert numpy_chain(plan(model), points) is not None  # the route under test
        values, jacobian = sequential_jacobian(model, points)
        assert values.dtype == jacobian.dtype == dtype
        assert values.shape == (40, 3) and jacobian.shape == (40, 3, 2)
        walked_values, walked_jacobian = torch_walk(model, points)
        scale = walked_jacobian.abs().max().item()
        torch.testing.assert_close(values, walked_values, rtol=rtol, atol=rtol)
        torch.testing.assert_close(jacobian, walked_jacobian, rtol=rtol, atol=rtol * scale)
        if dtype == torch.float64:
            expected = autograd(model, points)
            torch.testing.assert_close(jacobian, expected, rtol=1e-12, atol=1e-12 * scale)
        # The values are the Jacobian walk's, bit for bit: the grid and the inspector agree.
        assert torch.equal(sequential_values(model, points), values)


def test_kinks_follow_torchs_conventions():
    """ReLU'(0) = 0 and LeakyReLU'(0) = slope: the pre-activations here are exactly 0."""
    for activation, slope in ((nn.ReLU(), 0.0), (nn.LeakyReLU(0.2), 0.2)):
        first = nn.Linear(2, 4, dtype=torch.float64)
        with torch.no_grad():
            first.weight.copy_(torch.tensor([[1.0, 0], [0, 1], [1, -1], [2, 0]]))
            first.bias.zero_()
        model = nn.Sequential(first, activation, nn.Linear(4, 1, dtype=torch.float64))
        points = torch.zeros(1, 2, dtype=torch.float64)
        _, jacobian = sequential_jacobian(model, points)
        _, walked = torch_walk(model, points)
        torch.testing.assert_close(jacobian, walked, rtol=1e-15, atol=1e-16)
        weight_out = model[2].weight.detach()
        expected = slope * weight_out @ first.weight.detach()
        torch.testing.assert_close(jacobian[0], expected, rtol=1e-15, atol=1e-16)


def test_overflow_and_nan_are_torchs_inf_and_nan_without_warnings():
    model = make_mlp([2, 16, 2], "relu", seed=3, dtype=torch.float32)
    points = torch.tensor([[3e38, 3e38], [float("nan"), 0.0], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy would warn about the overflow: it must not
        values, jacobian = sequential_jacobian(model, points)
    walked_values, walked_jacobian = torch_walk(model, points)
    for ours, theirs in ((values, walked_values), (jacobian, walked_jacobian)):
        assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
        assert torch.equal(torch.isnan(ours), torch.isnan(theirs))
    assert torch.isfinite(values[2]).all()


def test_in_place_training_is_followed_and_the_points_are_never_written():
    model = make_mlp([2, 8, 2], "sigmoid", seed=5, dtype=torch.float64)
    points = torch.tensor([[0.25, -0.5]], dtype=torch.float64)
    before = points.clone()
    _, first = sequential_jacobian(model, points)
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    _, second = sequential_jacobian(model, points)
    assert torch.equal(points, before)
    torch.testing.assert_close(second, autograd(model, points), rtol=1e-12, atol=1e-14)
    assert not torch.allclose(first, second)


def test_a_model_without_layers_copies_the_points():
    points = torch.ones(3, 2)
    values = sequential_values(nn.Sequential(nn.Identity()), points)
    assert torch.equal(values, points) and values.data_ptr() != points.data_ptr()
    _, jacobian = sequential_jacobian(nn.Sequential(nn.Identity()), points)
    assert torch.equal(jacobian, torch.eye(2).expand(3, 2, 2))
    with pytest.raises(ValueError, match="expects 2 input features"):
        sequential_values(make_mlp([2, 4, 1], seed=0), torch.zeros(3, 5))


def test_numpy_chain_derivatives_are_the_diagonal_factors():
    model = make_mlp([2, 16, 16, 2], "softplus", seed=8, dtype=torch.float64)
    point = torch.tensor([[0.3, -1.1]], dtype=torch.float64)
    chain = numpy_chain(plan(model), point)
    derivatives = chain.derivatives(point.numpy())
    assert [d is None for d in derivatives] == [True, False, True, False, True]
    z = model[0](point)
    expected = torch.sigmoid(z).detach().numpy()  # softplus' = sigmoid below the threshold
    np.testing.assert_allclose(derivatives[1], expected, rtol=1e-14)


def test_a_torch_maps_chain_is_rebuilt_whenever_the_model_changes():
    """TorchMap keeps the numpy chain of its module between probe moves; every change the walk
    depends on must show at once: training in place, new data or parameters, a replaced
    layer, an activation's setting, a hook (which the walk refuses: torch takes over)."""
    from jacviz.math.jacobian.small import model_chain
    from jacviz.math.maps import TorchMap

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 8, dtype=torch.float64),
        nn.LeakyReLU(0.1),
        nn.Linear(8, 2, dtype=torch.float64),
    )
    torch_map = TorchMap(model, "net", 2, 2)
    points = np.array([[0.3, -0.7], [-1.1, 0.4]])

    def check() -> None:
        values, jacobian = torch_map.evaluate_with_jacobian(points)
        tensor = torch.from_numpy(points)
        np.testing.assert_allclose(values, model(tensor).detach().numpy(), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(
            jacobian, autograd(model, tensor).numpy(), rtol=1e-13, atol=1e-15
        )
        np.testing.assert_allclose(torch_map.evaluate(points), values, rtol=1e-15, atol=0)

    check()
    first = model_chain(model)
    assert first is not None and model_chain(model) is first  # kept while nothing changes
    with torch.no_grad():
        model[0].weight.mul_(1.5)  # in place: the same chain sees it
    check()
    assert model_chain(model) is first
    model[0].weight.data = torch.randn(8, 2, dtype=torch.float64)  # new memory
    check()
    model[2].bias = nn.Parameter(torch.randn(2, dtype=torch.float64))  # a new parameter
    check()
    model[1].negative_slope = 0.3  # an activation's setting
    check()
    model[1] = nn.Tanh()  # a replaced layer
    check()
    handle = model[1].register_forward_hook(lambda _module, _inputs, output: 2 * output)
    assert model_chain(model) is None  # the walk refuses hooks: the module itself runs
    check()
    handle.remove()
    assert model_chain(model) is not None
    check()


def test_a_batch_too_large_for_the_kept_chain_skips_the_fingerprint(monkeypatch):
    """A probe's outline (hundreds of points) runs on torch: asking whether it fits the kept
    chain must not cost the fingerprint, and the answer is torch's own values."""
    from jacviz.math.jacobian import small
    from jacviz.math.maps import TorchMap

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 2))
    torch_map = TorchMap(model, "net", 2, 2)
    chain = small.model_chain(model)
    assert chain is not None
    count = small.SMALL_WORK // chain.largest + 1
    assert not chain.fits(count) and chain.fits(1)
    points = np.random.default_rng(0).normal(size=(count, 2))

    def refuse(_model):
        raise AssertionError("fingerprinted a batch the kept chain cannot take")

    monkeypatch.setattr(small, "_fingerprint", refuse)
    assert small.model_chain(model, count) is None
    expected = model(torch.from_numpy(points).float()).detach().double().numpy()
    # float32: torch's layer walk may sum its products in another order than nn.Linear
    np.testing.assert_allclose(torch_map.evaluate(points), expected, rtol=1e-6, atol=1e-7)
    monkeypatch.undo()
    assert small.model_chain(model, 1) is chain  # a small batch still checks and gets it


def test_with_blas_on_one_thread_the_probe_outline_goes_through_numpy(monkeypatch):
    """The app holds numpy's BLAS to one thread: a network's probe square and circle (258
    points) then go through numpy, with torch's values; a script's process keeps torch."""
    from jacviz.math.jacobian import sequential, small
    from jacviz.math.maps import TorchMap
    from jacviz.nets.networks import make_mlp
    from jacviz.support import threads

    model = make_mlp([2, 64, 64, 64, 2], seed=0)
    torch_map = TorchMap(model, "net", 2, 2)
    points = np.random.default_rng(1).normal(size=(258, 2))
    expected = model(torch.from_numpy(points).float()).detach().double().numpy()
    walked = []
    walk = sequential.sequential_values
    monkeypatch.setattr(sequential, "sequential_values", lambda *a: walked.append(1) or walk(*a))
    chain = small.model_chain(model)
    assert chain is not None and not chain.fits(len(points))  # a script's process: torch
    np.testing.assert_allclose(torch_map.evaluate(points), expected, rtol=1e-6, atol=1e-6)
    assert walked == [1]
    monkeypatch.setattr(threads, "blas_on_one_thread", lambda: True)
    assert chain.fits(len(points)) and not chain.fits(small.ONE_THREAD_WORK // chain.largest + 1)
    # float32: numpy's products may sum in another order than torch's
    np.testing.assert_allclose(torch_map.evaluate(points), expected, rtol=1e-6, atol=1e-6)
    assert walked == [1]  # numpy's route, not the walk
