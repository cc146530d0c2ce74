"""The dashboard's state: one browser tab's choices in ``st.session_state`` (keys in
:mod:`dashboard.keys`) and the heavy objects every session shares in ``st.cache_resource``
(loaded subjects, unlearned models, audits, Grad-CAM galleries, forget-set previews).

Every computation here is a :mod:`bamu_core.workflows` call on the loaded subject.
"""

from __future__ import annotations

import uuid

import streamlit as st

from bamu_core import workflows
from bamu_core.errors import BamuInputError
from bamu_core.results import UnlearnReport
from bamu_core.runs import RunStore

from . import keys
from .subjects import DEMO_SCENARIO, SubjectSpec, SubjectStore, with_group_attr
from .uploads import UploadDir

__all__ = [
    "init_session",
    "session_id",
    "current_spec",
    "set_spec",
    "group_attr",
    "set_group_attr",
    "last_run",
    "set_last_run",
    "forget_run",
    "oracle_for",
    "set_oracle",
    "upload_cache",
    "uploads",
    "run_store",
    "subject_store",
    "keep_model",
    "has_model",
    "audit_for",
    "gallery_for",
    "forget_preview",
]

_GONE = "the model and data are no longer loaded; open the Load page to load them again"


# ------------------------------------------------------------------------------------------------
# this session
# ------------------------------------------------------------------------------------------------


def init_session() -> None:
    """A session id, and the built-in demo as the subject of a new session."""
    ss = st.session_state
    ss.setdefault(keys.SID, uuid.uuid4().hex)
    if keys.SPEC not in ss:
        ss[keys.SPEC] = SubjectSpec(scenario=DEMO_SCENARIO)
        ss[keys.GROUP_ATTR] = None


def session_id() -> str:
    return st.session_state.setdefault(keys.SID, uuid.uuid4().hex)


def current_spec() -> SubjectSpec:
    return st.session_state.get(keys.SPEC) or SubjectSpec(scenario=DEMO_SCENARIO)


def set_spec(spec: SubjectSpec) -> None:
    """Make ``spec`` this session's subject (its loading starts on the next status check); the
    latest run, which was the previous subject's, is no longer current."""
    if st.session_state.get(keys.SPEC) != spec:
        st.session_state[keys.SPEC] = spec
        st.session_state[keys.GROUP_ATTR] = None
        st.session_state[keys.LAST_RUN] = None
        st.session_state[keys.LAST_RUN_SPEC] = None


def group_attr() -> str | None:
    """The group attribute this session audits (None: the data's first)."""
    return st.session_state.get(keys.GROUP_ATTR)


def set_group_attr(attr: str | None) -> None:
    st.session_state[keys.GROUP_ATTR] = attr


def last_run() -> UnlearnReport | None:
    """The report of this session's latest unlearning run of the current subject, without its model
    (None before the first, and after another subject was loaded)."""
    run = st.session_state.get(keys.LAST_RUN)
    made_on = st.session_state.get(keys.LAST_RUN_SPEC)
    if run is None or (made_on is not None and made_on != current_spec().key):
        return None
    return run


def set_last_run(run: UnlearnReport, spec_key: str | None = None) -> None:
    """Make ``run`` this session's latest run, if it was made on the current subject (``spec_key``,
    default: the current one): a run of a previous subject that finishes later is not current."""
    current = current_spec().key
    if spec_key is not None and spec_key != current:
        return
    st.session_state[keys.LAST_RUN] = run
    st.session_state[keys.LAST_RUN_SPEC] = current


def forget_run(run_id: str) -> None:
    """Drop this session's latest run if it is ``run_id`` (it was deleted)."""
    if getattr(last_run(), "run_id", None) == run_id:
        st.session_state[keys.LAST_RUN] = None


def oracle_for(spec_key: str, attr: str | None, forget: str) -> dict | None:
    """The retrain oracle this session computed for the subject, group attribute and forget set."""
    return st.session_state.get(keys.ORACLES, {}).get((spec_key, attr, forget))


def set_oracle(spec_key: str, attr: str | None, forget: str, summary: dict) -> None:
    st.session_state.setdefault(keys.ORACLES, {})[(spec_key, attr, forget)] = summary


def upload_cache(kind: str) -> dict:
    """This session's results of handling uploads of ``kind`` (``"zip"`` or ``"checkpoint"``) by
    the upload's file id, so that each upload is unpacked or checked once."""
    return st.session_state.setdefault({"zip": keys.ZIP_CACHE, "checkpoint": keys.CKPT_CACHE}[kind], {})


def uploads() -> UploadDir:
    """This session's private upload folder (removed when the session ends)."""
    folder = st.session_state.get(keys.UPLOADS)
    if folder is None or not folder.alive:
        folder = UploadDir()
        st.session_state[keys.UPLOADS] = folder
    return folder


def run_store() -> RunStore:
    """The run store under ``BAMU_HOME``, where the dashboard's runs are saved."""
    return RunStore()


# ------------------------------------------------------------------------------------------------
# shared by every session (st.cache_resource)
# ------------------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def subject_store() -> SubjectStore:
    """Loaded subjects, shared by every session of this server."""
    return SubjectStore(capacity=4)


@st.cache_resource(show_spinner=False)
def _models() -> SubjectStore:
    """Unlearned models of finished runs by run key, for Grad-CAM after."""
    return SubjectStore(capacity=8)


def keep_model(key: str, model) -> None:
    _models().put(key, model)


def has_model(key: str | None) -> bool:
    return key is not None and key in _models()


def _subject(spec_key: str, attr: str | None):
    subject = subject_store().get(spec_key)
    if subject is None:
        raise BamuInputError(_GONE)
    return with_group_attr(subject, attr)


@st.cache_resource(show_spinner=False, max_entries=32)
def _audit(spec_key: str, attr: str | None, split: str) -> dict:
    return workflows.audit(_subject(spec_key, attr), split=split)


def audit_for(spec: SubjectSpec, attr: str | None, split: str = "test") -> dict:
    """The audit of the loaded subject (one evaluation per combination)."""
    return _audit(spec.key, attr, split)


@st.cache_resource(show_spinner=False, max_entries=32)
def _gallery(spec_key: str, attr: str | None, k: int, rule: str, seed: int, region, model_key: str | None):
    subject = _subject(spec_key, attr)
    model = None if model_key is None else _models().get(model_key)
    if model_key is not None and model is None:
        raise BamuInputError("the unlearned model is no longer in memory; run the unlearning again")
    return workflows.gallery(subject, k=k, rule=rule, seed=seed, region=region, model=model)


def gallery_for(spec: SubjectSpec, attr: str | None, *, k: int, rule: str, seed: int = 0, region=None, model_key=None):
    """A Grad-CAM gallery of the loaded model (or a kept unlearned model) on the test split."""
    region = None if region is None else tuple(int(v) for v in region)
    return _gallery(spec.key, attr, int(k), rule, int(seed), region, model_key)


@st.cache_resource(show_spinner=False, max_entries=32)
def _forget(spec_key: str, attr: str | None, strategy: str, options: tuple):
    return workflows.preview_forget(_subject(spec_key, attr), strategy, **dict(options))


def forget_preview(spec: SubjectSpec, attr: str | None, strategy: str, options: dict | None = None):
    """The forget set a strategy selects on the loaded subject (raises ``ValueError`` when it is empty)."""
    return _forget(spec.key, attr, strategy, tuple(sorted((options or {}).items())))
