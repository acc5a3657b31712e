"""openapi.yaml is the contract: valid, served as is, and in step with routes and schemas.
(Every response the suite sees is also checked against it by the client in conftest.)"""

from __future__ import annotations

import re

import marshmallow as ma
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from schemas.articles import ArticleCreateSchema, ArticleListQuerySchema
from schemas.check import CheckRequestSchema
from tests.spec import SPEC_FILE, spec

METHODS = {"get", "post", "put", "patch", "delete"}


def test_spec_is_valid_openapi() -> None:
    validate(spec())


def test_spec_is_served_verbatim(client: FlaskClient) -> None:
    served = client.get("/openapi.yaml")
    assert served.status_code == 200
    assert served.get_data() == SPEC_FILE.read_bytes()


def _flask_routes(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods or () if m.lower() in METHODS}
    return routes


def _spec_routes() -> set[tuple[str, str]]:
    return {
        (path, method) for path, item in spec()["paths"].items() for method in item
        if method in METHODS
    }  # fmt: skip


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_every_route_is_in_the_spec_and_back(app: Flask) -> None:
    assert _flask_routes(app) == _spec_routes()


def _body_schema(path: str, method: str) -> dict:  # type: ignore[type-arg]
    content = spec()["paths"][path][method]["requestBody"]["content"]["application/json"]
    ref = content["schema"]["$ref"].split("/")[-1]
    return spec()["components"]["schemas"][ref]  # type: ignore[no-any-return]


def _query_params(path: str, method: str) -> dict[str, dict]:  # type: ignore[type-arg]
    params = spec()["paths"][path][method].get("parameters", [])
    return {p["name"]: p for p in params if p["in"] == "query"}


def _required(schema: ma.Schema) -> set[str]:
    return {name for name, field in schema.fields.items() if field.required}


@pytest.mark.parametrize(
    ("schema", "path", "method"),
    [
        (CheckRequestSchema(), "/v1/check", "post"),
        (ArticleCreateSchema(), "/v1/articles", "post"),
    ],
)
def test_request_bodies_match_their_schemas(schema: ma.Schema, path: str, method: str) -> None:
    declared = _body_schema(path, method)
    assert set(declared["properties"]) == set(schema.fields)
    assert set(declared.get("required", [])) == _required(schema)
    assert declared.get("additionalProperties") is False  # unknown fields are rejected


@pytest.mark.parametrize(
    ("schema", "path", "method"),
    [
        (CheckRequestSchema(), "/v1/check", "get"),
        (ArticleListQuerySchema(), "/v1/articles", "get"),
    ],
)
def test_query_parameters_match_their_schemas(schema: ma.Schema, path: str, method: str) -> None:
    params = _query_params(path, method)
    assert set(params) == set(schema.fields)
    assert {n for n, p in params.items() if p.get("required")} == _required(schema)


def test_every_operation_declares_problem_errors() -> None:
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            # Fixed documents with no input: nothing a caller sends can make them fail.
            if method not in METHODS or path in {
                "/healthz",
                "/openapi.yaml",
                "/metrics",
                "/",
                "/docs",
            }:
                continue
            errors = [s for s in operation["responses"] if s.startswith(("4", "5"))]
            assert errors, f"{method} {path} declares no error"
            for status in errors:
                response = operation["responses"][status]
                if "$ref" in response:  # Problem, or a Problem with documented headers
                    response = spec()["components"]["responses"][response["$ref"].split("/")[-1]]
                problem = response["content"]["application/problem+json"]["schema"]
                assert problem == {"$ref": "#/components/schemas/Problem"}, (method, path)
                assert set(response["content"]) == {"application/problem+json"}, (method, path)
