"""Executors: a sweep and a sharded audit give the same numbers on Ray as in process; a dead
worker fails only its task; cancel stops pending tasks; a clear error without ray."""

from __future__ import annotations

import math
import os
import sys
import time

import pytest
import torch

from bamu_core.errors import BamuInputError
from bamu_core.execution import InProcessExecutor, RayExecutor, get_executor
from bamu_core.insight import InsightOptions
from bamu_core.workflows import Subject, SubjectRecipe, audit, sweep

NUMBERS = (
    "accuracy",
    "balanced_accuracy",
    "dp",
    "eo",
    "worst_group_accuracy",
    "fairness",
    "forget_accuracy",
    "mia_auc",
    "utility_axis",
    "fairness_axis",
    "forgetting_axis",
    "privacy_axis",
    "score",
)
# small and quick: a one-epoch baseline, three unlearning steps, no bootstrap, no extra views;
# noise_factor 0 and loose accuracy bounds so that the runs do change the model
QUICK = {
    "store": None,
    "n_boot": 0,
    "gradcam_images": 0,
    "mia_samples": 50,
    "insight": InsightOptions.off(),
    "hyperparameters": {"steps": 3, "eval_size": 32, "noise_factor": 0.0, "max_recall_drop": 1.0},
}


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray (2 CPUs) for the whole module; the executors join it and leave it running."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": _pythonpath()}})
    # the test module's helpers travel by value: workers cannot import tests/
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


def _pythonpath() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)


@pytest.fixture(scope="module")
def spec():
    return SubjectRecipe("colored-digits", epochs=1)


def _numbers(rows):
    return [[getattr(r, k) for k in NUMBERS] for r in rows]


@pytest.mark.ray
def test_sweep_on_ray_equals_the_sweep_in_process(ray_session, spec):
    grid = {"methods": ["ga", "finetune"], "intensities": [0.0, 0.5, 1.0], "seeds": [0, 1, 2]}
    seen = []
    here = sweep(spec, executor=InProcessExecutor(threads=1), **grid, **QUICK)
    on_ray = sweep(
        spec, executor=RayExecutor(cpus_per_task=1), progress=lambda ev: seen.append(ev.step), **grid, **QUICK
    )
    keys = [(s, m, x) for s in grid["seeds"] for m in grid["methods"] for x in grid["intensities"]]
    for res in (here, on_ray):
        assert [(r.seed, r.method, r.intensity) for r in res.rows] == keys
        assert all(r.status != "failed" for r in res.rows), [r.message for r in res.rows]
    assert seen == list(range(1, 19))
    for a, b in zip(_numbers(here.rows), _numbers(on_ray.rows)):
        assert a == pytest.approx(b, abs=1e-6, nan_ok=True)
    assert here.front == on_ray.front and here.before == on_ray.before
    # the seeds are different subjects (data and baseline) and the runs changed the models
    originals = {r.seed: tuple(_numbers([r])[0]) for r in here.rows if r.intensity == 0.0}
    assert len(set(originals.values())) == 3
    assert any(tuple(_numbers([r])[0]) != originals[r.seed] for r in here.rows if r.intensity > 0)


def _kill_when_training(module, inputs):
    """A forward pre-hook: a worker (not the test process) that trains the model (a forward pass
    with gradients) dies at once."""
    if torch.is_grad_enabled() and os.getpid() != module.driver_pid:
        os._exit(1)


@pytest.mark.ray
def test_a_worker_killed_mid_sweep_fails_only_its_run_and_the_driver_stores_the_rest(ray_session, spec, tmp_path):
    from bamu_core.runs import RunStore

    subject = spec(0)
    model = subject.model.__class__(num_classes=10)
    model.load_state_dict(subject.model.state_dict())
    model.driver_pid = os.getpid()
    model.register_forward_pre_hook(_kill_when_training)
    doomed = Subject(scenario=subject.scenario, model=model.eval(), arch=subject.arch, model_source="test")
    store = RunStore(tmp_path / "runs")
    options = {**QUICK, "store": store}
    res = sweep(doomed, methods=["ga"], intensities=[0.0, 0.5, 0.0], executor=RayExecutor(), **options)
    assert [r.status for r in res.rows] == ["ok", "failed", "ok"]
    assert "WorkerCrashedError" in res.rows[1].message and res.rows[1].seed == 0
    assert ray_session.is_initialized()  # an executor that joined a running Ray leaves it running
    assert res.rows[0].accuracy == pytest.approx(res.before.accuracy)
    # the workers wrote nothing; this process stored the two finished runs, with their artifacts
    ids = [r.run_id for r in res.rows]
    assert ids[1] is None and ids[0] and ids[2] and ids[0] != ids[2]
    records = {r.run_id: r for r in store.list()}
    assert set(records) == {ids[0], ids[2]} and {r.status for r in records.values()} == {"complete"}
    for run_id in (ids[0], ids[2]):
        assert (store.root / run_id / "unlearned.safetensors").is_file()
        assert (store.root / run_id / "audit_after.json").is_file()


def _untimed(doc):
    """``doc`` without its wall-clock times (``seconds``, ``timing`` at any depth)."""
    if isinstance(doc, dict):
        return {k: _untimed(v) for k, v in doc.items() if k not in ("seconds", "timing")}
    if isinstance(doc, list):
        return [_untimed(v) for v in doc]
    return doc


@pytest.mark.ray
@pytest.mark.parametrize("shards", [3, None])
def test_a_sharded_audit_equals_the_audit_in_process(ray_session, spec, shards):
    subject = spec(1)
    options = {"n_boot": 50, "saliency_per_group": 2, "batch_size": 128}
    one = audit(subject, **options)
    many = audit(subject, executor=RayExecutor(), shards=shards, **options)
    a, b = _untimed(one.to_json()), _untimed(many.to_json())
    assert a == b
    assert a["fairness"] == b["fairness"] and a["saliency"]["groups"] == b["saliency"]["groups"]
    assert many.n == len(subject.scenario.test) and not math.isnan(many.utility.accuracy)


def _nap(_, seconds):
    time.sleep(seconds)
    return seconds


@pytest.mark.ray
def test_cancel_stops_the_pending_and_running_tasks(ray_session):
    done = []
    start = time.perf_counter()
    out = RayExecutor().map(
        _nap, [0.0, 30, 30, 30, 30], progress=lambda o, n, total: done.append(o.index), should_stop=lambda: bool(done)
    )
    assert time.perf_counter() - start < 25  # the 30 s naps never ran to their end
    assert out[0].ok and out[0].value == 0.0
    assert [o.failure.kind for o in out[1:]] == ["cancelled"] * 4 and done == [0]


@pytest.mark.ray
def test_a_cancelled_sweep_on_ray_keeps_the_finished_rows_only(ray_session, spec):
    rows = []
    res = sweep(
        spec,
        methods=["ga"],
        intensities=[0.0, 1.0, 0.5, 1.0],
        executor=RayExecutor(),
        progress=lambda ev: rows.append(ev.detail),
        should_stop=lambda: bool(rows),
        **QUICK,
    )
    assert len(res.rows) == 1 and res.rows == rows and res.rows[0].status != "failed"
    assert res.before.accuracy is not None  # the original's point is still measured


@pytest.mark.ray
def test_a_task_that_raises_or_dies_loses_no_other(ray_session):
    def task(shared, x):
        if x == 1:
            raise RuntimeError("boom")
        if x == 2:
            os._exit(1)
        return shared + x

    out = RayExecutor().map(task, [0, 1, 2, 3], shared=10)
    assert [o.value for o in out] == [10, None, None, 13]
    assert out[1].failure.kind == "error" and out[1].failure.error == "RuntimeError: boom"
    assert out[2].failure.kind == "worker-died"
    here = InProcessExecutor().map(task, [0, 1, 3], shared=10)
    assert [o.value for o in here] == [10, None, 13] and here[1].failure.error == "RuntimeError: boom"


def test_asking_for_ray_without_ray_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    from bamu_core.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(BamuInputError, match=r"pip install -r requirements-ray.txt"):
        get_executor("ray")
    with pytest.raises(BamuInputError, match=r"pip install -r requirements-ray.txt"):
        sweep(SubjectRecipe("colored-digits"), methods=["ga"], intensities=[0.5], executor="ray")
    assert main(_sweep_argv(tmp_path, "--executor", "ray")) == 2  # one line, before any work
    assert "pip install -r requirements-ray.txt" in capsys.readouterr().err
    assert not (tmp_path / "sweep" / "sweep.csv").exists()
    with pytest.raises(BamuInputError, match="unknown executor 'dask'"):
        get_executor("dask")
    with pytest.raises(BamuInputError, match="only apply with executor='ray'"):
        get_executor("local", cpus_per_task=2)


def _sweep_argv(tmp_path, *extra):
    from bamu_core.models import build_model, save_weights

    ckpt = save_weights(build_model("small_cnn", num_classes=10), tmp_path / "m.safetensors")
    return [
        "sweep",
        "--scenario",
        "colored-digits",
        "--model",
        str(ckpt),
        "--methods",
        "ga",
        "--intensities",
        "0",
        "--out",
        str(tmp_path / "sweep"),
        "--no-store",
        *extra,
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ray-address", "auto"], "--ray-address only with --executor ray"),
        (["--gpus-per-task", "0.5"], "--gpus-per-task only with --executor ray"),
        (["--cpus-per-task", "1.5"], "torch threads: a whole number"),
        (["--seeds", "0,1", "--seed", "3"], "either --seed or --seeds"),
    ],
)
def test_bamu_sweep_refuses_executor_options_that_do_not_fit(tmp_path, capsys, extra, message):
    from bamu_core.cli import main

    assert main(_sweep_argv(tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweep" / "sweep.csv").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seeds", "0,0"], "argument --seeds: a seed is given twice in '0,0'"),
        (["--seeds", "x"], "argument --seeds: expected comma-separated whole numbers, got 'x'"),
        (["--cpus-per-task", "0"], "argument --cpus-per-task: expected a number > 0, got '0'"),
        (["--gpus-per-task", "-1", "--executor", "ray"], "argument --gpus-per-task: expected a number >= 0"),
        (["--executor", "dask"], "argument --executor: invalid choice: 'dask'"),
    ],
)
def test_bamu_sweep_rejects_bad_seeds_and_sizes_on_the_command_line(tmp_path, capsys, extra, message):
    from bamu_core.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(_sweep_argv(tmp_path, *extra))
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.ray
def test_bamu_sweep_on_ray_with_seeds_writes_the_seed_of_every_row(ray_session, tmp_path, capsys):
    import csv
    import json

    from bamu_core.cli import main

    argv = _sweep_argv(tmp_path, "--seeds", "0,1", "--executor", "ray", "--cpus-per-task", "1", "--json")
    assert main([*argv, str(tmp_path / "s.json")]) == 0
    rows = json.loads((tmp_path / "s.json").read_text())["rows"]
    assert [(r["seed"], r["method"], r["status"]) for r in rows] == [(0, "ga", "ok"), (1, "ga", "ok")]
    assert rows[0]["accuracy"] != rows[1]["accuracy"] or rows[0]["dp"] != rows[1]["dp"]  # two data splits
    table = list(csv.DictReader((tmp_path / "sweep" / "sweep.csv").open()))
    assert [t["seed"] for t in table] == ["0", "1"]
    assert "seed" in capsys.readouterr().out


@pytest.mark.ray
def test_bamu_audit_sharded_on_ray_prints_the_same_audit(ray_session, tmp_path, capsys):
    import json

    from bamu_core.cli import main

    argv = ["audit", "--scenario", "colored-digits", "--model", str(_sweep_argv(tmp_path)[4]), "--n-boot", "20"]
    argv += ["--saliency-per-group", "0"]
    assert main([*argv, "--json", str(tmp_path / "one.json")]) == 0
    one = capsys.readouterr().out
    assert main([*argv, "--executor", "ray", "--shards", "2", "--json", str(tmp_path / "two.json")]) == 0
    assert capsys.readouterr().out == one
    a, b = (_untimed(json.loads((tmp_path / f"{n}.json").read_text())) for n in ("one", "two"))
    assert a == b


@pytest.mark.parametrize("n, shards, batch", [(1000, 3, 128), (1000, 100, 128), (5, 2, 512), (512, 2, 256)])
def test_shards_cover_the_split_in_order_on_batch_boundaries(n, shards, batch):
    from bamu_core.workflows.sharded_inference import shard_bounds

    bounds = shard_bounds(n, shards, batch)
    assert bounds[0][0] == 0 and bounds[-1][1] == n and len(bounds) <= shards
    assert all(a < b for a, b in bounds) and all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))
    assert all(b % batch == 0 for _, b in bounds[:-1])


class _CountingFactory:
    """A hashable subject factory that counts its calls (stands in for a SubjectRecipe)."""

    calls: list = []

    def __eq__(self, other):
        return isinstance(other, _CountingFactory)

    def __hash__(self):
        return 1

    def __call__(self, seed):
        self.calls.append(seed)
        return object()


def test_a_process_builds_each_subject_of_a_factory_once():
    from bamu_core.workflows.subject_recipe import _CACHE, subject_for_seed

    _CACHE.clear()
    _CountingFactory.calls = []
    a, b = subject_for_seed(_CountingFactory(), 0), subject_for_seed(_CountingFactory(), 0)
    c = subject_for_seed(_CountingFactory(), 1)
    assert a is b and c is not a and _CountingFactory.calls == [0, 1]
    assert subject_for_seed({3: "given"}, 3) == "given"  # a mapping of built subjects is used as it is
    _CACHE.clear()


def test_sweep_refuses_several_seeds_for_one_subject_and_bad_seeds():
    toy = Subject(scenario=None, model=None, arch="small_cnn", model_source="test")
    with pytest.raises(BamuInputError, match="several seeds need a new subject per seed"):
        sweep(toy, methods=["ga"], intensities=[0.5], seeds=[0, 1])
    for seeds, match in (([], "seeds is empty"), ([0, 0], "seeds repeat"), ([-1], "whole numbers >= 0")):
        with pytest.raises(BamuInputError, match=match):
            sweep(toy, methods=["ga"], intensities=[0.5], seeds=seeds)


def test_the_dashboard_sweep_job_passes_the_executor_on(monkeypatch):
    import bamu_core.workflows as workflows
    from dashboard import tasks

    seen = {}
    monkeypatch.setattr(workflows, "sweep", lambda subject, **kw: seen.update(kw) or "result")
    job = tasks.sweep_task("subject", methods=["ga"], intensities=[0.5], forget="aligned", executor="ray")
    assert job(None, None) == "result" and seen["executor"] == "ray" and seen["store"] is None
    tasks.sweep_task("subject", methods=["ga"], intensities=[0.5], forget="aligned")(None, None)
    assert seen["executor"] is None  # by default the runs stay in the job's thread
