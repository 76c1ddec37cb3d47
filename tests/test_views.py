"""Slices, softmax, decision regions and output views: autograd, differences, closed forms."""

import re
import warnings

import numpy as np
import pytest
import torch
from numerics import central_differences

from jacviz.math.grid import Domain, sample_points, warp_grid
from jacviz.math.jacobian import autograd_jacobian
from jacviz.math.maps import FormulaMap, Map, TorchMap, jacobian_field
from jacviz.math.probe import probe
from jacviz.nets.networks import make_mlp
from jacviz.nets.views import (
    DecisionRegions,
    OutputView,
    ProbabilityMap,
    SliceMap,
    decision_regions,
    softmax,
)

RNG_SEED = 11


def network(widths=(5, 16, 16, 4), seed=3, name="net.pt"):
    """A float64 tanh MLP as a Map, and the torch function it computes."""
    model = make_mlp(list(widths), activation="tanh", seed=seed, dtype=torch.float64)
    return TorchMap(model, name, widths[0], widths[-1]), model


def formula():
    """``x, y, x*y`` as a Map, and the same function written in torch."""
    return FormulaMap.from_text("x, y, x*y"), lambda p: torch.stack(
        [p[:, 0], p[:, 1], p[:, 0] * p[:, 1]], dim=1
    )


# Each adapter as a pair (Map, torch function of the same composition), so every composition
# below has an autograd reference built independently of views.py's chain rule.


def sliced(pair, base, u, v, orthonormalize=False):
    inner, fn = pair
    view = SliceMap(inner, base, u, v, orthonormalize=orthonormalize)
    b, du, dv = (torch.from_numpy(np.array(a)) for a in (view.base, view.u, view.v))
    return view, lambda st: fn(b + st[:, :1] * du + st[:, 1:] * dv)


def probabilities(pair):
    inner, fn = pair
    return ProbabilityMap(inner), lambda x: torch.softmax(fn(x), dim=1)


def selected(pair, i, j):
    inner, fn = pair
    return OutputView(inner, f"logits({i},{j})"), lambda x: fn(x)[:, [i, j]]


def principal(pair, points):
    inner, fn = pair
    view = OutputView(inner, "pca", points)
    basis, center = torch.from_numpy(np.array(view.basis)), torch.from_numpy(np.array(view.center))
    return view, lambda x: (fn(x) - center) @ basis.T


def random_slice(n, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)


def plane_points(count=40, seed=RNG_SEED, scale=1.5):
    return np.random.default_rng(seed).uniform(-scale, scale, size=(count, 2))


def build(case):
    """The adapter compositions checked against autograd and finite differences."""
    net = network()
    grid5 = np.random.default_rng(5).normal(size=(200, 5))
    grid2 = sample_points(Domain(), 24)
    if case == "slice(net)":
        return sliced(net, *random_slice(5, 1))
    if case == "slice(net, orthonormal)":
        return sliced(net, *random_slice(5, 2), orthonormalize=True)
    if case == "softmax(net)":
        return probabilities(net)
    if case == "softmax(slice(net))":
        return probabilities(sliced(net, *random_slice(5, 3)))
    if case == "logits(1,3)(net)":
        return selected(net, 1, 3)
    if case == "pca(net)":
        return principal(net, grid5)
    if case == "pca(softmax(slice(net)))":
        inner = probabilities(sliced(net, *random_slice(5, 4), orthonormalize=True))
        return principal(inner, grid2)
    if case == "slice(formula)":
        return sliced(formula(), [0.3, -0.2], [1.0, 2.0], [-0.5, 0.7])
    if case == "softmax(formula)":
        return probabilities(formula())
    if case == "logits(2,0)(softmax(formula))":
        return selected(probabilities(formula()), 2, 0)
    if case == "pca(softmax(slice(formula)))":
        inner = probabilities(sliced(formula(), [0.1, 0.4], [1.0, 1.0], [0.0, -2.0]))
        return principal(inner, grid2)
    if case == "slice(pca(slice(net)))":
        inner = principal(sliced(net, *random_slice(5, 6)), grid2)
        return sliced(inner, [0.2, 0.1], [0.6, 0.8], [-0.8, 0.6])
    raise AssertionError(case)


CASES = [
    "slice(net)",
    "slice(net, orthonormal)",
    "softmax(net)",
    "softmax(slice(net))",
    "logits(1,3)(net)",
    "pca(net)",
    "pca(softmax(slice(net)))",
    "slice(formula)",
    "softmax(formula)",
    "logits(2,0)(softmax(formula))",
    "pca(softmax(slice(formula)))",
    "slice(pca(slice(net)))",
]


def inputs_for(map_, count=40):
    return np.random.default_rng(RNG_SEED).uniform(-1.5, 1.5, size=(count, map_.input_dim))


# ----------------------------------------------------------------------------------------------
# Every adapter and composition: a Map with the chain-rule Jacobian
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_adapters_are_maps_with_consistent_shapes(case):
    map_, _ = build(case)
    assert isinstance(map_, Map)
    points = inputs_for(map_)
    values, jacobian = map_.evaluate_with_jacobian(points)
    assert values.dtype == jacobian.dtype == np.float64
    assert values.shape == (len(points), map_.output_dim)
    assert jacobian.shape == (len(points), map_.output_dim, map_.input_dim)
    # evaluate() and evaluate_with_jacobian() take different torch paths for networks (module
    # forward vs forward tangents with numpy's tanh), so they agree to rounding, not bitwise.
    np.testing.assert_allclose(map_.evaluate(points), values, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case", CASES)
def test_jacobians_match_autograd_of_the_composed_function(case):
    map_, fn = build(case)
    points = inputs_for(map_)
    values, jacobian = map_.evaluate_with_jacobian(points)
    expected_values, expected = autograd_jacobian(fn, torch.from_numpy(points))
    np.testing.assert_allclose(values, expected_values.numpy(), rtol=1e-13, atol=1e-15)
    # Both sides apply the same chain rule in a different order of float64 operations, so they
    # agree to a few ulps of the entries; entries that are differences of nearly equal terms
    # (p_i (J_i - Σ p_k J_k)) are accurate to ulps of the Jacobian's scale, hence the atol.
    scale = float(np.abs(expected.numpy()).max())
    np.testing.assert_allclose(jacobian, expected.numpy(), rtol=1e-12, atol=1e-14 * scale)


@pytest.mark.parametrize("case", CASES)
def test_jacobians_match_central_differences(case):
    map_, _ = build(case)
    points = inputs_for(map_, count=20)
    _, jacobian = map_.evaluate_with_jacobian(points)
    # h = 1e-5 in float64: truncation error h²|f'''|/6 ≈ 2e-11·|f'''| and rounding
    # ≈ eps·|f|/h ≈ 2e-11·|f|. These smooth maps (tanh networks with default init, x*y, softmax)
    # have |f| and |f'''| of order 1-10 on the sampled points, so errors stay below 1e-9
    # (measured: at most 2e-10); 1e-7 leaves a wide margin for other BLAS/libm builds and still
    # catches any wrong Jacobian (a missing chain-rule factor errs by 1e-3 to 1).
    np.testing.assert_allclose(
        jacobian, central_differences(map_, points, 1e-5), rtol=1e-7, atol=1e-7
    )


def test_the_adapters_work_with_grids_probes_and_jacobian_fields():
    net, _ = network(widths=(6, 12, 5))
    slice_ = SliceMap(net)
    view = OutputView(ProbabilityMap(slice_), "pca", sample_points(Domain(), 16))
    grid = warp_grid(view, Domain(), lines=5, min_samples=9, max_samples=33)
    assert grid.images.shape[-1] == 2 and np.all(np.isfinite(grid.images))
    report = probe(view, (0.5, -0.25))
    assert report.map_name == (
        "top-2 principal components of softmax(slice of net.pt through 0 along e1, e2)"
    )
    assert report.jacobian.shape == (2, 2) and not report.warnings
    field = jacobian_field(ProbabilityMap(slice_), sample_points(Domain(), 8))
    assert np.all(np.isfinite(field.singular_values))


# ----------------------------------------------------------------------------------------------
# SliceMap
# ----------------------------------------------------------------------------------------------


def test_a_slice_evaluates_the_inner_map_at_the_lifted_points_exactly():
    map_, _ = formula()
    base, u, v = np.array([0.3, -0.2]), np.array([1.0, 2.0]), np.array([-0.5, 0.7])
    slice_ = SliceMap(map_, base, u, v)
    st = plane_points()
    lifted = base + st[:, :1] * u + st[:, 1:] * v
    np.testing.assert_array_equal(slice_.lift(st), lifted)
    x, y = lifted.T
    np.testing.assert_array_equal(slice_.evaluate(st), np.column_stack([x, y, x * y]))
    # J_inner · [u v] in closed form: rows (1, 0), (0, 1), (y, x) times [u v].
    _, jacobian = slice_.evaluate_with_jacobian(st)
    expected = np.stack(
        [
            np.broadcast_to([u[0], v[0]], (len(st), 2)),
            np.broadcast_to([u[1], v[1]], (len(st), 2)),
            np.column_stack([y * u[0] + x * u[1], y * v[0] + x * v[1]]),
        ],
        axis=1,
    )
    np.testing.assert_allclose(jacobian, expected, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("which", ["formula", "net"])
def test_the_default_slice_of_a_two_input_map_is_the_map_itself(which):
    map_ = formula()[0] if which == "formula" else network(widths=(2, 16, 3))[0]
    slice_ = SliceMap(map_)
    points = plane_points()
    np.testing.assert_array_equal(slice_.lift(points), points)
    np.testing.assert_array_equal(slice_.evaluate(points), map_.evaluate(points))
    for got, expected in zip(
        slice_.evaluate_with_jacobian(points), map_.evaluate_with_jacobian(points), strict=True
    ):
        np.testing.assert_array_equal(got, expected)


def test_the_default_slice_of_a_network_varies_its_first_two_inputs_at_the_origin():
    net, model = network()
    slice_ = SliceMap(net)
    np.testing.assert_array_equal(slice_.base, np.zeros(5))
    np.testing.assert_array_equal(slice_.directions, np.eye(5)[:, :2])
    points = plane_points()
    padded = np.column_stack([points, np.zeros((len(points), 3))])
    expected = model(torch.from_numpy(padded)).detach().numpy()
    np.testing.assert_allclose(slice_.evaluate(points), expected, rtol=1e-13, atol=1e-15)
    assert slice_.name == "slice of net.pt through 0 along e1, e2"
    assert (slice_.input_dim, slice_.output_dim) == (2, 4)


def test_orthonormalized_directions_span_the_same_plane_with_u_kept():
    net, _ = network()
    base, u, v = random_slice(5, 9)
    plain = SliceMap(net, base, u, v)
    ortho = SliceMap(net, base, u, v, orthonormalize=True)
    d = ortho.directions
    np.testing.assert_allclose(d.T @ d, np.eye(2), atol=1e-15)
    np.testing.assert_allclose(ortho.u, u / np.linalg.norm(u), rtol=1e-15)
    # Same plane: the plain directions are combinations of the orthonormal ones.
    np.testing.assert_allclose(d @ (d.T @ plain.directions), plain.directions, atol=1e-14)
    np.testing.assert_array_equal(plain.u, u)  # no orthonormalizing unless asked


def test_sigma_of_a_slice_is_stretch_per_unit_of_slice_coordinate():
    # The identity map sliced along u = 2 e1: one unit of s moves two units in the input, so
    # σmax = 2 although the map stretches nothing; orthonormalizing gives the map's own σ = 1.
    identity = FormulaMap.from_text("x, y")
    point = np.array([[0.3, 0.4]])
    stretched = jacobian_field(SliceMap(identity, u=[2.0, 0.0], v=[0.0, 1.0]), point)
    true = jacobian_field(
        SliceMap(identity, u=[2.0, 0.0], v=[0.0, 1.0], orthonormalize=True), point
    )
    np.testing.assert_allclose(stretched.singular_values, [[2.0, 1.0]], rtol=1e-15)
    np.testing.assert_allclose(true.singular_values, [[1.0, 1.0]], rtol=1e-15)


def test_slice_names_say_what_the_slice_is():
    net, _ = network()
    base, u, v = random_slice(5, 1)
    assert SliceMap(net, base, u, v).name == "slice of net.pt through b along u, v"
    assert (
        SliceMap(formula()[0], [0.5, 0.0], [1.0, 1.0], [0.0, 1.0]).name
        == "slice of x, y, x*y through (0.5, 0) along (1, 1), e2"
    )


def test_slice_vectors_are_read_only_copies():
    net, _ = network()
    u = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    slice_ = SliceMap(net, u=u)
    u[2] = 5.0
    assert slice_.u[2] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        slice_.u[0] = 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"u": [1.0, 0.0, 0.0]}, r"slice direction u has shape \(3,\), but net.pt takes 5 inputs"),
        ({"base": np.zeros((5, 1))}, r"slice base point b has shape \(5, 1\)"),
        ({"v": [0.0] * 5}, "slice direction v is the zero vector"),
        ({"u": [1.0, 2, 3, 4, 5], "v": [2.0, 4, 6, 8, 10]}, "parallel.*linearly independent"),
        ({"u": [1.0, 2, 3, 4, 5], "v": [-1.0, -2, -3, -4, -5]}, "parallel"),
        ({"u": [1.0, 0, 0, 0, 0], "v": [1.0, 1e-12, 0, 0, 0]}, "parallel"),
        ({"u": [1.0, np.nan, 0, 0, 0]}, "slice direction u has NaN or infinite coordinates"),
        ({"v": [0.0, np.inf, 0, 0, 0]}, "slice direction v has NaN or infinite coordinates"),
        ({"base": [0.0, 0, np.nan, 0, 0]}, "slice base point b has NaN or infinite"),
        ({"u": ["a", "b", "c", "d", "e"]}, "slice direction u must be a vector of 5 numbers"),
    ],
)
def test_bad_slices_are_refused_with_clear_messages(kwargs, message):
    net, _ = network()
    with pytest.raises(ValueError, match=message):
        SliceMap(net, **kwargs)


def test_nearly_parallel_but_independent_directions_are_accepted_and_huge_ones_do_not_overflow():
    net, _ = network()
    SliceMap(net, u=[1.0, 0, 0, 0, 0], v=[1.0, 1e-6, 0, 0, 0], orthonormalize=True)
    ortho = SliceMap(net, u=[1e200, 1e200, 0, 0, 0], v=[0, 1e-200, 0, 0, 0], orthonormalize=True)
    np.testing.assert_allclose(ortho.directions.T @ ortho.directions, np.eye(2), atol=1e-15)


def test_a_map_of_one_input_cannot_be_sliced():
    one, _ = network(widths=(1, 4, 2), name="line.pt")
    with pytest.raises(ValueError, match=r"line\.pt takes 1 input; a 2D slice needs at least 2"):
        SliceMap(one)


# ----------------------------------------------------------------------------------------------
# Softmax and ProbabilityMap
# ----------------------------------------------------------------------------------------------


def identity_logits(k=3):
    """The identity of R^k as a float64 network: the probability Jacobian is then softmax's own."""
    layer = torch.nn.Linear(k, k, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(k, dtype=torch.float64))
        layer.bias.zero_()
    return TorchMap(torch.nn.Sequential(layer), "identity", k, k)


def test_probabilities_sum_to_one_and_their_jacobian_rows_to_zero():
    probs = ProbabilityMap(network()[0])
    points = inputs_for(probs, count=100)
    p, jacobian = probs.evaluate_with_jacobian(points)
    assert np.all((p >= 0) & (p <= 1))
    # Sums of 4 numbers in [0, 1]: rounding of a few ulps of 1.
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    # The probabilities always sum to 1, so the sum of the Jacobian's rows vanishes, up to the
    # rounding of entries of size <= 0.05 here (measured 2e-17); a wrong formula gives ~1e-2.
    assert np.abs(jacobian).max() < 0.1
    np.testing.assert_allclose(jacobian.sum(axis=1), 0.0, atol=1e-15)


def test_the_softmax_jacobian_is_symmetric_with_the_ones_vector_in_its_kernel():
    probs = ProbabilityMap(identity_logits(4))
    logits = np.random.default_rng(2).normal(scale=3.0, size=(50, 4))
    p, jacobian = probs.evaluate_with_jacobian(logits)
    expected = p[:, :, None] * np.eye(4) - p[:, :, None] * p[:, None, :]
    # p_i (1 - p_i) against p_i - p_i²: the same number rounded differently, a few ulps apart.
    np.testing.assert_allclose(jacobian, expected, rtol=1e-14, atol=1e-17)
    np.testing.assert_allclose(jacobian, np.swapaxes(jacobian, 1, 2), atol=1e-17)
    # Adding a constant to every logit changes no probability: S · 1 = 0, up to the rounding
    # of a sum of 4 entries of size <= 1/4 (a few 1e-17 each).
    np.testing.assert_allclose(jacobian @ np.ones(4), 0.0, atol=1e-15)


def test_softmax_is_stable_at_logits_of_plus_minus_1000():
    logits = np.array(
        [[1000.0, -1000.0, 0.0], [1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]]
    )
    expected = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(softmax(logits), expected)
        probs = ProbabilityMap(FormulaMap.from_text("x + 1000, y + 1000, -1000"))
        p, jacobian = probs.evaluate_with_jacobian([0.0, 0.0])
    np.testing.assert_array_equal(p, [[0.5, 0.5, 0.0]])
    # (diag(p) - p pᵀ) · [[1, 0], [0, 1], [0, 0]], exactly.
    np.testing.assert_array_equal(jacobian, [[[0.25, -0.25], [-0.25, 0.25], [0.0, 0.0]]])


def test_a_non_finite_logit_makes_the_whole_probability_row_nan_without_warnings():
    probs = ProbabilityMap(FormulaMap.from_text("log(x), y, 0"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, jacobian = probs.evaluate_with_jacobian([[-1.0, 0.5], [0.0, 0.5], [1.0, 0.5]])
    assert np.all(np.isnan(p[:2])) and np.all(np.isnan(jacobian[:2]))
    assert np.all(np.isfinite(p[2])) and np.all(np.isfinite(jacobian[2]))


def test_probability_map_shape_and_name():
    probs = ProbabilityMap(network(name="mlp.safetensors")[0])
    assert probs.name == "softmax(mlp.safetensors)"
    assert (probs.input_dim, probs.output_dim) == (5, 4)
    with pytest.raises(ValueError, match="has 1 output; a softmax needs at least 2 logits"):
        ProbabilityMap(FormulaMap.from_text("x*y"))


# ----------------------------------------------------------------------------------------------
# Decision regions
# ----------------------------------------------------------------------------------------------


def test_decision_regions_of_a_linear_classifier_match_the_closed_form():
    # A square image over a square domain puts pixel centres on the diagonal x == y: ties.
    domain = Domain(-2.0, 2.0, -2.0, 2.0)
    columns = rows = 40
    regions = decision_regions(FormulaMap.from_text("x, y, 0"), domain, columns, rows)
    x, y = (c.reshape(rows, columns) for c in sample_points(domain, columns, rows).T)
    # argmax of (x, y, 0), ties to the lowest index (x == y happens on pixel centres here).
    assert np.any(x == y)
    classes = np.where((x >= y) & (x >= 0), 0, np.where(y >= 0, 1, 2))
    np.testing.assert_array_equal(regions.classes, classes)
    assert regions.classes.dtype.kind == "i" and regions.classes.shape == (rows, columns)
    top = np.maximum(np.maximum(x, y), 0.0)
    confidence = 1.0 / (np.exp(x - top) + np.exp(y - top) + np.exp(-top))
    np.testing.assert_allclose(regions.confidence, confidence, rtol=1e-15)
    # top-1 minus top-2 = max minus median of three numbers, both exact.
    np.testing.assert_array_equal(regions.margin, top - np.median([x, y, np.zeros_like(x)], 0))
    assert np.all(regions.margin >= 0)
    assert np.all((regions.confidence >= 1 / 3) & (regions.confidence <= 1))


def test_the_first_row_of_the_decision_image_is_at_ymin():
    regions = decision_regions(FormulaMap.from_text("-y, y"), Domain(), 4, 2)
    np.testing.assert_array_equal(regions.classes, [[0] * 4, [1] * 4])


def test_non_finite_logits_give_class_minus_one_and_nan_confidence():
    regions = decision_regions(FormulaMap.from_text("log(x), y, 0"), Domain(), 5, 3)
    x = sample_points(Domain(), 5, 3)[:, 0].reshape(3, 5)
    bad = x <= 0  # log of a negative number is NaN, log(0) = -inf
    np.testing.assert_array_equal(regions.classes[bad], -1)
    assert np.all(np.isnan(regions.confidence[bad])) and np.all(np.isnan(regions.margin[bad]))
    assert np.all(regions.classes[~bad] >= 0) and np.all(np.isfinite(regions.confidence[~bad]))


def test_decision_regions_from_large_logits_stay_finite():
    regions = DecisionRegions.from_logits([[1000.0, -1000.0, 0.0], [-1000.0, 0.0, 1000.0]])
    np.testing.assert_array_equal(regions.classes, [0, 2])
    np.testing.assert_array_equal(regions.confidence, [1.0, 1.0])
    np.testing.assert_array_equal(regions.margin, [1000.0, 1000.0])


def test_decision_regions_need_a_plane_and_two_logits():
    with pytest.raises(ValueError, match=r"takes 5 inputs.*SliceMap"):
        decision_regions(network()[0], Domain(), 8)
    with pytest.raises(ValueError, match="at least 2 logits"):
        DecisionRegions.from_logits(np.zeros((4, 1)))


# ----------------------------------------------------------------------------------------------
# OutputView
# ----------------------------------------------------------------------------------------------


def test_an_output_selection_picks_values_and_jacobian_rows_exactly():
    net, _ = network()
    view = OutputView(net, "logits(3, 1)")
    points = inputs_for(net)
    values, jacobian = net.evaluate_with_jacobian(points)
    got_values, got_jacobian = view.evaluate_with_jacobian(points)
    np.testing.assert_array_equal(got_values, values[:, [3, 1]])
    np.testing.assert_array_equal(got_jacobian, jacobian[:, [3, 1]])
    np.testing.assert_array_equal(view.basis, np.eye(4)[[3, 1]])
    assert view.kind == "logits(3,1)" and view.explained_variance_ratio is None
    assert view.name == "outputs 3, 1 of net.pt"
    assert (view.input_dim, view.output_dim) == (5, 2)


def test_pca_directions_are_orthonormal_deterministic_and_sign_fixed():
    inner = ProbabilityMap(SliceMap(network()[0], *random_slice(5, 8)))
    points = sample_points(Domain(), 32)
    view = OutputView(inner, "pca", points)
    basis = view.basis
    assert basis.shape == (2, 4)
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-15)
    # Largest-magnitude component of each direction is positive.
    assert np.all(basis[np.arange(2), np.argmax(np.abs(basis), axis=1)] > 0)
    np.testing.assert_array_equal(OutputView(inner, "pca", points).basis, basis)
    shuffled = np.random.default_rng(0).permutation(points)
    np.testing.assert_allclose(OutputView(inner, "pca", shuffled).basis, basis, atol=1e-12)
    ratio = view.explained_variance_ratio
    assert ratio.shape == (2,) and np.all((ratio >= 0) & (ratio <= 1)) and ratio.sum() <= 1
    assert ratio[0] >= ratio[1]
    np.testing.assert_allclose(view.center, inner.evaluate(points).mean(axis=0), rtol=1e-14)
    assert view.kind == "pca"
    assert view.name.startswith("top-2 principal components of softmax(slice of net.pt")


def test_pca_of_a_known_spread_finds_the_axes_and_their_variance():
    # Over a square grid, outputs (2x, y, 0) vary 4 times more along e1 than along e2.
    points = sample_points(Domain(), 20)
    view = OutputView(FormulaMap.from_text("2*x, y, 0"), "pca", points)
    np.testing.assert_allclose(view.basis, [[1, 0, 0], [0, 1, 0]], atol=1e-14)
    np.testing.assert_allclose(view.explained_variance_ratio, [0.8, 0.2], rtol=1e-13)
    # Negated outputs give the same directions (sign convention), so the picture is negated.
    flipped = OutputView(FormulaMap.from_text("-2*x, -y, 0"), "pca", points)
    np.testing.assert_allclose(flipped.basis, view.basis, atol=1e-14)
    np.testing.assert_allclose(flipped.evaluate(points), -view.evaluate(points), atol=1e-13)


def test_pca_of_planar_outputs_explains_all_variance_and_constant_outputs_lose_nothing():
    points = sample_points(Domain(), 10)
    planar = OutputView(FormulaMap.from_text("x, y, x + y"), "pca", points)
    np.testing.assert_allclose(planar.explained_variance_ratio.sum(), 1.0, rtol=1e-14)
    constant = OutputView(FormulaMap.from_text("1, 2"), "pca", points)
    np.testing.assert_array_equal(constant.explained_variance_ratio, [1.0, 0.0])
    np.testing.assert_allclose(constant.basis @ constant.basis.T, np.eye(2), atol=1e-15)


def test_output_views_never_magnify():
    inner = SliceMap(network()[0], *random_slice(5, 12))
    points = sample_points(Domain(), 12)
    for kind in ("pca", "logits(0,2)"):
        view = OutputView(inner, kind, points)
        assert np.all(
            jacobian_field(view, points).singular_values[:, 0]
            <= jacobian_field(inner, points).singular_values[:, 0] * (1 + 1e-12)
        )


def test_pca_skips_points_where_the_map_is_not_finite():
    map_ = FormulaMap.from_text("log(x), y, x")
    points = sample_points(Domain(), 10)
    view = OutputView(map_, "pca", points)
    right = points[points[:, 0] > 0]
    np.testing.assert_allclose(view.center, map_.evaluate(right).mean(axis=0), rtol=1e-14)
    with pytest.raises(ValueError, match="finite at 0 of the 3 points"):
        OutputView(map_, "pca", -np.ones((3, 2)))


@pytest.mark.parametrize(
    ("kind", "points", "message"),
    [
        ("logits(1,1)", None, "two different output indices from 0 to 3"),
        ("logits(0,4)", None, r"from 0 to 3 \(net.pt has 4 outputs\)"),
        ("softmax", None, "unknown output view 'softmax'"),
        ("pca", None, "needs the points"),
        ("pca", np.zeros((3, 2)), "expected points with 5 coordinates"),
    ],
)
def test_bad_output_views_are_refused(kind, points, message):
    with pytest.raises(ValueError, match=message):
        OutputView(network()[0], kind, points)


def test_an_output_view_needs_two_outputs():
    with pytest.raises(ValueError, match="has 1 output; an output view needs at least 2"):
        OutputView(FormulaMap.from_text("x*y"), "pca", np.zeros((3, 2)))


@pytest.mark.parametrize("which", ["base", "u", "v"])
def test_slice_vectors_beyond_the_domain_bound_are_refused(which):
    from jacviz.math.grid import MAX_BOUND

    network = TorchMap(make_mlp([3, 4, 2]), "net", 3, 2)
    vectors = {"base": [0.0, 0.0, 0.0], "u": [1.0, 0.0, 0.0], "v": [0.0, 1.0, 0.0]}
    vectors[which] = [0.0, 0.0, 1e308]
    with pytest.raises(ValueError, match=re.escape(f"beyond ±{MAX_BOUND:g}")):
        SliceMap(network, vectors["base"], vectors["u"], vectors["v"])
    vectors[which] = [0.0, 0.0, MAX_BOUND]  # at the bound: accepted, and finite everywhere
    plane = SliceMap(network, vectors["base"], vectors["u"], vectors["v"])
    assert np.isfinite(plane.evaluate(np.array([[MAX_BOUND, -MAX_BOUND]]))).all()
