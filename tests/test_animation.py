"""Animation encoding: GIF and MP4 files with the frames given, and nothing left on failure."""

import pytest
from PIL import Image
from PyQt6.QtGui import QColor, QImage

from jacviz.gui.common.animation import (
    AnimationError,
    check_animation_target,
    ffmpeg_executable,
    save_animation,
)

COLOURS = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (213, 94, 0)]


def frames(count=4, size=(64, 48)):
    for index in range(count):
        image = QImage(*size, QImage.Format.Format_ARGB32)
        image.fill(QColor(*COLOURS[index % len(COLOURS)]))
        yield image


def test_gif_holds_every_frame_in_order(qapp, tmp_path):
    path = save_animation(frames(), tmp_path / "a.gif", fps=10)
    assert path == tmp_path / "a.gif"
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.size == (64, 48)
        assert gif.info["loop"] == 0 and gif.info["duration"] == 100
        for index in range(4):
            gif.seek(index)
            pixel = gif.convert("RGB").getpixel((10, 10))
            assert max(abs(a - b) for a, b in zip(pixel, COLOURS[index], strict=True)) <= 4


@pytest.mark.skipif(ffmpeg_executable() is None, reason="no ffmpeg (pip install 'jacviz[video]')")
def test_mp4_holds_every_frame_at_an_even_size(qapp, tmp_path):
    import imageio_ffmpeg

    path = save_animation(frames(6, size=(65, 47)), tmp_path / "a.mp4", fps=12)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert tuple(meta["size"]) == (66, 48)  # padded to even sizes for yuv420p
    decoded = list(reader)
    assert len(decoded) == 6
    first = decoded[0]
    r, g, b = first[0], first[1], first[2]  # top-left pixel, RGB24
    assert max(abs(a - c) for a, c in zip((r, g, b), COLOURS[0], strict=True)) <= 12


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_cancel_leaves_no_file_and_keeps_an_old_one(qapp, tmp_path, suffix):
    if suffix == ".mp4" and ffmpeg_executable() is None:
        pytest.skip("no ffmpeg")
    target = tmp_path / f"keep{suffix}"
    target.write_bytes(b"old")
    assert save_animation(frames(), target, progress=lambda done: done < 2) is None
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_bad_targets_and_inputs_are_refused(qapp, tmp_path):
    with pytest.raises(AnimationError, match=r"must end in \.gif or \.mp4"):
        check_animation_target(tmp_path / "a.avi")
    with pytest.raises(AnimationError, match="does not exist"):
        check_animation_target(tmp_path / "no" / "a.gif")
    with pytest.raises(AnimationError, match="is a folder"):
        (tmp_path / "d.gif").mkdir()
        check_animation_target(tmp_path / "d.gif")
    with pytest.raises(AnimationError, match="no frames"):
        save_animation([], tmp_path / "e.gif")
    with pytest.raises(AnimationError, match="frames per second"):
        save_animation(frames(), tmp_path / "f.gif", fps=0)
    assert not (tmp_path / "e.gif").exists() and not (tmp_path / "f.gif").exists()


def test_frames_of_another_size_are_scaled_to_the_first(qapp, tmp_path):
    mixed = list(frames(2, (40, 30)))
    mixed[1] = mixed[1].scaled(80, 60)
    with Image.open(save_animation(mixed, tmp_path / "m.gif")) as gif:
        assert gif.size == (40, 30) and gif.n_frames == 2


def test_mp4_without_ffmpeg_says_how_to_get_it(qapp, tmp_path, monkeypatch):
    import jacviz.gui.common.animation as animation

    monkeypatch.setattr(animation, "ffmpeg_executable", lambda: None)
    with pytest.raises(AnimationError, match=r"jacviz\[video\]"):
        save_animation(frames(), tmp_path / "v.mp4")


def answer_save_dialog(monkeypatch, path):
    from PyQt6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def watched_frames(log, count=6, fail_at=None):
    """Frames as a generator that notes when it is closed, like the app's frame makers."""
    try:
        for index, image in enumerate(frames(count)):
            if index == fail_at:
                raise RuntimeError("the view went away")
            log.append(index)
            yield image
    finally:
        log.append("closed")


def test_export_renders_here_and_encodes_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QWidget

    from jacviz.gui.common.animation import export_animation

    parent = QWidget()
    qtbot.addWidget(parent)
    answer_save_dialog(monkeypatch, tmp_path / "e.gif")
    log = []
    assert export_animation(parent, watched_frames(log), 6, "e.gif", 10) == tmp_path / "e.gif"
    assert log == [0, 1, 2, 3, 4, 5, "closed"]
    with Image.open(tmp_path / "e.gif") as gif:
        assert gif.n_frames == 6


def test_a_cancelled_export_writes_nothing_and_ends_its_frames(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QProgressDialog, QWidget

    from jacviz.gui.common.animation import export_animation

    parent = QWidget()
    qtbot.addWidget(parent)
    answer_save_dialog(monkeypatch, tmp_path / "c.gif")
    looks = []  # cancelled after the first frames were handed to the encoder
    monkeypatch.setattr(
        QProgressDialog, "wasCanceled", lambda self: looks.append(1) or len(looks) > 2
    )
    log = []
    assert export_animation(parent, watched_frames(log, count=40), 40, "c.gif") is None
    assert list(tmp_path.iterdir()) == []
    assert 0 in log and 39 not in log
    assert log[-1] == "closed"  # its clean-up ran now, not whenever it is collected


def test_a_frame_that_fails_stops_the_export_and_is_raised(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QWidget

    from jacviz.gui.common.animation import export_animation

    parent = QWidget()
    qtbot.addWidget(parent)
    answer_save_dialog(monkeypatch, tmp_path / "f.gif")
    log = []
    with pytest.raises(RuntimeError, match="the view went away"):
        export_animation(parent, watched_frames(log, fail_at=3), 6, "f.gif")
    assert list(tmp_path.iterdir()) == []


def test_an_encoding_error_is_shown_and_nothing_is_written(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QMessageBox, QWidget

    from jacviz.gui.common.animation import MAX_FRAMES, export_animation

    parent = QWidget()
    qtbot.addWidget(parent)
    answer_save_dialog(monkeypatch, tmp_path / "long.gif")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    too_many = frames(MAX_FRAMES + 1, size=(8, 8))
    assert export_animation(parent, too_many, MAX_FRAMES + 1, "long.gif") is None
    assert shown and "at most" in shown[0]
    assert list(tmp_path.iterdir()) == []
