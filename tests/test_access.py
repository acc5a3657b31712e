"""Access hardening: Retry-After only where a retry is asked for, wrong-key guessing
throttled per client, and a keyless server answering only for its own host names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.core.embed import Embedder
from tests.conftest import SpecCheckingClient
from tests.live import free_port

KEY = "k-access-5e1f"
ARTICLE = {"id": "weir", "title": "Weir", "source": "Desk", "text": "The weir was rebuilt in 1974."}


@pytest.fixture
def make_client(
    store_url: tuple[str, str], embedder: Embedder
) -> Iterator[Callable[..., FlaskClient]]:
    """A spec-checking client of an app with extra settings, on a fresh store per backend."""
    apps: list[Flask] = []

    def make(**settings: Any) -> FlaskClient:
        url, prefix = store_url
        app = create_app({"store": url, "redis_prefix": prefix, **settings})
        app.test_client_class = SpecCheckingClient
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["factcheck"].store.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/check?claim=weir", None),
        ("POST", "/v1/check", {"claim": "weir"}),
        ("POST", "/v1/articles", ARTICLE),
        ("GET", "/v1/articles", None),
        ("GET", "/healthz", None),
    ],
)
def test_successful_answers_carry_no_retry_after(
    make_client: Callable[..., FlaskClient], method: str, path: str, body: Any
) -> None:
    client = make_client(rate_limit_reads="100/minute", rate_limit_writes="100/minute")
    response = client.open(path, method=method, json=body)
    assert response.status_code < 300
    assert "Retry-After" not in response.headers
    assert response.headers.get("RateLimit-Limit") in (None, "100")


def test_a_rate_limit_refusal_still_says_when_to_retry(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(rate_limit_reads="1/minute")
    assert "Retry-After" not in client.get("/v1/check?claim=weir").headers
    refused = client.get("/v1/check?claim=weir")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61


@pytest.mark.parametrize("limit", ["200/second", "100/minute"])
def test_the_apps_own_retry_after_wins_on_503(embedder: Embedder, limit: str) -> None:
    """A store nobody listens on: the 503 says retry in 5 s (errors.RETRY_AFTER_S), not
    whatever the rate limit window would say."""
    app = create_app(
        {
            "store": f"redis://127.0.0.1:{free_port()}/0",
            "redis_timeout_s": 0.5,
            "rate_limit_reads": limit,
            "rate_limit_writes": limit,
        }
    )
    app.test_client_class = SpecCheckingClient
    client = app.test_client()
    for response in (
        client.get("/v1/check?claim=weir"),
        client.post("/v1/articles", json=ARTICLE),
        client.get("/readyz"),
    ):
        assert response.status_code == 503
        assert response.headers.getlist("Retry-After") == ["5"]
