"""Counterfactual pairs (:mod:`bamu_core.insight.counterfactual_pairs`) as typed results.

A counterfactual pair is a test image and the same image with its sensitive attribute flipped
(the colour swapped, the patch added or removed). A model that does not use the attribute gives
both the same prediction; the share of pairs whose prediction changes is the *flip rate*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._interval import Interval
from ._record import Record, nested

__all__ = ["GroupFlipRate", "FlipRate", "CounterfactualPair", "CounterfactualPairs", "PAIRS_PICTURE"]

#: The stored run's artifact holding its example pairs (original | flipped, side by side) as a PNG.
PAIRS_PICTURE = "counterfactual_pairs.png"


@dataclass
class GroupFlipRate(Record):
    """The flip rate among the images of one group (by the group of the original image)."""

    group: str = ""
    n: int = 0
    flipped: int = 0
    rate: float | None = None
    ci: Interval | None = nested(Interval, default=None)


@dataclass
class FlipRate(Record):
    """One model's flip rate: the share of the ``n`` pairs whose predicted class differs between the
    image and its counterfactual, with a bootstrap interval (images resampled within each group)."""

    n: int = 0
    flipped: int = 0
    rate: float | None = None
    ci: Interval | None = nested(Interval, default=None)
    groups: list[GroupFlipRate] = nested(GroupFlipRate, container="list")


@dataclass
class CounterfactualPair(Record):
    """One example pair: the test image ``index``, its label and group, and each model's predicted
    class on the image (``*_original``) and on its counterfactual (``*_flipped``)."""

    index: int = 0
    label: int = 0
    group: str = ""
    before_original: int | None = None
    before_flipped: int | None = None
    after_original: int | None = None
    after_flipped: int | None = None


@dataclass
class CounterfactualPairs(Record):
    """How often the prediction follows the sensitive attribute, before and after unlearning.

    ``attr`` names what the counterfactual flips (``colour``, ``patch``); ``spatial`` says whether
    the bias sits in a region of the image (a patch: Grad-CAM can show it) or not (a colour: it
    cannot). ``before`` is the original model's :class:`FlipRate`, ``after`` the unlearned
    model's; ``examples`` a few pairs (indices into the ``split``) to look at, ``classes`` the
    class names their labels and predictions index.
    """

    attr: str = ""
    spatial: bool = False
    split: str = "test"
    group_attr: str = ""
    n: int = 0
    classes: list[str] = field(default_factory=list)
    before: FlipRate | None = nested(FlipRate, default=None)
    after: FlipRate | None = nested(FlipRate, default=None, omit_none=True)
    examples: list[CounterfactualPair] = nested(CounterfactualPair, container="list")
    n_boot: int = 0
    level: float = 0.95
    seed: int = 0
    method: str = ""
    reading: str = ""
    seconds: float = 0.0
