"""Rate limits per API key, or per client address without one (flask-limiter).

Counters live in Redis when the store is Redis, so every worker and replica shares them;
with the embedded store they are per worker process (memory), which bounds each worker.
A refused request gets 429 problem+json with Retry-After; every limited response carries
RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds until the window resets).
Retry-After is only on the answers that ask for a retry (RETRY_STATUSES); on the app's own
503 and 409 the app's value stands, not the window's, and a 409 without one gets none.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Response, g, request
from flask_limiter import HeaderNames, Limiter
from limits.storage import MemoryStorage

from service.config import Config

OFF = {"", "off", "none", "0"}
LIMIT_HEADERS = {
    HeaderNames.LIMIT: "RateLimit-Limit",
    HeaderNames.REMAINING: "RateLimit-Remaining",
    HeaderNames.RESET: "RateLimit-Reset",
    HeaderNames.RETRY_AFTER: "Retry-After",
}
# flask-limiter puts Retry-After on every limited response, 200s included; only these ask for
# a retry: a refusal by a limit (429), the store down (503), an idempotent request running (409).
RETRY_STATUSES = {409, 429, 503}
# ...but a 409 asks for one only when the app says so (an idempotent request still running):
# other conflicts (an article deleted since) never resolve by waiting.
APP_RETRY_ONLY = {409}


def client_identity() -> str:
    """Who a limit counts: the API key (by its hash) when one was accepted, else the address."""
    key = g.get("key_id")
    return f"key:{key}" if key else f"addr:{request.remote_addr or 'unknown'}"


def _limit(setting: str) -> str | None:
    """A limit string, or None when the setting turns the limit off ("off", "none", "")."""
    return None if setting.strip().lower() in OFF else setting


SWEEP_S = 1.0


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage, its expired windows swept inline at most every SWEEP_S.

    The stock storage starts a new ``threading.Timer`` (an OS thread) whenever the previous
    one has ended, which at under 100 requests/s is one thread start per request: about 9% of
    a check in a profile (docs/benchmarks.md, "Check path"). Sweeping on the caller's thread
    once a second bounds memory the same way. One sweeper at a time, and never waiting for
    the turn: the stock sweep takes every key's lock, and callers call it outside their own.
    """

    STORAGE_SCHEME = ["sweptmemory"]  # noqa: RUF012 (limits reads it as the base declares it)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._swept_at = time.monotonic()
        self._sweeping = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # the stock hook, name-mangled
        if time.monotonic() - self._swept_at < SWEEP_S or not self._sweeping.acquire(False):
            return
        try:
            self._swept_at = time.monotonic()
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweeping.release()


MEMORY_URI = "sweptmemory://"


def storage_uri(store_url: str) -> str:
    return store_url if store_url.startswith(("redis://", "rediss://")) else MEMORY_URI


def init_rate_limits(app: Flask, config: Config) -> Limiter:
    @app.after_request
    def _reset_as_delta(response: Response) -> Response:
        # flask-limiter writes the reset as an epoch time; the RateLimit header fields
        # (IETF httpapi draft) give seconds from now. Registered before the limiter so that
        # it runs after the limiter's own hook (Flask runs after_request hooks in reverse).
        reset = response.headers.get("RateLimit-Reset")
        if reset is not None and reset.isdigit() and int(reset) > 10**9:
            response.headers["RateLimit-Reset"] = str(max(0, int(reset) - int(time.time())))
        own = g.pop("app_retry_after", None)
        if response.status_code not in RETRY_STATUSES:
            response.headers.pop("Retry-After", None)
        elif own is not None:
            response.headers["Retry-After"] = own  # the app knows better than the window
        elif response.status_code in APP_RETRY_ONLY:
            response.headers.pop("Retry-After", None)  # the app asked for no retry
        return response

    uri = storage_uri(config.store)
    # A shared Redis must not hang a request: the store's own socket timeout applies.
    options: dict[str, Any] = (
        {} if uri == MEMORY_URI else {"socket_timeout": config.redis_timeout_s}
    )
    limiter = Limiter(
        client_identity,
        app=app,
        storage_uri=uri,
        storage_options=options,
        key_prefix=f"{config.redis_prefix}:ratelimit",
        strategy="moving-window",
        headers_enabled=True,
        header_name_mapping=LIMIT_HEADERS,
        retry_after="delta-seconds",
        # A Redis outage must not turn every request into a 500 here: the store answers 503
        # for what needs it, and the limits fall back to per-process counters meanwhile.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        enabled=bool(_limit(config.rate_limit_reads) or _limit(config.rate_limit_writes)),
    )

    @app.after_request
    def _keep_app_retry_after(response: Response) -> Response:
        # Registered after the limiter, so it runs before the limiter rewrites the header.
        if "Retry-After" in response.headers:
            g.app_retry_after = response.headers["Retry-After"]
        return response

    from service.api import articles, check

    # One budget for all reads and one for all writes, whatever the route or method.
    reads, writes = _limit(config.rate_limit_reads), _limit(config.rate_limit_writes)
    if reads:
        limiter.shared_limit(reads, scope="reads")(check.bp)
        limiter.shared_limit(reads, scope="reads", methods=["GET"])(articles.bp)
    if writes:
        limiter.shared_limit(writes, scope="writes", methods=["POST", "DELETE"])(articles.bp)

    return limiter
