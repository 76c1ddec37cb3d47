"""Opening a network file: read it once, recognise its format by content, load it safely.

This is the front door of :mod:`jacviz.nets.networks`. :func:`load_network` reads the file
(:func:`read_network_file`), and :func:`load_network_bytes` recognises the bytes and hands them
to the reader of their format: :mod:`.mlp_format` for jacviz MLP files, and for TorchScript and
torch.export archives, which carry code, a :class:`~jacviz.nets.hosted.HostedNetwork` that
loads them in a child process with :func:`load_in_process` (or, for files you made yourself,
:mod:`.torchscript` and :mod:`.exported` in this process). Anything else is refused with a
message from :mod:`.sniff`.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import torch

from jacviz.nets.errors import NetworkError
from jacviz.nets.hosted import HostedNetwork, LoadCancelled
from jacviz.nets.networks.exported import load_export
from jacviz.nets.networks.limits import (
    MAX_ARCHIVE_ENTRIES,
    MAX_FILE_BYTES,
    MAX_UNPACKED_BYTES,
    SUPPORTED,
)
from jacviz.nets.networks.loaded import LoadedNetwork
from jacviz.nets.networks.mlp_format import load_jacviz_mlp, safetensors_header_size
from jacviz.nets.networks.sniff import (
    describe_other_zip,
    describe_torch_save,
    describe_unrecognised,
    is_state_dict_pickle,
)
from jacviz.nets.networks.state_dict import ActivationNeeded, load_state_dict, state_dict_message
from jacviz.nets.networks.torchscript import load_torchscript
from jacviz.support.files import format_bytes, read_regular_file
from jacviz.support.isolation import error_line

__all__ = [
    "ActivationNeeded",
    "Network",
    "check_network_file",
    "load_in_process",
    "load_network",
    "load_network_bytes",
    "read_network_file",
]

Network = LoadedNetwork | HostedNetwork
"""What :func:`load_network` returns: a network in this process, or one run in a child."""


def load_network(
    path: str | os.PathLike, *, isolated: bool = True, activation: str | None = None
) -> Network:
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
      docstring of :mod:`jacviz.nets.networks` for why), then
      ``torch.export.load(...).module()``. A program exported the default way, for the
      static batch B of its example input (``torch.export.export(model, (torch.zeros(1,
      2),))``), is run through ``torch.func.vmap`` over chunks of B points; one exported with a
      dynamic batch dimension runs on any batch at once, which is faster::

          batch = torch.export.Dim("batch")
          program = torch.export.export(model.eval(), (torch.zeros(8, 2),),
                                        dynamic_shapes=({0: batch},))
          torch.export.save(program, "model.pt2")

    - A state dict (``torch.save(model.state_dict())``) of an ``nn.Sequential`` of
      ``nn.Linear`` layers with one elementwise ``activation`` between them (one of
      :data:`ACTIVATIONS`, which the file cannot tell): read with
      ``torch.load(weights_only=True)`` and rebuilt (:mod:`.state_dict`). Without
      ``activation``, :class:`ActivationNeeded` (a NetworkError) says so.

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
    activation : str, optional
        The activation of a state dict's MLP; ignored for other formats.

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
        networks with NaN weights, fewer than 2 inputs, an unusable batch range, or a forward pass
        that fails or returns non-finite values. Unexpected errors from torch's loaders are
        wrapped too, so no raw traceback reaches the user (KeyboardInterrupt is not caught).

    """
    source = Path(path)
    return load_network_bytes(
        read_network_file(source),
        source.name or str(source),
        isolated=isolated,
        activation=activation,
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


def load_network_bytes(
    data: bytes, name: str, *, isolated: bool = True, activation: str | None = None
) -> Network:
    """Load a network from the bytes of a network file, as :func:`load_network` does.

    For networks that arrive without a file of their own, e.g. embedded in a saved session.
    ``name`` stands for the file name in messages (its extension is a hint for them only);
    the same size limit and checks apply, and ``isolated`` and ``activation`` mean the same.

    Raises
    ------
    NetworkError
        As :func:`load_network`.
    LoadCancelled
        If a hosted network's loading was cancelled from another thread.

    """
    network = _load_checked(data, name, isolated, activation)
    assert network is not None  # only isolated=None leaves an archive unloaded
    return network


def load_in_process(data: bytes, name: str) -> LoadedNetwork:
    """Load a network from file bytes in this process, code and all (``isolated=False``).

    What a :class:`~jacviz.nets.hosted.HostedNetwork`'s child runs to load its network. The
    front door hands it to the hosted network, which sends it to the child by reference (its
    module and name), so that hosting needs nothing of this package.

    Raises
    ------
    NetworkError
        As :func:`load_network`.

    """
    network = load_network_bytes(data, name, isolated=False)
    assert isinstance(network, LoadedNetwork)
    return network


def _load_checked(
    data: bytes, name: str, isolated: bool | None, activation: str | None = None
) -> Network | None:
    """Size checks, then :func:`_load_from_bytes`, with every failure made one line."""
    if len(data) > MAX_FILE_BYTES:
        raise NetworkError(
            f"{name} is {format_bytes(len(data))}, more than the "
            f"{format_bytes(MAX_FILE_BYTES)} jacviz accepts for a network file"
        )
    if not data:
        raise NetworkError(f"{name} is empty (0 bytes); {SUPPORTED}")
    try:
        return _load_from_bytes(bytes(data), name, isolated, activation)
    except (NetworkError, LoadCancelled):
        raise
    except Exception as error:
        # torch's loaders raise all sorts of exceptions on odd input; the user gets one line.
        raise NetworkError(f"{name} could not be loaded: {error_line(error)}") from error


def _read_network_file(source: Path, name: str) -> bytes:
    """Return the whole content of a regular file of at most MAX_FILE_BYTES, or raise."""
    data = read_regular_file(source, name, MAX_FILE_BYTES, "network file", NetworkError, SUPPORTED)
    if not data:
        raise NetworkError(f"{name} is empty (0 bytes); {SUPPORTED}")
    return data


def check_network_file(
    path: str | os.PathLike, activation: str | None = None
) -> LoadedNetwork | None:
    """What can be known about a network file without running any of its code.

    A jacviz MLP file holds no code: it is loaded and returned, checked as by
    :func:`load_network`. A TorchScript or torch.export archive is checked as far as can be
    done without running it (size, unpacked size, that it is such an archive) and None is
    returned: loading it runs code, which the caller does later in a child process, with a
    time limit and a way to cancel (the app, with a progress note). For the command line's
    ``jacviz FILE``: refuse what is plainly no network at once, open the rest in the app.
    A state dict holds no code either: it is loaded with ``activation`` (see
    :func:`load_network`).

    Raises
    ------
    NetworkError
        As :func:`load_network`, for everything decided before any code runs.

    """
    source = Path(path)
    return _load_checked(read_network_file(source), source.name or str(source), None, activation)


def _load_from_bytes(
    data: bytes, name: str, isolated: bool | None, activation: str | None
) -> Network | None:
    """Load by content; ``isolated`` None: do not load archives with code (return None)."""
    if safetensors_header_size(data) is not None:
        return load_jacviz_mlp(data, name)
    if data.startswith(b"PK") or zipfile.is_zipfile(io.BytesIO(data)):
        return _load_zip(data, name, isolated, activation)
    raise NetworkError(describe_unrecognised(data, name, Path(name).suffix.lower()))


def _load_zip(
    data: bytes, name: str, isolated: bool | None, activation: str | None
) -> Network | None:
    """Load a TorchScript or torch.export archive (hosted if ``isolated``), or refuse the zip."""
    _check_unpacked_size(data, name)
    # Records are listed with torch's own zip reader, the one torch.jit.load and
    # torch.export.load use, so the checks see exactly the entries that will be loaded.
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        records = set(reader.get_all_records())
    except Exception:
        raise NetworkError(describe_other_zip(data, name)) from None
    from torch.export.pt2_archive import constants as pt2

    export = pt2.ARCHIVE_FORMAT_PATH in records
    torchscript = "data.pkl" in records and any(r.startswith("code/") for r in records)
    if (export or torchscript) and isolated is None:
        return None  # a network whose code is not to be run now
    if (export or torchscript) and isolated:
        return HostedNetwork(data, name, load=load_in_process)
    if export:
        return load_export(data, reader, records, name)
    if torchscript:
        return load_torchscript(data, reader, records, name)
    if "data.pkl" in records:
        pickle_bytes = reader.get_record("data.pkl")
        if not is_state_dict_pickle(pickle_bytes):
            raise NetworkError(describe_torch_save(pickle_bytes, name))
        if activation is None:
            raise ActivationNeeded(state_dict_message(name))
        return load_state_dict(data, name, activation)
    raise NetworkError(describe_other_zip(data, name))


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
