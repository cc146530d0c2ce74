"""The executor protocol, a task's typed outcome, and the in-process executor."""

from __future__ import annotations

import contextlib
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Protocol, Sequence, TypeVar, runtime_checkable

import torch

from ..errors import BamuInputError

__all__ = [
    "EXECUTORS",
    "Executor",
    "InProcessExecutor",
    "TaskFailure",
    "TaskOutcome",
    "get_executor",
    "task_threads",
]

T = TypeVar("T")

#: The executor names :func:`get_executor` (and ``--executor``) accepts.
EXECUTORS = ("local", "ray")


@dataclass
class TaskFailure:
    """Why a task has no value.

    ``kind`` is ``"error"`` (the task raised; ``error`` is ``"TypeName: message"``),
    ``"worker-died"`` (the process running it ended, e.g. killed or out of memory) or
    ``"cancelled"`` (``should_stop`` turned true before it finished).
    """

    error: str
    kind: str = "error"
    traceback: str = ""


@dataclass
class TaskOutcome(Generic[T]):
    """The outcome of task ``index`` (its position in the items given to :meth:`Executor.map`):
    exactly one of ``value`` and ``failure`` is meaningful (``ok`` says which)."""

    index: int
    value: T | None = None
    failure: TaskFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


#: ``progress(outcome, done, total)`` after each task finishes (in completion order).
OutcomeProgress = Callable[[TaskOutcome, int, int], None]


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn(shared, item)`` for every item and returns one :class:`TaskOutcome` per item.

    Contract of :meth:`map`:

    - the outcomes come back in the order of ``items``; a task that raises (or whose worker dies)
      becomes a failed outcome and never loses the others;
    - ``shared`` is sent once (not once per task) and must not be modified by ``fn``;
    - ``progress(outcome, done, total)`` is called on the caller's thread as each task finishes;
    - ``should_stop()`` is polled between tasks; once true the tasks not yet finished end as
      ``cancelled`` outcomes (running ones are stopped where the executor can);
    - ``fn`` runs with ``threads`` torch threads (:func:`task_threads`) so that the same task gives
      the same numbers on every executor with the same ``threads``.

    Executors are context managers: leaving the block releases what they started.
    """

    threads: int | None

    def map(
        self,
        fn: Callable[[Any, Any], T],
        items: Sequence[Any],
        *,
        shared: Any = None,
        progress: OutcomeProgress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[TaskOutcome[T]]: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc) -> None: ...


@contextlib.contextmanager
def task_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads (``None``: leave them), restoring them after."""
    if threads is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def failure_of(exc: BaseException, kind: str = "error") -> TaskFailure:
    """A :class:`TaskFailure` recording ``exc`` as ``"TypeName: message"`` with its traceback."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return TaskFailure(error=f"{type(exc).__name__}: {exc}", kind=kind, traceback=text)


def run_task(fn: Callable, shared: Any, item: Any, threads: int | None) -> Any:
    """``fn(shared, item)`` with ``threads`` torch threads: what every executor runs for one task."""
    with task_threads(threads):
        return fn(shared, item)


class InProcessExecutor:
    """Runs the tasks one after another in this process (the default executor).

    ``threads``: torch threads per task (``None``: whatever the process has). An exception in a
    task becomes its failed outcome, except ``KeyboardInterrupt`` and ``SystemExit``, which end
    the map. A task cannot kill its worker here without killing the caller.
    """

    name = "local"

    def __init__(self, *, threads: int | None = None):
        if threads is not None and int(threads) < 1:
            raise BamuInputError(f"threads must be >= 1, got {threads}")
        self.threads = None if threads is None else int(threads)

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map(self, fn, items, *, shared=None, progress=None, should_stop=None) -> list[TaskOutcome]:
        items = list(items)
        outcomes: list[TaskOutcome] = []
        for i, item in enumerate(items):
            if should_stop is not None and should_stop():
                outcomes += [_cancelled(j) for j in range(i, len(items))]
                break
            try:
                outcome = TaskOutcome(index=i, value=run_task(fn, shared, item, self.threads))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                outcome = TaskOutcome(index=i, failure=failure_of(exc))
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome, len(outcomes), len(items))
        return outcomes


def _cancelled(index: int) -> TaskOutcome:
    return TaskOutcome(index=index, failure=TaskFailure(error="cancelled before it finished", kind="cancelled"))


def get_executor(
    executor: str | Executor | None = None,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_task: float = 1,
    gpus_per_task: float = 0,
    threads: int | None = None,
) -> Executor:
    """An executor from a name (``"local"`` or ``"ray"``), or ``executor`` itself when it is one.

    ``address``, ``num_cpus``, ``cpus_per_task`` and ``gpus_per_task`` are :class:`RayExecutor`'s
    and refused for ``"local"``; ``threads`` is :class:`InProcessExecutor`'s. Raises
    :class:`BamuInputError` for an unknown name, and for ``"ray"`` when ray is not installed.
    """
    if executor is None or executor == "local":
        ray_given = address is not None or num_cpus is not None or cpus_per_task != 1 or gpus_per_task != 0
        if ray_given:
            raise BamuInputError("the Ray address and per-task resources only apply with executor='ray'")
        return InProcessExecutor(threads=threads)
    if executor == "ray":
        from ._ray import RayExecutor

        return RayExecutor(address=address, num_cpus=num_cpus, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task)
    if isinstance(executor, str):
        raise BamuInputError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if not isinstance(executor, Executor):
        raise BamuInputError(f"executor must be 'local', 'ray' or an executor object, got {type(executor).__name__}")
    return executor
