"""/v1/check: the claim -> evidence endpoint (POST JSON, or GET for curl)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from schemas.check import CheckQuerySchema, CheckRequestSchema, CheckResponseSchema
from service.api.common import json_body, load, services
from service.api.errors import ApiError
from service.core.search import check_claim

bp = Blueprint("check", __name__, url_prefix="/v1/check")


@bp.post("")
def check_post() -> Response:
    return _check(load(CheckRequestSchema(), json_body(), "body"))


@bp.get("")
def check_get() -> Response:
    return _check(load(CheckQuerySchema(), request.args.to_dict(), "query string"))


def _check(params: dict[str, Any]) -> Response:
    svc = services()
    claim, top_k = params["claim"], params["top_k"]
    if len(claim) > svc.config.max_claim_chars:
        raise ApiError(
            422,
            "Invalid request",
            f"The claim exceeds {svc.config.max_claim_chars} characters.",
            errors={"claim": [f"Longer than {svc.config.max_claim_chars} characters."]},
        )
    top_k = min(top_k or svc.config.default_top_k, svc.config.max_top_k)
    result = check_claim(claim, top_k, svc.store, svc.embedder, svc.index)
    return jsonify(CheckResponseSchema().dump(result))
