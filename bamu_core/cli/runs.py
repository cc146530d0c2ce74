"""``bamu runs``, ``bamu report`` and ``bamu sweep``: stored runs, their reports, sweeps."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import BamuInputError
from ._common import _add_mkdir_option, _bounded_int, _cell, _check_output, _levels, _names
from ._execution import ArgsSubjects, _add_executor_options, _executor, _seeds
from ._subject import _add_subject_options, _subject


def _add_run_commands(sub) -> None:
    r = sub.add_parser("runs", help="list, compare or delete stored runs (BAMU_HOME/runs)")
    r.add_argument(
        "--status", choices=["running", "complete", "failed", "cancelled"], help="only runs with this status"
    )
    r.add_argument("--kind", help="only runs of this kind (e.g. unlearn)")
    r.add_argument("--limit", type=_bounded_int(1), help="at most N runs (N >= 1), newest first")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="show two runs side by side (B - A)")
    g.add_argument("--delete", metavar="RUN_ID", help="delete a run and its files")
    r.add_argument("--json", dest="json_path", help="also write the listing / comparison as JSON to this file")
    _add_mkdir_option(r)
    rep = sub.add_parser("report", help="write a stored run's self-contained HTML report and JSON / CSV exports")
    rep.add_argument("run_id", metavar="RUN_ID", help="a run id from `bamu runs`")
    rep.add_argument("--html", dest="html_path", help="write the HTML report here (opens offline)")
    rep.add_argument(
        "--json", dest="export_json", help="write the JSON export (run, full result, score definitions) here"
    )
    rep.add_argument("--csv", dest="csv_path", help="write the CSV table (one row per before / after number) here")
    _add_mkdir_option(rep)
    sw = sub.add_parser(
        "sweep", help="unlearn with every method x intensity; write a table and the fairness-utility Pareto plot"
    )
    _add_subject_options(sw)
    sw.add_argument(
        "--methods", required=True, type=_names, help="comma-separated unlearning methods, e.g. ga,lora,finetune"
    )
    sw.add_argument(
        "--intensities",
        type=_levels,
        default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="comma-separated intensities in [0, 1] (default: 0,0.25,0.5,0.75,1)",
    )
    sw.add_argument("--forget", default="aligned", help="forget strategy for every run (default: aligned)")
    sw.add_argument(
        "--out",
        required=True,
        help="folder for sweep.csv, sweep.json and pareto.html (created if missing; its parent must exist unless "
        "--mkdir)",
    )
    sw.add_argument("--no-store", action="store_true", help="do not keep the individual runs in the run store")
    sw.add_argument(
        "--seeds",
        type=_seeds,
        metavar="S,S,...",
        help="sweep these seeds (each a new data split and baseline, as --seed; instead of --seed), e.g. 0,1,2",
    )
    _add_executor_options(sw)


def _cmd_runs(args) -> dict:
    from ..runs import RunStore

    store = RunStore()
    if args.delete:
        store.delete(args.delete)
        print(f"deleted run {args.delete}")
        return {"deleted": args.delete}
    if args.compare:
        cmp = store.compare(*args.compare)
        print(f"{'metric':<40}{'A':>10}{'B':>10}{'B - A':>10}")
        for row in cmp["rows"]:
            print(f"{row['metric']:<40}{_cell(row['a']):>10}{_cell(row['b']):>10}{_cell(row['delta'], '+.3f'):>10}")
        return cmp
    records = store.list(status=args.status, kind=args.kind, limit=args.limit)
    if not records:
        print(f"no runs in {store.root}")
    else:
        print(
            f"{'run':<26}{'created':<18}{'status':<11}{'method':<16}{'intensity':>10}{'score':>8}{'DP after':>10}  "
            "scenario"
        )
    for r in records:
        m = r.summary.get("metrics") or {}
        print(
            f"{r.run_id:<26}{r.to_dict()['created_iso'][:16]:<18}{r.status:<11}{(r.method or '-')[:15]:<16}"
            f"{_cell(r.intensity, '.2f'):>10}{_cell(r.score):>8}{_cell(m.get('dp_after')):>10}  {r.scenario or '-'}"
        )
    return {"root": str(store.root), "runs": [r.to_dict() for r in records]}


def _cmd_report(args) -> dict:
    from ..report import write_report

    if not (args.html_path or args.export_json or args.csv_path):
        raise BamuInputError("give at least one of --html PATH, --json PATH, --csv PATH")
    taken = args.outputs_taken
    for flag, path in (("--html", args.html_path), ("--json", args.export_json), ("--csv", args.csv_path)):
        _check_output(args, path, flag, taken=taken)
    written = write_report(
        args.run_id, html_path=args.html_path, json_path=args.export_json, csv_path=args.csv_path, mkdir=args.mkdir
    )
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return {k: str(v) for k, v in written.items()}


def _cmd_sweep(args) -> dict:
    from ..report import SWEEP_FILES
    from ..runs import RunStore
    from ..storage import check_output_folder
    from ..unlearn import get_method
    from ..workflows import sweep
    from ._common import _command_inputs

    for name in args.methods:
        get_method(name)  # fail on a typo before loading data or training a baseline
    files, folders = _command_inputs(args)
    check_output_folder(
        args.out, names=SWEEP_FILES, inputs=files, input_folders=folders, mkdir=args.mkdir, flag="--out"
    )
    for name in SWEEP_FILES:  # --json must not be one of the sweep's own files
        key = os.path.realpath(Path(args.out).expanduser() / name)
        if key in args.outputs_taken:
            raise BamuInputError(f"{args.outputs_taken[key]} names {name} in --out, which the sweep writes itself")
    if args.seeds is not None and args.seed != 0:
        raise BamuInputError("give either --seed or --seeds, not both")
    seeds = args.seeds or [args.seed]
    executor = _executor(args)  # bad executor options (or no ray) fail before a baseline is trained
    if len(seeds) > 1 or executor is not None:
        subject = ArgsSubjects(args)  # a subject per seed, built where the runs go
    else:
        subject = _subject(args)
    total = len(seeds) * len(args.methods) * len(args.intensities)
    several = len(seeds) > 1

    def progress(ev):
        row = ev.detail
        seed = f" seed {row.seed}" if several else ""
        print(
            f"  [{ev.step}/{ev.total}] {row.method} @ {row.intensity:g}{seed}: {row.status}",
            file=sys.stderr,
            flush=True,
        )

    options = {"store": None if args.no_store else RunStore()}
    result = sweep(
        subject,
        methods=args.methods,
        intensities=args.intensities,
        forget=args.forget,
        device=args.device,
        seeds=seeds,
        executor=executor,
        progress=progress,
        **options,
    )
    from ..report import write_sweep

    written = write_sweep(result, args.out, mkdir=args.mkdir)
    mean = " (mean over seeds)" if several else ""
    name = result.title.rsplit(": fairness vs", 1)[0]
    print(
        f"{name} | {total} runs | original{mean}: accuracy {_cell(result.before.accuracy)}, DP "
        f"{_cell(result.before.dp)}"
    )
    seed_head = f"{'seed':>6}" if several else ""
    print(f"{'method':<16}{'intensity':>10}{seed_head}{'accuracy':>10}{'DP':>8}{'score':>8}  {'status':<14}pareto")
    for r in result.rows:
        seed_cell = f"{_cell(r.seed, 'd'):>6}" if several else ""
        print(
            f"{(r.method or '-')[:15]:<16}{_cell(r.intensity, '.2f'):>10}{seed_cell}{_cell(r.accuracy):>10}"
            f"{_cell(r.dp):>8}{_cell(r.score):>8}  {(r.status or '-'):<14}{'*' if r.pareto else ''}"
        )
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return {**result.to_dict(), "files": {k: str(v) for k, v in written.items()}}
