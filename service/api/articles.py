"""/v1/articles: add, read, list and delete articles."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, g, jsonify, request, url_for

from schemas.articles import (
    ArticleDetailSchema,
    ArticleListQuerySchema,
    ArticleListSchema,
    ArticleWriteResultSchema,
    IdempotencyKeySchema,
)
from service.api.common import load, query_args, services
from service.api.errors import VALIDATION, ApiError, validation_problem
from service.api.html import article_body
from service.core.ingest import Limits, Rejected, ingest_record
from service.store.idempotency import Recorded

bp = Blueprint("articles", __name__, url_prefix="/v1/articles")


@bp.post("")
def create_article() -> tuple[Response, int, dict[str, str]]:
    body = article_body()  # JSON, or the article read from a text/html page
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _create(body)
    header = load(IdempotencyKeySchema(), {"Idempotency-Key": key}, "Idempotency-Key header")
    return _create_once(f"{g.get('key_id') or 'anonymous'}:{header['idempotency_key']}", body)


def _create_once(scoped_key: str, body: Any) -> tuple[Response, int, dict[str, str]]:
    """The first answer under an idempotency key, replayed to every retry of that request."""
    log = services().idempotency
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    with log.leased(scoped_key, fingerprint) as (held, owner):
        if held is not None:
            return _replay(held, fingerprint)
        try:
            response, status, headers = _create(body)
        except BaseException:
            log.release(scoped_key, owner)  # nothing was written: a retry must really run
            raise
        log.complete(scoped_key, owner, Recorded(fingerprint, status, response.get_json(), headers))
    return response, status, headers


def _replay(held: Recorded, fingerprint: str) -> tuple[Response, int, dict[str, str]]:
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
    written = held.body.get("id") if isinstance(held.body, dict) else None
    if written and services().store.get_article(written, with_text=False) is None:
        # Replaying 201 + Location would point at nothing, and running the request again
        # would bring back what somebody deleted: say so, and let the client choose.
        raise ApiError(
            409,
            "Conflict",
            f"The article this request wrote ({written!r}) has been deleted since; to add it "
            "again, send it with a new Idempotency-Key.",
            errors={"Idempotency-Key": ["Its article has been deleted since."]},
        )
    replayed = {**(held.headers or {}), "Idempotent-Replayed": "true"}
    return jsonify(held.body), held.status, replayed


def _create(body: Any) -> tuple[Response, int, dict[str, str]]:
    svc = services()
    try:
        result = ingest_record(svc.store, svc.embedder, body, Limits.of(svc.config))
    except ma.ValidationError as exc:
        raise validation_problem(exc, "body") from exc
    except Rejected as exc:
        raise ApiError(422, "Invalid request", exc.detail, VALIDATION, errors=exc.errors) from exc
    svc.index.sync()  # this worker sees its own write at once; others at their next sync
    written = ArticleWriteResultSchema().dump({**result.article.meta(), "status": result.status})
    location = url_for("articles.get_article", article_id=result.article.id)
    return jsonify(written), 201 if result.created else 200, {"Location": location}


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
