"""Compiled dumps (service.api.dumping) against marshmallow's own Schema.dump."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask

from schemas.check import BatchResponseSchema, CheckResponseSchema
from service.api.dumping import compiled
from service.core.options import options_from
from service.core.search import check_claims


def same(got: Any, want: Any) -> None:
    """Equal values, types and key order (json.dumps keeps the order a dict was filled in)."""
    assert json.dumps(got) == json.dumps(want)
    assert repr(got) == repr(want)  # 1 and 1.0, True and 1 compare equal; their reprs do not


ARTICLES = [
    ("wire-a", "Outlet One", "Ash from an Icelandic volcano grounded flights across Europe. "
     "Airports stayed shut on Friday."),
    ("wire-b", "Outlet Two", "Ash from an Icelandic volcano grounded flights across Europe. "
     "Travellers were stranded for days."),
    ("cut-2", "A rewrite of an Outlet One report",
     "Icelandic volcanic ash grounded flights in northern Europe, AFP reported."),
    ("other", "Outlet Three", "The football final ended in a draw after extra time."),
]  # fmt: skip

CLAIMS = [
    "Volcanic ash stopped flights in Europe",
    "The football final ended in a draw",
    "A comet hit the moon on Tuesday",  # nothing supports it: evidence []
]


@pytest.mark.parametrize("min_probability", [None, 0.0])
def test_a_real_answer_dumps_the_same(app: Flask, min_probability: float | None) -> None:
    client = app.test_client()
    for article_id, source, text in ARTICLES:
        body = {"id": article_id, "title": article_id, "source": source, "text": text}
        if article_id == "other":
            body |= {"url": "https://example.org/final", "published_at": "2026-05-02"}
        assert client.post("/v1/articles", json=body).status_code == 201
    svc = app.extensions["factcheck"]
    params = {} if min_probability is None else {"min_probability": min_probability}
    options = options_from(params, svc.config, svc.embedder.backend)
    with app.app_context():
        results = check_claims(CLAIMS, options, svc.store, svc.embedder, svc.index)
    assert any(r.evidence for r in results)
    assert any(e.corroborated_by for r in results for e in r.evidence)
    schema = CheckResponseSchema()
    for result in results:
        same(compiled(schema)(result), schema.dump(result))
    batch = {"results": results, "took_ms": 1.5}
    same(compiled(BatchResponseSchema())(batch), BatchResponseSchema().dump(batch))


class Inner(ma.Schema):
    n = ma.fields.Integer()
    x = ma.fields.Float(allow_none=True)


class Hooked(ma.Schema):
    a = ma.fields.String()

    @ma.post_dump
    def shout(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v.upper() for k, v in data.items()}


class Every(ma.Schema):
    """Each way a field is read and written that the compiler distinguishes."""

    plain = ma.fields.String()
    renamed = ma.fields.Integer(data_key="other-name")
    dotted = ma.fields.String(attribute="deep.inner.text")
    absent = ma.fields.String()  # not on the object: left out
    defaulted = ma.fields.Integer(dump_default=7)
    called_default = ma.fields.List(ma.fields.Integer(), dump_default=lambda: [1])
    nullable = ma.fields.Float(allow_none=True)
    as_text = ma.fields.Float(as_string=True)
    flag = ma.fields.Boolean()
    flag_of_int = ma.fields.Boolean()
    raw_bytes = ma.fields.String()
    one = ma.fields.Nested(Inner)
    many = ma.fields.Nested(Inner, many=True)
    listed = ma.fields.List(ma.fields.Nested(Inner))
    only = ma.fields.Nested(Inner, only=("n",))
    no_nested = ma.fields.Nested(Inner, allow_none=True)
    plucked = ma.fields.Pluck(Inner, "n", many=True)
    method = ma.fields.Method("twice")
    constant = ma.fields.Constant("c")
    hooked = ma.fields.Nested(Hooked)
    when = ma.fields.Date()

    def twice(self, obj: Any) -> int:
        return 2 * int(obj["renamed"])


@dataclass
class Deep:
    inner: dict[str, str] = field(default_factory=lambda: {"text": "deep text"})


def every_object() -> dict[str, Any]:
    import datetime

    import numpy as np

    return {
        "plain": "p",
        "renamed": np.int64(3),
        "deep": Deep(),
        "nullable": None,
        "as_text": 0.25,
        "flag": True,
        "flag_of_int": 1,
        "raw_bytes": b"caf\xc3\xa9",
        "one": {"n": 1.9, "x": np.float32(0.1)},
        "many": [{"n": 1, "x": None}, {"n": 2}],
        "listed": [{"n": 3, "x": 2}],
        "only": {"n": 4, "x": 5.0},
        "no_nested": None,
        "plucked": [{"n": 5}, {"n": 6}],
        "hooked": {"a": "quiet"},
        "when": datetime.date(2026, 12, 2),
    }


def test_every_kind_of_field_dumps_the_same() -> None:
    schema = Every()
    obj = every_object()
    want = schema.dump(obj)
    assert "absent" not in want and want["defaulted"] == 7  # the cases are what they say
    same(compiled(schema)(obj), want)
    same(compiled(Every(many=True))([obj, obj]), Every(many=True).dump([obj, obj]))


def test_a_schema_with_hooks_is_left_to_marshmallow() -> None:
    schema = Hooked()
    assert compiled(schema) == schema.dump
    same(compiled(schema)({"a": "x"}), {"a": "X"})
