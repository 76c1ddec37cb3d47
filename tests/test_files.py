"""Writing files never harms what stood there: only ordinary files are ever replaced.

Every file jacviz writes (sessions, models, CSVs, figures, animations, renders) goes through
``write_atomically``; these tests hand it the things a user's path can name besides an
ordinary file: a symlink (written through, the link kept), a device, a FIFO, a socket, a
folder and a symlink loop (all refused, untouched).
"""

from __future__ import annotations

import os
import socket
import stat

import pytest

from jacviz.support.files import UnsafeTargetError, target_problem, write_atomically

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and devices: POSIX")


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_a_new_file_and_replaces_an_ordinary_one(tmp_path):
    target = tmp_path / "model.safetensors"
    write_atomically(target, b"first")
    assert target.read_bytes() == b"first"
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert _leftovers(tmp_path) == []


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "private.jacviz"
    target.write_bytes(b"old")
    target.chmod(0o600)
    write_atomically(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"new"


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    elsewhere = tmp_path / "store"
    elsewhere.mkdir()
    real = elsewhere / "model.safetensors"
    real.write_bytes(b"old")
    link = tmp_path / "model.safetensors"
    link.symlink_to(os.path.relpath(real, tmp_path))
    assert target_problem(link) is None
    write_atomically(link, b"new")
    assert link.is_symlink(), "the link was replaced by a file"
    assert real.read_bytes() == b"new"
    assert _leftovers(tmp_path) == [] and _leftovers(elsewhere) == []


def test_a_chain_of_symlinks_and_a_dangling_one(tmp_path):
    real = tmp_path / "real.csv"
    (tmp_path / "b").symlink_to("real.csv")
    (tmp_path / "a").symlink_to("b")
    write_atomically(tmp_path / "a", b"created")  # dangling: creates what the link names
    assert real.read_bytes() == b"created"
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def test_writing_through_a_link_needs_only_the_real_folder_writable(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write into read-only folders")
    links = tmp_path / "links"
    store = tmp_path / "store"
    links.mkdir()
    store.mkdir()
    (links / "model").symlink_to(store / "model")
    links.chmod(0o555)
    try:
        write_atomically(links / "model", b"data")
    finally:
        links.chmod(0o755)
    assert (store / "model").read_bytes() == b"data"


def _make_fifo(path):
    os.mkfifo(path)


def _make_socket(path):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return server


def _make_device(path):
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a twin of /dev/null
    except PermissionError:
        pytest.skip("making device files needs root")


def _make_folder(path):
    path.mkdir()


def _make_loop(path):
    path.symlink_to(path.name)


REFUSED = {
    "fifo": (_make_fifo, stat.S_ISFIFO, "FIFO"),
    "socket": (_make_socket, stat.S_ISSOCK, "socket"),
    "device": (_make_device, stat.S_ISCHR, "device"),
    "folder": (_make_folder, stat.S_ISDIR, "folder"),
    "loop": (_make_loop, stat.S_ISLNK, "loop"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", REFUSED)
@pytest.mark.parametrize("through_link", [False, True], ids=["direct", "via-symlink"])
def test_what_is_no_ordinary_file_is_refused_and_left_alone(tmp_path, kind, through_link):
    make, is_kind, word = REFUSED[kind]
    thing = tmp_path / "thing"
    keep = make(thing)
    target = thing
    if through_link:
        target = tmp_path / "link"
        target.symlink_to(thing)
    try:
        problem = target_problem(target)
        assert problem is not None and word in problem and "\n" not in problem
        with pytest.raises(UnsafeTargetError) as raised:
            write_atomically(target, b"payload")
        assert word in raised.value.strerror
        assert is_kind(os.lstat(thing).st_mode), f"the {kind} was replaced"
        assert not through_link or target.is_symlink()
        assert _leftovers(tmp_path) == []
    finally:
        if keep is not None:
            keep.close()


def test_the_check_before_the_rename_catches_what_appeared_meanwhile(tmp_path, monkeypatch):
    """A FIFO made at the target while the payload is written is not replaced either."""
    import jacviz.support.files as files

    target = tmp_path / "out.png"
    original = files._write_temporary

    def write_then_race(real, payload):
        temporary = original(real, payload)
        os.mkfifo(real)
        return temporary

    monkeypatch.setattr(files, "_write_temporary", write_then_race)
    with pytest.raises(UnsafeTargetError):
        write_atomically(target, b"png")
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert _leftovers(tmp_path) == []


def test_a_new_file_is_never_put_over_one_that_appeared_meanwhile_without_a_check(
    tmp_path, monkeypatch
):
    """An ordinary file that appears between the looks is replaced, like any ordinary file."""
    import jacviz.support.files as files

    target = tmp_path / "out.csv"
    original = files._write_temporary

    def write_then_race(real, payload):
        temporary = original(real, payload)
        real.write_bytes(b"someone else's")
        return temporary

    monkeypatch.setattr(files, "_write_temporary", write_then_race)
    write_atomically(target, b"ours")
    assert target.read_bytes() == b"ours"


def test_missing_folder_is_named_as_the_user_wrote_it(tmp_path):
    problem = target_problem(tmp_path / "nowhere" / "out.png")
    assert problem == f"folder {tmp_path / 'nowhere'} does not exist"


# ---- every writer of jacviz goes through the same guard -----------------------------------


def _save_session(path):
    from jacviz.state.session import Session, save_session
    from jacviz.state.view import ViewState

    save_session(Session(ViewState()), path)


def _save_model(path):
    from jacviz.nets.networks import make_mlp, save_mlp

    save_mlp(make_mlp([2, 4, 2]), path)


def _save_csv(path):
    from jacviz.nets.datasets import make_dataset

    make_dataset("moons", n_points=20).to_csv(path)


def _export_figure(path):
    from PyQt6.QtWidgets import QLabel

    from jacviz.gui.common.export import export_figure

    label = QLabel("figure")
    label.resize(120, 80)
    label.show()
    try:
        export_figure(label, path)
    finally:
        label.close()


def _save_gif(path):
    from PyQt6.QtGui import QColor, QImage

    from jacviz.gui.common.animation import save_animation

    frames = []
    for shade in (0, 255):
        image = QImage(16, 16, QImage.Format.Format_RGB32)
        image.fill(QColor(shade, shade, shade))
        frames.append(image)
    save_animation(frames, path, fps=10)


def _train_cli(path):
    from jacviz.cli import main

    if main(["train", "--points", "40", "--steps", "3", "--out", str(path)]) != 0:
        raise OSError("jacviz train refused")


def _render_cli(path):
    from jacviz.cli import main

    if main(["render", "--map", "x, y", "--view", "warp", "--size", "600x600", "--out", str(path)]):
        raise OSError("jacviz render refused")


WRITERS = {
    "session": (_save_session, "s.jacviz"),
    "model": (_save_model, "m.safetensors"),
    "csv": (_save_csv, "d.csv"),
    "figure": (_export_figure, "f.png"),
    "animation": (_save_gif, "a.gif"),
    "train --out": (_train_cli, "t.safetensors"),
    "render --out": (_render_cli, "r.png"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_refuses_a_fifo_and_writes_through_a_symlink(qapp, tmp_path, writer):
    write, name = WRITERS[writer]
    fifo = tmp_path / f"fifo-{name}"
    os.mkfifo(fifo)
    with pytest.raises(Exception) as raised:  # each writer's own error type, one line
        write(fifo)
    assert "\n" not in str(raised.value)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), f"{writer} replaced a FIFO"

    store = tmp_path / "store"
    store.mkdir()
    (store / name).write_bytes(b"old")
    link = tmp_path / name
    link.symlink_to(store / name)
    write(link)
    assert link.is_symlink(), f"{writer} replaced the symlink with a file"
    assert (store / name).read_bytes() != b"old"
    leftovers = [p for p in tmp_path.rglob(".*") if p.is_file()]
    assert leftovers == []


def test_a_name_with_a_nul_character_is_one_line_everywhere(tmp_path):
    from jacviz.support.files import read_regular_file

    bad = tmp_path / "a\0b.png"
    assert "NUL" in target_problem(bad)
    with pytest.raises(UnsafeTargetError, match="NUL"):
        write_atomically(bad, b"x")
    with pytest.raises(ValueError, match="NUL") as raised:
        read_regular_file(bad, "a?b.png", 100, "network file", ValueError)
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []
