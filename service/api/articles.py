"""/v1/articles: add, read, list and delete articles."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, g, jsonify, request, url_for

from schemas.articles import (
    ArticleBatchResultSchema,
    ArticleBatchSchema,
    ArticleDetailSchema,
    ArticleListQuerySchema,
    ArticleListSchema,
    ArticleWriteResultSchema,
    IdempotencyKeySchema,
)
from service.api.common import json_body, load, query_args, services
from service.api.errors import VALIDATION, ApiError, problem_body, validation_problem
from service.api.html import article_body
from service.core.batch import ingest_records
from service.core.ingest import IngestResult, Limits, Rejected, ingest_record
from service.store.idempotency import Recorded

bp = Blueprint("articles", __name__, url_prefix="/v1/articles")
Create = Callable[[Any], tuple[Response, int, dict[str, str]]]


@bp.post("")
def create_article() -> tuple[Response, int, dict[str, str]]:
    body = article_body()  # JSON, or the article read from a text/html page
    return _maybe_once(body, _create, lambda answer: [answer.get("id")])


@bp.post("/batch")
def create_articles() -> tuple[Response, int, dict[str, str]]:
    """Several articles, one outcome each, in order: always 200 once the batch is read (the
    outcomes carry the statuses), a refusal of the whole batch only for its shape or size."""
    body = load(ArticleBatchSchema(), json_body(), "body")
    limit = services().config.max_batch_articles
    if len(body["articles"]) > limit:
        raise ApiError(
            422,
            "Invalid request",
            f"The batch has {len(body['articles'])} articles; the limit is {limit} "
            "(FACTCHECK_MAX_BATCH_ARTICLES): split the batch.",
            VALIDATION,
            errors={"articles": [f"More than {limit} articles."]},
        )
    return _maybe_once(body, _create_batch, _written_by_batch)


def _maybe_once(
    body: Any, create: Create, written: Callable[[Any], list[str | None]]
) -> tuple[Response, int, dict[str, str]]:
    """Run the write, or with an Idempotency-Key, run it once and replay its answer."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return create(body)
    header = load(IdempotencyKeySchema(), {"Idempotency-Key": key}, "Idempotency-Key header")
    scoped_key = f"{g.get('key_id') or 'anonymous'}:{header['idempotency_key']}"
    return _create_once(scoped_key, body, create, written)


def _create_once(
    scoped_key: str, body: Any, create: Create, written: Callable[[Any], list[str | None]]
) -> tuple[Response, int, dict[str, str]]:
    """The first answer under an idempotency key, replayed to every retry of that request."""
    log = services().idempotency
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    with log.leased(scoped_key, fingerprint) as (held, owner):
        if held is not None:
            return _replay(held, fingerprint, written)
        try:
            response, status, headers = create(body)
        except BaseException:
            log.release(scoped_key, owner)  # nothing was written: a retry must really run
            raise
        log.complete(scoped_key, owner, Recorded(fingerprint, status, response.get_json(), headers))
    return response, status, headers


def _replay(
    held: Recorded, fingerprint: str, written: Callable[[Any], list[str | None]]
) -> tuple[Response, int, dict[str, str]]:
    """What a retry is told: the first answer again, or why it cannot have it (yet)."""
    if held.fingerprint != fingerprint:
        raise ApiError(
            422,
            "Invalid request",
            "This Idempotency-Key was used for a different request body.",
            VALIDATION,
            errors={"Idempotency-Key": ["Already used with another body."]},
        )
    if held.status is None:
        raise ApiError(
            409,
            "Conflict",
            "A request with this Idempotency-Key is still running; retry shortly.",
            headers={"Retry-After": "1"},
        )
    store = services().store
    ids = written(held.body) if isinstance(held.body, dict) else []
    gone = [i for i in dict.fromkeys(ids) if i and store.get_article(i, with_text=False) is None]
    if gone:
        # Replaying 201 + Location would point at nothing, and running the request again
        # would bring back what somebody deleted: say so, and let the client choose.
        names = ", ".join(repr(i) for i in gone)
        raise ApiError(
            409,
            "Conflict",
            f"The article this request wrote ({names}) has been deleted since; to add it "
            "again, send it with a new Idempotency-Key.",
            errors={"Idempotency-Key": ["Its article has been deleted since."]},
        )
    replayed = {**(held.headers or {}), "Idempotent-Replayed": "true"}
    return jsonify(held.body), held.status, replayed


def _create(body: Any) -> tuple[Response, int, dict[str, str]]:
    svc = services()
    try:
        result = ingest_record(svc.store, svc.embedder, body, Limits.of(svc.config))
    except (ma.ValidationError, Rejected) as exc:
        raise _refusal(exc) from exc
    svc.index.sync()  # this worker sees its own write at once; others at their next sync
    written = ArticleWriteResultSchema().dump({**result.article.meta(), "status": result.status})
    location = url_for("articles.get_article", article_id=result.article.id)
    return jsonify(written), 201 if result.created else 200, {"Location": location}


def _create_batch(body: Any) -> tuple[Response, int, dict[str, str]]:
    svc = services()
    outcomes = ingest_records(svc.store, svc.embedder, body["articles"], Limits.of(svc.config))
    svc.index.sync()
    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        if isinstance(outcome, IngestResult):
            article = {**outcome.article.meta(), "status": outcome.status}
            location = url_for("articles.get_article", article_id=outcome.article.id)
            status = 201 if outcome.created else 200
            results.append({"status": status, "location": location, "article": article})
        else:
            refused = _refusal(outcome)
            results.append({"status": refused.status, "problem": problem_body(refused)})
    return jsonify(ArticleBatchResultSchema().dump({"results": results})), 200, {}


def _written_by_batch(answer: dict[str, Any]) -> list[str | None]:
    """The articles a batch's answer names (as for one POST: unchanged ones too)."""
    return [r["article"]["id"] for r in answer.get("results", []) if "article" in r]


def _refusal(exc: ma.ValidationError | Rejected) -> ApiError:
    """The 422 that the single POST answers for a refused article."""
    if isinstance(exc, ma.ValidationError):
        return validation_problem(exc, "body")
    return ApiError(422, "Invalid request", exc.detail, VALIDATION, errors=exc.errors)


@bp.get("/<article_id>")
def get_article(article_id: str) -> Response:
    found = services().store.get_article_with_statements(article_id)
    if found is None:
        raise ApiError(404, "Not Found", f"No article with id {article_id!r}.")
    article, rows = found
    statements = [{**s.__dict__, "id": f"{article.id}:{s.position}"} for s in rows]
    return jsonify(ArticleDetailSchema().dump({**article.__dict__, "statement_list": statements}))


@bp.delete("/<article_id>")
def delete_article(article_id: str) -> tuple[str, int]:
    svc = services()
    if not svc.store.delete_article(article_id):
        raise ApiError(404, "Not Found", f"No article with id {article_id!r}.")
    svc.index.sync()
    return "", 204


@bp.get("")
def list_articles() -> Response:
    query = load(ArticleListQuerySchema(), query_args().to_dict(), "query string")
    after = query["cursor"]  # an id: any id-shaped cursor is a place in the id order
    limit = query["limit"]
    # One extra row tells whether another page exists without a count query.
    page = services().store.list_articles(limit + 1, after=after)
    more = len(page) > limit
    page = page[:limit]
    next_cursor = page[-1].id if more and page else None
    return jsonify(ArticleListSchema().dump({"articles": page, "next_cursor": next_cursor}))
