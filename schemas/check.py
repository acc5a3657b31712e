"""Request and response schemas of /v1/check."""

from __future__ import annotations

import marshmallow as ma

from schemas.articles import ArticleSourceSchema
from schemas.common import StrictSchema, no_control_chars, not_blank

# Upper bounds the schema enforces; the service's configured limits apply on top.
MAX_TOP_K = 50
MAX_CLAIM_CHARS = 2000


class CheckRequestSchema(StrictSchema):
    """POST /v1/check body."""

    claim = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=1, max=MAX_CLAIM_CHARS), not_blank, no_control_chars],
    )
    # None: the service's configured default (FACTCHECK_DEFAULT_TOP_K).
    top_k = ma.fields.Integer(
        load_default=None, strict=True, validate=ma.validate.Range(min=1, max=MAX_TOP_K)
    )


class CheckQuerySchema(CheckRequestSchema):
    """GET /v1/check query parameters: the same fields, numbers arrive as text."""

    top_k = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_TOP_K))


class ScoresSchema(ma.Schema):
    dense = ma.fields.Float(required=True)
    lexical = ma.fields.Float(required=True)
    fused = ma.fields.Float(required=True)


class EvidenceSchema(ma.Schema):
    """One supporting statement, where it stands in its article, and that article."""

    statement_id = ma.fields.String(required=True)
    text = ma.fields.String(attribute="hit.statement.text", required=True)
    score = ma.fields.Float(required=True)
    scores = ma.fields.Nested(ScoresSchema, required=True)
    start = ma.fields.Integer(attribute="hit.statement.start", required=True)
    end = ma.fields.Integer(attribute="hit.statement.end", required=True)
    context = ma.fields.String(attribute="hit.context", required=True)
    context_start = ma.fields.Integer(attribute="hit.statement.context_start", required=True)
    context_end = ma.fields.Integer(attribute="hit.statement.context_end", required=True)
    article = ma.fields.Nested(ArticleSourceSchema, attribute="hit.article", required=True)


class IndexStatsSchema(ma.Schema):
    articles = ma.fields.Integer(required=True)
    statements = ma.fields.Integer(required=True)
    version = ma.fields.Integer(required=True)


class CheckResponseSchema(ma.Schema):
    claim = ma.fields.String(required=True)
    evidence = ma.fields.List(ma.fields.Nested(EvidenceSchema), required=True)
    index = ma.fields.Nested(IndexStatsSchema, required=True)
    model = ma.fields.String(required=True)
    took_ms = ma.fields.Float(required=True)
