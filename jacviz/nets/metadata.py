"""What a saved classifier's network file says about itself: one schema, written and read here.

A classifier trained by jacviz (in the lab, by ``jacviz train``, or for the shipped examples)
is saved with :func:`~jacviz.nets.networks.save_mlp`, whose ``metadata`` argument is a JSON
object kept in the file. :func:`classifier_metadata` builds that object and
:func:`read_classifier_metadata` reads it back, so that every writer agrees on the keys and
every reader accepts every file already written. The keys, in the order they are written:

``description`` (str)
    One line for the map view's status bar.
``class_names`` (list of str)
    One name per output: the map view then shows the network as a classifier.
``dataset`` (str or object)
    The training data's name, e.g. ``"moons"``; or, when the data can be rebuilt from its
    recipe (the shipped examples), an object ``{"name": ..., <make_dataset arguments>}``,
    e.g. ``{"name": "moons", "n_points": 300, "noise": 0.15, "seed": 0}``, which
    ``make_dataset(**recipe)`` rebuilds exactly.
``training`` (object)
    The :class:`~jacviz.nets.training.TrainConfig` as :meth:`~TrainConfig.to_dict` writes it.
``step`` (int, optional)
    The training step the weights are from, when saved before the end (the lab).
``train_accuracy``, ``test_accuracy`` (number or null)
    Accuracies reached; null where there is none (no held-out points).
``mean_jacobian_frobenius`` (number or null, optional)
    Mean ‖J‖_F of the logits over the test points, where the writer measured it.
``domain`` (list of 4 numbers)
    ``[xmin, xmax, ymin, ymax]``: the data's rectangle, where the map view opens the network.
    Only for 2D data: data of more inputs has no plane of its own.
``input_standardization`` (object, optional)
    For data of more inputs (:class:`~jacviz.nets.data.VectorDataset`): ``{"mean": [...],
    "std": [...], "folded": true}``, the per-input standardization the network was trained
    with. It is *folded* into the saved network's first layer, so the file's network takes raw
    inputs and nothing is to be applied when it is loaded: this records what was done, for
    information (and to rebuild the standardized inputs the training saw).
``input_shape`` (list of int, optional)
    How the inputs form an image, row by row (``[8, 8]`` for the digits, ``[h, w]`` for an
    ``.npz`` whose ``X`` holds images).

Optional keys are left out, not written as null, when the writer has nothing to say; a number
that is not finite is written as null (JSON has no NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jacviz.math.grid import Domain
from jacviz.nets.data import Standardization, VectorDataset
from jacviz.nets.datasets import Dataset
from jacviz.nets.training import TrainConfig, TrainingError

__all__ = ["ClassifierMetadata", "classifier_metadata", "read_classifier_metadata"]


def _json_number(value: float | None) -> float | None:
    """``value``, or None where JSON has no number (NaN accuracy without test points)."""
    return value if value is not None and math.isfinite(value) else None


def classifier_metadata(
    description: str,
    dataset: Dataset | VectorDataset,
    config: TrainConfig,
    train_accuracy: float | None,
    test_accuracy: float | None,
    *,
    step: int | None = None,
    mean_jacobian_frobenius: float | None = None,
    recipe: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata of a classifier trained with ``config`` on ``dataset``, ready to save.

    Parameters
    ----------
    description : str
        One line on what the network is.
    dataset : Dataset or VectorDataset
        The data it was trained on: its class names, name and rectangle (2D) or
        standardization (more inputs) are written.
    config : TrainConfig
        How it was trained.
    train_accuracy, test_accuracy : float or None
        Accuracies reached (None or NaN: written as null).
    step : int, optional
        The step the weights are from; left out when None.
    mean_jacobian_frobenius : float, optional
        Mean ‖J‖_F over the test points; left out when None, null when NaN.
    recipe : mapping, optional
        ``make_dataset`` keyword arguments with ``"name"``, written in place of the bare name
        so that a reader can rebuild the data.

    """
    metadata: dict[str, Any] = {
        "description": description,
        "class_names": list(dataset.class_names),
        "dataset": dataset.name if recipe is None else dict(recipe),
        "training": config.to_dict(),
    }
    if step is not None:
        metadata["step"] = int(step)
    metadata["train_accuracy"] = _json_number(train_accuracy)
    metadata["test_accuracy"] = _json_number(test_accuracy)
    if mean_jacobian_frobenius is not None:
        metadata["mean_jacobian_frobenius"] = _json_number(mean_jacobian_frobenius)
    if isinstance(dataset, VectorDataset):
        standardization = dataset.standardization.to_json()
        metadata["input_standardization"] = {**standardization, "folded": True}
        if dataset.input_shape is not None:
            metadata["input_shape"] = list(dataset.input_shape)
    else:
        domain = dataset.domain
        metadata["domain"] = [domain.xmin, domain.xmax, domain.ymin, domain.ymax]
    return metadata


@dataclass(frozen=True)
class ClassifierMetadata:
    """What :func:`read_classifier_metadata` found in a file; None (NaN) where it found nothing.

    Attributes
    ----------
    description : str
        Empty when the file has none.
    class_names : tuple of str or None
        One name per output, when the file lists them as text.
    dataset_name : str or None
        The training data's name, whether the file stores a name or a recipe.
    recipe : dict or None
        The ``make_dataset`` arguments with ``"name"``, for files that store them (the
        examples); ``make_dataset(**recipe)`` rebuilds their data.
    training : TrainConfig or None
        The configuration, when the file has a valid one.
    step : int or None
        The step the weights are from, when the file says.
    train_accuracy, test_accuracy, mean_jacobian_frobenius : float
        NaN where the file has no number.
    domain : Domain or None
        The rectangle to open the network on, when the file has a valid one.
    standardization : Standardization or None
        The input standardization the network was trained with (already folded into the
        saved weights: for information), when the file has a valid one.
    input_shape : tuple of int or None
        How the inputs form an image, when the file says.

    """

    description: str = ""
    class_names: tuple[str, ...] | None = None
    dataset_name: str | None = None
    recipe: dict[str, Any] | None = None
    training: TrainConfig | None = None
    step: int | None = None
    train_accuracy: float = math.nan
    test_accuracy: float = math.nan
    mean_jacobian_frobenius: float = math.nan
    domain: Domain | None = None
    standardization: Standardization | None = None
    input_shape: tuple[int, ...] | None = None


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def read_classifier_metadata(metadata: Mapping[str, object]) -> ClassifierMetadata:
    """Read what :func:`classifier_metadata` wrote, in any file jacviz has saved.

    Lenient by design: a network file is useful without its metadata, so a key that is
    missing or malformed reads as "not known" (None or NaN) instead of raising. Both forms
    of ``dataset`` (a name, or a recipe with a name) are accepted.
    """
    names = metadata.get("class_names")
    class_names = (
        tuple(names)
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names)
        else None
    )
    dataset = metadata.get("dataset")
    recipe = None
    if isinstance(dataset, Mapping) and isinstance(dataset.get("name"), str):
        recipe = dict(dataset)
        dataset = recipe["name"]
    training = None
    if isinstance(metadata.get("training"), Mapping):
        try:
            training = TrainConfig.from_dict(metadata["training"])  # type: ignore[arg-type]
        except TrainingError:
            training = None
    step = metadata.get("step")
    domain = None
    bounds = metadata.get("domain")
    if isinstance(bounds, list) and len(bounds) == 4:
        try:
            domain = Domain(*(float(b) for b in bounds))
        except (TypeError, ValueError):
            domain = None
    shape = metadata.get("input_shape")
    if not (
        isinstance(shape, list)
        and 1 <= len(shape) <= 4
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
    ):
        shape = None
    return ClassifierMetadata(
        description=str(metadata.get("description", "")),
        class_names=class_names,
        dataset_name=dataset if isinstance(dataset, str) else None,
        recipe=recipe,
        training=training,
        step=step if isinstance(step, int) and not isinstance(step, bool) else None,
        train_accuracy=_number(metadata.get("train_accuracy")),
        test_accuracy=_number(metadata.get("test_accuracy")),
        mean_jacobian_frobenius=_number(metadata.get("mean_jacobian_frobenius")),
        domain=domain,
        standardization=Standardization.from_json(metadata.get("input_standardization")),
        input_shape=None if shape is None else tuple(shape),
    )
