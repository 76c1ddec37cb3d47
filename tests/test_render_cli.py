"""``jacviz render``: views of the app drawn to files with no display, end to end."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from PyQt6.QtGui import QColor, QImage

from jacviz.cli import main
from jacviz.gui.common import style
from jacviz.math.grid import Domain
from jacviz.nets.networks import EXAMPLES_DIR
from jacviz.state.session import Session, save_session
from jacviz.state.view import ViewState

SVG = "{http://www.w3.org/2000/svg}"
MOONS = EXAMPLES_DIR / "moons_jr.safetensors"


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(image.constBits().asarray(image.sizeInBytes()), dtype=np.uint8)
    return data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()].copy()


def near(rgba: np.ndarray, colour: str, tolerance: int = 30) -> int:
    """How many pixels are within ``tolerance`` of ``colour`` in every channel."""
    target = np.array(QColor(colour).getRgb()[:3])
    return int(np.sum(np.all(np.abs(rgba[..., :3].astype(int) - target) <= tolerance, axis=-1)))


def render(capsys, *argv):
    status = main(["render", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def svg_texts(path: Path) -> str:
    root = ElementTree.parse(path).getroot()
    return " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def headless_env(tmp_path: Path) -> dict:
    """The environment of a fresh process with no display and settings kept under tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    }
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["HOME"] = str(tmp_path / "home")
    return env


def test_a_fresh_process_renders_the_whole_window_without_a_display(tmp_path):
    out = tmp_path / "window.png"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "jacviz", "render", "--map", "x**2 + y, x*y", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=headless_env(tmp_path),
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == f"saved {out} (1500×820 px)"
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1500, 820)
    rgba = pixels(image)
    assert len(np.unique(rgba.reshape(-1, 4), axis=0)) > 500
    assert seconds < 60
    # The user's settings were neither read nor written: only throwaway ones were used.
    assert not (tmp_path / "config").exists() and not (tmp_path / "home").exists()


def test_a_failure_is_one_line_on_stderr_with_status_2_and_no_file(tmp_path):
    out = tmp_path / "regions.png"
    command = ["render", "--map", "x, y", "--view", "regions", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "jacviz", *command],
        capture_output=True,
        text=True,
        timeout=120,
        env=headless_env(tmp_path),
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jacviz: error: --view regions")
    assert "no classifier" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_application_a_render_makes_lives_as_long_as_the_process(tmp_path):
    # A QApplication whose last reference went was deleted, and every in-process render made
    # a new one: after a few, pyqtgraph segfaulted building a plot's menus.
    script = (
        "import gc\n"
        "from PyQt6.QtWidgets import QApplication\n"
        "from jacviz.gui.shell.headless import application\n"
        "first = id(application())\n"
        "gc.collect()\n"
        "assert QApplication.instance() is not None, 'the application was deleted'\n"
        "assert id(application()) == first\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=headless_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr


VIEW_SOURCES = {
    "composite": ["--map", "x**2 + y, x*y"],
    "warp": ["--map", "x**2 - y**2, 2*x*y"],
    "input": ["--map", "x**2 + y, x*y"],
    "regions": ["--network", MOONS],
    "layers": ["--network", MOONS],
}


@pytest.mark.parametrize("view", list(VIEW_SOURCES))
def test_every_view_renders_at_exactly_the_size_asked_from_320x240_up(qapp, capsys, tmp_path, view):
    # The composite was refused at 800x600 ("it came out 1209×600") and the warp and layers
    # views below about 490 px wide: now the layout and the legend reflow instead.
    for width, height in ((320, 240), (800, 600), (1366, 768), (1920, 1080)):
        out = tmp_path / f"{view}-{width}x{height}.png"
        size = f"{width}x{height}"
        status, stdout, err = render(
            capsys, *VIEW_SOURCES[view], "--view", view, "--size", size, "--out", out
        )
        assert status == 0, f"{view} at {size}: {err}"
        assert f"({width}×{height} px)" in stdout
        image = QImage(str(out))
        assert (image.width(), image.height()) == (width, height)
        rgba = pixels(image)
        # Not blank: the plot is drawn (many colours, a good share of pixels not white).
        colours = len(np.unique(rgba.reshape(-1, 4), axis=0))
        drawn = np.mean(np.any(rgba[..., :3] < 235, axis=-1))
        assert colours > 100 and drawn > 0.02, f"{view} at {size}: {colours} colours, {drawn:.2f}"


def test_a_legend_too_tall_under_a_low_figure_moves_beside_the_plot(qapp, capsys, tmp_path):
    from PyQt6.QtWidgets import QWidget

    from jacviz.gui.common.export import Figure, figure_size
    from jacviz.gui.mapview.planes import legend_html
    from jacviz.gui.shell.render_layout import place_legend

    body = QWidget()
    body.resize(288, 260)
    body.show()
    figure = Figure(body, below=legend_html())
    moved = place_legend(figure, (480, 260))
    assert moved.below == "" and moved.beside == legend_html() and moved.beside_width == 192
    assert figure_size(moved) == (480, 260)  # the plot, and the legend's column beside it
    assert place_legend(figure, (1366, 768)) == figure  # room enough below
    assert place_legend(figure, (320, 240)) == figure  # no room beside either: it wraps below
    body.close()
    out = tmp_path / "warp.png"
    status, _, err = render(
        capsys, "--map", "x**2 + y, x*y", "--view", "warp", "--size", "480x260", "--out", out
    )
    assert status == 0, err
    image = QImage(str(out))
    assert (image.width(), image.height()) == (480, 260)


def test_warp_view_as_svg_at_the_requested_size(qapp, capsys, tmp_path):
    out = tmp_path / "warp.svg"
    status, stdout, err = render(
        capsys, "--map", "x**2 - y**2, 2*x*y", "--view", "warp", "--size", "600x500", "--out", out
    )
    assert status == 0, err
    assert "(600×500 px)" in stdout
    root = ElementTree.parse(out).getroot()
    assert root.get("viewBox") == "0 0 600 500"
    curves = list(root.iter(f"{SVG}path"))
    assert len(curves) >= 8  # grid (x and y lines), square, circle, ellipse, axes…
    points = sum(len(re.findall(r"[ML]", c.get("d", ""))) for c in curves)
    assert points > 1000  # the warped grid is drawn finely, as curves
    texts = svg_texts(out)
    assert "Output plane" in texts and "image of the square" in texts  # plot and legend


def test_regions_of_a_network_classifier_show_the_class_colours(qapp, capsys, tmp_path):
    out = tmp_path / "regions.png"
    status, _, err = render(capsys, "--network", MOONS, "--view", "regions", "--out", out)
    assert status == 0, err
    image = QImage(str(out))
    assert (image.width(), image.height()) == (720, 720)
    rgba = pixels(image)
    # Both moons: large areas in the first two class colours.
    assert near(rgba, style.CLASS_COLOURS[0]) > 20_000
    assert near(rgba, style.CLASS_COLOURS[1]) > 20_000


def test_layers_view_of_a_network_as_pdf(qapp, capsys, tmp_path):
    out = tmp_path / "layers.pdf"
    status, _, err = render(
        capsys, "--network", MOONS, "--view", "layers", "--size", "500x500", "--out", out
    )
    assert status == 0, err
    assert out.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftoppm (poppler-utils) is missing: .ci/run installs it")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "96", "-singlefile", str(out), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    page = QImage(str(tmp_path / "page.png"))
    assert abs(page.width() - 500) <= 2 and abs(page.height() - 500) <= 2
    rgba = pixels(page)
    # The grid's two families of lines, each in its own opaque tone.
    for tone in (style.GRID_X_CONST, style.GRID_Y_CONST):
        assert near(rgba, tone, tolerance=10) > 1000, tone


def test_layer_picks_which_layer_the_layers_view_shows(qapp, capsys, tmp_path):
    texts = {}
    for layer in (1, 3):
        out = tmp_path / f"layer{layer}.svg"
        status, _, err = render(
            capsys, "--network", MOONS, "--view", "layers", "--layer", layer, "--out", out
        )
        assert status == 0, err
        texts[layer] = svg_texts(out)
    assert "After layer 1, Linear 2→32" in texts[1]
    assert "After layer 3, Linear 32→32" in texts[3]


def test_a_session_renders_with_its_own_state_and_embedded_network(qapp, capsys, tmp_path):
    moved = tmp_path / "gone" / "moons.safetensors"  # the network file is no longer there
    view = ViewState(network=str(moved), heatmap="classes", domain=Domain(-6, 6, -4, 4))
    session = tmp_path / "moons.jacviz"
    save_session(Session(view=view, network_data=MOONS.read_bytes()), session)
    out = tmp_path / "session.svg"
    status, _, err = render(capsys, "--session", session, "--view", "input", "--out", out)
    assert status == 0, err
    texts = svg_texts(out).split()
    assert "-4" in texts and "4" in texts  # the session's domain, not the file's
    formula = tmp_path / "formula.jacviz"
    save_session(Session(view=ViewState(formula="sin(x) + y, x - y**3", heatmap="logdet")), formula)
    status, _, err = render(capsys, "--session", formula, "--view", "input", "--out", out)
    assert status == 0, err
    assert "log |det J|" in svg_texts(out)


def test_heatmap_domain_probe_scale_and_transparency(qapp, capsys, tmp_path):
    out = tmp_path / "input.png"
    status, stdout, err = render(
        capsys,
        "--map",
        "x**2 + y, x*y",
        "--view",
        "input",
        "--heatmap",
        "smax",
        "--domain",
        "-3,3,-1,1",
        "--probe",
        "-2,0.5",
        "--size",
        "400x300",
        "--scale",
        "2",
        "--transparent",
        "--out",
        out,
    )
    assert status == 0, err
    assert "(400×300 px at scale 2)" in stdout
    image = QImage(str(out))
    assert (image.width(), image.height()) == (800, 600)
    assert image.pixelColor(2, 2).alpha() < 255  # transparent background
    svg = tmp_path / "none.svg"
    status, _, err = render(
        capsys, "--map", "x, y", "--view", "input", "--heatmap", "none", "--out", svg
    )
    assert status == 0, err
    root = ElementTree.parse(svg).getroot()
    assert not any(i.get("width") == "256" for i in root.iter(f"{SVG}image"))  # no heatmap


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--map", "x, y", "--view", "layers"], "--view layers shows a network's layers"),
        (["--map", "x, y", "--heatmap", "classes"], "--heatmap classes: decision regions need"),
        (["--network", MOONS, "--view", "regions", "--heatmap", "det"], "leave out --heatmap"),
        (["--map", "x, y", "--view", "side"], "invalid choice: 'side'"),
        (["--map", "sin(x)"], "maps 2 inputs to 1 output"),
        (["--map", "x, y", "--size", "big"], "--size expects WIDTHxHEIGHT"),
        (["--map", "x, y", "--size", "20x20"], "width must be a whole number 320 to 10000"),
        (["--map", "x, y", "--view", "warp", "--size", "150x150"], "and height 240 to 10000"),
        (
            ["--map", "x, y", "--size", "319x240"],
            "320 to 10000 and height 240 to 10000, got 319×240",
        ),
        (["--map", "x, y", "--size", "320x239"], "got 320×239"),
        (["--map", "x, y", "--domain", "1,0,0,1"], "--domain: domain needs xmin < xmax"),
        (["--map", "x, y", "--probe", "1"], "--probe expects X,Y"),
        (["--map", "x, y", "--scale", "50"], "--scale must be from 0.1 to 8, got 50"),
        (["--network", "nowhere.safetensors"], "does not exist"),
        (["--network", MOONS, "--view", "layers", "--layer", "9"], "has layers 1 to 5"),
        (["--network", MOONS, "--view", "warp", "--layer", "2"], "--layer picks the layer"),
        (["--map", "x, y"], "--out"),
    ],
)
def test_bad_requests_end_with_one_line_and_status_2(qapp, capsys, tmp_path, argv, message):
    out = tmp_path / "figure.png"
    extra = [] if argv == ["--map", "x, y"] else ["--out", out]
    status, stdout, err = render(capsys, *argv, *extra)
    assert status == 2
    assert stdout == ""
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--domain", "-1e308,1e308,-1e308,1e308"],
            "--domain: domain bounds must be at most 1e+09",
        ),
        (["--domain", "0,1e6,0,1"], "--domain: domain aspect ratio too extreme"),
        (["--domain", "0,1e-12,0,1e-12"], "--domain: domain too narrow"),
        (["--domain", "1_0,20,0,1"], "--domain expects comma-separated numbers"),
        (["--domain", "nan,1,0,1"], "'nan' is not a plain decimal number"),
        (["--scale", "1e-9"], "--scale must be from 0.1 to 8, got 1e-09"),
        (["--scale", "inf"], "argument --scale: 'inf' is not a plain decimal number"),
        (["--scale", "8", "--size", "10000x10000"], "6400 million pixels, more than 100 million"),
        (["--size", "１００x100"], "--size expects WIDTHxHEIGHT"),
        (["--size", "100x100x100"], "--size expects WIDTHxHEIGHT"),
        (["--size", "99999999999999999999x100"], "width must be a whole number 320 to 10000"),
        (["--view", "layers", "--layer", "0"], "--layer counts layers from 1"),
        (["--view", "layers", "--layer", "-5"], "--layer counts layers from 1"),
        (["--layer", "2"], "--layer picks the layer of --view layers"),
        (["--probe", "1e308,0"], "--probe coordinates must be finite numbers at most 1e+09"),
        (["--probe", "0,-inf"], "'-inf' is not a plain decimal number"),
    ],
)
def test_absurd_options_are_refused_before_any_window_is_built(
    qapp, capsys, monkeypatch, tmp_path, argv, message
):
    import jacviz.gui.shell.headless

    def no_window(*_args):
        raise AssertionError("a window was built")

    monkeypatch.setattr(jacviz.gui.shell.headless, "MainWindow", no_window)
    status, stdout, err = render(capsys, "--map", "x, y", *argv, "--out", tmp_path / "f.png")
    assert status == 2 and stdout == ""
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_a_map_too_large_to_draw_ends_in_one_line_at_most(qapp, capsys, tmp_path):
    # Values near float64's limit made pyqtgraph raise inside Qt's event handling: the render
    # printed tracebacks and still said "saved". Now it either draws or fails in one line.
    out = tmp_path / "warp.png"
    formula = "exp(709.7*x/2) - exp(-709.7*x/2), y"
    status, _, err = render(capsys, "--map", formula, "--view", "warp", "--out", out)
    assert "Traceback" not in err and len(err.splitlines()) <= (1 if status else 0)
    assert status in (0, 2)
    assert out.exists() == (status == 0)


def test_a_file_name_that_is_not_utf8_prints_under_a_strict_stdout(tmp_path):
    out = os.fsdecode(bytes(tmp_path) + b"/\xff.png")
    env = headless_env(tmp_path) | {"PYTHONIOENCODING": "utf-8:strict"}
    command = ["render", "--map", "x, y", "--view", "input", "--heatmap", "none", "--out", out]
    result = subprocess.run(
        [sys.executable, "-m", "jacviz", *command],
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.startswith(b"saved ") and b"\\udcff.png (720" in result.stdout
    assert os.path.exists(out)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("figure.bmp", "must end in .png, .svg, .pdf"),
        ("missing/figure.png", "does not exist"),
    ],
)
def test_bad_output_paths_are_refused_before_drawing(qapp, capsys, tmp_path, name, message):
    status, _, err = render(capsys, "--map", "x, y", "--out", tmp_path / name)
    assert status == 2 and message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_bad_session_is_refused(qapp, capsys, tmp_path):
    session = tmp_path / "bad.jacviz"
    session.write_text('{"format": "something else"}')
    status, _, err = render(capsys, "--session", session, "--out", tmp_path / "x.png")
    assert status == 2 and re.search(r"not a jacviz session", err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jacviz"]


# ---- --view plane: the lab's plane through three inputs of a dataset ----------------------

PLANE_TINY = ["--hidden", "8", "--steps", "40"]


def tiny_npz(tmp_path, image=False):
    """Three classes of 16 inputs, 60 points, a fifth held out; saved as numpy would."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.uniform(0, 4, size=(60, 16)) + 8 * np.eye(3, 16)[y]
    path = tmp_path / "tiny.npz"
    np.savez(path, X=x.reshape(60, 4, 4) if image else x, y=y, split=np.arange(60) % 5 == 0)
    return path


def test_the_plane_of_digits_renders_at_the_size_asked_with_both_models(qapp, capsys, tmp_path):
    out = tmp_path / "plane.png"
    status, stdout, err = render(
        capsys, "--dataset", "digits", "--anchors", "0,10,20", *PLANE_TINY,
        "--size", "1200x700", "--out", out,
    )  # fmt: skip
    assert status == 0, err
    assert stdout.strip() == f"saved {out} (1200×700 px)"
    rgba = pixels(QImage(str(out)))
    assert rgba.shape[:2] == (700, 1200)
    # Decision regions in colour on both halves (λ = 0 left, λ > 0 right): tinted pixels
    # (a grey or blank plot has none), of more than one hue.
    for half in (rgba[60:650, 50:400], rgba[60:650, 460:810]):
        rgb = half[..., :3].astype(int)
        tinted = rgb[(rgb.max(axis=-1) - rgb.min(axis=-1)) > 12]
        assert len(tinted) > 0.5 * len(rgb.reshape(-1, 3))
        dominant = np.argmax(tinted, axis=-1)  # red, green or blue strongest
        assert len(np.unique(dominant)) >= 2
    # The probe's panel on the right: the digit's greys.
    panel = rgba[:, 900:]
    assert len(np.unique(panel[..., :3].reshape(-1, 3), axis=0)) > 50


@pytest.mark.parametrize(("size", "heatmap"), [((320, 240), "frob"), ((800, 600), "margin")])
def test_the_plane_reflows_down_to_320x240_and_colours_heatmaps(
    qapp, capsys, tmp_path, size, heatmap
):
    out = tmp_path / "plane.png"
    status, _, err = render(
        capsys, "--npz", tiny_npz(tmp_path), "--heatmap", heatmap, *PLANE_TINY,
        "--size", f"{size[0]}x{size[1]}", "--probe", "1,1", "--out", out,
    )  # fmt: skip
    assert status == 0, err
    image = QImage(str(out))
    assert (image.width(), image.height()) == size
    rgba = pixels(image)
    assert np.mean(np.any(rgba[..., :3] < 235, axis=-1)) > 0.1  # drawn, not blank


def test_the_render_help_gives_the_planes_own_defaults(capsys):
    from jacviz.nets.plane_training import PLANE_CONFIG

    with pytest.raises(SystemExit):
        main(["render", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {PLANE_CONFIG.jr_lambda:g}; random projections)" in text
    assert PLANE_CONFIG.estimator == "random" and PLANE_CONFIG.activation == "tanh"
    assert f"Adam at {PLANE_CONFIG.learning_rate:g}" in text and PLANE_CONFIG.optimizer == "adam"
    assert f"(default: {','.join(map(str, PLANE_CONFIG.hidden))})" in text
    assert f"training steps (default: {PLANE_CONFIG.steps})" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--map", "x, y", "--view", "plane"], "--view plane draws the plane through three"),
        (["--dataset", "digits", "--view", "warp"], "--view plane draws the plane through"),
        (["--map", "x, y", "--anchors", "0,1,2"], "--anchors and the training options are for"),
        (["--map", "x, y", "--steps", "10"], "--anchors and the training options are for"),
        (["--map", "x, y", "--heatmap", "margin"], "--heatmap margin colours --view plane"),
        (["--dataset", "digits", "--heatmap", "det"], "colours by classes, frob or margin"),
        (["--dataset", "digits", "--heatmap", "none"], "frob or margin, not none"),
        (["--dataset", "digits", "--anchors", "0,1"], "--anchors expects three indices"),
        (["--dataset", "digits", "--anchors", "0,x,1"], "--anchors expects comma-separated"),
        (["--dataset", "digits", "--anchors", "0,-1,2"], "whole numbers from 0"),
        (["--dataset", "digits", "--jr-lambda", "0"], "--jr-lambda must be above 0"),
        (["--dataset", "digits", "--hidden", "0"], "hidden widths must be whole numbers"),
        (["--dataset", "digits", "--domain", "0,1,0,1"], "takes neither --layer nor --domain"),
        (["--dataset", "digits", "--map", "x, y"], "not allowed with argument"),
        (["--npz", "nowhere.npz"], "nowhere.npz"),
    ],
)
def test_bad_plane_requests_end_with_one_line_and_status_2(
    qapp, capsys, monkeypatch, tmp_path, argv, message
):
    import jacviz.gui.lab.plane_page

    def no_page(*_args):
        raise AssertionError("a page was built")

    monkeypatch.setattr(jacviz.gui.lab.plane_page, "PlanePage", no_page)
    out = tmp_path / "figure.png"
    status, stdout, err = render(capsys, *argv, "--out", out)
    assert status == 2 and stdout == ""
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("anchors", "message"),
    [
        ("0,0,1", "the three points must differ"),
        ("0,1,12", "point index 12 is outside 0..11"),
    ],
)
def test_anchors_the_data_refuses_end_with_one_line(qapp, capsys, tmp_path, anchors, message):
    out = tmp_path / "figure.png"
    status, stdout, err = render(
        capsys, "--npz", tiny_npz(tmp_path), "--anchors", anchors, *PLANE_TINY, "--out", out
    )
    assert status == 2 and stdout == ""
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()
