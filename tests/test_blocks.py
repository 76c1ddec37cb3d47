"""A field's blocks on two threads: the same numbers, both threads used, stops and errors kept.

Work is counted (blocks, threads), never timed: the speed is bench_interaction's business.
"""

import threading

import numpy as np
import pytest
import torch

import jacviz.math.blocks as blocks
from jacviz.gui.mapview.heatmaps import field_job, splittable
from jacviz.math.blocks import map_blocks
from jacviz.math.grid import Domain, sample_points
from jacviz.math.maps import FormulaMap, TorchMap
from jacviz.nets.networks import make_mlp
from jacviz.nets.views import OutputView, ProbabilityMap, SliceMap

pytestmark = pytest.mark.timeout(120)

POINTS = np.arange(40.0).reshape(20, 2)


@pytest.fixture
def two_cores(monkeypatch):
    """As on a 2-core machine, whatever this one has."""
    monkeypatch.setattr(blocks, "available_cores", lambda: 2)


def mlp_map(seed: int = 0, widths=(2, 16, 16, 2)) -> TorchMap:
    return TorchMap(make_mlp(list(widths), seed=seed), f"mlp{seed}", widths[0], widths[-1])


def test_blocks_come_back_in_order_on_one_thread():
    got = map_blocks(lambda b: b.sum(), POINTS, 3, lambda: False, parallel=False)
    expected = [POINTS[i : i + 3].sum() for i in range(0, 20, 3)]
    assert got == expected


def test_both_threads_take_blocks_when_parallel(two_cores):
    # The first two blocks wait for each other: only two threads at once get past them.
    meet = threading.Barrier(2, timeout=30)
    threads = {}

    def fn(block):
        if block[0, 0] < 16:  # blocks 0 and 1 (4 rows of 2 numbers each)
            meet.wait()
        threads[int(block[0, 0])] = threading.get_ident()
        return block.copy()

    got = map_blocks(fn, POINTS, 4, lambda: False, parallel=True)
    np.testing.assert_array_equal(np.concatenate(got), POINTS)
    assert len(set(threads.values())) == 2


def test_one_core_or_one_block_stays_on_the_calling_thread(monkeypatch):
    callers = set()

    def fn(block):
        callers.add(threading.get_ident())
        return block

    monkeypatch.setattr(blocks, "available_cores", lambda: 1)
    map_blocks(fn, POINTS, 4, lambda: False, parallel=True)
    monkeypatch.setattr(blocks, "available_cores", lambda: 2)
    map_blocks(fn, POINTS, 100, lambda: False, parallel=True)
    assert callers == {threading.get_ident()}


@pytest.mark.parametrize("parallel", [False, True])
def test_no_block_starts_once_superseded(two_cores, parallel):
    started = []
    lock = threading.Lock()

    def fn(block):
        with lock:
            started.append(block)
        return block

    assert map_blocks(fn, POINTS, 2, lambda: len(started) >= 3, parallel) is None
    assert len(started) == 3  # asked before every block, by whichever thread takes it


@pytest.mark.parametrize("bad_row", [0, 4, 16])
def test_an_error_in_either_thread_is_raised_after_both_stop(two_cores, bad_row):
    running = []
    done = []

    def fn(block):
        running.append(1)
        if block[0, 0] == 2 * bad_row:
            raise MemoryError("out of memory")
        done.append(1)
        running.pop()
        return block

    with pytest.raises(MemoryError, match="out of memory"):
        map_blocks(fn, POINTS, 4, lambda: False, parallel=True)
    assert len(running) == 1  # only the failed block is unfinished: nothing runs on


def test_split_jacobians_equal_the_one_thread_ones_to_the_bit(two_cores):
    network = mlp_map()
    points = sample_points(Domain(-2, 2, -2, 2), 64)
    serial = map_blocks(network.evaluate_with_jacobian, points, 512, lambda: False, False)
    split = map_blocks(network.evaluate_with_jacobian, points, 512, lambda: False, True)
    for (v1, j1), (v2, j2) in zip(serial, split, strict=True):
        np.testing.assert_array_equal(v1, v2)
        np.testing.assert_array_equal(j1, j2)


def test_only_in_process_walked_networks_and_their_views_are_split():
    network = mlp_map(widths=(3, 8, 4))
    plane = SliceMap(network, orthonormalize=True, u=[1, 0, 0], v=[0, 1, 1])
    assert splittable(mlp_map())
    assert splittable(plane)
    assert splittable(OutputView(ProbabilityMap(plane), "pca", np.zeros((8, 2))))
    assert not splittable(FormulaMap.from_text("x**2 + y, x*y", isolated=False))

    class Opaque(torch.nn.Module):  # not a chain of layers: the autograd path
        def forward(self, x):
            return x.flip(-1) * x

    assert not splittable(TorchMap(Opaque(), "opaque", 2, 2))

    class Hosted:  # anything else, e.g. a network in another process, even wrapping a TorchMap
        inner = mlp_map()

    assert not splittable(Hosted())


def test_a_heatmap_field_is_the_same_split_or_not(monkeypatch):
    network = mlp_map(seed=3)
    domain = Domain(-2, 2, -1, 1)
    fields = []
    for cores in (1, 2):
        monkeypatch.setattr(blocks, "available_cores", lambda cores=cores: cores)
        result = field_job(network, network, domain, True, 96, 128)(lambda: False)
        fields.append(result)
    one, two = fields
    np.testing.assert_array_equal(one.field.values, two.field.values)
    np.testing.assert_array_equal(one.field.jacobian, two.field.jacobian)
    np.testing.assert_array_equal(one.regions.classes, two.regions.classes)
