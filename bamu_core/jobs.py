"""Background jobs: run a workflow in a thread with live progress, cancel and a per-device queue.

The dashboard submits long computations (training a baseline, unlearning, a sweep) here instead
of running them in its script thread, so that a page switch or a rerun does not interrupt them.

- A job is a function ``fn(progress, should_stop)``. ``progress`` takes a
  :class:`~bamu_core.progress.ProgressEvent`; ``should_stop()`` turns true once :meth:`Job.cancel`
  was called.
- One job runs at a time per device (``"cpu"``, ``"cuda:0"``, ...); the others wait in FIFO order
  and know their queue position. Jobs on different devices run side by side.
- The registry is process-wide (:func:`default_manager`) and every job carries an ``owner`` (the
  browser session), so a session finds its jobs again after a page switch and never sees another
  session's jobs unless it asks for them.

Nothing here imports Streamlit.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import USER_ERRORS
from .progress import ProgressEvent

__all__ = ["Job", "JobManager", "JOB_STATES", "default_manager", "device_key"]

log = logging.getLogger(__name__)

# queued: waiting for its device; running; done: fn returned; failed: fn raised;
# cancelled: cancel() was called (before or while running).
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
_FINISHED = ("done", "failed", "cancelled")


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
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    max_events: int = 10_000
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
    """Runs jobs in background threads, one at a time per device, FIFO.

    Parameters
    ----------
    max_finished : int
        How many finished jobs to keep for the UI; older ones are forgotten.
    max_events : int
        Progress events kept per job (older ones are thinned beyond that).
    """

    def __init__(self, *, max_finished: int = 100, max_events: int = 10_000):
        if max_finished < 1:
            raise ValueError(f"max_finished must be >= 1, got {max_finished}")
        if max_events < 2:
            raise ValueError(f"max_events must be >= 2, got {max_events}")
        self.max_finished = max_finished
        self.max_events = max_events
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, collections.deque[Job]] = {}
        self._running: dict[str, Job | None] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._ids = itertools.count(1)
        self._closed = False

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
    ) -> Job:
        """Queue ``fn(progress, should_stop)`` on ``device`` and return its :class:`Job` at once.

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
            job = Job(
                id=f"job-{next(self._ids)}",
                kind=kind,
                label=label or kind,
                owner=owner,
                device=key,
                fn=fn,
                meta=dict(meta or {}),
                max_events=self.max_events,
            )
            self._jobs[job.id] = job
            self._queues.setdefault(key, collections.deque()).append(job)
            self._running.setdefault(key, None)
            worker = self._workers.get(key)
            if worker is None or not worker.is_alive():
                worker = threading.Thread(target=self._work, args=(key,), name=f"bamu-jobs-{key}", daemon=True)
                self._workers[key] = worker
                worker.start()
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
        """0 while running, k >= 1 when k - 1 jobs wait before it on its device, None once finished."""
        job = self.get(job) if isinstance(job, str) else job
        if job is None:
            return None
        with self._lock:
            if job.state == "running":
                return 0
            if job.state != "queued":
                return None
            queue = self._queues.get(job.device, ())
            for i, other in enumerate(queue):
                if other is job:
                    return i + 1
        return None

    def queue(self, device: Any = "cpu") -> list[Job]:
        """The running job (if any) then the waiting ones on ``device``."""
        key = device_key(device)
        with self._lock:
            running = self._running.get(key)
            return ([running] if running is not None else []) + list(self._queues.get(key, ()))

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
                queue = self._queues.get(job.device)
                if queue is not None and job in queue:
                    queue.remove(job)
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
        """Stop accepting jobs; cancel the active ones (by default) and wait for the workers."""
        with self._lock:
            self._closed = True
            if cancel:
                for job in list(self._jobs.values()):
                    if job.active:
                        job.cancel()
                for queue in self._queues.values():
                    while queue:
                        self._finish(queue.popleft(), "cancelled")
            self._lock.notify_all()
            workers = list(self._workers.values())
        for w in workers:
            w.join(timeout)

    # -- internals -------------------------------------------------------------------------
    def _work(self, key: str) -> None:
        while True:
            with self._lock:
                while not self._queues[key] and not self._closed:
                    self._lock.wait()
                if not self._queues[key]:
                    return  # closed and drained
                job = self._queues[key].popleft()
                job.state = "running"
                job.started = time.time()
                self._running[key] = job
            state, result, error, detail = self._execute(job)
            with self._lock:
                job.result = result
                job.error = error
                job.detail = detail
                self._running[key] = None
                self._finish(job, state)

    @staticmethod
    def _execute(job: Job) -> tuple[str, Any, str | None, str | None]:
        from .training import StopRequested

        try:
            result = job.fn(job.report, job.should_stop)
        except StopRequested:
            return "cancelled", None, None, None
        except USER_ERRORS as exc:
            return ("cancelled" if job.should_stop() else "failed"), None, str(exc), None
        except Exception as exc:  # any failure must end the job, never the worker thread
            detail = traceback.format_exc()
            log.error("job %s (%s) failed:\n%s", job.id, job.label, detail)
            return "failed", None, f"{type(exc).__name__}: {exc}", detail
        return ("cancelled" if job.should_stop() else "done"), result, None, None

    def _finish(self, job: Job, state: str) -> None:
        """Mark ``job`` finished (lock held) and forget the oldest finished jobs beyond the limit."""
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
