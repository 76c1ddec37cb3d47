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


def test_a_finished_job_and_what_it_held_are_released(qtbot):
    import gc
    import weakref

    class Held:
        pass

    runner = LatestOnlyRunner()
    held = Held()
    alive = weakref.ref(held)
    runner.submit(lambda held=held: 1)
    del held
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    qtbot.wait(20)  # the worker's last signal releases it
    gc.collect()
    assert alive() is None


def test_a_runner_deleted_with_its_results_on_their_way_is_safe(qtbot):
    # As when a window closes during a heatmap job: shutdown cancels and waits, the window
    # is deleted, and only then are the job's queued signals processed.
    from PyQt6.QtCore import QObject

    owner = QObject()
    runner = LatestOnlyRunner(owner)
    results = []
    runner.sigResult.connect(results.append)
    runner.submit(lambda: 1)
    runner.cancel()
    assert runner.wait(5000)
    owner.deleteLater()
    del owner, runner
    qtbot.wait(50)  # no crash delivering them
    assert results == []


def test_a_runner_deleted_after_its_result_was_sent_is_safe(qtbot):
    # As when the lab closed while its plane page read the digits: the result is already
    # queued for the runner when the runner is deleted. Connected to partials of its bound
    # methods, PyQt let go of them with the runner and the queued call then used freed
    # memory (a segmentation fault in about one run in four); it must be dropped.
    from PyQt6 import sip
    from PyQt6.QtCore import QObject

    for _ in range(20):
        owner = QObject()
        runner = LatestOnlyRunner(owner)
        results = []
        runner.sigResult.connect(results.append)
        runner.submit(lambda: [1] * 1000)
        assert runner.wait(5000)  # returned and finished are queued, not delivered
        sip.delete(owner)
        del owner, runner
        qtbot.wait(5)
        assert results == []


def test_a_jobs_warnings_still_reach_the_log(qtbot, recwarn):
    import warnings

    runner = LatestOnlyRunner()

    def job():
        warnings.warn("from the job", UserWarning, stacklevel=1)
        return 1

    runner.submit(job)
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    qtbot.wait(20)
    assert any("from the job" in str(w.message) for w in recwarn)


def test_overlapping_jobs_that_warn_leave_the_warnings_module_as_it_was(qtbot):
    # A job that swapped warnings.showwarning for a forwarder of its own could leave it in
    # place when another job overlapped it; a warning then went round in circles.
    import warnings

    before = warnings.showwarning
    runners = [LatestOnlyRunner() for _ in range(3)]

    def job():
        for _ in range(50):
            warnings.warn("from a job", UserWarning, stacklevel=1)
        return 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            for runner in runners:
                runner.submit(job)
            qtbot.waitUntil(lambda: not any(r.busy for r in runners), timeout=10_000)
    assert warnings.showwarning is before
