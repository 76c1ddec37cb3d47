"""Rebuild the example networks in this folder, bit for bit, from fixed seeds.

Run ``python examples/build_examples.py`` (or pass an output folder). Every network is
trained or initialised here with a fixed seed on one CPU thread, so on the same PyTorch build
the jacviz-format files come out byte-identical, and the TorchScript file has identical
weights and outputs (its archive also holds a random serialization id and names that torch
numbers in no fixed order). ``tests/test_examples.py`` checks both.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jacviz.nets.datasets import make_dataset
from jacviz.nets.metadata import classifier_metadata
from jacviz.nets.networks import make_mlp, save_mlp
from jacviz.nets.training import TrainConfig, load_state
from jacviz.nets.training import run as train_classifier

HERE = Path(__file__).resolve().parent


def _grid_points(
    count: int, low: float, high: float, generator: torch.Generator, inputs: int = 2
) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, inputs, generator=generator, dtype=torch.float64)


def _fit(
    model: nn.Module,
    target: Callable[[torch.Tensor], torch.Tensor],
    seed: int,
    steps: int = 1500,
    low: float = -2.0,
    high: float = 2.0,
    inputs: int = 2,
) -> float:
    """Fit ``model`` to ``target`` on random points of [low, high]^n by Adam; returns the MSE."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = torch.tensor(math.inf)
    for _ in range(steps):
        points = _grid_points(256, low, high, generator, inputs)
        loss = torch.mean((model(points) - target(points)) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def swirl(points: torch.Tensor) -> torch.Tensor:
    """The swirl preset: rotation by 1.5·exp(−r²), area-preserving."""
    x, y = points[:, 0], points[:, 1]
    angle = 1.5 * torch.exp(-(x**2 + y**2))
    return torch.stack(
        [x * torch.cos(angle) - y * torch.sin(angle), x * torch.sin(angle) + y * torch.cos(angle)],
        dim=1,
    )


def turn_by_z(points: torch.Tensor) -> torch.Tensor:
    """(x, y, z) ↦ (x, y) rotated by the angle z: every plane z = const is a rotation."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return torch.stack(
        [x * torch.cos(z) - y * torch.sin(z), x * torch.sin(z) + y * torch.cos(z)], 1
    )


def fold(points: torch.Tensor) -> torch.Tensor:
    """A map that folds the plane along y = 0.5·sin(x): (x, |y − 0.5·sin x|)."""
    x, y = points[:, 0], points[:, 1]
    return torch.stack([x, torch.abs(y - 0.5 * torch.sin(x))], dim=1)


class AffineCoupling(nn.Module):
    """One affine coupling layer (RealNVP): keeps one coordinate, scales and shifts the other.

    With ``flip`` False: y1 = x1, y2 = x2·exp(s(x1)) + t(x1). Its Jacobian is triangular with
    diagonal (1, exp(s)), so log|det J| = s(x1): cheap, exact, and always positive det.
    """

    def __init__(self, flip: bool, width: int, generator: torch.Generator):
        super().__init__()
        self.flip = flip
        self.hidden = nn.Linear(1, width, dtype=torch.float64)
        self.scale = nn.Linear(width, 1, dtype=torch.float64)
        self.shift = nn.Linear(width, 1, dtype=torch.float64)
        with torch.no_grad():
            for layer in (self.hidden, self.scale, self.shift):
                layer.weight.normal_(0.0, 0.8, generator=generator)
                layer.bias.normal_(0.0, 0.3, generator=generator)

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The coupled points and log|det J| of this layer at each point."""
        if self.flip:
            kept, moved = points[:, 1:2], points[:, 0:1]
        else:
            kept, moved = points[:, 0:1], points[:, 1:2]
        features = torch.tanh(self.hidden(kept))
        log_scale = 0.5 * torch.tanh(self.scale(features))
        moved = moved * torch.exp(log_scale) + self.shift(features)
        out = torch.cat([moved, kept], dim=1) if self.flip else torch.cat([kept, moved], dim=1)
        return out, log_scale[:, 0]


class CouplingFlow(nn.Module):
    """A small normalizing flow: four coupling layers, alternating which coordinate moves."""

    def __init__(self, generator: torch.Generator):
        super().__init__()
        self.layers = nn.ModuleList(
            [AffineCoupling(flip=i % 2 == 1, width=16, generator=generator) for i in range(4)]
        )

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Push points through every coupling layer."""
        for layer in self.layers:
            points, _ = layer(points)
        return points

    @torch.jit.export
    def log_det(self, points: torch.Tensor) -> torch.Tensor:
        """log|det J| of the whole flow at each point: the sum of the layers' log-scales."""
        total = torch.zeros(points.shape[0], dtype=points.dtype)
        for layer in self.layers:
            points, log_scale = layer(points)
            total = total + log_scale
        return total


@dataclass(frozen=True)
class FittedMLP:
    """An example MLP trained to imitate a known map."""

    name: str
    widths: list[int]
    activation: str
    seed: int
    target: Callable[[torch.Tensor], torch.Tensor]
    description: str


FITTED_MLPS = (
    FittedMLP(
        "tanh_warp",
        [2, 32, 32, 2],
        "tanh",
        1,
        swirl,
        "2→2 tanh MLP trained to imitate the swirl preset: smooth, no folds; compare its det "
        "(≈ 1 where it learnt well) with the preset's",
    ),
    FittedMLP(
        "relu_fold",
        [2, 48, 48, 2],
        "relu",
        2,
        fold,
        "2→2 ReLU MLP trained on the fold (x, |y − 0.5 sin x|): piecewise linear, with det "
        "changing sign across the learnt fold line",
    ),
    FittedMLP(
        "turn_3d",
        [3, 32, 32, 2],
        "tanh",
        4,
        turn_by_z,
        "3→2 tanh MLP trained on (x, y, z) ↦ (x, y) turned by the angle z: each plane z = const "
        "should look like a rotation (det ≈ 1, σ1 ≈ σ2 ≈ 1); change the plane's base b to move "
        "along z",
    ),
)


@dataclass(frozen=True)
class TrainedClassifier:
    """An example classifier trained by jacviz's own trainer (``jacviz train`` does the same)."""

    name: str
    dataset: dict
    config: TrainConfig
    description: str


_MOONS = {"name": "moons", "n_points": 300, "noise": 0.15, "seed": 0}
_MOONS_CONFIG = TrainConfig(hidden=(32, 32), steps=2000, learning_rate=0.01, seed=0)
_SPIRALS = {"name": "spirals", "n_points": 400, "noise": 0.1, "seed": 0}
_SPIRALS_CONFIG = TrainConfig(hidden=(64, 64), steps=3000, learning_rate=0.01, seed=0)

TRAINED_CLASSIFIERS = (
    TrainedClassifier(
        "moons_plain",
        _MOONS,
        _MOONS_CONFIG,
        "2→2 tanh classifier on two moons, trained without Jacobian regularization: sharp, "
        "narrow decision boundary (compare ‖J‖F with moons_jr)",
    ),
    TrainedClassifier(
        "moons_jr",
        _MOONS,
        _MOONS_CONFIG.replace(jr_lambda=0.05),
        "the same classifier, same initialization and batches, trained with λ = 0.05 · ‖J‖²F "
        "(Hoffman et al. 2019): a wider, smoother margin and a smaller ‖J‖F",
    ),
    TrainedClassifier(
        "spirals_plain",
        _SPIRALS,
        _SPIRALS_CONFIG,
        "2→2 tanh classifier on two spirals, trained without Jacobian regularization",
    ),
    TrainedClassifier(
        "spirals_jr",
        _SPIRALS,
        _SPIRALS_CONFIG.replace(jr_lambda=0.003),
        "the same spiral classifier trained with λ = 0.003 · ‖J‖²F: smaller ‖J‖F, larger "
        "decision cells",
    ),
)


def _jacviz_json(description: str, input_dim: int) -> dict[str, str]:
    """Metadata that jacviz reads from a TorchScript archive (its first layer sees 1 input)."""
    return {"jacviz.json": json.dumps({"description": description, "input_dim": input_dim})}


def build(folder: Path) -> list[Path]:
    """Write every example network into ``folder``; returns their paths."""
    torch.set_num_threads(1)  # one thread: the same sums in the same order, every time
    torch.use_deterministic_algorithms(True)
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    for spec in FITTED_MLPS:
        model = make_mlp(
            spec.widths, activation=spec.activation, seed=spec.seed, dtype=torch.float64
        )
        error = _fit(model, spec.target, seed=spec.seed + 10, inputs=spec.widths[0])
        path = folder / f"{spec.name}.safetensors"
        training = {"target": spec.target.__name__, "steps": 1500, "mse": round(error, 8)}
        save_mlp(model, path, {"description": spec.description, "training": training})
        written.append(path)

    for spec in TRAINED_CLASSIFIERS:
        dataset = dict(spec.dataset)
        data = make_dataset(dataset.pop("name"), **dataset)
        last = train_classifier(data, spec.config)
        model = load_state(spec.config, last.state, 2, data.n_classes)
        path = folder / f"{spec.name}.safetensors"
        metadata = classifier_metadata(
            spec.description,
            data,
            spec.config,
            last.train_accuracy,
            last.test_accuracy,
            mean_jacobian_frobenius=last.test_frobenius,
            recipe=spec.dataset,  # the recipe, not just the name: tests rebuild the data
        )
        # Saved in float64 (exactly the float32 weights) so its Jacobians check to 1e-10.
        save_mlp(model.double(), path, metadata)
        written.append(path)

    flow = torch.jit.script(CouplingFlow(torch.Generator().manual_seed(3)))
    path = folder / "coupling_flow.pt"
    description = (
        "invertible 2→2 normalizing flow of four affine coupling layers (TorchScript); "
        "det J > 0 everywhere and log|det J| = sum of the layers' log-scales"
    )
    # Into memory first: torch names the archive's folder after the file it writes, so saving
    # to a temporary file would put a random name inside; and a failed run leaves no file.
    buffer = io.BytesIO()
    torch.jit.save(flow, buffer, _extra_files=_jacviz_json(description, input_dim=2))
    path.write_bytes(buffer.getvalue())
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Build the examples into the given folder (default: this one)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=HERE)
    args = parser.parse_args(argv)
    for path in build(args.folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
