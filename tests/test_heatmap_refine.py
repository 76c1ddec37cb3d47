"""The heatmap refines coarse to fine, and follows zoom and pan at screen resolution.

A controller and an input plane are wired as the window wires them (the field's pictures to
the plane, the plane's view to the controller). Work is counted in points, never timed.
"""

import threading

import numpy as np
import pytest

from jacviz.gui.mapview.controller import Controller
from jacviz.gui.mapview.heatmaps import (
    COARSE_RESOLUTION,
    HEATMAP_RESOLUTION,
    FieldResult,
    HeatmapJobs,
    ViewRequest,
)
from jacviz.gui.mapview.planes import InputPlane
from jacviz.math.budget import DETAIL_LIMIT, detail_shape, points_within_budget
from jacviz.math.grid import Domain
from jacviz.math.maps import FormulaMap, TorchMap
from jacviz.nets.networks import make_mlp
from jacviz.state.view import ViewState

pytestmark = pytest.mark.timeout(120)


class CountingMap:
    """A formula that counts the points it is evaluated at (from any thread)."""

    def __init__(self, text: str = "x**2 + y, x*y"):
        self.inner = FormulaMap.from_text(text, isolated=False)
        self.points = 0
        self._lock = threading.Lock()

    name = property(lambda self: self.inner.name)
    input_dim = property(lambda self: 2)
    output_dim = property(lambda self: 2)

    def evaluate(self, points):
        with self._lock:
            self.points += len(points)
        return self.inner.evaluate(points)

    def evaluate_with_jacobian(self, points):
        with self._lock:
            self.points += len(points)
        return self.inner.evaluate_with_jacobian(points)


@pytest.fixture
def wired(qtbot):
    """A controller and an input plane, wired as in the window, and every picture sent."""
    controller = Controller(ViewState())
    plane = InputPlane()
    qtbot.addWidget(plane)
    plane.resize(700, 700)
    plane.show()
    qtbot.waitExposed(plane)
    sent = []

    def record(image):
        current = controller.state.domain
        sent.append((image, controller.analysed, current, plane.view_request()))

    controller.sigHeatmapChanged.connect(record)
    controller.sigHeatmapChanged.connect(plane.show_heatmap)
    controller.sigGridChanged.connect(lambda grid: plane.show_grid(grid, controller.state.domain))
    plane.sigViewChanged.connect(controller.set_view)
    controller.refresh()
    qtbot.waitUntil(lambda: not controller.heatmap_runner.busy, timeout=20000)
    yield controller, plane, sent
    controller.shutdown()


def idle(qtbot, controller):
    qtbot.waitUntil(lambda: not controller.heatmap_runner.busy, timeout=20000)


def zoom(qtbot, controller, plane, box):
    """Show ``box`` = (x0, x1, y0, y1) on the plane; wait until its detail is drawn."""
    x0, x1, y0, y1 = box
    plane.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def drawn():
        request = plane.view_request()  # the view box settles its range after a paint
        return request is not None and plane.detail.region == request.region

    qtbot.waitUntil(drawn, timeout=20000)
    idle(qtbot, controller)
    return plane.view_request()


def test_a_zoom_recomputes_the_visible_rectangle_at_screen_resolution(qtbot, wired):
    controller, plane, _sent = wired
    domain = controller.state.domain
    request = zoom(qtbot, controller, plane, (0.3, 0.7, 0.3, 0.7))
    (x0, x1), (y0, y1) = plane.getViewBox().viewRange()
    # The region is what the plane shows (inside the domain), at one point per device pixel.
    region = request.region
    assert region == Domain(
        max(x0, domain.xmin), min(x1, domain.xmax), max(y0, domain.ymin), min(y1, domain.ymax)
    )
    ratio = plane.devicePixelRatioF()
    box = plane.getViewBox()
    assert request.cols == pytest.approx(box.width() * ratio, abs=1)
    assert request.rows == pytest.approx(box.height() * ratio, abs=1)
    detail = controller._heatmaps.current_detail()
    assert isinstance(detail, FieldResult) and detail.detail
    assert detail.domain == region
    assert (detail.rows, detail.cols) == detail_shape(
        controller.analysed, request.cols, request.rows
    )
    assert detail.cols > HEATMAP_RESOLUTION * region.width / domain.width  # finer than before
    # The plane draws it over exactly that rectangle, at that resolution.
    image = plane.detail.image
    assert image.isVisible() and image.image.shape == (detail.rows, detail.cols)
    rect = image.mapRectToParent(image.boundingRect())
    assert rect.left() == pytest.approx(region.xmin) and rect.right() == pytest.approx(region.xmax)
    assert rect.top() == pytest.approx(region.ymin) and rect.bottom() == pytest.approx(region.ymax)
    # Its fold lines replace the domain's there (no coarse segment runs beside them).
    fold_x, fold_y = plane.detail.folds.getData()
    assert len(fold_x) > 100  # the fold y = 2x² crosses the view, drawn to within a pixel
    cell = max(region.width / detail.cols, region.height / detail.rows)
    np.testing.assert_array_less(np.abs(fold_y - 2 * fold_x**2), cell)
    x, y = plane.fold_lines.getData()
    assert not np.any(
        (x >= region.xmin) & (x <= region.xmax) & (y >= region.ymin) & (y <= region.ymax)
    )
    # Its values are the map's at the pixel centres: det J of (x² + y, xy) is 2x² − y.
    xs = region.xmin + (np.arange(detail.cols) + 0.5) * region.width / detail.cols
    ys = region.ymin + (np.arange(detail.rows) + 0.5) * region.height / detail.rows
    gx, gy = np.meshgrid(xs, ys)
    np.testing.assert_allclose(detail.field.det.reshape(gx.shape), 2 * gx**2 - gy, atol=1e-12)


def test_the_detail_goes_when_the_whole_domain_is_in_view_again(qtbot, wired):
    controller, plane, _sent = wired
    zoom(qtbot, controller, plane, (0.2, 0.6, -0.3, 0.1))
    domain = controller.state.domain
    plane.frame(np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax]))
    qtbot.waitUntil(lambda: plane.detail.region is None, timeout=5000)
    assert not plane.detail.image.isVisible()
    assert plane.image.isVisible() and plane.image.image.shape == (256, 256)
    assert controller._heatmaps.current_detail() is None


def test_coarse_comes_before_fine_and_the_detail_last(qtbot, wired):
    controller, plane, sent = wired
    zoom(qtbot, controller, plane, (-1.0, 0.0, -1.0, 0.0))
    square = (False, (COARSE_RESOLUTION, COARSE_RESOLUTION))
    fine = (False, (HEATMAP_RESOLUTION, HEATMAP_RESOLUTION))
    # A formula's coarse field is computed at once, a network's on the worker thread.
    mlp = TorchMap(make_mlp([2, 32, 32, 2], seed=3), "mlp", 2, 2)
    for show in (
        lambda: controller.set_formula("sin(x) + y, x - y**3"),
        lambda: controller.set_map(mlp),
    ):
        sent.clear()
        show()
        idle(qtbot, controller)
        shapes = [(image.detail, image.image.shape) for image, *_ in sent]
        assert shapes[:2] == [square, fine]
        assert len(shapes) == 3 and shapes[2][0] and shapes[2][1][1] > HEATMAP_RESOLUTION / 4


def test_stale_fields_are_never_shown(qtbot, wired):
    controller, plane, sent = wired
    jobs = controller._heatmaps
    checked = []

    def check(result):
        # Each field handed on is of the map, domain and view on screen at that moment.
        region = jobs._view.region if result.detail and jobs._view is not None else None
        expected = region if result.detail else controller.state.domain
        checked.append(result.map_ is controller.analysed and result.domain == expected)

    jobs.sigComputed.connect(check)
    mlps = [TorchMap(make_mlp([2, 64, 64, 2], seed=s), f"mlp{s}", 2, 2) for s in (0, 1)]
    boxes = [(-1.5, 0.5, -1.0, 1.0), (0.1, 0.4, 0.1, 0.4), (-0.5, -0.2, 0.3, 0.6)]
    for step, (x0, x1, y0, y1) in enumerate(boxes * 2):
        controller.set_map(mlps[step % 2])
        plane.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        qtbot.wait(step * 40)  # some jobs are superseded mid-way, some views settle
    qtbot.wait(300)  # the last view settles and asks for its detail
    idle(qtbot, controller)
    assert checked and all(checked)
    final, analysed, _domain, view = sent[-1]
    assert final.detail and view is not None and final.domain == view.region
    assert analysed is mlps[1] or analysed is controller.analysed


def test_no_work_beyond_the_cap(qtbot):
    counting = CountingMap()
    domain = Domain(-2.0, 2.0, -2.0, 2.0)
    jobs = HeatmapJobs(lambda: (counting, domain))
    fields = []
    jobs.sigComputed.connect(fields.append)
    jobs.request(counting, counting, domain, classifier=False)
    qtbot.waitUntil(lambda: not jobs.runner.busy, timeout=20000)
    assert counting.points == COARSE_RESOLUTION**2 + HEATMAP_RESOLUTION**2
    # A view of 5000 × 3000 device pixels: capped at DETAIL_LIMIT on its longer side.
    counting.points = 0
    jobs.set_view(ViewRequest(Domain(0.0, 1.0, 0.0, 0.6), cols=5000, rows=3000))
    qtbot.waitUntil(lambda: not jobs.runner.busy, timeout=60000)
    rows, cols = fields[-1].rows, fields[-1].cols
    assert fields[-1].detail and cols == DETAIL_LIMIT and rows == DETAIL_LIMIT * 3 // 5
    assert counting.points == rows * cols <= DETAIL_LIMIT**2
    jobs.cancel()
    jobs.wait()


def test_a_heavy_network_detail_stays_within_the_work_budget():
    heavy = TorchMap(make_mlp([2, 1024, 1024, 1024, 2], seed=0), "heavy", 2, 2)
    rows, cols = detail_shape(heavy, 1000, 800)
    assert rows * cols <= points_within_budget(heavy, jacobian=True) < 1000 * 800
    assert cols / rows == pytest.approx(1000 / 800, rel=0.02)
    light = FormulaMap.from_text("x, y", isolated=False)
    assert detail_shape(light, 300, 200) == (200, 300)
    assert detail_shape(light, 4096, 1024) == (256, 1024)


def test_the_view_asked_for_is_the_part_of_the_domain_in_view(qtbot, wired):
    controller, plane, _sent = wired
    domain = controller.state.domain  # [-2, 2]²
    box = plane.getViewBox()
    # Zoomed out: the whole domain is in view, its own field is enough.
    plane.setRange(xRange=(-5, 5), yRange=(-5, 5), padding=0)
    qtbot.waitUntil(lambda: box.viewRange()[0][0] < -4, timeout=5000)
    assert plane.view_request() is None
    # Panned half out of the domain: the part in view, at its share of the pixels.
    plane.setRange(xRange=(0, 4), yRange=(-2, 2), padding=0)
    qtbot.waitUntil(lambda: box.viewRange()[0][0] > -1, timeout=5000)
    (x0, x1), (y0, y1) = box.viewRange()
    request = plane.view_request()
    assert request.region == Domain(x0, domain.xmax, max(y0, -2.0), min(y1, 2.0))
    width = box.width() * plane.devicePixelRatioF()
    assert request.cols == pytest.approx((domain.xmax - x0) / (x1 - x0) * width, abs=1)
    # Wholly outside the domain: nothing to compute.
    plane.setRange(xRange=(10, 12), yRange=(10, 12), padding=0)
    qtbot.waitUntil(lambda: box.viewRange()[0][0] > 9, timeout=5000)
    assert plane.view_request() is None


def test_a_networks_field_runs_on_one_torch_thread():
    import torch

    from jacviz.gui.mapview.heatmaps import field_job

    mlp = TorchMap(make_mlp([2, 16, 2], seed=0), "mlp", 2, 2)
    seen = []

    class Recording:
        name, input_dim, output_dim = "recording", 2, 2

        def evaluate_with_jacobian(self, points):
            seen.append(torch.get_num_threads())
            return mlp.evaluate_with_jacobian(points)

    domain = Domain(-1.0, 1.0, -1.0, 1.0)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        field_job(Recording(), mlp, domain, False, 8, 8)(lambda: False)
        assert seen == [1]  # jacviz.support.threads: one thread for pictures
        assert torch.get_num_threads() == 2  # the caller's count is put back
    finally:
        torch.set_num_threads(previous)


def test_a_coarse_field_finished_meanwhile_is_handed_on_at_once_and_once(qtbot):
    """A network's coarse field comes from the worker. While the GUI thread is busy (with the
    grid), Qt would deliver it only after painting: take_coarse hands it on at once, and the
    signal arriving later does not hand it on again."""
    import time

    from jacviz.gui.mapview.heatmaps import INLINE_WORK
    from jacviz.math.budget import work_per_point

    net = TorchMap(make_mlp([2, 64, 64, 2], seed=0), "net", 2, 2)
    assert COARSE_RESOLUTION**2 * work_per_point(net, jacobian=True) > INLINE_WORK  # worker's
    domain = Domain(-2.0, 2.0, -2.0, 2.0)
    jobs = HeatmapJobs(lambda: (net, domain))
    fields = []
    jobs.sigComputed.connect(fields.append)
    jobs.request(net, net, domain, classifier=False)
    assert not fields
    while not jobs.take_coarse():  # no event processed here: the worker's signal waits
        time.sleep(0.001)
    assert [field.rows for field in fields] == [COARSE_RESOLUTION]
    assert not jobs.take_coarse()
    qtbot.waitUntil(lambda: not jobs.runner.busy, timeout=60000)
    qtbot.waitUntil(lambda: len(fields) == 2, timeout=10000)
    qtbot.wait(50)  # the queued coarse signal has been delivered by now too
    assert [field.rows for field in fields] == [COARSE_RESOLUTION, HEATMAP_RESOLUTION]
    assert not jobs.take_coarse()  # the fine field stays
    jobs.cancel()
    jobs.wait()
