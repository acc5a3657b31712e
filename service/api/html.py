"""POST /v1/articles with a web page: `Content-Type: text/html`, the article extracted from
it (service/htmlpage.py), query parameters overriding what the page says."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request

from schemas.common import StrictSchema
from service.api.common import json_body, load
from service.api.errors import ApiError
from service.htmlpage import NoArticle, article_from_html

HTML_TYPES = {"text/html", "application/xhtml+xml"}


class HtmlOverridesSchema(StrictSchema):
    """What the caller knows better than the page; validated again with the whole article."""

    id = ma.fields.String()
    source = ma.fields.String()
    url = ma.fields.String()
    published_at = ma.fields.String()


def article_body() -> Any:
    """The article fields of POST /v1/articles, from a JSON body or from an HTML page."""
    if request.mimetype not in HTML_TYPES:
        given = sorted(set(request.args) & set(HtmlOverridesSchema().fields))
        if given:
            raise ApiError(
                422,
                "Invalid request",
                "Query parameters name article fields only with a text/html body; "
                "put them in the JSON body instead.",
                errors={name: ["Only with a text/html body."] for name in given},
            )
        return json_body()
    overrides = load(HtmlOverridesSchema(), request.args.to_dict(), "query string")
    raw = request.get_data()
    charset = request.mimetype_params.get("charset")
    page: str | bytes = raw
    if charset:
        try:
            page = raw.decode(charset)
        except (LookupError, UnicodeDecodeError) as exc:
            raise ApiError(400, "Bad Request", f"The body is not valid {charset} text.") from exc
    try:
        fields = article_from_html(page, url=overrides.get("url"))
    except NoArticle as exc:
        raise ApiError(
            422,
            "Invalid request",
            "No article text could be told from the page's boilerplate.",
            errors={"body": [str(exc)]},
        ) from exc
    return {**fields, **overrides}
