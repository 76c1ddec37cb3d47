"""Tests for jacviz.math.jacobian: the MLP walker, Jacobians of networks and maps, closed forms,
fields."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from jacviz.math.jacobian import (
    CHUNK_SIZE,
    HEATMAP_QUANTITIES,
    JacobianField,
    autograd_jacobian,
    determinant,
    sequential_jacobian,
    singular_values,
)
from jacviz.math.jacobian.walker import WalkRefused, activation_step, named_steps, plan

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    # threshold 1.0 so that both branches (log1p(exp) and identity) are hit at |x| ~ 1
    "softplus_beta2_thr1": lambda: nn.Softplus(beta=2.0, threshold=1.0),
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "elu": lambda: nn.ELU(alpha=0.7),
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "silu": nn.SiLU,
    "identity": nn.Identity,
}
SMOOTH = ["tanh", "sigmoid", "softplus", "gelu", "gelu_tanh", "silu", "identity"]
# (input dim, hidden widths, output dim): input dims 2 and 3, outputs 1, 2 and 5, depths 1-3.
SHAPES = [(2, (8,), 1), (2, (16, 16), 2), (3, (32, 8, 4), 5), (3, (16,), 2), (2, (8, 8, 8), 5)]


def make_mlp(
    n_in: int, widths: tuple[int, ...], n_out: int, act, seed: int = 0, dtype=torch.float64
) -> nn.Sequential:
    """An MLP with a nested Sequential and a Flatten in it, so that both get walked."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = n_in
    for hidden in widths:
        layers += [nn.Linear(width, hidden), act()]
        width = hidden
    inner = nn.Sequential(*layers[:2], nn.Flatten())
    return nn.Sequential(inner, *layers[2:], nn.Linear(width, n_out)).to(dtype)


def per_point(model, points: torch.Tensor) -> torch.Tensor:
    """Reference Jacobians, one point at a time, by torch.func.jacrev (reverse mode)."""
    return torch.func.vmap(torch.func.jacrev(lambda p: model(p[None])[0]))(points).detach()


def assert_close_jac(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    # atol relative to the largest entry: entries that are ~0 by cancellation (dead ReLUs, tiny
    # products) can only be compared to rounding of the larger terms they were summed from.
    expected_np = expected.detach().numpy()
    scale = float(np.max(np.abs(expected_np))) or 1.0
    np.testing.assert_allclose(
        actual.detach().numpy(), expected_np, rtol=rtol, atol=rtol * 1e-2 * scale
    )


def random_points(num: int, n: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 1.5 * torch.randn(num, n, generator=gen, dtype=dtype)


# ----------------------------------------------------------------------------------------------
# sequential_jacobian and autograd_jacobian
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}-{'-'.join(map(str, s[1]))}-{s[2]}")
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_jacobians_match_jacrev(act: str, shape) -> None:
    n_in, widths, n_out = shape
    model = make_mlp(n_in, widths, n_out, ACTIVATIONS[act])
    points = random_points(203, n_in)
    expected = per_point(model, points)
    with torch.no_grad():
        expected_values = model(points)

    result = sequential_jacobian(model, points, chunk_size=64)  # 203 = 3 x 64 + 11
    assert result is not None
    values, jac = result
    assert values.shape == (203, n_out) and jac.shape == (203, n_out, n_in)
    assert values.dtype == jac.dtype == torch.float64
    assert not values.requires_grad and not jac.requires_grad
    # same kernels as the model's forward, except numpy's tanh (<= 1.4 ulp, torch's 0.5 ulp)
    assert_close_jac(values, expected_values, rtol=1e-13)
    assert_close_jac(jac, expected, rtol=1e-10)

    ag_values, ag_jac = autograd_jacobian(model, points, chunk_size=50)
    np.testing.assert_allclose(ag_values.numpy(), expected_values.numpy(), rtol=1e-12)
    assert_close_jac(ag_jac, expected, rtol=1e-10)


def test_jacobians_match_autograd_functional_jacobian() -> None:
    model = make_mlp(3, (12, 7), 2, nn.Tanh)
    points = random_points(5, 3)
    _, jac = sequential_jacobian(model, points)
    _, ag_jac = autograd_jacobian(model, points)
    for i, point in enumerate(points):
        expected = torch.autograd.functional.jacobian(lambda p: model(p[None])[0], point)
        assert_close_jac(jac[i], expected, rtol=1e-10)
        assert_close_jac(ag_jac[i], expected, rtol=1e-10)


@pytest.mark.parametrize("act", [*SMOOTH, "relu", "leaky_relu", "elu"])
def test_jacobians_match_central_differences(act: str) -> None:
    model = make_mlp(2, (16, 16), 2, ACTIVATIONS[act], seed=3)
    points = random_points(64, 2, seed=4)
    _, jac = sequential_jacobian(model, points)
    h = 1e-6
    columns = []
    with torch.no_grad():
        for k in range(2):
            step = torch.zeros(2, dtype=torch.float64)
            step[k] = h
            columns.append((model(points + step) - model(points - step)) / (2 * h))
    fd = torch.stack(columns, dim=2)
    # Central differences in float64: rounding of f(x +- h) gives ~eps |f| / h (~1e-10 here) and
    # truncation h**2 |f'''| / 6 ~ 1e-12, so allow 100x the rounding bound (~1e-8, measured
    # errors <= 2e-10). A wrong derivative is off by O(|J|) ~ 1e-2. ReLU-like kinks: no
    # pre-activation of these seeded points lies within h of a kink (else this would fail).
    with torch.no_grad():
        f_scale = float(model(points).abs().max())
    tolerance = 100 * torch.finfo(torch.float64).eps * f_scale / h + 1e-11
    assert float((jac - fd).abs().max()) <= tolerance
    assert float((autograd_jacobian(model, points)[1] - fd).abs().max()) <= tolerance


def test_formula_map_autograd_matches_closed_form() -> None:
    def fn(p: torch.Tensor) -> torch.Tensor:
        x, y = p[:, 0], p[:, 1]
        return torch.stack([x * x * y, torch.sin(x) + y**3, torch.exp(x * y)], dim=1)

    points = random_points(100, 2)
    values, jac = autograd_jacobian(fn, points, chunk_size=33)
    x, y = points[:, 0], points[:, 1]
    expected = torch.stack(
        [
            torch.stack([2 * x * y, x * x], 1),
            torch.stack([torch.cos(x), 3 * y * y], 1),
            torch.stack([y * torch.exp(x * y), x * torch.exp(x * y)], 1),
        ],
        dim=1,
    )
    assert torch.allclose(values, fn(points), rtol=0, atol=0)
    assert torch.allclose(jac, expected, rtol=1e-13, atol=1e-13)


def test_autograd_jacobian_edge_cases() -> None:
    points = random_points(10, 2)
    # 1-D output reads as m == 1
    values, jac = autograd_jacobian(lambda p: (p**2).sum(1), points)
    assert values.shape == (10, 1) and jac.shape == (10, 1, 2)
    assert torch.allclose(jac[:, 0], 2 * points)
    # an output column that ignores the input, and a map that ignores it entirely
    _, jac = autograd_jacobian(lambda p: torch.stack([p[:, 0], torch.ones(len(p))], 1), points)
    assert torch.equal(jac[:, 1], torch.zeros(10, 2, dtype=torch.float64))
    _, jac = autograd_jacobian(lambda p: torch.ones(len(p), 3), points)
    assert torch.equal(jac, torch.zeros(10, 3, 2, dtype=torch.float64))
    # integer points become floats
    values, jac = autograd_jacobian(lambda p: 3 * p, torch.arange(6).reshape(3, 2))
    assert jac.dtype == torch.get_default_dtype()
    assert torch.equal(jac, 3 * torch.eye(2).expand(3, 2, 2))
    with pytest.raises(ValueError, match="chunk_size"):
        autograd_jacobian(lambda p: p, points, chunk_size=0)
    with pytest.raises(ValueError, match="shape"):
        autograd_jacobian(lambda p: p, torch.zeros(3))


def test_autograd_jacobian_under_no_grad_and_inference_mode_without_leaks() -> None:
    model = make_mlp(2, (8,), 2, nn.Tanh)
    points = random_points(20, 2)
    reference = autograd_jacobian(model, points)[1]
    with torch.no_grad():
        values, jac = autograd_jacobian(model, points)
    assert torch.equal(jac, reference)
    with torch.inference_mode():
        inference_points = points.clone()
        values, jac = autograd_jacobian(model, inference_points)
        _, seq_jac = sequential_jacobian(model, inference_points)
    assert torch.equal(jac, reference)
    assert_close_jac(seq_jac, reference, rtol=1e-10)
    assert all(p.grad is None for p in model.parameters())
    assert not values.requires_grad and not jac.requires_grad
    assert values.grad_fn is None and jac.grad_fn is None
    jac += 1  # normal tensors, not inference tensors: usable outside inference mode
    # the caller's points are not turned into leaves that require grad
    assert not points.requires_grad


class Doubler(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


class CustomSequential(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + 1


class CustomLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) ** 2


def _hooked() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    model[1].register_forward_hook(lambda module, args, out: out * 2)
    return model


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Sequential(nn.Linear(2, 4), Doubler(), nn.Linear(4, 2)),
        lambda: CustomSequential(nn.Linear(2, 2)),
        lambda: nn.Sequential(CustomLinear(2, 3), nn.Tanh()),
        lambda: nn.Sequential(nn.Unflatten(1, (1, 2)), nn.Conv1d(1, 2, 2), nn.Flatten()),
        lambda: nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 2)),
        lambda: nn.Sequential(nn.Linear(2, 4), nn.Flatten(0), nn.Linear(4, 2)),
        lambda: nn.Sequential(nn.Linear(2, 4), nn.Hardtanh(), nn.Linear(4, 2)),
        _hooked,
    ],
    ids=["custom-forward", "sequential-subclass", "linear-subclass", "conv", "dropout",
         "flatten-dim0", "unsupported-activation", "forward-hook"],
)  # fmt: skip
def test_unwalkable_models_return_none(make) -> None:
    model = make()
    points = random_points(7, 2, dtype=torch.float32)
    assert sequential_jacobian(model, points) is None
    if not any(isinstance(layer, nn.Flatten) and layer.start_dim == 0 for layer in model.modules()):
        # ... and the fallback handles them (Flatten(0) mixes rows: no per-point Jacobian)
        values, jac = autograd_jacobian(model, points)
        assert values.shape[0] == jac.shape[0] == 7


@pytest.mark.parametrize("act", sorted(set(ACTIVATIONS) - {"identity"}))
def test_walker_activation_derivatives_match_autograd(act: str) -> None:
    """The walker's public derivative is autograd's, kinks and both softplus branches included."""
    module = ACTIVATIONS[act]()
    step = activation_step(module)
    assert step is not None
    z = torch.linspace(-3.0, 3.0, 61, dtype=torch.float64).reshape(1, -1)  # hits 0 exactly
    leaf = z.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(module(leaf).sum(), leaf)
    y = module(z.clone())
    before = z.clone(), y.clone()
    np.testing.assert_allclose(step.derivative_at(z, y), expected, rtol=1e-15, atol=1e-15)
    assert torch.equal(z, before[0]) and torch.equal(y, before[1])


def test_walker_names_the_steps_and_refuses_with_reasons() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Identity()), nn.Linear(3, 1))
    named = named_steps(model)
    assert [(item.name, type(item.step).__name__) for item in named] == [
        ("0", "LinearStep"),
        ("1.0", "ActivationStep"),
        ("2", "LinearStep"),
    ]
    steps = plan(model)
    assert steps is not None and [type(s) for s in steps] == [type(i.step) for i in named]
    assert steps[0].weight_t.data_ptr() == model[0].weight.data_ptr()  # a view, no copy
    refused = nn.Sequential(nn.Linear(2, 3), nn.Hardtanh())
    assert plan(refused) is None
    with pytest.raises(WalkRefused, match=r"layer '1' \(Hardtanh\).*elementwise activations"):
        named_steps(refused)


def test_chunking_is_invisible() -> None:
    model = make_mlp(3, (16, 16), 5, nn.Tanh)
    points = random_points(300, 3)
    values, jac = sequential_jacobian(model, points, chunk_size=300)
    for chunk_size in (1, 7, 64, 299, 4096):  # 300 is no multiple of 7, 64 or 299
        chunk_values, chunk_jac = sequential_jacobian(model, points, chunk_size=chunk_size)
        # Row i's arithmetic does not depend on the other rows of its chunk, but MKL picks GEMM
        # kernels (summation orders) by row count: measured differences are ~1 ulp of the
        # largest terms (2e-16 absolute here). Anything beyond a few ulps would be a bug.
        assert_close_jac(chunk_values, values, rtol=1e-13)
        assert_close_jac(chunk_jac, jac, rtol=1e-13)
        if chunk_size > 1:  # (one backward pass per point would only make the test slow)
            ag = autograd_jacobian(model, points, chunk_size=chunk_size)
            assert_close_jac(ag[1], jac, rtol=1e-12)


@pytest.mark.parametrize("num", [0, 1])
def test_empty_and_single_point(num: int) -> None:
    model = make_mlp(3, (8,), 2, nn.SiLU)
    points = random_points(num, 3)
    for method in (sequential_jacobian, autograd_jacobian):
        values, jac = method(model, points)
        assert values.shape == (num, 2) and jac.shape == (num, 2, 3)
    if num:
        assert_close_jac(sequential_jacobian(model, points)[1], per_point(model, points), 1e-10)


def test_affine_and_activation_only_chains() -> None:
    points = random_points(9, 2)
    lin1, lin2 = nn.Linear(2, 3).double(), nn.Linear(3, 2, bias=False).double()
    cases = {
        "linear": nn.Sequential(lin1),
        "bare-linear": lin1,
        "affine-chain": nn.Sequential(lin1, nn.Identity(), lin2),
        "empty": nn.Sequential(),
        "activation-first": nn.Sequential(nn.Tanh(), lin1, nn.ELU(), lin2, nn.Sigmoid()),
        "activations-only": nn.Sequential(nn.Softplus(), nn.GELU()),
    }
    for name, model in cases.items():
        before = points.clone()
        result = sequential_jacobian(model, points, chunk_size=4)
        assert result is not None, name
        values, jac = result
        assert torch.equal(points, before), f"{name}: modified the caller's points"
        with torch.no_grad():
            np.testing.assert_allclose(values.numpy(), model(points).numpy(), rtol=1e-14)
        assert_close_jac(jac, per_point(model, points), rtol=1e-12)


def test_dtype_follows_the_model() -> None:
    model = make_mlp(2, (8,), 2, nn.Tanh, dtype=torch.float32)
    values, jac = sequential_jacobian(model, random_points(5, 2, dtype=torch.float64))
    assert values.dtype == jac.dtype == torch.float32
    values, jac = sequential_jacobian(model, torch.tensor([[1, 2], [3, 4]]))
    assert jac.dtype == torch.float32
    mixed = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2).double())
    with pytest.raises(ValueError, match="mix"):
        sequential_jacobian(mixed, random_points(3, 2))
    with pytest.raises(ValueError, match="features"):
        sequential_jacobian(model, random_points(3, 3))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_models_use_torch_kernels(dtype) -> None:
    # numpy's tanh only serves float32/float64; other dtypes take torch.tanh_
    model = make_mlp(2, (16, 16), 2, nn.Tanh, dtype=torch.float64)
    points = random_points(50, 2)
    reference = sequential_jacobian(model, points)[1]
    values, jac = sequential_jacobian(model.to(dtype), points)
    assert values.dtype == jac.dtype == dtype
    assert float((jac.double() - reference).abs().max()) < 3e-2 * float(reference.abs().max())


def test_float32_tanh_mlp_is_as_accurate_as_autograd() -> None:
    """The app's case: a float32 2-64-64-64-2 tanh MLP, against float64 jacrev."""
    model = make_mlp(2, (64, 64, 64), 2, nn.Tanh, dtype=torch.float32)
    points = random_points(3000, 2, dtype=torch.float32)
    jac = sequential_jacobian(model, points)[1].double()
    ag_jac = autograd_jacobian(model, points)[1].double()
    reference = per_point(model.double(), points.double())
    ours = float((jac - reference).abs().max())
    theirs = float((ag_jac - reference).abs().max())
    # float32 rounding of sums of 64 terms: ~1e-7 of the entries' scale for both methods
    assert ours <= 2 * theirs + 1e-8
    assert ours <= 1e-6 * float(reference.abs().max())


# ----------------------------------------------------------------------------------------------
# determinant and singular_values
# ----------------------------------------------------------------------------------------------


def rotation(theta: float) -> np.ndarray:
    return np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])


def exact_det(matrix: np.ndarray) -> Fraction:
    a, b, c, d = (Fraction(float(v)) for v in matrix.ravel())
    return a * d - b * c


def exact_gram_det(matrix: np.ndarray) -> Fraction:
    """sigma_1**2 sigma_2**2 of an (m, 2) matrix, exactly (sum of squared 2x2 minors)."""
    rows = [(Fraction(float(u)), Fraction(float(v))) for u, v in matrix]
    return sum(
        (rows[i][0] * rows[j][1] - rows[j][0] * rows[i][1]) ** 2
        for i in range(len(rows))
        for j in range(i + 1, len(rows))
    )


@pytest.mark.parametrize("m", [2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_singular_values_match_numpy_on_random_matrices(m: int, dtype) -> None:
    rng = np.random.default_rng(m)
    jac = rng.normal(size=(500, m, 2)).astype(dtype)
    sv = singular_values(jac)
    expected = np.linalg.svd(jac.astype(np.float64), compute_uv=False)
    assert sv.shape == (500, 2) and sv.dtype == np.float64
    np.testing.assert_allclose(sv, expected, rtol=1e-12)
    if m == 2:
        det = determinant(jac)
        assert det.dtype == np.float64
        np.testing.assert_allclose(det, np.linalg.det(jac.astype(np.float64)), rtol=1e-12)


def test_float32_input_is_exact_in_float64() -> None:
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(200, 2, 2)).astype(np.float32)
    det = determinant(jac)
    # products of float32 are exact in float64: one rounding, so the correctly rounded result
    assert all(det[i] == float(exact_det(jac[i].astype(np.float64))) for i in range(200))
    # float64 copies of float32 values take the same route (and give the same bits)
    for m in (2, 3):
        tall = rng.normal(size=(200, m, 2)).astype(np.float32)
        np.testing.assert_array_equal(
            singular_values(tall.astype(np.float64)), singular_values(tall)
        )
    np.testing.assert_array_equal(determinant(jac.astype(np.float64)), det)


@pytest.mark.parametrize("k", range(13))
def test_near_singular_2x2_keeps_sigma2_relative_accuracy(k: int) -> None:
    rng = np.random.default_rng(k)
    mats = np.stack(
        [
            rotation(rng.uniform(0, 2 * np.pi))
            @ np.diag([1.0, 10.0**-k])
            @ rotation(rng.uniform(0, 2 * np.pi))
            for _ in range(40)
        ]
    )
    sv = singular_values(mats)
    det = determinant(mats)
    numpy_sv = np.linalg.svd(mats, compute_uv=False)
    for i, mat in enumerate(mats):
        # Reference: the exact determinant of the stored float64 matrix and numpy's sigma_1
        # (well conditioned). numpy's own sigma_2 is only accurate to ~eps * sigma_1 absolute,
        # i.e. ~1e-4 relative at k = 12, so it cannot be the reference for sigma_2 there.
        det_ref = float(exact_det(mat))
        sigma2_ref = abs(det_ref) / numpy_sv[i, 0]
        assert abs(sv[i, 1] - sigma2_ref) <= 1e-9 * sigma2_ref
        assert abs(sv[i, 0] - numpy_sv[i, 0]) <= 1e-14 * numpy_sv[i, 0]
        assert abs(det[i] - det_ref) <= 1e-12 * abs(det_ref)
    # and against numpy within numpy's error bound (sigma_1 = 1 here)
    np.testing.assert_allclose(sv, numpy_sv, rtol=0, atol=1e-14)
    np.testing.assert_allclose(det, np.linalg.det(mats), rtol=0, atol=1e-14)


@pytest.mark.parametrize("m", [3, 5])
@pytest.mark.parametrize("k", [0, 4, 8, 12])
def test_near_rank_deficient_tall_matrices(m: int, k: int) -> None:
    rng = np.random.default_rng(10 * m + k)
    q, _ = np.linalg.qr(rng.normal(size=(40, m, 2)))
    mats = q @ np.diag([1.0, 10.0**-k]) @ rotation(0.3)
    sv = singular_values(mats)
    sigma1_np = np.linalg.svd(mats, compute_uv=False)[:, 0]
    for i, mat in enumerate(mats):
        sigma2_ref = math.sqrt(exact_gram_det(mat)) / sigma1_np[i]
        assert abs(sv[i, 1] - sigma2_ref) <= 1e-9 * sigma2_ref
        assert abs(sv[i, 0] - sigma1_np[i]) <= 1e-14 * sigma1_np[i]


@pytest.mark.parametrize("exponent", [498, -498, 996, -996])  # 2**498 ~ 1e150, 2**996 ~ 1e300
def test_badly_scaled_float64(exponent: int) -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(size=(100, 2, 2))
    base[0] = [[1.0, 2.0], [2.0, 4.0 + 1e-9]]  # nearly singular too
    base[1] = [[1.0, 1e-30], [1e-40, 1e-20]]  # wildly different entries in one matrix
    scale = 2.0**exponent  # exact scaling: the singular values scale exactly too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sv = singular_values(base * scale)
        det = determinant(base * scale)
    np.testing.assert_array_equal(sv, singular_values(base) * scale)
    if abs(exponent) < 500:
        np.testing.assert_array_equal(det, determinant(base) * scale**2)
    np.testing.assert_allclose(sv[0], [5.0 * scale, float(exact_det(base[0])) / 5.0 * scale])
    np.testing.assert_allclose(sv[1], [scale, 1e-20 * scale], rtol=1e-15)
    np.testing.assert_allclose(
        sv[2:], np.linalg.svd(base[2:] * scale, compute_uv=False), rtol=1e-12
    )


@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_decimal_scales_float64(scale: float) -> None:
    rng = np.random.default_rng(7)
    mats = rng.normal(size=(100, 2, 2)) * scale
    np.testing.assert_allclose(
        singular_values(mats), np.linalg.svd(mats, compute_uv=False), rtol=1e-12
    )
    np.testing.assert_allclose(determinant(mats), np.linalg.det(mats), rtol=1e-12)


def test_mixed_scales_in_one_matrix_and_extreme_determinants() -> None:
    mats = np.array(
        [
            [[1e150, 0.0], [0.0, 1e-150]],
            [[1e200, 1e200], [1e200, -1e200]],  # det = -2e400 overflows float64
            [[1e-200, 0.0], [0.0, 1e-200]],  # det = 1e-400 underflows
        ]
    )
    sv = singular_values(mats)
    np.testing.assert_allclose(sv[0], [1e150, 1e-150], rtol=1e-15)
    np.testing.assert_allclose(sv[1], [math.sqrt(2) * 1e200] * 2, rtol=1e-15)
    np.testing.assert_allclose(sv[2], [1e-200, 1e-200], rtol=1e-15)
    det = determinant(mats)
    assert det[0] == pytest.approx(1.0, rel=1e-15)
    assert det[1] == -np.inf and det[2] == 0.0
    field = JacobianField.from_arrays(np.zeros((3, 2)), mats)
    # log|det| from the singular values stays finite where det itself over/underflows
    np.testing.assert_allclose(
        field.log_abs_det, [0.0, math.log(2) + 400 * math.log(10), -400 * math.log(10)], atol=1e-12
    )


def test_badly_scaled_float32() -> None:
    rng = np.random.default_rng(6)
    for scale in (1e30, 1e-30, 1e37, 1e-37):
        jac = (rng.normal(size=(100, 3, 2)) * scale).astype(np.float32)
        expected = np.linalg.svd(jac.astype(np.float64), compute_uv=False)
        np.testing.assert_allclose(singular_values(jac), expected, rtol=1e-12)
        square = np.ascontiguousarray(jac[:, :2])
        np.testing.assert_allclose(
            singular_values(square),
            np.linalg.svd(square.astype(np.float64), compute_uv=False),
            rtol=1e-12,
        )


def test_zeros_rank_one_and_single_row() -> None:
    mats = np.array([[[0.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [2.0, 4.0]], [[3.0, 0.0], [0.0, 0.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sv = singular_values(mats)
        det = determinant(mats)
    np.testing.assert_array_equal(sv[:, 1], 0.0)
    np.testing.assert_allclose(sv[:, 0], [0.0, 5.0, 3.0], rtol=1e-15)
    np.testing.assert_array_equal(det, 0.0)
    rank_one = np.array([[[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]])  # m = 3
    np.testing.assert_allclose(singular_values(rank_one), [[math.sqrt(70), 0.0]], rtol=1e-15)
    row = np.array([[[3.0, 4.0]]])
    np.testing.assert_array_equal(singular_values(row), [[5.0]])


def test_nonfinite_matrices_give_nan_without_warnings() -> None:
    mats = np.array(
        [
            [[np.inf, 0.0], [0.0, 1.0]],
            [[np.nan, 1.0], [1.0, 1.0]],
            [[1.0, -np.inf], [np.inf, 1.0]],
            [[1.0, 2.0], [3.0, 4.0]],
        ]
    )
    for dtype in (np.float64, np.float32):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sv = singular_values(mats.astype(dtype))
            det = determinant(mats.astype(dtype))
        assert np.isnan(sv[:3]).all() and np.isnan(det[:3]).all()
        assert np.isfinite(sv[3]).all() and det[3] == pytest.approx(-2.0)


def test_input_validation_and_tensor_input() -> None:
    with pytest.raises(ValueError):
        determinant(np.zeros((3, 3, 2)))
    with pytest.raises(ValueError):
        singular_values(np.zeros((3, 2, 3)))
    with pytest.raises(ValueError):
        singular_values(np.zeros((2, 2)))
    with pytest.raises(TypeError):
        singular_values(np.zeros((3, 2, 2), dtype=complex))
    tensor = torch.tensor([[[3.0, 0.0], [0.0, -2.0]]], requires_grad=True)
    np.testing.assert_allclose(singular_values(tensor), [[3.0, 2.0]])
    readonly = np.array([[[3.0, 0.0], [0.0, -2.0]]], dtype=np.float32)
    readonly.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.from_numpy would warn on read-only arrays
        assert determinant(readonly)[0] == -6.0


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


@hypothesis_settings(max_examples=300, deadline=None)
@given(arrays(np.float64, (8, 2, 2), elements=finite), st.sampled_from([0, -400, 400]))
def test_singular_value_identities(base: np.ndarray, exponent: int) -> None:
    mats = base * 2.0**exponent  # entries up to ~1e126, or down into subnormals
    sv = singular_values(mats)
    assert (sv[:, 0] >= sv[:, 1]).all() and (sv[:, 1] >= 0).all()
    # against exact rational arithmetic on the stored entries: a few roundings apart, with an
    # absolute slack only for results below the float64 range
    det = np.array([float(exact_det(m)) for m in mats])
    frob_sq = np.array([float(sum(Fraction(float(v)) ** 2 for v in m.ravel())) for m in mats])
    np.testing.assert_allclose(sv[:, 0] * sv[:, 1], np.abs(det), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose((sv**2).sum(1), frob_sq, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(determinant(mats), det, rtol=1e-14, atol=1e-300)


@hypothesis_settings(max_examples=100, deadline=None)
@given(arrays(np.float32, (6, 4, 2), elements=st.floats(-1e4, 1e4, width=32)))
def test_singular_value_identities_tall_float32(mats: np.ndarray) -> None:
    sv = singular_values(mats)
    m64 = mats.astype(np.float64)
    gram = np.einsum("nij,nik->njk", m64, m64)
    assert (sv[:, 0] >= sv[:, 1]).all() and (sv[:, 1] >= 0).all()
    np.testing.assert_allclose((sv**2).sum(1), (m64**2).sum(axis=(1, 2)), rtol=1e-13)
    # sigma_1**2 sigma_2**2 = det(J^T J); evaluated naively here, so only up to its cancellation
    scale = (m64**2).sum(axis=(1, 2)) ** 2
    np.testing.assert_allclose(
        (sv[:, 0] * sv[:, 1]) ** 2, np.linalg.det(gram), rtol=1e-9, atol=1e-13 * scale.max()
    )


# ----------------------------------------------------------------------------------------------
# JacobianField
# ----------------------------------------------------------------------------------------------


def test_heatmap_quantity_keys() -> None:
    assert set(HEATMAP_QUANTITIES) == {"det", "logdet", "smax", "smin", "cond", "frob"}
    assert all(isinstance(label, str) and label for label in HEATMAP_QUANTITIES.values())
    assert CHUNK_SIZE == 2048


def test_field_of_a_linear_map() -> None:
    matrix = np.array([[2.0, 1.0], [0.0, 3.0]])
    points = random_points(50, 2).numpy()
    values = points @ matrix.T
    jac = np.broadcast_to(matrix, (50, 2, 2))
    field = JacobianField.from_arrays(values, jac)
    sigma = np.linalg.svd(matrix, compute_uv=False)
    expected = {
        "det": 6.0,
        "logdet": math.log(6.0),
        "smax": sigma[0],
        "smin": sigma[1],
        "cond": sigma[0] / sigma[1],
        "frob": math.sqrt(14.0),
    }
    for key, value in expected.items():
        q = field.quantity(key)
        assert q.shape == (50,) and q.dtype == np.float64
        np.testing.assert_allclose(q, value, rtol=1e-14)
        q[:] = 0  # a fresh writable copy
    np.testing.assert_allclose(field.quantity("smax"), sigma[0], rtol=1e-14)
    assert not field.nonfinite.any()
    np.testing.assert_array_equal(field.values, values)
    assert field.shape == (50, 2, 2)
    with pytest.raises(ValueError):
        field.values[0, 0] = 1.0  # read-only: fields are shared between threads
    with pytest.raises(KeyError):
        field.quantity("trace")


def test_field_from_network_tensors() -> None:
    model = make_mlp(2, (16,), 2, nn.Tanh, dtype=torch.float32)
    values, jac = sequential_jacobian(model, random_points(100, 2, dtype=torch.float32))
    field = JacobianField.from_arrays(values, jac)
    np.testing.assert_allclose(field.det, np.linalg.det(jac.double().numpy()), rtol=1e-12)
    np.testing.assert_allclose(
        field.singular_values,
        np.linalg.svd(jac.double().numpy(), compute_uv=False),
        rtol=1e-12,
    )


def test_nonfinite_points_are_flagged_without_warnings() -> None:
    values = np.ones((6, 2))
    jac = np.tile(np.array([[1.0, 2.0], [3.0, 4.0]]), (6, 1, 1))
    values[1, 0] = np.inf
    jac[2, 0, 1] = np.nan
    jac[3, 1, 1] = -np.inf
    values[4, 1] = np.nan
    jac[4, 0, 0] = np.inf
    for dtype in (np.float64, np.float32):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            field = JacobianField.from_arrays(values.astype(dtype), jac.astype(dtype))
            quantities = {key: field.quantity(key) for key in HEATMAP_QUANTITIES}
        np.testing.assert_array_equal(field.nonfinite, [False, True, True, True, True, False])
        assert np.isnan(field.values[1, 0]) and field.values[1, 1] == 1.0
        assert np.isnan(field.jacobian[2, 0, 1]) and field.jacobian[2, 0, 0] == 1.0
        assert np.isnan(field.jacobian[3, 1, 1]) and np.isnan(field.values[4, 1])
        assert np.isfinite(field.values[[0, 5]]).all() and np.isfinite(field.jacobian[[0, 5]]).all()
        for key, q in quantities.items():
            assert np.isnan(q[1:5]).all(), key
            assert np.isfinite(q[[0, 5]]).all(), key
        assert np.isnan(field.singular_values[1:5]).all()
    assert np.isinf(values[1, 0])  # the caller's arrays are untouched


def test_singular_jacobians_give_infinite_condition_and_log_det() -> None:
    jac = np.array([[[1.0, 2.0], [2.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        field = JacobianField.from_arrays(np.zeros((3, 2)), jac)
        cond = field.quantity("cond")
        logdet = field.quantity("logdet")
    assert cond[0] == np.inf and cond[1] == np.inf and cond[2] == 2.0
    assert logdet[0] == -np.inf and logdet[1] == -np.inf
    assert logdet[2] == pytest.approx(math.log(2.0))
    np.testing.assert_array_equal(field.quantity("det"), [0.0, 0.0, 2.0])
    assert field.quantity("frob")[1] == 0.0 and field.quantity("smax")[1] == 0.0


@pytest.mark.parametrize(("m", "n"), [(3, 2), (1, 2), (2, 3), (5, 3), (2, 1)])
def test_non_square_fields(m: int, n: int) -> None:
    rng = np.random.default_rng(m * 10 + n)
    jac = rng.normal(size=(20, m, n))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        field = JacobianField.from_arrays(rng.normal(size=(20, m)), jac)
    assert field.det is None and field.log_abs_det is None
    for key in ("det", "logdet"):
        with pytest.raises(ValueError, match="2x2"):
            field.quantity(key)
    sigma = np.linalg.svd(jac, compute_uv=False)
    k = min(m, n)
    assert field.singular_values.shape == (20, k)
    np.testing.assert_allclose(field.singular_values, sigma, rtol=1e-12)
    np.testing.assert_allclose(field.quantity("smax"), sigma[:, 0], rtol=1e-12)
    np.testing.assert_allclose(field.quantity("smin"), sigma[:, -1], rtol=1e-12)
    np.testing.assert_allclose(field.quantity("cond"), sigma[:, 0] / sigma[:, -1], rtol=1e-12)
    np.testing.assert_allclose(
        field.quantity("frob"), np.sqrt((jac**2).sum(axis=(1, 2))), rtol=1e-12
    )


def test_field_validation() -> None:
    with pytest.raises(ValueError):
        JacobianField.from_arrays(np.zeros((3, 2)), np.zeros((3, 3, 2)))
    with pytest.raises(ValueError):
        JacobianField.from_arrays(np.zeros((3, 0)), np.zeros((3, 0, 2)))
    empty = JacobianField.from_arrays(np.zeros((0, 2)), np.zeros((0, 2, 2)))
    assert all(empty.quantity(key).shape == (0,) for key in HEATMAP_QUANTITIES)


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "softplus", "sigmoid"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sequential_values_match_the_module_and_the_jacobian_walk(activation, dtype):
    from jacviz.math.jacobian import sequential_values
    from jacviz.nets.networks import make_mlp

    model = make_mlp([2, 16, 16, 3], activation, seed=1, dtype=dtype)
    points = torch.randn(5000, 2, dtype=dtype, generator=torch.Generator().manual_seed(0))
    before = points.clone()
    values = sequential_values(model, points, chunk_size=1024)
    assert torch.equal(points, before)  # never written to
    # numpy's tanh is within 1.4 ulp of torch's: relative 1e-6 (float32) / 1e-14 (float64).
    tolerance = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(values, model(points).detach(), rtol=tolerance, atol=tolerance)
    # The grid and the inspector see the same numbers: bit-identical to the tangent walk.
    walked, _ = sequential_jacobian(model, points, chunk_size=1024)
    assert torch.equal(values, walked)


def test_sequential_values_edge_cases():
    from jacviz.math.jacobian import sequential_values

    # An activation first must not overwrite the caller's points.
    model = nn.Sequential(nn.Tanh(), nn.Linear(2, 2, dtype=torch.float64))
    points = torch.full((3, 2), 2.0, dtype=torch.float64)
    out = sequential_values(model, points)
    assert torch.equal(points, torch.full((3, 2), 2.0, dtype=torch.float64))
    torch.testing.assert_close(out, model(points).detach(), rtol=1e-14, atol=0)
    assert sequential_values(nn.Sequential(nn.Identity()), points).data_ptr() != points.data_ptr()
    assert sequential_values(model, torch.zeros((0, 2), dtype=torch.float64)).shape == (0, 2)
    with pytest.raises(ValueError, match="expects 2 input features"):
        sequential_values(model, torch.zeros((3, 5), dtype=torch.float64))

    class Custom(nn.Module):
        def forward(self, x):
            return x

    assert sequential_values(nn.Sequential(Custom()), points) is None
