"""Security: the dashboard listens on localhost only, keeps XSRF protection on, refuses oversized
uploads, never evaluates or unpickles user data, escapes user text it renders as HTML, and keeps
uploads in a private per-session folder that is removed when the session ends.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import http.client
import socket
import stat
import tempfile
import urllib.request
from pathlib import Path

import pytest
import tomllib
from reliability_kit import (
    REPO,
    close_app,
    files_under,
    model_file,
    open_app,
    reliability,
    settle,
)

CONFIG = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
MAX_MB = CONFIG["server"]["maxUploadSize"]


# ------------------------------------------------------------------------------------------------
# configuration, and the real server obeying it
# ------------------------------------------------------------------------------------------------


@reliability("security", ".streamlit/config.toml")
def test_the_config_binds_localhost_keeps_xsrf_on_and_limits_uploads():
    """The dashboard's config binds to localhost, keeps XSRF (and CORS) protection on and limits uploads to 200 MB."""
    server = CONFIG["server"]
    assert server["address"] in ("localhost", "127.0.0.1")
    assert server["enableXsrfProtection"] is True
    assert server.get("enableCORS", True) is True  # XSRF protection needs CORS protection on
    assert 1 <= server["maxUploadSize"] <= 200
    assert server["headless"] is True and CONFIG["browser"]["gatherUsageStats"] is False


@contextlib.contextmanager
def _server(tmp_path):
    """``streamlit run app.py`` with the repository's config; yields its port and XSRF token."""
    from test_e2e_browser import serve

    with serve(tmp_path / "home", tmp_path / "server.log") as url:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
            cookie = r.getheader("Set-Cookie") or ""
        yield int(url.rsplit(":", 1)[1]), cookie.split(";")[0].partition("=")[2]


def _listening(port: int) -> list[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp*)."""
    found = []
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.append(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _put(port: int, path: str, *, size: int, body: bytes = b"", token: str | None = None) -> tuple[int, bytes]:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    con.putrequest("PUT", path)
    if token:
        con.putheader("Cookie", f"_streamlit_xsrf={token}")
        con.putheader("X-Xsrftoken", token)
    con.putheader("Content-Type", "multipart/form-data; boundary=bamu")
    con.putheader("Content-Length", str(size))
    con.endheaders()
    if body:
        con.send(body)
    response = con.getresponse()
    return response.status, response.read()


@contextlib.contextmanager
def _session(port: int):
    """A browser-like session over the websocket; yields its id."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"]) as ws:
        back = BackMsg()
        back.rerun_script.query_string = ""
        ws.send(back.SerializeToString())
        for _ in range(200):
            msg = ForwardMsg()
            msg.ParseFromString(ws.recv(timeout=60))
            if msg.HasField("new_session"):
                yield msg.new_session.initialize.session_id
                return
        raise AssertionError("no new_session message from the server")


@reliability("security", "streamlit server")
def test_the_running_dashboard_listens_on_localhost_refuses_uploads_without_xsrf_and_above_the_limit(tmp_path):
    """A real `streamlit run app.py` listens on loopback only, answers an upload without XSRF token 403 and one above 200 MB 413 before reading it."""
    pytest.importorskip("websockets")
    with _server(tmp_path) as (port, token):
        addresses = _listening(port)
        if addresses:  # Linux: every listening socket is a loopback one
            assert all(a.startswith("127.") or a in ("::1", "::ffff:127.0.0.1") for a in addresses), addresses
        assert token, "the server sets an XSRF cookie"
        status, body = _put(port, "/_stcore/upload_file/any/file", size=10, body=b"0123456789")
        assert (status, body) == (403, b"XSRF token missing or invalid")
        with _session(port) as session:
            status, body = _put(port, f"/_stcore/upload_file/{session}/f1", size=MAX_MB * 1024 * 1024 + 1, token=token)
            assert (status, body) == (413, b"File too large")  # refused from its header, before any byte is read
            status, _ = _put(port, f"/_stcore/upload_file/{session}/f2", size=10, body=b"0123456789", token=token)
            assert status == 400  # within the limit it goes on to be parsed (and this one is not multipart)


# ------------------------------------------------------------------------------------------------
# no eval / exec / pickle on user data
# ------------------------------------------------------------------------------------------------

SOURCES = sorted(
    [
        *(REPO / "bamu_core").rglob("*.py"),
        REPO / "app.py",
        *(REPO / "pages").glob("*.py"),
        *(REPO / "dashboard").glob("*.py"),
    ]
)


def _call_name(node: ast.Call) -> str:
    parts, f = [], node.func
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    parts.append(f.id if isinstance(f, ast.Name) else "?")  # model.to(d).eval() is "?.eval", not eval()
    return ".".join(reversed(parts))


def _keyword(node: ast.Call, name: str):
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<expression>"
    return None


def _unsafe_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        last = name.rsplit(".", 1)[-1]
        bad = (
            name
            in (
                "eval",
                "exec",
                "compile",
                "__import__",
                "os.system",
                "os.popen",
                "marshal.loads",
                "marshal.load",
                "shelve.open",
                "pd.read_pickle",
                "pandas.read_pickle",
                "dill.load",
                "dill.loads",
                "joblib.load",
                "yaml.unsafe_load",
                "yaml.full_load",
            )
            or name.startswith(("pickle.", "cPickle.", "_pickle."))
            and last in ("load", "loads", "Unpickler")
            or last == "load"
            and name.split(".")[0] == "torch"
            and _keyword(node, "weights_only") is not True
            or last == "load"
            and name.split(".")[0] in ("np", "numpy")
            and _keyword(node, "allow_pickle") not in (None, False)
            or name in ("yaml.load",)
            and _keyword(node, "Loader") is None
            or last in ("run", "Popen", "call", "check_call", "check_output")
            and _keyword(node, "shell") not in (None, False)
        )
        if bad:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}(...)")
    return found


@reliability("security", "package source")
def test_the_package_never_evaluates_or_unpickles_data():
    """No eval/exec/compile, pickle/marshal/shelve/joblib loads, torch.load without weights_only=True, np.load with allow_pickle, or shell=True in bamu_core, app.py, pages/."""
    assert len(SOURCES) > 40  # the scan sees the whole package
    found = [hit for path in SOURCES for hit in _unsafe_calls(path)]
    assert found == []


def test_the_scanner_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle, torch, numpy as np, subprocess\n"
        "eval(s); exec(s); pickle.loads(b); torch.load(p); torch.load(p, weights_only=False)\n"
        "np.load(p, allow_pickle=True); subprocess.run(c, shell=True)\n"
        "torch.load(p, weights_only=True); np.load(p); subprocess.run(['ls'])\n"  # these are fine
    )
    hits = [h.split(": ", 1)[1] for h in _unsafe_calls_at(bad)]
    assert hits == [
        "eval(...)",
        "exec(...)",
        "pickle.loads(...)",
        "torch.load(...)",
        "torch.load(...)",
        "np.load(...)",
        "subprocess.run(...)",
    ]


def _unsafe_calls_at(path: Path) -> list[str]:
    global REPO
    saved, REPO = REPO, path.parent
    try:
        return _unsafe_calls(path)
    finally:
        REPO = saved


@reliability("security", "dashboard source")
def test_html_the_dashboard_renders_escapes_user_text():
    """Every ``unsafe_allow_html`` markdown interpolates only escaped text or constants."""
    problems = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _keyword(node, "unsafe_allow_html") is True and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.JoinedStr):
                    for part in arg.values:
                        if isinstance(part, ast.FormattedValue) and not _escaped(part.value):
                            problems.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(part.value)}")
    assert problems == []


def _escaped(node) -> bool:
    if isinstance(node, ast.Call) and _call_name(node) in ("html.escape", "escape"):
        return True
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "COLOURS":
        return True  # fixed colours
    return False


# ------------------------------------------------------------------------------------------------
# the dashboard: escaped group names, the upload limit, private upload folders
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_app(tmp_path):
    at = open_app(tmp_path, groups=("plain", "<img src=x onerror=alert(1)>"))
    yield at
    close_app(at)


@reliability("security", "dashboard")
def test_group_names_from_a_csv_are_shown_escaped(tiny_app):
    """A group named <img src=x onerror=alert(1)> in the CSV is shown as text, not as HTML."""
    html = [m.value for m in tiny_app.markdown if "bamu-group-label" in str(m.value)]
    assert len(html) == 2
    assert any("&lt;img src=x onerror=alert(1)&gt;" in h for h in html)
    assert not any("<img" in h for h in html)


@reliability("security", "dashboard")
def test_the_upload_widgets_state_the_limit_the_server_enforces(tiny_app):
    """Both upload widgets carry the 200 MB limit and explain it (server.maxUploadSize) and what to do with larger files."""
    tiny_app.radio(key="load_source").set_value("zip").run()
    tiny_app.radio(key="load_model").set_value("checkpoint").run()
    for key in ("load_zip", "load_ckpt"):
        widget = tiny_app.file_uploader(key=key)
        assert widget.proto.max_upload_size_mb == MAX_MB  # shown by the widget: "Limit 200MB per file"
        assert f"{MAX_MB} MB" in widget.help and "server.maxUploadSize" in widget.help


@reliability("security", "dashboard")
def test_uploads_go_to_a_private_per_session_folder_removed_with_the_session(tiny_app, tmp_path):
    """Uploads land in a per-session 0700 temp folder under their bare name (../../ stripped); ending one session removes its folder only; a dropped session's folder is removed."""
    from streamlit.testing.v1 import AppTest

    from dashboard.uploads import UploadDir

    ckpt = model_file(tmp_path / "upload.safetensors").read_bytes()
    other = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)  # a second browser tab
    other.session_state["spec"] = tiny_app.session_state["spec"]
    other.session_state["group_attr"] = None
    settle(other)
    folders = []
    for at in (tiny_app, other):
        at.radio(key="load_model").set_value("checkpoint").run()
        at.file_uploader(key="load_ckpt").upload("../../weights.safetensors", ckpt).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        folders.append(at.session_state["uploads"])
    a, b = (f.path for f in folders)
    try:
        assert a != b and a.parent == b.parent == Path(tempfile.gettempdir())
        for folder in (a, b):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # private to the server's user
            [saved] = files_under(folder)
            assert saved.endswith("/weights.safetensors")  # the name, not the path, of the upload
    finally:
        folders[1].cleanup()
    assert a.exists() and not b.exists()  # one session's end leaves the other's uploads alone
    # a session that goes away without cleaning up: its folder goes with it
    orphan = UploadDir()
    path = orphan.path
    orphan.save("x.pt", b"123")
    del orphan
    gc.collect()
    assert not path.exists()
