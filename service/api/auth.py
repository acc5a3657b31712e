"""API keys: writes need `Authorization: Bearer <key>`; reads too when configured.

Keys come from FACTCHECK_API_KEYS (comma-separated) and/or FACTCHECK_API_KEYS_FILE (one a
line, `#` comments). With no key configured, writes are open: that is for a laptop, and
`factcheck serve` refuses to listen beyond loopback that way (open_writes_refusal).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from flask import Flask, Response, g, request

from service.api.errors import ApiError
from service.api.guessing import FailureBudget
from service.config import Config

AUTH_PROBLEM = "urn:factcheck:problem:unauthorized"
# Endpoints that anyone may call whatever the configuration: probes, the contract, the
# check page and the docs (their API calls still need a key where one is required), metrics.
ALWAYS_OPEN = {"health.healthz", "health.readyz", "health.openapi", "static"} | {
    "web.index",
    "web.asset",
    "web.docs",
    "web.docs_asset",
    "metrics.metrics",
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Blueprints whose POST is a read (a claim to check), not a change to the index.
READ_BY_POST = {"check"}


def load_keys(config: Config) -> list[str]:
    """Every configured key, from the variable and the file, without blanks or comments."""
    keys = [k.strip() for k in config.api_keys.split(",")]
    if config.api_keys_file:
        try:
            lines = Path(config.api_keys_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"FACTCHECK_API_KEYS_FILE cannot be read: {exc.strerror}") from exc
        keys += [line.split("#", 1)[0].strip() for line in lines]
    return [k for k in dict.fromkeys(keys) if k]


LOOPBACK = {"127.0.0.1", "localhost", "::1", "unix"}


def open_writes_refusal(config: Config, keys: list[str]) -> str | None:
    """Why serving this way would let anyone on the network change the index, or None."""
    host = config.bind.rsplit(":", 1)[0].strip("[]")
    if keys or host in LOOPBACK:
        return None
    return (
        f"refusing to listen on {config.bind} with writes open: no API key is configured. "
        "Set FACTCHECK_API_KEYS (or FACTCHECK_API_KEYS_FILE), bind 127.0.0.1, or pass "
        "--allow-open-writes."
    )


def key_id(key: str) -> str:
    """A short, non-reversible name for a key: what logs and rate limits may carry."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def matching_key(presented: str, keys: list[str]) -> str | None:
    """The configured key equal to the presented one, compared in constant time: every key is
    compared, whatever matched, so the time taken says nothing about which or how much."""
    found = None
    given = presented.encode("utf-8")
    for key in keys:
        if hmac.compare_digest(given, key.encode("utf-8")):
            found = key
    return found


def needs_key(endpoint: str | None, method: str, blueprint: str | None, reads_too: bool) -> bool:
    # No endpoint: routing failed, and its 404 or 405 says more than a 401 would.
    if endpoint is None or endpoint in ALWAYS_OPEN or method == "OPTIONS":
        return False
    is_write = method in WRITE_METHODS and blueprint not in READ_BY_POST
    return is_write or reads_too


def init_auth(app: Flask, config: Config) -> None:
    keys = load_keys(config)
    if config.read_keys_required and not keys:
        raise ValueError("FACTCHECK_READ_KEYS_REQUIRED is set but no API key is configured")

    budget = FailureBudget(config)

    @app.before_request
    def _authenticate() -> None:
        g.key_id = None
        header = request.headers.get("Authorization", "")
        # A key sent where keys matter (not to the probes, not to an unrouted path) may be a
        # guess: count the wrong ones, per address, and refuse all once too many were wrong.
        guarded = bool(keys and header) and request.endpoint not in {None, *ALWAYS_OPEN}
        client = request.remote_addr or "unknown"
        scheme, _, presented = header.partition(" ")
        presented = presented.strip()
        key = matching_key(presented, keys) if scheme.lower() == "bearer" and presented else None
        wait = budget.admit(client, right_key=key is not None) if guarded else None
        if wait is not None:
            raise ApiError(
                429,
                "Too Many Requests",
                "Too many requests with a wrong API key from this address; retry later.",
                headers={"Retry-After": str(wait)},
            )
        if key is not None:
            g.key_id = key_id(key)
        if not keys or key is not None:
            return
        if not needs_key(
            request.endpoint, request.method, request.blueprint, config.read_keys_required
        ):
            return
        challenge = 'Bearer realm="factcheck"'
        if header:
            challenge += ', error="invalid_token"'
        raise ApiError(
            401,
            "Unauthorized",
            "This request needs a valid API key: send 'Authorization: Bearer <key>'."
            if not header
            else "The API key is not valid.",
            AUTH_PROBLEM,
            headers={"WWW-Authenticate": challenge},
        )

    @app.after_request
    def _store_failed(response: Response) -> Response:
        # The store just answered 503 (down, hung, refusing writes): the budget's shared
        # counters live in the same Redis, so skip them for a while rather than time out.
        if response.status_code == 503:
            budget.trip("the store answered 503")
        return response
