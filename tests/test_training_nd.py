"""The trainer on d inputs and k classes: the output-side estimator against torch.func.jacrev.

For the 8×8 digits (64 inputs, 10 classes) the regularizer projects on the output side, vᵀJ,
and penalises the Jacobian with respect to the raw inputs, J · diag(s). Gradients are checked
against autograd of the textbook loss in float64 (to ~1e-12), the exact estimator against
jacrev, and the random one's mean and variance against their closed forms.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jacviz.nets.data import VectorDataset
from jacviz.nets.networks import make_mlp
from jacviz.nets.robustness import robust_accuracy
from jacviz.nets.trained import measure
from jacviz.nets.training import (
    TRAINABLE_ACTIVATIONS,
    TrainConfig,
    directions_count,
    jacobian_frobenius,
    projection_estimates,
    projection_side,
    run,
    train,
)
from jacviz.nets.training.penalty import Directions, FusedStep


def _jacobians(model, points):
    return torch.func.vmap(torch.func.jacrev(lambda p: model(p[None])[0]))(points)  # (B, k, d)


def _reference(model, points, labels, jr_lambda, scale, outputs=None, inputs=None):
    """CE + λ/B Σ_j ‖v_jᵀ J diag(s)‖² (outputs) or ‖J diag(s) u_j‖² (inputs), by autograd."""
    loss = F.cross_entropy(model(points), labels)
    jac = _jacobians(model, points) * scale  # create_graph: jacrev is differentiable
    batch = points.shape[0]
    if outputs is not None:
        v = outputs.view(-1, batch, jac.shape[1])
        term = (torch.einsum("bcd,jbc->jbd", jac, v) ** 2).sum()
    else:
        u = inputs.view(-1, batch, jac.shape[2])
        term = (torch.einsum("bcd,jbd->jbc", jac, u) ** 2).sum()
    return loss + jr_lambda * term / batch, term


@pytest.mark.parametrize("activation", TRAINABLE_ACTIVATIONS)
@pytest.mark.parametrize("side", ["output", "input"])
@pytest.mark.parametrize("scaled", [False, True])
def test_fused_gradients_on_either_side_match_autograd(activation, side, scaled):
    generator = torch.Generator().manual_seed(4)
    d, k, batch, directions = 12, 4, 9, 3
    model = make_mlp([d, 7, 5, k], activation, seed=3, dtype=torch.float64)
    points = torch.randn(batch, d, dtype=torch.float64, generator=generator)
    labels = torch.randint(0, k, (batch,), generator=generator)
    scale = torch.rand(d, dtype=torch.float64, generator=generator) + 0.5 if scaled else None
    step = FusedStep(
        model, activation, points, labels, batch, directions, 0.1, side=side, input_scale=scale
    )
    width = k if side == "output" else d
    rows = torch.randn(directions * batch, width, dtype=torch.float64, generator=generator)
    step.direction_rows.copy_(rows)
    with torch.no_grad():
        ce, term = step(torch.arange(batch), 0.37)
    fused = [p.grad.clone() for p in model.parameters()]
    s = torch.ones(d, dtype=torch.float64) if scale is None else scale
    kwargs = {"outputs": rows} if side == "output" else {"inputs": rows}
    loss, want_term = _reference(model, points, labels, 0.37, s, **kwargs)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    loss = loss + 0.1 / 2 * sum((w**2).sum() for w in weights)
    expected = torch.autograd.grad(loss, list(model.parameters()))
    # float64 throughout: agreement to ~1e-15 relative; 1e-11 leaves room for summation order.
    for got, want in zip(fused, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(ce, F.cross_entropy(model(points), labels), rtol=1e-13, atol=0)
    torch.testing.assert_close(term, want_term.detach(), rtol=1e-12, atol=0)


def test_the_cheaper_side_and_its_direction_counts():
    exact = TrainConfig(jr_lambda=0.1, estimator="exact")
    assert projection_side(64, 10) == "output" and directions_count(exact, 64, 10) == 10
    assert projection_side(2, 3) == "input" and directions_count(exact, 2, 3) == 2
    assert projection_side(3, 3) == "input" and directions_count(exact, 3, 3) == 3
    assert directions_count(exact, 64) == 64  # callers that do not name the outputs: input side
    assert directions_count(exact.replace(estimator="random", n_proj=2), 64, 10) == 2
    assert directions_count(exact.replace(jr_lambda=0.0), 64, 10) == 0


def test_exact_output_side_is_the_raw_frobenius_norm_for_64_inputs_and_10_classes():
    generator = torch.Generator().manual_seed(0)
    model = make_mlp([64, 32, 10], "tanh", seed=1, dtype=torch.float64)
    batch = 7
    points = torch.randn(batch, 64, dtype=torch.float64, generator=generator)
    scale = torch.rand(64, dtype=torch.float64, generator=generator) * 3 + 0.1
    config = TrainConfig(jr_lambda=1.0, estimator="exact")
    count = directions_count(config, 64, 10)
    step = FusedStep(
        model, "tanh", points, torch.zeros(batch, dtype=torch.long), batch, count,
        side="output", input_scale=scale,
    )  # fmt: skip
    Directions(config, step.direction_rows, batch, torch.Generator())
    with torch.no_grad():
        _, term = step(torch.arange(batch), 1.0)
    jac = (_jacobians(model, points) * scale).detach()
    want = float((jac**2).sum()) / batch
    assert float(term) / batch == pytest.approx(want, rel=1e-12)
    measured = jacobian_frobenius(model, points.numpy(), scale.numpy())
    np.testing.assert_allclose(measured, jac.pow(2).sum(dim=(1, 2)).sqrt().numpy(), rtol=1e-12)


def test_random_output_projections_are_unbiased_with_the_closed_form_variance():
    # v uniform on the sphere of R^k scaled by √(k/n): E = tr A, Var = 2k/(k+2) (tr A² − (tr A)²/k)
    # / n with A = JJᵀ (k × k), per point; the fused step's own draws for a 64-input, 10-class
    # network, summed over a batch of 3 points (independent directions: the variances add).
    model = make_mlp([64, 24, 10], "tanh", seed=2, dtype=torch.float64)
    points = torch.randn(3, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    n_proj, draws = 2, 800
    config = TrainConfig(jr_lambda=1.0, estimator="random", n_proj=n_proj)
    step = FusedStep(
        model, "tanh", points, torch.zeros(3, dtype=torch.long), 3, n_proj, side="output"
    )
    directions = Directions(config, step.direction_rows, 3, torch.Generator().manual_seed(7))
    jac = _jacobians(model, points).detach()
    gram = jac @ jac.transpose(1, 2)
    trace = gram.diagonal(dim1=1, dim2=2).sum(1)
    variance = 2 * 10 / 12 * ((gram**2).sum((1, 2)) - trace**2 / 10) / n_proj
    estimates = np.empty(draws)
    everyone = torch.arange(3)
    with torch.no_grad():
        for draw in range(draws):
            directions.draw()
            estimates[draw] = float(step(everyone, 1.0)[1])
    total, spread = float(trace.sum()), float(variance.sum())
    assert abs(estimates.mean() - total) <= 4 * np.sqrt(spread / draws)
    assert estimates.var() == pytest.approx(spread, rel=0.25)  # ~4 standard errors at 800
    # projection_estimates (the lab's spread view) uses the same side and sampler.
    exact, sampled = projection_estimates(jac.numpy(), n_proj, 4000, seed=3)
    np.testing.assert_allclose(exact, trace.numpy(), rtol=1e-12)
    assert np.all(np.abs(sampled.mean(axis=0) - exact) <= 4 * np.sqrt(variance.numpy() / 4000))
    np.testing.assert_allclose(sampled.var(axis=0), variance.numpy(), rtol=0.15)


class _Blobs:
    """Four Gaussian clusters in 6 dimensions, standardized, with a per-input scale."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(4, 6)) * 3
        labels = np.repeat(np.arange(4), 30)
        points = centres[labels] + rng.normal(size=(120, 6))
        test = np.zeros(120, dtype=bool)
        test[::4] = True
        self.train_points, self.test_points = points[~test], points[test]
        self.train_labels, self.test_labels = labels[~test], labels[test]
        self.n_classes = 4
        self.input_scale = np.linspace(0.5, 2.0, 6)


def test_training_on_d_inputs_is_deterministic_and_measures_the_scaled_jacobian():
    data = _Blobs()
    config = TrainConfig(hidden=(16,), steps=60, jr_lambda=0.05, batch_size=32)
    first = run(data, config, snapshot_every=60)
    again = list(train(data, config, snapshot_every=20))[-1]
    for name, tensor in first.state.items():
        assert torch.equal(tensor, again.state[name])
    model = make_mlp([6, 16, 4], "tanh", seed=0, dtype=torch.float32)
    model.load_state_dict(first.state)
    measured = jacobian_frobenius(model, data.test_points, data.input_scale).mean()
    assert first.test_frobenius == pytest.approx(float(measured), rel=1e-6)
    plain = run(data, config.replace(jr_lambda=0.0), snapshot_every=60)
    assert first.test_frobenius < plain.test_frobenius


def test_measured_pgd_in_d_dimensions_is_the_closed_form_of_a_linear_classifier():
    # Two classes, logits (w·x + b, 0): a point of class 0 is robust at ε iff its distance to the
    # plane, (w·x + b) / ‖w‖, exceeds ε; PGD follows -w exactly and finds every other point.
    # measure() reports jacviz.nets.robustness's robust_accuracy, the one attack for any d.
    rng = np.random.default_rng(3)
    d = 20
    w = rng.normal(size=d)
    layer = torch.nn.Linear(d, 2, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.stack([w, np.zeros(d)])))
        layer.bias.copy_(torch.tensor([0.5, 0.0]))
    model = torch.nn.Sequential(layer)
    points = rng.normal(size=(200, d))
    margin = points @ w + 0.5
    points, margin = points[margin > 0], margin[margin > 0]
    distance = margin / np.linalg.norm(w)
    labels = np.zeros(len(points), dtype=int)
    is_test = np.arange(len(points)) % 2 == 0
    labels[~is_test] = 1  # training labels only fit the standardization; measure uses the test
    data = VectorDataset(points, labels, is_test, 2, "plane", ("a", "b"))
    epsilons = [0.0, 0.1, 0.3, 1.0]
    got = measure(model, data, epsilons, seed=1)
    assert got.measured_on == "test"
    assert got.pgd_accuracy == robust_accuracy(
        model, points[is_test], labels[is_test], epsilons, attack="pgd", norm="2", seed=1
    )
    for eps in epsilons:
        exact = np.mean(distance[is_test] > eps * (1 + 1e-9))
        assert got.pgd_accuracy[eps] == pytest.approx(exact, abs=1e-12)
