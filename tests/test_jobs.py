"""Background jobs: progress, cancel, fair sharing of a device between owners, failures."""

from __future__ import annotations

import threading
import time

import pytest

from bamu_core.jobs import DEFAULT_MAX_CONCURRENT, JobManager, default_manager, device_key
from bamu_core.progress import ProgressEvent
from bamu_core.training import StopRequested


@pytest.fixture
def manager():
    m = JobManager(max_finished=50, max_concurrent=4)
    yield m
    m.shutdown(timeout=5)


def _gated(gate: threading.Event, result="ok"):
    """A job that reports one step, then waits for ``gate`` (or a cancel)."""

    def fn(progress, should_stop):
        progress(ProgressEvent(step=1, total=4, loss=0.5))
        while not gate.is_set():
            if should_stop():
                raise StopRequested("cancelled")
            time.sleep(0.005)
        return result

    return fn


def _wait_for(predicate, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_a_job_reports_progress_and_returns_its_result(manager):
    def fn(progress, should_stop):
        for step in range(1, 5):
            progress(ProgressEvent(step=step, total=4, loss=1.0 / step))
        progress(ProgressEvent(step=4, total=4, loss=0.1, val_dp=0.05))
        return {"answer": 42}

    job = manager.submit(fn, kind="demo", owner="s1")
    manager.wait(job.id, timeout=5)
    assert job.state == "done" and job.result == {"answer": 42} and job.error is None
    assert [e.step for e in job.history()] == [1, 2, 3, 4, 4]
    assert [e.loss for e in job.history()][:4] == [1.0, 0.5, pytest.approx(1 / 3), 0.25]
    assert job.latest.val_dp == 0.05
    assert job.fraction == 1.0 and job.elapsed >= 0


def test_one_owner_runs_one_job_at_a_time_per_device_in_fifo_order_with_positions(manager):
    gates = [threading.Event() for _ in range(3)]
    jobs = [manager.submit(_gated(g, i), kind="demo", owner="s1", device="cpu") for i, g in enumerate(gates)]
    assert _wait_for(lambda: jobs[0].state == "running")
    assert [manager.queue_position(j) for j in jobs] == [0, 1, 2]
    assert [j.state for j in jobs] == ["running", "queued", "queued"]
    assert manager.queue("cpu") == jobs
    gates[0].set()
    assert _wait_for(lambda: jobs[1].state == "running")
    assert [manager.queue_position(j) for j in jobs] == [None, 0, 1]
    gates[1].set()
    gates[2].set()
    manager.wait(jobs[2].id, timeout=5)
    assert [j.result for j in jobs] == [0, 1, 2]
    assert jobs[0].finished <= jobs[1].started and jobs[1].finished <= jobs[2].started


def _recording(gate: threading.Event, name: str, started: list):
    """A gated job that appends ``name`` to ``started`` when it starts."""
    inner = _gated(gate, name)

    def fn(progress, should_stop):
        started.append(name)
        return inner(progress, should_stop)

    return fn


@pytest.fixture
def capped():
    """Managers with a fixed cap, shut down after the test."""
    made = []

    def make(cap):
        made.append(JobManager(max_finished=50, max_concurrent=cap))
        return made[-1]

    yield make
    for m in made:
        m.shutdown(timeout=5)


def test_another_owners_small_job_starts_at_once_beside_a_long_job(manager):
    gate = threading.Event()
    long_job = manager.submit(_gated(gate), kind="baseline", owner="A")
    assert _wait_for(lambda: long_job.state == "running")
    small = manager.submit(lambda p, s: "small", kind="audit", owner="B")
    assert small.state == "running" or small.state == "done"  # started inside submit
    manager.wait(small.id, timeout=5)
    assert small.state == "done" and small.result == "small"
    assert small.started - small.created < 1.0
    assert long_job.state == "running" and manager.queue_position(long_job) == 0
    gate.set()
    manager.wait(long_job.id, timeout=5)


def test_an_owners_second_job_waits_for_its_first_while_others_run(manager):
    gates = {name: threading.Event() for name in ("a1", "a2", "b1")}
    a1 = manager.submit(_gated(gates["a1"], "a1"), kind="demo", owner="A")
    a2 = manager.submit(_gated(gates["a2"], "a2"), kind="demo", owner="A")
    b1 = manager.submit(_gated(gates["b1"], "b1"), kind="demo", owner="B")
    assert (a1.state, a2.state, b1.state) == ("running", "queued", "running")
    assert [manager.queue_position(j) for j in (a1, a2, b1)] == [0, 1, 0]
    assert manager.queue("cpu") == [a1, b1, a2]
    gates["b1"].set()
    manager.wait(b1.id, timeout=5)
    assert a2.state == "queued"  # B's slot is free, but A still runs one
    gates["a1"].set()
    assert _wait_for(lambda: a2.state == "running")
    assert a1.finished <= a2.started
    gates["a2"].set()
    manager.wait(a2.id, timeout=5)
    assert [j.result for j in (a1, a2, b1)] == ["a1", "a2", "b1"]


def test_when_the_cap_is_reached_slots_go_round_robin_over_owners(capped):
    m = capped(1)
    started: list[str] = []
    names = ["a1", "a2", "a3", "b1", "c1", "b2"]
    gates = {name: threading.Event() for name in names}
    jobs = {
        name: m.submit(_recording(gates[name], name, started), kind="demo", owner=name[0].upper()) for name in names
    }
    assert _wait_for(lambda: started == ["a1"])
    # A runs, so the owners that have not had a turn come first; then a round per remaining job
    expected = ["b1", "c1", "a2", "b2", "a3"]
    assert [m.queue_position(jobs[n]) for n in expected] == [1, 2, 3, 4, 5]
    assert m.queue("cpu") == [jobs[n] for n in ["a1", *expected]]
    for done, following in zip(["a1", *expected], expected):
        gates[done].set()
        assert _wait_for(lambda following=following: jobs[following].state == "running")
        assert [m.queue_position(jobs[n]) for n in expected[expected.index(following) :]] == list(
            range(len(expected) - expected.index(following))
        )
    gates["a3"].set()
    m.wait(jobs["a3"].id, timeout=5)
    assert started == ["a1", *expected]
    assert all(j.state == "done" for j in jobs.values())


def test_queue_positions_count_the_jobs_that_would_start_before(capped):
    m = capped(2)
    gate = threading.Event()
    a1, b1 = (m.submit(_gated(gate), kind="demo", owner=o) for o in ("A", "B"))
    a2 = m.submit(_gated(gate), kind="demo", owner="A")
    c1 = m.submit(_gated(gate), kind="demo", owner="C")
    b2 = m.submit(_gated(gate), kind="demo", owner="B")
    c2 = m.submit(_gated(gate), kind="demo", owner="C")
    assert (a1.state, b1.state) == ("running", "running") and m.max_concurrent == 2
    # C is idle and starts with the next free slot; then A's and B's next ones; then C's second
    assert [m.queue_position(j) for j in (a1, b1, c1, a2, b2, c2)] == [0, 0, 1, 2, 3, 4]
    assert m.queue_position(a2.id) == 2 and m.queue_position("job-unknown") is None
    gate.set()
    m.wait(c2.id, timeout=5)
    assert [m.queue_position(j) for j in (a1, c2)] == [None, None]


def test_cancelling_a_queued_job_moves_the_ones_behind_it_up(capped):
    m = capped(1)
    gate = threading.Event()
    ran = []
    a1 = m.submit(_gated(gate), kind="demo", owner="A")
    b1 = m.submit(lambda p, s: ran.append("b1"), kind="demo", owner="B")
    c1 = m.submit(lambda p, s: ran.append("c1"), kind="demo", owner="C")
    assert [m.queue_position(j) for j in (b1, c1)] == [1, 2]
    assert m.cancel(b1.id)
    assert b1.state == "cancelled" and m.queue_position(b1) is None and m.queue_position(c1) == 1
    assert m.queue("cpu") == [a1, c1]
    gate.set()
    m.wait(c1.id, timeout=5)
    assert ran == ["c1"] and c1.state == "done"


def test_a_failing_job_frees_its_slot(capped):
    m = capped(1)
    gate = threading.Event()

    def fails(progress, should_stop):
        assert gate.wait(5)
        raise RuntimeError("boom")

    a1 = m.submit(fails, kind="demo", owner="A")
    b1 = m.submit(lambda p, s: "b", kind="demo", owner="B")
    a2 = m.submit(lambda p, s: "a", kind="demo", owner="A")
    assert b1.state == "queued" and a2.state == "queued"
    gate.set()
    m.wait(a2.id, timeout=5)
    assert a1.state == "failed" and a1.error == "RuntimeError: boom"
    assert (b1.state, b1.result, a2.state, a2.result) == ("done", "b", "done", "a")
    assert a1.finished <= b1.started <= b1.finished <= a2.started


def test_the_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("BAMU_MAX_CONCURRENT_JOBS", "1")
    m = JobManager()
    gate = threading.Event()
    try:
        a = m.submit(_gated(gate), kind="demo", owner="A")
        b = m.submit(_gated(gate), kind="demo", owner="B")
        assert m.max_concurrent == 1 and (a.state, b.state) == ("running", "queued")
        assert m.queue_position(b) == 1
        monkeypatch.setenv("BAMU_MAX_CONCURRENT_JOBS", "none")
        assert m.max_concurrent == DEFAULT_MAX_CONCURRENT
        monkeypatch.delenv("BAMU_MAX_CONCURRENT_JOBS")
        assert m.max_concurrent == DEFAULT_MAX_CONCURRENT == 4
        gate.set()
        m.wait(b.id, timeout=5)
    finally:
        gate.set()
        m.shutdown(timeout=5)
    with pytest.raises(ValueError, match="max_concurrent"):
        JobManager(max_concurrent=0)


def test_a_shared_job_can_run_in_the_lane_of_whoever_asked_for_it(manager):
    gate = threading.Event()
    a = manager.submit(_gated(gate), kind="load", owner="", lane="session-a")
    b = manager.submit(_gated(gate), kind="load", owner="", lane="session-b")
    c = manager.submit(_gated(gate), kind="load", owner="")  # no lane: its owner's, which runs nothing yet
    d = manager.submit(_gated(gate), kind="load", owner="")
    assert (a.lane, c.lane) == ("session-a", "")
    assert [j.state for j in (a, b, c, d)] == ["running", "running", "running", "queued"]
    gate.set()
    manager.wait(d.id, timeout=5)


def test_shutdown_without_cancel_lets_the_waiting_jobs_run(capped):
    m = capped(1)
    gate = threading.Event()
    a = m.submit(_gated(gate), kind="demo", owner="A")
    b = m.submit(lambda p, s: "b", kind="demo", owner="B")
    gate.set()
    m.shutdown(cancel=False, timeout=5)
    assert (a.state, b.state) == ("done", "done")


def test_jobs_on_different_devices_run_side_by_side(manager):
    gate = threading.Event()
    a = manager.submit(_gated(gate), kind="demo", device="cpu")
    b = manager.submit(_gated(gate), kind="demo", device="cuda")
    assert b.device == "cuda:0"
    assert _wait_for(lambda: a.state == "running" and b.state == "running")
    gate.set()
    manager.wait(a.id, timeout=5)
    manager.wait(b.id, timeout=5)


def test_cancel_stops_a_running_job_and_drops_a_queued_one(manager):
    gate = threading.Event()
    ran = []

    def never(progress, should_stop):
        ran.append(True)

    running = manager.submit(_gated(gate), kind="demo")
    queued = manager.submit(never, kind="demo")
    assert _wait_for(lambda: running.state == "running")
    assert manager.cancel(queued.id)
    assert queued.state == "cancelled" and manager.queue_position(queued) is None
    assert manager.cancel(running.id)
    manager.wait(running.id, timeout=5)
    assert running.state == "cancelled" and running.result is None
    assert ran == []
    assert not manager.cancel(running.id)  # already finished
    assert not manager.cancel("job-unknown")


def test_a_job_that_returns_after_a_cancel_is_cancelled_but_keeps_its_result(manager):
    started = threading.Event()

    def fn(progress, should_stop):
        started.set()
        assert _wait_for(should_stop)
        return {"status": "cancelled", "steps": 3}

    job = manager.submit(fn, kind="demo")
    assert started.wait(5)
    job.cancel()
    manager.wait(job.id, timeout=5)
    assert job.state == "cancelled" and job.result == {"status": "cancelled", "steps": 3}


def test_failures_end_the_job_with_a_message_and_the_worker_carries_on(manager):
    from bamu_core.errors import BamuInputError

    def bad_input(progress, should_stop):
        raise BamuInputError("intensity must be in [0, 1], got 3")

    def bug(progress, should_stop):
        raise RuntimeError("boom")

    def plain_value_error(progress, should_stop):  # not marked as the user's: a bug, with its traceback
        raise ValueError("shapes do not match")

    a = manager.submit(bad_input, kind="demo")
    b = manager.submit(bug, kind="demo")
    d = manager.submit(plain_value_error, kind="demo")
    c = manager.submit(lambda p, s: "after", kind="demo")
    manager.wait(c.id, timeout=5)
    assert (a.state, a.error, a.detail) == ("failed", "intensity must be in [0, 1], got 3", None)
    assert b.state == "failed" and b.error == "RuntimeError: boom" and "Traceback" in b.detail
    assert d.state == "failed" and d.error == "ValueError: shapes do not match" and "Traceback" in d.detail
    assert c.state == "done" and c.result == "after"


def test_jobs_are_listed_per_owner_and_kind(manager):
    a = manager.submit(lambda p, s: 1, kind="unlearn", owner="alice")
    b = manager.submit(lambda p, s: 2, kind="baseline", owner="bob")
    manager.wait(b.id, timeout=5)
    assert manager.jobs(owner="alice") == [a]
    assert manager.jobs(kind="baseline") == [b]
    assert manager.jobs(owner="bob", active=True) == []
    assert manager.get(a.id) is a and manager.get(None) is None


def test_old_finished_jobs_are_forgotten_beyond_the_limit():
    m = JobManager(max_finished=2)
    try:
        jobs = [m.submit(lambda p, s, i=i: i, kind="demo") for i in range(4)]
        m.wait(jobs[-1].id, timeout=5)
        assert [j.id for j in m.jobs()] == [jobs[2].id, jobs[3].id]
        assert m.forget(jobs[3].id) and m.get(jobs[3].id) is None
    finally:
        m.shutdown()


def test_events_are_thinned_beyond_max_events_keeping_the_newest():
    m = JobManager(max_events=10)
    try:

        def fn(progress, should_stop):
            for step in range(1, 101):
                progress(ProgressEvent(step=step, total=100, loss=float(step)))

        job = m.submit(fn, kind="demo")
        m.wait(job.id, timeout=5)
        steps = [e.step for e in job.history()]
        assert len(steps) <= 10 and steps[-1] == 100 and steps == sorted(steps)
    finally:
        m.shutdown()


def test_bad_arguments_and_a_closed_manager_raise_value_errors():
    m = JobManager()
    with pytest.raises(ValueError, match="kind"):
        m.submit(lambda p, s: None, kind="")
    with pytest.raises(ValueError, match="callable"):
        m.submit(None, kind="demo")
    with pytest.raises(ValueError, match="unknown job"):
        m.wait("job-404")
    m.shutdown()
    with pytest.raises(ValueError, match="shut down"):
        m.submit(lambda p, s: None, kind="demo")
    with pytest.raises(ValueError, match="max_finished"):
        JobManager(max_finished=0)


def test_wait_times_out_on_a_job_still_running(manager):
    gate = threading.Event()
    job = manager.submit(_gated(gate), kind="demo")
    with pytest.raises(TimeoutError):
        manager.wait(job.id, timeout=0.05)
    gate.set()
    manager.wait(job.id, timeout=5)


def test_progress_rejects_anything_else(manager):
    def fn(progress, should_stop):
        progress("half way")

    job = manager.submit(fn, kind="demo")
    manager.wait(job.id, timeout=5)
    assert job.state == "failed" and "ProgressEvent" in job.error


@pytest.mark.parametrize(
    "given, key", [(None, "cpu"), ("cpu", "cpu"), ("CUDA", "cuda:0"), ("cuda:1", "cuda:1"), ("mps", "mps")]
)
def test_device_keys(given, key):
    assert device_key(given) == key


def test_the_default_manager_is_one_per_process():
    assert default_manager() is default_manager()
