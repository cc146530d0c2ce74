"""The Compare page's counterfactual pairs, with Streamlit's AppTest (no browser)."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("streamlit")

from test_app import _texts, no_exceptions, settle  # noqa: E402


def _run(**options):
    from bamu_core.insight import InsightOptions
    from bamu_core.workflows import load_subject, unlearn

    subject = load_subject(scenario="binary-colored-digits")
    run = unlearn(
        subject,
        method="dfr",
        intensity=0.5,
        n_boot=0,
        gradcam_images=0,
        mia_samples=50,
        insight=InsightOptions(leakage=False, cohorts=False, representation=False, **options),
    )
    return replace(run, model=None, result=None, forget_set=None)


def test_compare_shows_the_pairs_of_the_last_run(app):  # noqa: F811
    run = _run()
    app.session_state["last_run"] = run
    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert "The same images with the colour flipped" in _texts(app.subheader)
    assert run.pairs.reading in " ".join(_texts(app.markdown))
    metrics = {m.label: m.value for m in app.metric}
    before = f"{100 * run.pairs.before.rate:.0f} %"
    assert metrics["Predictions that flip, before"] == before
    assert metrics["Predictions that flip, after"] == f"{100 * run.pairs.after.rate:.0f} %"
    captions = " ".join(_texts(app.caption))
    assert captions.count("true: ") == len(run.pairs.examples) == 8
    shown = [[i.caption for i in e.proto.imgs] for e in app.get("image")]
    assert shown.count(["original", "flipped"]) == 8  # one image pair per example
    frames = {tuple(d.value.columns): d.value for d in app.dataframe}
    groups = frames[("group", "n", "before", "before CI", "after", "after CI")]
    assert list(groups["group"]) == ["orange", "blue"]
    notes = " ".join(_texts(app.info))
    assert "Grad-CAM" in notes and "counterfactual pairs" in notes  # colour is not a spatial bias


def test_a_run_without_pairs_says_so_in_one_line(app):  # noqa: F811
    app.session_state["last_run"] = _run(pairs=False)
    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert "The same images with the colour flipped" not in _texts(app.subheader)
    assert any("did not measure them" in c for c in _texts(app.caption))


def test_no_pairs_view_for_data_without_counterfactuals(binary_baseline):
    """The panel and the Grad-CAM note, given a run without pairs on data that cannot flip its attribute."""
    from streamlit.testing.v1 import AppTest

    def page():
        from dataclasses import replace

        from bamu_core.data import ImageData
        from bamu_core.results import UnlearnReport
        from bamu_core.workflows import load_subject
        from dashboard import pairs

        sc = load_subject(scenario="binary-colored-digits").scenario
        t = sc.test
        plain = ImageData(
            images=t.images_u8,
            labels=t.labels,
            attrs=t.attrs,
            group_names=t.group_names,
            group_attr=t.group_attr,
            mean=t.mean.flatten().tolist(),
            std=t.std.flatten().tolist(),
        )
        sc = replace(sc, test=plain)
        pairs.pairs_panel(UnlearnReport(method="dfr"), sc)
        pairs.gradcam_note(sc)

    at = AppTest.from_function(page, default_timeout=60)
    at.run()
    assert not at.exception, _texts(at.exception)
    assert not at.subheader and not at.caption and not at.info and not at.markdown
