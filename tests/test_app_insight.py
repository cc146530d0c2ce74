"""The Compare page's "Inside the model" panel, with Streamlit's AppTest (no browser)."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("streamlit")

from test_app import _texts, no_exceptions, settle  # noqa: E402


def test_compare_shows_each_view_of_the_last_run(app):
    from bamu_core.insight import InsightOptions
    from bamu_core.workflows import load_subject, unlearn

    subject = load_subject(scenario="binary-colored-digits")
    options = InsightOptions(relearning=True, relearning_steps=5, relearning_images=16)
    run = unlearn(
        subject, method="finetune", intensity=0.5, n_boot=0, gradcam_images=0, mia_samples=50, insight=options
    )
    app.session_state["last_run"] = replace(run, model=None, result=None, forget_set=None)
    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert "Inside the model" in _texts(app.subheader)
    text = " ".join(_texts(app.markdown))
    for reading in (
        run.leakage.reading,
        run.before.cohorts.reading,
        run.representation.reading,
        run.relearning.reading,
    ):
        assert reading in text
    frames = {tuple(d.value.columns): d.value for d in app.dataframe}
    leak = frames[("model", "probe AUC", "CI low", "CI high")]
    assert list(leak["model"]) == ["original", "unlearned", "original (outputs)", "unlearned (outputs)"]
    out = run.leakage.output
    assert leak["probe AUC"].tolist() == [
        run.leakage.original.auc,
        run.leakage.unlearned.auc,
        out.original.auc,
        out.unlearned.auc,
    ]
    cohorts = frames[("model", "slice", "n", "accuracy", "rest", "gap", "q")]
    assert set(cohorts["model"]) <= {"before", "after"}
    assert len(cohorts) == len(run.before.cohorts.slices) + len(run.after.cohorts.slices)
    assert len(app.get("plotly_chart")) >= 2 + 1 + 2  # radar and groups, CKA bars, two projections


def test_a_run_without_views_shows_no_panel(app):
    from bamu_core.insight import InsightOptions
    from bamu_core.workflows import load_subject, unlearn

    subject = load_subject(scenario="binary-colored-digits")
    run = unlearn(
        subject,
        method="newton",
        intensity=0.5,
        n_boot=0,
        gradcam_images=0,
        mia_samples=50,
        insight=InsightOptions.off(),
    )
    app.session_state["last_run"] = replace(run, model=None, result=None, forget_set=None)
    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert "Inside the model" not in _texts(app.subheader)


def test_points_picked_on_a_projection_become_test_images_of_the_loaded_data(binary_digits):
    from types import SimpleNamespace

    from bamu_core.report import projection_figure
    from bamu_core.results import Projection, Representation
    from dashboard.insight import selected_indices, test_images

    rep = Representation(
        projection=Projection(
            indices=[4, 9, 11],
            groups=["orange", "blue", "orange"],
            classes=["a", "b", "a"],
            coordinates={"original": [[0, 0], [1, 1], [2, 2]]},
        )
    )
    fig = projection_figure(rep, "original")
    by_trace = {t.name: list(t.customdata) for t in fig.data}
    assert by_trace == {"blue": [9], "orange": [4, 11]}  # each point carries its test index
    event = {"selection": {"points": [{"customdata": 11}, {"customdata": [4]}, {"customdata": 11}]}}
    assert selected_indices(event, None, {"selection": {"points": []}}) == [11, 4]
    run = SimpleNamespace(dataset={"name": binary_digits.name, "splits": {"test": {"n": len(binary_digits.test)}}})
    shown = test_images(run, binary_digits, [11, 4])
    assert [i for i, _ in shown] == [11, 4] and shown[0][1].dtype.name == "uint8" and shown[0][1].shape[-1] == 3
    other = SimpleNamespace(dataset={"name": "another", "splits": {"test": {"n": 5}}})
    assert test_images(other, binary_digits, [1]) is None and test_images(run, binary_digits, []) is None
