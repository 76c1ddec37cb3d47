"""Tests for jacviz.nets.layers: chain-rule factors at a point and the grid in every layer."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from jacviz.math.grid import Domain, grid_lines
from jacviz.math.jacobian import sequential_jacobian
from jacviz.math.maps import TorchMap
from jacviz.nets.layers import (
    Factor,
    LayerError,
    LayerImage,
    factorize,
    layer_images,
    layer_path,
    layer_widths,
    principal_plane,
)
from jacviz.nets.networks import make_mlp
from jacviz.nets.views import SliceMap

LINES = grid_lines(Domain(-2.0, 2.0, -1.5, 2.5), lines=7, samples=17)  # (14, 17, 2)


def mlp(widths, activation="tanh", seed=0, dtype=torch.float64) -> nn.Sequential:
    """make_mlp, plus leaky ReLU (which make_mlp does not offer) swapped in for ReLU."""
    if activation != "leaky_relu":
        return make_mlp(widths, activation, seed=seed, dtype=dtype)
    model = make_mlp(widths, "relu", seed=seed, dtype=dtype)
    for index, layer in enumerate(model):
        if type(layer) is nn.ReLU:
            model[index] = nn.LeakyReLU(0.1)
    return model


def autograd_jacobian_at(model: nn.Module, point: np.ndarray) -> np.ndarray:
    dtype = next(model.parameters()).dtype
    x = torch.tensor(point, dtype=dtype)
    # clone: a leading in-place activation may not overwrite autograd's input
    jac = torch.autograd.functional.jacobian(lambda v: model(v[None].clone())[0], x)
    return jac.double().numpy()


def chain(factors: list[Factor], n: int) -> np.ndarray:
    product = np.eye(n)
    for factor in factors:
        product = factor.matrix @ product
    return product


def activations(model: nn.Sequential, upto: int, points: np.ndarray) -> np.ndarray:
    """Output of ``model[:upto]`` (the model's own layers) at ``points`` (..., n), float64."""
    dtype = next(model.parameters()).dtype
    x = torch.tensor(points.reshape(-1, points.shape[-1]), dtype=dtype)  # a copy, never a view
    with torch.no_grad():
        out = model[:upto](x)
    return out.double().numpy().reshape(*points.shape[:-1], -1)


# (inputs, hidden widths, outputs): inputs 2 and 3, outputs 1, 2 and 5, depths 1-4 Linear layers,
# hidden widths 1, 2, 16 and 64.
SHAPES = [
    (2, (), 2),
    (3, (), 5),
    (2, (16,), 1),
    (2, (64, 64), 2),
    (3, (16, 2), 5),
    (2, (1, 16), 2),
    (3, (64, 16, 64), 1),
    (2, (2, 2, 2), 2),
    (3, (64, 1, 16), 2),
]
ACTIVATION_NAMES = ["tanh", "relu", "gelu", "softplus", "sigmoid", "leaky_relu"]


# ----------------------------------------------------------------------------------------------
# Factors
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize(("n", "hidden", "m"), SHAPES)
def test_product_of_factors_is_autograds_jacobian(activation, n, hidden, m):
    model = mlp([n, *hidden, m], activation, seed=len(hidden) + n)
    rng = np.random.default_rng(7)
    for point in rng.uniform(-2, 2, size=(4, n)):
        factors = factorize(model, point)
        expected = autograd_jacobian_at(model, point)
        assert len(factors) == 2 * len(hidden) + 1
        assert [f.index for f in factors] == list(range(len(factors)))
        product = chain(factors, n)
        # rtol 1e-12 on every entry; entries that cancel to ~0 are judged against the largest.
        atol = 1e-12 * np.abs(expected).max()
        np.testing.assert_allclose(product, expected, rtol=1e-12, atol=atol)
        np.testing.assert_allclose(factors[-1].product, expected, rtol=1e-12, atol=atol)
        assert factors[-1].product.shape == (m, n)


def test_linear_factors_are_the_weights_exactly():
    for dtype in (torch.float32, torch.float64):
        model = make_mlp([3, 16, 16, 5], "tanh", seed=3, dtype=dtype)
        factors = factorize(model, np.array([0.1, -0.2, 0.3]))
        linear = [f for f in factors if f.kind == "linear"]
        weights = [layer.weight for layer in model if isinstance(layer, nn.Linear)]
        assert len(linear) == len(weights) == 3
        for factor, weight in zip(linear, weights, strict=True):
            assert factor.matrix.dtype == np.float64
            assert np.array_equal(factor.matrix, weight.detach().double().numpy())
            assert factor.weight is factor.matrix and factor.diagonal is None
            assert factor.shape == tuple(weight.shape)


def _closed_form(activation: str, z: np.ndarray) -> np.ndarray:
    if activation == "tanh":
        return 1 - np.tanh(z) ** 2
    if activation == "sigmoid":  # seed 001: 1 / ((1 + e^θ)(1 + e^-θ))
        return 1 / ((1 + np.exp(z)) * (1 + np.exp(-z)))
    if activation == "relu":
        return (z > 0).astype(float)
    if activation == "leaky_relu":
        return np.where(z > 0, 1.0, 0.1)
    if activation == "softplus":  # beta 1, threshold 20: the identity above the threshold
        return np.where(z > 20, 1.0, 1 / (1 + np.exp(-z)))
    if activation == "gelu":  # Φ(z) + z φ(z)
        cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
        return cdf + z * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    raise AssertionError(activation)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_activation_factors_are_diagonal_derivatives(activation):
    model = mlp([2, 16, 64, 3], activation, seed=5)
    point = np.array([0.7, -1.3])
    factors = factorize(model, point)
    for position, factor in enumerate(factors):
        if factor.kind == "linear":
            continue
        assert factor.kind == activation
        z = activations(model, position, point)  # the pre-activation: what the layer receives
        width = z.shape[-1]
        assert factor.label == f"{activation} ({width})"
        assert factor.shape == (width, width) and factor.weight is None
        np.testing.assert_allclose(factor.diagonal, _closed_form(activation, z), rtol=1e-12)
        dense = factor.matrix
        assert np.array_equal(dense, np.diag(factor.diagonal))
        assert not dense[~np.eye(width, dtype=bool)].any()


def test_singular_values_of_factors_and_running_products():
    model = mlp([3, 16, 64, 16, 2], "softplus", seed=11)
    factors = factorize(model, np.array([0.5, 1.5, -0.5]))
    product = np.eye(3)
    for factor in factors:
        product = factor.matrix @ product
        expected = np.linalg.svd(product, compute_uv=False)
        assert factor.product_singular_values.shape == (min(product.shape),)
        np.testing.assert_allclose(
            factor.product_singular_values, expected, rtol=1e-12, atol=1e-13 * expected[0]
        )
        own = np.linalg.svd(factor.matrix, compute_uv=False)
        assert factor.singular_values.shape == (min(factor.shape),)
        assert np.all(np.diff(factor.singular_values) <= 0)
        np.testing.assert_allclose(factor.singular_values, own, rtol=1e-12, atol=1e-13 * own[0])


def test_weight_singular_values_follow_weight_changes():
    model = make_mlp([2, 16, 2], "tanh", seed=2)
    before = factorize(model, np.zeros(2))[0].singular_values
    with torch.no_grad():
        model[0].weight.data.mul_(3.0)  # through .data: invisible to the parameter's _version
    after = factorize(model, np.zeros(2))[0].singular_values
    np.testing.assert_allclose(after, 3.0 * before, rtol=1e-6)


def test_seed_001_single_linear_layer_is_its_own_factorization():
    # Seed 001: the Jacobian of g(x) = Wx + b is W, whatever the point.
    torch.manual_seed(0)
    for model in (nn.Linear(3, 2, dtype=torch.float64), make_mlp([3, 2], dtype=torch.float64)):
        weight = next(model.parameters()).detach().numpy()
        for point in ([0.0, 0.0, 0.0], [1.0, -2.0, 3.0]):
            factors = factorize(model, np.array(point))
            assert len(factors) == 1
            (factor,) = factors
            assert factor.kind == "linear" and factor.label == "Linear 3→2"
            assert np.array_equal(factor.matrix, weight)
            assert np.array_equal(factor.product, weight)
            assert np.array_equal(
                factor.product_singular_values, np.linalg.svd(weight, compute_uv=False)
            )


def test_seed_001_linear_then_sigmoid():
    # Seed 001: h = f(g(x)) with g linear and f the sigmoid, so J = diag(f'(θ)) W with θ = g(x).
    model = nn.Sequential(nn.Linear(3, 2, dtype=torch.float64), nn.Sigmoid())
    point = np.array([0.3, -0.1, 0.8])
    linear, sigmoid = factorize(model, point)
    theta = activations(model, 1, point)
    weight = model[0].weight.detach().numpy()
    expected = np.diag(1 / ((1 + np.exp(theta)) * (1 + np.exp(-theta)))) @ weight
    np.testing.assert_allclose(sigmoid.product, expected, rtol=1e-13)
    assert np.array_equal(linear.matrix, weight)


def test_names_labels_and_skipped_structural_layers():
    inner = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Flatten())
    model = nn.Sequential(nn.Identity(), inner, nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 1))
    factors = factorize(model, np.array([0.2, 0.4]))
    assert [f.name for f in factors] == ["1.0", "1.1", "2", "3", "4"]
    assert [f.label for f in factors] == [
        "Linear 2→8",
        "tanh (8)",
        "Linear 8→8",
        "gelu (8)",
        "Linear 8→1",
    ]
    images = layer_images(model, LINES)
    assert [i.name for i in images] == [f.name for f in factors]
    assert [i.index for i in images] == [f.index for f in factors]
    assert [i.width for i in images] == [8, 8, 8, 8, 1]


def test_float32_models_compute_in_float32_and_return_float64():
    model = make_mlp([2, 64, 64, 2], "tanh", seed=1)
    point = np.array([0.25, -0.75])
    factors = factorize(model, point)
    assert all(f.matrix.dtype == np.float64 for f in factors)
    expected = autograd_jacobian_at(model, point)
    np.testing.assert_allclose(chain(factors, 2), expected, rtol=1e-5, atol=1e-6)
    # The factors are those of the float32 network: σ' from the float32 activations.
    y = activations(model, 2, point)
    np.testing.assert_allclose(factors[1].diagonal, 1 - y**2, rtol=1e-6)


def test_in_place_activations_leave_inputs_and_pre_activations_intact():
    model = nn.Sequential(
        nn.ELU(alpha=0.5, inplace=True),
        nn.Linear(2, 8),
        nn.ReLU(inplace=True),
        nn.Linear(8, 8),
        nn.ELU(inplace=True),
        nn.Linear(8, 2),
    ).double()
    point = np.array([-0.8, 0.6])
    kept = point.copy()
    factors = factorize(model, point)
    assert np.array_equal(point, kept)
    expected = autograd_jacobian_at(model, point)
    np.testing.assert_allclose(chain(factors, 2), expected, rtol=1e-12, atol=1e-15)
    lines = LINES.copy()
    images = layer_images(model, lines)
    assert np.array_equal(lines, LINES)
    assert np.array_equal(images[0].curves, activations(model, 1, LINES))


def test_results_are_read_only():
    model = make_mlp([2, 16, 2], "relu")
    factor = factorize(model, np.array([1.0, 1.0]))[1]
    image = layer_images(model, LINES)[1]
    for array in (factor.diagonal, factor.matrix, factor.product, factor.singular_values):
        assert not array.flags.writeable
    for array in (image.curves, image.basis, image.mean):
        assert not array.flags.writeable


def test_point_shapes():
    model = make_mlp([3, 4, 2])
    assert len(factorize(model, np.array([[0.0, 1.0, 2.0]]))) == 3
    assert factorize(nn.Sequential(), np.array([1.0, 2.0])) == []
    for bad in (np.zeros(2), np.zeros((2, 3)), np.zeros((1, 1, 3))):
        with pytest.raises(ValueError, match=r"inputs|point") as info:
            factorize(model, bad)
        assert not isinstance(info.value, LayerError)


# ----------------------------------------------------------------------------------------------
# Layer images
# ----------------------------------------------------------------------------------------------


def test_two_wide_layers_show_their_activations_exactly():
    for dtype in (torch.float32, torch.float64):
        model = make_mlp([2, 2, 16, 2, 2], "tanh", seed=4, dtype=dtype)
        images = layer_images(model, LINES)
        assert len(images) == len(model)
        for position, image in enumerate(images):
            assert image.curves.shape == (*LINES.shape[:2], 2)
            assert image.curves.dtype == np.float64
            if image.width == 2:
                assert np.array_equal(image.curves, activations(model, position + 1, LINES))
                assert image.basis is None and image.mean is None and image.explained == 1.0


def test_one_wide_layers_are_padded_with_zeros():
    model = make_mlp([2, 1, 3], "sigmoid", seed=1)
    image = layer_images(model, LINES)[1]
    assert image.width == 1 and image.basis is None and image.explained == 1.0
    assert np.array_equal(image.curves[..., 0], activations(model, 2, LINES)[..., 0])
    assert not image.curves[..., 1].any()


def test_pca_projection_is_orthonormal_and_never_magnifies():
    model = make_mlp([2, 16, 64, 64, 2], "tanh", seed=9)
    images = layer_images(model, LINES)
    rng = np.random.default_rng(0)
    for position, image in enumerate(images):
        assert 0.0 <= image.explained <= 1.0
        if image.width <= 2:
            continue
        basis, mean = image.basis, image.mean
        assert basis.shape == (image.width, 2) and mean.shape == (image.width,)
        np.testing.assert_allclose(basis.T @ basis, np.eye(2), atol=1e-13)
        acts = activations(model, position + 1, LINES).reshape(-1, image.width)
        np.testing.assert_allclose(acts.mean(axis=0), mean, rtol=1e-12, atol=1e-14)
        curves = image.curves.reshape(-1, 2)
        np.testing.assert_allclose(curves, (acts - mean) @ basis, rtol=1e-12, atol=1e-12)
        pairs = rng.integers(0, len(acts), size=(500, 2))
        original = np.linalg.norm(acts[pairs[:, 0]] - acts[pairs[:, 1]], axis=1)
        shown = np.linalg.norm(curves[pairs[:, 0]] - curves[pairs[:, 1]], axis=1)
        assert np.all(shown <= original * (1 + 1e-12) + 1e-15)


def test_pca_preserves_distances_in_the_principal_plane():
    # The first Linear layer of a 2-input network is affine: its image is a plane in R^16,
    # which PCA finds, so the view shows it without any distortion.
    model = make_mlp([2, 16, 16, 2], "relu", seed=6)
    first = layer_images(model, LINES)[0]
    assert first.width == 16
    assert first.explained == pytest.approx(1.0, abs=1e-12)
    acts = activations(model, 1, LINES).reshape(-1, 16)
    curves = first.curves.reshape(-1, 2)
    for i, j in itertools.combinations(range(0, len(acts), 13), 2):
        np.testing.assert_allclose(
            np.linalg.norm(curves[i] - curves[j]), np.linalg.norm(acts[i] - acts[j]), rtol=1e-10
        )


def test_principal_plane_explained_variance():
    rng = np.random.default_rng(3)
    flat = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 7)) + rng.normal(size=7)
    basis, _, explained = principal_plane(flat)
    assert explained == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(basis.T @ basis, np.eye(2), atol=1e-13)
    # Isotropic noise in 10 dimensions: about 2/10 of the variance lies in any plane.
    cloud = rng.normal(size=(5000, 10))
    _, _, explained = principal_plane(cloud)
    assert 0.2 < explained < 0.3
    # Anisotropic: variances 9, 4, 1, 1 -> the top plane holds 13/15.
    scaled = rng.normal(size=(20000, 4)) * np.array([3.0, 2.0, 1.0, 1.0])
    basis, _, explained = principal_plane(scaled)
    assert explained == pytest.approx(13 / 15, abs=0.01)
    assert abs(basis[0, 0]) > 0.99 and abs(basis[1, 1]) > 0.99
    assert np.all(basis[np.abs(basis).argmax(axis=0), [0, 1]] > 0)  # the sign convention
    # Constant data and non-finite rows.
    _, _, explained = principal_plane(np.ones((10, 5)))
    assert explained == 1.0
    holes = flat.copy()
    holes[::3] = np.nan
    basis_h, mean_h, explained_h = principal_plane(holes)
    assert np.all(np.isfinite(basis_h)) and explained_h == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(mean_h, flat[np.arange(200) % 3 != 0].mean(axis=0))


def test_other_projections():
    model = make_mlp([2, 16, 16, 2], "tanh", seed=8)
    pca = layer_images(model, LINES)
    coordinates = layer_images(model, LINES, projection="coordinates")
    acts = activations(model, 2, LINES)
    assert np.array_equal(coordinates[1].curves, acts[..., :2])
    assert coordinates[1].mean is None and np.array_equal(coordinates[1].basis, np.eye(16, 2))
    assert 0.0 <= coordinates[1].explained <= pca[1].explained + 1e-12  # PCA is optimal
    # Reusing the bases of an earlier call (another network of the same shape, e.g. later in
    # training) keeps one view: same basis, same centre.
    other = make_mlp([2, 16, 16, 2], "tanh", seed=9)
    again = layer_images(other, LINES, projection=pca)
    for old, new in zip(pca, again, strict=True):
        if old.width > 2:
            assert np.array_equal(old.basis, new.basis) and np.array_equal(old.mean, new.mean)
            assert 0.0 <= new.explained <= 1.0
    shown = activations(other, 2, LINES) - pca[1].mean
    np.testing.assert_allclose(again[1].curves, shown @ pca[1].basis, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="projection"):
        layer_images(model, LINES, projection="tsne")
    with pytest.raises(ValueError, match="do not match"):
        layer_images(make_mlp([2, 8, 2]), LINES, projection=pca)


@pytest.mark.parametrize("units", [(2, 3), (5, 0), [1, 7], (np.int64(3), np.int32(4))])
def test_unit_pairs_show_exactly_those_units_through_an_orthonormal_basis(units):
    model = make_mlp([2, 16, 8, 2], "tanh", seed=12)
    i, j = (int(k) for k in units)
    images = layer_images(model, LINES, projection=units)
    for position, image in enumerate(images):
        acts = activations(model, position + 1, LINES)
        if image.width <= 2:
            assert image.units is None and image.basis is None
            assert np.array_equal(image.curves, acts)
            continue
        assert image.units == (i, j) and image.mean is None  # uncentred
        # Exactly the two columns (indexing, no rounding), seen through basis columns e_i, e_j.
        assert np.array_equal(image.curves, acts[..., [i, j]])
        assert np.array_equal(image.basis, np.eye(image.width)[:, [i, j]])
        assert np.array_equal(image.basis.T @ image.basis, np.eye(2))
        flat = acts.reshape(-1, image.width)
        centred = flat - flat.mean(axis=0)
        expected = np.square(centred[:, [i, j]]).sum() / np.square(centred).sum()
        assert image.explained == pytest.approx(expected, rel=1e-9)


def test_coordinates_are_the_unit_pair_0_1():
    model = make_mlp([2, 16, 16, 2], "relu", seed=3)
    named = layer_images(model, LINES, projection="coordinates")
    pair = layer_images(model, LINES, projection=(0, 1))
    for a, b in zip(named, pair, strict=True):
        assert np.array_equal(a.curves, b.curves) and a.units == b.units
        assert a.explained == b.explained


def test_a_unit_pair_ignores_overflow_in_units_it_does_not_show():
    # A product with the 0/1 basis would turn the shown units into NaN (inf * 0); indexing not.
    model = nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 2)).double()
    with torch.no_grad():
        model[0].weight[0] = 1e308
        model[0].weight[0, 1] = 0.0
    image = layer_images(model, LINES, projection=(1, 2))[0]
    assert not np.isfinite(activations(model, 1, LINES)[..., 0]).all()
    assert np.isfinite(image.curves).all()


def test_unit_pairs_are_reused_from_earlier_images():
    model = make_mlp([2, 16, 16, 2], "tanh", seed=8)
    first = layer_images(model, LINES, projection=(4, 9))
    other = make_mlp([2, 16, 16, 2], "tanh", seed=9)
    again = layer_images(other, LINES, projection=first)
    assert [image.units for image in again] == [(4, 9)] * 4 + [None]
    assert np.array_equal(again[1].curves, activations(other, 2, LINES)[..., [4, 9]])


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ((3, 3), r"projection \(3, 3\): choose two different units"),
        ((-1, 2), r"numbered from 0"),
        ((2, 9), r"layer 3, Linear 16→8, has 8 units \(0 to 7\).*pick units below 8"),
        ((1.0, 2), r"a unit pair is two integers"),
        ((True, 2), r"a unit pair is two integers"),
        ((1, 2, 3), r"a unit pair is two integers"),
        ((), r"previous layer images do not match"),
    ],
)
def test_bad_unit_pairs_are_refused_with_a_clear_message(units, message):
    model = make_mlp([2, 16, 8, 2], "tanh", seed=1)
    with pytest.raises(ValueError, match=message) as info:
        layer_images(model, LINES, projection=units)
    assert not isinstance(info.value, LayerError)


def test_unit_pairs_only_need_to_exist_in_layers_wider_than_2():
    model = make_mlp([2, 2, 16, 2], "tanh", seed=2)  # the 2-wide layers are shown directly
    images = layer_images(model, LINES, projection=(14, 15))
    assert [image.units for image in images] == [None, None, (14, 15), (14, 15), None]


@pytest.mark.parametrize("projection", ["pca", (3, 1)])
def test_the_probe_path_is_the_projected_activations(projection):
    model = make_mlp([3, 16, 2, 8, 2], "tanh", seed=13, dtype=torch.float64)
    net = TorchMap(model, "net", 3, 2)
    plane = SliceMap(net, [0.1, -0.2, 0.3], [1.0, 0.0, 0.5], [0.0, 1.0, 0.0])
    lines = plane.lift(LINES.reshape(-1, 2)).reshape(*LINES.shape[:2], 3)
    images = layer_images(model, lines, projection=projection)
    rng = np.random.default_rng(5)
    points = plane.lift(rng.uniform(-2, 2, size=(9, 2)))
    path = layer_path(model, points, images)
    assert path.shape == (len(images), 9, 2) and not path.flags.writeable
    x = torch.from_numpy(points)
    with torch.no_grad():  # the activations straight from torch, layer by layer
        for layer, image, seen in zip(model, images, path, strict=True):
            x = layer(x)
            acts = x.numpy()
            if image.width <= 2:
                expected = acts
            elif image.units is not None:
                expected = acts[:, list(image.units)]
            else:
                expected = (acts - image.mean) @ image.basis
            np.testing.assert_allclose(seen, expected, rtol=1e-12, atol=1e-12)
    # A point of the grid lands where the grid's image has it, in every layer.
    on_grid = layer_path(model, lines[3, 5], images)
    np.testing.assert_allclose(on_grid, [image.curves[3, 5] for image in images], atol=1e-12)


def test_the_probe_path_refuses_images_of_another_network():
    images = layer_images(make_mlp([2, 8, 2]), LINES)
    with pytest.raises(ValueError, match="do not match"):
        layer_path(make_mlp([2, 16, 2]), np.zeros((1, 2)), images)
    assert layer_path(nn.Sequential(), np.zeros((5, 2)), []).shape == (0, 5, 2)


@pytest.mark.parametrize("activation", ["tanh", "relu", "softplus"])
def test_a_sliced_network_is_factored_through_its_plane(activation):
    model = mlp([3, 16, 16, 2], activation, seed=4)
    base, u, v = np.array([0.2, -0.4, 1.0]), np.array([1.0, 0.5, 0.0]), np.array([0.0, 1.0, -2.0])
    plane = SliceMap(TorchMap(model, "net", 3, 2), base, u, v)
    st = np.array([0.3, -0.7])
    factors = factorize(model, plane.lift(st)[0], plane.directions)
    first = factors[0]
    assert (first.kind, first.label, first.index) == ("slice", "slice [u v]", -1)
    assert first.shape == (3, 2) and not first.matrix.flags.writeable
    assert np.array_equal(first.matrix, np.column_stack([u, v]))
    assert [f.index for f in factors[1:]] == list(range(5))
    # The Jacobian of the slice map by autograd: d/d(s, t) of model(b + s·u + t·v).
    lift = torch.from_numpy(np.column_stack([u, v]))
    jac = torch.autograd.functional.jacobian(
        lambda p: model(torch.from_numpy(base) + lift @ p), torch.from_numpy(st)
    ).numpy()
    product = chain(factors[1:], 3) @ first.matrix
    np.testing.assert_allclose(product, jac, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(factors[-1].product, jac, rtol=1e-12, atol=1e-14)
    _, shown = plane.evaluate_with_jacobian(st[None])
    np.testing.assert_allclose(factors[-1].product, shown[0], rtol=1e-12, atol=1e-14)
    # σ so far: of the (width, 2) products J_i ⋯ J_1 · [u v], ending with the slice's σ.
    for factor in factors:
        assert factor.product.shape == (factor.shape[0], 2)
        expected = np.linalg.svd(factor.product, compute_uv=False)
        np.testing.assert_allclose(factor.product_singular_values, expected, rtol=1e-12)
    np.testing.assert_allclose(
        factors[-1].product_singular_values, np.linalg.svd(jac, compute_uv=False), rtol=1e-12
    )
    # Without a slice the factors are the same, minus the first.
    plain = factorize(model, plane.lift(st)[0])
    for a, b in zip(plain, factors[1:], strict=True):
        np.testing.assert_array_equal(a.matrix, b.matrix)


def test_slice_directions_must_fit_the_network():
    model = make_mlp([3, 4, 2])
    for bad in (np.eye(2), np.ones((3, 3)), np.full((3, 2), np.nan)):
        with pytest.raises(ValueError, match=r"directions must be a finite \(3, 2\) matrix"):
            factorize(model, np.zeros(3), bad)


def test_lines_must_match_the_input_width():
    with pytest.raises(ValueError, match="3 inputs"):
        layer_images(make_mlp([3, 4, 2]), LINES)


def test_overflowing_layers_give_nan_curves_not_errors():
    model = nn.Sequential(nn.Linear(2, 8, dtype=torch.float64), nn.Linear(8, 2))
    model = model.double()
    with torch.no_grad():
        model[0].weight[0, 0] = 1e308
    images = layer_images(model, LINES)
    assert not np.isfinite(images[0].curves).all()
    assert np.isfinite(images[0].basis).all() and 0.0 <= images[0].explained <= 1.0


# ----------------------------------------------------------------------------------------------
# Models that cannot be walked
# ----------------------------------------------------------------------------------------------


class MyLinear(nn.Linear):
    def forward(self, x):
        return 2 * super().forward(x)


class MyTanh(nn.Tanh):
    pass


class MyNet(nn.Sequential):
    pass


def _hooked(layer: nn.Module) -> nn.Module:
    layer.register_forward_hook(lambda module, args, out: out * 2)
    return layer


# case -> (model, where the message says the problem is, regex for why)
UNWALKABLE = {
    "dropout": (
        nn.Sequential(nn.Linear(2, 4), nn.Dropout(), nn.Linear(4, 2)),
        "layer '1' (Dropout)",
        "neither nn.Linear",
    ),
    "nested batchnorm": (
        nn.Sequential(nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4)), nn.Linear(4, 2)),
        "layer '0.1' (BatchNorm1d)",
        "activations .*Tanh",
    ),
    "linear subclass": (
        nn.Sequential(MyLinear(2, 2)),
        "layer '0' (MyLinear)",
        "subclass of nn.Linear",
    ),
    "tanh subclass": (
        nn.Sequential(nn.Linear(2, 2), MyTanh()),
        "layer '1' (MyTanh)",
        "subclass of nn.Tanh",
    ),
    "sequential subclass": (MyNet(nn.Linear(2, 2)), "the model (MyNet)", "nn.Sequential"),
    "hooked layer": (
        nn.Sequential(nn.Linear(2, 2), _hooked(nn.ReLU())),
        "layer '1' (ReLU)",
        "forward hooks",
    ),
    "hooked container": (
        nn.Sequential(_hooked(nn.Sequential(nn.Linear(2, 2))), nn.Tanh()),
        "layer '0' (Sequential)",
        "forward hooks",
    ),
    "flatten all": (
        nn.Sequential(nn.Linear(2, 2), nn.Flatten(0)),
        "layer '1' (Flatten)",
        "Flatten\\(0, -1\\)",
    ),
    "softmax": (
        nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1)),
        "layer '1' (Softmax)",
        "elementwise activations",
    ),
    "lone conv": (nn.Conv1d(1, 1, 1), "the model (Conv1d)", "neither"),
}


@pytest.mark.parametrize("case", sorted(UNWALKABLE))
def test_unwalkable_models_raise_layer_error_naming_the_layer(case):
    model, where, why = UNWALKABLE[case]
    pattern = re.escape(where) + ".*" + why
    with pytest.raises(LayerError, match=pattern):
        factorize(model, np.zeros(2))
    with pytest.raises(LayerError, match=pattern):
        layer_images(model, LINES)
    with pytest.raises(LayerError, match=pattern):
        layer_widths(model, 2)  # the app's cheap check refuses the same models
    # Exactly the models sequential_jacobian refuses to walk.
    assert sequential_jacobian(model, torch.zeros(3, 2)) is None


WALKABLE = [
    make_mlp([2, 4, 2], "gelu"),
    nn.Sequential(nn.Linear(2, 4), nn.ELU(), nn.SiLU(), nn.Flatten(), nn.Identity()),
    nn.Sequential(nn.Sequential(nn.Sequential(nn.Linear(2, 3)), nn.Softplus(beta=2.0))),
    nn.Tanh(),
    nn.Linear(2, 5),
]


@pytest.mark.parametrize("model", WALKABLE, ids=lambda m: type(m).__name__)
def test_walkable_models_are_those_sequential_jacobian_walks(model):
    assert sequential_jacobian(model, torch.zeros(3, 2)) is not None
    factors = factorize(model, np.array([0.3, -0.4]))
    assert len(layer_images(model, LINES)) == len(factors)


def test_a_layer_used_twice_is_a_factor_twice():
    """The walk follows the forward pass: a module repeated in a Sequential runs twice."""
    torch.manual_seed(0)
    shared = nn.Linear(2, 2).double()
    model = nn.Sequential(shared, nn.Tanh(), shared)
    point = np.array([0.3, -0.2])
    factors = factorize(model, point)
    assert [factor.name for factor in factors] == ["0", "1", "2"]
    np.testing.assert_allclose(factors[-1].product, autograd_jacobian_at(model, point), atol=1e-15)
    assert len(layer_images(model, LINES)) == 3
    assert sequential_jacobian(model, torch.zeros(3, 2, dtype=torch.float64)) is not None


def test_mismatched_widths_name_the_layer():
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(3, 2))
    with pytest.raises(
        LayerError, match=re.escape("'2' (Linear 3→2)") + ".*" + re.escape("tanh (4)")
    ):
        factorize(model, np.zeros(2))


def test_global_forward_hooks_make_every_model_unwalkable():
    handle = nn.modules.module.register_module_forward_hook(lambda module, args, out: out)
    try:
        with pytest.raises(LayerError, match="global forward hooks"):
            factorize(make_mlp([2, 4, 2]), np.zeros(2))
    finally:
        handle.remove()
    assert len(factorize(make_mlp([2, 4, 2]), np.zeros(2))) == 3


def test_layer_image_is_a_frozen_record():
    image = layer_images(make_mlp([2, 3, 2]), LINES)[0]
    assert isinstance(image, LayerImage)
    with pytest.raises(AttributeError):
        image.explained = 0.5  # type: ignore[misc]


def test_layer_widths_are_the_images_widths():
    model = make_mlp([2, 8, 6, 2], seed=1)
    widths = [image.width for image in layer_images(model, LINES)]
    assert layer_widths(model, 2) == widths == [8, 8, 6, 6, 2]
    with pytest.raises(ValueError, match="takes 2 inputs"):
        layer_widths(model, 3)


def test_layer_images_leave_the_callers_torch_threads_alone():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        layer_images(make_mlp([2, 16, 2], seed=0), LINES)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
