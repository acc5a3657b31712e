"""The one error shape: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import marshmallow as ma


class ProblemSchema(ma.Schema):
    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    # Field name -> list of messages (nested for nested fields), for validation errors.
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw())
