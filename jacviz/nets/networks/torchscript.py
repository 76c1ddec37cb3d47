"""TorchScript networks (``torch.jit.save``): screened before they load, and again after.

TorchScript's pickles are read by its C++ unpickler, which only builds tensors and TorchScript
classes (a pickle naming ``os.system`` fails with "Unknown type name"). But TorchScript is still
code: it can write files (``torch.save``, ``aten::save``), map them (``torch.from_file``), and a
``__setstate__`` method runs *while the archive loads*. So the source in ``code/`` is screened
before ``torch.jit.load`` (:func:`screen_torchscript_source`) and the compiled graphs are
screened again before anything runs (:func:`screen_torchscript_graphs`).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import pickletools
import re
import warnings
from collections.abc import Iterator
from typing import Any

from jacviz.math.jacobian import CHUNK_SIZE
from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.limits import EXTRA_FILE, MAX_WIDTH
from jacviz.nets.networks.loaded import LoadedNetwork, archive_metadata, finish_archive_network
from jacviz.support.isolation import error_line

__all__ = ["load_torchscript", "screen_torchscript_graphs", "screen_torchscript_source"]

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


def load_torchscript(data: bytes, reader: Any, records: set[str], name: str) -> LoadedNetwork:
    """Load a TorchScript archive in this process, screened before and after ``torch.jit.load``.

    ``reader`` is torch's reader of ``data`` and ``records`` its entries (as listed by
    :mod:`.loading`, so that the screen sees exactly what will be loaded).
    """
    # Every source file, wherever it sits (.data/ts_code/ holds sources too in some archives).
    for record in sorted(records):
        if record.endswith(".py"):
            screen_torchscript_source(reader.get_record(record), record, name)
    import torch

    extra_files: dict[str, Any] = {EXTRA_FILE: ""}
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
    screen_torchscript_graphs(module, name)
    metadata = archive_metadata(extra_files.get(EXTRA_FILE), name)
    module.eval()
    batch = traced_batch(reader.get_record(TRACED_INPUTS)) if TRACED_INPUTS in records else None
    try:
        loaded = finish_archive_network(
            module, name, "torchscript", metadata, _declared_input_dim(metadata, name)
        )
    except NetworkError as error:
        if batch is None or "fails when run on a batch" not in str(error):
            raise
        raise NetworkError(
            f"{error}. It was traced with torch.jit.trace at a batch of {batch} and its trace "
            "keeps that batch size; save it with torch.jit.script(model), or with "
            "torch.export and a dynamic batch, to run it on any batch"
        ) from None
    if batch is None:
        return loaded  # scripted: "through the TorchScript module", on whole chunks
    evaluation = (
        f"the TorchScript module traced at a batch of {batch}, run on up to {CHUNK_SIZE} "
        "points at once (its trace takes any batch)"
    )
    return dataclasses.replace(loaded, evaluation=evaluation)


TRACED_INPUTS = "traced_inputs.pkl"
"""The archive entry where ``torch.jit.trace`` keeps its example inputs (scripted: none)."""
_INTEGERS = ("BININT", "BININT1", "BININT2", "LONG1")
_SMALL_TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_MEMO = ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE")


def traced_batch(pickle_bytes: bytes) -> int | None:
    """The batch size of the first example input kept in ``traced_inputs.pkl``, if readable.

    The pickle is decoded statically (:mod:`pickletools`: nothing imported or called): the
    first tensor rebuilt there (``torch._utils._rebuild_tensor_v2(storage, offset, size,
    ...)``) has the traced batch as the first entry of its ``size``. None when it is not there.
    """
    try:
        operations = list(itertools.islice(pickletools.genops(pickle_bytes), 10_000))
    except (ValueError, EOFError, KeyError, TypeError):
        return None
    kept = [(op.name, argument) for op, argument, _ in operations if op.name not in _MEMO]
    names = [name for name, _ in kept]
    arguments = [argument for _, argument in kept]
    try:
        start = arguments.index("torch._utils _rebuild_tensor_v2")
        position = names.index("BINPERSID", start) + 1
    except ValueError:
        return None
    if position >= len(names) or names[position] not in _INTEGERS:
        return None  # the storage offset
    sizes: list[int] = []
    for name, argument in zip(names[position + 1 :], arguments[position + 1 :], strict=False):
        if name in _INTEGERS and isinstance(argument, int):
            sizes.append(argument)
        elif name == "MARK":
            sizes = []
        elif name in ("TUPLE", *_SMALL_TUPLES):
            if name in _SMALL_TUPLES:
                sizes = sizes[-_SMALL_TUPLES[name] :]
            return sizes[0] if sizes and sizes[0] >= 1 else None
        else:
            return None
    return None


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
            f"{name} declares input_dim {declared!r} in {EXTRA_FILE}; it must be a whole number "
            f"from 1 to {MAX_WIDTH}"
        )
    return declared


def screen_torchscript_source(source: bytes, record: str, name: str) -> None:
    """Refuse TorchScript source (entry ``record``) that names anything that touches the system."""
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


def screen_torchscript_graphs(module: Any, name: str) -> None:
    """Refuse a loaded TorchScript module whose code calls anything but core, file-free ops."""
    import torch

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
