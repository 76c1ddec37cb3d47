"""Small torch networks: seeded MLPs, and loading and saving them in safe formats only.

Users open network files they got from anywhere, so :func:`load_network` is built to be safe on
hostile input: it never unpickles arbitrary Python objects and never runs Python code from a
file. Three formats are accepted, recognised by content rather than by extension:

``jacviz-mlp``
    jacviz's own format (:func:`save_mlp`): a safetensors file (raw tensors plus a JSON header,
    no code at all) whose header describes a chain of Linear layers and activations.
``torchscript``
    ``torch.jit.save`` archives. Their pickles are read by TorchScript's C++ unpickler, which
    only builds tensors and TorchScript classes (a pickle naming ``os.system`` fails with
    "Unknown type name"). But TorchScript is still code: it can write files (``torch.save``,
    ``aten::save``), map them (``torch.from_file``), and a ``__setstate__`` method runs *while
    the archive loads*. So the source in ``code/`` is screened before ``torch.jit.load`` and the
    compiled graphs are screened again before anything runs.
``torch-export``
    ``torch.export.save`` programs (``.pt2``). In torch 2.13 ``torch.export.load`` is *not* safe
    on untrusted files. Found in its source, each confirmed with a crafted file that ran a shell
    command: symbolic-shape expressions go through ``sympy.sympify`` (``eval``); example inputs
    that fail ``torch.load(weights_only=True)`` are retried with ``weights_only=False``; weights
    and constants flagged ``use_pickle`` are loaded with ``weights_only=False``; the program's
    ``guards_code`` strings are ``exec``-ed into the guard function ``.module()`` builds; and
    parameter names are pasted unescaped into the forward code FX generates (``getattr(self,
    "<name>")``). By reading the source: "opaque object" constants go through ``pickle.loads``,
    AOTInductor entries load native shared libraries, input names and keyword names land in the
    generated forward signature, and node targets are looked up by name anywhere under
    ``torch``, ``operator`` and ``math`` (a graph could call ``torch.save`` or ``torch.load``).
    So the archive is validated against a strict allow-list *before* ``torch.export.load`` sees
    it, from the same bytes, read once: plain tensors only, core ATen operators only, shape
    expressions restricted to arithmetic, no guard code, names restricted to dotted
    identifiers, exactly one positional input and one tensor output.

A ``torch.save`` state dict of an MLP is rebuilt too, given its activation (:mod:`.state_dict`).
Anything else (other ``torch.save`` files, raw pickles, ONNX, text, ...) is refused with a
:class:`NetworkError` whose message says what the file is and what to do instead.

Import the public names from the package itself (those that need torch import it on first
use); its modules, one per job, are:

- :mod:`.mlp`: building seeded MLPs (:func:`make_mlp`).
- :mod:`.mlp_schema`, :mod:`.mlp_format`: the jacviz MLP file, its description and
  :func:`save_mlp` / loading.
- :mod:`.torchscript`; :mod:`.export_screen`, :mod:`.sym_expr`, :mod:`.exported`: screening
  and loading TorchScript and torch.export archives.
- :mod:`.state_dict`: ``torch.save(model.state_dict())`` of an MLP, rebuilt with the
  activation the user names (read with ``torch.load(weights_only=True)`` only).
- :mod:`.sniff`: the refusal messages for everything else.
- :mod:`.loaded`: :class:`LoadedNetwork` and the checks every network passes.
- :mod:`.loading`: the front door (:func:`load_network` and friends), which hands archives
  with code to :mod:`jacviz.nets.hosted`.
- :mod:`.limits`, :mod:`.strict`: the shared limits and strict JSON; :mod:`.examples`: the
  example networks of a source checkout.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.examples import EXAMPLES_DIR, example_files
from jacviz.nets.networks.limits import (
    MAX_ARCHIVE_ENTRIES,
    MAX_FILE_BYTES,
    MAX_LINEAR_LAYERS,
    MAX_OUTPUTS,
    MAX_PARAMETERS,
    MAX_UNPACKED_BYTES,
    MAX_WIDTH,
)
from jacviz.nets.networks.peek import peek_metadata

if TYPE_CHECKING:
    from jacviz.nets.networks.loaded import LoadedNetwork
    from jacviz.nets.networks.loading import (
        Network,
        check_network_file,
        load_network,
        load_network_bytes,
        read_network_file,
    )
    from jacviz.nets.networks.mlp import ACTIVATIONS, make_mlp
    from jacviz.nets.networks.mlp_format import mlp_bytes, save_mlp
    from jacviz.nets.networks.sniff import is_state_dict_file
    from jacviz.nets.networks.state_dict import ActivationNeeded

# Names whose modules import torch, loaded on first use: the names above need no torch, so the
# app and ``jacviz probe --map`` start without it.
_LAZY = {
    "LoadedNetwork": "loaded",
    "Network": "loading",
    "check_network_file": "loading",
    "load_network": "loading",
    "load_network_bytes": "loading",
    "read_network_file": "loading",
    "ACTIVATIONS": "mlp",
    "make_mlp": "mlp",
    "mlp_bytes": "mlp_format",
    "save_mlp": "mlp_format",
    "ActivationNeeded": "state_dict",
    "is_state_dict_file": "sniff",
}

__all__ = [
    "ACTIVATIONS",
    "EXAMPLES_DIR",
    "MAX_ARCHIVE_ENTRIES",
    "MAX_FILE_BYTES",
    "MAX_LINEAR_LAYERS",
    "MAX_OUTPUTS",
    "MAX_PARAMETERS",
    "MAX_UNPACKED_BYTES",
    "MAX_WIDTH",
    "ActivationNeeded",
    "LoadedNetwork",
    "Network",
    "NetworkError",
    "check_network_file",
    "example_files",
    "is_state_dict_file",
    "load_network",
    "load_network_bytes",
    "make_mlp",
    "mlp_bytes",
    "peek_metadata",
    "read_network_file",
    "save_mlp",
]


def __getattr__(name: str) -> Any:
    """The loaders and builders, imported (with torch) the first time one is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
