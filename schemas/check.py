"""Request and response schemas of /v1/check and /v1/check/batch."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from schemas.articles import ArticleSourceSchema
from schemas.common import (
    IsoDateTime,
    JsonNumber,
    QueryInteger,
    QueryNumber,
    StrictSchema,
    WholeNumber,
    short_text,
)

# Upper bounds the schema enforces; the service's configured limits apply on top.
MAX_TOP_K = 50
MAX_CLAIM_CHARS = 2000
MAX_BATCH = 100
MAX_SOURCES = 50


def _claim_field() -> ma.fields.String:
    return short_text(MAX_CLAIM_CHARS, lines=True, required=True)  # a pasted claim may break


class CheckOptionsSchema(StrictSchema):
    """What every check may say besides its claim."""

    # None: the service's configured default (FACTCHECK_DEFAULT_TOP_K).
    top_k: ma.fields.Integer = WholeNumber(
        load_default=None, strict=True, validate=ma.validate.Range(min=1, max=MAX_TOP_K)
    )
    # None: the default (FACTCHECK_MIN_SCORE): least cosine similarity for a passage listed
    # as related, below the evidence decision.
    min_score: ma.fields.Float = JsonNumber(
        load_default=None, allow_nan=False, validate=ma.validate.Range(min=-1.0, max=1.0)
    )
    # None: the fitted decision threshold; 0 lists passages on min_score alone.
    min_probability: ma.fields.Float = JsonNumber(
        load_default=None, allow_nan=False, validate=ma.validate.Range(min=0.0, max=1.0)
    )
    sources = ma.fields.List(
        short_text(200),  # as an article's source
        load_default=None,
        validate=ma.validate.Length(min=1, max=MAX_SOURCES),
    )
    published_after = IsoDateTime(load_default=None)
    published_before = IsoDateTime(load_default=None)
    claim_date = IsoDateTime(load_default=None)


class CheckRequestSchema(CheckOptionsSchema):
    """POST /v1/check body."""

    claim = _claim_field()


class CheckQuerySchema(CheckRequestSchema):
    """GET /v1/check query parameters: numbers arrive as text, `sources` may repeat."""

    top_k = QueryInteger(load_default=None, validate=ma.validate.Range(min=1, max=MAX_TOP_K))
    min_score = QueryNumber(
        load_default=None, allow_nan=False, validate=ma.validate.Range(min=-1.0, max=1.0)
    )
    min_probability = QueryNumber(
        load_default=None, allow_nan=False, validate=ma.validate.Range(min=0.0, max=1.0)
    )

    @ma.pre_load
    def _lists(self, data: Any, **_: Any) -> Any:
        # request.args is a MultiDict: keep every `sources=` value, one value of the rest.
        if hasattr(data, "getlist"):
            flat = {k: data.get(k) for k in data}
            if "sources" in data:
                flat["sources"] = data.getlist("sources")
            return flat
        return data


class BatchRequestSchema(CheckOptionsSchema):
    """POST /v1/check/batch body: up to 100 claims sharing one set of options."""

    claims = ma.fields.List(
        _claim_field(), required=True, validate=ma.validate.Length(min=1, max=MAX_BATCH)
    )


class ScoresSchema(ma.Schema):
    dense = ma.fields.Float(required=True)
    lexical = ma.fields.Float(required=True)
    fused = ma.fields.Float(required=True)
    context = ma.fields.Float(required=True)
    rank = ma.fields.Float(required=True)
    probability = ma.fields.Float(required=True)


class CorroborationSchema(ma.Schema):
    """Another article's passage that says the same thing."""

    statement_id = ma.fields.String(required=True)
    text = ma.fields.String(attribute="hit.statement.text", required=True)
    similarity = ma.fields.Float(required=True)
    start = ma.fields.Integer(attribute="hit.statement.start", required=True)
    end = ma.fields.Integer(attribute="hit.statement.end", required=True)
    article = ma.fields.Nested(ArticleSourceSchema, attribute="hit.article", required=True)
    same_outlet = ma.fields.Boolean(required=True)
    shared_origin = ma.fields.String(allow_none=True, required=True)


class EvidenceSchema(ma.Schema):
    """One supporting statement, where it stands in its article, and that article."""

    statement_id = ma.fields.String(required=True)
    text = ma.fields.String(attribute="hit.statement.text", required=True)
    score = ma.fields.Float(required=True)
    probability = ma.fields.Float(required=True)
    is_evidence = ma.fields.Boolean(required=True)
    scores = ma.fields.Nested(ScoresSchema, required=True)
    matched_terms = ma.fields.List(ma.fields.String(), required=True)
    start = ma.fields.Integer(attribute="hit.statement.start", required=True)
    end = ma.fields.Integer(attribute="hit.statement.end", required=True)
    context = ma.fields.String(attribute="hit.context", required=True)
    context_start = ma.fields.Integer(attribute="hit.statement.context_start", required=True)
    context_end = ma.fields.Integer(attribute="hit.statement.context_end", required=True)
    article = ma.fields.Nested(ArticleSourceSchema, attribute="hit.article", required=True)
    corroborated_by = ma.fields.List(ma.fields.Nested(CorroborationSchema), required=True)
    independent_sources = ma.fields.Integer(required=True)
    independent_origins = ma.fields.Integer(required=True)
    after_claim_date = ma.fields.Boolean(required=True)


class IndexStatsSchema(ma.Schema):
    articles = ma.fields.Integer(required=True)
    statements = ma.fields.Integer(required=True)
    version = ma.fields.Integer(required=True)


class CheckResponseSchema(ma.Schema):
    claim = ma.fields.String(required=True)
    evidence = ma.fields.List(ma.fields.Nested(EvidenceSchema), required=True)
    # Why evidence is empty (null when it is not): no_statement_above_threshold (the claim's
    # evidence probability is under min_probability; at 0, no passage reaches min_score),
    # no_statement_matches_filters or index_empty.
    reason = ma.fields.String(allow_none=True, required=True)
    summary = ma.fields.String(required=True)
    best_score = ma.fields.Float(allow_none=True, required=True)
    best_probability = ma.fields.Float(allow_none=True, required=True)
    evidence_probability = ma.fields.Float(allow_none=True, required=True)
    min_score = ma.fields.Float(required=True)
    min_probability = ma.fields.Float(required=True)
    index = ma.fields.Nested(IndexStatsSchema, required=True)
    model = ma.fields.String(required=True)
    took_ms = ma.fields.Float(required=True)


class BatchResponseSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(CheckResponseSchema), required=True)
    took_ms = ma.fields.Float(required=True)
