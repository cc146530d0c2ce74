"""The Streamlit dashboard's glue (``app.py`` and ``pages/*.py`` use it; not part of the installed
library). Every computation is a :mod:`bamu_core.workflows` call.

- :mod:`.keys`: the names of everything kept in ``st.session_state``;
- :mod:`.state`: this session's choices and the resources sessions share (``st.cache_resource``):
  loaded subjects, unlearned models, cached audits, galleries and forget-set previews;
- :mod:`.jobs`: background jobs (:mod:`bamu_core.jobs`) of this session, loading the subject,
  collecting a finished run, the compute device and threads;
- :mod:`.tasks`: the job functions (unlearn, sweep);
- :mod:`.subjects`: :class:`~.subjects.SubjectSpec` (what to load) and the subject store;
- :mod:`.uploads`: the per-session upload folder and safe zip extraction;
- :mod:`.tables`: the pages' DataFrames;
- :mod:`.charts`: the report's figures shown in Streamlit;
- :mod:`.widgets`: setup, page guard, live job panel, error messages, sidebar;
- :mod:`.errors`: which exceptions are the user's to fix, and their wording.

:mod:`.keys`, :mod:`.errors`, :mod:`.subjects`, :mod:`.uploads`, :mod:`.tables` and :mod:`.tasks`
do not import Streamlit.
"""
