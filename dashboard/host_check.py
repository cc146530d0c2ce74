"""The dashboard's Host check: requests naming a host that is not this machine are refused.

A web page on any site can make the browser talk to a server on ``localhost`` by DNS rebinding:
its name (``evil.example``) first resolves to the attacker, then to 127.0.0.1, and the page's
script then reaches the dashboard as "same origin", so Origin and XSRF checks pass. What it
cannot change is the ``Host`` header, which still says ``evil.example``. The dashboard reads any
folder on this machine, so every request whose Host is not an allowed name is refused:

- plain HTTP (the page, static files, health, uploads, media): ``403 Forbidden``;
- the websocket (``/_stcore/stream``): closed before it is accepted, which the server answers
  with ``403`` instead of ``101 Switching Protocols``.

Allowed names: ``localhost``, ``127.0.0.1`` and ``::1`` (``[::1]`` in a URL), the server's own
``server.address`` when it is a name or address (not ``0.0.0.0`` / ``::``), the names in
Streamlit's ``server.allowedHosts`` (``.streamlit/config.toml``), and those in the environment
variable ``BAMU_ALLOWED_HOSTS`` (comma-separated, e.g. ``BAMU_ALLOWED_HOSTS=lab-pc,lab-pc.local``;
``*.example.org`` matches sub-domains, ``*`` turns the check off). Ports are ignored.

It runs as the first ASGI middleware in front of Streamlit's own server (Starlette under uvicorn
in Streamlit 1.67). Streamlit has no setting for such a middleware with ``streamlit run
app.py``, so this module is a launcher: ``python -m dashboard.host_check run app.py [options]``
(what ``./run.sh`` does) wraps Streamlit's own middleware list with the check, sets
``server.allowedHosts`` to the same names (Streamlit then applies them to the websocket as well)
and starts ``streamlit`` with the given arguments. If Streamlit's server no longer has the hook
this relies on, the launcher stops with a message instead of serving unprotected. A bare
``streamlit run app.py`` still checks the websocket's Host against ``server.allowedHosts`` from
``.streamlit/config.toml`` (the script, and so any data, is only reached through it), but serves
the static page to any Host.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Awaitable, Callable, Iterable, MutableMapping
from urllib.parse import urlsplit

__all__ = ["DEFAULT_HOSTS", "ENV", "HostCheck", "allowed_hosts", "host_allowed", "install", "main"]

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
ENV = "BAMU_ALLOWED_HOSTS"
_WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _clean(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    return name[1:-1] if name.startswith("[") and name.endswith("]") else name


def allowed_hosts(extra: Iterable[str] = (), *, address: str | None = None, env: str | None = None) -> list[str]:
    """The allowed host names: the defaults, ``address`` (unless a wildcard), ``extra`` and ``$BAMU_ALLOWED_HOSTS``."""
    env = os.environ.get(ENV, "") if env is None else env
    names = [*DEFAULT_HOSTS, *extra, *env.split(",")]
    if address is not None and address.strip() not in _WILDCARD_ADDRESSES:
        names.append(address)
    out: list[str] = []
    for name in map(_clean, names):
        if name and name not in out:
            out.append(name)
    return out


def host_allowed(host: str | None, allowed: Iterable[str]) -> bool:
    """Whether a ``Host`` header value (``name`` or ``name:port``) names one of ``allowed``."""
    if not host:
        return False
    try:
        parts = urlsplit(f"//{host.strip()}")
        hostname, _ = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError:
        return False
    if not hostname or parts.username is not None or parts.password is not None or parts.path or parts.query:
        return False
    hostname = hostname.rstrip(".")
    for pattern in allowed:
        if pattern == "*" or hostname == pattern or pattern.startswith("*.") and hostname.endswith(pattern[1:]):
            return True
    return False


class HostCheck:
    """ASGI middleware: HTTP requests and websockets whose Host is not in ``allowed`` are refused (403)."""

    def __init__(self, app: Callable, allowed: Iterable[str] = DEFAULT_HOSTS):
        self.app = app
        self.allowed = [_clean(a) for a in allowed]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        hosts = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"host"]
        if len(hosts) == 1 and host_allowed(hosts[0], self.allowed):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
            return
        body = (
            b"403 Forbidden: this Host is not allowed. Open the dashboard at http://localhost:<port>, or add "
            b"the name you use to BAMU_ALLOWED_HOSTS.\n"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install() -> None:
    """Put :class:`HostCheck` in front of the middleware of every Starlette app Streamlit builds.

    Raises ``RuntimeError`` when this Streamlit has no such hook (then nothing would be checked).
    """
    try:
        from streamlit.web.server.starlette import starlette_app
    except ImportError as exc:
        message = f"this Streamlit has no Starlette server ({exc}); the Host check cannot be installed"
        raise RuntimeError(message) from None
    original = getattr(starlette_app, "create_streamlit_middleware", None)
    if original is None or not callable(original):
        raise RuntimeError("this Streamlit has no create_streamlit_middleware(); the Host check cannot be installed")
    if getattr(original, "bamu_host_check", False):
        return

    def create_streamlit_middleware(*args, **kwargs):
        from starlette.middleware import Middleware
        from streamlit import config

        names = allowed_hosts(
            config.get_option("server.allowedHosts") or (), address=config.get_option("server.address")
        )
        config.set_option("server.allowedHosts", names)  # Streamlit's own websocket check uses the same names
        return [Middleware(HostCheck, allowed=names), *original(*args, **kwargs)]

    create_streamlit_middleware.bamu_host_check = True
    starlette_app.create_streamlit_middleware = create_streamlit_middleware


def main(argv: list[str] | None = None) -> None:
    """``python -m dashboard.host_check run app.py [options]``: ``streamlit`` with the Host check installed."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        install()
    except RuntimeError as exc:
        sys.exit(f"bamu dashboard: {exc}; not starting without it")
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *argv]
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
