"""Injected faults and concurrency: nothing is lost, nothing half-written, nothing mixed up.

- divergence (NaN, +inf, an exploding learning rate) ends a run ``diverged`` with the last good model;
- a cancelled run (through ``unlearn()`` or a background job) leaves its ``cancelled`` row and no
  artifacts; a write that fails midway leaves a ``failed`` row and no artifacts;
- a ``bamu unlearn`` process killed with SIGKILL mid-run leaves a row the next start marks ``failed``;
- running out of (GPU) memory halves the batch with a warning and carries on;
- two sessions unlearning at once through the job queue and the run store get their own results,
  one job at a time per device, the second waiting with a visible queue position.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest
import torch
from reliability_kit import (
    FAST,
    QUICK_RUN,
    REPO,
    Case,
    files_under,
    model_file,
    reliability,
    same_state,
    state_of,
    tiny_model,
    tiny_subject,
    write_folder,
)

from bamu_core.forget import get_strategy, select_forget
from bamu_core.memory import BatchSizeWarning
from bamu_core.models import read_state_dict
from bamu_core.runs import RunStore
from bamu_core.training import StopRequested, fit, predict
from bamu_core.unlearn import get_method
from bamu_core.workflows import unlearn


def _forget_retain(subject, strategy="group:red"):
    fs = select_forget(subject.scenario, strategy, model=subject.model)
    return fs.split(subject.scenario.train, seed=0)


class _Poison:
    """A forward hook that, once armed, turns the next ``calls`` outputs into ``value``."""

    def __init__(self, value: float, calls: int = 1):
        self.value, self.calls, self.armed = value, calls, False

    def __call__(self, _module, _inputs, out):
        if self.armed and self.calls > 0:
            self.calls -= 1
            return out * self.value
        return out

    def attach(self, model) -> None:
        # a function, not this object: copies of the model (methods work on one) share its state
        model.fc.register_forward_hook(lambda m, i, out: self(m, i, out))

    def arm_after(self, step: int):
        def progress(event):
            if event.step == step:
                self.armed = True

        return progress


def _poisoned(value: float):
    model = tiny_model()
    poison = _Poison(value)
    poison.attach(model)
    return model, poison


def _nan_at_step_3():
    return _poisoned(float("nan")), {}


def _inf_at_step_3():
    return _poisoned(float("inf")), {}


def _exploding_lr():
    return (tiny_model(), None), {"lr": 50.0, "steps": 12}


DIVERGENCE = [
    Case(
        "ga-nan-loss",
        "status diverged after step 2; the model of step 2 (the last good one) is returned",
        _nan_at_step_3,
    ),
    Case("ga-inf-loss", "status diverged after step 2; the model of step 2 is returned", _inf_at_step_3),
    Case(
        "ga-exploding-lr",
        "learning rate 50: status diverged (non-finite loss or collapse); finite weights of a good step",
        _exploding_lr,
    ),
]


@pytest.mark.parametrize("case", DIVERGENCE, ids=lambda c: c.id)
def test_divergence_stops_as_diverged_with_the_last_good_model(case):
    subject = tiny_subject()
    forget, retain = _forget_retain(subject)
    (model, poison), extra = case.make()
    hp = {**FAST, "steps": 6, "lr_backoff": 0, **extra}  # the guard itself, without the retries at lower rates
    res = get_method("ga").run(
        model,
        forget,
        retain,
        intensity=1.0,
        val=None,
        hyperparameters=hp,
        progress=poison.arm_after(2) if poison else None,
    )
    assert res.status == "diverged", res.message
    assert all(torch.isfinite(p).all() for p in res.model.state_dict().values())
    if poison is None:
        assert "loss became" in res.message or "collapse" in res.message
        assert res.chosen_step < hp["steps"]
        return
    assert res.steps == 2 and res.chosen_step == 2 and "at step 3" in res.message
    clean = get_method("ga").run(
        tiny_model(), forget, retain, intensity=1.0, val=None, hyperparameters={**hp, "steps": 2}
    )
    assert same_state(state_of(res.model), state_of(clean.model))  # exactly the model after step 2


@reliability("fault", "library: unlearn() + run store")
def test_a_diverged_run_is_stored_as_diverged_with_its_last_good_weights(tmp_path):
    """NaN loss at step 3 of a stored run: the run is saved with status diverged and the weights of its last good checkpoint."""
    subject = tiny_subject()
    poison = _Poison(float("nan"))
    poison.attach(subject.model)
    store = RunStore(tmp_path / "runs")
    run = unlearn(
        subject,
        method="ga",
        intensity=1.0,
        forget="group:red",
        store=store,
        hyperparameters={**FAST, "steps": 6, "lr_backoff": 0},  # an injected NaN: a lower rate is no cure
        progress=poison.arm_after(2),
        **QUICK_RUN,
    )
    assert run.status == "diverged" and "loss became nan at step 3" in run.message
    record = store.get(run.run_id)
    assert record.status == "complete" and record.result["status"] == "diverged"
    saved = read_state_dict(record.artifact("unlearned.safetensors"))  # refuses non-finite weights
    assert same_state(saved, state_of(run.model))


# ------------------------------------------------------------------------------------------------
# cancel and failure: no half-written artifacts
# ------------------------------------------------------------------------------------------------


def _nothing_but_the_row(store: RunStore, run_id: str) -> None:
    assert files_under(store.root / ".staging") == []
    assert not (store.root / run_id).exists()
    assert [f for f in files_under(store.root) if not f.startswith("runs.sqlite3")] == []


@reliability("fault", "library: unlearn() + run store")
def test_a_run_cancelled_midway_leaves_its_cancelled_row_and_no_artifacts(tmp_path):
    """Cancel before step 3 of 30: StopRequested, the run's row says cancelled, no artifact, staging or temp file is left."""
    store = RunStore(tmp_path / "runs")
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(StopRequested, match="cancelled before step 3 of 30.*nothing was saved"):
        unlearn(
            tiny_subject(),
            method="ga",
            intensity=0.5,
            forget="group:red",
            store=store,
            hyperparameters={**FAST, "steps": 30},
            should_stop=should_stop,
            **QUICK_RUN,
        )
    [record] = store.list()
    assert record.status == "cancelled" and "nothing was saved" in record.message
    _nothing_but_the_row(store, record.run_id)


@reliability("fault", "library: unlearn() + run store")
def test_a_cancel_while_the_result_is_measured_saves_nothing(tmp_path):
    """Cancel while the finished run is being measured: nothing is saved, the row says cancelled."""
    store = RunStore(tmp_path / "runs")
    done = threading.Event()

    def progress(event):
        if event.step == event.total:
            done.set()  # the method has finished; the cancel arrives during the evaluation

    with pytest.raises(StopRequested, match="while its result was being measured"):
        unlearn(
            tiny_subject(),
            method="ga",
            intensity=0.5,
            forget="group:red",
            store=store,
            hyperparameters=FAST,
            progress=progress,
            should_stop=done.is_set,
            **QUICK_RUN,
        )
    [record] = store.list()
    assert record.status == "cancelled"
    _nothing_but_the_row(store, record.run_id)


@reliability("fault", "library: unlearn() + run store")
def test_a_write_that_fails_midway_leaves_a_failed_row_and_no_artifacts(tmp_path, monkeypatch):
    """Disk full after the weights and one audit were written: the row says failed with the error; the written files are gone."""
    from bamu_core.runs import RunWriter

    real = RunWriter.add_json
    written = []

    def add_json(self, name, obj):
        if name == "audit_after.json":  # the weights and the first audit are already on disk
            written.extend(files_under(self.folder))
            raise OSError(28, "No space left on device")
        return real(self, name, obj)

    monkeypatch.setattr(RunWriter, "add_json", add_json)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(OSError, match="No space left"):
        unlearn(
            tiny_subject(),
            method="ga",
            intensity=0.5,
            forget="group:red",
            store=store,
            hyperparameters=FAST,
            **QUICK_RUN,
        )
    assert "unlearned.safetensors" in written and "audit_before.json" in written
    [record] = store.list()
    assert record.status == "failed" and "No space left on device" in record.message
    _nothing_but_the_row(store, record.run_id)


@reliability("fault", "dashboard job + run store")
def test_a_job_cancelled_from_the_dashboard_keeps_no_result_and_no_artifacts(tmp_path):
    """Cancel of a running background job: job cancelled without result, the run's row cancelled, no artifacts."""
    from bamu_core.jobs import JobManager
    from dashboard.tasks import unlearn_task

    store = RunStore(tmp_path / "runs")
    manager = JobManager()
    started = threading.Event()

    def progress(event):
        started.set()
        time.sleep(0.05)

    fn = unlearn_task(
        tiny_subject(),
        method="ga",
        intensity=0.5,
        forget="group:red",
        hyperparameters={**FAST, "steps": 400},
        store=store,
        **QUICK_RUN,
    )
    job = manager.submit(lambda p, s: fn(lambda ev: (p(ev), progress(ev)), s), kind="unlearn", owner="tab-1")
    try:
        assert started.wait(60)
        assert manager.cancel(job.id)
        manager.wait(job.id, timeout=60)
    finally:
        manager.shutdown()
    assert job.state == "cancelled" and job.result is None and job.error is None
    [record] = store.list()
    assert record.status == "cancelled"
    _nothing_but_the_row(store, record.run_id)


# ------------------------------------------------------------------------------------------------
# a process killed mid-run
# ------------------------------------------------------------------------------------------------


@reliability("fault", "command line (own process)")
def test_a_bamu_unlearn_killed_mid_run_is_marked_failed_on_the_next_start(tmp_path, monkeypatch, capsys):
    """`bamu unlearn` killed with SIGKILL at step 10: the next start (`bamu runs`) marks its row failed naming the pid; no artifacts, no partial --out file."""
    from bamu_core.cli import main

    root, meta = write_folder(tmp_path / "d", n_per=8)
    ckpt = model_file(tmp_path / "m.safetensors")
    out = tmp_path / "out" / "unlearned.safetensors"
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BAMU_HOME": str(home),
        "BAMU_DEVICE": "cpu",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }
    argv = [
        "unlearn",
        "--data",
        str(root),
        "--meta",
        str(meta),
        "--image-size",
        "16",
        "--model",
        str(ckpt),
        "--arch",
        "small_cnn",
        "--method",
        "finetune",
        "--intensity",
        "0.5",
        "--forget",
        "group:a",
        "--hp",
        "steps=100000",
        "--hp",
        "patience=100000",
        "--hp",
        "collapse_drop=1",
        "--out",
        str(out),
        "--mkdir",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bamu_core", *argv],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    seen = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if "finetune: step 10/100000" in line or not line:
                break
        assert "finetune: step 10/100000" in seen[-1], seen
        running = RunStore(home / "runs").list()  # the writer is alive: its row stays running
        assert [r.status for r in running] == ["running"] and running[0].pid == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    monkeypatch.setenv("BAMU_HOME", str(home))
    assert main(["runs", "--status", "failed", "--json", str(tmp_path / "failed.json")]) == 0  # the next start
    [failed] = json.loads((tmp_path / "failed.json").read_text())["runs"]
    assert failed["run_id"] == running[0].run_id and f"pid {proc.pid}" in failed["message"]
    assert "ended before it finished" in failed["message"]
    store = RunStore(home / "runs")
    _nothing_but_the_row(store, failed["run_id"])
    assert not out.parent.exists() or files_under(out.parent) == []  # no half-written model either


# ------------------------------------------------------------------------------------------------
# out of memory: a smaller batch, with a warning
# ------------------------------------------------------------------------------------------------


def _oom_above(model, limit: int):
    """Make ``model`` raise CUDA's out-of-memory error for batches larger than ``limit`` (a forward
    pre-hook, so that a deep copy of the model, as methods train, raises too and trains itself)."""

    def refuse(_module, args):
        x = args[0]
        if x.shape[0] > limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {x.shape[0] * 4} MiB")

    model.register_forward_pre_hook(refuse)
    return model


def _messages(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, BatchSizeWarning)]


@reliability("fault", "library: predict()")
def test_inference_out_of_memory_halves_the_batch_and_gives_the_same_logits():
    """CUDA out of memory above 10 images: the batch halves 64 -> 8 with a BatchSizeWarning each time; logits identical."""
    data = tiny_subject().scenario.test
    model = tiny_model()
    expected = predict(model, data, batch_size=64)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = predict(_oom_above(model, 10), data, batch_size=64)
    assert torch.equal(got, expected)
    assert _messages(record) == [
        "inference: out of memory with batch size 64; continuing with batch size 32",
        "inference: out of memory with batch size 32; continuing with batch size 16",
        "inference: out of memory with batch size 16; continuing with batch size 8",
    ]


@reliability("fault", "library: fit()")
def test_training_out_of_memory_splits_each_step_and_keeps_the_step_count():
    """CUDA out of memory above 12 images: each step's batch is split (gradients accumulated), same number of steps and loss, with warnings."""
    data = tiny_subject().scenario.train
    steps = []
    torch.manual_seed(0)
    reference = copy.deepcopy(tiny_model())
    ref_losses = fit(reference, data, epochs=1, lr=1e-3, batch_size=32, optimizer="adam")
    model = _oom_above(tiny_model(), 12)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        losses = fit(
            model,
            data,
            epochs=1,
            lr=1e-3,
            batch_size=32,
            optimizer="adam",
            progress=lambda ev: steps.append((ev.step, ev.total)),
        )
    assert steps == [(1, 2), (2, 2)]  # 64 images, batch 32: still two optimiser steps
    assert _messages(record) == [
        "training: out of memory with batch size 32; continuing with batch size 16",
        "training: out of memory with batch size 16; continuing with batch size 8",
    ]
    assert losses[0] == pytest.approx(ref_losses[0], rel=1e-4)  # the same steps, in chunks


@reliability("fault", "library: unlearning loop")
def test_unlearning_out_of_memory_cuts_the_batches_and_says_so():
    """CUDA out of memory above 4 images: batches cut 16 -> 4 with warnings; the run finishes ok and its message says so."""
    subject = tiny_subject()
    forget, retain = _forget_retain(subject)
    model = _oom_above(tiny_model(), 4)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = get_method("ga").run(model, forget, retain, intensity=0.5, val=None, hyperparameters={**FAST, "steps": 3})
    assert res.status == "ok" and res.steps == 3
    assert "ran out of memory, so batches were cut to 4 images" in res.message
    messages = _messages(record)
    assert "unlearning step 1: out of memory with batch size 16; continuing with batch size 8" in messages
    assert "unlearning step 1: out of memory with batch size 8; continuing with batch size 4" in messages


@reliability("fault", "library: predict()")
def test_out_of_memory_with_one_image_is_a_clear_error_and_other_errors_pass_through():
    """Out of memory even for one image: MemoryError saying what to change; other runtime errors pass through unchanged."""
    data = tiny_subject().scenario.test
    with pytest.raises(MemoryError, match="out of memory even with one image per batch; use a smaller image size"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predict(_oom_above(tiny_model(), 0), data, batch_size=4)
    model = tiny_model()
    model.forward = lambda x: (_ for _ in ()).throw(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        predict(model, data, batch_size=4)


@reliability("fault", "command line")
def test_bamu_prints_the_out_of_memory_fallback_as_one_line_warnings(tmp_path, capsys, monkeypatch):
    """Out of memory during `bamu audit`: exit 0, one `bamu audit: warning:` line per halving (512 -> 4)."""
    from bamu_core.cli import main
    from bamu_core.models import build_model

    root, meta = write_folder(tmp_path / "d", n_per=8)  # 8 test images
    ckpt = model_file(tmp_path / "m.safetensors")
    cls = type(build_model("small_cnn", num_classes=2))
    original = cls.forward

    def forward(self, x):
        if x.shape[0] > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return original(self, x)

    monkeypatch.setattr(cls, "forward", forward)
    argv = [
        "audit",
        "--data",
        str(root),
        "--meta",
        str(meta),
        "--image-size",
        "16",
        "--model",
        str(ckpt),
        "--arch",
        "small_cnn",
        "--n-boot",
        "0",
        "--saliency-per-group",
        "0",
    ]
    assert main(argv) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    sizes = [512, 256, 128, 64, 32, 16, 8, 4]
    assert warned == [
        f"bamu audit: warning: inference: out of memory with batch size {a}; continuing with batch size {b}"
        for a, b in zip(sizes, sizes[1:])
    ]


# ------------------------------------------------------------------------------------------------
# concurrency: two sessions at once
# ------------------------------------------------------------------------------------------------


@reliability("concurrency", "dashboard jobs + run store")
@pytest.mark.parametrize("cap", [1, 2])
def test_two_sessions_unlearning_at_once_queue_and_keep_their_own_runs(tmp_path, cap):
    """Two sessions start unlearning at once: they run side by side (fair sharing), or with BAMU_MAX_CONCURRENT_JOBS=1 one waits at queue position 1; each gets its own run, weights and config; the shared model is untouched."""
    from bamu_core.jobs import JobManager
    from dashboard.tasks import unlearn_task

    subject = tiny_subject()  # shared by both sessions, as the dashboard's subject store shares it
    original = state_of(subject.model)
    store = RunStore(tmp_path / "runs")
    manager = JobManager(max_concurrent=cap)  # cap 1: one job at a time on the device (BAMU_MAX_CONCURRENT_JOBS=1)
    gate = threading.Event()

    def gated(fn):
        def run(progress, should_stop):
            gate.wait(60)
            return fn(progress, should_stop)

        return run

    jobs = {}
    for owner, method in (("tab-a", "ga"), ("tab-b", "finetune")):
        fn = unlearn_task(
            subject, method=method, intensity=0.5, forget="group:red", hyperparameters=FAST, store=store, **QUICK_RUN
        )
        jobs[owner] = manager.submit(gated(fn), kind="unlearn", owner=owner, device="cpu", label=method)
    try:
        a, b = jobs["tab-a"], jobs["tab-b"]
        deadline = time.time() + 10
        while (a.state != "running" or (cap > 1 and b.state != "running")) and time.time() < deadline:
            time.sleep(0.01)
        if cap == 1:
            assert (a.state, b.state) == ("running", "queued")
            assert manager.queue_position(a) == 0 and manager.queue_position(b) == 1
        else:  # another session's job does not wait
            assert (a.state, b.state) == ("running", "running")
            assert manager.queue_position(a) == manager.queue_position(b) == 0
        assert [j.owner for j in manager.jobs(owner="tab-b")] == ["tab-b"]
        gate.set()
        manager.wait(a.id, timeout=120)
        manager.wait(b.id, timeout=120)
    finally:
        gate.set()
        manager.shutdown()
    assert a.state == b.state == "done", (a.error, b.error)
    if cap == 1:
        assert a.finished <= b.started  # one job at a time on the device
    assert (a.result.method, b.result.method) == ("ga", "finetune")
    assert a.result.run_id != b.result.run_id
    for job in (a, b):
        record = store.get(job.result.run_id)
        assert record.status == "complete" and record.config["method"] == job.result.method
        assert same_state(read_state_dict(record.artifact("unlearned.safetensors")), state_of(job.result.model))
    assert same_state(state_of(subject.model), original)  # the shared model is untouched


@reliability("concurrency", "library: unlearn() + run store")
def test_two_unlearning_runs_in_parallel_threads_match_their_solo_results(tmp_path):
    """Two unlearn() calls in parallel threads on one shared model and store: both complete with exactly the weights of their solo runs."""
    subject = tiny_subject()
    forget, retain = _forget_retain(subject)
    hp = {**FAST, "steps": 6}
    solo = {
        m: state_of(
            get_method(m)
            .run(subject.model, forget, retain, intensity=0.5, val=subject.scenario.val, hyperparameters=hp)
            .model
        )
        for m in ("ga", "finetune")
    }
    store = RunStore(tmp_path / "runs")
    results, errors = {}, []
    start = threading.Barrier(2)

    def work(method):
        try:
            start.wait(10)
            results[method] = unlearn(
                subject, method=method, intensity=0.5, forget="group:red", store=store, hyperparameters=hp, **QUICK_RUN
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in ("ga", "finetune")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors
    assert {r.status for r in store.list()} == {"complete"} and len(store) == 2
    for method, run in results.items():
        assert same_state(state_of(run.model), solo[method]), method
        assert same_state(read_state_dict(store.get(run.run_id).artifact("unlearned.safetensors")), solo[method])


def _never_moved(model):
    """Make ``model`` (not its copies) raise if anything moves or converts it in place."""
    original = model

    def _apply(self, fn, *args, **kwargs):
        if self is original:
            raise AssertionError("the shared model was moved or converted in place")
        return type(self).__mro__[1]._apply(self, fn, *args, **kwargs)

    model.__class__ = type("NeverMoved", (type(model),), {"_apply": _apply})
    return model


@reliability("concurrency", "library: audit(), forget sets, unlearn()")
def test_the_shared_model_is_never_moved_in_place():
    """audit(), the counterfactual and influence forget sets and unlearn() (with Grad-CAM strips) never move the subject's model, which other sessions' threads may be using."""
    from bamu_core.workflows import audit

    subject = tiny_subject()
    before = state_of(subject.model)
    _never_moved(subject.model)
    audit(subject, n_boot=0, saliency_per_group=2)
    get_strategy("counterfactual")(subject.scenario, model=subject.model)  # (it may select none here)
    select_forget(subject.scenario, "influence:5", model=subject.model)
    run = unlearn(
        subject,
        method="ga",
        intensity=0.5,
        forget="group:red",
        store=None,
        hyperparameters=FAST,
        **{**QUICK_RUN, "gradcam_images": 2},
    )
    assert run.status in ("ok", "stopped_early", "no_change") and same_state(state_of(subject.model), before)


def test_on_device_uses_the_model_in_place_or_a_copy():
    from bamu_core._compat import on_device

    model = tiny_model()
    with on_device(model, "cpu") as same:
        assert same is model
    with on_device(model, "meta") as moved:  # another device: a copy goes there, the model stays
        assert moved is not model and next(moved.parameters()).device.type == "meta"
    assert next(model.parameters()).device.type == "cpu"


README_TABLES = [("fault", "library: unlearning method (ga)", DIVERGENCE)]


_HOLD_A_RUN = """
import sys, time
from bamu_core.runs import RunStore
store = RunStore(sys.argv[1])
handle = store.start(kind="unlearn", config={"scenario": "x", "method": "ga"})
handle.add_json("a.json", {"ok": 1})
print(handle.run_id, flush=True)
sys.stdin.readline()  # wait for the test
handle.complete({"method": "ga", "score": 0.5})
print("done", flush=True)
"""


def _start_holder(root, *, prefix=()):
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-c", _HOLD_A_RUN, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    run_id = proc.stdout.readline().strip()
    return proc, run_id


@reliability("fault", "run store (another PID namespace)")
def test_a_live_run_whose_pid_is_not_visible_here_is_not_declared_dead(tmp_path, monkeypatch):
    """A run written by a live process whose pid this process cannot see (another PID namespace sharing BAMU_HOME): the next RunStore() leaves it running (its lease is held) and it completes with its work; once the writer is killed, the run becomes failed."""
    from bamu_core.runs import _lease, _store

    root = tmp_path / "runs"
    proc, run_id = _start_holder(root)
    try:
        assert run_id, proc.stderr.read()
        monkeypatch.setattr(_lease, "_process_alive", lambda pid, start: False)  # its pid means nothing here
        monkeypatch.setattr(_store, "_process_alive", lambda pid, start: False)
        assert RunStore(root).get(run_id).status == "running"
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        record = RunStore(root).get(run_id)
        assert record.status == "complete" and record.result["score"] == 0.5 and "a.json" in record.artifacts
    finally:
        proc.kill()
        proc.wait()
    proc, run_id = _start_holder(root)
    proc.kill()  # SIGKILL: the kernel drops the lease
    proc.wait()
    record = RunStore(root).get(run_id)
    assert record.status == "failed" and "ended before it finished" in record.message
    assert not (root / ".staging" / run_id).exists() and not (root / ".leases" / f"{run_id}.lock").exists()


def test_a_run_in_a_real_new_pid_namespace_stays_running(tmp_path):
    """The same with a real PID namespace (unshare), where the machine allows one."""
    root = tmp_path / "runs"
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this machine does not allow a new PID namespace (unshare --pid)")
    proc, run_id = _start_holder(root, prefix=("unshare", "--pid", "--fork"))
    try:
        assert run_id, proc.stderr.read()
        row_pid = RunStore(root, recover=False).get(run_id).pid
        assert RunStore(root).get(run_id).status == "running", f"pid {row_pid} in the other namespace"
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        assert RunStore(root).get(run_id).status == "complete"
    finally:
        proc.kill()
        proc.wait()
