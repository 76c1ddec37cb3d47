"""torch.export archives (``.pt2``), validated against an allow-list before torch reads them.

``torch.export.load`` is not safe on untrusted files (the package docstring lists how a
crafted file runs code through it), so :func:`screen_pt2_archive` checks the archive's entries
and its program description from the same bytes torch will load: plain tensors only, core ATen
operators only, shape expressions restricted to arithmetic (:mod:`.sym_expr`), no guard code,
names restricted to dotted identifiers, exactly one positional input and one tensor output.
After loading, :func:`screen_export_graph` checks the deserialized graphs again, on the real
objects.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from jacviz.nets.errors import NetworkError
from jacviz.nets.networks.strict import strict_json
from jacviz.nets.networks.sym_expr import is_safe_sym_expr

__all__ = ["screen_export_graph", "screen_pt2_archive"]

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


def screen_pt2_archive(reader: Any, records: set[str], name: str) -> None:
    """Refuse a .pt2 archive that torch.export.load would not load safely (see above)."""
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
            config = strict_json(reader.get_record(config_file).decode("utf-8"))["config"]
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
        program = strict_json(reader.get_record(model_file).decode("utf-8"), True)
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
                if not isinstance(item, str) or not is_safe_sym_expr(item):
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


def screen_export_graph(graph_module: nn.Module, name: str) -> None:
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
