"""The robustness measures for points of any number of coordinates, and the plane's unchanged.

A linear binary classifier is the reference in d dimensions: its boundary is the hyperplane
``w·x + b = 0``, at L2 distance ``|w·x + b| / ‖w‖₂`` from x and L∞ distance ``|w·x + b| / ‖w‖₁``.
Its cross-entropy gradient has a constant direction, so PGD from the point itself walks straight
to the nearest point of the ball's edge: it must flip a point exactly when ε exceeds that
distance. The plane's results are compared with values the code gave before it took d inputs.
"""

import numpy as np
import pytest
import torch
from torch import nn

from jacviz.nets.robustness import (
    PGD_RESTARTS,
    boundary_distance,
    fgsm,
    flip_fraction,
    linearized_flip_fraction,
    pgd,
    robust_accuracy,
)
from jacviz.nets.robustness.attacks import unit_starts

D = 64


def binary_linear(w, b, dtype=torch.float64):
    """Logits ``(w·x + b, 0)``: class 0 where ``w·x + b > 0``."""
    layer = nn.Linear(len(w), 2).to(dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.stack([w, np.zeros_like(w)])))
        layer.bias.copy_(torch.tensor([b, 0.0]))
    return layer


def predict(model, points):
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        return model(torch.as_tensor(points).to(dtype)).argmax(dim=1).numpy()


@pytest.fixture
def hyperplane():
    """A 64-input linear classifier, 300 points and their L2 and L∞ distances to its boundary."""
    rng = np.random.default_rng(11)
    w, b = rng.normal(size=D), 0.7
    points = rng.normal(size=(300, D))
    margin = np.abs(points @ w + b)
    distances = {"2": margin / np.linalg.norm(w), "inf": margin / np.abs(w).sum()}
    return w, b, points, distances


def mlp64(seed=0):
    """A 64-32-10 tanh network in float32, weights from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 10))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return model


# ----------------------------------------------------------------------------------------------
# d = 64 against the closed form
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["2", "inf"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_pgd_flips_exactly_the_points_nearer_than_eps_in_64_dimensions(norm, dtype, hyperplane):
    w, b, points, distances = hyperplane
    model = binary_linear(w, b, dtype)
    labels = predict(model, points)
    distance = distances[norm]
    # Points within rounding of the ball's edge may go either way: float64 logits (|z| ~ 10)
    # are exact to ~1e-14 relative, float32 ones to ~1e-6 absolute, i.e. ~1e-6 in distance.
    tolerance = 1e-9 if dtype == torch.float64 else 1e-4
    for eps in np.quantile(distance, [0.2, 0.5, 0.8]):  # radii that flip some points
        adversarial = pgd(model, points, labels, eps, norm=norm, seed=2)
        size = np.linalg.norm(adversarial - points, axis=1)
        if norm == "inf":
            size = np.abs(adversarial - points).max(axis=1)
        assert adversarial.shape == points.shape and np.all(size <= eps)
        flipped = predict(model, adversarial) != labels
        clear = np.abs(distance - eps) > tolerance * max(eps, 1.0)
        assert 0 < flipped.sum() < len(points)
        np.testing.assert_array_equal(flipped[clear], distance[clear] < eps)
        # FGSM is the exact worst case of a linear binary classifier in either norm.
        flipped = predict(model, fgsm(model, points, labels, eps, norm=norm)) != labels
        np.testing.assert_array_equal(flipped[clear], distance[clear] < eps)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_robust_accuracy_in_64_dimensions_is_the_closed_form(norm, hyperplane):
    w, b, points, distances = hyperplane
    model = binary_linear(w, b)
    labels = predict(model, points)
    labels[::6] = 1 - labels[::6]  # some points wrong from the start
    correct = predict(model, points) == labels
    distance = distances[norm]
    scale = np.median(distance)
    epsilons = [0.6 * scale, 0.0, 0.1 * scale, 0.3 * scale, 1.5 * scale]
    # No point is within 1e-6 of a positive radius, so the closed form is unambiguous.
    assert np.min(np.abs(distance[:, None] - np.array(epsilons)[None, 2:])) > 1e-6 * scale
    exact = {eps: float(np.mean(correct & (distance >= eps))) for eps in epsilons}
    for attack in ("pgd", "fgsm"):
        result = robust_accuracy(model, points, labels, epsilons, attack=attack, norm=norm)
        assert list(result) == epsilons
        assert result == pytest.approx(exact, abs=1e-12)


def test_one_input_is_an_interval():
    # d = 1: class 1 right of 0.25; the distance to the boundary is |x − 0.25|.
    model = binary_linear(np.array([-1.0]), 0.25)
    points = np.linspace(-1.0, 1.0, 41)[:, None] + 0.013
    labels = predict(model, points)
    distance = np.abs(points[:, 0] - 0.25)
    result = robust_accuracy(model, points, labels, [0.1, 0.5])
    assert result == pytest.approx({eps: np.mean(distance >= eps) for eps in (0.1, 0.5)}, abs=0)


# ----------------------------------------------------------------------------------------------
# Starts, determinism, agreement, work
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_starts_in_d_dimensions_are_the_point_then_seeded_points_of_the_edge(norm):
    def starts_of(seed, restarts):
        return torch.stack(list(unit_starts(50, norm, seed, restarts, D)))

    starts = starts_of(4, PGD_RESTARTS)
    assert starts.shape == (PGD_RESTARTS, 50, D) and starts.dtype == torch.float64
    assert torch.count_nonzero(starts[0]) == 0  # restart 0: the point itself
    edge = starts[1:]
    size = torch.linalg.vector_norm(edge, dim=-1) if norm == "2" else edge.abs().amax(dim=-1)
    torch.testing.assert_close(size, torch.ones_like(size), rtol=1e-15, atol=0)
    # Seeded: the same seed gives the same starts, more restarts only add starts, another
    # seed gives others.
    assert torch.equal(starts, starts_of(4, PGD_RESTARTS))
    assert torch.equal(starts[:3], starts_of(4, 3))
    assert not torch.equal(starts[1:], starts_of(5, PGD_RESTARTS)[1:])
    # In 64 dimensions Gaussian directions are spread: no two of a point's starts are close.
    if norm == "2":
        cosines = torch.einsum("rnd,snd->nrs", edge, edge) - torch.eye(PGD_RESTARTS - 1)
        assert cosines.abs().max() < 0.7


def test_pgd_in_d_dimensions_is_deterministic_and_leaves_global_state_alone():
    model = mlp64()
    points = np.random.default_rng(3).normal(size=(80, D))
    labels = predict(model, points)
    torch_state, threads = torch.get_rng_state(), torch.get_num_threads()
    first = pgd(model, points, labels, 1.0, seed=7)
    np.testing.assert_array_equal(first, pgd(model, points, labels, 1.0, seed=7))
    assert not np.array_equal(first, pgd(model, points, labels, 1.0, seed=8))
    assert robust_accuracy(model, points, labels, [0.5, 1.0], seed=7) == robust_accuracy(
        model, points, labels, [0.5, 1.0], seed=7
    )
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.get_num_threads() == threads
    assert np.mean(predict(model, first) != labels) > 0.1  # the attack does find errors


def test_robust_accuracy_in_d_dimensions_agrees_with_pgd_alone():
    # Every radius gets the errors pgd(..., eps, seed) alone finds: the same starts, scaled.
    model = mlp64(1)
    points = np.random.default_rng(4).normal(size=(120, D))
    labels = predict(model, points)
    result = robust_accuracy(model, points, labels, [0.3, 1.0], seed=3)
    for eps in (0.3, 1.0):
        alone = np.mean(predict(model, pgd(model, points, labels, eps, seed=3)) == labels)
        assert result[eps] == alone
    assert 0.0 < result[1.0] < result[0.3] < 1.0


class _Counting(nn.Module):
    """A model the fast layer walk cannot read, counting the rows it is called on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return self.inner(x)


def test_robust_accuracy_work_is_bounded_by_steps_restarts_and_rows():
    model = _Counting(mlp64(2))
    points = np.random.default_rng(5).normal(size=(40, D))
    labels = predict(model.inner, points)
    epsilons, steps, restarts = [0.2, 0.5, 2.0], 5, 4
    robust_accuracy(model, points, labels, epsilons, steps=steps, restarts=restarts)
    rows = len(points) * len(epsilons)
    # The clean pass, the class count, (steps + 1) passes per start, and the final check.
    assert model.rows <= len(points) + 1 + (steps + 1) * restarts * rows + rows
    # Points fall at the large radius early and are dropped: far less than the bound.
    assert model.rows < 0.8 * (steps + 1) * restarts * rows


# ----------------------------------------------------------------------------------------------
# The plane: the same numbers as before points took d coordinates
# ----------------------------------------------------------------------------------------------


def tanh_mlp():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.5, 0.5], [-0.8, 1.2], [0.3, -1.7]]))
        model[0].bias.copy_(torch.tensor([0.2, -0.1, 0.4]))
        model[2].weight.copy_(torch.tensor([[1.0, -1.3, 0.6], [-0.7, 1.1, -0.9]]))
        model[2].bias.copy_(torch.tensor([0.05, -0.05]))
    return model


def mlp32():
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


PLANE = np.random.default_rng(5).uniform(-2.0, 2.0, (8, 2))

# fmt: off
BEFORE = {  # what the code gave on PLANE before it took points of d coordinates
    "tanh pgd 2": [
        [1.0600326122875292, 1.485547896667511], [0.3612680768483436, -0.8613220866013156],
        [-1.8742757718236858, -0.1803422702920203], [-0.0711552815775764, -1.7640961349878554],
        [-2.0963833598295185, 1.9254460401089493], [0.908889988093833, -1.043210032763972],
        [-0.5502527120442277, 1.82009554597105], [1.7371514992091783, 1.115094026190627],
    ],
    "mlp32 pgd inf": [
        [1.5200116949815206, 1.5317631589459748], [-0.23869775583143196, -0.5567944796474337],
        [-2.084277190473374, -0.1665244768579271], [-0.0661071783200054, -2.118899224390219],
        [-2.104969157091327, 1.6967044602602859], [0.9094764463519508, -0.7619591933207043],
        [-0.5602097910994318, 1.5967447730370217], [1.2907104324341954, 1.076924150434964],
    ],
    "mlp32 pgd 2 r3": [
        [1.6050793856368264, 1.5507033941208268], [-0.2084701864331926, -0.435816053018208],
        [-1.7511094805021545, -0.9654231669897664], [0.08478837760321817, -2.034985312902847],
        [-2.154304201156842, 1.638982463469838], [1.0759100582843817, -0.8818489891132066],
        [-0.4397877776455924, 1.4301059975928596], [1.3046150577774582, 0.9668638663302713],
    ],
    "mlp32 fgsm 2": [
        [1.4583194088767375, 1.4139977152135375], [-0.08633178710690617, -0.5956351550784029],
        [-1.9877955011714772, -0.6869338623445491], [-0.09185379159526419, -1.9404931381770925],
        [-2.093799788260927, 1.9156065780550715], [0.9071116009579979, -1.099553271878829],
        [-0.17637172274000312, 1.6086975923638551], [1.4230794238063695, 1.128127355949147],
    ],
    "tanh bd": [
        0.11393109862955682, 0.8231860330969503, 0.588730610929713, 1.3165912301068794,
        np.inf, 1.3576385744192574, 1.4316202415458716, 0.05480570735473519,
    ],
    "mlp32 bd": [
        1.1702441151611478, 0.14887322940653488, 0.6481735251419632, 0.7493900567808678,
        0.7693963011793603, 0.3837065570956604, 1.3142776973809547, 1.340216263349539,
    ],
    # robust_accuracy of mlp32 on 300 points, radii 0, 0.05, 0.1, 0.2, 0.4
    "ra pgd 2": [0.8566666666666667, 0.8166666666666667, 0.7666666666666667,
                 0.6866666666666666, 0.53],
    "ra fgsm 2": [0.8566666666666667, 0.8166666666666667, 0.7666666666666667,
                  0.6933333333333334, 0.5533333333333333],
    "ra pgd inf": [0.8566666666666667, 0.8, 0.7533333333333333, 0.6566666666666666,
                   0.4866666666666667],
    "ra fgsm inf": [0.8566666666666667, 0.8, 0.7566666666666667, 0.6633333333333333,
                    0.5166666666666667],
}
# fmt: on


def test_the_planes_attacks_and_distances_are_unchanged():
    # The same code path as before in the plane. The tolerance absorbs a change of summation
    # order only: 1e-13 for the float64 tanh MLP; 1e-6 for mlp32, a float32 model, whose few
    # points the layer walk sums in numpy (jacviz.math.jacobian.small) and larger batches in
    # torch, rounding differently by ~1e-7. A changed attack step moves points by a step
    # (ε/8 here) and a changed search moves distances by far more than either.
    tanh, net = tanh_mlp(), mlp32()
    two, three = np.arange(8) % 2, np.arange(8) % 3
    got = {
        "tanh pgd 2": pgd(tanh, PLANE, two, 0.3),
        "mlp32 pgd inf": pgd(net, PLANE, three, 0.3, norm="inf", seed=3),
        "mlp32 pgd 2 r3": pgd(net, PLANE, three, 0.5, steps=7, restarts=3, seed=4),
        "mlp32 fgsm 2": fgsm(net, PLANE, three, 0.3, norm="2"),
        "tanh bd": boundary_distance(tanh, PLANE, 2.0),
        "mlp32 bd": boundary_distance(net, PLANE, 2.0),
    }
    for key, value in got.items():
        tolerance = 1e-6 if key.startswith("mlp32") else 1e-13
        np.testing.assert_allclose(value, BEFORE[key], rtol=tolerance, atol=tolerance, err_msg=key)
    points = np.random.default_rng(0).uniform(-2.0, 2.0, (300, 2))
    labels = predict(net, points)
    labels[::7] = (labels[::7] + 1) % 3
    radii = [0.0, 0.05, 0.1, 0.2, 0.4]
    for attack in ("pgd", "fgsm"):
        for norm in ("2", "inf"):
            result = robust_accuracy(net, points, labels, radii, attack=attack, norm=norm, seed=5)
            assert list(result.values()) == BEFORE[f"ra {attack} {norm}"], (attack, norm)


# ----------------------------------------------------------------------------------------------
# Hostile shapes: one line each
# ----------------------------------------------------------------------------------------------

LINEAR2 = binary_linear(np.array([1.0, -0.5]), 0.1)
LINEAR64 = binary_linear(np.ones(D), 0.1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pgd(LINEAR64, np.zeros(D), [0], 0.1), r"shape \(n, d\), got \(64,\)"),
        (lambda: pgd(LINEAR64, np.zeros((2, 0)), [0, 0], 0.1), r"shape \(n, d\)"),
        (lambda: pgd(LINEAR64, np.zeros((2, 3, 4)), [0, 0], 0.1), r"shape \(n, d\)"),
        (lambda: pgd(LINEAR64, [["a"] * D], [0], 0.1), r"\(n, d\) array of numbers"),
        (
            lambda: robust_accuracy(LINEAR64, [[0.0] * D, [np.inf] * D], [0, 0], [1.0]),
            r"NaN or infinite coordinates \(row 1 first\)",
        ),
        (lambda: fgsm(LINEAR64, np.zeros((4, 3)), [0] * 4, 0.1), "points of 3 coordinates"),
        (lambda: robust_accuracy(LINEAR2, np.zeros((4, D)), [0] * 4, [0.1]), "64 coordinates"),
        (lambda: pgd(LINEAR64, np.zeros((4, D)), [0, 1, 2, 0], 0.1), r"classes in \[0, 1\]"),
        (lambda: boundary_distance(LINEAR64, np.zeros((4, D)), 1.0), "discs of the plane"),
        (lambda: flip_fraction(LINEAR64, np.zeros(D), 0.1), "discs of the plane"),
        (lambda: linearized_flip_fraction([0.0, 1.0], np.ones((2, D)), 0.1), "the plane"),
    ],
)
def test_bad_shapes_are_one_line(call, message):
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "\n" not in str(error.value)
