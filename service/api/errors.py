"""One problem+json handler for every error (RFC 9457): no HTML pages, no tracebacks."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from schemas.problem import ProblemSchema
from service.store.base import StoreRefusingWrites, StoreUnavailable

PROBLEM_JSON = "application/problem+json"
VALIDATION = "urn:factcheck:problem:validation"
UNAVAILABLE = "urn:factcheck:problem:store-unavailable"
RETRY_AFTER_S = 5
log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers deliberately, with its problem fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type_: str = "about:blank",
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.type = status, title, detail, type_
        self.errors, self.headers = errors, headers or {}


def problem_body(error: ApiError) -> dict[str, Any]:
    """An error's problem details: the body of its answer, or one item's of a batch."""
    body: dict[str, Any] = {
        "type": error.type,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if error.errors:
        body["errors"] = error.errors
    return ProblemSchema().dump(body)


def problem(error: ApiError) -> Response:
    """The problem+json response of an error: the one shape every error takes."""
    response = jsonify(problem_body(error))
    response.status_code = error.status
    response.mimetype = PROBLEM_JSON
    response.headers.update(error.headers)
    return response


def validation_problem(exc: ma.ValidationError, where: str) -> ApiError:
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    fields = ", ".join(sorted(messages))
    return ApiError(
        422,
        "Invalid request",
        f"The {where} has invalid or unknown fields: {fields}.",
        VALIDATION,
        errors=messages,
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = dict(exc.get_headers()) if status == 405 else {}
        allow = {"Allow": headers["Allow"]} if "Allow" in headers else None
        return problem(ApiError(status, exc.name, _http_detail(exc), headers=allow))

    @app.errorhandler(StoreUnavailable)
    def _store_down(exc: StoreUnavailable) -> Response:
        log.warning("store unavailable: %s", exc)
        detail = (
            "The store is up but refusing writes (out of memory, read-only, or failing to "
            "persist); retry once it is fixed."
            if isinstance(exc, StoreRefusingWrites)
            else "The store is unreachable; retry shortly."
        )
        return problem(
            ApiError(
                503,
                "Service Unavailable",
                detail,
                UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(ApiError(500, "Internal Server Error", "An unexpected error occurred."))


def _http_detail(exc: HTTPException) -> str:
    # werkzeug's descriptions are written for HTML pages; these are plainer and never leak paths.
    details = {
        400: "The request is malformed.",  # a bad Host, say: the JSON body has its own
        404: "No such resource.",
        405: "The method is not allowed on this resource.",
        413: "The request body is too large.",
        415: "Send the body as application/json.",
    }
    return details.get(exc.code or 0, exc.description or exc.name)
