"""``jacviz animate``: the morph and a training run saved as GIF or MP4, exactly N frames."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from jacviz.cli import main


def animate(capsys, *argv):
    status = main(["animate", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def headless_env(tmp_path) -> dict:
    """A fresh process's environment with no display and settings kept under tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    }
    return env | {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path / "home")}


def gif_frames(path) -> tuple[int, tuple[int, int]]:
    with Image.open(path) as image:
        return image.n_frames, image.size


def test_the_morph_has_exactly_the_frames_and_size_asked(qapp, capsys, tmp_path):
    out = tmp_path / "morph.gif"
    status, stdout, err = animate(
        capsys, "--map", "x**2 + y, x*y", "--frames", 9, "--size", "400x300", "--out", out
    )
    assert status == 0, err
    assert stdout.strip() == f"saved {out} (9 frames of 400×300 px at 24 fps)"
    assert gif_frames(out) == (9, (400, 300))
    with Image.open(out) as image:  # identity first, the map last: the pictures differ
        image.seek(0)
        first = image.convert("RGB").tobytes()
        image.seek(8)
        last = image.convert("RGB").tobytes()
    assert first != last


def test_frames_of_a_map_that_does_not_move_are_all_kept(qapp, capsys, tmp_path):
    # The identity looks the same at every t: Pillow would merge identical frames into one,
    # so each frame's caption says which frame it is.
    out = tmp_path / "identity.gif"
    status, _, err = animate(
        capsys, "--map", "x, y", "--frames", 5, "--size", "320x240", "--out", out
    )
    assert status == 0, err
    assert gif_frames(out) == (5, (320, 240))


def test_the_morph_of_a_network_as_mp4(qapp, capsys, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    from jacviz.nets.networks import EXAMPLES_DIR

    out = tmp_path / "morph.mp4"
    network = EXAMPLES_DIR / "moons_jr.safetensors"
    status, stdout, err = animate(
        capsys, "--network", network, "--frames", 10, "--fps", 10, "--size", "480x360",
        "--out", out,
    )  # fmt: skip
    assert status == 0, err
    assert "(10 frames of 480×360 px at 10 fps)" in stdout
    frames, _seconds = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == 10


def test_a_training_run_has_exactly_the_frames_asked(qapp, capsys, tmp_path):
    out = tmp_path / "run.gif"
    status, stdout, err = animate(
        capsys, "--training", "--dataset", "xor", "--jr-lambda", 0.01, "--steps", 60,
        "--seed", 3, "--frames", 7, "--size", "480x400", "--out", out,
    )  # fmt: skip
    assert status == 0, err
    assert stdout.strip() == f"saved {out} (7 frames of 480×400 px at 20 fps)"
    assert gif_frames(out) == (7, (480, 400))


def test_a_training_run_with_as_many_frames_as_steps_plus_one(qapp, capsys, tmp_path):
    out = tmp_path / "every-step.gif"
    status, _, err = animate(
        capsys, "--training", "--steps", 5, "--frames", 6, "--size", "320x240", "--out", out
    )
    assert status == 0, err
    assert gif_frames(out) == (6, (320, 240))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--map", "x, y", "--frames", "1"], "--frames must be from 2 to 1000, got 1"),
        (["--map", "x, y", "--frames", "0"], "--frames must be from 2 to 1000, got 0"),
        (["--map", "x, y", "--frames", "5000"], "--frames must be from 2 to 1000, got 5000"),
        (["--map", "x, y", "--frames", "x"], "argument --frames"),
        (["--map", "x, y", "--fps", "0"], "--fps must be from 1 to 60, got 0"),
        (["--map", "x, y", "--fps", "nan"], "'nan' is not a plain decimal number"),
        (["--map", "x, y", "--size", "200x200"], "width must be a whole number 320 to 10000"),
        (["--map", "x, y", "--size", "10000x10000"], "choose fewer --frames or a smaller"),
        (["--map", "x, y", "--probe", "1"], "--probe expects X,Y"),
        (["--map", "sin(x)"], "maps 2 inputs to 1 output"),
        (["--map", "x, y", "--jr-lambda", "0.1"], "--jr-lambda sets a training run: add"),
        (["--map", "x, y", "--display", "frobenius"], "--display sets a training run"),
        (["--map", "x, y", "--training"], "not allowed with argument --map"),
        (["--training", "--probe", "1,2"], "--probe sets the morph"),
        (["--training", "--jr-lambda", "-1"], "λ must be a number from 0 to 1e+06, got -1"),
        (["--training", "--dataset", "nope"], "invalid choice: 'nope'"),
        (["--training", "--hidden", "0"], "hidden"),
        (["--training", "--steps", "10", "--frames", "12"], "has at most 11 frames, got 12"),
        (["--training", "--size", "320x100"], "height 240 to 10000"),
        (["--network", "nowhere.safetensors"], "does not exist"),
        ([], "one of the arguments --map --network --session --training is required"),
    ],
)
def test_bad_arguments_end_with_one_line_status_2_and_no_file(
    qapp, capsys, tmp_path, argv, message
):
    status, stdout, err = animate(capsys, *argv, "--out", tmp_path / "movie.gif")
    assert status == 2
    assert stdout == ""
    assert len(err.splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("movie.png", "must end in .gif or .mp4"),
        ("missing/movie.gif", "does not exist"),
    ],
)
def test_bad_output_paths_are_refused_before_any_work(qapp, capsys, tmp_path, name, message):
    status, _, err = animate(capsys, "--map", "x, y", "--out", tmp_path / name)
    assert status == 2 and message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_failed_animation_leaves_an_existing_file_alone(qapp, capsys, tmp_path):
    out = tmp_path / "movie.gif"
    out.write_bytes(b"the previous movie")
    status, _, err = animate(capsys, "--map", "x, y", "--view", "warp", "--out", out)
    assert status == 2 and len(err.splitlines()) == 1
    status, _, err = animate(capsys, "--map", "1/0, y", "--out", out)
    assert status == 2 and len(err.splitlines()) == 1
    assert out.read_bytes() == b"the previous movie"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.gif"]


def test_the_command_in_a_fresh_process_prints_nothing_on_stderr(tmp_path):
    out = tmp_path / "morph.gif"
    command = ["animate", "--map", "x**2 - y**2, 2*x*y", "--frames", "4", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "jacviz", *command],
        capture_output=True,
        text=True,
        timeout=180,
        env=headless_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert gif_frames(out) == (4, (720, 720))
    assert not (tmp_path / "config").exists() and not (tmp_path / "home").exists()


def test_a_state_dict_is_refused_with_a_way_that_works(qapp, capsys, tmp_path):
    """animate's --activation belongs to its training options: a state dict is sent elsewhere."""
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    out = tmp_path / "m.gif"
    status, _, err = animate(capsys, "--network", path, "--frames", 4, "--out", out)
    assert status == 2
    assert err.count("\n") == 1 and "state dict" in err and "--session" in err
    assert not out.exists()
