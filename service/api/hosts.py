"""Which Host headers the server answers: a keyless server only its own loopback names.

Without API keys anyone who can reach the server may write, which `factcheck serve` allows on
loopback only; a page on another site could still reach it through DNS rebinding (its own
name resolving to 127.0.0.1), and its requests then name that site's host. So a keyless server
answers only Host headers naming loopback or FACTCHECK_ALLOWED_HOSTS; with keys configured,
any host unless FACTCHECK_ALLOWED_HOSTS names some. Others get 421 problem+json.

(Flask's TRUSTED_HOSTS cannot be used: werkzeug 3.1 splits a trusted name at its first
colon, so it can never match "[::1]".)
"""

from __future__ import annotations

import re

from flask import Flask, request

from service.api.errors import ApiError
from service.config import Config

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
MISDIRECTED = "urn:factcheck:problem:misdirected"
# A name or IPv4 address, or a bracketed IPv6 address; then an optional port.
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::[0-9]{1,5})?", re.IGNORECASE)


# What FACTCHECK_ALLOWED_HOSTS may list: a name (".name": and its subdomains), an IPv4 or a
# bracketed IPv6 address; no port (the Host's port is never compared) and no scheme.
_ENTRY = re.compile(r"\[[0-9a-f:.]+\]|\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?", re.IGNORECASE)


def _normal(name: str) -> str:
    # One trailing dot is the root (the same name); "localhost.." is no name at all.
    name = name.strip().lower().removesuffix(".")
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def _entry(raw: str) -> str:
    if _ENTRY.fullmatch(raw.strip()) is None:
        raise ValueError(
            f"FACTCHECK_ALLOWED_HOSTS: {raw.strip()!r} is not a host name (list names, "
            "'.example.org' for a domain and its subdomains, or addresses; no port or scheme)"
        )
    return _normal(raw)


def allowed_hosts(config: Config, keyed: bool) -> list[str] | None:
    """The host names to answer (".example.org" also admits example.org and its subdomains);
    None: any. ValueError for an entry that could never match."""
    listed = [_entry(h) for h in config.allowed_hosts.split(",") if h.strip()]
    if keyed:
        return listed or None
    return [*LOOPBACK_HOSTS, *listed]


def host_allowed(host: str, allowed: list[str]) -> bool:
    match = _HOST.fullmatch(host.strip())
    if match is None:
        return False
    name = _normal(match.group(1))
    return any(
        name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:]))
        for entry in allowed
    )


def init_hosts(app: Flask, config: Config, keyed: bool) -> None:
    allowed = allowed_hosts(config, keyed)
    if allowed is None:
        return

    @app.before_request
    def _check_host() -> None:
        host = request.headers.get("Host")
        # No Host at all (HTTP/1.0) is no browser, hence no rebinding page.
        if host is not None and not host_allowed(host, allowed):
            raise ApiError(
                421,
                "Misdirected Request",
                "This server does not answer for the host this request names; "
                "FACTCHECK_ALLOWED_HOSTS lists the names it answers beyond loopback.",
                MISDIRECTED,
            )
