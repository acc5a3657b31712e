"""Request and response schemas of /v1/articles."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from schemas.common import (
    MAX_URL_CHARS,
    IsoDateTime,
    Pattern,
    QueryInteger,
    StrictSchema,
    article_text,
    http_url,
    short_text,
)
from schemas.problem import ProblemSchema

ARTICLE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
MAX_LANGUAGE_CHARS = 35  # RFC 5646 4.4.1: the length every tag that matters fits in
ID_ERROR = "Use 1-128 letters, digits, '.', '_' or '-', starting alphanumeric."


def article_id_field(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=Pattern(ARTICLE_ID, error=ID_ERROR), **kwargs)


class ArticleCreateSchema(StrictSchema):
    """POST /v1/articles body."""

    id = article_id_field()
    title = short_text(1000, required=True)
    text = article_text(required=True)
    source = short_text(200, required=True)
    url = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=[ma.validate.Length(max=MAX_URL_CHARS), http_url],
    )
    published_at = IsoDateTime(load_default=None, allow_none=True)
    language = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=[
            ma.validate.Length(max=MAX_LANGUAGE_CHARS),
            Pattern(LANGUAGE, error="Use a BCP 47 tag."),
        ],
    )


class ArticleSourceSchema(ma.Schema):
    """The article fields that travel with every piece of evidence."""

    id = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    source = ma.fields.String(required=True)
    url = ma.fields.String(allow_none=True)
    published_at = ma.fields.String(allow_none=True)


class ArticleSummarySchema(ArticleSourceSchema):
    """An article as listed and as returned by POST: metadata and its statement count."""

    language = ma.fields.String(allow_none=True)
    statements = ma.fields.Integer(attribute="statement_count", required=True)
    content_hash = ma.fields.String(required=True)
    created_at = ma.fields.String(required=True)
    updated_at = ma.fields.String(required=True)


class ArticleWriteResultSchema(ArticleSummarySchema):
    status = ma.fields.String(required=True)  # created | replaced | unchanged


class ArticleBatchSchema(StrictSchema):
    """POST /v1/articles/batch body: article objects, each checked as a POST /v1/articles
    body (their count against FACTCHECK_MAX_BATCH_ARTICLES, by the view)."""

    articles = ma.fields.List(ma.fields.Dict(), required=True, validate=ma.validate.Length(min=1))


class ArticleBatchItemSchema(ma.Schema):
    """One article's outcome: the status the single POST would have answered, with its body
    (and Location) under ``article`` when written or unchanged, its problem when refused."""

    status = ma.fields.Integer(required=True)
    location = ma.fields.String()
    article = ma.fields.Nested(ArticleWriteResultSchema)
    problem = ma.fields.Nested(ProblemSchema)


class ArticleBatchResultSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(ArticleBatchItemSchema), required=True)


class StatementSchema(ma.Schema):
    id = ma.fields.String(required=True)
    position = ma.fields.Integer(required=True)
    start = ma.fields.Integer(required=True)
    end = ma.fields.Integer(required=True)
    text = ma.fields.String(required=True)
    context_start = ma.fields.Integer(required=True)
    context_end = ma.fields.Integer(required=True)


class ArticleDetailSchema(ArticleSummarySchema):
    text = ma.fields.String(required=True)
    statement_list = ma.fields.List(
        ma.fields.Nested(StatementSchema), data_key="statement_list", required=True
    )


class ArticleListQuerySchema(StrictSchema):
    limit = QueryInteger(load_default=20, validate=ma.validate.Range(min=1, max=100))
    # The id of the previous page's last article: the page starts after it.
    cursor = article_id_field(load_default=None)


class ArticleListSchema(ma.Schema):
    articles = ma.fields.List(ma.fields.Nested(ArticleSummarySchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class IdempotencyKeySchema(StrictSchema):
    """The Idempotency-Key header of POST /v1/articles: 1-255 visible ASCII characters."""

    idempotency_key = ma.fields.String(
        required=True,
        data_key="Idempotency-Key",  # errors name the header as the client sent it
        validate=Pattern(r"^[\x21-\x7e]{1,255}$", error="Use 1-255 visible ASCII characters."),
    )
