"""/v1/check: claim -> evidence (POST JSON, or GET for curl), and /v1/check/batch."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from schemas.check import (
    BatchRequestSchema,
    BatchResponseSchema,
    CheckQuerySchema,
    CheckRequestSchema,
    CheckResponseSchema,
)
from service.api.common import Services, json_body, load, services
from service.api.errors import ApiError
from service.core.index import Filters, timestamp
from service.core.search import Options, check_claims

bp = Blueprint("check", __name__, url_prefix="/v1/check")


@bp.post("")
def check_post() -> Response:
    return _check(load(CheckRequestSchema(), json_body(), "body"))


@bp.get("")
def check_get() -> Response:
    return _check(load(CheckQuerySchema(), request.args, "query string"))


@bp.post("/batch")
def check_batch() -> Response:
    started = time.perf_counter()
    params = load(BatchRequestSchema(), json_body(), "body")
    svc = services()
    for i, claim in enumerate(params["claims"]):
        _claim_within_limit(svc, claim, f"claims.{i}")
    results = check_claims(params["claims"], _options(svc, params), svc.store, svc.embedder,
                           svc.index)  # fmt: skip
    took = round((time.perf_counter() - started) * 1000, 3)
    return jsonify(BatchResponseSchema().dump({"results": results, "took_ms": took}))


def _check(params: dict[str, Any]) -> Response:
    svc = services()
    _claim_within_limit(svc, params["claim"], "claim")
    [result] = check_claims([params["claim"]], _options(svc, params), svc.store, svc.embedder,
                            svc.index)  # fmt: skip
    return jsonify(CheckResponseSchema().dump(result))


def _claim_within_limit(svc: Services, claim: str, field: str) -> None:
    if len(claim) > svc.config.max_claim_chars:
        raise ApiError(
            422,
            "Invalid request",
            f"A claim exceeds {svc.config.max_claim_chars} characters.",
            errors={field: [f"Longer than {svc.config.max_claim_chars} characters."]},
        )


def _options(svc: Services, params: dict[str, Any]) -> Options:
    """Request parameters -> search options, with the service's defaults and caps."""
    top_k = min(params["top_k"] or svc.config.default_top_k, svc.config.max_top_k)
    min_score = params["min_score"]
    after, before, claim = (
        params["published_after"],
        params["published_before"],
        params["claim_date"],
    )
    return Options(
        top_k=top_k,
        min_score=svc.config.min_score if min_score is None else min_score,
        filters=Filters(
            sources=tuple(params["sources"]) if params["sources"] else None,
            # A bare date is a calendar day (inclusive), compared with the article's own date;
            # a date-time is an instant.
            published_after=_instant(after),
            published_before=_instant(before),
            after_day=_day(after),
            before_day=_day(before),
        ),
        claim_date=_instant(claim),
        claim_day=_day(claim),
    )


def _day(value: str | None) -> str | None:
    return value if value is not None and len(value) == 10 else None


def _instant(value: str | None) -> float | None:
    return timestamp(value) if value is not None and len(value) > 10 else None
