"""Background jobs: run a workflow in a thread with live progress, cancel and fair sharing of a device.

The dashboard submits long computations (training a baseline, unlearning, a sweep) here instead
of running them in its script thread, so that a page switch or a rerun does not interrupt them.

- A job is a function ``fn(progress, should_stop)``. ``progress`` takes a
  :class:`~bamu_core.progress.ProgressEvent`; ``should_stop()`` turns true once :meth:`Job.cancel`
  was called.
- Fair sharing per device (``"cpu"``, ``"cuda:0"``, ...): every job belongs to a *lane*, its
  ``owner`` (the browser session) unless :meth:`JobManager.submit` names another. A lane runs one
  job at a time and keeps its own FIFO queue, so one session cannot flood the machine; jobs of
  different lanes run side by side, up to ``max_concurrent`` per device (``BAMU_MAX_CONCURRENT_JOBS``,
  default 4). A job whose lane has nothing running therefore starts at once beside another
  session's long job while fewer than the cap run.
- When the cap is reached, a freed slot goes round-robin over the lanes: to the waiting lane that
  started a job least recently (a lane that has not started one yet first, then by submission
  order), never to the lane that just finished unless it is the only one waiting.
- :meth:`JobManager.queue_position` counts in that order: a waiting job is number k when k - 1
  waiting jobs would start before it (the earlier jobs of its own lane, and per round of the
  round-robin the lanes whose turn comes first).
- Jobs on different devices never wait for each other. Jobs side by side on the CPU share its
  cores; each sets its own torch threads in its own thread (nothing here changes process-wide
  torch settings).
- The registry is process-wide (:func:`default_manager`) and every job carries an ``owner``, so a
  session finds its jobs again after a page switch and never sees another session's jobs unless
  it asks for them.

Nothing here imports Streamlit.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import USER_ERRORS
from .progress import ProgressEvent

__all__ = ["Job", "JobManager", "JOB_STATES", "DEFAULT_MAX_CONCURRENT", "default_manager", "device_key"]

log = logging.getLogger(__name__)

# queued: waiting for its device; running; done: fn returned; failed: fn raised;
# cancelled: cancel() was called (before or while running).
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
_FINISHED = ("done", "failed", "cancelled")

# Jobs of different lanes running at once per device, unless BAMU_MAX_CONCURRENT_JOBS says otherwise.
DEFAULT_MAX_CONCURRENT = 4
_CAP_ENV = "BAMU_MAX_CONCURRENT_JOBS"


def _cap_from_env() -> int:
    raw = os.environ.get(_CAP_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value
        log.warning("%s=%r is not a positive integer; using %d", _CAP_ENV, raw, DEFAULT_MAX_CONCURRENT)
    return DEFAULT_MAX_CONCURRENT


def device_key(device: Any) -> str:
    """The queue a device belongs to: ``"cpu"``, ``"cuda:0"``, ``"mps"`` ...

    ``"cuda"`` and ``"cuda:0"`` share a queue; ``None`` means the CPU.
    """
    name = str(device if device is not None else "cpu").strip().lower() or "cpu"
    if name.startswith("cpu"):
        return "cpu"
    if name == "cuda":
        return "cuda:0"
    return name


@dataclass(eq=False)
class Job:
    """One background computation and everything the UI shows about it."""

    id: str
    kind: str
    label: str
    owner: str
    device: str
    fn: Callable[..., Any] = field(repr=False)
    state: str = "queued"
    events: list = field(default_factory=list, repr=False)
    result: Any = field(default=None, repr=False)
    error: str | None = None
    detail: str | None = field(default=None, repr=False)  # traceback of an unexpected failure, for logs
    meta: dict = field(default_factory=dict)
    lane: str = ""  # the fair-sharing lane: runs one job at a time; the owner unless submit names another
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    max_events: int = 10_000
    _seq: int = field(default=0, repr=False)  # submission order, for the round-robin's ties
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- reporting (called from the worker thread) ----------------------------------------
    def report(self, event: ProgressEvent) -> None:
        """Record a progress event."""
        if not isinstance(event, ProgressEvent):
            raise TypeError(f"progress takes a ProgressEvent, got {type(event).__name__}")
        with self._lock:
            self.events.append(event)
            if len(self.events) > self.max_events:
                # keep the curve's shape: thin the older half, keep the newest events exactly
                half = len(self.events) // 2
                self.events = self.events[:half:2] + self.events[half:]

    def should_stop(self) -> bool:
        """True once :meth:`cancel` was called; jobs check it before every step."""
        return self._stop.is_set()

    # -- control and inspection (called from any thread) ----------------------------------
    def cancel(self) -> None:
        """Ask the job to stop (a queued job never starts)."""
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state not in _FINISHED

    @property
    def latest(self):
        """The most recent progress event, or None."""
        with self._lock:
            return self.events[-1] if self.events else None

    def history(self) -> list:
        """A snapshot of the progress events so far."""
        with self._lock:
            return list(self.events)

    @property
    def fraction(self) -> float:
        """Progress in [0, 1] from the latest event (1 once done)."""
        if self.state == "done":
            return 1.0
        ev = self.latest
        if ev is not None and ev.overall is not None:
            return max(0.0, min(1.0, ev.overall))
        if ev is None or not ev.total:
            return 0.0
        return max(0.0, min(1.0, ev.step / ev.total))

    @property
    def elapsed(self) -> float:
        """Seconds spent running (0 while queued)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished; False on timeout."""
        return self._done.wait(timeout)


class JobManager:
    """Runs jobs in background threads, sharing each device fairly between lanes (see the module).

    Parameters
    ----------
    max_finished : int
        How many finished jobs to keep for the UI; older ones are forgotten.
    max_events : int
        Progress events kept per job (older ones are thinned beyond that).
    max_concurrent : int, optional
        Jobs running at once per device (each of a different lane). None: ``$BAMU_MAX_CONCURRENT_JOBS``,
        read whenever a slot is handed out, else :data:`DEFAULT_MAX_CONCURRENT`. 1 restores one job at
        a time per device (then in round-robin order over the lanes).
    """

    def __init__(self, *, max_finished: int = 100, max_events: int = 10_000, max_concurrent: int | None = None):
        if max_finished < 1:
            raise ValueError(f"max_finished must be >= 1, got {max_finished}")
        if max_events < 2:
            raise ValueError(f"max_events must be >= 2, got {max_events}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.max_finished = max_finished
        self.max_events = max_events
        self._max_concurrent = max_concurrent
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._waiting: dict[str, dict[str, collections.deque[Job]]] = {}  # device -> lane -> FIFO
        self._running: dict[str, dict[str, Job]] = {}  # device -> lane -> its running job
        self._last_start: dict[str, dict[str, int]] = {}  # device -> lane -> tick of its latest start
        self._threads: set[threading.Thread] = set()
        self._ids = itertools.count(1)
        self._ticks = itertools.count(1)
        self._closed = False

    @property
    def max_concurrent(self) -> int:
        """Jobs that may run at once on one device (each of a different lane)."""
        return self._max_concurrent if self._max_concurrent is not None else _cap_from_env()

    # -- submitting ------------------------------------------------------------------------
    def submit(
        self,
        fn: Callable[[Callable, Callable[[], bool]], Any],
        *,
        kind: str,
        label: str = "",
        owner: str = "",
        device: Any = "cpu",
        meta: dict | None = None,
        lane: str | None = None,
    ) -> Job:
        """Queue ``fn(progress, should_stop)`` on ``device`` and return its :class:`Job` at once.

        The job starts at once when its lane (``owner`` unless ``lane`` is given) runs nothing on
        that device and fewer than :attr:`max_concurrent` jobs run there; else it waits.

        Raises
        ------
        ValueError
            If ``kind`` is empty or the manager was shut down.
        """
        if not kind:
            raise ValueError("kind must name what the job does, e.g. 'unlearn'")
        if not callable(fn):
            raise ValueError("fn must be callable as fn(progress, should_stop)")
        key = device_key(device)
        with self._lock:
            if self._closed:
                raise ValueError("the job manager was shut down; start a new one")
            n = next(self._ids)
            job = Job(
                id=f"job-{n}",
                kind=kind,
                label=label or kind,
                owner=owner,
                device=key,
                fn=fn,
                meta=dict(meta or {}),
                lane=owner if lane is None else str(lane),
                max_events=self.max_events,
                _seq=n,
            )
            self._jobs[job.id] = job
            self._waiting.setdefault(key, {}).setdefault(job.lane, collections.deque()).append(job)
            self._dispatch(key)
            self._lock.notify_all()
        return job

    # -- inspecting ------------------------------------------------------------------------
    def get(self, job_id: str | None) -> Job | None:
        """The job with this id, or None (unknown or forgotten)."""
        if job_id is None:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self, *, owner: str | None = None, kind: str | None = None, active: bool | None = None) -> list[Job]:
        """Jobs (oldest first), optionally only one owner's, one kind, or only active/finished ones."""
        with self._lock:
            out = list(self._jobs.values())
        if owner is not None:
            out = [j for j in out if j.owner == owner]
        if kind is not None:
            out = [j for j in out if j.kind == kind]
        if active is not None:
            out = [j for j in out if j.active == active]
        return out

    def queue_position(self, job: Job | str) -> int | None:
        """0 while running, k >= 1 when k - 1 waiting jobs would start before it on its device, None
        once finished."""
        job = self.get(job) if isinstance(job, str) else job
        if job is None:
            return None
        with self._lock:
            if job.state == "running":
                return 0
            if job.state != "queued":
                return None
            for i, other in enumerate(self._order(job.device)):
                if other is job:
                    return i + 1
        return None

    def queue(self, device: Any = "cpu") -> list[Job]:
        """The running jobs on ``device`` (oldest start first), then the waiting ones in the order
        they would start."""
        key = device_key(device)
        with self._lock:
            running = sorted(self._running.get(key, {}).values(), key=lambda j: (j.started or 0.0, j._seq))
            return running + self._order(key)

    # -- controlling -----------------------------------------------------------------------
    def cancel(self, job_id: str) -> bool:
        """Cancel a job: a queued one is dropped at once, a running one stops at its next step.

        Returns False when the job is unknown or already finished.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.active:
                return False
            job.cancel()
            if job.state == "queued":
                lanes = self._waiting.get(job.device, {})
                queue = lanes.get(job.lane)
                if queue is not None and job in queue:
                    queue.remove(job)
                    if not queue:
                        del lanes[job.lane]
                self._prune(job.device, job.lane)
                self._finish(job, "cancelled")
            return True

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished and return it.

        Raises
        ------
        ValueError
            The job id is unknown.
        TimeoutError
            The job was still active after ``timeout`` seconds.
        """
        job = self.get(job_id)
        if job is None:
            raise ValueError(f"unknown job {job_id!r}")
        if not job.wait(timeout):
            raise TimeoutError(f"job {job_id} still {job.state} after {timeout} s")
        return job

    def forget(self, job_id: str) -> bool:
        """Drop a finished job from the registry (returns False if it is active or unknown)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.active:
                return False
            del self._jobs[job_id]
            return True

    def shutdown(self, *, cancel: bool = True, timeout: float | None = 10.0) -> None:
        """Stop accepting jobs; cancel the active ones (by default) and wait for the running ones.

        With ``cancel=False`` the waiting jobs still run, in their usual order.
        """
        with self._lock:
            self._closed = True
            if cancel:
                for job in list(self._jobs.values()):
                    if job.active:
                        job.cancel()
                for key, lanes in self._waiting.items():
                    for lane in list(lanes):
                        queue = lanes.pop(lane)
                        while queue:
                            self._finish(queue.popleft(), "cancelled")
                        self._prune(key, lane)
            self._lock.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # a finishing job may start a waiting one (cancel=False): join until none is left
            with self._lock:
                threads = [t for t in self._threads if t.is_alive()]
            if not threads:
                return
            for t in threads:
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if deadline is not None and time.monotonic() >= deadline:
                return

    # -- internals (the lock is held in every method below but _run and _execute) ---------------
    def _lane_rank(self, key: str, lane: str) -> tuple:
        """Whose turn comes first: an idle lane before a busy one, then the lane that started a job
        least recently (never: first), then the lane whose next job was submitted first."""
        busy = lane in self._running.get(key, {})
        return (busy, self._last_start.get(key, {}).get(lane, 0), self._waiting[key][lane][0]._seq)

    def _order(self, key: str) -> list[Job]:
        """The waiting jobs of ``key`` in the order they would start: round by round, each lane's
        next job, the lanes in :meth:`_lane_rank` order."""
        lanes = self._waiting.get(key, {})
        ranked = sorted((lane for lane, q in lanes.items() if q), key=lambda lane: self._lane_rank(key, lane))
        order = {lane: i for i, lane in enumerate(ranked)}
        jobs = [(i, order[lane], job) for lane in ranked for i, job in enumerate(lanes[lane])]
        return [job for _, _, job in sorted(jobs, key=lambda t: (t[0], t[1]))]

    def _dispatch(self, key: str) -> None:
        """Start waiting jobs of ``key`` while slots are free: one per idle lane, round-robin."""
        running = self._running.setdefault(key, {})
        lanes = self._waiting.setdefault(key, {})
        while len(running) < self.max_concurrent:
            idle = [lane for lane, q in lanes.items() if q and lane not in running]
            if not idle:
                return
            lane = min(idle, key=lambda name: self._lane_rank(key, name))
            job = lanes[lane].popleft()
            if not lanes[lane]:
                del lanes[lane]
            job.state = "running"
            job.started = time.time()
            running[lane] = job
            self._last_start.setdefault(key, {})[lane] = next(self._ticks)
            thread = threading.Thread(target=self._run, args=(key, job), name=f"bamu-{job.id}-{key}", daemon=True)
            self._threads.add(thread)
            thread.start()

    def _prune(self, key: str, lane: str) -> None:
        """Forget a lane's turn once it has nothing running or waiting (keeps the tables small)."""
        if lane not in self._running.get(key, {}) and not self._waiting.get(key, {}).get(lane):
            self._last_start.get(key, {}).pop(lane, None)

    def _run(self, key: str, job: Job) -> None:
        try:
            outcome = self._execute(job)
        except BaseException as exc:  # even SystemExit in a job must free its slot
            outcome = ("failed", None, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        with self._lock:
            job.result, job.error, job.detail = outcome[1], outcome[2], outcome[3]
            self._running.get(key, {}).pop(job.lane, None)
            self._finish(job, outcome[0])
            self._dispatch(key)
            self._prune(key, job.lane)
            self._threads.discard(threading.current_thread())

    @staticmethod
    def _execute(job: Job) -> tuple[str, Any, str | None, str | None]:
        from .training import StopRequested

        try:
            result = job.fn(job.report, job.should_stop)
        except StopRequested:
            return "cancelled", None, None, None
        except USER_ERRORS as exc:
            return ("cancelled" if job.should_stop() else "failed"), None, str(exc), None
        except Exception as exc:  # any failure must end the job, never the manager
            detail = traceback.format_exc()
            log.error("job %s (%s) failed:\n%s", job.id, job.label, detail)
            return "failed", None, f"{type(exc).__name__}: {exc}", detail
        return ("cancelled" if job.should_stop() else "done"), result, None, None

    def _finish(self, job: Job, state: str) -> None:
        """Mark ``job`` finished and forget the oldest finished jobs beyond the limit."""
        job.state = state
        job.finished = time.time()
        job._done.set()
        finished = [j for j in self._jobs.values() if not j.active]
        for old in finished[: max(0, len(finished) - self.max_finished)]:
            self._jobs.pop(old.id, None)
        self._lock.notify_all()


_DEFAULT: JobManager | None = None
_DEFAULT_LOCK = threading.Lock()


def default_manager() -> JobManager:
    """The process-wide job manager (created on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None or _DEFAULT._closed:
            _DEFAULT = JobManager()
        return _DEFAULT
