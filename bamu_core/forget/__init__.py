"""How a forget set is chosen: a subgroup, the bias-aligned samples, the samples a model gets
right only through the bias, the most bias-influential samples, or an explicit list.

>>> fs = select_forget(scenario, "counterfactual", model=model)
>>> forget, retain = fs.split(scenario.train)
"""

from . import strategies as _strategies  # noqa: F401  (registers the strategies)
from ._api import (
    STRATEGIES,
    ForgetSet,
    get_strategy,
    list_strategies,
    register_strategy,
    select_forget,
    strategy_summary,
)
from .strategies import ALIGNED_GROUP_NAMES, aligned_mask

__all__ = [
    "ForgetSet",
    "select_forget",
    "register_strategy",
    "get_strategy",
    "list_strategies",
    "strategy_summary",
    "STRATEGIES",
    "aligned_mask",
    "ALIGNED_GROUP_NAMES",
]
