"""How long loading a built-in scenario takes the first time (its baseline is then cached), so
that a front end can say so before the user starts.

One table, :data:`LOAD_TIMES`, keyed by scenario; each figure names the measurement it comes
from. Scenarios not in it load in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoadTime", "LOAD_TIMES", "expected_load_time"]


@dataclass(frozen=True)
class LoadTime:
    """The first load of a scenario: measured seconds on a CPU and on a GPU, and where they come from."""

    cpu_seconds: float
    gpu_seconds: float
    cpu_machine: str
    source: str

    def words(self) -> str:
        """E.g. ``about 3.5 min on a 2-core CPU (longer while other work shares it), ...``."""
        return (
            f"about {_duration(self.cpu_seconds)} on {self.cpu_machine} (longer while other work shares it), "
            f"about {_duration(self.gpu_seconds)} on a GPU, the first time; then its baseline is cached"
        )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


#: First-load times by scenario. ``patch-cifar10`` trains a ResNet-20 for 4 epochs from the
#: shared pretrained weights (layer3 and the classifier re-initialised). The CPU figure is the
#: median of the "baseline train s" column of benchmarks/results/cifar_patch.md (143, 157 and
#: 136 s on a 2-core CPU, one torch thread, the cores shared with other benchmark parts). The GPU
#: figure is the earlier H100 run of the same benchmark (9 and 10 s; in that file's history).
LOAD_TIMES: dict[str, LoadTime] = {
    "patch-cifar10": LoadTime(
        cpu_seconds=143.0,
        gpu_seconds=10.0,
        cpu_machine="a 2-core CPU",
        source="benchmarks/results/cifar_patch.md",
    ),
}


def expected_load_time(scenario: str) -> LoadTime | None:
    """How long the first load of built-in ``scenario`` takes (None: seconds, not worth a warning)."""
    return LOAD_TIMES.get(scenario)
