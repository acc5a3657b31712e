"""/v1/check: claim -> evidence (POST JSON, or GET for curl), and /v1/check/batch."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify

from schemas.check import (
    BatchRequestSchema,
    BatchResponseSchema,
    CheckQuerySchema,
    CheckRequestSchema,
    CheckResponseSchema,
)
from service.api.common import json_body, load, query_args, services
from service.api.dumping import compiled
from service.api.errors import VALIDATION, ApiError
from service.config import Config
from service.core.search import CheckResult, check_claims, options_from
from service.web.metrics import observe_check

bp = Blueprint("check", __name__, url_prefix="/v1/check")

# Built once: a schema instance per request rebuilt every nested schema (2 ms of a check).
# Dumping and loading keep no state on the instance, so workers' threads may share them.
# The answers' dumps are compiled from their schemas (service.api.dumping): Schema.dump
# took 1.15 ms of a check.
_CHECK_REQUEST, _CHECK_QUERY = CheckRequestSchema(), CheckQuerySchema()
_BATCH_REQUEST = BatchRequestSchema()
_CHECK_RESPONSE, _BATCH_RESPONSE = compiled(CheckResponseSchema()), compiled(BatchResponseSchema())


@bp.post("")
def check_post() -> Response:
    body = json_body()
    _within_char_limits(_as_sent(body, "claim"), services().config)
    return _check(load(_CHECK_REQUEST, body, "body"))


@bp.get("")
def check_get() -> Response:
    args = query_args()
    _within_char_limits(_as_sent(args, "claim"), services().config)
    return _check(load(_CHECK_QUERY, args, "query string"))


@bp.post("/batch")
def check_batch() -> Response:
    started = time.perf_counter()
    body = json_body()
    _within_char_limits(_as_sent(body, "claims"), services().config)
    params = load(_BATCH_REQUEST, body, "body")
    results = _run(params["claims"], params)
    took = round((time.perf_counter() - started) * 1000, 3)
    return jsonify(_BATCH_RESPONSE({"results": results, "took_ms": took}))


def _check(params: dict[str, Any]) -> Response:
    [result] = _run([params["claim"]], params)
    return jsonify(_CHECK_RESPONSE(result))


def _run(claims: list[str], params: dict[str, Any]) -> list[CheckResult]:
    """Check claims with the request's options (their characters were counted as sent, by
    _within_char_limits: the repair only shortens a claim)."""
    svc = services()
    options = options_from(params, svc.config, svc.embedder.backend)
    _within_budget(claims, options.top_k, svc.config)
    results = check_claims(claims, options, svc.store, svc.embedder, svc.index)
    observe_check(results)
    return results


def _as_sent(data: Any, key: str) -> dict[str, str]:
    """The claims of a request as sent, by field: the schema repairs mis-decoded text with
    ftfy, which costs, so the character limits count them first (as an article's length is,
    service/core/ingest.py). What is no string is left to the schema to refuse."""
    value = data.get(key) if hasattr(data, "get") else None
    if isinstance(value, str):
        return {key: value}
    if isinstance(value, list):
        return {f"{key}.{i}": c for i, c in enumerate(value) if isinstance(c, str)}
    return {}


def _within_char_limits(claims: dict[str, str], config: Config) -> None:
    """Refuse a claim over FACTCHECK_MAX_CLAIM_CHARS, or claims over the request's budget of
    characters (422 naming the limit), before any work."""
    limit = config.max_claim_chars
    too_long = {f: [f"Longer than {limit} characters."] for f, c in claims.items()
                if len(c) > limit}  # fmt: skip
    if too_long:
        raise ApiError(
            422,
            "Invalid request",
            f"A claim exceeds {limit} characters.",
            VALIDATION,
            errors=too_long,
        )
    chars = sum(len(c) for c in claims.values())
    if chars > config.max_batch_chars:
        raise ApiError(
            422,
            "Invalid request",
            f"The claims hold {chars} characters in all; one request may send at most "
            f"{config.max_batch_chars} (FACTCHECK_MAX_BATCH_CHARS): split the batch.",
            VALIDATION,
            errors={"claims": [f"More than {config.max_batch_chars} characters in all."]},
        )


def _within_budget(claims: list[str], top_k: int, config: Config) -> None:
    """Refuse a request asking for more evidence items than the budget (422 naming the
    limit), before any work."""
    items = len(claims) * top_k
    if items > config.max_batch_evidence:
        raise ApiError(
            422,
            "Invalid request",
            f"{len(claims)} claims x top_k {top_k} = {items} evidence items; one request may "
            f"ask for at most {config.max_batch_evidence} (FACTCHECK_MAX_BATCH_EVIDENCE): "
            "lower top_k or split the batch.",
            VALIDATION,
            errors={"top_k": [f"Claims x top_k over {config.max_batch_evidence}."]},
        )
