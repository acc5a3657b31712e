"""POST /v1/articles with a web page: `Content-Type: text/html`, the article extracted from
it (service/documents/htmlpage.py). Query parameters override what the body says, a page's
or JSON's."""

from __future__ import annotations

from typing import Any

from flask import request

from schemas.articles import ArticleCreateSchema
from service.api.common import json_body, load, query_args
from service.api.errors import VALIDATION, ApiError
from service.documents.charsets import UndecodablePage, decode_page
from service.documents.htmlpage import NoArticle, article_from_html

HTML_TYPES = {"text/html", "application/xhtml+xml"}
OVERRIDES = ("id", "title", "source", "url", "published_at")
# The article fields, each validated as in a body; only those the caller names are kept.
_OVERRIDES = ArticleCreateSchema(only=OVERRIDES, partial=True)
# What a page must yield (or the query give) to be an article, and the parameter to add.
_NEEDED = {"title": "<title> (or og:title)", "source": "site name (og:site_name) or host"}


def article_body() -> Any:
    """The article fields of POST /v1/articles, from a JSON body or from an HTML page, with
    the query parameters' fields over the body's."""
    args = query_args()
    loaded = load(_OVERRIDES, args.to_dict(), "query string")
    overrides = {name: value for name, value in loaded.items() if name in args}
    if request.mimetype not in HTML_TYPES:
        body = json_body()
        return {**body, **overrides} if isinstance(body, dict) and overrides else body
    page = _page_text()
    try:
        fields = article_from_html(page, url=overrides.get("url"))
    except NoArticle as exc:
        raise ApiError(
            422,
            "Invalid request",
            "No article text could be told from the page's boilerplate.",
            VALIDATION,
            errors={"body": [str(exc)]},
        ) from exc
    article = {**fields, **overrides}
    missing = {
        name: [f"The page has no {what}: add the query parameter {name}=."]
        for name, what in _NEEDED.items()
        if name not in article
    }
    if missing:
        names = " and ".join(missing)
        raise ApiError(
            422,
            "Invalid request",
            f"The page does not say its {names}; give them as query parameters.",
            VALIDATION,
            errors=missing,
        )
    return article


def _page_text() -> str:
    """The body as text: in the Content-Type's charset, else UTF-8 (as the spec says; never
    a guess, which turned one bad byte into "CafÃ©"). 400 when it does not decode, or names
    no text encoding (service/documents/charsets.py)."""
    try:
        return decode_page(request.get_data(), request.mimetype_params.get("charset"))
    except UndecodablePage as exc:
        raise ApiError(
            400,
            "Bad Request",
            f"{exc} Send UTF-8, or name the page's charset: Content-Type: text/html; "
            "charset=... (a WHATWG label).",
        ) from exc
