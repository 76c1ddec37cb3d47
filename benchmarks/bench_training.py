"""Benchmark Jacobian-regularized training against plain training, and live region refreshes.

Prints ratios measured in one run (absolute times on this shared 2-core machine vary by
20-40 %; ratios within one run are what to compare):

- ``jr_over_plain``: time per training step with the regularizer (random projections,
  n_proj = 1) / plain step, same model, data and batches, both through jacviz's trainer.
  Target ≤ 1.3 (Hoffman et al. report about 1.3×). Also the exact estimator, a bigger model,
  and, for context, the textbook double-backward implementation against a plain autograd step.
- ``digits_jr_over_plain`` and ``digits_jr_exact_over_plain``: the same for the 8×8 digits
  (64 inputs, 10 classes, a 64-64 tanh MLP, batch 64), where the estimator projects on the
  output side (when scikit-learn is installed).
- ``regions_refresh_hz``: decision regions (256 × 256) redrawn per second by the lab window
  (offscreen) while it trains, measured by ``bench_lab_window.py``. Target ≥ 30.
- ``steps_per_second_window`` and ``steps_per_second_headless``: the same model on the same data
  trained in the lab window while it draws, and headless (the trainer pulled flat out with the
  lab's snapshot interval and thread policy), in paired rounds of this run;
  ``window_over_headless`` is the median of the rounds' ratios. Target ≥ 0.5.

Run: ``python benchmarks/bench_training.py [--rounds 5] [--window-rounds 3] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_lab_window import measure_paired
from bench_lab_window import report as report_lab_window

from jacviz.nets.data import load_digits
from jacviz.nets.datasets import DatasetError, make_dataset
from jacviz.nets.fields import REGIONS
from jacviz.nets.training import TrainConfig, build_model, train
from jacviz.support.threads import single_threaded

JR_TARGET = 1.3


def step_time(data, config: TrainConfig, steps: int) -> float:
    """Seconds per step of jacviz's trainer (its own clock excludes snapshot measurements)."""
    last = None
    for last in train(data, config.replace(steps=steps), snapshot_every=steps):  # noqa: B007
        pass
    return last.seconds / steps


def textbook_step_times(data, config: TrainConfig, steps: int) -> tuple[float, float]:
    """Plain autograd and double-backward (Hoffman et al. with one output projection) steps."""
    points = torch.tensor(data.train_points, dtype=torch.float32)
    labels = torch.tensor(data.train_labels)
    times = []
    with single_threaded():  # as jacviz's trainer runs
        for regularized in (False, True):
            model = build_model(config, points.shape[1], data.n_classes)
            optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
            generator = torch.Generator().manual_seed(0)
            started = time.perf_counter()
            for _ in range(steps):
                index = torch.randint(0, points.shape[0], (config.batch_size,), generator=generator)
                x, y = points[index], labels[index]
                optimizer.zero_grad(set_to_none=True)
                if regularized:
                    x.requires_grad_(True)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                if regularized:
                    v = torch.randn(logits.shape, generator=generator)
                    v /= v.norm(dim=1, keepdim=True)
                    (grad,) = torch.autograd.grad((logits * v).sum(), x, create_graph=True)
                    loss = loss + config.jr_lambda * logits.shape[1] * (grad**2).sum() / x.shape[0]
                loss.backward()
                optimizer.step()
            times.append((time.perf_counter() - started) / steps)
    return times[0], times[1]


DIGITS_LABEL = "digits 64-64-64-10, batch 64"


def measured_models() -> list[tuple[str, object, tuple[int, ...], int]]:
    """(label, data, hidden sizes, batch size) of each model measured."""
    spirals = make_dataset("spirals3", n_points=900, noise=0.05, seed=0)
    models = [
        ("2-32-32-3, batch 64", spirals, (32, 32), 64),
        ("2-64-64-3, batch 128", spirals, (64, 64), 128),
    ]
    try:
        models.append((DIGITS_LABEL, load_digits(seed=0), (64, 64), 64))
    except DatasetError as error:  # scikit-learn missing: the 2D models only
        print(f"(no digits: {error})", file=sys.stderr)
    return models


def measure_ratios(rounds: int, steps: int) -> dict:
    results = {}
    for label, data, hidden, batch in measured_models():
        plain = TrainConfig(hidden=hidden, batch_size=batch, learning_rate=0.003)
        configs = {
            "plain": plain,
            "random": plain.replace(jr_lambda=0.01, estimator="random", n_proj=1),
            "exact": plain.replace(jr_lambda=0.01, estimator="exact"),
        }
        samples: dict[str, list[float]] = {name: [] for name in [*configs, "autograd", "double"]}
        for _ in range(rounds):  # interleaved, so slow phases of the machine hit every variant
            for name, config in configs.items():
                samples[name].append(step_time(data, config, steps))
            plain_autograd, double = textbook_step_times(data, configs["random"], steps)
            samples["autograd"].append(plain_autograd)
            samples["double"].append(double)
        median = {name: statistics.median(values) for name, values in samples.items()}
        results[label] = {
            "plain_us": 1e6 * median["plain"],
            "random_us": 1e6 * median["random"],
            "exact_us": 1e6 * median["exact"],
            "random_over_plain": median["random"] / median["plain"],
            "exact_over_plain": median["exact"] / median["plain"],
            "textbook_plain_us": 1e6 * median["autograd"],
            "textbook_double_backward_over_plain": median["double"] / median["autograd"],
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--refresh-seconds", type=float, default=3.0)
    parser.add_argument("--window-rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ratios = measure_ratios(args.rounds, args.steps)
    refresh = measure_paired(args.refresh_seconds, args.window_rounds, REGIONS)
    headline = ratios["2-32-32-3, batch 64"]
    summary = {
        "jr_over_plain": headline["random_over_plain"],
        "jr_exact_over_plain": headline["exact_over_plain"],
        **(
            {
                "digits_jr_over_plain": ratios[DIGITS_LABEL]["random_over_plain"],
                "digits_jr_exact_over_plain": ratios[DIGITS_LABEL]["exact_over_plain"],
            }
            if DIGITS_LABEL in ratios
            else {}
        ),
        "regions_refresh_hz": refresh["regions_refresh_hz"],
        "steps_per_second_window": refresh["steps_per_second_window"],
        "steps_per_second_headless": refresh["steps_per_second_headless"],
        "window_over_headless": refresh["window_over_headless"],
        "models": ratios,
        "refresh": refresh,
        "torch_threads": torch.get_num_threads(),
    }
    if args.json:
        print(json.dumps(summary))
        return
    for label, r in ratios.items():
        print(f"{label}: plain {r['plain_us']:.0f} us/step")
        print(f"  random (n_proj=1) {r['random_us']:.0f} us  ratio {r['random_over_plain']:.2f}")
        print(f"  exact             {r['exact_us']:.0f} us  ratio {r['exact_over_plain']:.2f}")
        print(
            f"  textbook: plain autograd {r['textbook_plain_us']:.0f} us, double backward "
            f"{r['textbook_double_backward_over_plain']:.2f}x"
        )
    ok = "meets" if summary["jr_over_plain"] <= JR_TARGET else "MISSES"
    print(f"jr_over_plain {summary['jr_over_plain']:.2f} ({ok} target ≤ {JR_TARGET})")
    print(report_lab_window(refresh))


if __name__ == "__main__":
    main()
