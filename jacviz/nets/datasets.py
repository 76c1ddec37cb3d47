"""Seeded toy 2D classification datasets, and reading and writing them as CSV.

The datasets are the classic ones for watching a small network learn a decision boundary
(scikit-learn's ``make_moons`` / ``make_circles``, TensorFlow Playground's XOR and spirals,
Gaussian blobs). Each is a :class:`Dataset`: read-only arrays of points, integer labels and a
train/test split, which the trainer, the ``jacviz train`` command and the GUI lab share.

Everything random comes from ``numpy.random.default_rng(seed)`` (the global random state is
never touched), so the same arguments give bit-identical arrays on every run, and a training
run can be repeated from its settings alone.

Users also bring their own points as CSV files, so :func:`load_csv` reads untrusted text: it
caps the file size and row count, and every refusal is a :class:`DatasetError` whose message
names the file, the line and the problem.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from jacviz.math.grid import Domain, domain_containing
from jacviz.support.files import format_bytes, read_regular_file, write_atomically
from jacviz.support.json_input import text_problem
from jacviz.support.text_input import NumberError, parse_real, printable, quote

__all__ = [
    "DATASETS",
    "MAX_CLASSES",
    "MAX_CLASS_NAME",
    "MAX_COORDINATE",
    "MAX_CSV_BYTES",
    "MAX_NOISE",
    "MAX_POINTS",
    "MAX_SEED",
    "MAX_TEST_FRACTION",
    "Dataset",
    "DatasetError",
    "check_dataset_settings",
    "check_seed",
    "check_test_fraction",
    "checked_class_names",
    "load_csv",
    "make_dataset",
    "stratified_split",
]

DATASETS: tuple[str, ...] = ("moons", "circles", "xor", "spirals", "spirals3", "blobs")
"""Names :func:`make_dataset` accepts."""

MAX_POINTS: int = 100_000
"""Most points a dataset may hold: far more than a toy problem needs, small enough that a
training step over all of them stays interactive."""

MAX_CLASSES: int = 8
"""Most classes a dataset may have (one distinct colour each in the views)."""

MAX_CLASS_NAME: int = 255
"""Longest class name (a CSV label): one line of text, as a session or a model file keeps it."""

MAX_CSV_BYTES: int = 10 * 1024 * 1024
"""Largest CSV file :func:`load_csv` reads (100 000 rows of full-precision floats fit)."""

MAX_TEST_FRACTION: float = 0.9
"""Largest share of the points a split may hold out for testing."""

MAX_COORDINATE: float = 1e6
"""Largest size of a point's coordinates. Toy data lives near the unit square; beyond a
million, float32 training loses the digits that separate classes, and the data's domain (with
its margins) must stay a :class:`~jacviz.math.grid.Domain` the planes can draw."""

MAX_NOISE: float = 10.0
"""Largest noise standard deviation: five times the spirals' radius, where every dataset is
already a cloud (the lab offers up to 2)."""

MAX_SEED: int = 2**63 - 1
"""Largest seed (the trainer hands seeds to torch, whose generators take 64-bit seeds)."""

_CLASS_COUNT = {"moons": 2, "circles": 2, "xor": 2, "spirals": 2, "spirals3": 3}
_CIRCLES_FACTOR = 0.5  # inner radius / outer radius, as scikit-learn's make_circles default
_SPIRAL_RADIUS = 2.0  # large enough that adjacent arms stay apart at the default noise
_SPIRAL_TURNS = 1.75  # as TensorFlow Playground's spiral
_BLOB_RADIUS = 1.0  # blob centres lie on this circle
_BLOB_SPREAD = 0.2  # standard deviation of each blob before noise is added
_MARGIN = 0.15  # Dataset.domain's margin around the points, per side, as a share of the extent
_HEADERS = {("x", "y", "label"): False, ("x", "y", "label", "split"): True}
_SPLITS = {"train": False, "test": True}


class DatasetError(ValueError):
    """Arguments or a file that do not make a usable dataset.

    ``str(error)`` is one line for the user saying what is wrong (for a CSV file: which file,
    which line). It subclasses :class:`ValueError`, so callers that already catch bad input keep
    working.
    """


def checked_class_names(names: Sequence[object], n_classes: int) -> tuple[str, ...]:
    """``names`` as ``n_classes`` strings, each non-empty and printable; else a DatasetError.

    Every dataset can then be saved (CSV, session, model metadata) and read back.
    """
    class_names = tuple(str(name) for name in names)
    if len(class_names) != n_classes:
        raise DatasetError(f"need {n_classes} class names, got {len(class_names)}")
    for name in class_names:
        problem = "is empty" if not name else text_problem(name, MAX_CLASS_NAME)
        if problem is not None:
            raise DatasetError(f"the class name {quote(name)} {problem}")
    return class_names


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled points of the plane with a train/test split; immutable.

    The constructor copies its inputs into read-only arrays of the documented dtypes and checks
    them, so a dataset, once made, cannot change under the trainer or the views; editing
    methods (:meth:`with_point`, :meth:`without_nearest`) return new datasets. Datasets compare
    by identity; compare their arrays to compare content.

    Attributes
    ----------
    points : numpy.ndarray
        ``(n, 2)`` float64, finite.
    labels : numpy.ndarray
        ``(n,)`` int64, each in ``0 .. n_classes - 1``.
    is_test : numpy.ndarray
        ``(n,)`` bool: True for the points held out for testing.
    n_classes : int
        Number of classes, 1 to :data:`MAX_CLASSES` (a class may have no points left after
        editing).
    name : str
        What the data is: the generator name (``"moons"``) or the CSV file's stem.
    class_names : tuple of str
        One name per class, in label order: ``("0", "1", ...)`` for generated data, the
        file's original labels for CSV data.

    """

    points: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    n_classes: int
    name: str
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        try:
            points = np.array(self.points, dtype=np.float64)
        except (TypeError, ValueError):
            raise DatasetError("points must be an (n, 2) array of numbers") from None
        if points.ndim != 2 or points.shape[1] != 2:
            raise DatasetError(f"points must have shape (n, 2), got {points.shape}")
        count = len(points)
        if count > MAX_POINTS:
            raise DatasetError(f"a dataset holds at most {MAX_POINTS} points, got {count}")
        if not np.isfinite(points).all():
            raise DatasetError("points must be finite numbers (no NaN or infinity)")
        largest = float(np.abs(points).max()) if count else 0.0
        if largest > MAX_COORDINATE:
            raise DatasetError(
                f"point coordinates must be at most {MAX_COORDINATE:g} in size, got {largest:.6g}"
            )
        labels = np.asarray(self.labels)
        if labels.shape != (count,) or (count and labels.dtype.kind not in "iu"):
            raise DatasetError(f"labels must be {count} integers, got shape {labels.shape}")
        is_test = np.asarray(self.is_test)
        if is_test.shape != (count,) or (count and is_test.dtype != np.bool_):
            raise DatasetError(f"is_test must be {count} booleans, got shape {is_test.shape}")
        n_classes = _integer(self.n_classes, "n_classes")
        if not 1 <= n_classes <= MAX_CLASSES:
            raise DatasetError(f"n_classes must be 1 to {MAX_CLASSES}, got {n_classes}")
        if count and (labels.min() < 0 or labels.max() >= n_classes):
            raise DatasetError(f"labels must be in 0..{n_classes - 1}")
        class_names = checked_class_names(self.class_names, n_classes)
        object.__setattr__(self, "points", _readonly(points))
        object.__setattr__(self, "labels", _readonly(labels.astype(np.int64)))
        object.__setattr__(self, "is_test", _readonly(is_test.astype(np.bool_)))
        object.__setattr__(self, "n_classes", n_classes)
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "class_names", class_names)

    @property
    def n_points(self) -> int:
        """Number of points, train and test together."""
        return len(self.points)

    @property
    def train_points(self) -> np.ndarray:
        """``(n_train, 2)`` read-only points of the training split, in dataset order."""
        return _readonly(self.points[~self.is_test])

    @property
    def train_labels(self) -> np.ndarray:
        """Read-only labels of :attr:`train_points`."""
        return _readonly(self.labels[~self.is_test])

    @property
    def test_points(self) -> np.ndarray:
        """``(n_test, 2)`` read-only points of the test split, in dataset order."""
        return _readonly(self.points[self.is_test])

    @property
    def test_labels(self) -> np.ndarray:
        """Read-only labels of :attr:`test_points`."""
        return _readonly(self.labels[self.is_test])

    @property
    def domain(self) -> Domain:
        """The bounding box of all points widened by 15% of its extent on every side.

        This is the region a decision-boundary view should show. The aspect ratio follows the
        data. An axis along which all points agree (one point, or a line of points) gets the
        extent of the other axis, or 1 if both are flat; an empty dataset gets ``[-1, 1]²``.
        A side thinner than a :class:`~jacviz.math.grid.Domain` may be (points nearly on a
        line) is widened about its middle, so every dataset has a domain the planes can draw.
        """
        if not self.n_points:
            return Domain(-1.0, 1.0, -1.0, 1.0)
        low = self.points.min(axis=0)
        high = self.points.max(axis=0)
        extent = high - low
        fallback = float(extent.max()) or 1.0
        bounds = []
        for lo, hi, size in zip(low.tolist(), high.tolist(), extent.tolist(), strict=True):
            pad = _MARGIN * size if size else (0.5 + _MARGIN) * fallback
            bounds += [lo - pad, hi + pad]
        return domain_containing(*bounds)

    def with_point(self, point: Any, label: int, test: bool = False) -> Dataset:
        """A copy with one more point, appended at the end (for adding points by clicking).

        Parameters
        ----------
        point : array_like
            The new point's ``(x, y)``; finite.
        label : int
            Its class, ``0 .. n_classes - 1``.
        test : bool, optional
            Put it in the test split rather than the training split.

        Raises
        ------
        DatasetError
            If the point is not two finite numbers, the label is out of range, or the dataset
            already holds :data:`MAX_POINTS` points.

        """
        xy = _point(point)
        label = _integer(label, "label")
        if not 0 <= label < self.n_classes:
            raise DatasetError(f"label must be in 0..{self.n_classes - 1}, got {label}")
        if self.n_points >= MAX_POINTS:
            raise DatasetError(f"a dataset holds at most {MAX_POINTS} points")
        return replace(
            self,
            points=np.vstack([self.points, xy[None, :]]),
            labels=np.append(self.labels, np.int64(label)),
            is_test=np.append(self.is_test, bool(test)),
        )

    def without_nearest(self, point: Any, radius: float) -> Dataset:
        """A copy without the point nearest to ``point``, if it lies within ``radius``.

        This is removing a point by clicking near it: when no point is within ``radius``
        (Euclidean distance, inclusive) the copy is unchanged; of equally near points the
        first in dataset order goes.

        Raises
        ------
        DatasetError
            If ``point`` is not two finite numbers or ``radius`` is negative or not finite.

        """
        xy = _point(point)
        radius = _real(radius, "radius")
        if radius < 0:
            raise DatasetError(f"radius must be a finite number >= 0, got {radius}")
        if not self.n_points:
            return replace(self)
        distances = np.hypot(self.points[:, 0] - xy[0], self.points[:, 1] - xy[1])
        nearest = int(np.argmin(distances))
        if distances[nearest] > radius:
            return replace(self)
        keep = np.ones(self.n_points, dtype=bool)
        keep[nearest] = False
        return replace(
            self, points=self.points[keep], labels=self.labels[keep], is_test=self.is_test[keep]
        )

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the dataset as CSV that :func:`load_csv` reads back bit for bit.

        The file has the header ``x,y,label,split`` and one row per point in dataset order.
        Coordinates are written with Python's ``repr`` (the shortest text that parses back to
        the same float64), the label as its class name, the split as ``train`` or ``test``.
        Loading gives back the same arrays and class names when the class names are in the
        order :func:`load_csv` sorts them (true for generated and loaded datasets) and every
        class still has a point. The write is atomic: a temporary file in the same directory
        replaces ``path`` in one step, so a crash never leaves half a file.

        Raises
        ------
        DatasetError
            If a class name cannot be stored in a CSV field (empty, a comma, a line break, or
            surrounding spaces), the text would exceed :data:`MAX_CSV_BYTES`, or the file
            cannot be written (the message gives the operating system's reason).

        """
        target = Path(path)
        for class_name in self.class_names:
            problem = _csv_field_problem(class_name)
            if problem:
                raise DatasetError(
                    f"cannot save {target.name or target}: class name {class_name!r} {problem}"
                )
        lines = ["x,y,label,split"]
        names = self.class_names
        for (x, y), label, test in zip(
            self.points.tolist(), self.labels.tolist(), self.is_test.tolist(), strict=True
        ):
            lines.append(f"{x!r},{y!r},{names[label]},{'test' if test else 'train'}")
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        if len(payload) > MAX_CSV_BYTES:
            raise DatasetError(
                f"cannot save {target.name or target}: the CSV would be "
                f"{format_bytes(len(payload))}, more than the {format_bytes(MAX_CSV_BYTES)} "
                "load_csv reads"
            )
        try:
            write_atomically(target, payload)
        except OSError as error:
            raise DatasetError(f"cannot write {target}: {error.strerror or error}") from None


# ----------------------------------------------------------------------------------------------
# Generators
# ----------------------------------------------------------------------------------------------


def make_dataset(
    name: str,
    n_points: int = 200,
    noise: float = 0.1,
    seed: int = 0,
    test_fraction: float = 0.3,
    n_classes: int = 3,
) -> Dataset:
    """A seeded toy classification dataset of the plane.

    Every class gets ``n_points // k`` or one more points (the first classes get the extra
    ones), and ``noise`` is always the standard deviation of isotropic Gaussian jitter added to
    the clean points (labels come from the clean points). The datasets:

    ``moons``
        scikit-learn's two moons: the upper half of the unit circle (class 0) and, hooked
        into it, the lower half of the unit circle centred at ``(1, 0.5)`` (class 1; in
        scikit-learn's words ``(1 - cos t, 1 - sin t - 0.5)``), evenly spaced along each arc.
    ``circles``
        Two concentric circles, radius 1 (class 0) and 0.5 (class 1), evenly spaced points.
    ``xor``
        Uniform points in ``[-1, 1]²``; class 1 where ``sign(x)·sign(y) = 1`` (first and third
        quadrants), class 0 elsewhere. No clean point lies on an axis.
    ``spirals`` / ``spirals3``
        TensorFlow Playground's spiral with 2 or 3 interleaved Archimedean arms, class ``k``
        turned by ``2πk/arms``. Each arm makes 1.75 turns counter-clockwise while its radius
        grows linearly from ``2/m`` to 2 (m points per arm); the radius is 2 rather than 1 so
        that the arms stay apart at the default noise.
    ``blobs``
        ``n_classes`` Gaussian blobs (standard deviation 0.2 before the noise) centred on the
        unit circle at angles ``2πk / n_classes``, class 0 at ``(1, 0)``.

    Rows are shuffled, so classes are interleaved in dataset order.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    n_points : int, optional
        Total number of points, from 2 per class up to :data:`MAX_POINTS`.
    noise : float, optional
        Standard deviation of the Gaussian jitter, 0 to :data:`MAX_NOISE`.
    seed : int, optional
        Seed (0 to :data:`MAX_SEED`) of everything random: positions, jitter, shuffle and
        split. The same arguments always give bit-identical arrays.
    test_fraction : float, optional
        Share of points held out for testing, 0 to :data:`MAX_TEST_FRACTION`. Exactly
        ``round(test_fraction * n_points)`` points are held out, spread over the classes in
        proportion to their size, but never a class's last training point.
    n_classes : int, optional
        Number of blobs, 2 to :data:`MAX_CLASSES`. Only ``blobs`` uses it; the other datasets
        have a fixed number of classes (3 for ``spirals3``, 2 for the rest) and ignore it
        (but a value out of range is refused all the same).

    Returns
    -------
    Dataset
        Named ``name``, with class names ``"0"``, ``"1"``, ...

    Raises
    ------
    DatasetError
        For an unknown name or an argument out of range.

    """
    classes, count, noise, seed, fraction = check_dataset_settings(
        name, n_points, noise, seed, test_fraction, n_classes
    )
    rng = np.random.default_rng(seed)

    sizes = [count // classes + (k < count % classes) for k in range(classes)]
    parts = [_GENERATORS[name](k, size, classes, rng) for k, size in enumerate(sizes)]
    clean = np.concatenate(parts)
    labels = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    points = clean + noise * rng.standard_normal(clean.shape)
    order = rng.permutation(count)
    points, labels = points[order], labels[order]
    is_test = stratified_split(labels, classes, fraction, rng)
    return Dataset(points, labels, is_test, classes, name, tuple(map(str, range(classes))))


def check_dataset_settings(
    name: str = "moons",
    n_points: int = 200,
    noise: float = 0.1,
    seed: int = 0,
    test_fraction: float = 0.3,
    n_classes: int = 3,
) -> tuple[int, int, float, int, float]:
    """Check :func:`make_dataset`'s arguments without generating anything.

    Every setting is checked, also those the dataset does not use (``n_classes`` of moons):
    this is how ``jacviz train`` refuses an absurd option before any work, whatever the data.

    Returns
    -------
    tuple
        ``(classes, n_points, noise, seed, test_fraction)`` as plain Python numbers, where
        ``classes`` is the number of classes of ``name``.

    Raises
    ------
    DatasetError
        For an unknown name, a value of the wrong type or out of range; one line.

    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {quote(str(name))}; choose from {', '.join(DATASETS)}")
    wanted = _integer(n_classes, "n_classes")
    if not 2 <= wanted <= MAX_CLASSES:
        noun = "blobs needs n_classes" if name == "blobs" else "n_classes must be"
        raise DatasetError(f"{noun} from 2 to {MAX_CLASSES}, got {quote(wanted)}")
    classes = wanted if name == "blobs" else _CLASS_COUNT[name]
    count = _integer(n_points, "n_points")
    if not 2 * classes <= count <= MAX_POINTS:
        raise DatasetError(
            f"{name} needs n_points from {2 * classes} (2 per class) to {MAX_POINTS}, "
            f"got {quote(count)}"
        )
    noise = _real(noise, "noise")
    if noise < 0:
        raise DatasetError(f"noise must be a finite number >= 0, got {noise}")
    if noise > MAX_NOISE:
        raise DatasetError(f"noise must be from 0 to {MAX_NOISE:g}, got {noise:g}")
    return classes, count, noise, check_seed(seed), check_test_fraction(test_fraction)


def _moon(k: int, size: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    angle = np.linspace(0.0, np.pi, size)
    if k == 0:
        return np.column_stack([np.cos(angle), np.sin(angle)])
    return np.column_stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)])


def _circle(k: int, size: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    angle = np.linspace(0.0, 2.0 * np.pi, size, endpoint=False)
    radius = 1.0 if k == 0 else _CIRCLES_FACTOR
    return radius * np.column_stack([np.cos(angle), np.sin(angle)])


def _xor(k: int, size: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    # 1 - uniform[0, 1) lies in (0, 1], so no clean point sits on an axis with sign 0.
    magnitude = 1.0 - rng.random((size, 2))
    sign_x = rng.choice(np.array([-1.0, 1.0]), size)
    sign_y = sign_x if k == 1 else -sign_x
    return magnitude * np.column_stack([sign_x, sign_y])


def _spiral(k: int, size: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    along = np.arange(1, size + 1) / size
    radius = _SPIRAL_RADIUS * along
    angle = 2.0 * np.pi * (_SPIRAL_TURNS * along + k / classes)
    return radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])


def _blob(k: int, size: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    angle = 2.0 * np.pi * k / classes
    centre = _BLOB_RADIUS * np.array([np.cos(angle), np.sin(angle)])
    return centre + _BLOB_SPREAD * rng.standard_normal((size, 2))


_GENERATORS = {
    "moons": _moon,
    "circles": _circle,
    "xor": _xor,
    "spirals": _spiral,
    "spirals3": _spiral,
    "blobs": _blob,
}


def stratified_split(
    labels: np.ndarray, n_classes: int, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Mark ``round(fraction * n)`` points as test, stratified by class.

    Each class gets its proportional share, rounded by largest remainder (ties to the lower
    class), and keeps at least one training point, so the total drops below the rounded
    target only when the target would leave a class without training points.
    """
    sizes = np.bincount(labels, minlength=n_classes)
    room = np.maximum(sizes - 1, 0)
    target = min(round(fraction * len(labels)), int(room.sum()))
    share = target * sizes / max(len(labels), 1)
    counts = np.minimum(np.floor(share).astype(np.int64), room)
    by_remainder = sorted(range(n_classes), key=lambda k: (counts[k] - share[k], k))
    while counts.sum() < target:
        for k in by_remainder:
            if counts.sum() < target and counts[k] < room[k]:
                counts[k] += 1
    is_test = np.zeros(len(labels), dtype=bool)
    for k in range(n_classes):
        members = np.flatnonzero(labels == k)
        is_test[rng.permutation(members)[: counts[k]]] = True
    return is_test


# ----------------------------------------------------------------------------------------------
# CSV files
# ----------------------------------------------------------------------------------------------


def load_csv(path: str | os.PathLike, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """Read labelled points from a CSV file.

    The format: UTF-8 text, one point per line as ``x,y,label`` or ``x,y,label,split``, comma
    separated (no quoting), with an optional first line ``x,y,label`` or ``x,y,label,split``
    as header. Coordinates are plain decimal numbers (``-1.5``, ``2e-3``; not ``1_0``,
    ``inf`` or full-width digits) of size at most :data:`MAX_COORDINATE`. Blank lines and
    lines starting with ``#`` are skipped. Labels are any text (``0``, ``-1``, ``cat``); the
    k distinct labels become classes ``0 .. k-1`` in sorted order, numerically when every
    label is a plain decimal number, and :attr:`Dataset.class_names` keeps the
    original texts. The split column holds ``train`` or ``test``; without it, the points are
    split as :func:`make_dataset` splits them, with ``test_fraction`` and ``seed``.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file, at most :data:`MAX_CSV_BYTES` and :data:`MAX_POINTS` rows.
    test_fraction : float, optional
        Share of points held out for testing when the file has no split column, 0 to
        :data:`MAX_TEST_FRACTION` (checked even when unused).
    seed : int, optional
        Seed (>= 0) of that split.

    Returns
    -------
    Dataset
        Named after the file's stem, points in file order.

    Raises
    ------
    DatasetError
        If the file is missing or unreadable (with the operating system's reason), not a
        regular file, too large, binary or not UTF-8, has a line with the wrong number of
        columns, a coordinate that is not a plain decimal number or larger than
        :data:`MAX_COORDINATE`, an empty label or an unknown split,
        has too many rows, fewer than 2 or more than :data:`MAX_CLASSES` classes, or a split
        column with no training point. Messages give the line number where there is one.

    """
    fraction = check_test_fraction(test_fraction)
    seed = check_seed(seed)
    source = Path(path)
    name = printable(source.name or str(source))  # a file name may hold line breaks
    text = _read_text(source, name)

    points: list[tuple[float, float]] = []
    raw_labels: list[str] = []
    splits: list[bool] = []
    columns = 0
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")]
        if not columns:
            columns = len(fields)
            header = tuple(field.lower() for field in fields)
            if header in _HEADERS:
                continue
            if columns not in (3, 4):
                raise DatasetError(
                    f"{name} line {number} has {_columns(columns)}; expected x,y,label or "
                    "x,y,label,split (comma separated)"
                )
            if not _is_number(fields[0]):
                raise DatasetError(
                    f"{name} line {number} is neither a header (x,y,label or x,y,label,split) "
                    f"nor a data row: x {quote(fields[0])} is not a number"
                )
        elif len(fields) != columns:
            expected = "x,y,label,split" if columns == 4 else "x,y,label"
            raise DatasetError(
                f"{name} line {number} has {_columns(len(fields))}; expected {columns} "
                f"({expected}) like the lines before"
            )
        if len(points) >= MAX_POINTS:
            raise DatasetError(f"{name} has more than {MAX_POINTS} data rows")
        x = _coordinate(fields[0], "x", name, number)
        y = _coordinate(fields[1], "y", name, number)
        if not fields[2]:
            raise DatasetError(f"{name} line {number} has an empty label")
        points.append((x, y))
        raw_labels.append(fields[2])
        if columns == 4:
            split = _SPLITS.get(fields[3].lower())
            if split is None:
                raise DatasetError(
                    f"{name} line {number}: split {quote(fields[3])} must be 'train' or 'test'"
                )
            splits.append(split)

    if not points:
        raise DatasetError(f"{name} has no data rows")
    class_names = _sorted_labels(set(raw_labels))
    if len(class_names) < 2:
        raise DatasetError(
            f"{name} has only one class ({quote(class_names[0])}); a classification dataset "
            "needs at least 2"
        )
    if len(class_names) > MAX_CLASSES:
        raise DatasetError(
            f"{name} has {len(class_names)} classes; jacviz supports at most {MAX_CLASSES}"
        )
    index = {label: k for k, label in enumerate(class_names)}
    labels = np.array([index[label] for label in raw_labels], dtype=np.int64)
    if columns == 4:
        is_test = np.array(splits, dtype=bool)
        if is_test.all():
            raise DatasetError(f"{name} has no training points: every split is 'test'")
    else:
        is_test = stratified_split(labels, len(class_names), fraction, np.random.default_rng(seed))
    array = np.array(points, dtype=np.float64).reshape(-1, 2)
    return Dataset(array, labels, is_test, len(class_names), source.stem or name, class_names)


def _read_text(source: Path, name: str) -> str:
    """The whole file as text: a regular UTF-8 file of at most MAX_CSV_BYTES, or raise."""
    data = read_regular_file(source, name, MAX_CSV_BYTES, "CSV file", DatasetError)
    if b"\0" in data:
        raise DatasetError(f"{name} contains NUL bytes, so it is a binary file, not a CSV file")
    try:
        return data.decode("utf-8-sig")  # -sig: skip the byte order mark some editors write
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DatasetError(
            f"{name} is not UTF-8 text (line {line} has a byte 0x{data[error.start]:02x} that "
            "UTF-8 does not allow); save it as UTF-8"
        ) from None


def _coordinate(text: str, axis: str, name: str, number: int) -> float:
    try:
        value = parse_real(text)
    except NumberError as error:
        raise DatasetError(f"{name} line {number}: {axis} {error}") from None
    if abs(value) > MAX_COORDINATE:
        raise DatasetError(
            f"{name} line {number}: {axis} {quote(text)} is more than {MAX_COORDINATE:g} in size "
            "(the largest coordinate jacviz takes)"
        )
    return value


def _is_number(text: str) -> bool:
    try:
        parse_real(text)
    except NumberError:
        return False
    return True


def _sorted_labels(labels: set[str]) -> tuple[str, ...]:
    """Labels in class order: numerically if all are plain decimal numbers, else as text."""
    if not all(_is_number(label) for label in labels):
        return tuple(sorted(labels))
    values = {label: parse_real(label) for label in labels}
    return tuple(sorted(labels, key=lambda label: (values[label], label)))


def _csv_field_problem(text: str) -> str | None:
    """Why ``text`` cannot be a label field that load_csv reads back unchanged, or None."""
    if not text:
        return "is empty"
    if "," in text:
        return "contains a comma"
    if "\n" in text or "\r" in text:
        return "contains a line break"
    if text != text.strip():
        return "starts or ends with spaces"
    return None


def _columns(count: int) -> str:
    return f"{count} column{'' if count == 1 else 's'}"


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise DatasetError(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise DatasetError(f"{what} must be an integer, got {quote(value)}") from None


def _real(value: Any, what: str) -> float:
    # Numbers only: text goes through text_input.parse_real first, which refuses "inf" and
    # "1_0" where float() would take them.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DatasetError(f"{what} must be a number, got {quote(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float64
        raise DatasetError(f"{what} must be a finite number, got {quote(value)}") from None
    if not math.isfinite(number):
        raise DatasetError(f"{what} must be a finite number, got {number}")
    return number


def check_seed(seed: Any) -> int:
    """``seed`` as an int from 0 to :data:`MAX_SEED` (a split's seed), or a DatasetError."""
    value = _integer(seed, "seed")
    if value < 0:
        raise DatasetError(f"seed must be an integer >= 0, got {quote(value)}")
    if value > MAX_SEED:
        raise DatasetError(f"seed must be an integer from 0 to {MAX_SEED}, got {quote(value)}")
    return value


def check_test_fraction(value: Any) -> float:
    """``value`` as a float from 0 to :data:`MAX_TEST_FRACTION`, or a DatasetError."""
    fraction = _real(value, "test_fraction")
    if not 0.0 <= fraction <= MAX_TEST_FRACTION:
        raise DatasetError(f"test_fraction must be from 0 to {MAX_TEST_FRACTION}, got {fraction}")
    return fraction


def _point(point: Any) -> np.ndarray:
    try:
        xy = np.asarray(point, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise DatasetError(f"a point must be two numbers (x, y), got {quote(point)}") from None
    if xy.shape != (2,):
        raise DatasetError(f"a point must be two numbers (x, y), got shape {xy.shape}")
    if not np.isfinite(xy).all():
        raise DatasetError(f"a point must be finite, got {tuple(xy.tolist())}")
    return xy
