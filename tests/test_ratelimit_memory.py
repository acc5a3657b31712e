"""The in-process rate-limit storage sweeps expired windows inline, without a thread per request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from service.api.ratelimit import SWEEP_S, SweptMemoryStorage, storage_uri


def _timers() -> list[threading.Thread]:
    """Live timers started by the rate-limit storage (the limits package): other parts of the
    process (a redis client, an earlier test's server) may run timers of their own."""
    return [
        t
        for t in threading.enumerate()
        if isinstance(t, threading.Timer)
        and t.is_alive()
        and getattr(t.function, "__module__", "").startswith("limits")
    ]


@pytest.mark.parametrize(
    ("store_url", "uri"),
    [
        ("sqlite:///x.db", "sweptmemory://"),
        ("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"),
    ],
)
def test_embedded_stores_count_in_the_swept_storage(store_url: str, uri: str) -> None:
    assert storage_uri(store_url) == uri


KEY = "k-timers-5e1"


@pytest.mark.parametrize(
    "key",
    [None, KEY, "k-wrong"],
    ids=["keyless", "right-key", "wrong-key"],  # keyed ones go through the failure budget too
)
def test_limited_requests_start_no_timer_threads(
    make_client: Callable[..., FlaskClient], key: str | None
) -> None:
    # The stock memory storage starts a 10 ms threading.Timer on nearly every request, so one
    # would be alive right after most of these answers.
    client = make_client(
        rate_limit_reads="1000/minute", api_keys=KEY, rate_limit_auth_failures="1000/minute"
    )
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    # Every limits storage starts one 10 ms timer when it is built (the limiter's own, its
    # fallback, the key-guessing budget's): those end by themselves; requests must start none.
    for timer in _timers():
        timer.join()
    seen = []
    for _ in range(30):
        if key is None:
            response = client.get("/v1/articles")
            assert response.status_code == 200
        else:  # a write: the key is checked, and a wrong one counted
            response = client.delete("/v1/articles/no-such-article", headers=headers)
            assert response.status_code == (404 if key == KEY else 401), response.get_json()
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
