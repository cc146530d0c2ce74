"""Membership-inference attacks: exact values on hand-made logits, chance vs memorisation on real models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from bamu_core.privacy import (
    ModelOutputs,
    attack_features,
    loss_threshold_attack,
    membership_inference,
    mia_efficacy,
    model_outputs,
    per_sample_loss,
)


def test_attack_features_exact_values():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.0]])
    labels = np.array([0, 1, 0])
    f = attack_features(logits, labels)
    z = math.exp(2) + 2
    p = np.array([math.exp(2) / z, 1 / z, 1 / z])
    assert f[0, 0] == pytest.approx(-math.log(p[0]))
    assert f[0, 1] == pytest.approx(-(p * np.log(p)).sum())
    assert f[0, 2] == pytest.approx(2.0)
    assert f[1] == pytest.approx([math.log(3), math.log(3), 0.0])
    assert f[2, 2] == pytest.approx(-2.0)  # true class 0 trails class 1 by 2
    assert per_sample_loss(torch.tensor(logits), torch.tensor(labels)) == pytest.approx(f[:, 0])


def _outputs_with_losses(losses) -> ModelOutputs:
    """Two-class logits whose cross-entropy on label 0 equals ``losses`` exactly."""
    losses = np.asarray(losses, dtype=float)
    p = np.exp(-losses)
    logits = np.stack([np.log(p), np.log1p(-p)], axis=1)
    return ModelOutputs(logits=logits, labels=np.zeros(len(losses), dtype=np.int64))


def test_loss_threshold_attack_exact_auc_and_tpr():
    low, high = _outputs_with_losses([0.1, 0.2, 0.3, 0.4]), _outputs_with_losses([0.5, 0.6, 0.7, 0.8])
    r = loss_threshold_attack(members=low, nonmembers=high)
    assert (r["auc"], r["tpr_at_1pct_fpr"], r["advantage"], r["n"]) == (1.0, 1.0, 1.0, 4)
    r = loss_threshold_attack(members=high, nonmembers=low)
    assert (r["auc"], r["tpr_at_1pct_fpr"]) == (0.0, 0.0)
    # interleaved: members 0.1, 0.3 ranks vs non-members 0.2, 0.4 -> 3 of 4 pairs ordered correctly
    r = loss_threshold_attack(members=_outputs_with_losses([0.1, 0.3]), nonmembers=_outputs_with_losses([0.2, 0.4]))
    assert r["auc"] == pytest.approx(0.75)
    assert r["tpr_at_1pct_fpr"] == pytest.approx(0.5)


def test_loss_threshold_attack_balances_sizes_with_a_seed():
    rng = np.random.default_rng(0)
    m = _outputs_with_losses(rng.uniform(0.01, 2, size=50))
    n = _outputs_with_losses(rng.uniform(0.01, 2, size=300))
    a = loss_threshold_attack(members=m, nonmembers=n, seed=3)
    b = loss_threshold_attack(members=m, nonmembers=n, seed=3)
    c = loss_threshold_attack(members=m, nonmembers=n, seed=4)
    assert a == b and a["n"] == 50
    assert a["auc"] != c["auc"]
    assert loss_threshold_attack(members=m, nonmembers=n, max_samples=20)["n"] == 20


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"members": ([[0.0, 1.0]], [0]), "nonmembers": ([[0.0, 1.0]] * 3, [0] * 3)}, "members needs at least 2"),
        ({"members": ([[0.0, 1.0]] * 3, [0, 1]), "nonmembers": ([[0.0, 1.0]] * 3, [0] * 3)}, "one entry per row"),
        (
            {"members": ([[0.0, 1.0]] * 3, [0, 1, 2]), "nonmembers": ([[0.0, 1.0]] * 3, [0] * 3)},
            r"labels must lie in \[0, 1\]",
        ),
        ({"members": ([[0.0, float("nan")]] * 3, [0] * 3), "nonmembers": ([[0.0, 1.0]] * 3, [0] * 3)}, "NaN"),
        ({"members": [1, 2, 3], "nonmembers": ([[0.0, 1.0]] * 3, [0] * 3)}, r"\(logits, labels\) pair"),
    ],
)
def test_attacks_reject_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        loss_threshold_attack(**kwargs)


def test_mia_efficacy_rejects_an_unknown_attack():
    o = _outputs_with_losses([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="attack must be one of logistic, boosting"):
        mia_efficacy(retain=o, test=o, forget=o, attack="svm")


@pytest.mark.parametrize("attack", ["logistic", "boosting"])
def test_mia_efficacy_on_separable_hand_made_outputs(attack):
    rng = np.random.default_rng(0)
    retain = _outputs_with_losses(rng.uniform(0.001, 0.01, size=60))  # members: tiny loss
    test = _outputs_with_losses(rng.uniform(0.5, 2.0, size=80))  # non-members: large loss
    forget_like_train = _outputs_with_losses(rng.uniform(0.001, 0.01, size=40))
    forget_like_test = _outputs_with_losses(rng.uniform(0.5, 2.0, size=40))
    a = mia_efficacy(retain=retain, test=test, forget=forget_like_train, attack=attack)
    b = mia_efficacy(retain=retain, test=test, forget=forget_like_test, attack=attack)
    assert a["efficacy"] == 0.0 and b["efficacy"] == 1.0
    assert a["attack_accuracy"] == 1.0 and a["n_shadow"] == 60 and a["n_forget"] == 40


# --- real models ---------------------------------------------------------------------------


class _MLP(nn.Module):
    def __init__(self, d_in: int, k: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(d_in, 128), nn.ReLU(), nn.Linear(128, k))

    def forward(self, x):
        return self.net(x)


@pytest.fixture(scope="module")
def memoriser(digits):
    """An MLP that memorises 200 training digits with random labels (100 forget + 100 retain)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train = digits.train.subset(np.arange(200))
    train.labels = rng.integers(0, 10, size=200)
    unseen = digits.test.subset(np.arange(200))
    unseen.labels = rng.integers(0, 10, size=200)  # the same kind of labels, never trained on
    model = _MLP(int(np.prod(digits.image_shape)), 10)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = train.images(np.arange(200)), torch.as_tensor(train.labels)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() == 1.0  # memorised
    return model, train, unseen


@pytest.fixture(scope="module")
def memoriser_outputs(memoriser):
    """Outputs of the memoriser: forget / retain = the two trained halves; held-out / test = unseen."""
    model, train, unseen = memoriser
    out_train, out_unseen = model_outputs(model, train), model_outputs(model, unseen)
    return {
        "forget": ModelOutputs(out_train.logits[:100], out_train.labels[:100]),
        "retain": ModelOutputs(out_train.logits[100:], out_train.labels[100:]),
        "held_out": ModelOutputs(out_unseen.logits[100:], out_unseen.labels[100:]),
        "test": ModelOutputs(out_unseen.logits[:100], out_unseen.labels[:100]),
    }


def test_mia_is_clearly_above_chance_for_a_model_that_memorised_the_forget_set(memoriser_outputs):
    o = memoriser_outputs
    r = membership_inference(forget=o["forget"], retain=o["retain"], test=o["test"], seed=0)
    assert r["auc"] > 0.95, r  # class-matched
    assert r["auc_ci"]["low"] > 0.85 and r["advantage"] > 0.8, r
    assert r["auc_vs_all_test"] > 0.95, r
    assert r["tpr_at_1pct_fpr_vs_all_test"] > 0.1, r  # chance would be about 0.01 (100 per side)
    assert r["efficacy"] < 0.1, r  # the attack calls (almost) every forget sample a member
    assert r["attack_accuracy"] > 0.9, r
    assert (r["n_forget"], r["n_test"], r["n_shadow"]) == (100, 100, 100)
    assert 50 <= r["n_pairs"] <= 100 and r["matching"] == "class"  # per class: the smaller side


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mia_is_near_chance_for_data_the_model_never_trained_on(memoriser_outputs, seed):
    o = memoriser_outputs
    r = membership_inference(forget=o["held_out"], retain=o["retain"], test=o["test"], seed=seed)
    assert abs(r["auc"] - 0.5) < 0.1, r
    assert r["efficacy"] > 0.9, r  # unseen samples are called non-members


def test_model_outputs_runs_a_subset_and_leaves_the_model_alone(digits, memoriser):
    model = memoriser[0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    out = model_outputs(model, digits.test, indices=[3, 1, 4])
    assert out.logits.shape == (3, 10)
    assert list(out.labels) == list(digits.test.labels[[3, 1, 4]])
    assert model.training  # mode restored
    model.eval()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
