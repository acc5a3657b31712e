"""A response schema's dump, compiled once into plain functions.

``Schema.dump`` walks every field of every nested schema through several layers of calls
for each value; a check's answer (~5 passages, each with its scores, article and ~30
corroborations on the bench corpus) took 1.15 ms to dump, more than its BM25 and passage
reads together. ``compiled(schema)`` reads the same schema (field names, ``data_key``,
``attribute`` paths, nesting, ``dump_default``) and returns a function giving the same dict,
key order included; the fields the responses use are converted inline and any other field
by its own ``_serialize``. A schema with dump hooks or its own attribute access is dumped by
marshmallow itself. tests/test_dumping.py holds it equal to ``Schema.dump``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Dump = Callable[[Any], Any]
Convert = Callable[[Any, Any], Any]  # (value, the object it came from) -> dumped value

_MISSING = ma.missing


def compiled(schema: ma.Schema) -> Dump:
    """A function dumping one object as ``schema.dump`` does (``many`` schemas: a list)."""
    if (
        schema._hooks[PRE_DUMP]
        or schema._hooks[POST_DUMP]
        or type(schema).get_attribute is not ma.Schema.get_attribute
        or schema.dict_class is not dict
    ):
        return schema.dump
    steps = [
        (field.data_key if field.data_key is not None else name, _getter(field, name),
         _converter(field, name), field.dump_default)
        for name, field in schema.dump_fields.items()
    ]  # fmt: skip

    def dump_one(obj: Any) -> dict[str, Any]:
        out = {}
        for key, get, convert, default in steps:
            value = get(obj)
            if value is _MISSING:
                value = default() if callable(default) else default
                if value is _MISSING:
                    continue
            out[key] = convert(value, obj)
        return out

    if schema.many:
        return lambda objs: None if objs is None else [dump_one(o) for o in objs]
    return dump_one


def _value_of(obj: Any, key: str) -> Any:
    """marshmallow.utils._get_value_for_key: an item, else an attribute, else missing."""
    if not hasattr(obj, "__getitem__"):
        return getattr(obj, key, _MISSING)
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, _MISSING)


def _getter(field: ma.fields.Field, name: str) -> Callable[[Any], Any]:
    if not field._CHECK_ATTRIBUTE:  # Method, Function, Constant: no value is read
        return lambda obj: None
    path = (field.attribute if field.attribute is not None else name).split(".")
    if len(path) == 1:
        [key] = path

        def one(obj: Any) -> Any:
            # Our answers are dataclasses and dicts: the common cases first, same result.
            if type(obj) is dict:
                return obj[key] if key in obj else getattr(obj, key, _MISSING)
            return _value_of(obj, key)

        return one

    def walk(obj: Any) -> Any:
        for key in path:
            obj = _value_of(obj, key)
        return obj

    return walk


def _converter(field: ma.fields.Field, name: str) -> Convert:
    kind = type(field)
    if kind in (ma.fields.Float, ma.fields.Integer) and not field.as_string:  # type: ignore[attr-defined]
        number = field.num_type  # type: ignore[attr-defined]
        return lambda v, obj: None if v is None else number(v)
    if kind is ma.fields.String:
        return lambda v, obj: v if type(v) is str else field._serialize(v, name, obj)
    if kind is ma.fields.Boolean and kind._serialize is ma.fields.Field._serialize:
        return lambda v, obj: v  # marshmallow dumps a Boolean's value as it is
    if kind is ma.fields.Nested:
        nested: ma.fields.Nested = field  # type: ignore[assignment]
        sub = compiled(nested.schema)
        if nested.many and not nested.schema.many:
            return lambda v, obj: None if v is None else [sub(x) for x in v]
        return lambda v, obj: None if v is None else sub(v)
    if kind is ma.fields.List:
        inner = _converter(field.inner, name)  # type: ignore[attr-defined]
        return lambda v, obj: None if v is None else [inner(x, obj) for x in v]
    return lambda v, obj: field._serialize(v, name, obj)
