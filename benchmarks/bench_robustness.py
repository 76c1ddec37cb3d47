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
from jacviz.nets.networks import load_network

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the Compare tab and jacviz train run these measures
    results = measure(args.rounds)
    if args.json:
        print(json.dumps(results))
        return
    for name, r in results.items():
        print(
            f"{name} ({r['points']} points): boundary {r['boundary_ms']:.2f} ms/point "
            f"({r['forwards_per_point']:.0f} forwards), PGD L2+L∞ {r['pgd_ms']:.2f} ms/point, "
            f"{robustness.PGD_RESTARTS} starts / 1 = {r['starts_over_one']:.1f}"
        )


if __name__ == "__main__":
    main()
