"""Failed API key attempts, counted per client address, so that keys cannot be guessed at the
request rate: once FACTCHECK_RATE_LIMIT_AUTH_FAILURES is spent, every request from that address
that presents a key answers 429 (the right key too: else the answer would tell it apart).

Authentication runs before the flask-limiter limits (they count per key), so this budget is
kept apart. Every attempt is counted in this process, and in Redis too when the store is Redis
(shared by every worker and replica); a request is admitted only if both admit it. A wrong key
is checked and counted in one atomic step (a moving-window "hit"), so concurrent guesses cannot
all pass a check before any is counted. A request makes at most one Redis call for the budget;
after a Redis failure (down, hung, refusing writes) or a 503 from the store the shared counters
are left alone for BREAKER_S seconds, so an outage costs a keyed request no extra timeouts, and
the per-process counters, always kept, still hold the budget meanwhile. Redis unreachable here
means the store (the same Redis) is too: that request answers 503 at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from service.api.ratelimit import SweptMemoryStorage
from service.config import Config
from service.store.base import StoreUnavailable

log = logging.getLogger(__name__)
OFF = {"", "off", "none", "0"}
BREAKER_S = 5.0  # how long the shared counters are left alone after they failed


class FailureBudget:
    """How many failed key attempts a client address may make in a window."""

    def __init__(self, config: Config) -> None:
        setting = config.rate_limit_auth_failures.strip()
        self.item: RateLimitItem | None = None if setting.lower() in OFF else parse(setting)
        self.scope = f"{config.redis_prefix}:auth-failures"
        # Swept inline, like the limiter's: the stock storage starts a Timer thread per request.
        self._local = MovingWindowRateLimiter(SweptMemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if config.store.startswith(("redis://", "rediss://")):
            storage = storage_from_string(config.store, socket_timeout=config.redis_timeout_s)
            self._shared = MovingWindowRateLimiter(storage)
        self._lock = threading.Lock()
        self._shared_after = 0.0  # monotonic time before which the shared counters are skipped

    def trip(self, reason: str) -> None:
        """Leave the shared counters alone for a while (they, or the store, just failed)."""
        if self._shared is None:
            return
        with self._lock:
            if time.monotonic() >= self._shared_after:
                log.warning("auth failure counters: %s; counting per process for a while", reason)
            self._shared_after = time.monotonic() + BREAKER_S

    def _shared_now(self) -> MovingWindowRateLimiter | None:
        return self._shared if time.monotonic() >= self._shared_after else None

    def admit(self, client: str, right_key: bool) -> int | None:
        """Count a wrong key (a right one is only checked); None if the request may go on,
        else the seconds to wait. The wait is the whole window, the same for right and wrong
        keys (a bound: by then every attempt counted so far has left the window)."""
        item = self.item
        if item is None:
            return None
        if right_key:
            admitted = self._local.test(item, self.scope, client)
        else:
            admitted = self._local.hit(item, self.scope, client)
        shared = self._shared_now()
        if shared is not None and admitted:  # refused here: no need to ask (or count) there
            try:
                lim = shared.test if right_key else shared.hit
                admitted = lim(item, self.scope, client)
            except Exception as exc:  # down, hung or refusing writes: local counters hold
                self.trip(f"{exc.__class__.__name__}: {str(exc)[:80]}")
                import redis  # loaded already: the shared counters are the Redis store's

                if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
                    # The store is that same Redis: this request would meet it next and pay
                    # its timeouts again. Answer 503 now, within one timeout.
                    raise StoreUnavailable(
                        f"Redis is unreachable: {exc.__class__.__name__}"
                    ) from exc
        return None if admitted else max(1, math.ceil(item.get_expiry()))
