"""The files users hand jacviz, and the files it writes: read bounded, written atomically.

Network files, CSV datasets and sessions are all read the same careful way (only a regular
file, at most so many bytes, without hanging on a FIFO), and every file jacviz writes appears
in one step, complete, so a crash or a full disk never leaves half a file over a good one.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path


def format_bytes(size: int) -> str:
    """A size for messages: ``"812 bytes"``, ``"3.4 KB"``, ``"12.0 MB"``."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def read_regular_file(
    source: Path,
    name: str,
    limit: int,
    kind: str,
    error: Callable[[str], Exception],
    hint: str = "",
) -> bytes:
    """The whole content of the regular file ``source``, of at most ``limit`` bytes.

    Parameters
    ----------
    source : Path
        The file.
    name : str
        How messages call it (usually its name without the folder).
    limit : int
        Largest size accepted; the file is read into memory once, so that what is checked is
        exactly what is used.
    kind : str
        What the file should be, for messages: ``"network file"``, ``"CSV file"``.
    error : callable
        Makes the exception raised from a one-line message (e.g. ``NetworkError``).
    hint : str
        Appended to the message for a folder (e.g. which files are accepted).

    Raises
    ------
    Exception
        ``error(message)`` when the file is missing, a folder, not a regular file (a device,
        pipe or socket: opened without blocking, so a FIFO cannot hang the app), unreadable,
        or larger than ``limit``.

    """
    directory = f"{name} is a directory, not a {kind}" + (f"; {hint}" if hint else "")
    too_large = f"more than the {format_bytes(limit)} jacviz accepts for a {kind}"
    try:
        # O_NONBLOCK: opening a FIFO must not hang the app; the fstat below then refuses it.
        descriptor = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error(f"{name} does not exist (looked for {os.path.abspath(source)})") from None
    except IsADirectoryError:
        raise error(directory) from None
    except PermissionError:
        if source.is_dir():  # Windows refuses to open directories with PermissionError
            raise error(directory) from None
        raise error(f"{name} cannot be read: permission denied") from None
    except OSError as problem:
        raise error(f"{name} cannot be opened: {problem.strerror or problem}") from None
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise error(directory)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{name} is not a regular file (a device, pipe or socket)")
        if info.st_size > limit:
            raise error(f"{name} is {format_bytes(info.st_size)}, {too_large}")
        handle = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        try:
            data = handle.read(limit + 1)
        except OSError as problem:
            raise error(f"{name} cannot be read: {problem.strerror or problem}") from None
    if len(data) > limit:  # the file grew after fstat
        raise error(f"{name} is {too_large}")
    return data


def write_atomically(target: Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` via a temporary file in the same folder + os.replace.

    Raises OSError (the temporary file is removed) if the folder is not writable or the disk
    is full; ``target`` is then untouched.
    """
    directory = target.parent
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            # Mode 0o666 lets the umask decide, so the result has the usual permissions
            # (tempfile.mkstemp would leave it readable by its owner only).
            descriptor = os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def target_problem(target: Path) -> str | None:
    """Why no file can be written at ``target``, or None if one can.

    The reasons: it is a folder, its folder is missing or read-only. Checked before long work,
    so that it fails at once rather than after.
    """
    if target.is_dir():
        return "it is a folder"
    folder = target.parent
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"folder {folder} is not writable"
    return None
