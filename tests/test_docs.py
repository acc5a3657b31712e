"""/docs as a developer uses it: every operation in openapi.yaml is described and carries
an example; each example is sent to a real server and its answer checked against the
contract; and Swagger UI, in headless chromium, renders every operation from the app's own
files and runs a call with "Try it out"."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import artifact, browser  # noqa: F401  (a fixture)
from tests.live import LiveServer
from tests.spec import check_response, spec

pytestmark = pytest.mark.slow
METHODS = ("post", "get", "delete")  # the order examples run in: create, read, delete


def operations() -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(path, method, operation, parameters with the path's own) for every operation."""
    found = []
    for path, item in spec()["paths"].items():
        for method in METHODS:
            if method in item:
                params = item.get("parameters", []) + item[method].get("parameters", [])
                found.append((path, method, item[method], params))
    return sorted(found, key=lambda op: METHODS.index(op[1]))


def test_every_operation_has_a_description_and_examples() -> None:
    for path, method, operation, params in operations():
        assert operation.get("description", "").strip(), f"{method} {path}: no description"
        for param in params:
            if param.get("required"):
                assert "example" in param, f"{method} {path}: {param['name']} has no example"
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            assert "example" in content, f"{method} {path}: {media} body has no example"


def example_requests() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path template, URL path, requests kwargs) built from the spec's examples."""
    built = []
    for path, method, operation, params in operations():
        url = path
        query = {}
        for param in params:
            if "example" not in param:
                continue
            if param["in"] == "path":
                url = url.replace("{" + param["name"] + "}", str(param["example"]))
            elif param["in"] == "query":
                query[param["name"]] = param["example"]
        bodies = operation.get("requestBody", {}).get("content", {})
        if not bodies:
            built.append((method, path, url, {"params": query}))
        for media, content in bodies.items():
            example = content["example"]
            kwargs: dict[str, Any] = {"params": query}
            if media == "application/json":
                kwargs["json"] = example
            else:
                kwargs["data"] = example.encode("utf-8")
                kwargs["headers"] = {"Content-Type": media}
            built.append((method, path, url, kwargs))
    return built


def test_every_example_works_against_the_live_app(sample_live: LiveServer) -> None:
    sent = set()
    for method, path, url, kwargs in example_requests():
        response = requests.request(method, sample_live.url + url, timeout=60, **kwargs)
        assert 200 <= response.status_code < 300, (method, url, response.text[:500])
        media = response.headers.get("Content-Type", "")
        body: Any = response.content
        if "json" in media:
            body = response.json()
        check_response(method.upper(), url, response.status_code, media, body)
        sent.add((method, path))
    assert sent == {(path, method)[::-1] for path, method, _, _ in operations()}


def test_swagger_ui_renders_every_operation_and_tries_one(
    browser: Any,  # noqa: F811
    sample_live: LiveServer,
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(sample_live.url + "/docs")
    expect(page.locator(".opblock")).to_have_count(len(operations()))
    expect(page.locator(".info .title")).to_contain_text("factcheck")

    block = page.locator("#operations-check-checkClaimGet")
    block.locator(".opblock-summary").click()
    claim = block.locator("input[placeholder='claim']")
    expect(claim).to_have_value(re.compile("James Webb"))  # the spec's example, filled in
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tr.response td.response-col_status")
    expect(status).to_have_text("200")
    expect(
        block.locator(".live-responses-table tr.response .response-col_description")
    ).to_contain_text("Ariane 5")
    page.screenshot(path=artifact("docs-page.png"))
    context.close()
    assert [url for url in seen if not url.startswith(sample_live.url + "/")] == []
    assert errors == []
