"""The options that choose where the work runs (``--executor``, Ray's address and task sizes)."""

from __future__ import annotations

import argparse
import json

from ..errors import BamuInputError
from ._common import MAX_SEED, _bounded_int


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _gpu_share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number >= 0 (a share of a GPU is allowed), got {text!r}"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (a share of a GPU is allowed), got {text!r}")
    return value


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds):
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers in 0..{MAX_SEED}, got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"a seed is given twice in {text!r}")
    return seeds


def _add_executor_options(p: argparse.ArgumentParser, *, shards: bool = False) -> None:
    g = p.add_argument_group("execution (Ray: pip install -r requirements-ray.txt)")
    g.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="run the tasks in this process (local, default) or as Ray tasks (ray: an embedded local Ray, "
        "or the cluster at --ray-address)",
    )
    g.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster (e.g. auto, HOST:6379 or ray://HOST:10001) instead of starting a local Ray; "
        "it is left running",
    )
    g.add_argument(
        "--cpus-per-task",
        type=_positive_float,
        metavar="N",
        help="CPUs each Ray task reserves (default: 1), and the torch threads of each task (local: default all "
        "of this process's); the same value gives the same numbers on both executors",
    )
    g.add_argument(
        "--gpus-per-task",
        type=_gpu_share,
        metavar="F",
        help="GPUs each Ray task reserves, e.g. 0.25 to share one GPU between four tasks (default: 0)",
    )
    if shards:
        g.add_argument(
            "--shards",
            type=_bounded_int(1, 100_000),
            metavar="N",
            help="split the inference over the split into N tasks (default with --executor ray: one per batch)",
        )


def _executor(args):
    """The executor the options name, or ``None`` for the plain in-process path; checks them."""
    from ..execution import InProcessExecutor, get_executor

    if args.executor == "local":
        given = [f for f, v in (("--ray-address", args.ray_address), ("--gpus-per-task", args.gpus_per_task)) if v]
        given += ["--ray-address"] if args.ray_address == "" else []
        if given or args.gpus_per_task is not None:
            given = given or ["--gpus-per-task"]
            raise BamuInputError(f"{' and '.join(given)} only with --executor ray (add --executor ray)")
        cpus = args.cpus_per_task
        if cpus is None and getattr(args, "shards", None) is None:
            return None
        if cpus is not None and cpus != int(cpus):
            raise BamuInputError(
                f"--cpus-per-task with --executor local sets torch threads: a whole number, got {cpus}"
            )
        return InProcessExecutor(threads=None if cpus is None else int(cpus))
    return get_executor(
        "ray",
        address=args.ray_address,
        cpus_per_task=1 if args.cpus_per_task is None else args.cpus_per_task,
        gpus_per_task=args.gpus_per_task or 0,
    )


class ArgsSubjects:
    """A picklable ``factory(seed) -> Subject`` from the command's data and model options, so
    that a sweep's seeds (and Ray workers) build their subjects as the command line says."""

    def __init__(self, args: argparse.Namespace):
        from ..storage import bamu_home

        keep = (argparse.Namespace, str, int, float, bool, list, tuple, dict, type(None))
        self.options = {k: v for k, v in vars(args).items() if isinstance(v, keep) and k != "outputs_taken"}
        self.home = str(bamu_home())

    def _key(self) -> str:
        return json.dumps({"options": self.options, "home": self.home}, sort_keys=True, default=str)

    def __eq__(self, other) -> bool:
        return isinstance(other, ArgsSubjects) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __call__(self, seed: int):
        from ..workflows.subject_recipe import _bamu_home
        from ._subject import _subject

        with _bamu_home(self.home):
            return _subject(argparse.Namespace(**{**self.options, "seed": int(seed)}))
