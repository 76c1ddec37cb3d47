"""The background runner keeps only the newest request, so stale pictures never show."""

import threading

from jacviz.gui.common.runner import LatestOnlyRunner


def test_only_the_newest_result_is_delivered(qtbot):
    runner = LatestOnlyRunner()
    release = threading.Event()
    results, started = [], []

    def job(value, wait=False):
        def run():
            started.append(value)
            if wait:
                release.wait(5)
            return value

        return run

    runner.sigResult.connect(results.append)
    runner.submit(job(1, wait=True))  # running, then superseded
    runner.submit(job(2))  # waiting, then replaced before it starts
    runner.submit(job(3))  # the newest
    assert runner.busy
    release.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert results == [3]
    assert 2 not in started  # replaced while waiting: never run at all


def test_a_failing_job_is_reported_not_raised(qtbot):
    runner = LatestOnlyRunner()
    failures = []
    runner.sigFailed.connect(failures.append)

    def broken():
        raise ZeroDivisionError("boom")

    runner.submit(broken)
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert failures == ["ZeroDivisionError: boom"]


def test_cancel_drops_the_running_result(qtbot):
    runner = LatestOnlyRunner()
    results = []
    runner.sigResult.connect(results.append)
    runner.submit(lambda: 1)
    runner.cancel()
    assert runner.wait(5000)
    assert not runner.busy  # as a window's shutdown sees it, before any event is processed
    qtbot.wait(50)
    assert results == []
