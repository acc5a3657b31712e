"""Liveness, readiness and the OpenAPI contract."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify

from schemas.health import HealthSchema, ReadinessSchema
from service.api.common import services
from service.store.base import StoreUnavailable

bp = Blueprint("health", __name__)
# The contract lives at the top of the repository (installs are editable or a full copy).
SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive; says nothing of its dependencies."""
    return jsonify(HealthSchema().dump({"status": "ok"}))


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the model is loaded and the store answers."""
    svc = services()
    checks = {"model": "loaded" if svc.embedder.dimension else "missing"}
    try:
        svc.store.ping()
        checks["store"] = "ok"
    except StoreUnavailable:
        checks["store"] = "unreachable"
    ready = all(v in {"ok", "loaded"} for v in checks.values())
    body = ReadinessSchema().dump({"status": "ready" if ready else "unavailable", "checks": checks})
    return jsonify(body), 200 if ready else 503


@bp.get("/openapi.yaml")
def openapi() -> Response:
    return Response(SPEC_PATH.read_bytes(), mimetype="application/yaml")
