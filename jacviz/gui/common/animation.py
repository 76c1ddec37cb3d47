"""Animations: a sequence of rendered frames saved as a GIF or an MP4 video.

The frames come from the app (the morph from the identity to the map, a training run's
decision regions over its steps) as ``QImage`` objects; this module only encodes them. GIF is
written with Pillow (a dependency); MP4 with an ``ffmpeg`` executable, taken from the
``imageio-ffmpeg`` package when it is installed (``pip install "jacviz[video]"``) or from the
PATH. As for figures, the file appears in one step when complete: a failure or a cancel leaves
no partial file, and an existing file stays intact until then.

When the user exports (:func:`export_animation`), the frames are rendered on the GUI thread
between events and encoded at the same time off it, by the same newest-only runner as every
other background job, so the window stays responsive and Cancel works throughout.
"""

from __future__ import annotations

import io
import os
import queue
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from PyQt6.QtCore import QEventLoop, Qt, QTimer
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from jacviz.gui.common.runner import LatestOnlyRunner
from jacviz.support.files import move_into_place, target_problem, temporary_beside, write_atomically

ANIMATION_FORMATS = {".gif": "GIF animation", ".mp4": "MP4 video"}
MAX_FRAMES = 1000
MAX_FPS = 60.0
FEED_AHEAD = 4
"""Frames rendered ahead of the encoder at most, while exporting: memory stays flat."""
FEED_POLL = 0.05
"""Seconds the encoder waits for a frame before checking whether it was cancelled."""
FEED_WAIT = 10
"""Milliseconds between looks at the encoder while it is behind, or finishing."""


class AnimationError(Exception):
    """An animation that cannot be made or saved; the message says why in one line."""


def ffmpeg_executable() -> str | None:
    """The ffmpeg program MP4 export uses, or None when there is none."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return shutil.which("ffmpeg")
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the package is there but its binary is not
        return shutil.which("ffmpeg")


def check_animation_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path if an animation can be saved there; else an :class:`AnimationError`."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        raise AnimationError(
            f"cannot save an animation as {target.name!r}: the file name must end in "
            f"{' or '.join(ANIMATION_FORMATS)}"
        )
    if suffix == ".mp4" and ffmpeg_executable() is None:
        raise AnimationError(
            "MP4 needs ffmpeg: install it with pip install 'jacviz[video]' (or your system's "
            "ffmpeg package), or save a .gif"
        )
    problem = target_problem(target)
    if problem is not None:
        raise AnimationError(f"cannot save the animation to {target}: {problem}")
    return target


def _rgba(image: QImage) -> tuple[bytes, int, int]:
    """The image's pixels as tightly packed RGBA bytes, with its size in device pixels."""
    converted = image.convertToFormat(QImage.Format.Format_RGBA8888)
    width, height = converted.width(), converted.height()
    row = width * 4
    data = bytes(converted.constBits().asarray(converted.sizeInBytes()))
    stride = converted.bytesPerLine()
    if stride != row:  # Qt pads rows to 4 bytes: RGBA rows never need it, but be exact
        data = b"".join(data[y * stride : y * stride + row] for y in range(height))
    return data, width, height


def save_animation(
    frames: Iterable[QImage],
    path: str | os.PathLike,
    fps: float = 20.0,
    progress: Callable[[int], bool] | None = None,
) -> Path | None:
    """Encode ``frames`` into the GIF or MP4 file ``path`` (the extension decides).

    Parameters
    ----------
    frames : iterable of QImage
        The frames, all of the same size (the first one's; others are scaled to it).
        Consumed lazily, so a generator that renders each frame on demand keeps memory flat.
    path : str or os.PathLike
        Destination, ending in ``.gif`` or ``.mp4``.
    fps : float
        Frames per second, 1 to 60.
    progress : callable, optional
        Called with the number of frames done after each frame; returning False cancels.

    Returns
    -------
    Path or None
        The file written, or None if cancelled (then nothing was written).

    Raises
    ------
    AnimationError
        Bad path or format, no frames, too many frames, ffmpeg failing, or an OS error while
        writing (the message says which). No partial file is left behind.

    """
    target = check_animation_target(path)
    if not 1.0 <= fps <= MAX_FPS:
        raise AnimationError(f"frames per second must be between 1 and {MAX_FPS:g}, got {fps}")
    if target.suffix.lower() == ".gif":
        return _save_gif(frames, target, fps, progress)
    return _save_mp4(frames, target, fps, progress)


def _sized(frames: Iterable[QImage]) -> Iterable[tuple[bytes, int, int]]:
    """Frames as RGBA bytes, all at the first frame's size; refuses none or too many."""
    size = None
    count = 0
    for image in frames:
        count += 1
        if count > MAX_FRAMES:
            raise AnimationError(f"an animation holds at most {MAX_FRAMES} frames")
        if image.isNull():
            raise AnimationError(f"frame {count} is empty")
        if size is None:
            size = (image.width(), image.height())
        elif (image.width(), image.height()) != size:
            image = image.scaled(*size)
        yield _rgba(image)
    if count == 0:
        raise AnimationError("there are no frames to save")


def _save_gif(
    frames: Iterable[QImage], target: Path, fps: float, progress: Callable[[int], bool] | None
) -> Path | None:
    from PIL import Image

    pictures = []
    for done, (data, width, height) in enumerate(_sized(frames), start=1):
        picture = Image.frombytes("RGBA", (width, height), data).convert("RGB")
        # An adaptive 255-colour palette per frame keeps heatmap gradients smooth.
        pictures.append(picture.quantize(colors=255, method=Image.Quantize.MEDIANCUT))
        if progress is not None and not progress(done):
            return None
    buffer = io.BytesIO()
    duration = round(1000 / fps)
    pictures[0].save(
        buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=duration, loop=0
    )
    try:
        write_atomically(target, buffer.getvalue())
    except OSError as error:
        raise AnimationError(f"cannot save the animation to {target}: {error.strerror}") from None
    return target


def _save_mp4(
    frames: Iterable[QImage], target: Path, fps: float, progress: Callable[[int], bool] | None
) -> Path | None:
    executable = ffmpeg_executable()
    assert executable is not None  # check_animation_target made sure
    temporary = temporary_beside(target, ".part.mp4")
    process: subprocess.Popen | None = None
    finished = False
    try:
        for done, (data, width, height) in enumerate(_sized(frames), start=1):
            if process is None:
                process = _start_ffmpeg(executable, width, height, fps, temporary)
            assert process.stdin is not None
            try:
                process.stdin.write(data)
            except BrokenPipeError:
                break  # ffmpeg stopped; its message is read below
            if progress is not None and not progress(done):
                return None
        assert process is not None and process.stdin is not None
        process.stdin.close()
        error = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
        if process.wait() != 0:
            last = [line for line in error.splitlines() if line.strip()][-1:] or ["no message"]
            raise AnimationError(f"ffmpeg could not encode the video: {last[0]}")
        move_into_place(temporary, target)
        finished = True
        return target
    except OSError as error:
        raise AnimationError(f"cannot save the animation to {target}: {error.strerror}") from None
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if not finished:
            temporary.unlink(missing_ok=True)


def _start_ffmpeg(
    executable: str, width: int, height: int, fps: float, output: Path
) -> subprocess.Popen:
    """ffmpeg reading raw RGBA frames on stdin, writing H.264 (even sizes: yuv420p needs them)."""
    command = [
        executable,
        "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{width}x{height}", "-r", f"{fps:g}",
        "-i", "-",
        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
        "-f", "mp4", str(output),
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


class _Stopped(Exception):
    """The export was cancelled while frames were being encoded: write nothing."""


_DONE = object()
"""Put in the feed after the last frame."""


def _fed_frames(feed: queue.Queue, superseded: Callable[[], bool]) -> Iterator[QImage]:
    """The frames the GUI thread puts in ``feed``, until :data:`_DONE`; stops when cancelled."""
    while True:
        try:
            image = feed.get(timeout=FEED_POLL)
        except queue.Empty:
            image = None
        if superseded():
            raise _Stopped
        if image is _DONE:
            return
        if image is not None:
            yield image


def _encode_job(
    feed: queue.Queue, path: str, fps: float, outcome: list[Path | str | None]
) -> Callable[[Callable[[], bool]], None]:
    """The encoding job: leaves in ``outcome`` the file written, None if cancelled, or why not.

    The outcome is left there rather than returned, so that it is known even when the job
    was cancelled too late to stop the file being written.
    """

    def encode(superseded: Callable[[], bool]) -> None:
        def progress(_done: int) -> bool:
            return not superseded()

        try:
            outcome.append(save_animation(_fed_frames(feed, superseded), path, fps, progress))
        except _Stopped:
            outcome.append(None)
        except AnimationError as error:
            outcome.append(str(error))

    return encode


def _render_and_encode(
    frames: Iterator[QImage], path: str, fps: float, dialog: QProgressDialog
) -> Path | None:
    """Render ``frames`` on the GUI thread while a worker encodes them; the dialog can cancel.

    The frames are widgets drawn into images, so they are made here, one per turn of the
    event loop (the window stays responsive); the encoding (GIF palettes and compression,
    or ffmpeg) runs off the GUI thread on a :class:`~jacviz.gui.common.runner.LatestOnlyRunner`,
    at most :data:`FEED_AHEAD` frames behind. Returns the file, or None when cancelled
    (nothing written); raises AnimationError, or what rendering a frame raised. No thread is
    left running when it returns.
    """
    feed: queue.Queue = queue.Queue()
    runner = LatestOnlyRunner()
    loop = QEventLoop()
    outcome: list[Path | str | None] = []
    failure: list[BaseException] = []
    rendered = 0
    all_rendered = False
    rendering = False  # a modal dialog's setValue runs the event loop: no re-entering
    timer = QTimer()

    def stop() -> None:
        runner.cancel()
        feed.put(_DONE)
        loop.quit()

    def render_next() -> None:
        nonlocal rendering
        if rendering:
            return
        rendering = True
        try:
            render_one()
        finally:
            rendering = False

    def render_one() -> None:
        nonlocal rendered, all_rendered
        if dialog.wasCanceled():
            stop()
            return
        if all_rendered:
            return  # all rendered: only a cancel is watched for while the encoder finishes
        timer.setInterval(FEED_WAIT if feed.qsize() >= FEED_AHEAD else 0)
        if feed.qsize() >= FEED_AHEAD:
            return  # the encoder is behind: let it catch up
        try:
            image = next(frames)
        except StopIteration:
            feed.put(_DONE)
            all_rendered = True
            timer.setInterval(FEED_WAIT)
            dialog.setLabelText("Encoding…")
            return
        except BaseException as error:  # raised once the worker has stopped
            failure.append(error)
            stop()
            return
        feed.put(image)
        rendered += 1
        dialog.setValue(min(rendered, dialog.maximum()))

    def crashed(message: str) -> None:  # a bug in the encoder, not an AnimationError
        outcome.append(message)
        loop.quit()

    runner.sigResult.connect(lambda _none: loop.quit())
    runner.sigFailed.connect(crashed)
    timer.timeout.connect(render_next)
    runner.submit_checked(_encode_job(feed, path, fps, outcome))
    timer.start(0)
    try:
        loop.exec()
    finally:
        timer.stop()
        runner.cancel()  # a no-op once the job has ended
        feed.put(_DONE)
        runner.wait()
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # a generator's own clean-up (the morph put back) happens now
    if failure:
        raise failure[0]
    result = outcome[0] if outcome else None
    if isinstance(result, str):
        raise AnimationError(result)
    return result


def export_animation(
    parent: QWidget,
    frames: Iterable[QImage],
    count: int,
    suggested: str,
    fps: float = 20.0,
) -> Path | None:
    """Ask where to save, then encode ``frames`` with a progress dialog the user can cancel.

    The frames are rendered on the GUI thread and encoded off it (see
    :func:`_render_and_encode`), so the window stays responsive throughout. Errors are shown
    in a message box; returns the file written, or None (cancelled, refused).
    """
    formats = ";;".join(f"{name} (*{suffix})" for suffix, name in ANIMATION_FORMATS.items())
    path, _ = QFileDialog.getSaveFileName(parent, "Export animation", suggested, formats)
    if not path:
        return None
    dialog = QProgressDialog("Rendering frames…", "Cancel", 0, count, parent)
    dialog.setWindowTitle("Export animation")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    try:
        return _render_and_encode(iter(frames), path, fps, dialog)
    except AnimationError as error:
        QMessageBox.warning(parent, "Animation not saved", str(error))
        return None
    finally:
        dialog.close()
