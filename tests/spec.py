"""Check served responses against openapi.yaml, so that code and contract cannot drift."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi.yaml"


@cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")


def operation_for(path: str) -> tuple[str, dict[str, Any]] | None:
    for template, item in spec()["paths"].items():
        if _template_regex(template).match(path):
            return template, item
    return None


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = spec()
        for part in parts:
            target = target[part]
        node = target
    return node


def schema_validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    document = {**schema, "components": spec()["components"]}
    return jsonschema.Draft202012Validator(document)


def check_response(method: str, path: str, status: int, content_type: str, body: Any) -> None:
    """Raise AssertionError when a response is not what the spec declares."""
    found = operation_for(path)
    server_level = spec().get("x-server-responses", {})  # refusals any operation may answer
    if found is None:
        assert status == 404 or str(status) in server_level, (
            f"{method} {path} -> {status}, but the spec has no such path"
        )
        assert content_type.startswith("application/problem+json")
        schema_validator({"$ref": "#/components/schemas/Problem"}).validate(body)
        return
    template, item = found
    operation = item.get(method.lower())
    if operation is None:
        assert status in (404, 405), f"{method} {template} is not in the spec, yet got {status}"
        return
    responses = {**server_level, **operation["responses"]}
    declared = responses.get(str(status))
    assert declared is not None, f"{method} {template} answered {status}, not declared in spec"
    declared = _deref(declared)
    content = declared.get("content")
    if not content:
        assert body in (None, b"", ""), f"{method} {template} {status} should have no body"
        return
    media = content_type.split(";")[0].strip()
    assert media in content, f"{method} {template} {status}: {media} not in {list(content)}"
    schema = content[media].get("schema")
    if schema and media.endswith("json"):
        schema_validator(schema).validate(body)
