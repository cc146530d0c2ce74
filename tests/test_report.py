"""The HTML report (self-contained, escaped, offline in headless Chromium) and its JSON / CSV exports."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bamu_core.report import (
    CSV_COLUMNS,
    build_report,
    report_json,
    report_rows,
    write_report,
)
from bamu_core.runs import RunStore
from bamu_core.scoring import SCORE_FORMULA

EVIL = '<script>alert("x")</script>'


def _audit(acc, dp, groups):
    return {
        "utility": {"accuracy": acc, "balanced_accuracy": acc - 0.01},
        "utility_ci": {"accuracy": {"low": acc - 0.02, "high": acc + 0.02}},
        "fairness": {
            "demographic_parity_difference": dp,
            "equalized_odds_difference": dp + 0.1,
            "worst_group_accuracy": 0.5,
            "accuracy_gap": 0.25,
        },
        "fairness_ci": {"demographic_parity_difference": {"low": dp - 0.05, "high": dp + 0.05}},
        "groups": [
            {
                "group": name,
                "n": n,
                "accuracy": a,
                "selection_rate": s,
                "tpr": 0.7,
                "fpr": 0.2,
                "accuracy_ci": {"low": a - 0.1, "high": a + 0.1},
            }
            for name, n, a, s in groups
        ],
        "group_attr": "colour",
        "split": "test",
        "n": 100,
    }


@pytest.fixture
def result() -> dict:
    return {
        "run_id": "r1",
        "method": "ga",
        "intensity": 0.5,
        "status": "ok",
        "message": f"stopped at step 12 {EVIL}",
        "before": _audit(0.75, 0.4, [("orange", 50, 0.9, 0.7), (EVIL, 50, 0.6, 0.3)]),
        "after": _audit(0.8, 0.1, [("orange", 50, 0.85, 0.55), (EVIL, 50, 0.75, 0.45)]),
        "forget": {
            "n": 40,
            "accuracy_before": 1.0,
            "accuracy_after": 0.75,
            "strategy": "aligned",
            "description": "bias-aligned",
        },
        "privacy": {
            "mia_before": {
                "auc": 0.7,
                "matching": "class",
                "tpr_at_1pct_fpr": 0.05,
                "efficacy": 0.2,
                "attack_accuracy": 0.6,
                "attack": "logistic",
                "seed": 0,
            },
            "mia_after": {
                "auc": 0.55,
                "matching": "class",
                "tpr_at_1pct_fpr": 0.02,
                "efficacy": 0.5,
                "attack_accuracy": 0.52,
                "attack": "logistic",
                "seed": 0,
            },
        },
        "radar": {
            "before": {"utility": 1.0, "fairness": 0.6, "forgetting": 0.75, "privacy": 0.6},
            "after": {"utility": 1.0, "fairness": 0.9, "forgetting": 0.95, "privacy": 0.9},
            "scoring": "relative-v2",
        },
        "score": 0.9375,
        "seconds": 3.25,
        "dataset": {
            "name": "binary-colored-digits",
            "title": f"Digits {EVIL}",
            "classes": ["<5", ">=5"],
            "image_shape": [3, 28, 28],
        },
        "model": {"arch": "small_cnn", "parameters": 12345, "source": EVIL},
        "settings": {"forget_strategy": "aligned", "hyperparameters": {"lr": 0.001, "steps": 40, EVIL: 1}},
        "timings": {"unlearning": 2.5, "evaluation": 0.75},
        "environment": {"python": "3.11", "torch": "2.13", "device": "cpu (2 threads)"},
    }


def test_html_is_self_contained_escaped_and_complete(result):
    page = build_report(result)
    assert "<script>alert" not in page  # every user string escaped
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 5
    # plotly.js is embedded once, inline; nothing is fetched from the network
    assert page.count("plotly.js v") >= 1 and len(page) > 3_000_000
    markup = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)  # plotly.js itself mentions URLs in strings
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "<link" not in markup and "@import" not in markup
    assert all(not re.search(r"<script[^>]*\bsrc=", tag) for tag in re.findall(r"<script[^>]*>", page))
    for anchor in ("summary", "radar", "metrics", "groups", "privacy", "data", "settings", "env"):
        assert f'id="{anchor}"' in page
    assert 'id="images"' not in page  # no PNG artifacts given
    assert SCORE_FORMULA in page
    assert "0.938" in page and "+75.0%" in page  # score; DP improvement (0.4 - 0.1) / 0.4
    assert "[0.730, 0.770]" in page  # accuracy CI before
    assert "Scatterpolar" in page or '"type":"scatterpolar"' in page


def test_a_minimal_result_still_renders(tmp_path):
    page = build_report({"method": "ga", "intensity": 0.0})
    assert 'id="summary"' in page and 'id="groups"' not in page and 'id="privacy"' not in page
    assert 'id="images"' not in page
    page = build_report({"method": "ga", "gradcam": {"skipped": "captum is not installed"}})
    assert 'id="images"' in page and "captum is not installed" in page
    with pytest.raises(ValueError, match="result must be a dict"):
        build_report([1, 2])


def test_png_artifacts_become_data_uris(result, tmp_path):
    from PIL import Image

    paths = {}
    for name, colour in (("gradcam_before.png", (200, 0, 0)), ("gradcam_after.png", (0, 0, 200))):
        p = tmp_path / name
        Image.new("RGB", (8, 4), colour).save(p)
        paths[name] = p
    (tmp_path / "fake.png").write_bytes(b"not a png")
    paths["fake.png"] = tmp_path / "fake.png"
    page = build_report(result, artifacts=paths)
    markup = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)
    assert (
        markup.count('<img alt="Grad-CAM ') == 2 and markup.count('src="data:image/png;base64,') == 2
    )  # the fake PNG is skipped
    assert page.index("Grad-CAM before") < page.index("Grad-CAM after")


def test_a_script_in_a_runs_data_is_shown_as_text_everywhere(result, tmp_path):
    """Group, dataset and file names, messages and run ids come from users: the page shows them as
    text (autoescaped templates, escaped fragments), never as markup."""
    from PIL import Image

    script = "<script>alert(1)</script>"
    result = copy.deepcopy(result)
    for audit in (result["before"], result["after"]):
        audit["groups"][0]["group"] = script
        audit["group_attr"] = script
        audit["warnings"] = [{"code": "small_groups", "message": script}]
    result["run_id"] = script
    result["dataset"]["title"] = script
    result["message"] = script
    image = tmp_path / "cam.png"
    Image.new("RGB", (8, 4), (200, 0, 0)).save(image)
    page = build_report(result, artifacts={f"{script}_before.png": image}, run={"status": script})
    assert "<script>alert(1)" not in page and "alert(1)</script>" not in page
    escaped = re.findall(r"&lt;script&gt;alert\(1\)&lt;/script&gt;", page)
    assert len(escaped) >= 8  # heading, title, groups table and heading, warnings, message, caption, status
    body = page[page.index("<body") :]
    groups = body[body.index('id="groups"') : body.index('id="privacy"')]
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in groups
    assert "Per-group results (groups: &lt;script&gt;alert(1)&lt;/script&gt;)" in groups
    head = body[: body.index("<main")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &middot; run <code>&lt;script&gt;" in head
    title = page[page.index("<title>") : page.index("</title>")]
    assert "&lt;script&gt;" in title
    # no tag was added: the page has the <script> tags of the same run with harmless names (plotly's)
    plain = build_report(
        json.loads(json.dumps(result).replace(script, "harmless")), artifacts={"x_before.png": image}, run={}
    )
    assert len(re.findall(r"<script\b", page)) == len(re.findall(r"<script\b", plain)) > 0


def test_csv_rows_exact(result):
    rows = report_rows(result)
    by = {(r["section"], r["group"], r["metric"]): r for r in rows}
    acc = by[("utility", "", "accuracy")]
    assert (acc["before"], acc["after"]) == (0.75, 0.8) and acc["change"] == pytest.approx(0.05)
    assert (acc["before_low"], acc["before_high"]) == (pytest.approx(0.73), pytest.approx(0.77))
    g = by[("group", EVIL, "accuracy")]
    assert (g["before"], g["after"]) == (0.6, 0.75)
    assert by[("privacy", "", "auc")]["change"] == pytest.approx(-0.15)
    assert by[("radar", "", "fairness")]["after"] == 0.9
    # gate min(1, 2 x 1.0) x (0.5 fairness + 0.3 utility + 0.2 mean(forgetting, privacy))
    assert by[("score", "", "composite")]["before"] == pytest.approx(0.5 * 0.6 + 0.3 * 1.0 + 0.2 * (0.75 + 0.6) / 2)
    assert by[("score", "", "composite")]["after"] == 0.9375
    assert ("radar", "", "efficiency") not in by
    assert all(set(r) == set(CSV_COLUMNS) for r in rows)


def test_write_report_from_the_store(result, tmp_path):
    store = RunStore(tmp_path / "runs")
    rec = store.save(kind="unlearn", result=result, config={"scenario": "binary-colored-digits"})
    out = write_report(
        rec.run_id,
        store=store,
        html_path=tmp_path / "r.html",
        json_path=tmp_path / "r.json",
        csv_path=tmp_path / "r.csv",
    )
    assert set(out) == {"html", "json", "csv"}
    assert rec.run_id in (tmp_path / "r.html").read_text()
    exported = json.loads((tmp_path / "r.json").read_text())
    assert exported["result"]["score"] == 0.9375 and exported["run"]["run_id"] == rec.run_id
    assert exported["scoring"]["formula"] == SCORE_FORMULA
    table = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert tuple(table[0]) == CSV_COLUMNS and len(table) == len(report_rows(result))
    assert report_json(result)["run"] is None
    with store.start(kind="unlearn") as run:
        run.cancel("stopped by the user")
    with pytest.raises(ValueError, match="is cancelled \\(stopped by the user\\): it has no result"):
        write_report(run.run_id, store=store, html_path=tmp_path / "x.html")
    with pytest.raises(ValueError, match="at least one of"):
        write_report(rec.run_id, store=store)
    assert not (tmp_path / "x.html").exists()


# --- a real colored-digits run in headless Chromium ----------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def real_run(digits, digits_baseline, tmp_path_factory):
    """A real stored run: gradient ascent on the bias-aligned images of colored-digits' baseline."""
    from bamu_core.workflows import Subject, unlearn

    subject = Subject(scenario=digits, model=digits_baseline[0], arch="small_cnn", model_source="baseline (cached)")
    store = RunStore(tmp_path_factory.mktemp("store"))
    run = unlearn(subject, method="ga", intensity=0.5, forget="aligned", store=store, n_boot=50)
    return store, store.get(run.run_id)


def test_a_real_run_is_stored_with_the_design_keys(real_run, digits):
    store, record = real_run
    result = record.result
    assert set(result) >= {
        "run_id",
        "method",
        "intensity",
        "before",
        "after",
        "forget",
        "privacy",
        "radar",
        "score",
        "seconds",
        "status",
    }
    assert result["run_id"] == record.run_id and record.status == "complete"
    assert set(result["forget"]) >= {"n", "accuracy_before", "accuracy_after"}
    assert set(result["privacy"]) == {"mia_before", "mia_after"} and 0 <= result["privacy"]["mia_after"]["auc"] <= 1
    assert set(result["radar"]["after"]) == {"utility", "fairness", "forgetting", "privacy"}
    from bamu_core.scoring import composite_score

    assert result["score"] == pytest.approx(composite_score(result["radar"]["after"]))
    assert set(record.artifacts) == {
        "unlearned.safetensors",
        "audit_before.json",
        "audit_after.json",
        "gradcam_before.png",
        "gradcam_after.png",
        "counterfactual_pairs.png",  # the example pairs (the digits can flip their colour)
    }
    # the stored weights are the unlearned model's: they reproduce the "after" accuracy
    from bamu_core.models import load_model
    from bamu_core.training import predict

    model = load_model("small_cnn", num_classes=10, checkpoint=record.artifact("unlearned.safetensors"))
    accuracy = float((predict(model, digits.test).argmax(1).numpy() == digits.test.labels).mean())
    assert accuracy == pytest.approx(result["after"]["utility"]["accuracy"])
    assert json.loads(record.artifact("audit_after.json").read_text())["utility"] == result["after"]["utility"]


def test_report_of_a_real_run_renders_offline_in_chromium(real_run, artifacts_dir, tmp_path):
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    store, record = real_run
    html_path = tmp_path / "report.html"
    write_report(record, html_path=html_path)
    blocked = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def route(r):
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html_path.as_uri())
            page.wait_for_selector("#radar .js-plotly-plot svg .polar", timeout=30_000)
            page.wait_for_selector("#groups .js-plotly-plot", timeout=30_000)
            traces = page.eval_on_selector_all("#radar .js-plotly-plot .scatterlayer .trace", "els => els.length")
            page.screenshot(path=str(artifacts_dir / "report_colored_digits.png"), full_page=True)
            page.locator("#radar").screenshot(path=str(artifacts_dir / "report_radar.png"))
        finally:
            browser.close()
    assert traces == 2  # before and after
    assert blocked == [] and errors == []
    assert (artifacts_dir / "report_colored_digits.png").stat().st_size > 20_000


def test_bamu_report_writes_the_three_exports(result, tmp_path, monkeypatch, capsys):
    from bamu_core.cli import main

    monkeypatch.setenv("BAMU_HOME", str(tmp_path))
    rec = RunStore().save(kind="unlearn", result=result)
    paths = [tmp_path / "out" / name for name in ("r.html", "r.json", "r.csv")]
    argv = ["report", rec.run_id, "--html", str(paths[0]), "--json", str(paths[1]), "--csv", str(paths[2]), "--mkdir"]
    assert main(argv) == 0
    assert all(p.stat().st_size > 0 for p in paths)
    assert json.loads(paths[1].read_text())["run"]["run_id"] == rec.run_id
    assert main(["report", rec.run_id]) == 2
    assert "at least one of --html" in capsys.readouterr().err
    assert main(["report", "20990101-000000-00000000", "--html", str(tmp_path / "x.html")]) == 2
    assert "no run" in capsys.readouterr().err and not (tmp_path / "x.html").exists()


def test_an_unchanged_model_scores_as_the_original_and_a_missing_captum_skips_gradcam(
    digits, digits_baseline, monkeypatch
):
    import importlib.util

    from bamu_core.workflows import Subject, evaluate_unlearning

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a, **k: None if name == "captum" else real(name, *a, **k)
    )
    subject = Subject(scenario=digits, model=digits_baseline[0], arch="small_cnn", model_source="baseline")
    result = evaluate_unlearning(
        subject,
        unlearned=copy.deepcopy(digits_baseline[0]),
        forget_indices=np.arange(0, 300, 3),
        method="identity",
        intensity=0.0,
        seconds=0.0,
        mia_samples=300,
    )
    assert result.run_id is None and "captum is not installed" in result.gradcam["skipped"]
    assert result.forget.n == 100 and result.forget.accuracy_before == result.forget.accuracy_after
    assert result.privacy.mia_before == result.privacy.mia_after
    assert result.radar.before == result.radar.after
    assert (result.radar.after.utility, result.radar.after.fairness) == (0.5, 0.0)  # the reference point
    assert result.score == result.radar.score_before <= 0.35
    assert result.after.utility == result.before.utility
    page = build_report(result)
    assert "captum is not installed" in page


def test_an_auto_run_shows_what_it_tried():
    search = {
        "metric": "demographic_parity_difference",
        "fit_per_group": {"orange": 75, "blue": 75},
        "choose_per_group": {"orange": 74, "blue": 76},
        "original_accuracy": 0.8,
        "chosen": "ga lr 0.001",
        "gain_noise": 0.07,
        "candidates": [
            {
                "label": "dfr all",
                "method": "dfr",
                "status": "ok",
                "seconds": 0.4,
                "gain": 0.2,
                "val_accuracy": 0.93,
                "admissible": True,
                "pareto": True,
            },
            {
                "label": "ga lr 0.001",
                "method": "ga",
                "status": "stopped_early",
                "seconds": 2.0,
                "gain": 0.3,
                "val_accuracy": 0.91,
                "admissible": True,
                "pareto": True,
            },
            {
                "label": "lora lr 0.01",
                "method": "lora",
                "status": "skipped",
                "seconds": 0.0,
                "gain": None,
                "val_accuracy": None,
                "admissible": False,
                "pareto": False,
            },
        ],
    }
    page = build_report({"method": "auto", "intensity": 0.75, "search": search})
    assert 'id="search"' in page and "ga lr 0.001 (chosen)" in page and 'id="search-chart"' in page
    assert "compared on 150 others (orange 74, blue 76)" in page
    assert 'id="search"' not in build_report({"method": "ga", "intensity": 0.5})


def test_the_report_opens_with_the_verdict_and_the_warnings_and_explains_its_terms(result):
    result = copy.deepcopy(result)
    result["after"]["warnings"] = [{"code": "small_groups", "message": f"1 group(s) have fewer than 30 images {EVIL}"}]
    page = build_report(result)
    body = page[page.index("<body") :]
    assert body.index('id="verdict"') < body.index('id="summary"')  # first on the page
    verdict_html = body[body.index('id="verdict"') : body.index('id="summary"')]
    assert "reduced the gap in positive predictions between groups from 40.0 to 10.0 points" in verdict_html
    assert "Accuracy rose by 5.0 percentage points" in verdict_html
    assert "Read with care: some groups have fewer than 30 test images." in verdict_html
    assert "<b>after unlearning:</b> 1 group(s) have fewer than 30 images &lt;script&gt;" in verdict_html
    assert '<abbr title="How far apart the groups are in how often the model gives the positive answer' in page
    assert 'id="glossary"' in page and "<dt>admissible checkpoint</dt>" in page and "<dt>oracle</dt>" in page


def test_the_radars_keep_their_numbers_off_the_shapes():
    """Report and dashboard radars: range [0, 1] with rings at 0.25 ... 1 but no tick labels over
    the filled shapes; the scale is said beside the chart (report) or in a corner (dashboard)."""
    from bamu_core.report import radar, radar_figure
    from dashboard import charts

    assert charts.radar is radar  # the dashboard shows this figure
    before = {"utility": 0.5, "fairness": 0.0, "forgetting": 0.4, "privacy": 0.8}
    after = {"utility": 0.6, "fairness": 0.9, "forgetting": 0.95, "privacy": 0.7}
    for fig in (radar_figure(before, after), radar({"before": before, "after": after}, title="t")):
        axis = fig.layout.polar.radialaxis
        assert tuple(axis.range) == (0, 1) and tuple(axis.tickvals) == (0.25, 0.5, 0.75, 1.0)
        assert axis.showticklabels is False and axis.ticks == ""
    (note,) = radar({"before": before}).layout.annotations
    assert note.text == "rings: 0.25, 0.5, 0.75, 1" and (note.xref, note.yref, note.x, note.y) == (
        "paper",
        "paper",
        0,
        0,
    )
    page = build_report({"method": "ga", "radar": {"before": before, "after": after, "scoring": "relative-v2"}})
    assert "Rings at 0.25, 0.5 and 0.75; the outer ring is 1 (best), the centre 0." in page
