"""Base schema and reusable fields: strict (unknown fields rejected), marshmallow only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import marshmallow as ma


class StrictSchema(ma.Schema):
    """A schema that rejects fields it does not declare."""

    class Meta:
        unknown = ma.RAISE


def no_control_chars(value: str) -> None:
    """NUL and other C0 controls (except tab and line breaks) never belong in text, nor do
    lone UTF-16 surrogates (JSON can spell them as \\ud800; no encoder can write them)."""
    if any((ord(c) < 32 and c not in "\t\n\r") or "\ud800" <= c <= "\udfff" for c in value):
        raise ma.ValidationError("Must not contain control characters or lone surrogates.")


def not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("Must not be blank.")


class IsoDateTime(ma.fields.String):
    """An ISO 8601 date or date-time, kept as the normalised ISO string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            if len(raw) == 10:
                return date.fromisoformat(raw).isoformat()
            parsed = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise ma.ValidationError("Not a valid ISO 8601 date or date-time.") from exc
        text = parsed.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
