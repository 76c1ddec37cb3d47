"""The trainer: hand-written gradients against autograd, estimators, determinism, divergence."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jacviz.nets.datasets import make_dataset
from jacviz.nets.networks import load_network, make_mlp, save_mlp
from jacviz.nets.training import (
    TRAINABLE_ACTIVATIONS,
    TrainConfig,
    TrainingError,
    directions_count,
    jacobian_frobenius,
    load_state,
    projection_estimates,
    run,
    train,
)
from jacviz.nets.training.penalty import Directions, FusedStep


def _reference_loss(model, points, labels, directions, jr_lambda):
    """CE + λ Σ_j ‖J u_j‖² / B by torch.func: the textbook definition the fused step must match."""
    logits = model(points)
    loss = F.cross_entropy(logits, labels)
    if directions is not None:
        jac = torch.func.vmap(torch.func.jacrev(lambda p: model(p[None])[0]))(points)  # (B, k, n)
        k = directions.shape[0] // points.shape[0]
        u = directions.view(k, points.shape[0], -1)
        pushed = torch.einsum("bcn,jbn->jbc", jac, u)
        loss = loss + jr_lambda * (pushed**2).sum() / points.shape[0]
    return loss


@pytest.mark.parametrize("activation", TRAINABLE_ACTIVATIONS)
@pytest.mark.parametrize(("k", "weight_decay"), [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (2, 0.3)])
def test_fused_gradients_match_autograd(activation, k, weight_decay):
    torch.manual_seed(1)
    model = make_mlp([2, 7, 5, 4], activation, seed=3, dtype=torch.float64)
    batch = 11
    points = torch.randn(batch, 2, dtype=torch.float64)
    labels = torch.randint(0, 4, (batch,))
    jr_lambda = 0.37
    step = FusedStep(model, activation, points, labels, batch, k, weight_decay)
    directions = None
    if k:
        directions = torch.randn(k * batch, 2, dtype=torch.float64)
        step.tangent_inputs.copy_(directions)
    with torch.no_grad():
        ce, term = step(torch.arange(batch), jr_lambda)
    fused = [p.grad.clone() for p in model.parameters()]

    for p in model.parameters():
        p.grad = None
    loss = _reference_loss(model, points, labels, directions, jr_lambda)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    loss = loss + weight_decay / 2 * sum((w**2).sum() for w in weights)
    expected = torch.autograd.grad(loss, list(model.parameters()))
    # float64 throughout: agreement to ~1e-15 relative; 1e-12 leaves room for summation order.
    for got, want in zip(fused, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(ce, F.cross_entropy(model(points), labels), rtol=1e-13, atol=0)
    if k:
        jac = torch.func.vmap(torch.func.jacrev(lambda p: model(p[None])[0]))(points)
        u = directions.view(k, batch, 2)
        want_term = (torch.einsum("bcn,jbn->jbc", jac, u) ** 2).sum() / batch
        torch.testing.assert_close(term / batch, want_term, rtol=1e-12, atol=0)  # a batch sum
    else:
        assert term is None


def test_exact_directions_give_the_frobenius_norm():
    model = make_mlp([2, 6, 3], "tanh", seed=0, dtype=torch.float64)
    points = torch.randn(9, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(9, dtype=torch.long)
    config = TrainConfig(jr_lambda=1.0, estimator="exact")
    k = directions_count(config, 2)
    step = FusedStep(model, "tanh", points, labels, 9, k)
    Directions(config, step.tangent_inputs, 9, torch.Generator())
    with torch.no_grad():
        _, term = step(torch.arange(9), 1.0)
    frobenius = jacobian_frobenius(model, points.numpy())
    assert k == 2
    assert float(term) / 9 == pytest.approx(float(np.mean(frobenius**2)), rel=1e-12)


def test_random_projection_estimate_closed_form_mean_and_variance():
    # With u = √2 (cos θ, sin θ), θ uniform, and G = JᵀJ: estimate = tr G + (G11 - G22) cos 2θ
    # + 2 G12 sin 2θ, so its mean is ‖J‖²_F and its variance ((G11 - G22)² + 4 G12²) / 2 / n_proj.
    jac = np.array([[[2.0, 1.0], [0.5, -1.5], [0.3, 0.2]], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    gram = np.einsum("nki,nkj->nij", jac, jac)
    variance = ((gram[:, 0, 0] - gram[:, 1, 1]) ** 2 + 4 * gram[:, 0, 1] ** 2) / 2
    draws = 40_000
    for n_proj in (1, 4):
        exact, estimates = projection_estimates(jac, n_proj=n_proj, draws=draws, seed=5)
        np.testing.assert_allclose(exact, (jac**2).sum(axis=(1, 2)), rtol=1e-15)
        expected_var = variance / n_proj
        standard_error = np.sqrt(expected_var / draws)
        # Unbiased: within 4 standard errors (the second Jacobian is orthonormal: no spread).
        assert np.all(np.abs(estimates.mean(axis=0) - exact) <= 4 * standard_error + 1e-12)
        # Variance: the sample variance of 40k draws is within ~3 % of the truth.
        np.testing.assert_allclose(estimates.var(axis=0), expected_var, rtol=0.05, atol=1e-12)


def test_variance_falls_like_one_over_n_proj_for_a_network():
    model = make_mlp([2, 16, 3], "tanh", seed=2, dtype=torch.float64)
    points = np.random.default_rng(0).normal(size=(5, 2))
    from jacviz.math.maps import TorchMap

    _, jac = TorchMap(model, "m", 2, 3).evaluate_with_jacobian(points)
    variances = [projection_estimates(jac, n, 20_000, seed=1)[1].var(axis=0) for n in (1, 2, 8)]
    np.testing.assert_allclose(variances[0] / variances[1], 2.0, rtol=0.1)
    np.testing.assert_allclose(variances[0] / variances[2], 8.0, rtol=0.15)


@pytest.fixture(scope="module")
def moons():
    return make_dataset("moons", n_points=200, noise=0.1, seed=0)


def test_same_seed_same_numbers_and_shared_initialization(moons):
    config = TrainConfig(hidden=(16, 16), steps=120, jr_lambda=0.05)
    first = list(train(moons, config, snapshot_every=40))
    second = list(train(moons, config, snapshot_every=60))
    # Snapshot timing does not change the run.
    for name, tensor in first[-1].state.items():
        assert torch.equal(tensor, second[-1].state[name])
    assert [s.step for s in first] == [0, 40, 80, 120]
    plain = next(train(moons, config.replace(jr_lambda=0.0)))
    for name, tensor in first[0].state.items():
        assert torch.equal(tensor, plain.state[name])
    other = run(moons, config.replace(seed=1), snapshot_every=120)
    assert not torch.equal(other.state["0.weight"], first[-1].state["0.weight"])


def test_regularization_shrinks_the_jacobian_and_keeps_accuracy(moons):
    config = TrainConfig(hidden=(32, 32), steps=600, learning_rate=0.01)
    plain = run(moons, config)
    regularized = run(moons, config.replace(jr_lambda=0.05))
    random = run(moons, config.replace(jr_lambda=0.05, estimator="random"))
    assert plain.test_accuracy >= 0.9
    assert regularized.test_accuracy >= 0.85
    assert regularized.test_frobenius < 0.6 * plain.test_frobenius
    assert random.test_frobenius < 0.6 * plain.test_frobenius
    assert plain.jacobian_term is None
    assert regularized.jacobian_term > 0


def test_snapshot_state_is_a_copy_and_reloads(moons):
    snapshots = train(moons, TrainConfig(hidden=(8,), steps=20), snapshot_every=10)
    first = next(snapshots)
    saved = first.state["0.weight"].clone()
    first.state["0.weight"].zero_()
    later = next(snapshots)
    assert not torch.equal(later.state["0.weight"], first.state["0.weight"])
    model = load_state(TrainConfig(hidden=(8,)), later.state, 2, moons.n_classes)
    points = torch.tensor(moons.test_points, dtype=torch.float32)
    predicted = model(points).argmax(1).numpy()
    assert np.mean(predicted == moons.test_labels) == pytest.approx(later.test_accuracy)
    assert not torch.equal(saved, later.state["0.weight"])


def test_divergence_stops_with_a_message_and_keeps_finite_weights(moons):
    config = TrainConfig(
        hidden=(16,),
        optimizer="sgd",
        learning_rate=10.0,
        jr_lambda=1e6,
        steps=400,
        activation="relu",
    )
    snapshots = list(train(moons, config, snapshot_every=5))
    last = snapshots[-1]
    assert last.diverged is not None and "diverged" in last.diverged
    assert last.step < config.steps
    assert all(torch.isfinite(t).all() for t in last.state.values())
    assert math.isfinite(last.cross_entropy)


def test_weight_decay_shrinks_the_weights(moons):
    config = TrainConfig(hidden=(16,), steps=300)
    plain = run(moons, config)
    decayed = run(moons, config.replace(weight_decay=0.05))
    norm = lambda s: sum(float(t.norm() ** 2) for k, t in s.state.items() if "weight" in k)  # noqa: E731
    assert norm(decayed) < 0.7 * norm(plain)


def test_trained_model_saves_and_loads_as_a_network(moons, tmp_path):
    config = TrainConfig(hidden=(8, 8), steps=50)
    last = run(moons, config)
    model = load_state(config, last.state, 2, moons.n_classes)
    path = tmp_path / "moons.safetensors"
    save_mlp(model, path, metadata={"training": config.to_dict()})
    loaded = load_network(path)
    points = torch.tensor(moons.test_points, dtype=torch.float32)
    torch.testing.assert_close(loaded.module(points), model(points), rtol=0, atol=0)
    assert TrainConfig.from_dict(loaded.metadata["training"]) == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hidden": ()}, "hidden layers"),
        ({"hidden": (0,)}, "hidden widths"),
        ({"activation": "swish"}, "unknown activation"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"estimator": "hutch"}, "unknown estimator"),
        ({"learning_rate": 0.0}, "learning rate"),
        ({"learning_rate": float("nan")}, "learning rate"),
        ({"batch_size": 0}, "batch size"),
        ({"steps": 2.5}, "steps"),
        ({"n_proj": 0}, "projections"),
        ({"jr_lambda": -1.0}, "λ"),
        ({"weight_decay": float("inf")}, "weight decay"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_configs_are_refused_with_a_message(changes, message):
    with pytest.raises(TrainingError, match=message):
        TrainConfig(**changes)


def test_config_round_trips_and_refuses_unknown_keys():
    config = TrainConfig(hidden=(4, 5), jr_lambda=0.1, estimator="random", n_proj=3)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(TrainingError, match="unknown training setting"):
        TrainConfig.from_dict({"lr": 0.1})
    with pytest.raises(TrainingError, match="hidden must be a list"):
        TrainConfig.from_dict({"hidden": 5})


def test_untrainable_data_is_refused(moons):
    class OneClass:
        train_points = np.zeros((4, 2))
        train_labels = np.zeros(4, dtype=int)
        test_points = np.zeros((0, 2))
        test_labels = np.zeros(0, dtype=int)
        n_classes = 2

    with pytest.raises(TrainingError, match="two classes"):
        next(train(OneClass(), TrainConfig()))
    with pytest.raises(TrainingError, match="snapshot interval"):
        next(train(moons, TrainConfig(), snapshot_every=0))


def test_starting_weights_of_another_architecture_are_refused(moons):
    state = next(train(moons, TrainConfig(hidden=(8,)))).state
    resumed = next(train(moons, TrainConfig(hidden=(8,), steps=5), initial_state=state))
    for name, tensor in state.items():
        assert torch.equal(resumed.state[name], tensor)
    with pytest.raises(TrainingError, match="weights do not fit a 2-16-2 network"):
        next(train(moons, TrainConfig(hidden=(16,)), initial_state=state))


def test_a_run_goes_on_from_a_saved_step(moons):
    config = TrainConfig(hidden=(8,), steps=50)
    stopped = run(moons, config.replace(steps=30), snapshot_every=10)
    resumed = list(train(moons, config, 10, initial_state=stopped.state, first_step=30))
    assert [s.step for s in resumed] == [30, 40, 50]
    assert resumed[-1].done and not resumed[0].done
    for name, tensor in stopped.state.items():
        assert torch.equal(resumed[0].state[name], tensor)  # step 30 is the saved model itself
    finished = list(train(moons, config, 10, initial_state=resumed[-1].state, first_step=50))
    assert [s.step for s in finished] == [50] and finished[0].done
    with pytest.raises(TrainingError, match=r"first step must be a whole number 0\.\.50"):
        next(train(moons, config, first_step=51))
