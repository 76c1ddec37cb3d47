"""The files users hand jacviz, and the files it writes: read bounded, written atomically.

Network files, CSV datasets and sessions are all read the same careful way (only a regular
file, at most so many bytes, without hanging on a FIFO), and every file jacviz writes appears
in one step, complete, so a crash or a full disk never leaves half a file over a good one.
"""

from __future__ import annotations

import errno
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
    except ValueError:  # a NUL character: no file can have such a name
        raise error(f"{name} is no file name: it contains a NUL character") from None
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


class UnsafeTargetError(OSError):
    """A path jacviz refuses to write to: a folder, device, FIFO, socket or symlink loop.

    An :class:`OSError` (so callers that report failed writes report this too) whose
    ``strerror`` is one line saying what stands there, e.g. "it is a FIFO (named pipe), not an
    ordinary file".
    """

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EINVAL, reason)


_KINDS = (
    (stat.S_ISDIR, "it is a folder"),
    (stat.S_ISCHR, "it is a device file (character device), not an ordinary file"),
    (stat.S_ISBLK, "it is a device file (block device), not an ordinary file"),
    (stat.S_ISFIFO, "it is a FIFO (named pipe), not an ordinary file"),
    (stat.S_ISSOCK, "it is a socket, not an ordinary file"),
    (stat.S_ISLNK, "it is a symbolic link that leads to itself (a loop)"),
)


def _kind_problem(path: Path) -> str | None:
    """Why what stands at ``path`` (not following a last symlink) may not be replaced, or None.

    None means an ordinary file or nothing at all: the only two things a write may replace.
    """
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None  # nothing there (the folder check names a missing folder)
    except OSError as problem:
        return problem.strerror or str(problem)
    for test, reason in _KINDS:
        if test(mode):
            return reason
    return None if stat.S_ISREG(mode) else "it is not an ordinary file"


def _real_target(target: Path) -> Path:
    """Where a write to ``target`` really goes: through every symlink, to the file it names.

    A symlink is written through, as ``open(target, "w")`` would: its target's content changes
    and the link stays a link. A dangling link names the file to create; a loop stays a link,
    which :func:`_kind_problem` refuses. A name with a NUL character is refused here, as
    :class:`UnsafeTargetError`: no file can have it.
    """
    try:
        return Path(os.path.realpath(target))
    except ValueError:
        raise UnsafeTargetError("it is no file name: it contains a NUL character") from None


def write_atomically(target: Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` in one step: a temporary file beside it, then a rename.

    A crash or a full disk never leaves half a file over a good one: either the old content or
    the new one is there. The rename only ever replaces an *ordinary file* (or nothing):

    - through a symbolic link, the file it points to is written (atomically, in *its* folder),
      and the link stays as it was;
    - a folder, device file, FIFO, socket or symlink loop is refused with
      :class:`UnsafeTargetError` before anything is written, and checked again just before
      the rename, so that ``--out /dev/null`` never replaces a system device with a file;
    - a file that did not exist is created with ``os.link`` where the file system allows it,
      which fails rather than replace anything that appeared meanwhile;
    - a replaced file keeps its permission bits; a new one gets the usual ones (umask).

    Raises
    ------
    UnsafeTargetError
        If ``target`` (after symlinks) is not an ordinary file or absent.
    OSError
        If the folder is not writable or the disk is full; ``target`` is then untouched and
        the temporary file removed.

    """
    real = _real_target(Path(target))
    problem = _kind_problem(real)
    if problem is not None:
        raise UnsafeTargetError(problem)
    move_into_place(_write_temporary(real, payload), real)


def temporary_beside(target: Path, suffix: str = ".tmp") -> Path:
    """A fresh hidden file name in the folder where a write to ``target`` really goes.

    For writers whose output is produced by another program (ffmpeg writes an MP4 to a path):
    they write there, then call :func:`move_into_place`. Being in the same folder as the real
    target (past any symlink) keeps the final rename atomic. Nothing is created.
    """
    real = _real_target(Path(target))
    while True:
        candidate = real.parent / f".{real.name}.{secrets.token_hex(6)}{suffix}"
        if not os.path.lexists(candidate):
            return candidate


def _write_temporary(real: Path, payload: bytes) -> Path:
    """Write ``payload`` to a new hidden file beside ``real``, flushed to disk; return it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = temporary_beside(real)
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
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def move_into_place(temporary: Path, target: Path) -> None:
    """Put the finished file ``temporary`` where a write to ``target`` goes, in one step.

    ``temporary`` must come from :func:`temporary_beside` (same folder, same file system).
    What stands at the real target is checked just before the rename: only an ordinary file
    (whose permission bits the new one takes over) or nothing is replaced. On any failure
    ``temporary`` is removed and the target left as it was.

    Raises
    ------
    UnsafeTargetError
        If the real target is a folder, device, FIFO, socket or symlink loop.
    OSError
        If the rename fails.

    """
    real = _real_target(Path(target))
    try:
        _commit(Path(temporary), real)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(real.parent)


def _commit(temporary: Path, real: Path) -> None:
    for _ in range(3):  # something may appear at ``real`` between two looks: look again
        problem = _kind_problem(real)
        if problem is not None:
            raise UnsafeTargetError(problem)
        if os.path.lexists(real):
            os.chmod(temporary, stat.S_IMODE(os.stat(real).st_mode))
            os.replace(temporary, real)
            return
        try:
            os.link(temporary, real)  # creates, or fails if anything appeared meanwhile
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system (FAT, some shares): rename
            os.replace(temporary, real)
            return
        temporary.unlink()
        return
    raise UnsafeTargetError("something else keeps replacing it while jacviz writes")


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entry for the new file to disk, where the platform allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows cannot open folders: the rename is as durable as it gets
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def target_problem(target: Path) -> str | None:
    """Why no file can be written at ``target``, or None if one can.

    The reasons: what stands there (after symlinks) is no ordinary file (a folder, device,
    FIFO, socket or symlink loop), or its folder is missing or read-only. Checked before long
    work, so that it fails at once rather than after; :func:`write_atomically` checks again.
    """
    try:
        real = _real_target(Path(target))
    except UnsafeTargetError as error:
        return error.strerror
    problem = _kind_problem(real)
    if problem is not None:
        return problem
    folder = real.parent
    # Name the folder as the user wrote it, unless a symlink led elsewhere.
    shown = Path(target).parent if real == Path(os.path.abspath(target)) else folder
    if not folder.is_dir():
        return f"folder {shown} does not exist"
    if not os.access(folder, os.W_OK):
        return f"folder {shown} is not writable"
    return None
