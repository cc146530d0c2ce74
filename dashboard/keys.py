"""The names of everything the dashboard keeps in ``st.session_state`` (one browser tab's state).

Only :mod:`dashboard.state` and :mod:`dashboard.jobs` read and write these; pages go through their
functions. Widgets' own keys (``key="ul_method"`` ...) are named where the widget is drawn.
"""

SID = "sid"  # this session's id (owner of its jobs)
SPEC = "spec"  # the SubjectSpec the user chose on the Load page
GROUP_ATTR = "group_attr"  # the group attribute to audit (None: the data's first)
UPLOADS = "uploads"  # this session's UploadDir
ZIP_CACHE = "zip_cache"  # uploaded zip's file id -> its metadata CSV path, or the error it raised
CKPT_CACHE = "ckpt_cache"  # uploaded checkpoint's file id -> (path, tensors), or the error it raised
JOB_IDS = "job_ids"  # job kind -> id of this session's latest job of that kind
COLLECTED = "collected"  # job id -> the JSON summary of a finished unlearning job
LAST_RUN = "last_run"  # the JSON summary of this session's latest unlearning run
LAST_RUN_SPEC = "last_run_spec"  # the key of the SubjectSpec that run was made on
ORACLES = "oracles"  # (spec key, group attribute, forget set) -> the retrain oracle's summary
