"""Attacks, decision-cell distances and flip fractions against closed forms.

A linear classifier is the reference throughout: its decision boundary between classes i and j
is the line ``(w_i − w_j)·x + (b_i − b_j) = 0``, so distances, worst-case perturbations and the
fraction of a disc on the other side are all known exactly.
"""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from jacviz.nets.robustness import (
    NORMS,
    boundary_distance,
    disc_samples,
    fgsm,
    flip_fraction,
    linearized_flip_fraction,
    pgd,
    robust_accuracy,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
W = np.array([[0.3, -0.2], [1.1, 0.7]])
B = np.array([0.1, -0.4])
DW, DB = W[1] - W[0], B[1] - B[0]  # class 1 wins where DW·x + DB > 0


def linear(weight, bias, dtype=torch.float64):
    model = nn.Linear(weight.shape[1], weight.shape[0]).to(dtype)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(weight))
        model.bias.copy_(torch.as_tensor(bias))
    return model


def tanh_mlp():
    """A fixed 2-3-2 tanh network: curved decision boundaries with known weights."""
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.5, 0.5], [-0.8, 1.2], [0.3, -1.7]]))
        model[0].bias.copy_(torch.tensor([0.2, -0.1, 0.4]))
        model[2].weight.copy_(torch.tensor([[1.0, -1.3, 0.6], [-0.7, 1.1, -0.9]]))
        model[2].bias.copy_(torch.tensor([0.05, -0.05]))
    return model


def mlp32(seed=0):
    """A 2-16-3 tanh network in float32 with weights from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


def predict(model, points):
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        return model(torch.as_tensor(points).to(dtype)).argmax(dim=1).numpy()


def signed_margin(points):
    return points @ DW + DB


def distance_to_line(points):
    return np.abs(signed_margin(points)) / np.linalg.norm(DW)


def segment_fraction(h):
    """Area fraction of the unit disc beyond a chord at distance ``h`` from its centre."""
    h = np.clip(h, -1.0, 1.0)
    return (np.arccos(h) - h * np.sqrt(1.0 - h * h)) / np.pi


def sunflower_bound(n):
    """Largest error of a half-plane's area fraction estimated on ``disc_samples(n)``.

    Measured over 181 chord directions x 401 offsets for n = 256 ... 16384: the worst error is
    1.13-1.17 n^(-3/4), six times tighter than 1/sqrt(n) at n = 2048. 1.5 n^(-3/4) leaves margin.
    """
    return 1.5 * n**-0.75


@pytest.fixture
def points():
    return np.random.default_rng(0).uniform(-2.0, 2.0, (300, 2))


# ----------------------------------------------------------------------------------------------
# Attacks
# ----------------------------------------------------------------------------------------------


def offset_size(delta, norm):
    return np.abs(delta).max(axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)


@pytest.mark.parametrize("norm", ["2", "inf"])
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("eps", [1e-3, 0.3])
def test_perturbations_stay_inside_the_ball(attack, norm, eps, points):
    # Near 1e3, `(x + delta) - x` rounds by up to ~1e-13, more than eps·1e-12 when eps = 1e-3:
    # the attacks must correct for it. The linear model still has gradients there (the tanh
    # network is saturated, so its points would not move).
    far = points + 1000.0 * np.array([1.0, -1.0])
    run = fgsm if attack == "fgsm" else pgd
    for model, start in ((tanh_mlp(), points), (linear(W, B), far)):
        adversarial = run(model, start, predict(model, start), eps, norm=norm)
        assert adversarial.dtype == np.float64 and adversarial.shape == start.shape
        size = offset_size(adversarial - start, norm)
        if norm == "inf":
            assert np.all(size <= eps)
        else:
            assert np.all(size <= eps * (1 + 1e-12))
        # The attacks use the whole ball (FGSM always, PGD on most points).
        assert np.median(size) > 0.99 * eps


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_fgsm_on_a_linear_classifier_is_the_exact_worst_case(norm, points):
    # The cross-entropy gradient of a linear binary classifier is ±DW everywhere: the sign step
    # changes the margin by eps·|DW|_1 and the normalised step by eps·|DW|_2, the most any
    # perturbation of that size can.
    model = linear(W, B)
    labels = predict(model, points)
    eps = 0.4
    flipped = predict(model, fgsm(model, points, labels, eps, norm=norm)) != labels
    reach = eps * np.linalg.norm(DW, ord=1 if norm == "inf" else 2)
    margin = np.abs(signed_margin(points))
    clear = np.abs(margin - reach) > 1e-9
    assert clear.sum() > 250 and 20 < flipped.sum() < 280
    np.testing.assert_array_equal(flipped[clear], margin[clear] < reach)


@pytest.mark.parametrize(
    ("random_start", "steps", "step_size"), [(False, 20, None), (True, 60, 0.2)]
)
def test_l2_pgd_flips_exactly_the_points_closer_than_eps(random_start, steps, step_size, points):
    # Without a random start PGD walks straight along -DW and stops on the ball's edge; with
    # one, steps of eps/2 turn the offset towards -DW by a factor ~2 per step once on the edge.
    model = linear(W, B)
    labels = predict(model, points)
    eps = 0.4
    adversarial = pgd(
        model, points, labels, eps, steps=steps, step_size=step_size, random_start=random_start
    )
    flipped = predict(model, adversarial) != labels
    distance = distance_to_line(points)
    clear = np.abs(distance - eps) > 1e-9 * eps
    assert 20 < flipped.sum() < 280
    np.testing.assert_array_equal(flipped[clear], distance[clear] < eps)


def test_confident_points_are_still_attacked():
    # Logits ~1e3 apart: softmax - onehot underflows to exactly 0 in float32, so a plain
    # cross-entropy gradient would leave every point where it is.
    model = linear(1000.0 * W, 1000.0 * B, dtype=torch.float32)
    points = np.random.default_rng(1).uniform(-2.0, 2.0, (200, 2))
    labels = predict(model, points)
    eps = 0.5
    distance = distance_to_line(points)
    clear = np.abs(distance - eps) > 1e-4  # float32 resolution of the points
    for adversarial in (
        pgd(model, points, labels, eps, random_start=False),
        fgsm(model, points, labels, eps, norm="2"),
    ):
        flipped = predict(model, adversarial) != labels
        np.testing.assert_array_equal(flipped[clear], distance[clear] < eps)


def test_pgd_is_deterministic_and_leaves_global_state_alone(points):
    model = mlp32()
    labels = predict(model, points)
    torch_state, grad_mode = torch.get_rng_state(), torch.is_grad_enabled()
    threads = torch.get_num_threads()
    first = pgd(model, points, labels, 0.3, seed=7)
    np.testing.assert_array_equal(first, pgd(model, points, labels, 0.3, seed=7))
    assert not np.array_equal(first, pgd(model, points, labels, 0.3, seed=8))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.is_grad_enabled() == grad_mode
    assert torch.get_num_threads() == threads


def test_the_model_is_not_modified(points):
    model = mlp32()
    model.train()  # a mode the caller chose; the module must not switch it
    before = [p.detach().clone() for p in model.parameters()]
    labels = predict(model, points)
    with torch.no_grad():  # attacks need input gradients even inside the caller's no_grad
        adversarial = pgd(model, points, labels, 0.3)
    assert np.any(predict(model, adversarial) != labels)
    fgsm(model, points, labels, 0.3)
    robust_accuracy(model, points, labels, [0.1, 0.2])
    boundary_distance(model, points[:5], 1.0)
    assert model.training
    for old, new in zip(before, model.parameters(), strict=True):
        assert torch.equal(old, new) and new.grad is None


# ----------------------------------------------------------------------------------------------
# Robust accuracy
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
@pytest.mark.parametrize("norm", ["2", "inf"])
def test_robust_accuracy_at_zero_is_the_clean_accuracy(attack, norm, points):
    model = mlp32()
    labels = predict(model, points)
    labels[::7] = (labels[::7] + 1) % 3  # some wrong, so the accuracy is not trivially 1
    clean = np.mean(predict(model, points) == labels)
    result = robust_accuracy(model, points, labels, [0.0, 0.2], attack=attack, norm=norm)
    assert result[0.0] == clean
    assert result[0.2] < clean


def test_robust_accuracy_of_a_linear_classifier(points):
    model = linear(W, B)
    labels = predict(model, points)
    labels[::5] = 1 - labels[::5]
    correct = predict(model, points) == labels
    distance = distance_to_line(points)
    epsilons = [0.6, 0.0, 0.05, 0.2, 0.1, 0.4]
    exact = {eps: np.mean(correct & (distance >= eps)) for eps in epsilons}
    # L2 FGSM is the exact worst case here (see above), so it gives the closed form...
    assert robust_accuracy(model, points, labels, epsilons, attack="fgsm") == pytest.approx(
        exact, abs=0
    )
    # ...and PGD can never beat it: every error it reports has a witness inside the ball.
    result = robust_accuracy(model, points, labels, epsilons)
    assert list(result) == epsilons
    values = [result[eps] for eps in sorted(epsilons)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    for eps in epsilons:
        assert exact[eps] <= result[eps] <= exact[eps] + 0.02


def test_robust_accuracy_agrees_with_pgd_alone(points):
    model = tanh_mlp()
    labels = predict(model, points)
    for eps in (0.1, 0.3):
        adversarial = pgd(model, points, labels, eps, seed=3)
        alone = np.mean(predict(model, adversarial) == labels)
        assert robust_accuracy(model, points, labels, [eps], seed=3)[eps] == alone


def ball_grid(norm, size=81):
    """A dense grid of the unit ball of the norm, its edge included (4 * size points on it)."""
    axis = np.linspace(-1.0, 1.0, size)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    turns = np.linspace(0.0, 1.0, 4 * size, endpoint=False)
    if norm == "2":
        grid = grid[np.hypot(grid[:, 0], grid[:, 1]) <= 1.0]
        edge = np.column_stack([np.cos(2 * np.pi * turns), np.sin(2 * np.pi * turns)])
    else:
        edge = np.vstack([grid[np.abs(grid).max(axis=1) == 1.0]])
    return np.vstack([grid, edge])


def dense_robust_accuracy(model, points, labels, eps, norm):
    """The share of points whose whole eps-ball (a dense grid of it) keeps their label."""
    offsets = eps * ball_grid(norm)
    classes = predict(model, (points[:, None, :] + offsets[None]).reshape(-1, 2))
    return np.mean(np.all(classes.reshape(len(points), -1) == labels[:, None], axis=1))


@pytest.mark.timeout(300)
def test_pgd_robust_accuracy_is_the_truth_on_the_spirals_and_never_below_it():
    # Balls of radius >= 0.2 on the spirals hold other classes in narrow ranges of directions:
    # one 20-step run from a random start reported 0.325 at L2 0.3, where every ball of the
    # grid below says 0.15. From 12 starts round each ball's edge PGD finds every error.
    from jacviz.nets.datasets import make_dataset
    from jacviz.nets.networks import load_network

    network = load_network(EXAMPLES / "spirals_jr.safetensors")
    spec = dict(network.metadata["dataset"])
    data = make_dataset(spec.pop("name"), **spec)
    points, labels = np.array(data.test_points), np.array(data.test_labels)
    epsilons = [0.1, 0.2, 0.3]
    # L2's truth is also exact from the boundary distances: correct and no change within eps.
    distance = boundary_distance(network.module, points, 10.0)
    correct = predict(network.module, points) == labels
    for norm in NORMS:
        result = robust_accuracy(network.module, points, labels, epsilons, norm=norm)
        for eps in epsilons:
            truth = dense_robust_accuracy(network.module, points, labels, eps, norm)
            if norm == "2":
                assert truth == np.mean(correct & (distance >= eps))
            # Every reported error has a witness: never below the truth. And no error missed.
            assert result[eps] == pytest.approx(truth, abs=1e-12), (norm, eps)
    assert robust_accuracy(network.module, points, labels, [0.3])[0.3] == pytest.approx(0.15)


# ----------------------------------------------------------------------------------------------
# Distance to the decision boundary
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_directions", [64, 7])
def test_boundary_distance_of_a_linear_classifier(n_directions, points):
    # With 7 rays the grid alone is off by up to 1/cos(pi/7) - 1 = 11 %: the angle refinement
    # has to do the work.
    found = boundary_distance(linear(W, B), points, 10.0, n_directions=n_directions)
    np.testing.assert_allclose(found, distance_to_line(points), rtol=1e-6)


def test_boundary_distance_with_three_classes():
    # At the origin: l0 = 0, l1 = y - 1, l2 = -1 - x/2. Classes 1 and 2 tie along y = -x/2,
    # through the origin, but that is no change of the origin's class 0. Class 1 takes over
    # at y = 1 (distance 1), class 2 at x = -2 (distance 2). At (0, 3), class 1: class 0 takes
    # over at y = 1 (distance 2), class 2 along y = -x/2 (distance 3/sqrt(1.25)).
    model = linear(np.array([[0.0, 0.0], [0.0, 1.0], [-0.5, 0.0]]), np.array([0.0, -1.0, -1.0]))
    found = boundary_distance(model, np.array([[0.0, 0.0], [0.0, 3.0]]), 10.0)
    np.testing.assert_allclose(found, [1.0, 2.0], rtol=1e-6)

    # Generic case: the nearest point where any other class beats the point's own class c is
    # the nearest of the half-planes {l_j > l_c}: min over j != c of (l_c - l_j)/|w_c - w_j|.
    rng = np.random.default_rng(2)
    weight, bias = rng.normal(size=(3, 2)), rng.normal(size=3)
    points = rng.uniform(-3.0, 3.0, (100, 2))
    logits = points @ weight.T + bias
    own = logits.argmax(axis=1)
    expected = np.full(len(points), np.inf)
    for j in range(3):
        other = own != j
        gap = logits[other, own[other]] - logits[other, j]
        dw = np.linalg.norm(weight[own[other]] - weight[j], axis=1)
        expected[other] = np.minimum(expected[other], gap / dw)
    found = boundary_distance(linear(weight, bias), points, 50.0)
    np.testing.assert_allclose(found, expected, rtol=1e-6)


def test_boundary_distance_is_inf_without_a_change_within_reach(points):
    distance = distance_to_line(points)
    found = boundary_distance(linear(W, B), points, 0.5)
    assert np.all(np.isinf(found[distance > 0.5 + 1e-9]))
    near = distance < 0.5 - 1e-9
    assert near.sum() > 20
    np.testing.assert_allclose(found[near], distance[near], rtol=1e-6)
    constant = linear(np.zeros((2, 2)), np.array([1.0, 0.0]))
    assert np.all(np.isinf(boundary_distance(constant, points[:10], 100.0)))


class Ring(nn.Module):
    """Class 1 wins only in a thin ring: where ``|‖x − centre‖ − radius| < width``."""

    def __init__(self, centre, radius, width):
        super().__init__()
        self.centre = nn.Parameter(torch.tensor(centre, dtype=torch.float64), requires_grad=False)
        self.radius, self.width = radius, width

    def forward(self, x):
        gap = torch.linalg.vector_norm(x - self.centre, dim=1) - self.radius
        inside = self.width**2 - gap**2
        return torch.stack([torch.zeros_like(inside), inside], dim=1)


def test_boundary_distance_finds_a_thin_region_accurately():
    # The ring is 0.08 thick: the 64 radii up to 4 (every 0.0625) find it, and the refining
    # rays must not step over it. From the origin the ring is nearest towards its centre, at
    # |centre| - radius - width; from the centre it is at radius - width in every direction.
    centre = 2.0 * np.array([np.cos(0.1234), np.sin(0.1234)])  # between grid rays
    ring = Ring(centre, 0.8, 0.04)
    found = boundary_distance(ring, np.array([[0.0, 0.0], centre]), 4.0)
    np.testing.assert_allclose(found, [2.0 - 0.84, 0.76], rtol=1e-6)


def test_boundary_distance_is_attained_on_a_curved_model():
    # A distance is only reported with a point of another class at that distance; the nearest
    # such point (brute force over 20000 rays, each bisected) is at most 1e-6 closer.
    model = tanh_mlp()
    centre = np.array([0.5, -1.5])
    found = boundary_distance(model, centre[None], 5.0)[0]
    angles = np.linspace(0.0, 2.0 * np.pi, 20000, endpoint=False)
    rays = np.column_stack([np.cos(angles), np.sin(angles)])
    own = predict(model, centre[None])[0]
    lo, hi = np.zeros(len(rays)), np.full(len(rays), found * (1 + 1e-9))
    inside = predict(model, centre + hi[:, None] * rays) == own
    assert not inside.all()  # some ray has changed class by the reported distance
    lo, hi = lo[~inside], hi[~inside]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        flip = predict(model, centre + mid[:, None] * rays[~inside]) != own
        lo, hi = np.where(flip, lo, mid), np.where(flip, mid, hi)
    assert hi.min() == pytest.approx(found, rel=1e-6)


class Features(nn.Module):
    """Class 1 inside thin strips and small discs, class 0 elsewhere: exact distances known.

    The class-1 logit is ``max`` over the features of (half-width − distance to the strip's
    centre line or the disc's centre), a 1-Lipschitz function positive exactly inside a
    feature. So from a class-0 point the nearest class-1 input is at ``min`` over the features
    of (distance − half-width): a closed form for regions far thinner than any sampling step.
    """

    def __init__(self, strips=(), discs=()):
        super().__init__()
        strips = np.array(strips, dtype=np.float64).reshape(-1, 4)  # nx, ny, offset, half-width
        discs = np.array(discs, dtype=np.float64).reshape(-1, 3)  # cx, cy, radius
        self.strips = nn.Parameter(torch.from_numpy(strips), requires_grad=False)
        self.discs = nn.Parameter(torch.from_numpy(discs), requires_grad=False)

    def distances(self, x):
        """Per feature, distance from each row of ``x`` (n, 2) minus its half-width."""
        s, d = self.strips, self.discs
        strip = (x @ s[:, :2].T - s[:, 2]).abs() - s[:, 3]
        disc = torch.linalg.vector_norm(x[:, None, :] - d[None, :, :2], dim=2) - d[:, 2]
        return torch.cat([strip, disc], dim=1)

    def forward(self, x):
        inside = -self.distances(x).min(dim=1).values
        return torch.stack([torch.zeros_like(inside), inside], dim=1)


def random_features(rng, strips, discs, thin=(1e-4, 1e-2)):
    angles = rng.uniform(0.0, 2.0 * np.pi, strips)
    strip_rows = np.column_stack(
        [np.cos(angles), np.sin(angles), rng.uniform(-2.0, 2.0, strips), rng.uniform(*thin, strips)]
    )
    disc_rows = np.column_stack([rng.uniform(-2.0, 2.0, (discs, 2)), rng.uniform(*thin, discs)])
    return Features(strip_rows, disc_rows)


@pytest.mark.timeout(120)
def test_boundary_distance_finds_regions_thinner_than_its_sampling():
    # Strips and discs 1e-4 to 1e-2 across, far thinner than the first cells (10 / 64 = 0.16):
    # a march along 64 rays at 64 radii stepped over most of them. 40 random models, 10 class-0
    # points each, every distance checked against the closed form.
    rng = np.random.default_rng(10)
    checked = 0
    for case in range(40):
        model = random_features(rng, strips=case % 3, discs=1 + case % 4)
        points = rng.uniform(-2.5, 2.5, (40, 2))
        exact = model.distances(torch.from_numpy(points)).min(dim=1).values.numpy()
        points = points[exact > 1e-3][:10]  # class 0, not on an edge
        exact = exact[exact > 1e-3][:10]
        found = boundary_distance(model, points, 10.0)
        assert np.all(found >= exact * (1 - 1e-12)), case  # attained: never below the truth
        np.testing.assert_allclose(found, exact, rtol=1e-6, err_msg=f"case {case}")
        checked += len(points)
    assert checked >= 350


class Jump(nn.Module):
    """Logits ``(0, 0.1)`` (class 1) left of ``x = 0.3`` and ``(fill, 0.1)`` right of it.

    With ``fill`` infinite or NaN the logits are not finite on the right (class −1); with 1,
    class 0. Either way the margins are flat right up to the jump, so neither their gradients
    nor their sizes say where it is. The distance across it is ``|x − 0.3|`` all the same.
    """

    def __init__(self, fill):
        super().__init__()
        self.offset = nn.Parameter(torch.tensor(0.3, dtype=torch.float64), requires_grad=False)
        self.fill = fill

    def forward(self, x):
        first = torch.where(x[:, 0] > self.offset, self.fill, 0.0)
        return torch.stack([first, torch.full_like(first, 0.1)], dim=1)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fill", [np.inf, np.nan, 1.0])
def test_boundary_distance_where_the_logits_jump(fill, points):
    # A jump breaks the one assumption (a margin with a finite slope), so the nearest part of
    # it may be missed; but the search ends, finds the jump from both sides, never reports a
    # distance below the truth, and is never worse than its first cells: the nearest centre of
    # a first cell (16 sectors, rings 6/16 wide) beyond the jump is a witness.
    model = Jump(fill)
    found = boundary_distance(model, points, 6.0)
    distance = np.abs(points[:, 0] - 0.3)
    assert np.all(np.isfinite(found))
    assert np.all(found >= distance * (1 - 1e-12))
    first_cell = np.hypot(6.0 / 16, (distance + 6.0 / 16) * np.pi / 16)  # reach, at most
    assert np.all(found <= distance + 2 * first_cell)


def dense_nearest_change(model, point, reach, pixels=601):
    """The nearest other-class input by brute force: a dense grid, then fine rays, bisected.

    Independent of :func:`boundary_distance`: every pixel of a ``pixels`` x ``pixels`` grid of
    the square of half-width ``reach``; then 161 rays within three pixels (in angle) of each of
    the five nearest other-class pixels, each sampled every tenth of a pixel and bisected.
    """
    own = predict(model, point[None])[0]
    axis = np.linspace(-reach, reach, pixels)
    offsets = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    other = predict(model, point + offsets) != own
    radius = np.hypot(offsets[:, 0], offsets[:, 1])
    pixel = axis[1] - axis[0]
    assert other.any() and radius[other].min() < reach - 3 * pixel
    nearest = np.argsort(np.where(other, radius, np.inf))[:5]
    best = np.inf
    for offset, r in zip(offsets[nearest], radius[nearest], strict=True):
        angles = np.arctan2(offset[1], offset[0]) + np.linspace(-3, 3, 161) * pixel / r
        rays = np.column_stack([np.cos(angles), np.sin(angles)])
        radii = np.arange(max(r - 3 * pixel, 0.0), r + 3 * pixel, pixel / 10)
        flips = predict(model, point + (radii[None, :, None] * rays[:, None, :]).reshape(-1, 2))
        flips = flips.reshape(len(rays), len(radii)) != own
        hit = flips.any(axis=1)
        first = flips[hit].argmax(axis=1)
        lo, hi = radii[np.maximum(first - 1, 0)], radii[first]
        lo = np.where(first == 0, 0.0, lo)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            flip = predict(model, point + mid[:, None] * rays[hit]) != own
            lo, hi = np.where(flip, lo, mid), np.where(flip, mid, hi)
        best = min(best, hi.min())
    return best


@pytest.mark.timeout(120)
def test_boundary_distance_on_the_spirals_example_matches_a_dense_search():
    # The Compare tab's settings (the data domain's diagonal, 64 directions) on
    # examples/spirals_plain.safetensors. This test point sits at the corner of a pocket of the
    # other class 0.0186 away, closer than the march's first radius (0.112): it reported the far
    # side of the pocket's neighbour instead, 0.0580 (3.1x).
    from jacviz.nets.datasets import make_dataset
    from jacviz.nets.networks import load_network

    network = load_network(EXAMPLES / "spirals_plain.safetensors")
    spec = dict(network.metadata["dataset"])
    domain = make_dataset(spec.pop("name"), **spec).domain
    reach = float(np.hypot(domain.width, domain.height))
    point = np.array([0.01348675, -0.10346796])
    found = boundary_distance(network.module, point[None], reach, n_directions=64)[0]
    truth = dense_nearest_change(network.module, point, 0.03)
    assert truth == pytest.approx(0.018581, abs=1e-6)
    assert found == pytest.approx(truth, rel=1e-6)


# ----------------------------------------------------------------------------------------------
# Flip fractions
# ----------------------------------------------------------------------------------------------


def test_disc_samples_are_deterministic_and_area_uniform():
    n = 1000
    samples = disc_samples(n)
    assert samples.shape == (n, 2) and samples.dtype == np.float64
    np.testing.assert_array_equal(samples, disc_samples(n))
    radius = np.linalg.norm(samples, axis=1)
    assert np.all((radius > 0) & (radius < 1))
    for r in (0.1, 0.5, 0.9):  # equal areas: the fraction within radius r is r**2, to 1/n
        assert abs(np.mean(radius < r) - r**2) <= 1 / n
    assert disc_samples(0).shape == (0, 2)


def test_flip_fraction_of_a_linear_classifier_is_the_segment_area():
    model = linear(W, B)
    rng = np.random.default_rng(3)
    n = 2048
    for point in rng.uniform(-1.0, 1.0, (20, 2)):
        for eps in (0.2, 0.7, 1.5):
            h = distance_to_line(point[None])[0] / eps
            fraction = flip_fraction(model, point, eps, n)
            assert abs(fraction - segment_fraction(h)) <= sunflower_bound(n)
            # The linearization of a linear model is the model: same samples, same answer.
            logits = W @ point + B
            assert linearized_flip_fraction(logits, W, eps, n) == fraction
    assert flip_fraction(model, [0.0, 0.0], 0.0) == 0.0


def test_linearization_agrees_to_first_order_on_a_curved_model():
    # At a point on a boundary of curvature k, the boundary and its tangent enclose an area of
    # about k·eps³/3 within the disc, so the two fractions differ by k·eps/(3π) + O(eps²):
    # they agree to first order, and the difference measures the curvature.
    model = tanh_mlp()
    lo, hi = np.array([-2.0, 0.3]), np.array([2.0, 0.3])
    own = predict(model, lo[None])[0]
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if predict(model, mid[None])[0] == own else (lo, mid)
    point = torch.tensor(lo)
    logits = model(point[None])[0].detach().numpy()
    jacobian = torch.autograd.functional.jacobian(lambda x: model(x[None])[0], point).numpy()

    def gap(x):  # the boundary is the zero set of this logit difference
        z = model(x[None])[0]
        return z[1] - z[0]

    (gx, gy), hessian = (
        torch.autograd.functional.jacobian(gap, point).numpy(),
        torch.autograd.functional.hessian(gap, point).numpy(),
    )
    curvature = (
        hessian[1, 1] * gx**2 - 2 * hessian[0, 1] * gx * gy + hessian[0, 0] * gy**2
    ) / np.hypot(gx, gy) ** 3
    assert 0.25 < abs(curvature) < 0.35  # about 0.28: a gently curved boundary

    n = 65536
    difference = {
        eps: abs(
            flip_fraction(model, lo, eps, n) - linearized_flip_fraction(logits, jacobian, eps, n)
        )
        for eps in (1.0, 0.125, 0.0625)
    }
    assert difference[1.0] > 0.015
    for eps in (0.125, 0.0625):
        assert difference[eps] / eps == pytest.approx(abs(curvature) / (3 * np.pi), rel=0.1)
    # Far from any boundary both say "no flip" for small discs.
    far = np.array([0.0, 0.0])
    assert boundary_distance(model, far[None], 5.0)[0] > 0.15
    logits = model(torch.tensor(far)[None])[0].detach().numpy()
    jacobian = torch.autograd.functional.jacobian(
        lambda x: model(x[None])[0], torch.tensor(far)
    ).numpy()
    assert flip_fraction(model, far, 0.1) == linearized_flip_fraction(logits, jacobian, 0.1) == 0


# ----------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------

P = np.zeros((4, 2))
Y = np.zeros(4, dtype=int)
MODEL = linear(W, B)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pgd(MODEL, P, Y, 0.1, norm="l2"), "unknown norm"),
        (lambda: fgsm(MODEL, P, Y, 0.1, norm=2), "unknown norm"),
        (lambda: robust_accuracy(MODEL, P, Y, [0.1], attack="cw"), "unknown attack"),
        (lambda: pgd(MODEL, P, Y, -0.1), "eps must be finite and >= 0"),
        (lambda: fgsm(MODEL, P, Y, float("nan")), "eps must be finite"),
        (lambda: robust_accuracy(MODEL, P, Y, [0.1, np.inf]), "each of epsilons"),
        (lambda: pgd(MODEL, P, Y, 0.1, steps=0), "steps must be >= 1"),
        (lambda: pgd(MODEL, P, Y, 0.1, restarts=0), "restarts must be >= 1"),
        (lambda: robust_accuracy(MODEL, P, Y, [0.1], restarts=1.5), "restarts must be an integer"),
        (lambda: pgd(MODEL, P, Y, 0.1, step_size=0.0), "step_size must be finite and > 0"),
        (lambda: pgd(MODEL, P, Y, 0.1, seed=1.5), "seed must be an integer"),
        (lambda: pgd(MODEL, np.zeros(4), Y, 0.1), r"shape \(n, d\)"),
        (lambda: pgd(MODEL, np.zeros((4, 3)), Y, 0.1), "model failed on points of 3 coordinates"),
        (lambda: boundary_distance(MODEL, np.zeros((4, 3)), 1.0), r"shape \(n, 2\).*plane"),
        (lambda: pgd(MODEL, [[0.0, np.nan]], [0], 0.1), "NaN or infinite"),
        (lambda: pgd(MODEL, P, Y[:3], 0.1), r"labels must have shape \(4,\)"),
        (lambda: fgsm(MODEL, P, [0, 1, 2, 0], 0.1), r"classes in \[0, 1\]"),
        (lambda: fgsm(MODEL, P, [0, -1, 0, 0], 0.1), r"classes in \[0, 1\]"),
        (lambda: fgsm(MODEL, P, [0, 0.5, 0, 0], 0.1), "whole numbers"),
        (lambda: robust_accuracy(MODEL, np.zeros((0, 2)), [], [0.1]), "at least one point"),
        (lambda: boundary_distance(MODEL, P, 0.0), "max_radius must be finite and > 0"),
        (lambda: boundary_distance(MODEL, P, np.inf), "max_radius must be finite"),
        (lambda: boundary_distance(MODEL, P, 1.0, n_directions=0), "n_directions must be"),
        (lambda: flip_fraction(MODEL, [0.0, 0.0, 0.0], 0.1), r"shape \(2,\)"),
        (lambda: flip_fraction(MODEL, [0.0, 0.0], 0.1, n_samples=0), "n_samples must be"),
        (lambda: linearized_flip_fraction([1.0], [[1.0, 0.0]], 0.1), "k >= 2"),
        (lambda: linearized_flip_fraction([1.0, 0.0], W[:1], 0.1), r"shape \(2, 2\)"),
        (lambda: linearized_flip_fraction([1.0, np.inf], W, 0.1), "finite"),
        (lambda: disc_samples(-1), "n must be >= 0"),
        (lambda: fgsm(nn.Linear(2, 1).double(), P, Y, 0.1), "k >= 2"),
        (lambda: fgsm(nn.Linear(3, 2).double(), P, Y, 0.1), "model failed"),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_batches_and_other_label_types():
    empty = np.zeros((0, 2))
    assert pgd(MODEL, empty, [], 0.1).shape == (0, 2)
    assert fgsm(MODEL, empty, np.array([], dtype=int), 0.1).shape == (0, 2)
    assert boundary_distance(MODEL, empty, 1.0).shape == (0,)
    # Whole-number float labels (as read back from JSON) are class indices.
    np.testing.assert_array_equal(fgsm(MODEL, P, Y.astype(float), 0.1), fgsm(MODEL, P, Y, 0.1))
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        pgd(lambda x: x, P, Y, 0.1)
