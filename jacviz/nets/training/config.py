"""What determines a training run: :class:`TrainConfig`, its ranges and the untrained model.

A config is checked when it is made, whether typed in the lab, read from a session or given on
the command line, so every later step (the trainer, the session files, the panels' ranges) can
rely on it; the limits here are the ranges those inputs offer. Importing this module loads no
torch (only :func:`build_model` does), so command-line parsers can offer these ranges at once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jacviz.nets.networks import make_mlp
from jacviz.support.text_input import quote

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ESTIMATORS",
    "MAX_BATCH",
    "MAX_HIDDEN_LAYERS",
    "MAX_LEARNING_RATE",
    "MAX_PENALTY",
    "MAX_PROJECTIONS",
    "MAX_SEED",
    "MAX_STEPS",
    "MAX_WIDTH",
    "OPTIMIZERS",
    "TRAINABLE_ACTIVATIONS",
    "TrainConfig",
    "TrainingError",
    "build_model",
    "is_whole_number",
]

TRAINABLE_ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "gelu", "softplus")
"""Activations the trainer offers (each with the second derivative its regularizer needs)."""

ESTIMATORS: tuple[str, ...] = ("exact", "random")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")

MAX_WIDTH = 512
MAX_HIDDEN_LAYERS = 6
MAX_STEPS = 1_000_000
MAX_BATCH = 100_000
MAX_PROJECTIONS = 64
MAX_LEARNING_RATE = 10.0
MAX_PENALTY = 1e6
"""Largest λ and weight decay: far beyond any useful weight (Hoffman et al. use λ ≤ 1; a
million makes any run diverge, which is reported), and far below where float32 arithmetic
overflows (a weight decay of 1e39 raised)."""
MAX_SEED = 2**63 - 1


class TrainingError(ValueError):
    """A training configuration or dataset that cannot be trained; the message says why."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; the same config and data give the same model.

    Attributes
    ----------
    hidden : tuple of int
        Hidden layer widths, e.g. ``(32, 32)``.
    activation : str
        One of :data:`TRAINABLE_ACTIVATIONS`.
    optimizer : str
        ``"adam"`` or ``"sgd"`` (plain, no momentum).
    learning_rate, batch_size, steps, seed
        The usual. ``seed`` fixes the initial weights, the order of the minibatches and the
        random projections; two configs that differ only in ``jr_lambda`` start from the same
        weights and see the same batches, so their comparison isolates the regularizer.
    jr_lambda : float
        Weight λ of the Jacobian term ``λ · mean ‖J‖²_F``, 0 to :data:`MAX_PENALTY`; 0 trains
        plainly.
    estimator : str
        ``"exact"`` or ``"random"`` (see :mod:`jacviz.nets.training.penalty`).
    n_proj : int
        Number of random projections per point for the ``"random"`` estimator.
    weight_decay : float
        Plain L2 penalty ``(weight_decay / 2) · ‖W‖²`` on the weight matrices (not the biases),
        to compare against the Jacobian penalty; 0 to :data:`MAX_PENALTY`.

    Every field is checked when a config is made (whether typed in the lab, read from a
    session or given on the command line): a value of the wrong type or out of range raises a
    :class:`TrainingError` of one line naming the setting and its range.

    """

    hidden: tuple[int, ...] = (32, 32)
    activation: str = "tanh"
    optimizer: str = "adam"
    learning_rate: float = 0.01
    batch_size: int = 64
    steps: int = 2000
    seed: int = 0
    jr_lambda: float = 0.0
    estimator: str = "exact"
    n_proj: int = 1
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not 1 <= len(self.hidden) <= MAX_HIDDEN_LAYERS:
            raise TrainingError(
                f"hidden layers: give 1 to {MAX_HIDDEN_LAYERS} widths, got {len(self.hidden)}"
            )
        for width in self.hidden:
            if not is_whole_number(width) or not 1 <= width <= MAX_WIDTH:
                raise TrainingError(
                    f"hidden widths must be whole numbers 1..{MAX_WIDTH}, got {quote(width)}"
                )
        _choice("activation", self.activation, TRAINABLE_ACTIVATIONS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("estimator", self.estimator, ESTIMATORS)
        _positive("learning rate", self.learning_rate, upper=MAX_LEARNING_RATE)
        for name, value, lower, upper in (
            ("batch size", self.batch_size, 1, MAX_BATCH),
            ("steps", self.steps, 1, MAX_STEPS),
            ("number of projections", self.n_proj, 1, MAX_PROJECTIONS),
            ("seed", self.seed, 0, MAX_SEED),
        ):
            if not is_whole_number(value) or not lower <= value <= upper:
                raise TrainingError(
                    f"{name} must be a whole number {lower}..{upper}, got {quote(value)}"
                )
        for name, value in (("λ", self.jr_lambda), ("weight decay", self.weight_decay)):
            if not _is_real(value) or not 0 <= value <= MAX_PENALTY:
                raise TrainingError(
                    f"{name} must be a number from 0 to {MAX_PENALTY:g}, got {quote(value)}"
                )

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields, e.g. for network metadata and sessions."""
        data = dataclasses.asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The config :meth:`to_dict` wrote; unknown keys and bad values raise TrainingError."""
        if not isinstance(data, Mapping):
            raise TrainingError(f"a training configuration must be an object, got {quote(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(
                f"unknown training setting(s): {', '.join(quote(str(u)) for u in unknown[:5])}"
            )
        values = dict(data)
        if "hidden" in values:
            if not isinstance(values["hidden"], list | tuple):
                shown = quote(values["hidden"])
                raise TrainingError(f"hidden must be a list of widths, got {shown}")
            values["hidden"] = tuple(values["hidden"])
        return cls(**values)

    @property
    def regularized(self) -> bool:
        """Whether the Jacobian term is on."""
        return self.jr_lambda > 0


def is_whole_number(value: object) -> bool:
    """Whether ``value`` is a Python or numpy integer (not a bool): what counts settings."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """A finite int or float (not a bool): NaN fails every range check below, silently."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float64
        return False


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise TrainingError(f"unknown {name} {quote(value)}; choose from {', '.join(choices)}")


def _positive(name: str, value: object, upper: float) -> None:
    if not _is_real(value) or not 0 < value <= upper:
        raise TrainingError(f"{name} must be a number in (0, {upper:g}], got {quote(value)}")


def build_model(config: TrainConfig, input_dim: int, n_classes: int) -> nn.Sequential:
    """The untrained network of ``config``: ``input_dim → hidden… → n_classes``, float32."""
    import torch  # here: a config is made and checked without torch (command-line parsers)

    widths = [input_dim, *config.hidden, n_classes]
    return make_mlp(widths, config.activation, seed=config.seed, dtype=torch.float32)
