"""Failed API key attempts, counted per client address, so that keys cannot be guessed at the
request rate: once FACTCHECK_RATE_LIMIT_AUTH_FAILURES is spent, every request from that address
that presents a key answers 429 (the right key too: else the answer would tell it apart).

Authentication runs before the flask-limiter limits (they count per key), so this budget is
kept apart, in the same storage: Redis when the store is Redis (shared by every worker and
replica), else per worker process; a storage failure falls back to per-process counters.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from service.config import Config

log = logging.getLogger(__name__)
OFF = {"", "off", "none", "0"}


class FailureBudget:
    """How many failed key attempts a client address may make in a window."""

    def __init__(self, config: Config) -> None:
        setting = config.rate_limit_auth_failures.strip()
        self.item: RateLimitItem | None = None if setting.lower() in OFF else parse(setting)
        self.scope = f"{config.redis_prefix}:auth-failures"
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = self._local
        if config.store.startswith(("redis://", "rediss://")):
            storage = storage_from_string(config.store, socket_timeout=config.redis_timeout_s)
            self._shared = MovingWindowRateLimiter(storage)

    def _run(self, call: Callable[[MovingWindowRateLimiter], Any]) -> Any:
        try:
            return call(self._shared)
        except Exception as exc:  # the shared counters are down: count in this process
            log.warning("auth failure counters unavailable (%s); counting per process", exc)
            return call(self._local)

    def retry_after(self, client: str) -> int | None:
        """Seconds until this client may present a key again, or None if it may now."""
        item = self.item
        if item is None or self._run(lambda lim: lim.test(item, self.scope, client)):
            return None
        stats = self._run(lambda lim: lim.get_window_stats(item, self.scope, client))
        return max(1, math.ceil(stats.reset_time - time.time()))

    def failed(self, client: str) -> None:
        item = self.item
        if item is not None:
            self._run(lambda lim: lim.hit(item, self.scope, client))
