"""The check page at `/`, as a person uses it: headless chromium (playwright) types a claim,
submits it with the keyboard, and reads the cards; the same answer from the API says what the
cards must show. A screenshot of each run is kept in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser import artifact, browser  # noqa: F401  (a fixture)
from tests.live import LiveServer

pytestmark = pytest.mark.slow
JWST = "The James Webb telescope launched on an Ariane 5 rocket"
NOTHING = "Add two eggs to the flour"


class Visit:
    """A page in a fresh browser context, with what it requested and what it logged."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page, self.origin = page, origin
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.origin + "/")]


@pytest.fixture
def visit(browser: Any, sample_live: LiveServer, request: pytest.FixtureRequest) -> Iterator[Visit]:  # noqa: F811
    size = getattr(request, "param", {"width": 1280, "height": 900})
    context = browser.new_context(viewport=size, device_scale_factor=1)
    page = context.new_page()
    seen = Visit(page, sample_live.url)
    page.goto(sample_live.url + "/")
    yield seen
    context.close()


def check_with_keyboard(page: Page, claim: str) -> None:
    """Tab to the claim box as a keyboard user would, type, and press Enter."""
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "claim":
            break
    assert page.evaluate("document.activeElement.id") == "claim", "the claim box is not reachable"
    page.keyboard.type(claim)
    page.keyboard.press("Enter")


def api_answer(server: LiveServer, claim: str) -> dict[str, Any]:
    response = requests.post(
        f"{server.url}/v1/check", json={"claim": claim, "top_k": 5}, timeout=60
    )
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_a_claim_is_checked_and_its_evidence_read(visit: Visit, sample_live: LiveServer) -> None:
    page = visit.page
    expect(page.get_by_label("Claim to check")).to_be_visible()
    check_with_keyboard(page, JWST)
    answer = api_answer(sample_live, JWST)
    cards = page.locator("#cards > li.card")
    expect(cards).to_have_count(len(answer["evidence"]))
    # The service's own sentence: the Ariane passage is evidence, the rest merely related.
    expect(page.locator("#status")).to_have_text(answer["summary"])
    strong = sum(item["is_evidence"] for item in answer["evidence"])
    assert 1 <= strong < len(answer["evidence"]), answer
    assert answer["summary"].startswith(f"{strong} passage")
    for card, item in zip(cards.all(), answer["evidence"], strict=True):
        article = item["article"]
        assert card.locator(".outlet").inner_text() == article["source"]
        assert card.locator(".title").inner_text() == article["title"]
        assert card.locator("a.link").get_attribute("href") == article["url"]
        assert card.locator("time").get_attribute("datetime") == article["published_at"]
        # The passage is highlighted inside its context, exactly as the API placed it.
        assert card.locator("mark.passage").text_content() == item["text"]
        assert card.locator("blockquote.context").text_content() == item["context"]
        likely = f"{round(item['probability'] * 100)}% likely evidence"
        label = likely if item["is_evidence"] else f"related · {likely}"
        assert card.locator(".score").inner_text() == label
        assert ("related" in (card.get_attribute("class") or "").split()) is not item["is_evidence"]
        sources = item["independent_sources"]
        assert card.locator(".sources").inner_text().startswith(f"{sources} independent source")
        assert card.locator(".corroboration li").count() == len(item["corroborated_by"])
    first = cards.first
    assert "Ariane 5" in first.locator("mark.passage").inner_text()
    assert first.locator(".outlet").inner_text() == "Sample Tech Desk"
    page.screenshot(path=artifact("check-page.png"), full_page=True)
    assert visit.foreign_requests() == []  # no CDN: every file came from the app
    assert visit.errors == []  # nothing refused by the page's CSP, no script error


def test_a_claim_without_evidence_says_so(visit: Visit) -> None:
    page = visit.page
    check_with_keyboard(page, NOTHING)
    status = page.locator("#status")
    expect(status).to_have_text(re.compile(r"^No passage in the index is likely evidence"))
    expect(status).to_have_class("empty")
    assert page.locator("#cards > li").count() == 0
    page.screenshot(path=artifact("check-page-no-evidence.png"), full_page=True)


def test_an_empty_claim_is_refused_on_the_page(visit: Visit) -> None:
    visit.page.get_by_role("button", name="Check claim").click()
    expect(visit.page.locator("#status")).to_have_text("Type a claim first.")


PHONE = {"width": 360, "height": 740}


@pytest.mark.parametrize("visit", [PHONE], indirect=True, ids=["phone"])
def test_the_page_fits_a_phone(visit: Visit) -> None:
    page = visit.page
    check_with_keyboard(page, JWST)
    expect(page.locator("#cards > li.card").first).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling to read a card.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=artifact("check-page-phone.png"), full_page=True)


def test_the_page_passes_axe_accessibility_rules(visit: Visit) -> None:
    """axe-core's WCAG 2 A and AA rules (labels, contrast, landmarks...) on the page with its
    cards drawn."""
    from axe_playwright_python.sync_playwright import Axe

    check_with_keyboard(visit.page, JWST)
    expect(visit.page.locator("#cards > li.card").first).to_be_visible()
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
    results = Axe().run(visit.page, options=options)
    assert results.violations_count == 0, results.generate_report()


def test_article_text_is_shown_as_text_never_as_markup(
    visit: Visit, sample_live: LiveServer
) -> None:
    """Article fields are third-party text: markup in them must be displayed, not run."""
    title = "Glass <img src=x onerror=\"document.title='pwned'\"> bridge"
    text = "The <b>Saltcote</b> glass footbridge over the Merrow opened to walkers in June 2023."
    created = requests.post(
        f"{sample_live.url}/v1/articles",
        json={"id": "glass-bridge", "title": title, "source": "Sample <i>Desk</i>", "text": text},
        timeout=60,
    )
    assert created.status_code in (200, 201)
    check_with_keyboard(visit.page, "A glass footbridge over the Merrow opened in 2023")
    card = visit.page.locator("#cards > li.card").first
    expect(card.locator(".title")).to_have_text(title)
    expect(card.locator("mark.passage")).to_have_text(text)
    assert card.locator(".outlet").inner_text() == "Sample <i>Desk</i>"
    assert visit.page.locator("#cards img, #cards b, #cards i").count() == 0
    assert visit.page.title() != "pwned"
    requests.delete(f"{sample_live.url}/v1/articles/glass-bridge", timeout=60)
