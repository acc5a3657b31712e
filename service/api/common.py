"""Helpers every blueprint uses: the shared services, JSON bodies and schema loading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import marshmallow as ma
from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import MultiDict

from service.api.errors import ApiError, validation_problem
from service.config import Config
from service.core.embed import Embedder
from service.core.synced import SyncedIndex
from service.store.base import Store
from service.store.idempotency import IdempotencyLog


@dataclass
class Services:
    """The objects built once per process and kept on app.extensions."""

    config: Config
    store: Store
    embedder: Embedder
    index: SyncedIndex
    idempotency: IdempotencyLog


class JsonProvider(DefaultJSONProvider):
    """Answers as UTF-8 JSON, keys in the schema's order. A lone surrogate, which no UTF-8
    answer can carry (the schemas refuse them now, but Redis kept one sent before), is
    written as its \\u escape rather than failing the answer, and every later read, with 500."""

    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return super().dumps(obj, **{**kwargs, "ensure_ascii": True})
        return text


def services() -> Services:
    return current_app.extensions["factcheck"]


def json_body() -> Any:
    """The request's JSON body: 415 unless sent as JSON, 400 when it does not parse."""
    if not request.is_json:
        raise ApiError(415, "Unsupported Media Type", "Send the body as application/json.")
    # Decoded here, not by get_json: json.loads of bytes guesses UTF-16 and UTF-32 from the
    # NUL bytes and reads them, while JSON on the wire is UTF-8 (RFC 8259) and says so.
    try:
        body = current_app.json.loads(request.get_data(cache=True).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurd nesting
        body = None
    if body is None:
        raise ApiError(400, "Bad Request", "The request body is not valid JSON (UTF-8).")
    return body


def query_args() -> MultiDict[str, str]:
    """The query parameters; 400 unless they are UTF-8 once percent-decoded. (werkzeug would
    keep an invalid byte as the literal text "%FF": a claim nobody sent.)"""
    try:
        unquote_to_bytes(request.query_string.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "Bad Request", "The query string is not valid UTF-8 once percent-decoded."
        ) from exc
    return request.args


def init_path_check(app: Flask) -> None:
    """400 for a path that is not UTF-8 once percent-decoded, as for a query string (werkzeug
    would turn the bad bytes into U+FFFD and answer 404 for a path nobody sent)."""

    @app.before_request
    def _path_is_utf8() -> None:
        # PATH_INFO is already decoded (lossily, by werkzeug's test client): read the raw URI.
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        path = urlsplit(raw).path if raw else request.environ.get("PATH_INFO", "")
        try:
            unquote_to_bytes(path.encode("latin-1", "replace")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(
                400, "Bad Request", "The path is not valid UTF-8 once percent-decoded."
            ) from exc


def load(schema: ma.Schema, data: Any, where: str) -> dict[str, Any]:
    """Validate with a schema; 422 problem naming each bad or unknown field."""
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise validation_problem(exc, where) from exc
