"""The Examples menu: the shipped example networks, each with a readable title and its story.

The menu is filled when the window opens, so it must not load any network: the title and
the description (the item's tooltip) come from the file's metadata alone, read from its
header (:func:`peek_metadata`): a jacviz MLP file's safetensors header, or the
``jacviz.json`` entry of a TorchScript or torch.export archive. A file whose header cannot be
read still gets an item, titled after its file name; opening it says what is wrong.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtWidgets import QMenu

from jacviz.nets.metadata import read_classifier_metadata
from jacviz.nets.networks import example_files, peek_metadata

_WORDS = {"relu": "ReLU", "3d": "3D", "jr": "JR", "mlp": "MLP", "xor": "XOR"}


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
