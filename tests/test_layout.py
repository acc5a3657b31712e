"""The package layout docs/architecture.md draws, held: which of our packages each may import
(read from the sources, in-function imports included), and the core free of Flask."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = "service"  # `from service import create_app`: the app factory in service/__init__.py
# What each package may import of ours; docs/architecture.md draws the same arrows.
ALLOWED: dict[str, set[str]] = {
    "types": set(),
    "config": set(),
    "schemas": set(),
    "documents": set(),
    "store": {"types"},
    "core": {"types", "store", "config", "schemas"},
    "api": {"core", "store", "types", "config", "schemas", "documents", "serving", "web"},
    "web": {"api", "core", "store", "types", "config", "schemas"},
    "serving": {"api", "config", "schemas"},
    "evaluation": {APP, "core", "store", "types", "config", "schemas", "documents"},
    "cli": {"api", "core", "store", "types", "config", "schemas", "documents", "evaluation"},
    APP: {"api", "core", "store", "config", "serving", "web"},
}


def package_of(module: str) -> str | None:
    """service.core.index -> core; schemas.check -> schemas; service -> the app factory."""
    parts = module.split(".")
    if parts[0] == "schemas":
        return "schemas"
    if parts[0] != "service":
        return None
    return parts[1] if len(parts) > 1 else APP


def imports(path: Path) -> set[str]:
    """Every module a file imports, `from service import x` read as service.x where x is one
    of our modules (else the app factory's package itself)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "service":
                ours = {a.name for a in node.names if (ROOT / "service" / a.name).exists()}
                found |= {f"service.{name}" for name in ours}
    return found


SOURCES = sorted(
    p.relative_to(ROOT) for top in ("service", "schemas") for p in (ROOT / top).rglob("*.py")
)


def own_package(relative: Path) -> str:
    module = ".".join(relative.with_suffix("").parts)
    if relative.name == "__init__.py" and relative.parent == Path("service"):
        return APP
    own = package_of(module)
    assert own is not None
    return own


@pytest.mark.parametrize("relative", SOURCES, ids=str)
def test_imports_point_the_drawn_way(relative: Path) -> None:
    own = own_package(relative)
    assert own in ALLOWED, f"{relative}: the package {own} is not in docs/architecture.md"
    reached = {package_of(m) for m in imports(ROOT / relative)} - {None, own}
    assert reached <= ALLOWED[own], f"{relative} imports {sorted(reached - ALLOWED[own])}"


@pytest.mark.parametrize(
    "relative", [p for p in SOURCES if p.parts[1] in ("core", "store")], ids=str
)
def test_core_and_store_never_import_flask(relative: Path) -> None:
    assert not {m for m in imports(ROOT / relative) if m.split(".")[0] == "flask"}
