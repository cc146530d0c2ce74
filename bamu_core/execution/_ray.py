"""Tasks on Ray: an embedded local Ray (started and shut down here) or an existing cluster."""

from __future__ import annotations

import logging
import os
from typing import Any

from ..errors import BamuInputError
from ._base import TaskFailure, TaskOutcome, failure_of, run_task

__all__ = ["RayExecutor", "import_ray", "ray_available", "RAY_INSTALL_HINT"]

#: What to tell a user who asks for Ray without having it.
RAY_INSTALL_HINT = "install with pip install -r requirements-ray.txt (or pip install 'bamu[ray]')"


def ray_available() -> bool:
    """Whether ``ray`` can be imported here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def import_ray():
    """The ``ray`` module, or a :class:`BamuInputError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise BamuInputError(
            f"the Ray executor needs the ray package, which is not installed: {RAY_INSTALL_HINT}"
        ) from exc
    return ray


class RayExecutor:
    """Runs tasks as Ray tasks, ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs each.

    Without ``address`` (and with no Ray already initialised in this process) it starts an
    embedded local Ray with ``num_cpus`` CPUs (default: all) and no dashboard when the executor is
    entered, and shuts it down on exit. With ``address`` (``"auto"``, ``"HOST:6379"`` or
    ``"ray://HOST:10001"``) it joins that cluster and leaves it running on exit. A Ray already
    initialised in this process (e.g. by the caller) is used as it is and never shut down here.

    A task is never retried: a worker that dies makes that task's outcome a ``worker-died``
    failure and the other tasks go on. Cancelling (``should_stop``) cancels pending tasks and
    force-cancels running ones (their worker processes are killed). Each task runs with
    ``max(1, int(cpus_per_task))`` torch threads (``threads``). Entering the executor again inside
    its own ``with`` block (e.g. a sweep and an audit given the same executor) reuses the running
    Ray; the outermost block's exit stops it.

    ``ray`` is imported when the executor is made: without it a :class:`BamuInputError` says how
    to install it.
    """

    name = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_task: float = 1,
        gpus_per_task: float = 0,
        poll_seconds: float = 0.2,
    ):
        self._ray = import_ray()
        if num_cpus is not None and int(num_cpus) < 1:
            raise BamuInputError(f"num_cpus must be >= 1, got {num_cpus}")
        if address is not None and num_cpus is not None:
            raise BamuInputError("num_cpus sizes an embedded local Ray; a cluster (address) has its own CPUs")
        if not cpus_per_task > 0:
            raise BamuInputError(f"cpus per task must be > 0, got {cpus_per_task}")
        if not gpus_per_task >= 0:
            raise BamuInputError(f"gpus per task must be >= 0, got {gpus_per_task}")
        if num_cpus is not None and cpus_per_task > num_cpus:
            raise BamuInputError(f"cpus per task ({cpus_per_task:g}) exceeds num_cpus ({num_cpus}): no task could run")
        self.address = address
        self.num_cpus = None if num_cpus is None else int(num_cpus)
        self.cpus_per_task = float(cpus_per_task)
        self.gpus_per_task = float(gpus_per_task)
        self.threads = max(1, int(cpus_per_task))
        self.poll_seconds = poll_seconds
        self._owns_ray = False
        self._depth = 0  # nested ``with`` blocks: only the outermost one shuts Ray down

    # -- lifetime -----------------------------------------------------------------------------

    def start(self) -> RayExecutor:
        """Connect (or start the local Ray); checks the cluster can run one task of this size."""
        ray = self._ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if self.address is None:
                options["num_cpus"] = self.num_cpus
                # workers of the local Ray find this checkout's bamu_core like the driver does
                path = os.environ.get("PYTHONPATH")
                if path:
                    options["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
            else:
                options.pop("include_dashboard")
            try:
                ray.init(address=self.address, **options)
            except ConnectionError as exc:
                raise BamuInputError(f"could not connect to the Ray cluster at {self.address!r}: {exc}") from exc
            self._owns_ray = self.address is None
        resources = ray.cluster_resources()
        for key, need in (("CPU", self.cpus_per_task), ("GPU", self.gpus_per_task)):
            have = float(resources.get(key, 0))
            if need > have:
                self.close()
                raise BamuInputError(
                    f"each task asks for {need:g} {key}(s) but the Ray cluster has {have:g}: no task could run"
                )
        return self

    def close(self) -> None:
        """Shut down the Ray this executor started (a joined cluster is left running)."""
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        self._depth += 1
        try:
            return self.start()
        except BaseException:
            self._depth -= 1
            raise

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth <= 0:
            self._depth = 0
            self.close()

    # -- tasks --------------------------------------------------------------------------------

    def map(self, fn, items, *, shared=None, progress=None, should_stop=None) -> list[TaskOutcome]:
        """See :class:`~bamu_core.execution.Executor`; starts Ray first when it is not running."""
        ray = self._ray
        if not ray.is_initialized():
            self.start()
        items = list(items)
        remote = ray.remote(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task, max_retries=0)(run_task)
        fn_ref, shared_ref = ray.put(fn), ray.put(shared)
        pending = {remote.remote(fn_ref, shared_ref, item, self.threads): i for i, item in enumerate(items)}
        outcomes: dict[int, TaskOutcome] = {}
        while pending:
            if should_stop is not None and should_stop():
                for ref in pending:
                    ray.cancel(ref, force=True)
                for i in pending.values():
                    outcomes[i] = TaskOutcome(
                        index=i, failure=TaskFailure(error="cancelled before it finished", kind="cancelled")
                    )
                pending.clear()
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.poll_seconds)
            for ref in ready:
                i = pending.pop(ref)
                outcomes[i] = self._outcome(ref, i)
                if progress is not None:
                    progress(outcomes[i], len(outcomes), len(items))
        return [outcomes[i] for i in range(len(items))]

    def _outcome(self, ref, index: int) -> TaskOutcome:
        ray = self._ray
        errors = ray.exceptions
        try:
            return TaskOutcome(index=index, value=ray.get(ref))
        except errors.TaskCancelledError:
            return TaskOutcome(index=index, failure=TaskFailure(error="cancelled before it finished", kind="cancelled"))
        except errors.RayTaskError as exc:  # the task raised: report its own exception
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                failure = failure_of(cause)
                failure.traceback = str(exc)
                return TaskOutcome(index=index, failure=failure)
            return TaskOutcome(index=index, failure=failure_of(exc))
        except errors.RayError as exc:  # the worker (or its node) died, ran out of memory, ...
            return TaskOutcome(index=index, failure=failure_of(exc, kind="worker-died"))
