"""Benchmark the robustness measures the Compare tab and ``jacviz train`` show.

Prints, per example classifier on its test points and in one run (absolute times on this shared
2-core machine vary by 20-40 %; ratios within one run are what to compare):

- ``boundary_ms``: milliseconds per point of ``boundary_distance`` with the Compare tab's search
  radius (the data domain's diagonal) and the default first cover.
- ``pgd_ms``: milliseconds per point of ``robust_accuracy`` under PGD, L2 and L∞, over the
  Compare tab's radii, with the default steps and starts (what the tab shows).
- ``starts_over_one``: that time over the same attack from one start (the former default):
  the price of the restarts, smaller than their count because a point stops at its first error.
- ``forwards_per_point``: the boundary search's work, in rows the network is called on per point
  (a margin gradient counts as one), counted rather than timed.

and for models of d inputs (``d_inputs``):

- ``walk_over_backward``: per d, the time of the attacks' input gradients by the layer walk's
  forward tangents over one backward pass (a 64-64-64-10 tanh MLP on 2000 points, interleaved;
  median [min, max]): why the walk serves only ``running.TANGENT_INPUTS`` = 2 inputs;
- ``digits_pgd_ms``: milliseconds per test point of L2 ``robust_accuracy`` (20 steps, 12 starts)
  at the default radii of the digits, on a model trained as ``jacviz train --dataset digits
  --hidden 64,64 --jr-lambda 0.01 --estimator random`` trains it (what ``jacviz train`` and
  ``jacviz sweep`` measure; needs scikit-learn).

Run: ``python benchmarks/bench_robustness.py [--rounds 3] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jacviz.nets import robustness
from jacviz.nets.comparison import attack_radii, data_scale
from jacviz.nets.datasets import make_dataset
from jacviz.nets.networks import load_network, make_mlp
from jacviz.nets.robustness import running

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NETWORKS = ("spirals_plain", "spirals_jr", "moons_plain", "moons_jr")


def _seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


class _Counting(nn.Module):
    """The wrapped network, counting the rows it is called on."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        return self.inner(x)


def _forwards(model: nn.Module, points: np.ndarray, reach: float) -> float:
    """Rows per point the boundary search hands to the network (a gradient counts as one)."""
    counting = _Counting(model)
    robustness.boundary_distance(counting, points, reach)
    return counting.rows / len(points)


def measure(rounds: int) -> dict:
    results = {}
    for name in NETWORKS:
        network = load_network(EXAMPLES / f"{name}.safetensors")
        spec = dict(network.metadata["dataset"])
        data = make_dataset(spec.pop("name"), **spec)
        points, labels = np.array(data.test_points), np.array(data.test_labels)
        reach = math.hypot(data.domain.width, data.domain.height)
        radii = attack_radii(data_scale(data.points))
        model = network.module

        def attack(restarts: int, model=model, points=points, labels=labels, radii=radii):
            for norm in robustness.NORMS:
                robustness.robust_accuracy(
                    model, points, labels, radii, norm=norm, restarts=restarts
                )

        samples: dict[str, list[float]] = {"boundary": [], "pgd": [], "one": []}
        for _ in range(rounds):  # interleaved, so slow phases of the machine hit every variant
            samples["boundary"].append(
                _seconds(lambda m=model, p=points, r=reach: robustness.boundary_distance(m, p, r))
            )
            samples["pgd"].append(_seconds(lambda a=attack: a(robustness.PGD_RESTARTS)))
            samples["one"].append(_seconds(lambda a=attack: a(1)))
        median = {key: statistics.median(values) for key, values in samples.items()}
        results[name] = {
            "points": len(points),
            "boundary_ms": 1e3 * median["boundary"] / len(points),
            "pgd_ms": 1e3 * median["pgd"] / len(points),
            "starts_over_one": median["pgd"] / median["one"],
            "forwards_per_point": _forwards(model, points, reach),
        }
    return results


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _gradients(model: nn.Module, points: torch.Tensor, walk: bool) -> float:
    """Seconds for the attacks' input gradients at ``points``, by the walk or by backward."""
    labels = torch.zeros(len(points), dtype=torch.long)
    saved = running.TANGENT_INPUTS
    running.TANGENT_INPUTS = points.shape[1] if walk else 0
    try:
        return _seconds(
            lambda: running.weighted_gradients(
                model, torch.float32, points, labels, lambda z, _: torch.softmax(z, dim=1)
            )
        )
    finally:
        running.TANGENT_INPUTS = saved


def measure_d(rounds: int) -> dict:
    """The d-input numbers: walk over backward per d, and the digits' PGD time per point."""
    ratios = {}
    for d in (2, 3, 4, 8, 64):
        model = make_mlp([d, 64, 64, 64, 10], "tanh", seed=0, dtype=torch.float32)
        points = torch.randn(2000, d, generator=torch.Generator().manual_seed(d)).double()
        _gradients(model, points, True)  # warm up
        samples = []
        for _ in range(3 * rounds):
            walk = _gradients(model, points, True)
            samples.append(walk / _gradients(model, points, False))
        ratios[str(d)] = _spread(samples)
    result: dict = {"walk_over_backward": ratios}
    try:
        from jacviz.nets.data import load_digits
        from jacviz.nets.trained import default_epsilons, raw_model
        from jacviz.nets.training import TrainConfig, run

        data = load_digits(seed=0)
    except ImportError:  # scikit-learn is an extra
        return result
    config = TrainConfig(
        hidden=(64, 64), learning_rate=0.003, steps=2000, estimator="random", jr_lambda=0.01
    )
    model = raw_model(data, config, run(data, config, snapshot_every=config.steps).state)
    points, labels = data.raw_test_points, data.test_labels
    radii = default_epsilons(data)
    times = [
        _seconds(lambda: robustness.robust_accuracy(model, points, labels, radii))
        for _ in range(rounds)
    ]
    result["digits_pgd_ms"] = _spread([1e3 * t / len(points) for t in times])
    result["digits_points"] = len(points)
    result["digits_accuracy"] = robustness.robust_accuracy(model, points, labels, radii)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the Compare tab and jacviz train run these measures
    results = measure(args.rounds)
    results["d_inputs"] = measure_d(args.rounds)
    if args.json:
        print(json.dumps(results))
        return
    inputs = results.pop("d_inputs")
    for name, r in results.items():
        print(
            f"{name} ({r['points']} points): boundary {r['boundary_ms']:.2f} ms/point "
            f"({r['forwards_per_point']:.0f} forwards), PGD L2+L∞ {r['pgd_ms']:.2f} ms/point, "
            f"{robustness.PGD_RESTARTS} starts / 1 = {r['starts_over_one']:.1f}"
        )

    for d, r in inputs["walk_over_backward"].items():
        print(
            f"d = {d}: input gradients by the walk / by backward {r['median']:.2f}x "
            f"[{r['min']:.2f}, {r['max']:.2f}]"
        )
    if "digits_pgd_ms" in inputs:
        r = inputs["digits_pgd_ms"]
        curve = "  ".join(f"ε={e:g}: {a:.3f}" for e, a in inputs["digits_accuracy"].items())
        print(
            f"digits ({inputs['digits_points']} test points, λ = 0.01): L2 PGD "
            f"{r['median']:.2f} ms/point [{r['min']:.2f}, {r['max']:.2f}]; {curve}"
        )


if __name__ == "__main__":
    main()
