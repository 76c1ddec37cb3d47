"""Saying what a file is when it is not a network jacviz reads, without running any of it.

Users open whatever file they have: a ``torch.save`` pickle, a state dict, a Keras model, a
script. jacviz refuses them all, and the refusal should say what the file is and what to save
instead. Everything here reads bytes only: pickles are decoded opcode by opcode with
:mod:`pickletools`, which never imports or calls anything, and only to word the message.
"""

from __future__ import annotations

import io
import itertools
import os
import pickletools
import re
import stat
import zipfile

from jacviz.nets.networks.limits import SAVE_INSTEAD, SUPPORTED

__all__ = [
    "describe_other_zip",
    "describe_torch_save",
    "describe_unrecognised",
    "is_state_dict_file",
    "is_state_dict_pickle",
]


def describe_unrecognised(data: bytes, name: str, suffix: str) -> str:
    """The refusal of a file that is neither a safetensors file nor a zip archive.

    ``suffix`` (the lower-case extension of ``name``) only helps word the message.
    """
    if data[:1] == b"\x80" or _is_pickle(data):
        return _describe_pickle(data, name)
    if data.startswith(b"\x89HDF\r\n\x1a\n"):
        return (
            f"{name} is an HDF5 file (e.g. a Keras .h5 model), which jacviz does not read; "
            f"{SUPPORTED}"
        )
    if data.startswith(b"\x93NUMPY"):
        return f"{name} is a NumPy array file, not a network; {SUPPORTED}"
    if data[4:8] == b"PTMF":
        return (
            f"{name} is a PyTorch Mobile (lite interpreter) file, which jacviz does not read; "
            f"{SUPPORTED}"
        )
    if _looks_like_text(data):
        if re.search(rb"^\s*(import\s|from\s+\S+\s+import\s|def\s|class\s)", data[:8192], re.M):
            return (
                f"{name} is Python source code; jacviz never runs code from files, so run it "
                f"yourself and {SAVE_INSTEAD}"
            )
        return f"{name} is a text file, not a network; {SUPPORTED}"
    if suffix == ".onnx":
        return (
            f"{name} looks like an ONNX model, which jacviz does not read; export the PyTorch "
            "model with torch.export.save instead"
        )
    return f"{name} is not a network file jacviz recognises; {SUPPORTED}"


def describe_other_zip(data: bytes, name: str) -> str:
    """Message for a zip archive that is none of the accepted formats (names only, no loading)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return f"{name} is a damaged zip archive; {SUPPORTED}"
    if "serialized_exported_program.json" in names:
        return (
            f"{name} is a torch.export program in the old format of PyTorch 2.7 and earlier, "
            "which can hold unrestricted pickles; re-save it with torch.export.save from a "
            "current PyTorch"
        )
    return f"{name} is a zip archive but not a PyTorch network; {SUPPORTED}"


def describe_torch_save(pickle_bytes: bytes, name: str) -> str:
    """The refusal of a ``torch.save`` file (``pickle_bytes``: its pickle), state dicts apart."""
    found = _pickle_globals(pickle_bytes)
    if found is not None and _is_state_dict(found):
        return (
            f"{name} is a PyTorch state dict saved with torch.save: it holds weights but not the "
            "architecture, and jacviz does not unpickle files because unpickling can run "
            "arbitrary code; load the weights into your model in Python and "
            f"{SAVE_INSTEAD}"
        )
    return (
        f"{name} is a pickled PyTorch file (torch.save); jacviz does not unpickle untrusted "
        f"files because they can run code; {SAVE_INSTEAD}"
    )


def is_state_dict_pickle(pickle_bytes: bytes) -> bool:
    """Whether a ``torch.save`` pickle names only dicts and tensors (a state dict, statically).

    Read opcode by opcode, nothing imported or called: the state-dict loader then reads it with
    ``torch.load(weights_only=True)``, and anything else keeps its refusal.
    """
    found = _pickle_globals(pickle_bytes)
    return found is not None and _is_state_dict(found)


def is_state_dict_file(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` looks like a state dict, from its zip directory and pickle.

    Quick enough for the GUI thread, which asks for the activation before loading: only a
    regular file's zip directory and its small ``data.pkl`` are read, and the pickle is
    decoded statically (nothing imported or called). Anything unusual gives False; loading
    then says what the file is.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > 10_000:
                return False
            pickles = [e for e in entries if e.filename.split("/")[-1] == "data.pkl"]
            if len(pickles) != 1 or pickles[0].file_size > 1 << 20:
                return False
            if any("/code/" in f"/{e.filename}" for e in entries):
                return False  # TorchScript
            return is_state_dict_pickle(archive.read(pickles[0]))
    except (OSError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        return False


def _describe_pickle(data: bytes, name: str) -> str:
    found = _pickle_globals(data)
    if found is not None and "<torch legacy magic>" in found:
        return (
            f"{name} is a pickled PyTorch file (torch.save, legacy format); jacviz does not "
            f"unpickle untrusted files because they can run code; {SAVE_INSTEAD}"
        )
    if found is not None and any(item.startswith("torch") for item in found):
        return describe_torch_save(data, name)
    return (
        f"{name} is a Python pickle; jacviz does not unpickle files because unpickling can run "
        f"arbitrary code; {SAVE_INSTEAD}"
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
