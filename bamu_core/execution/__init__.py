"""Where independent tasks run: in this process (the default) or on a Ray cluster.

- :mod:`._base`: the :class:`Executor` protocol, the typed outcome of a task
  (:class:`TaskOutcome`, a value or a :class:`TaskFailure`), :class:`InProcessExecutor`, and
  :func:`get_executor` which turns ``"local"`` / ``"ray"`` into an executor;
- :mod:`._ray`: :class:`RayExecutor` (``ray`` is imported only when one is made).

A sweep (:func:`bamu_core.workflows.sweep`) and a sharded audit
(:func:`bamu_core.workflows.audit` with ``executor=``) hand their tasks to an executor; the
numbers do not depend on which one runs them.
"""

from ._base import (
    EXECUTORS,
    Executor,
    InProcessExecutor,
    TaskFailure,
    TaskOutcome,
    get_executor,
    task_threads,
)
from ._ray import RayExecutor, import_ray, ray_available

__all__ = [
    "EXECUTORS",
    "Executor",
    "InProcessExecutor",
    "RayExecutor",
    "TaskFailure",
    "TaskOutcome",
    "get_executor",
    "import_ray",
    "ray_available",
    "task_threads",
]
