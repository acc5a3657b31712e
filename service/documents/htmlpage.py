"""Web pages as articles: the body, title, outlet and date of an HTML page as saved from a
news site, without its navigation, ads, share buttons and footer (trafilatura).
Flask-free; used by `factcheck ingest` (.html files) and POST /v1/articles (text/html)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

HTML_SUFFIXES = (".html", ".htm")


class NoArticle(ValueError):
    """The page has no article body that could be told from its boilerplate."""


def article_from_html(
    html: str | bytes, url: str | None = None, default_source: str | None = None
) -> dict[str, Any]:
    """Article fields (title, text, source, url, published_at, language) read from a page.

    The outlet is the page's site name (og:site_name and the like), else its host, else
    `default_source`; fields the page does not reveal are left out for the caller to fill.
    """
    import trafilatura

    extracted = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,  # readers' comments are not the article's statements
        include_tables=False,
        favor_precision=True,  # rather lose a marginal paragraph than keep a "Share" bar
    )
    document: dict[str, Any] = {}
    if extracted is not None:
        document = extracted if isinstance(extracted, dict) else extracted.as_dict()
    if not (document.get("text") or "").strip():
        raise NoArticle("no article text found in the page")
    page_url = url or document.get("url")
    fields: dict[str, Any] = {
        "text": document["text"].strip(),
        # Titles and outlets are one line (schemas/common.py): a <title> may wrap in the HTML.
        "title": _one_line(document.get("title")) or None,
        "source": _one_line(document.get("sitename"))
        or _host(page_url)
        or (document.get("hostname") or "").strip()
        or default_source,
        "url": page_url if page_url and _host(page_url) else None,
        "published_at": document.get("date") or None,
        "language": document.get("language") or None,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _host(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.removeprefix("www.")
