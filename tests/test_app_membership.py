"""The Compare page's interactive membership inference, with Streamlit's AppTest (no browser)."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("streamlit")

from test_app import _texts, no_exceptions, settle  # noqa: E402


def _tpr_lines(app) -> list[str]:
    return [t for t in _texts(app.markdown) if t.startswith("TPR ")]


def test_the_threshold_slider_moves_the_attack_numbers(app):
    from bamu_core.insight import InsightOptions
    from bamu_core.workflows import load_subject, unlearn

    subject = load_subject(scenario="binary-colored-digits")
    run = unlearn(
        subject,
        method="finetune",
        intensity=0.5,
        n_boot=0,
        gradcam_images=0,
        mia_samples=50,
        insight=InsightOptions.off(),
    )
    after = run.privacy.mia_after.scores
    assert after is not None and len(after.member) == len(after.nonmember) == len(after.train_index) > 0
    app.session_state["last_run"] = replace(run, model=None, result=None, forget_set=None)
    app.switch_page("pages/compare.py")
    settle(app)
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    assert "Membership inference, interactive" in _texts(app.subheader)
    slider = app.slider(key="cmp_mia_threshold")
    lines = _tpr_lines(app)
    assert len(lines) == 2  # before and after
    assert any("flags" in t and "advantage" in t for t in _texts(app.markdown))
    assert not [c for c in _texts(app.caption) if "cannot be shown" in c]
    assert len(app.get("image")) == min(16, len(after.member))  # the surest forget images
    slider.set_value(slider.min).run()
    no_exceptions(app)
    low = _tpr_lines(app)
    assert all("TPR **100.0%**" in t for t in low)  # the lowest threshold flags every image
    assert low != lines or slider.value == slider.min
    slider = app.slider(key="cmp_mia_threshold")
    slider.set_value(slider.max).run()
    high = _tpr_lines(app)
    assert high != low


def test_two_saved_runs_get_a_plain_verdict_and_one_attack_threshold_for_both(app):
    from bamu_core.insight import InsightOptions
    from bamu_core.runs import RunStore
    from bamu_core.workflows import load_subject, unlearn

    subject = load_subject(scenario="binary-colored-digits")
    store = RunStore()
    ids = [
        unlearn(
            subject,
            method=method,
            intensity=0.5,
            n_boot=0,
            gradcam_images=0,
            mia_samples=50,
            insight=InsightOptions.off(),
            store=store,
        ).run_id
        for method in ("finetune", "dfr")
    ]
    app.switch_page("pages/compare.py")
    settle(app)
    app.selectbox(key="cmp_a").set_value(ids[0])
    app.selectbox(key="cmp_b").set_value(ids[1]).run()
    no_exceptions(app)
    assert not app.error, _texts(app.error)
    plain = [t for t in _texts(app.markdown) if t.startswith("##### In plain words")]
    assert any("with run A (finetune at intensity 0.50)" in t and "run B (dfr at intensity 0.50)" in t for t in plain)
    assert "Membership inference after each run, interactive" in _texts(app.subheader)
    slider = app.slider(key="cmp_two_mia_threshold")
    lines = _tpr_lines(app)
    assert len(lines) >= 2  # run A and run B (and this tab only: no run in this session)
    slider.set_value(slider.min).run()
    assert all("TPR **100.0%**" in t for t in _tpr_lines(app))
