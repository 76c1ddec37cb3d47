"""The regularization lab's state as plain values: what the user chose, and a run's history.

One :class:`LabState` says what the user chose in the lab (data settings, model settings as
typed, what the plane shows, the class clicks add); :class:`Curves` is a training run's
history. The lab window holds and shows them; sessions save them. They live here, without
Qt, so that a session is read and checked completely, by the same rules the lab applies,
before anything on screen changes: :meth:`DataSettings.from_dict` and
:meth:`ModelSettings.from_dict` read them from a session's JSON and refuse, in one line naming
the setting, anything the lab could not hold or its panels could not show.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jacviz.nets.datasets import (
    DATASETS,
    Dataset,
    DatasetError,
    check_dataset_settings,
    make_dataset,
)
from jacviz.nets.fields import FROBENIUS, REGIONS
from jacviz.nets.training import (
    ESTIMATORS,
    OPTIMIZERS,
    TRAINABLE_ACTIVATIONS,
    TrainConfig,
    TrainingError,
)
from jacviz.support.json_input import (
    MAX_INTEGER,
    read_choice,
    read_integer,
    read_number,
    read_object,
    read_text,
)
from jacviz.support.text_input import NumberError, parse_integer, quote

if TYPE_CHECKING:  # annotations only: the trainer's snapshot module imports torch
    from jacviz.nets.training import Snapshot

MAX_SEED = 2**31 - 1
"""Largest seed the lab takes (its panels' spin boxes hold 32-bit integers)."""

MAX_LAB_NOISE = 2.0
"""Largest noise the lab's data panel offers."""

MAX_HIDDEN_TEXT = 200
"""Longest hidden-sizes text the lab keeps (six widths of three digits take 23 characters)."""

LAB_DISPLAYS: tuple[str, ...] = (REGIONS, FROBENIUS)
"""What the lab's plane can show: a model's decision regions, or its ‖J‖_F."""


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer widths from text such as ``"32, 32"`` (commas or spaces between widths).

    Widths are plain decimal whole numbers (ASCII digits: not ``１``, ``²`` or ``1_0``).

    Raises
    ------
    TrainingError
        If the text is empty or holds anything but whole numbers; the range of the widths is
        checked by :class:`~jacviz.nets.training.TrainConfig`.

    """
    parts = text.replace(",", " ").split()
    if not parts:
        raise TrainingError("hidden sizes: give at least one width, e.g. 32,32")
    widths = []
    for part in parts:
        try:
            if not (part.isascii() and part.isdigit()):  # no sign, point, "_" or other digits
                raise NumberError(f"{quote(part)} is not a whole number")
            widths.append(parse_integer(part))  # which bounds the digits
        except NumberError as error:
            raise TrainingError(f"hidden sizes: {error}; give widths like 32,32") from None
    return tuple(widths)


@dataclass(frozen=True)
class DataSettings:
    """How to generate the data: :func:`~jacviz.nets.datasets.make_dataset`'s arguments.

    ``test_fraction`` and ``seed`` also split CSV files without a split column.
    """

    name: str = "moons"
    n_points: int = 200
    noise: float = 0.1
    test_fraction: float = 0.3
    seed: int = 0
    n_classes: int = 3
    """Blobs only: the other datasets have a fixed number of classes."""

    def make(self) -> Dataset:
        """The dataset these settings describe (raises DatasetError if they are out of range)."""
        return make_dataset(
            self.name, self.n_points, self.noise, self.seed, self.test_fraction, self.n_classes
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields; :meth:`from_dict` reads them back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, value: object, where: str = "the lab's data settings") -> DataSettings:
        """Settings :meth:`to_dict` wrote, checked as the lab checks the settings it takes.

        Missing fields take their defaults. The settings must make data
        (:func:`~jacviz.nets.datasets.check_dataset_settings`: the rules by which the lab
        refuses a change of settings), and fit the lab's data panel (the seed and the noise
        within its ranges).

        Raises
        ------
        ValueError
            One line naming the setting.

        """
        defaults = cls()
        given = read_object(value, where, (), _DATA_READERS)
        fields = {
            name: read(given.get(name, getattr(defaults, name)), f"{where}: {name}")
            for name, read in _DATA_READERS.items()
        }
        try:
            check_dataset_settings(**fields)
        except DatasetError as error:
            raise ValueError(f"{where}: {error}") from None
        return cls(**fields)


_DATA_READERS: dict[str, Callable[[object, str], Any]] = {
    "name": lambda value, where: read_choice(value, where, DATASETS),
    "n_points": read_integer,
    "noise": lambda value, where: read_number(value, where, 0.0, MAX_LAB_NOISE),
    "test_fraction": read_number,
    "seed": lambda value, where: read_integer(value, where, 0, MAX_SEED),
    "n_classes": read_integer,
}
"""How each data setting is read: its type and the panel's range; make_dataset checks the rest."""


def format_hidden(widths: Sequence[int]) -> str:
    """Hidden layer widths as the training panel shows them, e.g. ``"32,32"``.

    :func:`parse_hidden` reads the text back.
    """
    return ",".join(str(width) for width in widths)


def _setting(field: dataclasses.Field) -> tuple[str, Any, dataclasses.Field]:
    """The model setting of one TrainConfig field: its name, type and default (hidden: text)."""
    if field.name == "hidden":
        return "hidden", str, dataclasses.field(default=format_hidden(field.default))
    return field.name, field.type, dataclasses.field(default=field.default)


_ModelFields = dataclasses.make_dataclass(
    "ModelFields", [_setting(f) for f in dataclasses.fields(TrainConfig)], frozen=True
)
"""The fields of :class:`ModelSettings`, made from :class:`TrainConfig`'s: one list of
settings and defaults, so a setting added to the trainer is a setting of the lab."""


@dataclass(frozen=True)
class ModelSettings(_ModelFields):
    """The model and training settings as the user entered them.

    One field per :class:`~jacviz.nets.training.TrainConfig` field, with the same name and
    default. Kept as entered (hidden sizes as text, NaN for a number field that does not hold
    one) so that a setting that does not make a valid :class:`TrainConfig` can be held, shown
    and reported rather than silently replaced.
    """

    @classmethod
    def from_config(
        cls, config: TrainConfig, where: str = "the lab's model settings"
    ) -> ModelSettings:
        """The settings that make ``config``, checked as :meth:`from_dict` checks them.

        Raises
        ------
        ValueError
            If ``config`` is outside what the lab's panel can hold (its seed is narrower).

        """
        fields = config.to_dict()
        fields["hidden"] = format_hidden(config.hidden)
        return cls.from_dict(fields, where)

    def config(self) -> TrainConfig:
        """The training configuration (raises TrainingError, saying which setting is wrong)."""
        fields = dataclasses.asdict(self)
        fields["hidden"] = parse_hidden(self.hidden)
        return TrainConfig(**fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields; a typed number that is no number is null (JSON has no NaN)."""
        fields = dataclasses.asdict(self)
        for name in _TYPED_NUMBERS:
            if not math.isfinite(fields[name]):
                fields[name] = None
        return fields

    @classmethod
    def from_dict(cls, value: object, where: str = "the lab's model settings") -> ModelSettings:
        """Settings :meth:`to_dict` wrote, checked as the lab's training panel holds them.

        Missing fields take their defaults. Choices must be the panel's; whole numbers must
        be in :class:`~jacviz.nets.training.TrainConfig`'s ranges (which the panel's spin
        boxes share; the seed up to :data:`MAX_SEED`); the typed numbers (learning rate, λ,
        weight decay) finite or null, read as NaN: as typed, they may not make a valid
        configuration, which the lab then reports; the hidden sizes are text of at most
        :data:`MAX_HIDDEN_TEXT` characters.

        Raises
        ------
        ValueError
            One line naming the setting.

        """
        defaults = cls()
        given = read_object(value, where, (), (f.name for f in dataclasses.fields(cls)))
        fields: dict[str, Any] = {}
        for name, default in dataclasses.asdict(defaults).items():
            item, at = given.get(name, default), f"{where}: {name}"
            if name == "hidden":
                fields[name] = read_text(item, at, MAX_HIDDEN_TEXT)
            elif name in _CHOICES:
                fields[name] = read_choice(item, at, _CHOICES[name])
            elif name in _TYPED_NUMBERS:
                fields[name] = math.nan if item is None else read_number(item, at)
            else:
                number = read_integer(item, at, 0, MAX_SEED if name == "seed" else MAX_INTEGER)
                try:
                    TrainConfig().replace(**{name: number})  # its range, as the panel's
                except TrainingError as error:
                    raise ValueError(f"{where}: {error}") from None
                fields[name] = number
        return cls(**fields)


_CHOICES = {
    "activation": TRAINABLE_ACTIVATIONS,
    "optimizer": OPTIMIZERS,
    "estimator": ESTIMATORS,
}
_TYPED_NUMBERS = ("learning_rate", "jr_lambda", "weight_decay")
"""The settings typed into text fields: NaN when the text is not a number."""


@dataclass(frozen=True)
class LabState:
    """Everything the user chose in the lab; the lab makes new ones, never edits."""

    data: DataSettings = DataSettings()
    model: ModelSettings = ModelSettings()
    display: str = REGIONS
    """What the plane shows: one of :data:`LAB_DISPLAYS`."""
    selected_class: int = 0
    """The class a click adds."""


LAB_START_LAMBDA = 0.05
"""The λ the lab starts with (the shipped moons_jr example's): a run the Compare tab can
compare with λ = 0 at once. :class:`ModelSettings` keeps :class:`TrainConfig`'s λ = 0 as its
default, which the CLI and sessions use."""

LAB_START = LabState(model=ModelSettings(jr_lambda=LAB_START_LAMBDA))
"""The settings a new lab window starts on."""


@dataclass(frozen=True, eq=False)
class Curves:
    """The history of a run for the curves: one entry per snapshot, as float64 arrays.

    ``jacobian_term`` is ``λ · mean ‖J‖²_F`` (NaN where the regularizer is off), the amount the
    regularizer adds to the loss.
    """

    step: np.ndarray
    cross_entropy: np.ndarray
    jacobian_term: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray
    test_frobenius: np.ndarray

    @staticmethod
    def row(snapshot: Snapshot, jr_lambda: float) -> tuple[float, ...]:
        """The numbers of ``snapshot`` the curves plot, in field order.

        Not the snapshot itself: a run's history holds thousands of rows, and a big model's
        weights are megabytes each.
        """
        term = snapshot.jacobian_term
        return (
            snapshot.step,
            snapshot.cross_entropy,
            math.nan if term is None else jr_lambda * term,
            snapshot.train_accuracy,
            snapshot.test_accuracy,
            snapshot.test_frobenius,
        )

    @classmethod
    def from_rows(cls, rows: list[tuple[float, ...]]) -> Curves:
        """Curves of the :meth:`row` of each snapshot."""
        columns = np.array(rows, dtype=np.float64).reshape(len(rows), len(dataclasses.fields(cls)))
        return cls(*columns.T)
