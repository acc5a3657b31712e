"""The in-process rate-limit storage sweeps expired windows inline, without a thread per request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from service.api.ratelimit import SWEEP_S, SweptMemoryStorage, storage_uri


def _timers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


@pytest.mark.parametrize(
    ("store_url", "uri"),
    [
        ("sqlite:///x.db", "sweptmemory://"),
        ("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"),
    ],
)
def test_embedded_stores_count_in_the_swept_storage(store_url: str, uri: str) -> None:
    assert storage_uri(store_url) == uri


def test_limited_requests_start_no_timer_threads(make_client: Callable[..., FlaskClient]) -> None:
    # The stock memory storage starts a 10 ms threading.Timer on nearly every request, so one
    # would be alive right after most of these answers.
    client = make_client(rate_limit_reads="1000/minute")
    seen = []
    for _ in range(30):
        response = client.get("/v1/articles")
        assert response.status_code == 200
        assert "RateLimit-Remaining" in response.headers
        seen.append(len(_timers()))
    assert max(seen) == 0, seen


def test_a_window_past_its_expiry_is_swept_and_counts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = SweptMemoryStorage()
    assert storage.acquire_entry("k", limit=1, expiry=1)
    assert not storage.acquire_entry("k", limit=1, expiry=1)
    later_wall, later_mono = time.time() + 5, time.monotonic() + 5 + SWEEP_S
    monkeypatch.setattr(time, "time", lambda: later_wall)
    monkeypatch.setattr(time, "monotonic", lambda: later_mono)
    assert storage.acquire_entry("k", limit=1, expiry=1)
    # The sweep dropped the expired entry before the new one went in.
    assert len(storage.events["k"]) == 1
