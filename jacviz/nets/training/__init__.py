"""Train small classifiers (2D, or d inputs and k classes), with or without Jacobian regularization.

The loss is cross-entropy plus ``λ · mean ‖J(x)‖²_F`` over the batch, where J is the Jacobian of
the logits with respect to the input (Hoffman, Roberts & Yaida 2019, "Robust Learning with
Jacobian Regularization"). One module per idea:

- :mod:`~jacviz.nets.training.config`: :class:`TrainConfig`, everything that determines a run,
  checked when it is made, its ranges and the untrained network (:func:`build_model`);
- :mod:`~jacviz.nets.training.penalty`: the Jacobian regularizer, its exact and random-projection
  estimators and the fused training step that computes the loss and its gradients by hand;
- :mod:`~jacviz.nets.training.loop`: the run itself, a generator of :class:`Snapshot` objects
  (:func:`train`, :func:`run`) and what it measures (:func:`accuracy`,
  :func:`jacobian_frobenius`).

Accuracy under attack, for models of any number of inputs, is
:func:`jacviz.nets.robustness.robust_accuracy`'s.

Every public name is importable from here; importing the package loads no torch until a name
that needs it (the trainer, the penalty) is first used.
"""

import importlib
from typing import TYPE_CHECKING, Any

from jacviz.nets.training.config import (
    ESTIMATORS,
    MAX_BATCH,
    MAX_HIDDEN_LAYERS,
    MAX_LEARNING_RATE,
    MAX_PENALTY,
    MAX_PROJECTIONS,
    MAX_SEED,
    MAX_STEPS,
    MAX_WIDTH,
    OPTIMIZERS,
    TRAINABLE_ACTIVATIONS,
    TrainConfig,
    TrainingError,
    build_model,
)

if TYPE_CHECKING:
    from jacviz.nets.training.loop import (
        Snapshot,
        TrainingData,
        accuracy,
        input_scale,
        jacobian_frobenius,
        load_state,
        run,
        train,
    )
    from jacviz.nets.training.penalty import (
        SIDES,
        directions_count,
        projection_estimates,
        projection_side,
    )

# Names whose modules import torch: loaded on first use, so that the config and its ranges
# (what command-line parsers and the lab's panels need) come without torch.
_LAZY = {
    "Snapshot": "loop",
    "TrainingData": "loop",
    "accuracy": "loop",
    "input_scale": "loop",
    "jacobian_frobenius": "loop",
    "load_state": "loop",
    "run": "loop",
    "train": "loop",
    "SIDES": "penalty",
    "directions_count": "penalty",
    "projection_estimates": "penalty",
    "projection_side": "penalty",
}

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
    "SIDES",
    "TRAINABLE_ACTIVATIONS",
    "Snapshot",
    "TrainConfig",
    "TrainingData",
    "TrainingError",
    "accuracy",
    "build_model",
    "directions_count",
    "input_scale",
    "jacobian_frobenius",
    "load_state",
    "projection_estimates",
    "projection_side",
    "run",
    "train",
]


def __getattr__(name: str) -> Any:
    """The trainer's torch parts, imported the first time one is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
