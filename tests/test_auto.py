"""``auto``: the search over methods and learning rates, chosen on a held-out half of validation."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from bamu_core.data import load_scenario
from bamu_core.errors import BamuInputError
from bamu_core.forget import select_forget
from bamu_core.training import predict
from bamu_core.unlearn import get_method, list_methods
from bamu_core.unlearn.auto import split_validation
from bamu_core.workflows import Subject, unlearn

QUICK = {"candidates": ["dfr", "finetune"], "lr_scales": [1.0], "folds": 1}  # one split: quicker


def _dp(model, data) -> float:
    pred = predict(model, data).argmax(1).numpy()
    return float(abs(pred[data.groups == 0].mean() - pred[data.groups == 1].mean()))


@pytest.fixture(scope="module")
def split(binary_digits, binary_baseline):
    forget, retain = select_forget(binary_digits, "aligned").split(binary_digits.train)
    return binary_baseline[0], forget, retain


@pytest.fixture(scope="module")
def quick_run(split, binary_digits):
    model, forget, retain = split
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = get_method("auto").run(
        model, forget, retain, intensity=0.75, val=binary_digits.val, hyperparameters={**QUICK, "folds": 2}, seed=0
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the input is untouched
    return res


def test_auto_is_a_method_and_the_cli_knows_it():
    assert "auto" in list_methods()


def test_the_validation_split_is_cut_in_two_disjoint_stratified_halves(binary_digits):
    val = binary_digits.val
    fit, choose = split_validation(val, 0.5, seed=3)
    assert len(np.intersect1d(fit, choose)) == 0 and len(fit) + len(choose) == len(val)
    k = int(val.labels.max()) + 1
    for cell in np.unique(val.groups * k + val.labels):
        n = int(((val.groups * k + val.labels) == cell).sum())
        in_choose = int(((val.groups[choose] * k + val.labels[choose]) == cell).sum())
        assert abs(in_choose - n / 2) <= 1  # every group x class cell split evenly
    with pytest.raises(BamuInputError, match="choose_fraction"):
        split_validation(val, 1.0, seed=0)


def test_auto_returns_the_best_admissible_candidate_and_lists_them(quick_run, split, binary_digits):
    model = split[0]
    search = quick_run.extras["auto"]
    assert quick_run.status == "ok", quick_run.message
    labels = [c.label for c in search.candidates]
    assert labels[:2] == ["dfr balanced", "dfr all"] and labels[2].startswith("finetune lr ")
    cal = search.calibration["finetune"]  # the range test placed the rate the candidate ran at
    assert cal.probes and search.candidates[2].overrides["lr"] == pytest.approx(cal.lr)
    judged = [c for c in search.candidates if c.admissible]
    best = max(judged, key=lambda c: c.gain)
    assert search.chosen == best.label and best.gain > search.gain_noise > 0
    assert any(c.pareto for c in search.candidates) and best.pareto
    assert sum(search.fit_per_group.values()) + sum(search.choose_per_group.values()) == len(binary_digits.val)
    assert f" chose {best.label}" in quick_run.message and "refitted on the whole validation split" in quick_run.message
    assert len(best.fold_gains) == 2 and best.gain == pytest.approx(sum(best.fold_gains) / 2)
    # the model changed and its test parity gap fell (the test split chose nothing)
    assert _dp(quick_run.model, binary_digits.test) < 0.5 * _dp(model, binary_digits.test)
    assert quick_run.steps == 3 and quick_run.chosen_step == 1 + [c.label for c in search.candidates].index(best.label)


def test_auto_never_sees_the_test_split(split, binary_digits):
    model, forget, retain = split
    shuffled = dataclasses.replace(binary_digits)
    rng = np.random.default_rng(0)
    shuffled.test = binary_digits.test.subset(rng.permutation(len(binary_digits.test))[: len(binary_digits.test) // 3])
    subject = Subject(scenario=binary_digits, model=model, arch="small_cnn", model_source="baseline")
    other = Subject(scenario=shuffled, model=model, arch="small_cnn", model_source="baseline")
    options = {"method": "auto", "intensity": 0.5, "hyperparameters": QUICK, "n_boot": 0, "mia_samples": 50}
    a = unlearn(subject, gradcam_images=0, **options)
    b = unlearn(other, gradcam_images=0, **options)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # the same choice with another test split
    assert a.search["chosen"] == b.search["chosen"] and a.search["candidates"][0]["label"] == "dfr balanced"


def test_when_no_candidate_changes_anything_auto_says_no_change(split, binary_digits):
    model, forget, retain = split
    res = get_method("auto").run(
        model,
        forget,
        retain,
        intensity=0.5,
        val=binary_digits.val,
        hyperparameters={"candidates": ["finetune"], "lr_scales": [0.0]},
    )
    assert res.status == "no_change" and "returned the original model" in res.message
    sd = res.model.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in model.state_dict().items())


def test_the_budget_bounds_the_search(split, binary_digits):
    model, forget, retain = split
    res = get_method("auto").run(
        model, forget, retain, intensity=0.5, val=binary_digits.val, hyperparameters={**QUICK, "budget_s": 1e-6}
    )
    search = res.extras["auto"]
    assert all(c.status == "skipped" and "budget" in c.message for c in search.candidates)
    assert res.status == "no_change"


def test_candidates_run_without_the_learning_rate_back_off(split, binary_digits, monkeypatch):
    """auto explores rates itself: a collapsing candidate is not rerun inside the search."""
    from bamu_core.unlearn._api import UnlearningMethod

    seen, original_run = [], UnlearningMethod.run

    def spy(self, *args, hyperparameters=None, **kwargs):
        seen.append((self.name, dict(hyperparameters or {})))
        return original_run(self, *args, hyperparameters=hyperparameters, **kwargs)

    monkeypatch.setattr(UnlearningMethod, "run", spy)
    model, forget, retain = split
    get_method("auto").run(model, forget, retain, intensity=0.5, val=binary_digits.val, hyperparameters=QUICK)
    trained = [hp for name, hp in seen if name == "finetune"]
    assert trained and all(hp.get("lr_backoff") == 0 for hp in trained)
    assert all("lr_backoff" not in hp for name, hp in seen if name == "dfr")


def test_a_cpu_budget_bounds_the_search_too(split, binary_digits):
    model, forget, retain = split
    hp = {**QUICK, "budget_s": 1e-6, "budget_clock": "cpu"}
    res = get_method("auto").run(model, forget, retain, intensity=0.5, val=binary_digits.val, hyperparameters=hp)
    assert all(c.status == "skipped" and "budget" in c.message for c in res.extras["auto"].candidates)
    with pytest.raises(BamuInputError, match="budget_clock must be one of wall, cpu"):
        get_method("auto").run(
            model, forget, retain, intensity=0.5, val=binary_digits.val, hyperparameters={**QUICK, "budget_clock": "x"}
        )


def test_the_cpu_budget_clock_counts_work_not_waiting():
    import time

    from bamu_core.unlearn.auto import budget_clock

    cpu_device = torch.device("cpu")
    wall, cpu = budget_clock("wall", cpu_device), budget_clock("cpu", cpu_device)
    w0, c0 = wall(), cpu()
    time.sleep(0.3)  # waiting (as for another job's turn on the cores) is not this search's work
    assert wall() - w0 >= 0.3 and cpu() - c0 < 0.05
    c1, t = cpu(), time.process_time()
    while time.process_time() - t < 0.2:  # work is
        pass
    assert cpu() - c1 >= 0.2 / torch.get_num_threads() - 1e-3
    with pytest.raises(BamuInputError, match="needs a CPU run"):
        budget_clock("cpu", torch.device("cuda"))


def test_a_cancelled_search_is_cancelled(split, binary_digits):
    model, forget, retain = split
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    res = get_method("auto").run(
        model, forget, retain, intensity=0.5, val=binary_digits.val, hyperparameters=QUICK, should_stop=stop
    )
    assert res.status == "cancelled"


def test_candidates_that_need_a_generator_are_skipped_without_one(split, binary_digits):
    model, forget, retain = split
    no_cf = copy.copy(forget)
    no_cf.counterfactual_u8 = None
    res = get_method("auto").run(
        model,
        no_cf,
        retain,
        intensity=0.5,
        val=binary_digits.val,
        hyperparameters={"candidates": ["counterfactual", "dfr"], "lr_scales": [1.0]},
    )
    first = res.extras["auto"].candidates[0]
    assert first.method == "counterfactual" and first.status == "skipped" and "bias generator" in first.message


def test_auto_needs_a_validation_split(split):
    model, forget, retain = split
    with pytest.raises(BamuInputError, match="validation"):
        get_method("auto").run(model, forget, retain, intensity=0.5, val=None)


def test_on_balanced_data_auto_picks_a_forget_set_that_selects_something(binary_baseline):
    sc = load_scenario("binary-colored-digits", aligned_fraction=0.5)  # colour independent of the class
    sc.train = copy.copy(sc.train)  # as a user's CSV: no alignment column
    sc.train.attrs = {k: v for k, v in sc.train.attrs.items() if k != "alignment"}
    sc.train.flips = tuple(f for f in sc.train.flips if f != "alignment")
    subject = Subject(scenario=sc, model=binary_baseline[0], arch="small_cnn", model_source="baseline")
    with pytest.raises(BamuInputError, match="selected no training images"):
        unlearn(subject, method="ga", intensity=0.5, n_boot=0)
    run = unlearn(
        subject,
        method="auto",
        intensity=0.5,
        hyperparameters={"candidates": ["dfr"]},
        n_boot=0,
        mia_samples=50,
        gradcam_images=0,
    )
    assert run.forget.n > 0 and "auto: 'aligned' selected nothing" in run.forget.description
    assert run.forget.strategy == "counterfactual"


def test_a_model_that_gives_nan_is_returned_unchanged_and_not_a_success(split, binary_digits):
    model, forget, retain = split
    poisoned = copy.deepcopy(model)
    poisoned.conv3.register_forward_hook(lambda _m, _i, out: out * float("nan"))
    res = get_method("auto").run(poisoned, forget, retain, intensity=0.5, val=binary_digits.val, hyperparameters=QUICK)
    assert res.status not in ("ok", "stopped_early") and res.chosen_step == 0
    assert not any(c.gain for c in res.extras["auto"].candidates if c.gain is not None)


def test_the_range_test_lowers_a_rate_that_breaks_the_model_and_caches_it(split, binary_digits):
    from bamu_core.unlearn._calibrate import FACTORS, calibrate_lr

    model, forget, retain = split
    options = dict(intensity=0.5, table_lr=0.1, bound=0.01, device="cpu", seed=0)
    cal = calibrate_lr("finetune", model, forget, retain, binary_digits.val, **options)
    rates = [lr for lr, _ in cal.probes]
    assert rates == pytest.approx([0.1 * f for f in FACTORS[: len(rates)]])  # largest first
    assert cal.lr < 0.1 and all(drop > 0.01 for _, drop in cal.probes[:-1])  # the large ones broke it
    assert cal.within_bound == (cal.probes[-1][1] <= 0.01 + 0.05)
    again = calibrate_lr("finetune", model, forget, retain, binary_digits.val, **options)
    assert again.cached and again.lr == cal.lr


def test_group_balance_draws_every_retain_cell_equally_often(split):
    from types import SimpleNamespace

    from bamu_core.unlearn._loop import Stream
    from bamu_core.unlearn._objectives import retain_weights

    _model, _forget, retain = split
    ctx = SimpleNamespace(hp={"balance": "group"}, retain=retain, device=torch.device("cpu"))
    w = retain_weights(ctx)
    k = int(retain.labels.max()) + 1
    cells = retain.groups * k + retain.labels
    totals = [w[cells == c].sum() for c in np.unique(cells)]
    assert np.allclose(totals, totals[0])  # every group x class cell weighs the same in total
    assert retain_weights(SimpleNamespace(hp={"balance": "none"}, retain=retain, device="cpu")) is None
    with pytest.raises(BamuInputError, match="balance"):
        retain_weights(SimpleNamespace(hp={"balance": "odd"}, retain=retain, device="cpu"))

    def drawn(seed):
        s = Stream(retain, batch_size=64, seed=seed, device=torch.device("cpu"), weights=w)
        return np.concatenate([s.next()[3].numpy() for _ in range(60)])

    idx = drawn(0)
    share = np.bincount(cells[idx], minlength=cells.max() + 1)[np.unique(cells)] / len(idx)
    n_cells = len(np.unique(cells))
    plain_share = np.bincount(cells, minlength=cells.max() + 1)[np.unique(cells)] / len(cells)
    assert np.allclose(share, 1 / n_cells, atol=0.3 / n_cells)  # the batches are balanced ...
    assert np.abs(share - 1 / n_cells).max() < np.abs(plain_share - 1 / n_cells).max() / 2  # ... the data is not
    assert np.array_equal(idx, drawn(0)) and not np.array_equal(idx, drawn(1))  # seeded
    with pytest.raises(BamuInputError, match="sampling weights"):
        Stream(retain, batch_size=8, seed=0, device=torch.device("cpu"), weights=np.zeros(len(retain)))
    with pytest.raises(BamuInputError, match="sampling weights"):
        Stream(retain, batch_size=8, seed=0, device=torch.device("cpu"), weights=np.ones(3))


def test_eval_every_zero_sizes_evaluation_to_a_quarter_of_the_time():
    from bamu_core.unlearn._loop import auto_eval_every

    assert auto_eval_every(600, 64, 160) == 10  # ceil(600 / 64)
    assert auto_eval_every(600, 128, 160) == 5
    assert auto_eval_every(100, 64, 40) == 2
    assert auto_eval_every(50, 64, 40) == 1
    assert auto_eval_every(10_000, 64, 40) == 5  # judged at least eight times
    assert auto_eval_every(10_000, 64, 3) == 1
    assert auto_eval_every(0, 64, 40) == 1


def test_a_run_with_eval_every_zero_evaluates_at_the_sized_steps(split, binary_digits):
    from bamu_core.unlearn._loop import auto_eval_every

    model, forget, retain = split
    hp = {"steps": 24, "eval_every": 0, "batch_size": 32}
    res = get_method("finetune").run(model, forget, retain, intensity=0.5, val=binary_digits.val, hyperparameters=hp)
    k = auto_eval_every(len(binary_digits.val) * (2 if binary_digits.val.paired else 1), 32, 24)
    assert k > 1
    judged = [e.step for e in res.history if e.val_acc is not None and e.step > 0]
    assert judged and all(s % k == 0 or s == res.steps for s in judged)
    assert judged[0] == k


def test_ga_with_group_balance_runs_and_differs_from_plain_ga(split, binary_digits):
    model, forget, retain = split
    hp = {"steps": 4, "eval_every": 2, "batch_size": 16}
    plain = get_method("ga").run(model, forget, retain, intensity=1.0, val=None, hyperparameters=hp)
    bal = get_method("ga").run(
        model, forget, retain, intensity=1.0, val=None, hyperparameters={**hp, "balance": "group"}
    )
    a, b = plain.model.state_dict(), bal.model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_a_last_layer_candidate_within_one_standard_error_of_the_best_is_preferred():
    from bamu_core.unlearn.auto import Candidate, prefer_simpler

    def cand(label, gain, admissible=True):
        return Candidate(label, "dfr", {}, gain=gain, admissible=admissible)

    best, close, far = cand("bft", 0.043), cand("dfr all", 0.040), cand("dfr balanced", 0.022)
    assert prefer_simpler(best, close, se=0.005)
    assert not prefer_simpler(best, close, se=0.002)  # 0.003 below the best: more than one SE
    assert not prefer_simpler(best, far, se=0.005)
    assert not prefer_simpler(best, cand("dfr", 0.042, admissible=False), se=0.005)
    assert not prefer_simpler(best, None, se=0.005) and not prefer_simpler(best, best, se=0.005)
    assert not prefer_simpler(best, cand("dfr", None), se=0.005)


def test_dfr_is_the_method_that_changes_the_last_layer_only():
    from bamu_core.unlearn import get_method, list_methods

    assert [m for m in list_methods() if get_method(m).last_layer_only] == ["dfr"]


def test_the_quick_search_is_a_preset_of_overrides_and_thorough_changes_nothing():
    from bamu_core.errors import BamuInputError
    from bamu_core.unlearn import SEARCH_DEPTHS, search_overrides

    quick = search_overrides("quick")
    assert quick == {"folds": 1, "lr_scales": [1.0], "candidates": ["dfr", "balanced_finetune", "counterfactual"]}
    quick["candidates"].append("ga")  # a copy: the preset itself is unchanged
    assert SEARCH_DEPTHS["quick"]["candidates"] == ["dfr", "balanced_finetune", "counterfactual"]
    assert search_overrides("thorough") == {}
    with pytest.raises(BamuInputError, match="quick, thorough"):
        search_overrides("fast")
