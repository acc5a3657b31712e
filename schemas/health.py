"""Schemas of the health endpoints."""

from __future__ import annotations

import marshmallow as ma


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)


class ReadinessSchema(ma.Schema):
    status = ma.fields.String(required=True)  # always "ready"; not ready is a 503 problem
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
