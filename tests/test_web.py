"""The pages, docs and metrics in-process: open whatever the keys, never rate limited, their
own CSP, only local assets; and POST /v1/articles with a saved news page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.core.embed import Embedder
from tests.conftest import ROOT, SpecCheckingClient
from tests.test_cli_polish import BOILERPLATE

PAGE = (ROOT / "tests" / "pages" / "tidal-barrage.html").read_bytes()
STATIC = ROOT / "service" / "web" / "static"
OPEN_PATHS = ["/", "/docs", "/metrics", "/assets/check.js", "/docs/assets/swagger-ui.css"]
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.fixture
def locked(
    store_url: tuple[str, str], embedder: Embedder, request: pytest.FixtureRequest
) -> Iterator[FlaskClient]:
    """An app that wants a key for reads too, and allows two reads a minute."""
    url, prefix = store_url
    app: Flask = create_app(
        {
            "store": url,
            "redis_prefix": prefix,
            "api_keys": "k-123",
            "read_keys_required": True,
            "rate_limit_reads": "2/minute",
        }
    )
    app.test_client_class = SpecCheckingClient
    yield app.test_client()
    app.extensions["factcheck"].store.close()


@sqlite_only
def test_pages_docs_and_metrics_stay_open_and_unlimited(locked: FlaskClient) -> None:
    for _ in range(3):  # more than the read limit allows
        for path in OPEN_PATHS:
            assert locked.get(path).status_code == 200, path
    assert locked.get("/v1/check?claim=x").status_code == 401  # the API itself is not open


@sqlite_only
def test_pages_have_their_own_csp_and_the_api_keeps_none(client: FlaskClient) -> None:
    page = client.get("/").headers["Content-Security-Policy"]
    docs = client.get("/docs").headers["Content-Security-Policy"]
    api = client.get("/healthz").headers["Content-Security-Policy"]
    assert "script-src 'self'" in page and "'unsafe-inline'" not in page
    assert "script-src 'self'" in docs and "'unsafe-eval'" not in docs
    assert api.startswith("default-src 'none'") and "script-src" not in api


@pytest.mark.parametrize("name", ["index.html", "docs.html"])
def test_pages_load_only_files_of_the_app(name: str) -> None:
    html = (STATIC / name).read_text("utf-8")
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    local = [link for link in links if not link.startswith("#")]  # anchors in the page
    assert local and all(link.startswith("/") and not link.startswith("//") for link in local)
    assert "<script>" not in html and "style=" not in html  # nothing inline: the CSP says so


@sqlite_only
def test_unknown_assets_and_other_types_are_not_served(client: FlaskClient) -> None:
    assert client.get("/assets/index.html").status_code == 404  # pages have their routes
    assert client.get("/docs/assets/swagger-ui.js.map").status_code == 404
    assert client.get("/assets/missing.js").status_code == 404


@sqlite_only
def test_metrics_name_routes_not_paths(client: FlaskClient) -> None:
    client.get("/v1/articles/one-id")
    client.get("/v1/articles/another-id")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'route="/v1/articles/<article_id>",status="404"' in text
    assert "one-id" not in text and "another-id" not in text


def test_a_news_page_is_posted_as_html(client: FlaskClient) -> None:
    created = client.post("/v1/articles", data=PAGE, content_type="text/html")
    assert created.status_code == 201
    body = created.get_json()
    assert body["title"] == "Estuary tidal barrage opens its first turbines"
    assert body["source"] == "The Northbay Courier"
    assert body["published_at"] == "2024-03-11"
    text = client.get(created.headers["Location"]).get_json()["text"]
    assert "eleven megawatts at their peak" in text
    assert [b for b in BOILERPLATE if b in text] == []
    again = client.post("/v1/articles", data=PAGE, content_type="text/html")
    assert (again.status_code, again.get_json()["status"]) == (200, "unchanged")
    found = client.post("/v1/check", json={"claim": "The barrage made eleven megawatts"})
    assert found.get_json()["evidence"][0]["article"]["id"] == body["id"]


@sqlite_only
def test_query_parameters_override_what_the_page_says(client: FlaskClient) -> None:
    query = "id=merrow-barrage&source=Wire%20Copy&published_at=2024-03-12"
    created = client.post(
        f"/v1/articles?{query}", data=PAGE, content_type="text/html; charset=utf-8"
    )
    assert created.status_code == 201
    body = created.get_json()
    assert (body["id"], body["source"], body["published_at"]) == (
        "merrow-barrage",
        "Wire Copy",
        "2024-03-12",
    )


@sqlite_only
def test_html_refusals_are_problems(client: FlaskClient, tmp_path: Path) -> None:
    empty = client.post(
        "/v1/articles", data=b"<html><body></body></html>", content_type="text/html"
    )
    assert empty.status_code == 422 and "body" in empty.get_json()["errors"]
    unknown = client.post("/v1/articles?colour=red", data=PAGE, content_type="text/html")
    assert unknown.status_code == 422 and "colour" in unknown.get_json()["errors"]
    bad_id = client.post("/v1/articles?id=-no", data=PAGE, content_type="text/html")
    assert bad_id.status_code == 422 and "id" in bad_id.get_json()["errors"]
    wrong_charset = client.post(
        "/v1/articles", data="é".encode("latin-1"), content_type="text/html; charset=utf-8"
    )
    assert wrong_charset.status_code == 400


def test_metrics_scrape_while_the_store_is_down(embedder: Embedder) -> None:
    """An operator needs the scrape most during an outage: it answers from the index."""
    from tests.live import free_port

    app = create_app({"store": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_s": 0.2})
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert 'route="/readyz",status="503"' in scraped.get_data(as_text=True)


@sqlite_only
def test_refused_requests_are_counted_and_timed(locked: FlaskClient) -> None:
    locked.get("/v1/articles")  # no key: 401 from a before_request hook
    text = locked.get("/metrics").get_data(as_text=True)
    labels = 'method="GET",route="/v1/articles",status="401"'
    assert f"factcheck_http_requests_total{{{labels}}}" in text
    assert f"factcheck_http_request_duration_seconds_count{{{labels}}}" in text
