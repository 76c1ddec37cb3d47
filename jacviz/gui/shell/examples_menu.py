"""The Examples menu: the shipped example networks, each with a readable title and its story.

The menu is filled when the window opens, so it must not load any network: the title and
the description (the item's tooltip) come from the file's metadata alone, read from its
header (:func:`peek_metadata`): a jacviz MLP file's safetensors header, or the
``jacviz.json`` entry of a TorchScript or torch.export archive. A file whose header cannot be
read still gets an item, titled after its file name; opening it says what is wrong.
"""

from __future__ import annotations

import html
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtWidgets import QMenu

from jacviz.nets.metadata import read_classifier_metadata
from jacviz.nets.networks import example_files
from jacviz.nets.networks.limits import EXTRA_FILE
from jacviz.nets.networks.mlp_schema import HEADER_KEY
from jacviz.nets.networks.strict import strict_json

MAX_HEADER_BYTES = 1 << 20
"""Headers larger than this are not read for the menu (a network's header is a few KiB)."""
_WORDS = {"relu": "ReLU", "3d": "3D", "jr": "JR", "mlp": "MLP", "xor": "XOR"}


def _safetensors_metadata(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        size = int.from_bytes(file.read(8), "little")
        if not 2 <= size <= MAX_HEADER_BYTES:
            return {}
        header = strict_json(file.read(size).decode("utf-8"))
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get(HEADER_KEY), str):
        return {}
    document = strict_json(meta[HEADER_KEY])
    metadata = document.get("metadata") if isinstance(document, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _archive_metadata(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        for entry in archive.infolist():
            parts = entry.filename.split("/")
            if parts[-2:] == ["extra", EXTRA_FILE] and entry.file_size <= MAX_HEADER_BYTES:
                value = strict_json(archive.read(entry).decode("utf-8"))
                return value if isinstance(value, dict) else {}
    return {}


def peek_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata a network file carries, read from its header without loading it.

    Returns an empty dict for a file without metadata, or one whose header cannot be read
    (loading it then says why).
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            return _archive_metadata(path)
        return _safetensors_metadata(path)
    except (OSError, ValueError, RecursionError, zipfile.BadZipFile):
        return {}


def example_title(path: str | Path, metadata: dict[str, Any]) -> str:
    """A readable menu title for the network at ``path`` with ``metadata``.

    A classifier trained by jacviz is named by its data and its regularization ("Moons
    classifier, Jacobian-regularized (λ = 0.05)"); any other network by its file name, in
    words ("ReLU fold").
    """
    read = read_classifier_metadata(metadata)
    if read.class_names is not None and read.dataset_name and read.training is not None:
        weight = read.training.jr_lambda
        how = f"Jacobian-regularized (λ = {weight:g})" if weight > 0 else "not regularized"
        return f"{read.dataset_name.capitalize()} classifier, {how}"
    words = [_WORDS.get(word.lower(), word) for word in Path(path).stem.split("_") if word]
    if not words:
        return Path(path).name
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def add_examples(menu: QMenu, open_network: Callable[[str], object]) -> None:
    """Fill ``menu`` with the example networks; choosing one calls ``open_network(path)``.

    Each item's data is the file's path; its tooltip is the file's description.
    """
    menu.setToolTipsVisible(True)
    for path in example_files():
        metadata = peek_metadata(path)
        action = menu.addAction(example_title(path, metadata).replace("&", "&&"))
        action.setData(str(path))
        description = html.escape(str(metadata.get("description", "")).strip(), quote=False)
        # Rich text, so that Qt wraps a long description instead of one screen-wide line.
        action.setToolTip(f"<p>{description}</p><p><i>{html.escape(path.name)}</i></p>")
        action.triggered.connect(lambda _checked=False, p=path: open_network(str(p)))
    if menu.isEmpty():
        none = menu.addAction("No example networks (they ship with the source)")
        none.setEnabled(False)
