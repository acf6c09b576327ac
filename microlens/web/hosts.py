"""Host and Origin checks: what keeps other web sites away from a server without an API token.

* **Host** (DNS rebinding: a site whose name resolves to 127.0.0.1 would otherwise read and drive the
  server from the user's browser): the Host header must name this server: ``localhost``,
  ``127.0.0.1``, ``[::1]``, the address it was bound to (``microlens serve --host``), or a name in
  ``MICROLENS_ALLOWED_HOSTS`` (comma-separated; ``*`` allows any). A server bound to every interface
  (``0.0.0.0`` or ``::``) also accepts any IP address and the machine's host name: a browser sends an
  IP address as Host only when the user opened that address, which DNS rebinding cannot fake.
  Otherwise: 400 "host not allowed".
* **Origin** (cross-site request forgery): a POST, PUT, PATCH or DELETE, and the WebSocket handshake,
  whose ``Origin`` names another site, or whose ``Sec-Fetch-Site`` is ``cross-site`` or
  ``same-site``, gets 403. Clients that send neither header (curl, scripts) are unaffected.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.exceptions import BadRequest, Forbidden

from microlens.web.settings import Settings

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::[0-9]{1,5})?$")


def host_name(host: str) -> str | None:
    """The name in a Host header value (lowercase, without port, IPv6 brackets or trailing dot);
    None when it is malformed."""
    m = _HOST.match(host.strip().lower())
    if m is None:
        return None
    name = (m["v6"] or m["name"]).rstrip(".")
    return name or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_checker(settings: Settings) -> Callable[[str], bool]:
    """``allowed(host_header_value) -> bool`` for this server's settings."""
    extra = {n for h in settings.allowed_hosts.split(",") if (n := h.strip().lower().strip("[]").rstrip("."))}
    if "*" in extra:
        return lambda host: True
    bind = settings.bind_host.strip().lower().strip("[]")
    wildcard = bind in WILDCARD_BINDS
    names = set(LOCAL_HOSTS) | extra
    if wildcard:
        names.add(socket.gethostname().lower())
    elif bind:
        names.add(bind)

    def allowed(host: str) -> bool:
        name = host_name(host)
        return name is not None and (name in names or (wildcard and _is_ip(name)))

    return allowed


def cross_origin(headers: Any, host: str, port: str = "") -> str | None:
    """Why a request with these headers, sent to ``host`` (its Host header) on ``port`` (the server's
    port), comes from another site; None when it does not (same origin, or no Origin and no
    Sec-Fetch-Site, as from curl). A Host without a port (some WebSocket clients) is taken to mean
    the server's port."""
    site = headers.get("Sec-Fetch-Site", "").strip().lower()
    if site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site is {site}"
    origin = headers.get("Origin")
    if origin is None:
        return None
    try:
        netloc = urlsplit(origin.strip()).netloc.lower()
    except ValueError:
        netloc = ""
    host = host.strip().lower()
    same = {host}
    if port and (host.endswith("]") or ":" not in host):  # no port given: the server's own
        same.add(f"{host}:{port}")
    if not netloc or netloc not in same:
        return f"Origin {origin[:100]!r} is not this server"
    return None


def init(app: Flask, settings: Settings) -> None:
    """Register the Host and Origin checks (first, before the token check)."""
    allowed = host_checker(settings)

    @app.before_request
    def _check_host_and_origin() -> None:
        host = request.headers.get("Host") or request.host
        if not allowed(host):
            raise BadRequest(f"host not allowed: {host[:100]!r}; the server accepts localhost, its "
                             "bound address and the names in MICROLENS_ALLOWED_HOSTS")
        if request.method in UNSAFE_METHODS or request.headers.get("Upgrade", "").lower() == "websocket":
            why = cross_origin(request.headers, host, str(request.environ.get("SERVER_PORT", "")))
            if why:
                raise Forbidden(f"cross-origin request refused: {why}")
