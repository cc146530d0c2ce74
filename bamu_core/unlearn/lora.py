"""``lora``: PEFT LoRA adapters on the conv / linear layers, trained with the ascent objective.

Only the low-rank adapters are trained (forget-set gradient ascent plus retain-set descent, as
``ga``); the base weights stay frozen. The result's ``model`` has the adapter merged
(``merge_and_unload``), so it is a plain module with the input's state-dict keys that saves and
loads as the registered architecture. The adapter itself is kept in ``result.extras["lora"]``
(a :class:`LoRAAdapter`): ``adapter.apply(model)`` attaches it to a copy of a base model as a
PEFT model whose ``unload()`` gives the base model back exactly, and ``adapter.merge(model)``
returns the merged copy.

Targets: the architecture's ``lora_targets`` (module-name suffixes, e.g. ``conv1``, ``fc``) when
the model is a registered architecture, else every ``nn.Conv2d`` and ``nn.Linear``;
``hyperparameters={"targets": [...]}`` overrides them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch.nn as nn

from .._compat import import_torchvision
from ..errors import BamuInputError
from ._api import Outcome, RunContext, UnlearningMethod, register_method
from ._loop import run_loop
from ._objectives import ascent_loss, make_streams, retain_weights

__all__ = ["LoRAAdapter", "lora_targets"]


def _peft():
    import_torchvision()  # PEFT imports transformers, which imports torchvision
    import peft

    return peft


def lora_targets(model: nn.Module, arch=None) -> list[str]:
    """Module-name suffixes to adapt: the architecture's (``arch``, else recognised from the
    model's structure), else all conv / linear layers (:func:`bamu_core.models.lora_targets`)."""
    from ..models.introspect import lora_targets as targets_of

    return targets_of(model, arch)


@dataclass
class LoRAAdapter:
    """A trained LoRA adapter, separate from the base weights.

    Attributes
    ----------
    state : dict of str -> torch.Tensor
        The adapter weights (``lora_A`` / ``lora_B`` of every adapted layer), on the CPU.
    config : dict
        ``r``, ``lora_alpha``, ``target_modules``.
    """

    state: dict
    config: dict

    def apply(self, model: nn.Module) -> nn.Module:
        """A PEFT model: a deep copy of ``model`` with this adapter attached (``model`` untouched).

        ``.unload()`` on it returns the base model without the adapter, bit for bit;
        ``.merge_and_unload()`` returns the base model with the adapter merged.
        """
        peft = _peft()
        base = copy.deepcopy(model).to("cpu")
        pm = peft.get_peft_model(base, peft.LoraConfig(lora_dropout=0.0, **self.config))
        result = peft.set_peft_model_state_dict(pm, self.state)
        missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
        if missing:
            raise BamuInputError(
                f"the adapter does not fit this model: {len(missing)} adapter weight(s) missing, e.g. {missing[0]}"
            )
        return pm.eval()

    def merge(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` with the adapter merged into its weights."""
        return self.apply(model).merge_and_unload().eval()

    def num_parameters(self) -> int:
        return int(sum(t.numel() for t in self.state.values()))


@register_method("lora")
class LoRAUnlearning(UnlearningMethod):
    summary = "LoRA adapters (PEFT) on conv/linear layers trained by forget ascent + retain descent; undoable"

    def _unlearn(self, ctx: RunContext) -> tuple[nn.Module, Outcome]:
        peft = _peft()
        hp = ctx.hp
        targets = list(hp["targets"]) if hp.get("targets") else lora_targets(ctx.model)
        config = {"r": int(hp["rank"]), "lora_alpha": float(hp["alpha"]), "target_modules": targets}
        pm = peft.get_peft_model(ctx.model, peft.LoraConfig(lora_dropout=0.0, **config))
        params = [p for p in pm.parameters() if p.requires_grad]
        streams = make_streams(ctx, forget=True, retain=hp["retain_weight"] > 0, retain_sampling=retain_weights(ctx))

        def loss_fn(b, tally):
            return ascent_loss(pm, b, tally, forget_weight=hp["forget_weight"], retain_weight=hp["retain_weight"])

        outcome = run_loop(ctx, net=pm, params=params, streams=streams, loss_fn=loss_fn)
        state = {k: v.detach().to("cpu").clone() for k, v in peft.get_peft_model_state_dict(pm).items()}
        adapter = LoRAAdapter(state=state, config=config)
        merged = pm.merge_and_unload()
        outcome.extras["lora"] = adapter
        outcome.extras["lora_parameters"] = adapter.num_parameters()
        return merged, outcome
