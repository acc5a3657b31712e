"""Schemas of the health endpoints."""

from __future__ import annotations

import marshmallow as ma


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)


class ReadinessSchema(ma.Schema):
    status = ma.fields.String(required=True)  # ready | unavailable
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
