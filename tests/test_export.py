"""Figures: PNG, SVG and PDF files of the app's views, checked by what they contain."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, QPointF
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QApplication, QDialogButtonBox

from jacviz.gui.common import export, style
from jacviz.gui.common.export import ExportError, Figure
from jacviz.gui.mapview.planes import legend_html
from jacviz.nets.networks import EXAMPLES_DIR

SVG = "{http://www.w3.org/2000/svg}"


def pixels(image: QImage) -> np.ndarray:
    """(height, width, 4) RGBA array of a QImage."""
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(image.constBits().asarray(image.sizeInBytes()), dtype=np.uint8)
    return data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()].copy()


def distinct_colours(rgba: np.ndarray) -> int:
    return len(np.unique(rgba.reshape(-1, 4), axis=0))


def widget_point(plane, x, y) -> QPoint:
    """Pixel of data point (x, y) in a plot widget."""
    return plane.mapFromScene(plane.getViewBox().mapViewToScene(QPointF(x, y)))


def cosmetic_pen_widths(plane):
    """Width of every item's pen, to check that an export puts them back."""
    return [export._pen_of(item).widthF() for item in plane.scene().items() if export._pen_of(item)]


def test_png_has_the_scaled_size_and_shows_the_heatmap(window, tmp_path):
    plane = window.input_plane
    widths = cosmetic_pen_widths(plane)
    inside = widget_point(plane, -1.9, 0.1)  # between grid lines; det J = 2x² − y > 0: red
    on_screen = plane.grab().toImage().pixelColor(inside)
    for scale in (1, 2):
        path = export.export_png(plane, tmp_path / f"plane{scale}.png", scale=scale)
        image = QImage(str(path))
        assert (image.width(), image.height()) == (plane.width() * scale, plane.height() * scale)
        assert round(image.dotsPerMeterX() * 0.0254) == 96 * scale
        rgba = pixels(image)
        assert distinct_colours(rgba) > 200  # a heatmap, grid lines, text: not blank
        colour = image.pixelColor(inside * scale)
        assert colour.red() > colour.blue() + 80
        for got, expected in zip(colour.getRgb()[:3], on_screen.getRgb()[:3], strict=True):
            assert abs(got - expected) <= 12
        assert (rgba[..., 3] == 255).all()
    assert cosmetic_pen_widths(plane) == widths  # the widened pens were put back


def test_scaled_png_draws_lines_as_thick_relative_to_the_picture(window, tmp_path):
    plane = window.output_plane
    images = [
        pixels(QImage(str(export.export_png(plane, tmp_path / f"s{s}.png", scale=s))))
        for s in (1, 3)
    ]
    ink = [float(np.mean(np.any(rgba[..., :3] < 200, axis=-1))) for rgba in images]
    # Same share of the picture covered by lines and text at 1× and 3× (cosmetic pens would
    # stay 1 device pixel wide and cover about a third as much).
    assert ink[1] == pytest.approx(ink[0], rel=0.25)


def test_transparent_png_leaves_the_background_out(window, tmp_path):
    plane = window.input_plane
    corner = widget_point(plane, -1.9, 3.0)  # in the plot, above the domain: background
    heat = widget_point(plane, -1.9, 0.1)
    opaque = QImage(str(export.export_png(plane, tmp_path / "opaque.png")))
    clear = QImage(str(export.export_png(plane, tmp_path / "clear.png", transparent=True)))
    assert opaque.pixelColor(corner).alpha() == 255
    assert clear.pixelColor(corner).alpha() < 255
    assert clear.pixelColor(QPoint(2, 2)).alpha() < 255
    assert clear.pixelColor(heat).alpha() == 255  # the heatmap itself stays
    assert plane.backgroundBrush().color().alpha() == 255  # the view's own background is back


def svg_groups(root):
    """(group, its 2×3 matrix or None) for every <g> of an SVG tree."""
    for group in root.iter(f"{SVG}g"):
        match = re.fullmatch(r"matrix\(([^)]*)\)", group.get("transform", ""))
        yield group, None if match is None else [float(v) for v in match.group(1).split(",")]


def path_points(path) -> np.ndarray:
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", path.get("d", ""))]
    return np.array(numbers).reshape(-1, 2)


def test_svg_draws_the_curves_as_paths_where_the_plot_shows_them(window, tmp_path):
    plane = window.output_plane
    figure = Figure(plane, below=legend_html())
    path = export.export_svg(figure, tmp_path / "out.svg")
    root = ElementTree.parse(path).getroot()
    width, height = export.figure_size(figure)
    assert root.get("viewBox") == f"0 0 {width} {height}"
    grid = []
    for group, matrix in svg_groups(root):
        scaled = matrix is not None and matrix[:4] != [1, 0, 0, 1]
        for element in group:
            # Lines keep their on-screen width without non-scaling-stroke, which librsvg and
            # ImageMagick ignore (they would draw a 1 px line one data unit wide).
            assert not (scaled and element.get("vector-effect") == "non-scaling-stroke")
        if group.get("stroke") == style.GRID_X_CONST.lower():
            grid += [path_points(p) for p in group.iter(f"{SVG}path")]
    points = np.concatenate(grid)
    assert len(points) > 200  # the warped grid's x = const lines, finely sampled
    # Where the plot draws the grid's corner f(2, 2) = (6, 4), the SVG has a point of a line.
    corner = plane.mapFromScene(plane.getViewBox().mapViewToScene(QPointF(6.0, 4.0)))
    distance = np.hypot(points[:, 0] - corner.x(), points[:, 1] - corner.y())
    assert distance.min() < 1.0
    texts = "".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "Output plane" in texts and "tangent parallelogram" in texts


def test_svg_of_the_input_plane_embeds_the_heatmap_and_clips_to_the_plot(window, tmp_path):
    path = export.export_svg(window.input_plane, tmp_path / "in.svg")
    root = ElementTree.parse(path).getroot()
    images = list(root.iter(f"{SVG}image"))
    assert any(int(float(i.get("width"))) == 256 for i in images)  # the 256² heatmap
    clips = {c.get("id") for c in root.iter(f"{SVG}clipPath")}
    assert clips
    used = {m for e in root.iter() for m in re.findall(r"url\(#([^)]+)\)", e.get("clip-path", ""))}
    assert used and used <= clips


def test_svg_of_the_whole_window_places_each_plot_and_keeps_the_panels(window, tmp_path):
    central = window.centralWidget()
    path = export.export_svg(central, tmp_path / "window.svg")
    root = ElementTree.parse(path).getroot()
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))  # the plots' clip paths do not collide
    places = {
        g.get("transform") for g in root.iter(f"{SVG}g") if "translate" in g.get("transform", "")
    }
    for plane in (window.input_plane, window.output_plane):
        corner = plane.mapTo(central, QPoint(0, 0))
        assert f"translate({corner.x()},{corner.y()})" in places
    texts = "".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "At the probe point p" in texts and "Input plane" in texts


def render_pdf(path: Path, tmp_path: Path) -> QImage:
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftoppm (poppler-utils) is missing: .ci/run installs it")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "96", "-singlefile", str(path), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    return QImage(str(tmp_path / "page.png"))


def test_pdf_is_one_page_that_renders_the_view(window, tmp_path):
    plane = window.input_plane
    path = export.export_pdf(plane, tmp_path / "plane.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert (
        data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") + data.count(b"/Type/Page") >= 1
    )
    page = render_pdf(path, tmp_path)
    assert abs(page.width() - plane.width()) <= 2 and abs(page.height() - plane.height()) <= 2
    assert distinct_colours(pixels(page)) > 200
    colour = page.pixelColor(widget_point(plane, -1.9, 0.1))
    assert colour.red() > colour.blue() + 80  # the heatmap made it into the PDF


def test_pdf_of_the_whole_window_renders(window, tmp_path):
    path = export.export_figure(window.centralWidget(), tmp_path / "window.PDF")
    page = render_pdf(path, tmp_path)
    assert abs(page.width() - window.centralWidget().width()) <= 2
    assert distinct_colours(pixels(page)) > 200


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("figure.jpg", "must end in .png, .svg, .pdf"),
        ("missing/figure.png", "does not exist"),
        ("a_file.txt/figure.png", "does not exist"),
        ("folder.png", "it is a folder"),
    ],
)
def test_bad_targets_are_refused_and_leave_no_file(window, tmp_path, name, message):
    (tmp_path / "a_file.txt").write_text("x")
    (tmp_path / "folder.png").mkdir()
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ExportError, match=re.escape(message)):
        export.export_figure(window.input_plane, tmp_path / name)
    assert sorted(tmp_path.iterdir()) == before


def test_a_failed_write_leaves_the_old_file_and_no_temporary(window, tmp_path, monkeypatch):
    target = tmp_path / "figure.svg"
    target.write_bytes(b"old figure")

    def disk_full(_descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ExportError, match="No space left on device"):
        export.export_svg(window.output_plane, target)
    assert target.read_bytes() == b"old figure"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.svg"]


def test_views_that_cannot_be_drawn_say_why(window, tmp_path):
    with pytest.raises(ExportError, match="needs a network"):
        window.figure("layers")  # a formula has no layers
    assert not window.figure_available("layers")
    hidden = window.layer_view.plot  # on the tab that is not shown
    with pytest.raises(ExportError, match="not on screen"):
        export.export_png(hidden, tmp_path / "hidden.png")
    with pytest.raises(ExportError, match="scale"):
        export.export_png(window.input_plane, tmp_path / "big.png", scale=50)
    assert list(tmp_path.iterdir()) == []


def test_the_layers_figure_shows_the_layer_tab_with_title_and_legend(window, tmp_path, settle):
    assert window.open_network(str(EXAMPLES_DIR / "moons_jr.safetensors"))
    settle()
    figure = window.figure("layers")
    assert window.right_tabs.currentWidget() is window.layer_view
    assert "After layer 1" in figure.above
    width, height = export.figure_size(figure)
    assert width == window.layer_view.plot.width()
    assert height > window.layer_view.plot.height() + 20  # room for title and legend
    root = ElementTree.parse(export.export_svg(figure, tmp_path / "layers.svg")).getroot()
    texts = "".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "After layer 1" in texts and "where p lands" in texts
    assert window.figure("output").body is window.output_plane
    assert window.right_tabs.currentIndex() == 0


def test_export_dialog_saves_the_chosen_view_and_remembers_it(window, tmp_path, qtbot):
    file_menu = window.menuBar().actions()[0].menu()
    assert window.figures.export_action in file_menu.actions()
    assert window.figures.export_action.shortcut().toString() == "Ctrl+E"
    assert window.figures.copy_action.shortcut().toString() == "Ctrl+Shift+C"
    window.figures.export_action.trigger()
    dialog = window.figures.dialog
    qtbot.waitExposed(dialog)
    layers = dialog.view.findData("layers")
    assert not dialog.view.model().item(layers).isEnabled()  # a formula: no layers to show
    dialog.view.setCurrentIndex(dialog.view.findData("output"))
    assert Path(dialog.path.text()).name == "jacviz-output.png"
    dialog.path.setText(str(tmp_path / "figure.svg"))
    assert not dialog.scale.isEnabled() and dialog.format_label.text() == "SVG drawing"
    dialog.path.setText(str(tmp_path / "figure.gif"))
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not save.isEnabled()
    dialog.path.setText(str(tmp_path / "figure.png"))
    dialog.scale.setValue(2)
    save.click()
    image = QImage(str(tmp_path / "figure.png"))
    assert image.width() == 2 * window.output_plane.width()
    assert "Saved the output plane" in window.statusBar().currentMessage()
    again = window.figures.last_choice()
    assert (again.view, again.scale, again.path.parent) == ("output", 2, tmp_path)


def test_export_dialog_reports_a_failure_in_a_dialog(window, tmp_path, qtbot):
    dialog = window.figures.open_dialog()
    dialog.path.setText(str(tmp_path / "missing" / "figure.pdf"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert window.problem is not None and "does not exist" in window.problem.text()
    window.problem.close()
    assert not (tmp_path / "missing").exists()


def test_copy_figure_puts_the_chosen_view_on_the_clipboard(window, qtbot):
    clipboard = QApplication.clipboard()
    image = window.figures.copy("input", 2)
    assert image is not None
    copied = clipboard.image()
    assert (copied.width(), copied.height()) == (
        2 * window.input_plane.width(),
        2 * window.input_plane.height(),
    )
    window.figures.copy_action.trigger()  # the last chosen view: the first, input plane
    assert clipboard.image().width() == window.input_plane.width()
    assert "Copied the input plane" in window.statusBar().currentMessage()


def test_any_plot_widget_exports_with_scatter_symbols_as_shapes(qtbot, tmp_path):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    scatter = pg.ScatterPlotItem(x=[0, 1, 2], y=[0, 1, 0], size=14, brush=style.VERMILLION)
    plot.addItem(scatter)
    plot.resize(320, 240)
    plot.show()
    qtbot.waitExposed(plot)
    root = ElementTree.fromstring(export.svg_bytes(plot))
    # Drawn from pyqtgraph's pixmap atlas, each symbol would be an <image> fragment.
    assert list(root.iter(f"{SVG}image")) == []
    fills = [g for g in root.iter(f"{SVG}g") if g.get("fill") == style.VERMILLION.lower()]
    assert sum(len(list(g.iter(f"{SVG}path"))) for g in fills) >= 3
    assert scatter._exportOpts is False  # back to drawing from its cache on screen
    image = export.figure_image(plot, scale=2)
    assert (image.width(), image.height()) == (640, 480)


@pytest.mark.parametrize("scale", [1e-9, 0.05, 9.0, float("nan")])
def test_scales_out_of_range_are_refused_in_one_line(window, tmp_path, scale):
    with pytest.raises(export.ExportError, match=r"the scale must be from 0\.1 to 8"):
        export.export_figure(window.input_plane, tmp_path / "tiny.png", scale=scale)
    assert list(tmp_path.iterdir()) == []
