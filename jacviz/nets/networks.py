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

Anything else (``torch.save`` files, raw pickles, ONNX, text, ...) is refused with a
:class:`NetworkError` whose message says what the file is and what to do instead.
"""

from __future__ import annotations

import ast
import io
import itertools
import json
import math
import os
import pickletools
import re
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from jacviz.math.maps import TorchMap
from jacviz.nets.hosted import HostedNetwork, LoadCancelled
from jacviz.support.files import format_bytes, read_regular_file, write_atomically
from jacviz.support.isolation import error_line

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
    "LoadedNetwork",
    "Network",
    "NetworkError",
    "check_network_file",
    "example_files",
    "load_network",
    "load_network_bytes",
    "make_mlp",
    "save_mlp",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}

MAX_FILE_BYTES: int = 64 * 1024 * 1024
"""Largest network file :func:`load_network` reads. The whole file is read into memory once, so
that what is checked is exactly what is loaded; networks jacviz can draw interactively are far
smaller (a 2-256-256-2 MLP is 270 KB)."""

MAX_WIDTH: int = 4096
"""Widest layer a jacviz MLP file may declare."""

MAX_LINEAR_LAYERS: int = 64
"""Most Linear layers a jacviz MLP file may declare (activations come on top)."""

MAX_PARAMETERS: int = 4_000_000
"""Most parameters (weights and buffers) of a network jacviz opens: a probe move then costs
milliseconds and a heatmap, sized to :mod:`jacviz.math.budget`, is still finer than 64²;
bigger networks are not for drawing (a 2-2048-2048-2 MLP has 4.2 million)."""

MAX_OUTPUTS: int = MAX_WIDTH
"""Most outputs a network may have: each is a row of every Jacobian jacviz computes."""

MAX_UNPACKED_BYTES: int = 2 * MAX_FILE_BYTES
"""Most bytes the entries of a TorchScript or torch.export archive may unpack to, together.
Checked from the archive's directory before any entry is read, so a small file that would
unpack to gigabytes (a zip bomb) is refused at once."""

MAX_ARCHIVE_ENTRIES: int = 10_000
"""Most entries such an archive may list (a real network has a few dozen)."""

MLP_FORMAT = "jacviz-mlp"
MLP_VERSION = 1
_HEADER_KEY = "jacviz"  # safetensors header metadata key holding the architecture JSON
_EXTRA_FILE = "jacviz.json"  # optional metadata inside TorchScript / torch.export archives
_FLOAT_DTYPES = (torch.float32, torch.float64)
_SUPPORTED = (
    "jacviz reads its own MLP files (.safetensors written by jacviz.nets.networks.save_mlp), "
    "TorchScript files (torch.jit.save) and torch.export programs (torch.export.save)"
)
_SAVE_INSTEAD = (
    "save the network with torch.jit.save, torch.export.save or jacviz.nets.networks.save_mlp "
    "instead"
)


class NetworkError(ValueError):
    """A file that cannot be used as a network (or a network that cannot be saved).

    ``str(error)`` is one sentence for the user: it names the file, says what is wrong and,
    where useful, what to do instead. It subclasses :class:`ValueError`, so callers that already
    catch bad input keep working.
    """


@dataclass(frozen=True)
class LoadedNetwork:
    """A network loaded by :func:`load_network`, checked and ready to be shown.

    Attributes
    ----------
    module : torch.nn.Module
        The network, in eval mode, with ``requires_grad`` off on its parameters. It maps an
        ``(N, input_dim)`` tensor of the parameters' dtype to ``(N, output_dim)``.
    name : str
        The file name without its directory.
    input_dim : int
        Number of inputs n (at least 2; the app slices maps with more inputs).
    output_dim : int
        Number of outputs m (at least 1).
    format : str
        ``"jacviz-mlp"``, ``"torchscript"`` or ``"torch-export"``.
    metadata : dict
        Free-form JSON metadata stored with the network, e.g. ``{"class_names": [...],
        "description": "...", "training": {...}}``; empty if the file has none.

    """

    module: torch.nn.Module
    name: str
    input_dim: int
    output_dim: int
    format: str
    metadata: dict[str, object] = field(default_factory=dict, hash=False)

    def as_map(self) -> TorchMap:
        """Wrap the network as a :class:`~jacviz.math.maps.TorchMap` for the Jacobian views."""
        return TorchMap(self.module, self.name, self.input_dim, self.output_dim)


Network = LoadedNetwork | HostedNetwork
"""What :func:`load_network` returns: a network in this process, or one run in a child."""


# ----------------------------------------------------------------------------------------------
# Building MLPs
# ----------------------------------------------------------------------------------------------


def make_mlp(
    widths: Sequence[int],
    activation: str = "tanh",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    """A fully connected network ``widths[0] → … → widths[-1]`` with PyTorch's default init.

    The activation follows every Linear layer but the last. Weights depend only on ``seed``
    (the global random state is left untouched), so benchmarks and examples are repeatable.
    """
    if len(widths) < 2 or any(int(w) < 1 for w in widths):
        raise ValueError(f"an MLP needs at least two positive widths, got {list(widths)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for index, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(int(n_in), int(n_out), dtype=dtype))
            if index < len(widths) - 2:
                layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------------------------
# Saving jacviz MLP files
# ----------------------------------------------------------------------------------------------


def save_mlp(
    model: torch.nn.Sequential,
    path: str | os.PathLike,
    metadata: dict | None = None,
) -> None:
    """Save an MLP in jacviz's own safe format, which :func:`load_network` reads back exactly.

    The file is a ``.safetensors`` file: the Linear layers' tensors (named ``"<i>.weight"`` and
    ``"<i>.bias"`` after their index in the layer list, as in ``nn.Sequential.state_dict()``),
    and in the header metadata, under the key ``"jacviz"``, one JSON document describing the
    architecture::

        {"format": "jacviz-mlp", "version": 1,
         "layers": [{"type": "linear", "in": 2, "out": 64, "bias": true}, {"type": "tanh"}, ...],
         "metadata": {...}}

    Loading such a file needs no pickle and no code, only the tensors and this description.

    Parameters
    ----------
    model : torch.nn.Sequential
        A plain ``nn.Sequential`` (nested ones are flattened) of ``nn.Linear`` layers, the
        activations in :data:`ACTIVATIONS` (Softplus's ``beta``/``threshold`` and GELU's
        ``approximate`` are kept) and ``nn.Identity``; float32 or float64 weights, on any device.
        At least 2 inputs, as :func:`load_network` requires.
    path : str or os.PathLike
        Destination, conventionally ending in ``.safetensors``. Written atomically: the data go
        to a temporary file in the same directory, which then replaces ``path`` in one step, so
        a crash never leaves a half-written network behind.
    metadata : dict, optional
        JSON-serialisable information kept with the network, e.g. ``{"class_names": ["a",
        "b"], "description": "...", "training": {"steps": 2000}}``.

    Raises
    ------
    NetworkError
        If the model contains anything else (other layer types, subclasses, forward hooks,
        activations with settings the format cannot store), has non-finite weights, mixes
        dtypes, or ``metadata`` is not JSON-serialisable. Nothing is written then.
    OSError
        If the file cannot be written.

    """
    target = Path(path)
    name = target.name or str(target)
    layers, tensors = _describe_mlp(model, name)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(key, str) for key in metadata):
        raise NetworkError(
            f"cannot save {name}: metadata must be a dict with string keys, got {metadata!r:.80}"
        )
    document = {
        "format": MLP_FORMAT,
        "version": MLP_VERSION,
        "layers": layers,
        "metadata": metadata,
    }
    # What load_network would refuse (too wide, too deep, odd activation settings) is refused now.
    _check_mlp_document(document, name, lambda what: NetworkError(f"cannot save {name}: {what}"))
    try:
        header = json.dumps(document, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise NetworkError(
            f"cannot save {name}: its metadata is not plain JSON ({error_line(error)})"
        ) from error
    payload = safetensors.torch.save(tensors, metadata={_HEADER_KEY: header})
    write_atomically(target, payload)


def _describe_mlp(model: nn.Module, name: str) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Return the layer descriptions and the tensors of a savable MLP, or raise NetworkError."""
    kinds = ", ".join([*ACTIVATIONS, "identity"])

    def refuse(what: str) -> NetworkError:
        return NetworkError(
            f"cannot save {name}: {what}; jacviz's MLP format describes plain nn.Sequential "
            f"chains of Linear layers and activations ({kinds}), so save other networks with "
            "torch.jit.save or torch.export.save"
        )

    if type(model) is not nn.Sequential:
        raise refuse(f"the model is a {type(model).__name__}, not an nn.Sequential")
    modules: list[nn.Module] = []

    def flatten(sequential: nn.Module) -> None:
        for child in sequential.children():
            if child._forward_hooks or child._forward_pre_hooks:
                raise refuse(f"a {type(child).__name__} layer has forward hooks")
            if type(child) is nn.Sequential:
                flatten(child)
            else:
                modules.append(child)

    if model._forward_hooks or model._forward_pre_hooks:
        raise refuse("the model has forward hooks")
    flatten(model)

    layers: list[dict] = []
    tensors: dict[str, torch.Tensor] = {}
    for index, module in enumerate(modules):
        if type(module) is nn.Linear:
            layers.append(
                {
                    "type": "linear",
                    "in": module.in_features,
                    "out": module.out_features,
                    "bias": module.bias is not None,
                }
            )
            # Clones: tied weights (one Linear used twice) would otherwise share storage,
            # which safetensors refuses; the loaded copies compute the same function.
            tensors[f"{index}.weight"] = module.weight.detach().to("cpu").contiguous().clone()
            if module.bias is not None:
                tensors[f"{index}.bias"] = module.bias.detach().to("cpu").contiguous().clone()
        else:
            layers.append(_describe_activation(module, refuse))
    linear = [layer for layer in layers if layer["type"] == "linear"]
    if not linear:
        raise refuse("it has no Linear layer")
    dtypes = {tensor.dtype for tensor in tensors.values()}
    if len(dtypes) > 1 or not dtypes <= set(_FLOAT_DTYPES):
        found = ", ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))
        raise NetworkError(
            f"cannot save {name}: jacviz MLP files hold float32 or float64 weights of one dtype, "
            f"this model has {found}; convert it with model.float() or model.double() first"
        )
    width = linear[0]["in"]
    for layer in linear:
        if layer["in"] != width:
            raise refuse(f"a Linear layer expects {layer['in']} inputs but gets {width}")
        width = layer["out"]
    if linear[0]["in"] < 2:
        raise NetworkError(
            f"cannot save {name}: the network takes {linear[0]['in']} input, but jacviz shows "
            "maps of the plane and needs at least 2 inputs, so it could not load the file back"
        )
    for key, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise NetworkError(
                f"cannot save {name}: tensor {key!r} has NaN or infinite weights, so jacviz "
                "could not load the file back"
            )
    return layers, tensors


def _describe_activation(module: nn.Module, refuse: Callable[[str], NetworkError]) -> dict:
    kind = type(module)
    if kind is nn.Identity:
        return {"type": "identity"}
    if kind is nn.Softplus:
        return {
            "type": "softplus",
            "beta": float(module.beta),
            "threshold": float(module.threshold),
        }
    if kind is nn.GELU:
        return {"type": "gelu", "approximate": str(module.approximate)}
    for key, cls in ACTIVATIONS.items():
        if kind is cls:
            # Any other setting (e.g. a slope) would be lost: refuse rather than save a different
            # function. In-place evaluation does not change the function.
            settings = module.extra_repr().replace("inplace=True", "").strip(" ,")
            if settings != cls().extra_repr():
                raise refuse(f"its {kind.__name__} layer has settings ({settings}) it cannot store")
            return {"type": key}
    raise refuse(f"it contains a {kind.__name__} layer")


# ----------------------------------------------------------------------------------------------
# Loading: reading the file and recognising its format
# ----------------------------------------------------------------------------------------------


def load_network(path: str | os.PathLike, *, isolated: bool = True) -> Network:
    """Load a network from a file, safely, whatever the file contains.

    The format is recognised by content (magic bytes, safetensors header, zip entries), not by
    extension, so a jacviz MLP renamed ``.pt`` or a TorchScript file named ``.safetensors``
    still loads. The file is read into memory once (at most :data:`MAX_FILE_BYTES`), checked,
    and loaded from those same bytes.

    Accepted formats:

    - jacviz MLP (``.safetensors`` written by :func:`save_mlp`): rebuilt as an
      ``nn.Sequential`` after strict validation of the JSON description and of every tensor's
      name, shape and dtype.
    - TorchScript (``torch.jit.save``): source screened for code that would write or read files
      or run at load time, loaded with ``torch.jit.load(..., map_location="cpu")``, graphs
      screened again.
    - torch.export (``torch.export.save``): archive validated against an allow-list (see the
      module docstring for why), then ``torch.export.load(...).module()``. The program must
      accept any batch size, so export it with a dynamic batch dimension::

          batch = torch.export.Dim("batch")
          program = torch.export.export(model.eval(), (torch.zeros(8, 2),),
                                        dynamic_shapes=({0: batch},))
          torch.export.save(program, "model.pt2")

    TorchScript and torch.export networks are code, so with ``isolated`` (the default) they
    are loaded, checked and run in a child process (:class:`~jacviz.nets.hosted.HostedNetwork`)
    whose every call has a time limit: a forward pass that never ends, crawls, allocates
    gigabytes or prints is stopped or contained there. ``isolated=False`` loads them in this
    process, for files you made yourself (tests, the examples' build script). Their archives
    are refused before anything is unpacked if their entries would unpack to more than
    :data:`MAX_UNPACKED_BYTES` (zip bombs).

    TorchScript and torch.export archives may carry metadata as an extra file ``jacviz.json``
    holding a JSON object (``torch.jit.save(m, f, _extra_files={"jacviz.json": ...})``,
    ``torch.export.save(p, f, extra_files={"jacviz.json": ...})``). A TorchScript network
    whose first weight matrix is not ``(width, inputs)`` (a coupling flow, say) declares its
    input size there as ``"input_dim"``.

    Every network is then checked: float32/float64 parameters without NaN or inf, input size
    n >= 2, at most :data:`MAX_OUTPUTS` outputs, and a forward pass on small probe batches
    (sizes 1, 3 and 5) that returns finite ``(N, m)`` outputs with m >= 1, row by row
    independent of the batch; a hosted network is also run, values and Jacobians, on a batch
    as large as any it will be given.

    Parameters
    ----------
    path : str or os.PathLike
        The network file.
    isolated : bool
        Run TorchScript and torch.export code in a child process (see above).

    Returns
    -------
    LoadedNetwork or HostedNetwork
        The checked network; ``.as_map()`` gives the map the views draw.

    Raises
    ------
    NetworkError
        For anything that is not a usable network in an accepted format: missing file,
        directory, empty or too large file, pickles and ``torch.save`` files (never unpickled),
        text, unknown bytes, archives that fail the safety checks, malformed jacviz MLP files,
        networks with NaN weights, fewer than 2 inputs, a fixed batch size, or a forward pass
        that fails or returns non-finite values. Unexpected errors from torch's loaders are
        wrapped too, so no raw traceback reaches the user (KeyboardInterrupt is not caught).

    """
    source = Path(path)
    return load_network_bytes(
        read_network_file(source), source.name or str(source), isolated=isolated
    )


def read_network_file(path: str | os.PathLike) -> bytes:
    """The content of the network file at ``path``, read as :func:`load_network` reads it.

    For callers that keep the bytes of the network they show (a session embeds them), and
    load them with :func:`load_network_bytes`: what is saved is then what was loaded, even if
    the file changes on disk in between.

    Raises
    ------
    NetworkError
        If the file is missing, a directory or no regular file, unreadable, empty or larger
        than :data:`MAX_FILE_BYTES`.

    """
    source = Path(path)
    return _read_network_file(source, source.name or str(source))


def load_network_bytes(data: bytes, name: str, *, isolated: bool = True) -> Network:
    """Load a network from the bytes of a network file, as :func:`load_network` does.

    For networks that arrive without a file of their own, e.g. embedded in a saved session.
    ``name`` stands for the file name in messages (its extension is a hint for them only);
    the same size limit and checks apply, and ``isolated`` means the same.

    Raises
    ------
    NetworkError
        As :func:`load_network`.
    LoadCancelled
        If a hosted network's loading was cancelled from another thread.

    """
    network = _load_checked(data, name, isolated)
    assert network is not None  # only isolated=None leaves an archive unloaded
    return network


def _load_checked(data: bytes, name: str, isolated: bool | None) -> Network | None:
    """Size checks, then :func:`_load_from_bytes`, with every failure made one line."""
    if len(data) > MAX_FILE_BYTES:
        raise NetworkError(
            f"{name} is {format_bytes(len(data))}, more than the "
            f"{format_bytes(MAX_FILE_BYTES)} jacviz accepts for a network file"
        )
    if not data:
        raise NetworkError(f"{name} is empty (0 bytes); {_SUPPORTED}")
    try:
        return _load_from_bytes(bytes(data), name, Path(name).suffix.lower(), isolated)
    except (NetworkError, LoadCancelled):
        raise
    except Exception as error:
        # torch's loaders raise all sorts of exceptions on odd input; the user gets one line.
        raise NetworkError(f"{name} could not be loaded: {error_line(error)}") from error


def _read_network_file(source: Path, name: str) -> bytes:
    """Return the whole content of a regular file of at most MAX_FILE_BYTES, or raise."""
    data = read_regular_file(source, name, MAX_FILE_BYTES, "network file", NetworkError, _SUPPORTED)
    if not data:
        raise NetworkError(f"{name} is empty (0 bytes); {_SUPPORTED}")
    return data


def check_network_file(path: str | os.PathLike) -> LoadedNetwork | None:
    """What can be known about a network file without running any of its code.

    A jacviz MLP file holds no code: it is loaded and returned, checked as by
    :func:`load_network`. A TorchScript or torch.export archive is checked as far as can be
    done without running it (size, unpacked size, that it is such an archive) and None is
    returned: loading it runs code, which the caller does later in a child process, with a
    time limit and a way to cancel (the app, with a progress note). For the command line's
    ``jacviz FILE``: refuse what is plainly no network at once, open the rest in the app.

    Raises
    ------
    NetworkError
        As :func:`load_network`, for everything decided before any code runs.

    """
    source = Path(path)
    return _load_checked(read_network_file(source), source.name or str(source), None)


def _load_from_bytes(data: bytes, name: str, suffix: str, isolated: bool | None) -> Network | None:
    """Load by content; ``isolated`` None: do not load archives with code (return None)."""
    if _safetensors_header_size(data) is not None:
        return _load_jacviz_mlp(data, name)
    if data.startswith(b"PK") or zipfile.is_zipfile(io.BytesIO(data)):
        return _load_zip(data, name, isolated)
    if data[:1] == b"\x80" or _is_pickle(data):
        raise NetworkError(_describe_pickle(data, name))
    if data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise NetworkError(
            f"{name} is an HDF5 file (e.g. a Keras .h5 model), which jacviz does not read; "
            f"{_SUPPORTED}"
        )
    if data.startswith(b"\x93NUMPY"):
        raise NetworkError(f"{name} is a NumPy array file, not a network; {_SUPPORTED}")
    if data[4:8] == b"PTMF":
        raise NetworkError(
            f"{name} is a PyTorch Mobile (lite interpreter) file, which jacviz does not read; "
            f"{_SUPPORTED}"
        )
    if _looks_like_text(data):
        if re.search(rb"^\s*(import\s|from\s+\S+\s+import\s|def\s|class\s)", data[:8192], re.M):
            raise NetworkError(
                f"{name} is Python source code; jacviz never runs code from files, so run it "
                f"yourself and {_SAVE_INSTEAD}"
            )
        raise NetworkError(f"{name} is a text file, not a network; {_SUPPORTED}")
    if suffix == ".onnx":
        raise NetworkError(
            f"{name} looks like an ONNX model, which jacviz does not read; export the PyTorch "
            "model with torch.export.save instead"
        )
    raise NetworkError(f"{name} is not a network file jacviz recognises; {_SUPPORTED}")


def _load_zip(data: bytes, name: str, isolated: bool | None) -> Network | None:
    _check_unpacked_size(data, name)
    # Records are listed with torch's own zip reader, the one torch.jit.load and
    # torch.export.load use, so the checks see exactly the entries that will be loaded.
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        records = set(reader.get_all_records())
    except Exception:
        raise NetworkError(_describe_other_zip(data, name)) from None
    from torch.export.pt2_archive import constants as pt2

    export = pt2.ARCHIVE_FORMAT_PATH in records
    torchscript = "data.pkl" in records and any(r.startswith("code/") for r in records)
    if (export or torchscript) and isolated is None:
        return None  # a network whose code is not to be run now
    if (export or torchscript) and isolated:
        return HostedNetwork(data, name)
    if export:
        return _load_export(data, reader, records, name)
    if torchscript:
        return _load_torchscript(data, reader, records, name)
    if "data.pkl" in records:
        raise NetworkError(_describe_torch_save(reader.get_record("data.pkl"), name))
    raise NetworkError(_describe_other_zip(data, name))


def _check_unpacked_size(data: bytes, name: str) -> None:
    """Refuse an archive whose entries would unpack to too much, before reading any of them.

    The sizes come from the archive's central directory, the same one torch's reader trusts
    (it allocates each entry's declared size and fails if the data would not fit), so what is
    checked here bounds what loading can unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise NetworkError(f"{name} is a damaged zip archive") from None
    if len(entries) > MAX_ARCHIVE_ENTRIES:
        raise NetworkError(
            f"{name} is an archive of {len(entries):,} entries, more than the "
            f"{MAX_ARCHIVE_ENTRIES:,} jacviz accepts"
        )
    total = 0
    for entry in entries:
        total += entry.file_size
        if entry.file_size > MAX_UNPACKED_BYTES or total > MAX_UNPACKED_BYTES:
            raise NetworkError(
                f"{name} would unpack to more than the {format_bytes(MAX_UNPACKED_BYTES)} "
                "jacviz accepts for a network (a compressed archive this small that grows "
                "this much is a zip bomb, not a network)"
            )


def _describe_other_zip(data: bytes, name: str) -> str:
    """Message for a zip archive that is none of the accepted formats (names only, no loading)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return f"{name} is a damaged zip archive; {_SUPPORTED}"
    if "serialized_exported_program.json" in names:
        return (
            f"{name} is a torch.export program in the old format of PyTorch 2.7 and earlier, "
            "which can hold unrestricted pickles; re-save it with torch.export.save from a "
            "current PyTorch"
        )
    return f"{name} is a zip archive but not a PyTorch network; {_SUPPORTED}"


def _describe_torch_save(pickle_bytes: bytes, name: str) -> str:
    found = _pickle_globals(pickle_bytes)
    if found is not None and _is_state_dict(found):
        return (
            f"{name} is a PyTorch state dict saved with torch.save: it holds weights but not the "
            "architecture, and jacviz does not unpickle files because unpickling can run "
            "arbitrary code; load the weights into your model in Python and "
            f"{_SAVE_INSTEAD}"
        )
    return (
        f"{name} is a pickled PyTorch file (torch.save); jacviz does not unpickle untrusted "
        f"files because they can run code; {_SAVE_INSTEAD}"
    )


def _describe_pickle(data: bytes, name: str) -> str:
    found = _pickle_globals(data)
    if found is not None and "<torch legacy magic>" in found:
        return (
            f"{name} is a pickled PyTorch file (torch.save, legacy format); jacviz does not "
            f"unpickle untrusted files because they can run code; {_SAVE_INSTEAD}"
        )
    if found is not None and any(item.startswith("torch") for item in found):
        return _describe_torch_save(data, name)
    return (
        f"{name} is a Python pickle; jacviz does not unpickle files because unpickling can run "
        f"arbitrary code; {_SAVE_INSTEAD}"
    )


_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAX_OPCODES = 200_000  # the scans below only word messages; a crafted 64 MB file stays fast
_STRING_OPCODES = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}


def _pickle_globals(data: bytes) -> set[str] | None:
    """Return the ``module.name`` globals the first pickle in ``data`` refers to, or None.

    Read statically with :func:`pickletools.genops`, which only decodes opcodes and never
    imports or calls anything; used only to word error messages.
    """
    found: set[str] = set()
    strings: list[str] = []
    try:
        for opcode, argument, _ in itertools.islice(pickletools.genops(data), _MAX_OPCODES):
            if opcode.name in ("GLOBAL", "INST"):
                found.add(str(argument).replace(" ", "."))
            elif opcode.name in _STRING_OPCODES:
                strings.append(str(argument))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add(f"{strings[-2]}.{strings[-1]}")
            elif opcode.name.startswith("EXT"):
                found.add("<copyreg extension>")
            elif opcode.name in ("LONG1", "LONG4") and argument == _TORCH_LEGACY_MAGIC:
                found.add("<torch legacy magic>")
            elif opcode.name == "STOP":
                return found
    except Exception:
        return None
    return None


def _is_state_dict(found: set[str]) -> bool:
    plain = {"collections.OrderedDict", "builtins.dict", "__builtin__.dict", "builtins.set"}
    tensors = {g for g in found if g.startswith("torch._utils._rebuild_") or g.endswith("Storage")}
    return bool(tensors) and found <= plain | tensors | {"torch.Size"}


def _is_pickle(data: bytes) -> bool:
    """Whether ``data`` is one complete pickle (any protocol), checked without unpickling."""
    last = None
    try:
        for opcode, _, position in itertools.islice(pickletools.genops(data), _MAX_OPCODES):
            last = (opcode.name, position)
    except Exception:
        return False
    return last is not None and last[0] == "STOP" and not data[last[1] + 1 :].strip()


def _looks_like_text(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    text = sample.decode("utf-8", errors="replace")
    if len(data) > len(sample):
        text = text[:-4]  # a multi-byte character may be cut at the end of the sample
    if not text or "\ufffd" in text:
        return False
    printable = sum(ch.isprintable() or ch in "\n\r\t\f" for ch in text)
    return printable >= 0.97 * len(text)


# ----------------------------------------------------------------------------------------------
# jacviz MLP files
# ----------------------------------------------------------------------------------------------


def _safetensors_header_size(data: bytes) -> int | None:
    """Header length of a safetensors file (8-byte little-endian size, then a JSON object)."""
    if len(data) < 10:
        return None
    size = int.from_bytes(data[:8], "little")
    if size < 2 or size > len(data) - 8 or data[8:9] != b"{":
        return None
    return size


def _strict_json(text: str, allow_nonfinite: bool = False) -> Any:
    """json.loads that refuses duplicate keys, so that one text has one meaning to every reader.

    NaN/Infinity are refused too unless ``allow_nonfinite`` (torch.export writes them for
    constants such as ``clamp(max=inf)``).
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            raise ValueError("duplicate key in a JSON object")
        return result

    def constant(token: str) -> Any:
        raise ValueError(f"{token} is not allowed in JSON")

    if allow_nonfinite:
        return json.loads(text, object_pairs_hook=pairs)
    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def _load_jacviz_mlp(data: bytes, name: str) -> LoadedNetwork:
    size = _safetensors_header_size(data)
    assert size is not None

    def bad(what: str) -> NetworkError:
        return NetworkError(f"{name} is not a valid jacviz MLP file: {what}")

    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NetworkError(f"{name} is a damaged safetensors file (unreadable header)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or _HEADER_KEY not in meta:
        raise NetworkError(
            f"{name} is a safetensors file without jacviz's architecture description (bare "
            "weights cannot be rebuilt into a network); save networks with "
            "jacviz.nets.networks.save_mlp, torch.jit.save or torch.export.save"
        )
    try:
        document = _strict_json(str(meta[_HEADER_KEY]))
    except (ValueError, RecursionError) as error:
        raise bad(f"its architecture description is not valid JSON ({error})") from None
    layers, metadata = _check_mlp_document(document, name, bad)

    try:
        tensors = safetensors.torch.load(data)
    except Exception as error:
        raise NetworkError(f"{name} is a damaged safetensors file: {error_line(error)}") from None
    expected: dict[str, tuple[int, ...]] = {}
    for index, layer in enumerate(layers):
        if layer["type"] == "linear":
            expected[f"{index}.weight"] = (layer["out"], layer["in"])
            if layer.get("bias", True):
                expected[f"{index}.bias"] = (layer["out"],)
    for key in sorted(set(expected) - set(tensors)):
        raise bad(f"tensor {key!r} is missing")
    for key in sorted(set(tensors) - set(expected)):
        raise bad(f"it has an unexpected tensor {key!r}")
    dtypes = set()
    for key, shape in expected.items():
        tensor = tensors[key]
        if tuple(tensor.shape) != shape:
            raise bad(
                f"tensor {key!r} has shape {tuple(tensor.shape)} but the architecture says {shape}"
            )
        if tensor.dtype not in _FLOAT_DTYPES:
            raise bad(
                f"tensor {key!r} is {str(tensor.dtype).removeprefix('torch.')}, "
                "but jacviz MLP files hold float32 or float64 weights"
            )
        dtypes.add(tensor.dtype)
        if not bool(torch.isfinite(tensor).all()):
            raise NetworkError(_nonfinite_message(name, key, tensor))
    if len(dtypes) != 1:
        raise bad("its tensors mix float32 and float64")
    (dtype,) = dtypes

    modules: list[nn.Module] = []
    for index, layer in enumerate(layers):
        modules.append(_build_layer(layer, dtype, tensors, index))
    module = nn.Sequential(*modules)
    linear = [layer for layer in layers if layer["type"] == "linear"]
    return _finish(
        module,
        name,
        MLP_FORMAT,
        linear[0]["in"],
        dtype,
        metadata,
        expected_output=linear[-1]["out"],
    )


_MLP_KEYS = {"format", "version", "layers", "metadata"}


def _check_mlp_document(
    document: Any, name: str, bad: Callable[[str], NetworkError]
) -> tuple[list[dict], dict[str, object]]:
    """Validate the architecture JSON of a jacviz MLP file; return its layers and metadata."""
    if not isinstance(document, dict):
        raise bad("its architecture description is not a JSON object")
    if document.get("format") != MLP_FORMAT:
        raise bad(f"the header says format {document.get('format')!r}, not {MLP_FORMAT!r}")
    version = document.get("version")
    if not _is_int(version):
        raise bad(f"its format version {version!r} is not an integer")
    if version > MLP_VERSION:
        raise NetworkError(
            f"{name} was written by a newer jacviz (MLP format version {version}; this jacviz "
            f"reads version {MLP_VERSION}), so update jacviz to open it"
        )
    if version != MLP_VERSION:
        raise bad(f"unknown MLP format version {version}")
    unknown = set(document) - _MLP_KEYS
    if unknown:
        raise bad(f"unknown field {sorted(unknown)[0]!r} in the architecture description")
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        raise bad("its metadata is not a JSON object")
    layers = document.get("layers")
    if not isinstance(layers, list) or not layers:
        raise bad("'layers' must be a non-empty list")
    if len(layers) > 4 * MAX_LINEAR_LAYERS:
        raise bad(f"it declares {len(layers)} layers, more than jacviz accepts")
    width = None
    linear_count = 0
    for index, layer in enumerate(layers):
        _check_layer(layer, index, bad)
        if layer["type"] != "linear":
            continue
        linear_count += 1
        if width is not None and layer["in"] != width:
            raise bad(
                f"layers[{index}] expects {layer['in']} inputs but the layer before gives {width}"
            )
        width = layer["out"]
    if linear_count == 0:
        raise bad("it has no linear layer")
    if linear_count > MAX_LINEAR_LAYERS:
        raise bad(f"it has {linear_count} linear layers, more than the {MAX_LINEAR_LAYERS} allowed")
    parameters = sum(
        layer["in"] * layer["out"] + (layer["out"] if layer.get("bias", True) else 0)
        for layer in layers
        if layer["type"] == "linear"
    )
    if parameters > MAX_PARAMETERS:
        raise NetworkError(_too_many_parameters(name, parameters))
    return layers, metadata


def _too_many_parameters(name: str, count: int) -> str:
    return (
        f"{name} has {count:,} parameters; jacviz draws networks of at most "
        f"{MAX_PARAMETERS:,} (each picture evaluates it at tens of thousands of points)"
    )


_LAYER_FIELDS: dict[str, set[str]] = {
    "linear": {"in", "out", "bias"},
    "identity": set(),
    "softplus": {"beta", "threshold"},
    "gelu": {"approximate"},
}


def _check_layer(layer: Any, index: int, bad: Callable[[str], NetworkError]) -> None:
    where = f"layers[{index}]"
    if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
        raise bad(f"{where} is not an object with a 'type'")
    kind = layer["type"]
    if kind not in _LAYER_FIELDS and kind not in ACTIVATIONS:
        known = ", ".join(["linear", "identity", *ACTIVATIONS])
        raise bad(f"{where} has unknown type {kind!r} (known: {known})")
    extra = set(layer) - {"type"} - _LAYER_FIELDS.get(kind, set())
    if extra:
        raise bad(f"{where} ({kind}) has unknown field {sorted(extra)[0]!r}")
    if kind == "linear":
        for key in ("in", "out"):
            value = layer.get(key)
            if not _is_int(value):
                raise bad(f"{where} needs an integer {key!r}, got {value!r:.40}")
            if not 1 <= value <= MAX_WIDTH:
                raise bad(f"{where} is {value} wide; jacviz MLP files allow 1 to {MAX_WIDTH}")
        if not isinstance(layer.get("bias", True), bool):
            raise bad(f"{where} has a non-boolean 'bias'")
    elif kind == "softplus":
        for key, default in (("beta", 1.0), ("threshold", 20.0)):
            value = layer.get(key, default)
            if not _is_number(value) or not 0 < value < 1e6:
                raise bad(f"{where} has an invalid softplus {key} {value!r:.40}")
    elif kind == "gelu" and layer.get("approximate", "none") not in ("none", "tanh"):
        raise bad(f"{where} has an invalid gelu approximation {layer.get('approximate')!r:.40}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _build_layer(
    layer: dict, dtype: torch.dtype, tensors: dict[str, torch.Tensor], index: int
) -> nn.Module:
    kind = layer["type"]
    if kind == "linear":
        bias = layer.get("bias", True)
        # skip_init: no random initialisation (the weights are overwritten anyway), so loading
        # leaves the global random state alone.
        linear = nn.utils.skip_init(nn.Linear, layer["in"], layer["out"], bias=bias, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(tensors[f"{index}.weight"])
            if bias:
                linear.bias.copy_(tensors[f"{index}.bias"])
        return linear
    if kind == "identity":
        return nn.Identity()
    if kind == "softplus":
        return nn.Softplus(beta=layer.get("beta", 1.0), threshold=layer.get("threshold", 20.0))
    if kind == "gelu":
        return nn.GELU(approximate=layer.get("approximate", "none"))
    return ACTIVATIONS[kind]()


# ----------------------------------------------------------------------------------------------
# TorchScript
# ----------------------------------------------------------------------------------------------

# Identifiers that must not appear in a TorchScript archive's code. TorchScript resolves every
# builtin by a literal name (there is no dynamic lookup), so a name that does not appear cannot be
# called. This screen runs *before* torch.jit.load because __setstate__ runs during loading.
_TORCHSCRIPT_FORBIDDEN = {
    "__setstate__": "defines __setstate__, code that TorchScript runs while the file loads",
    "save": "calls torch.save, which writes files",
    "from_file": "calls torch.from_file, which reads and can write files",
    "load_tensor": "calls debugprims.load_tensor, which reads files",
    "rpc_async": "makes remote procedure calls",
    "rpc_sync": "makes remote procedure calls",
    "rpc_remote": "makes remote procedure calls",
}
_TORCHSCRIPT_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TORCHSCRIPT_OPS = re.compile(r"\bops\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_TORCHSCRIPT_CLASSES = re.compile(r"\btorch\s*\.\s*classes\b")
# Graph-level screen after loading: only core ops, minus the ones that touch files or the network.
_ALLOWED_OP_NAMESPACES = {"aten", "prim"}
_FORBIDDEN_OPS = {
    "aten::save",
    "aten::from_file",
    "prim::rpc_async",
    "prim::rpc_sync",
    "prim::rpc_remote",
}


def _load_torchscript(data: bytes, reader: Any, records: set[str], name: str) -> LoadedNetwork:
    # Every source file, wherever it sits (.data/ts_code/ holds sources too in some archives).
    for record in sorted(records):
        if record.endswith(".py"):
            _screen_torchscript_source(reader.get_record(record), record, name)
    extra_files: dict[str, Any] = {_EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript in favour of torch.export; users with
            # TorchScript files cannot act on that warning, so it is not shown to them.
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra_files)
    except Exception as error:
        raise NetworkError(
            f"{name} is a TorchScript file that PyTorch cannot load: {error_line(error)}"
        ) from error
    _screen_torchscript_graphs(module, name)
    metadata = _extra_metadata(extra_files.get(_EXTRA_FILE), name)
    module.eval()
    return _finish_found(module, name, "torchscript", metadata, _declared_input_dim(metadata, name))


def _declared_input_dim(metadata: dict[str, object], name: str) -> int | None:
    """The ``input_dim`` a TorchScript archive's jacviz.json declares, if any.

    The first weight matrix gives the input size of ordinary networks; a network whose first
    layer sees only part of the input (a coupling flow) says its size here.
    """
    declared = metadata.get("input_dim")
    if declared is None:
        return None
    if (
        isinstance(declared, bool)
        or not isinstance(declared, int)
        or not 1 <= declared <= MAX_WIDTH
    ):
        raise NetworkError(
            f"{name} declares input_dim {declared!r} in {_EXTRA_FILE}; it must be a whole number "
            f"from 1 to {MAX_WIDTH}"
        )
    return declared


def _screen_torchscript_source(source: bytes, record: str, name: str) -> None:
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        raise NetworkError(f"{name} is a damaged TorchScript file ({record} is not text)") from None
    for word in _TORCHSCRIPT_WORD.findall(text):
        reason = _TORCHSCRIPT_FORBIDDEN.get(word)
        if reason is not None:
            raise NetworkError(
                f"{name} is a TorchScript file that {reason}; jacviz refuses it because network "
                "files must not be able to touch your system"
            )
    if _TORCHSCRIPT_CLASSES.search(text):
        raise NetworkError(
            f"{name} is a TorchScript file that uses custom C++ classes (torch.classes), whose "
            "behaviour jacviz cannot check"
        )
    for namespace in _TORCHSCRIPT_OPS.findall(text):
        if namespace not in _ALLOWED_OP_NAMESPACES:
            raise NetworkError(
                f"{name} is a TorchScript file that calls operators outside PyTorch's core set "
                f"(torch.ops.{namespace}), which jacviz does not run"
            )


def _screen_torchscript_graphs(module: Any, name: str) -> None:
    """Refuse a loaded TorchScript module whose code calls anything but core, file-free ops."""
    for submodule in module.modules():
        script = getattr(submodule, "_c", None)
        if script is None:
            continue
        graphs = [script._get_method(method).graph for method in script._method_names()]
        for getter in ("_get_forward_hooks", "_get_forward_pre_hooks"):
            graphs.extend(hook.graph for hook in getattr(script, getter, list)())
        for graph in graphs:
            inlined = graph.copy()
            torch._C._jit_pass_inline(inlined)
            for kind in _graph_node_kinds(inlined):
                namespace = kind.split("::", 1)[0]
                if kind in _FORBIDDEN_OPS or namespace not in _ALLOWED_OP_NAMESPACES:
                    raise NetworkError(
                        f"{name} is a TorchScript file whose code calls {kind}, which jacviz does "
                        "not run (only PyTorch's core operators, minus file access, are allowed)"
                    )
                if kind in ("prim::CallMethod", "prim::CallFunction"):
                    raise NetworkError(
                        f"{name} is a TorchScript file with indirect calls (interfaces) that "
                        "jacviz cannot inspect"
                    )


def _graph_node_kinds(graph: Any) -> Iterator[str]:
    """Kinds of all nodes of a TorchScript graph: in nested blocks and in subgraph attributes.

    Subgraphs matter: ``prim::fork`` keeps the forked code in a ``Subgraph`` attribute, which
    inlining does not touch.
    """
    stack = [graph.block()]
    while stack:
        block = stack.pop()
        for node in block.nodes():
            yield node.kind()
            stack.extend(node.blocks())
            for attribute in node.attributeNames():
                if node.kindOf(attribute) == "g":
                    stack.append(node.g(attribute).block())
                elif node.kindOf(attribute) == "gs":
                    stack.extend(subgraph.block() for subgraph in node.gs(attribute))


# ----------------------------------------------------------------------------------------------
# torch.export programs
# ----------------------------------------------------------------------------------------------

# torch.export.load keeps global state while deserializing (_CURRENT_DESERIALIZER) and fails if
# two loads overlap, e.g. from two worker threads.
_EXPORT_LOCK = threading.Lock()
_MODEL = "model"  # torch.export.save's program name; torch.export.load returns only this one

# Node targets allowed in a program, as serialized: core ATen operators, and the Python
# arithmetic torch.export uses for symbolic sizes.
_ATEN_TARGET = re.compile(r"torch\.ops\.aten\.([A-Za-z_][A-Za-z0-9_]*)\.[A-Za-z_][A-Za-z0-9_]*")
_FORBIDDEN_ATEN = {"save", "from_file"}
_OPERATOR_NAMES = {
    "getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "neg", "pos", "pow", "abs",
    "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_", "invert",
}  # fmt: skip
_SYM_TARGET = re.compile(r"(math\.[a-z_][a-z0-9_]*|torch\.sym_[a-z_]+)")

# Symbolic-shape expressions (sympy srepr strings such as "Add(FloorDiv(Symbol('s77',
# positive=True, integer=True), Integer(2)), Integer(1))") are evaluated by sympy.sympify, i.e.
# eval(). Only this grammar passes: numbers, symbol names, arithmetic and comparisons, and calls
# of these sympy and torch.utils._sympy classes; powers only with small constant exponents.
_SYMPY_CALLS = {
    "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "Max", "Min", "Abs",
    "floor", "ceiling", "Mod", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality",
    "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan", "And", "Or", "Not",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt",
    "CeilDiv", "FloatTrueDiv", "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat",
    "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "PowByNatural",
}  # fmt: skip
_POWER_CALLS = {"Pow", "PowByNatural"}
_SYMPY_CONSTANTS = {"oo", "true", "false", "True", "False"}
_SYMBOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_SYMBOL_VALUE = re.compile(r"[a-z]+[0-9]+")  # s31, u0, zuf2: never a builtin or sympy function
_FLOAT_TEXT = re.compile(r"[-+]?[0-9]{1,30}(\.[0-9]{0,30})?([eE][-+]?[0-9]{1,3})?")
_SYMBOL_ASSUMPTIONS = {
    "integer", "positive", "negative", "nonnegative", "nonpositive", "real", "finite",
    "nonzero", "zero", "even", "odd", "commutative", "rational",
}  # fmt: skip
_SAFE_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr)
_SAFE_UNARYOPS = (ast.USub, ast.UAdd, ast.Not, ast.Invert)
_SAFE_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
# Names that end up in Python source torch generates and exec()s (FX's getattr(self, "<part>"),
# the forward signature): dotted identifiers or indices only.
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9_]{1,100}(\.[A-Za-z0-9_]{1,100}){0,20}")
# The one input layout jacviz accepts: forward(self, points), no keyword arguments.
_IN_SPEC = [
    1,
    {
        "type": "builtins.tuple",
        "context": "null",
        "children_spec": [
            {
                "type": "builtins.tuple",
                "context": "null",
                "children_spec": [{"type": None, "context": None, "children_spec": []}],
            },
            {"type": "builtins.dict", "context": "[]", "children_spec": []},
        ],
    },
]
_OUT_SPEC = [1, {"type": None, "context": None, "children_spec": []}]


def _load_export(data: bytes, reader: Any, records: set[str], name: str) -> LoadedNetwork:
    _screen_pt2_archive(reader, records, name)
    # When its pt2 reader fails, torch.export.load falls back to the PyTorch <= 2.7 layout, read
    # with Python's zipfile, whose state dict goes through torch.load(weights_only=False) on
    # failure. It takes that path only if Python's zipfile lists a top-level "version" entry.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if "version" in archive.namelist():
            raise NetworkError(
                f"{name} is a torch.export file that also looks like the PyTorch <= 2.7 layout, "
                "which torch.export.load could unpickle without restrictions; jacviz refuses it"
            )
    # Non-empty on purpose: torch.export.load replaces an empty dict ("extra_files or {}").
    extra_files: dict[str, Any] = {_EXTRA_FILE: ""}
    try:
        with _EXPORT_LOCK:
            program = torch.export.load(io.BytesIO(data), extra_files=extra_files)
    except Exception as error:
        raise NetworkError(
            f"{name} is a torch.export file that PyTorch cannot load: {error_line(error)}"
        ) from error
    _screen_export_graph(program.graph_module, name)

    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise NetworkError(
            f"{name} is a torch.export program with {len(user_inputs)} inputs; jacviz needs "
            "exactly one, an (N, n) tensor of points"
        )
    placeholder = next(
        (
            node
            for node in program.graph.nodes
            if node.op == "placeholder" and node.name == user_inputs[0]
        ),
        None,
    )
    example = placeholder.meta.get("val") if placeholder is not None else None
    shape = tuple(getattr(example, "shape", ()))
    if len(shape) != 2 or not isinstance(shape[1], int):
        raise NetworkError(
            f"{name} is a torch.export program whose input has shape {shape}; jacviz needs an "
            "(N, n) tensor of points with a fixed number n of coordinates"
        )
    if isinstance(shape[0], int):
        raise NetworkError(_fixed_batch_message(name, shape[0], shape[1]))
    min_batch, max_batch = _batch_bounds(program, shape[0])
    if max_batch is not None and max_batch < max(min_batch, 1):
        raise NetworkError(_fixed_batch_message(name, max_batch, shape[1]))
    tensors = {**program.state_dict, **program.constants}
    for key, value in tensors.items():
        if isinstance(value, torch.Tensor) and not bool(torch.isfinite(value).all()):
            raise NetworkError(_nonfinite_message(name, key, value))
    metadata = _extra_metadata(extra_files.get(_EXTRA_FILE), name)
    module = _ExportedModule(program.module(), min_batch, max_batch)
    dtype = example.dtype if getattr(example, "dtype", None) in _FLOAT_DTYPES else None
    return _finish_found(module, name, "torch-export", metadata, shape[1], dtype)


def _fixed_batch_message(name: str, batch: int, width: int) -> str:
    return (
        f"{name} is a torch.export program for a fixed batch of {batch} points, but jacviz "
        "evaluates batches of any size; export it with a dynamic batch dimension: "
        f"torch.export.export(model, (torch.zeros(8, {width}),), "
        "dynamic_shapes=({0: torch.export.Dim('batch')},))"
    )


def _batch_bounds(program: Any, batch: Any) -> tuple[int, int | None]:
    """The batch sizes an exported program accepts, from its range constraints."""
    expression = getattr(getattr(batch, "node", None), "expr", None)
    bounds = program.range_constraints.get(expression) if expression is not None else None
    if bounds is None:
        return 0, None
    try:
        lower = max(int(bounds.lower), 0)
    except Exception:
        lower = 0
    try:
        upper = int(bounds.upper)
    except Exception:  # int_oo: no upper bound
        upper = None
    return min(lower, 4096), upper


class _ExportedModule(nn.Module):
    """An exported program's module as jacviz uses it.

    ``ep.module()`` refuses ``.eval()``/``.train()`` (its graph was fixed at export time), but
    :class:`~jacviz.math.maps.TorchMap` calls ``.eval()``; here the mode is only recorded.
    Batch sizes outside the range the program was exported for (``torch.export.Dim("batch",
    min=..., max=...)``, or ``Dim.AUTO``, which assumes at least 2) are adapted: small batches
    are padded with zero rows and the padding's outputs dropped, large ones are split. Rows
    are independent (:func:`load_network` checks it), so values and Jacobians are unchanged.
    """

    def __init__(self, program: nn.Module, min_batch: int = 0, max_batch: int | None = None):
        super().__init__()
        self.program = program
        self.min_batch = min_batch
        self.max_batch = max_batch

    def train(self, mode: bool = True) -> _ExportedModule:
        """Record the mode only; the exported graph's behaviour cannot change."""
        self.training = bool(mode)
        return self

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Run the exported program on ``(N, n)`` points, for any N."""
        count = points.shape[0]
        if self.max_batch is not None and count > self.max_batch:
            return torch.cat([self.forward(chunk) for chunk in points.split(self.max_batch)])
        if count < self.min_batch:
            padding = points.new_zeros((self.min_batch - count, *points.shape[1:]))
            return self.program(torch.cat([points, padding]))[:count]
        return self.program(points)


def _screen_pt2_archive(reader: Any, records: set[str], name: str) -> None:
    """Refuse a .pt2 archive that torch.export.load would not load safely (see module docs)."""
    from torch.export.pt2_archive import constants as pt2

    def refuse(what: str) -> NetworkError:
        return NetworkError(
            f"{name} is a torch.export file that {what}; jacviz refuses it because "
            "torch.export.load could run code from it"
        )

    model_file = pt2.MODELS_FILENAME_FORMAT.format(_MODEL)
    weights_config = pt2.WEIGHTS_CONFIG_FILENAME_FORMAT.format(_MODEL)
    constants_config = pt2.CONSTANTS_CONFIG_FILENAME_FORMAT.format(_MODEL)
    sample_inputs = pt2.SAMPLE_INPUTS_FILENAME_FORMAT.format(_MODEL)
    required = {pt2.ARCHIVE_FORMAT_PATH, pt2.ARCHIVE_VERSION_PATH, model_file, weights_config}
    required |= {constants_config, sample_inputs}
    allowed = required | {"byteorder", "version", ".data/version", ".data/serialization_id"}
    weight_file = re.compile(re.escape(pt2.WEIGHTS_DIR + pt2.WEIGHT_FILENAME_PREFIX) + r"\d+")
    constant_file = re.compile(
        re.escape(pt2.CONSTANTS_DIR + pt2.TENSOR_CONSTANT_FILENAME_PREFIX) + r"\d+"
    )
    for record in sorted(records):
        if record in allowed or record.startswith(pt2.EXTRA_DIR):
            continue
        if weight_file.fullmatch(record) or constant_file.fullmatch(record):
            continue
        if record.startswith(pt2.AOTINDUCTOR_DIR):
            raise refuse("contains AOTInductor-compiled native code")
        if record.startswith(pt2.MODELS_DIR):
            raise refuse(f"holds a second program ({record})")
        raise refuse(f"contains an entry jacviz does not accept ({record})")
    missing = sorted(required - records)
    if missing:
        raise NetworkError(f"{name} is an incomplete torch.export file (no {missing[0]})")
    if reader.get_record(pt2.ARCHIVE_FORMAT_PATH) != pt2.ARCHIVE_FORMAT_VALUE.encode():
        raise NetworkError(f"{name} is a zip archive with an unknown archive_format")
    version = reader.get_record(pt2.ARCHIVE_VERSION_PATH).decode("ascii", "replace")
    if version != pt2.ARCHIVE_VERSION_VALUE:
        raise NetworkError(
            f"{name} is a torch.export file of archive version {version!r:.20}, which this "
            f"PyTorch ({torch.__version__}) does not read; re-save it with this PyTorch"
        )

    for config_file, files, what in (
        (weights_config, weight_file, "weights"),
        (constants_config, constant_file, "constants"),
    ):
        try:
            config = _strict_json(reader.get_record(config_file).decode("utf-8"))["config"]
            entries = list(config.values())
        except Exception:
            raise refuse(f"has an unreadable {what} table") from None
        for key in config:
            if not _QUALIFIED_NAME.fullmatch(key):
                raise refuse(f"has a {what} name jacviz rejects ({key!r:.40})")
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
                raise refuse(f"stores {what} as pickles")
            path_name = entry.get("path_name")
            directory = pt2.WEIGHTS_DIR if what == "weights" else pt2.CONSTANTS_DIR
            if not isinstance(path_name, str) or not files.fullmatch(directory + path_name):
                raise refuse(f"stores {what} that are not plain tensors ({path_name!r:.40})")

    # torch.export.load retries example inputs that fail weights_only=True with
    # weights_only=False. The same bytes passing this exact call here means it never retries.
    inputs = reader.get_record(sample_inputs)
    if inputs:
        try:
            torch.load(io.BytesIO(inputs), weights_only=True)
        except Exception:
            raise refuse("has example inputs that are not plain tensors") from None

    try:
        program = _strict_json(reader.get_record(model_file).decode("utf-8"), True)
    except Exception:
        raise refuse("has an unreadable program description") from None
    _screen_program_json(program, refuse)


def _screen_program_json(program: Any, refuse: Callable[[str], NetworkError]) -> None:
    """Check the program description (models/model.json) against jacviz's allow-list."""
    try:
        graph_module = program["graph_module"]
        specs = graph_module["signature"]["input_specs"]
        kinds = {next(iter(spec)) for spec in specs}
        root_signature = graph_module["module_call_graph"][0]["signature"]
        in_spec = json.loads(root_signature["in_spec"])
        out_spec = json.loads(root_signature["out_spec"])
        arg_names = root_signature.get("forward_arg_names") or []
        guards = program.get("guards_code") or []
        named_tuples = graph_module.get("treespec_namedtuple_fields") or {}
    except Exception:
        raise refuse("has a malformed program description") from None
    # torch exec()s generated Python built from these: guards_code verbatim (run on the first
    # call), forward_arg_names and the input spec's keys in the forward signature.
    if guards:
        raise refuse("carries guard code (Python source torch would run)")
    if in_spec != _IN_SPEC or not isinstance(arg_names, list) or len(arg_names) > 1:
        raise refuse("does not take exactly one positional input, an (N, n) tensor of points")
    if any(not isinstance(arg, str) or not arg.isidentifier() for arg in arg_names):
        raise refuse(f"has an input name that is not an identifier ({arg_names[0]!r:.40})")
    if out_spec != _OUT_SPEC:
        raise refuse("does not return a single tensor")
    if named_tuples:
        raise refuse("uses named tuples")
    unknown = kinds - {"user_input", "parameter", "buffer", "tensor_constant", "constant_input"}
    if unknown:
        raise refuse(f"has inputs of kind {sorted(unknown)[0]!r}")

    stack: list[Any] = [program]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
            continue
        if not isinstance(value, dict):
            continue
        for key, item in value.items():
            if key == "as_graph":
                raise refuse("contains subgraphs (control flow or other higher-order operators)")
            if key == "as_custom_obj":
                raise refuse("uses custom C++ objects")
            if key == "as_operator":
                raise refuse("passes operators as arguments")
            if key == "expr_str":
                if not isinstance(item, str) or not _is_safe_sym_expr(item):
                    raise refuse(f"has a symbolic-shape expression jacviz rejects ({item!r:.60})")
            elif key == "target" and "inputs" in value and "outputs" in value:
                if not isinstance(item, str) or not _is_allowed_target(item):
                    raise refuse(f"calls {item!r:.60}, which is not a core PyTorch operator")
            elif (key == "name" or key.endswith("_name") or key == "fqn") and (
                isinstance(item, str) and not (item == "" and key == "fqn")
            ):
                if not _QUALIFIED_NAME.fullmatch(item):
                    raise refuse(f"has a {key} jacviz rejects ({item!r:.40})")
            stack.append(item)


def _is_allowed_target(target: str) -> bool:
    match = _ATEN_TARGET.fullmatch(target)
    if match:
        return match.group(1) not in _FORBIDDEN_ATEN
    if target.startswith("_operator."):
        return target.removeprefix("_operator.") in _OPERATOR_NAMES
    return _SYM_TARGET.fullmatch(target) is not None


def _is_safe_sym_expr(text: str) -> bool:
    """Whether ``text`` is plain arithmetic on symbols, safe to hand to ``sympy.sympify``."""
    if len(text) > 2000:
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    try:
        return _is_safe_sym_node(tree.body)
    except RecursionError:
        return False


def _is_safe_sym_node(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, bool):
            return True
        # Strings are only allowed where _is_safe_sym_call accepts them.
        return isinstance(value, (int, float)) and abs(value) <= 2**63
    if isinstance(node, ast.Name):
        return node.id in _SYMPY_CONSTANTS or _SYMBOL_VALUE.fullmatch(node.id) is not None
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, _SAFE_UNARYOPS) and _is_safe_sym_node(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _is_small_power(node.left, node.right)
        return (
            isinstance(node.op, _SAFE_BINOPS)
            and _is_safe_sym_node(node.left)
            and _is_safe_sym_node(node.right)
        )
    if isinstance(node, ast.BoolOp):
        return all(_is_safe_sym_node(value) for value in node.values)
    if isinstance(node, ast.Compare):
        return all(isinstance(op, _SAFE_COMPARISONS) for op in node.ops) and all(
            _is_safe_sym_node(part) for part in (node.left, *node.comparators)
        )
    if isinstance(node, ast.Call):
        return _is_safe_sym_call(node)
    return False


def _is_safe_sym_call(node: ast.Call) -> bool:
    if not isinstance(node.func, ast.Name) or node.func.id not in _SYMPY_CALLS:
        return False
    function, args, keywords = node.func.id, node.args, node.keywords
    if any(isinstance(arg, ast.Starred) for arg in args):
        return False
    if function == "Symbol":
        return (
            len(args) == 1
            and isinstance(args[0], ast.Constant)
            and isinstance(args[0].value, str)
            and _SYMBOL_NAME.fullmatch(args[0].value) is not None
            and all(
                keyword.arg in _SYMBOL_ASSUMPTIONS
                and isinstance(keyword.value, ast.Constant)
                and isinstance(keyword.value.value, bool)
                for keyword in keywords
            )
        )
    if function == "Float":  # srepr: Float('1.5', precision=53)
        if len(args) != 1 or any(
            keyword.arg != "precision"
            or not isinstance(keyword.value, ast.Constant)
            or not _is_int(keyword.value.value)
            or not 1 <= keyword.value.value <= 1000
            for keyword in keywords
        ):
            return False
        value = args[0]
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return _FLOAT_TEXT.fullmatch(value.value) is not None
        return _is_safe_sym_node(value)
    if keywords:
        return False
    if function in _POWER_CALLS:
        return len(args) == 2 and _is_small_power(args[0], args[1])
    return all(_is_safe_sym_node(arg) for arg in args)


def _is_small_power(base: ast.AST, exponent: ast.AST) -> bool:
    """A power with a constant exponent of at most 16 and no power inside its base.

    Anything more would let a file make the deserializer compute numbers like 9**9**9.
    """
    if (
        isinstance(exponent, ast.Call)
        and isinstance(exponent.func, ast.Name)
        and exponent.func.id == "Integer"
        and len(exponent.args) == 1
        and not exponent.keywords
    ):
        exponent = exponent.args[0]
    if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub):
        exponent = exponent.operand
    if not (isinstance(exponent, ast.Constant) and _is_int(exponent.value)):
        return False
    if abs(exponent.value) > 16 or not _is_safe_sym_node(base):
        return False
    for inner in ast.walk(base):
        if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Pow):
            return False
        if isinstance(inner, ast.Call) and getattr(inner.func, "id", None) in _POWER_CALLS:
            return False
    return True


def _screen_export_graph(graph_module: nn.Module, name: str) -> None:
    """After loading, check the deserialized graphs again, on the real objects."""
    import operator

    allowed_python = {getattr(operator, op) for op in _OPERATOR_NAMES}
    for submodule in graph_module.modules():
        graph = getattr(submodule, "graph", None)
        if not isinstance(graph, torch.fx.Graph):
            continue
        for node in graph.nodes:
            if node.op in ("placeholder", "output", "get_attr"):
                continue
            target = node.target
            ok = node.op == "call_function" and (
                (
                    isinstance(target, torch._ops.OpOverload)
                    and target.namespace == "aten"
                    and target._schema.name.split("::")[-1] not in _FORBIDDEN_ATEN
                )
                or target in allowed_python
                or getattr(target, "__module__", None) == "math"
                or (
                    getattr(target, "__module__", None) == "torch"
                    and getattr(target, "__name__", "").startswith("sym_")
                )
            )
            if not ok:
                raise NetworkError(
                    f"{name} is a torch.export program that calls {target!s:.60} "
                    f"({node.op}), which jacviz does not run"
                )


# ----------------------------------------------------------------------------------------------
# Checks shared by all formats
# ----------------------------------------------------------------------------------------------


def _extra_metadata(raw: Any, name: str) -> dict[str, object]:
    """Parse the optional ``jacviz.json`` extra file of a TorchScript or export archive."""
    if not raw:
        return {}
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        value = _strict_json(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NetworkError(f"{name} has an unreadable {_EXTRA_FILE} (not valid JSON)") from None
    if not isinstance(value, dict):
        raise NetworkError(f"{name} has a {_EXTRA_FILE} that is not a JSON object")
    return value


def _nonfinite_message(name: str, key: str, tensor: torch.Tensor) -> str:
    kind = "NaN" if bool(torch.isnan(tensor).any()) else "infinite"
    return (
        f"{name} has {kind} weights (tensor {key!r}), so it cannot be drawn; a training run "
        "probably diverged"
    )


def _finish_found(
    module: nn.Module,
    name: str,
    fmt: str,
    metadata: dict[str, object],
    input_dim: int | None = None,
    input_dtype: torch.dtype | None = None,
) -> LoadedNetwork:
    """Finish a TorchScript / export network: find its dtype and input size, then check it."""
    floating = [p for p in module.parameters() if p.is_floating_point()]
    count = sum(t.numel() for t in itertools.chain(module.parameters(), module.buffers()))
    if count > MAX_PARAMETERS:
        raise NetworkError(_too_many_parameters(name, count))
    for key, tensor in itertools.chain(module.named_parameters(), module.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NetworkError(_nonfinite_message(name, key, tensor))
    dtypes = {p.dtype for p in floating}
    if len(dtypes) > 1:
        raise NetworkError(
            f"{name} mixes parameter dtypes ({', '.join(sorted(map(str, dtypes)))}); convert it "
            "to one dtype with model.float() or model.double() before saving"
        )
    dtype = next(iter(dtypes)) if dtypes else (input_dtype or torch.float32)
    if dtype not in _FLOAT_DTYPES:
        raise NetworkError(
            f"{name} has {str(dtype).removeprefix('torch.')} parameters; jacviz computes "
            "Jacobians in float32 or float64, so convert it with model.float() before saving"
        )
    if input_dim is None:
        # The first matrix's column count: for the usual first-Linear-layer networks, the input
        # size. The probe forward below tells if the guess is wrong.
        matrices = [p for p in floating if p.ndim == 2]
        input_dim = matrices[0].shape[1] if matrices else 2
    return _finish(module, name, fmt, int(input_dim), dtype, metadata)


def _finish(
    module: nn.Module,
    name: str,
    fmt: str,
    input_dim: int,
    dtype: torch.dtype,
    metadata: dict[str, object],
    expected_output: int | None = None,
) -> LoadedNetwork:
    if input_dim < 2:
        raise NetworkError(
            f"{name} takes {input_dim} input{'' if input_dim == 1 else 's'}, but jacviz shows "
            "maps of the plane and needs a network with at least 2 inputs"
        )
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    output_dim = _probe(module, name, fmt, input_dim, dtype)
    if expected_output is not None and output_dim != expected_output:
        raise NetworkError(
            f"{name} returns {output_dim} outputs but its description says {expected_output}"
        )
    return LoadedNetwork(module, name, input_dim, output_dim, fmt, dict(metadata))


def _probe(module: nn.Module, name: str, fmt: str, input_dim: int, dtype: torch.dtype) -> int:
    """Run the network on small batches; return m, or raise NetworkError saying what is wrong."""
    # Fixed, varied points in [-1, 1]: no random numbers, so the global RNG is left alone.
    points = torch.sin(torch.arange(1, 5 * input_dim + 1, dtype=torch.float64) * 1.7)
    points = points.reshape(5, input_dim).to(dtype)
    batches = [torch.zeros(3, input_dim, dtype=dtype), points, points[:1], points]
    outputs = []
    for batch in batches:
        try:
            with torch.no_grad():
                output = module(batch)
        except Exception as error:
            raise NetworkError(_forward_failure(name, fmt, input_dim, len(batch), error)) from None
        if not isinstance(output, torch.Tensor):
            raise NetworkError(
                f"{name} returns a {type(output).__name__}, not a tensor; jacviz needs a network "
                "that maps an (N, n) tensor to an (N, m) tensor"
            )
        if output.ndim != 2 or output.shape[0] != len(batch) or output.shape[1] < 1:
            raise NetworkError(
                f"{name} maps a batch of shape {tuple(batch.shape)} to shape "
                f"{tuple(output.shape)}; jacviz needs (N, {input_dim}) -> (N, m) with m >= 1 "
                "(add .unsqueeze(-1) for a single output)"
            )
        if not output.is_floating_point():
            raise NetworkError(f"{name} returns {output.dtype} values, not floating point")
        if output.shape[1] > MAX_OUTPUTS:
            raise NetworkError(
                f"{name} has {output.shape[1]:,} outputs; jacviz shows networks with at most "
                f"{MAX_OUTPUTS:,} (each output is a row of every Jacobian it computes)"
            )
        if not bool(torch.isfinite(output).all()):
            where = "at the origin" if batch is batches[0] else "at ordinary points in [-1, 1]"
            raise NetworkError(f"{name} gives NaN or infinite outputs {where}")
        outputs.append(output.to(torch.float64))
    zeros, first, single, again = outputs
    scale = float(first.abs().max()) + 1.0
    if not torch.allclose(again, first, rtol=1e-6, atol=1e-7 * scale):
        raise NetworkError(
            f"{name} gives different outputs for the same input (dropout or other randomness "
            "left on?); save the model in eval mode (model.eval()) so it is a fixed map"
        )
    if not torch.allclose(single, first[:1], rtol=1e-4, atol=1e-5 * scale):
        raise NetworkError(
            f"{name} gives a point a different value alone than in a batch, so its outputs mix "
            "points (e.g. batch normalization in training mode); jacviz needs each output row to "
            "depend only on its own input row"
        )
    return int(zeros.shape[1])


def _forward_failure(name: str, fmt: str, input_dim: int, batch: int, error: Exception) -> str:
    reason = error_line(error)
    if fmt == "torch-export" and ("Guard failed" in reason or "size()[0]" in reason):
        return (
            f"{name} is a torch.export program that does not accept a batch of {batch} points "
            f"({reason}); jacviz needs any batch size from 1 up, so export it with a dynamic "
            f"batch dimension: torch.export.export(model, (torch.zeros(8, {input_dim}),), "
            "dynamic_shapes=({0: torch.export.Dim('batch')},))"
        )
    guessed = " (the width of its first weight matrix)" if fmt == "torchscript" else ""
    return (
        f"{name} fails when run on a batch of {batch} points with {input_dim} inputs{guessed}: "
        f"{reason}"
    )


EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
"""The example networks of a source checkout (built by ``examples/build_examples.py``)."""

_NETWORK_SUFFIXES = (".safetensors", ".pt", ".pt2")


def example_files(folder: Path = EXAMPLES_DIR) -> list[Path]:
    """The network files in ``folder``, sorted by name; empty when the folder is absent."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in _NETWORK_SUFFIXES and p.is_file())
