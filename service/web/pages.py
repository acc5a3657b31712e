"""The check page (`/`) and the API docs (`/docs`), with their assets.

Both pages are static HTML whose scripts call the JSON API with fetch; no inline script or
style, so each response carries a CSP that allows only this origin's files (the API's own
`default-src 'none'` stays on everything else, see service/api/headers.py).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from swagger_ui.utils import SWAGGER_UI_PY_ROOT

bp = Blueprint("web", __name__)
STATIC = Path(__file__).resolve().parent / "static"
# Swagger UI 5 (OpenAPI 3.1) as the swagger-ui-py package ships it; its Flask handler is not
# used: it renders an inline script, which the page's CSP would (rightly) refuse.
SWAGGER = Path(SWAGGER_UI_PY_ROOT) / "static"
# Types by suffix, not by the platform's mimetypes table, which differs between systems
# (.js is application/javascript on some and text/javascript on others); the contract
# names these exactly.
TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".svg": "image/svg+xml"}
# The check page: own scripts, styles and fetch to the same origin; nothing else.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Swagger UI sets style attributes from script and draws its icons from data: URIs.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _html(name: str, csp: str) -> Response:
    response = send_from_directory(STATIC, name, mimetype="text/html")
    response.headers["Content-Security-Policy"] = csp
    response.mimetype = "text/html"
    return response


def _asset(folder: Path, filename: str) -> Response:
    suffix = Path(filename).suffix
    if suffix not in TYPES:
        from service.api.errors import ApiError

        raise ApiError(404, "Not Found", "No such resource.")
    return send_from_directory(folder, filename, mimetype=TYPES[suffix], max_age=3600)


@bp.get("/")
def index() -> Response:
    """The check page: a claim box and the evidence as cards."""
    return _html("index.html", PAGE_CSP)


@bp.get("/assets/<filename>")
def asset(filename: str) -> Response:
    """The check page's and the docs page's own scripts and styles."""
    return _asset(STATIC, filename)


@bp.get("/docs")
def docs() -> Response:
    """Swagger UI on the served openapi.yaml."""
    return _html("docs.html", DOCS_CSP)


@bp.get("/docs/assets/<filename>")
def docs_asset(filename: str) -> Response:
    """Swagger UI's own files, as the swagger-ui-py package ships them."""
    return _asset(SWAGGER, filename)
