"""Your own n-dimensional data: a NumPy ``.npz`` archive of inputs, labels and an optional split.

The format (what ``numpy.savez(FILE, X=X, y=y)`` or ``numpy.savez_compressed`` writes)::

    X      (N, d) numbers (bool, integer or float): the inputs, one row per point; an
           (N, h, w, ...) array (images) is flattened row by row to (N, h·w·...).
    y      (N,) labels: integers, whole floats, booleans or text. The k distinct labels become
           classes 0 .. k-1 in sorted order, and the class names are their text.
    split  optional, (N,): True / 1 / "test" for a held-out point, False / 0 / "train" for a
           training point. Without it, points are held out as for the other datasets
           (stratified by class, --test-fraction and --seed).

The file is untrusted, so it is read as data only: ``allow_pickle=False`` (no object arrays, so
no code), the file size is capped before reading, each array's shape and dtype are read from
its header and bounded *before* its data is unpacked (a small compressed file cannot unpack to
gigabytes), and NaN, infinity, absurd sizes, unknown arrays and labels that make no classes are
refused with one line naming the file and the problem.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from jacviz.nets.data.vectors import MAX_INPUTS, MAX_VALUES, MAX_VECTOR_CLASSES, VectorDataset
from jacviz.nets.datasets import (
    MAX_POINTS,
    DatasetError,
    check_seed,
    check_test_fraction,
    stratified_split,
)
from jacviz.support.files import read_regular_file
from jacviz.support.text_input import printable, quote

__all__ = ["MAX_NPZ_BYTES", "load_npz"]

MAX_NPZ_BYTES: int = 256 * 1024 * 1024
"""Largest ``.npz`` file :func:`load_npz` reads: the largest dataset (``MAX_VALUES`` float64
numbers) with room for its labels and split."""

_ARRAYS = ("X", "y", "split")
_INPUT_KINDS = "biuf"  # bool, integers, floats: numbers the network can read
_LABEL_KINDS = "biufU"
_SPLIT_WORDS = {"train": False, "test": True}


def load_npz(path: str | os.PathLike, test_fraction: float = 0.3, seed: int = 0) -> VectorDataset:
    """Read a dataset from an ``.npz`` archive of ``X``, ``y`` and optionally ``split``.

    Parameters
    ----------
    path : str or os.PathLike
        The archive, at most :data:`MAX_NPZ_BYTES`.
    test_fraction : float
        Share held out when the archive has no ``split`` (checked even when unused).
    seed : int
        Seed of that split.

    Returns
    -------
    VectorDataset
        Named after the file's stem, points in file order.

    Raises
    ------
    DatasetError
        One line naming the file and what is wrong: missing, unreadable, too large, not an
        ``.npz`` archive, an array missing or unknown, an object (pickled) array, a shape or
        dtype that does not fit, more than ``MAX_POINTS`` points, ``MAX_INPUTS`` inputs,
        ``MAX_VALUES`` numbers or ``MAX_VECTOR_CLASSES`` classes, a NaN or infinite input,
        fewer than 2 classes, an unknown split value or no training point.

    """
    fraction = check_test_fraction(test_fraction)
    seed = check_seed(seed)
    source = Path(path)
    name = printable(source.name or str(source))
    data = read_regular_file(source, name, MAX_NPZ_BYTES, ".npz file", DatasetError)
    if not data.startswith(b"PK"):
        raise DatasetError(
            f"{name} is not an .npz archive (numpy.savez writes one); "
            + ("an .npy file holds one array; " if data.startswith(b"\x93NUMPY") else "")
            + "save X and y with numpy.savez(FILE, X=X, y=y)"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DatasetError(f"{name} is not a readable .npz archive: {error}") from None
    arrays = {}
    for member in members:
        key = member.removesuffix(".npy")
        if key not in _ARRAYS:
            raise DatasetError(
                f"{name} holds an array {quote(key)}; a dataset holds X, y and optionally split"
            )
        arrays[key] = member
    for key in ("X", "y"):
        if key not in arrays:
            raise DatasetError(
                f"{name} has no array {key}; save it with numpy.savez(FILE, X=X, y=y)"
            )
    inputs = _read(archive, arrays["X"], name, "X", _INPUT_KINDS)
    if inputs.ndim < 2 or inputs.shape[0] < 2 or 0 in inputs.shape:
        raise DatasetError(
            f"{name}: X must have shape (N, d) with at least 2 points and 1 input, "
            f"got {inputs.shape}"
        )
    count = inputs.shape[0]
    points = inputs.reshape(count, -1).astype(np.float64)
    bad = ~np.isfinite(points)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DatasetError(
            f"{name}: X has {int(bad.sum())} NaN or infinite value(s), the first in row {row}"
        )
    raw_labels = _read(archive, arrays["y"], name, "y", _LABEL_KINDS)
    if raw_labels.shape != (count,):
        raise DatasetError(
            f"{name}: y must have shape ({count},), one label per row of X, got {raw_labels.shape}"
        )
    labels, class_names = _classes(raw_labels, name)
    if "split" in arrays:
        is_test = _split(_read(archive, arrays["split"], name, "split", "biuU"), count, name)
    else:
        rng = np.random.default_rng(seed)
        is_test = stratified_split(labels, len(class_names), fraction, rng)
    try:
        image = tuple(inputs.shape[1:]) if inputs.ndim > 2 else None
        return VectorDataset(
            points, labels, is_test, len(class_names), source.stem or name, class_names, image
        )
    except DatasetError as error:
        raise DatasetError(f"{name}: {error}") from None


def _read(archive: zipfile.ZipFile, member: str, name: str, key: str, kinds: str) -> np.ndarray:
    """One array of the archive, its header bounded before its data is unpacked."""
    try:
        with archive.open(member) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{name}: {key} is not a readable .npy array ({error})") from None
    if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None:
        objects = " (Python objects, which jacviz never unpickles)" if dtype.hasobject else ""
        wanted = {"X": "numbers (bool, integer or float)", "y": "integers, booleans or text"}
        raise DatasetError(
            f"{name}: {key} has dtype {dtype}{objects}; {key} must hold "
            + wanted.get(key, "booleans, 0 and 1, or 'train' and 'test'")
        )
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    rows = shape[0] if shape else 1
    if rows > MAX_POINTS or size > MAX_VALUES or (key == "X" and size // max(rows, 1) > MAX_INPUTS):
        raise DatasetError(
            f"{name}: {key} has shape {shape}; jacviz takes at most {MAX_POINTS} points of "
            f"{MAX_INPUTS} inputs and {MAX_VALUES:,} numbers"
        )
    if dtype.kind == "U" and dtype.itemsize > 4 * 255:
        raise DatasetError(f"{name}: {key} holds text longer than 255 characters")
    try:
        with archive.open(member) as stream:
            return np.lib.format.read_array(stream, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{name}: {key} cannot be read ({error})") from None


def _classes(raw: np.ndarray, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as classes 0..k-1 in sorted order, and each class's name (its label as text)."""
    if raw.dtype.kind == "f":
        if not (np.isfinite(raw).all() and (raw == np.round(raw)).all()):
            raise DatasetError(f"{name}: y holds numbers that are not whole: labels are classes")
        raw = raw.astype(np.int64)
    values, labels = np.unique(raw, return_inverse=True)
    if len(values) < 2:
        raise DatasetError(f"{name}: y has only one class; a classifier needs at least 2")
    if len(values) > MAX_VECTOR_CLASSES:
        raise DatasetError(
            f"{name}: y has {len(values)} classes; jacviz trains at most {MAX_VECTOR_CLASSES}"
        )
    names = tuple(str(value.item() if hasattr(value, "item") else value) for value in values)
    return labels.reshape(-1).astype(np.int64), names


def _split(raw: np.ndarray, count: int, name: str) -> np.ndarray:
    """``split`` as is_test booleans: True/1/"test" held out, False/0/"train" for training."""
    if raw.shape != (count,):
        raise DatasetError(f"{name}: split must have shape ({count},), got {raw.shape}")
    if raw.dtype.kind == "U":
        unknown = sorted(set(np.unique(raw).tolist()) - set(_SPLIT_WORDS))
        if unknown:
            raise DatasetError(f"{name}: split value {quote(unknown[0])} must be 'train' or 'test'")
        return raw == "test"
    if raw.dtype.kind in "iu" and not np.isin(raw, (0, 1)).all():
        raise DatasetError(f"{name}: split must be 0 (train) or 1 (test), or booleans")
    is_test = raw.astype(bool)
    if is_test.all():
        raise DatasetError(f"{name} has no training points: every split is test")
    return is_test
