"""Liveness, readiness and the OpenAPI contract."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify

from schemas.health import HealthSchema, ReadinessSchema
from service.api.common import services
from service.api.errors import RETRY_AFTER_S, UNAVAILABLE, ApiError
from service.store.base import StoreRefusingWrites, StoreUnavailable

bp = Blueprint("health", __name__)
# The contract ships inside the package (a wheel carries it as package data); in the
# repository service/openapi.yaml is a link to the one at the top.
SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi.yaml"


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive; says nothing of its dependencies."""
    return jsonify(HealthSchema().dump({"status": "ok"}))


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the model is loaded and the store answers and would take a write."""
    svc = services()
    checks = {"model": "loaded" if svc.embedder.dimension else "missing"}
    try:
        svc.store.probe_write()
        checks["store"] = "ok"
    except StoreRefusingWrites:
        checks["store"] = "refusing writes"
    except StoreUnavailable:
        checks["store"] = "unreachable"
    failing = {name: [state] for name, state in checks.items() if state not in {"ok", "loaded"}}
    if failing:
        raise ApiError(
            503,
            "Service Unavailable",
            f"Not ready: {', '.join(sorted(failing))}.",
            UNAVAILABLE,
            errors=failing,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return jsonify(ReadinessSchema().dump({"status": "ready", "checks": checks})), 200


@bp.get("/openapi.yaml")
def openapi() -> Response:
    return Response(SPEC_PATH.read_bytes(), mimetype="application/yaml")
