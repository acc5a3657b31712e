"""docker-compose.yml and the Dockerfile, read as files: no Docker engine runs here, so these
tests hold the parts that must agree with the service (settings, ports, paths) in place."""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.api.health import SPEC_PATH
from service.config import ENV_PREFIX, Config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CPU_WHEELS = "https://download.pytorch.org/whl/cpu"  # PyTorch's CPU-only wheel index
SUBSTITUTION = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):-(?P<default>[^}]*)\}$")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def environment(name: str) -> dict[str, str]:
    """A service's environment, in either of compose's forms (mapping or KEY=VALUE list)."""
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def resolve(value: str) -> str:
    """What compose substitutes when the variable is unset: the `${VAR:-default}` default."""
    match = SUBSTITUTION.match(value)
    return match["default"] if match else value


def as_args(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def bind_port() -> int:
    host, _, port = environment("api")["FACTCHECK_BIND"].rpartition(":")
    assert host == "0.0.0.0", "inside a container the API must listen on every interface"
    return int(port)


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


API_ENV = sorted(environment("api").items())


# --- docker-compose.yml ---------------------------------------------------------------------


def test_both_services_exist() -> None:
    assert {"api", "redis"} <= set(compose()["services"])
    assert service("api")["build"] in (".", {"context": "."})
    assert service("redis")["image"].split(":")[0] == "redis"


def test_redis_persists_to_the_named_volume() -> None:
    args = as_args(service("redis")["command"])
    assert args[0] == "redis-server"
    assert args[args.index("--appendonly") + 1] == "yes"
    # An acknowledged 201 must survive a crash: everysec may answer before the write reaches
    # the disk (docker-compose.yml); tests/test_faults.py runs Redis with these same flags.
    assert args[args.index("--appendfsync") + 1] == "always"
    assert "redis-data:/data" in service("redis")["volumes"]
    assert "redis-data" in compose()["volumes"]


def test_redis_healthcheck_pings() -> None:
    assert as_args(service("redis")["healthcheck"]["test"])[-2:] == ["redis-cli", "ping"]


def test_api_store_defaults_to_the_redis_service() -> None:
    url = urlsplit(resolve(environment("api")["FACTCHECK_STORE"]))
    assert url.scheme == "redis"
    assert url.hostname == "redis" and url.hostname in compose()["services"]
    assert (url.port or 6379) == 6379


@pytest.mark.parametrize(("name", "value"), API_ENV, ids=[name for name, _ in API_ENV])
def test_api_environment_names_real_settings_with_valid_defaults(name: str, value: str) -> None:
    assert name in Config.env_names(), f"{name} is not a setting of service.config.Config"
    match = SUBSTITUTION.match(value)
    if match:  # ${FACTCHECK_X:-default}: the shell's variable of the same name wins
        assert match["name"] == name
    default = resolve(value)
    field = next(f.name for f in fields(Config) if ENV_PREFIX + f.name.upper() == name)
    parsed = getattr(Config.from_env({name: default}), field)
    assert parsed == type(getattr(Config(), field))(default)
    assert str(parsed) == default


def test_api_sets_every_setting_that_differs_in_a_container() -> None:
    assert {"FACTCHECK_STORE", "FACTCHECK_BIND", "FACTCHECK_WORKERS"} <= dict(API_ENV).keys()


def test_api_publishes_the_port_it_binds() -> None:
    ports = service("api")["ports"]
    assert len(ports) == 1
    host, _, container = str(ports[0]).rpartition(":")
    assert int(container) == bind_port()
    assert int(resolve(host)) > 0


def test_api_healthcheck_asks_readyz_on_the_bound_port() -> None:
    check = service("api")["healthcheck"]
    command = " ".join(as_args(check["test"]))
    assert f"http://127.0.0.1:{bind_port()}/readyz" in command
    # The model loads in every worker before /readyz can answer 200.
    assert seconds(check["start_period"]) >= 30


def test_api_waits_for_a_healthy_redis() -> None:
    assert service("api")["depends_on"]["redis"]["condition"] == "service_healthy"


# --- Dockerfile ---------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: continuations joined, comments dropped."""
    found: list[tuple[str, str]] = []
    current = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, args = (current + stripped).partition(" ")
        found.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return found


def args_of(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def position(predicate: Any) -> int:
    return next(i for i, (kw, args) in enumerate(instructions()) if predicate(kw, args))


def env_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for args in args_of("ENV"):
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            values[name] = value
    return values


def copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY, the destination made absolute under WORKDIR."""
    result, workdir = [], "/"
    for keyword, args in instructions():
        if keyword == "WORKDIR":
            workdir = args
        if keyword == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), "no COPY --from/--chown here"
            result.append((sources, posixpath.normpath(posixpath.join(workdir, dest))))
    return result


def test_dockerfile_base_image() -> None:
    assert instructions()[0] == ("FROM", "python:3.11-slim")


def project_source() -> str:
    """Where the build copies the project (the folder holding pyproject.toml) to install it."""
    [dest] = [dest for sources, dest in copies() if "pyproject.toml" in sources]
    return dest


def test_dockerfile_installs_cpu_torch_before_the_project() -> None:
    torch = position(lambda kw, a: kw == "RUN" and "pip install torch==2.13.0" in a)
    source = re.escape(project_source())
    project = position(lambda kw, a: kw == "RUN" and re.search(rf"pip install {source}(\s|$)", a))
    assert torch < project
    assert "--index-url ${TORCH_INDEX_URL}" in instructions()[torch][1]
    # By default the CPU-only build: a small image unless asked otherwise (--build-arg).
    assert f"TORCH_INDEX_URL={CPU_WHEELS}" in args_of("ARG")
    assert position(lambda kw, a: kw == "ARG" and a.startswith("TORCH_INDEX_URL=")) < torch


def test_dockerfile_command_serves() -> None:
    [cmd] = args_of("CMD")
    assert json.loads(cmd) == ["factcheck", "serve"]  # exec form: gunicorn gets SIGTERM


def test_dockerfile_runs_as_a_non_root_user() -> None:
    [user] = args_of("USER")
    assert user.split(":")[0] not in {"root", "0"}
    assert position(lambda kw, _: kw == "USER") < position(lambda kw, _: kw == "CMD")


def test_dockerfile_environment_and_port() -> None:
    env = env_values()
    assert env["HF_HUB_OFFLINE"] == "1"
    host, _, port = env["FACTCHECK_BIND"].rpartition(":")
    assert host == "0.0.0.0"
    assert args_of("EXPOSE") == [port]
    assert int(port) == bind_port()  # compose and the image agree


def test_dockerfile_healthcheck_asks_readyz_with_python() -> None:
    [check] = args_of("HEALTHCHECK")
    assert re.search(r"CMD python -c .*/readyz", check)
    assert "curl" not in check and "wget" not in check  # neither is in the slim image


def test_the_image_installs_the_project_normally_and_drops_its_sources() -> None:
    """Not editable: what runs is the installed package. The sources go in the same layer, so
    that `python -m gunicorn` (the working directory first on sys.path) cannot import them."""
    source = project_source()
    runs = args_of("RUN")
    assert not any(re.search(r"pip install .*(-e|--editable)\b", a) for a in runs)
    [install] = [a for a in runs if re.search(rf"pip install {re.escape(source)}(\s|$)", a)]
    assert f"rm -rf {source}" in install
    [workdir] = args_of("WORKDIR")
    assert workdir != source and not workdir.startswith(source + "/")


def test_the_contract_is_package_data_linked_to_the_top_level_file() -> None:
    """The package serves service/openapi.yaml: a link to the contract at the top of the repo,
    which the wheel carries as a file; the build copies both, the target where the link says."""
    link = ROOT / "service" / "openapi.yaml"
    assert link == SPEC_PATH and link.resolve() == (ROOT / "openapi.yaml").resolve()
    assert link.is_symlink() and link.readlink() == Path("../openapi.yaml")
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "openapi.yaml" in package_data["tool"]["setuptools"]["package-data"]["service"]
    source = project_source()
    assert any("openapi.yaml" in sources and dest == source for sources, dest in copies())
    assert any("service/" in sources and dest == f"{source}/service" for sources, dest in copies())


def build_context(into: Path) -> None:
    """What the Dockerfile's COPY instructions put in the project's source folder, as Docker
    copies it (links kept, the .dockerignore'd caches left out)."""
    source = project_source()
    for sources, dest in copies():
        if dest != source and not dest.startswith(source + "/"):
            continue
        target = into / posixpath.relpath(dest, source)
        for name in sources:
            path = ROOT / name
            if path.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(path, target, symlinks=True, ignore=ignore, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)


# Run from the installed copy alone: the routes that read package data, answered by Flask.
INSTALLED_PROBE = """
import json, sys
from flask import Flask
import service
from service.api import health
from service.core.evidence import MODEL_PATH, load_model
from service.web import pages
app = Flask("probe")
app.register_blueprint(health.bp)
app.register_blueprint(pages.bp)
client = app.test_client()
spec = client.get("/openapi.yaml")
page = client.get("/")
load_model()
print(json.dumps({
    "package": service.__file__,
    "spec_status": spec.status_code,
    "spec": spec.get_data(as_text=True),
    "page_status": page.status_code,
    "static": sorted(p.name for p in pages.STATIC.iterdir()),
    "model": str(MODEL_PATH),
}))
"""


def test_a_normal_install_serves_its_contract_and_ships_its_data(tmp_path: Path) -> None:
    """The image cannot be built here (no Docker, no PyTorch index), so this builds the wheel
    from exactly what the Dockerfile copies, installs it (not editable) into a folder of its
    own, and asks that copy for /openapi.yaml, the check page and the evidence model."""
    context, site = tmp_path / "src", tmp_path / "site"
    build_context(context)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheel = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."]
    subprocess.run(wheel, cwd=context, check=True, timeout=300)
    [built] = tmp_path.glob("factcheck-*.whl")
    install = [*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(built)]
    subprocess.run(install, check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed copy, not this checkout
    probe = [sys.executable, "-c", INSTALLED_PROBE]
    result = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, check=True)
    found = json.loads(result.stdout)
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["model"]).is_relative_to(site)
    assert found["spec_status"] == 200
    assert found["spec"] == (ROOT / "openapi.yaml").read_text(encoding="utf-8")
    assert found["page_status"] == 200
    shipped = sorted(p.name for p in (ROOT / "service" / "web" / "static").iterdir())
    assert found["static"] == shipped


def project_packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["setuptools"]["packages"]["find"]["include"]


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


SOURCES = sorted({source.rstrip("/") for sources, _ in copies() for source in sources})


@pytest.mark.parametrize("source", SOURCES)
def test_every_copied_path_exists_and_is_not_dockerignored(source: str) -> None:
    assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repo"
    assert not any(fnmatch.fnmatch(source, p.rstrip("/")) for p in dockerignore_patterns())


def test_the_build_copies_what_pyproject_needs() -> None:
    """`pip install` reads pyproject.toml, its readme and the packages it names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    packages = {p.rstrip("*") for p in project_packages()}
    needed = {"pyproject.toml", *packages} | ({project["readme"]} if "readme" in project else set())
    assert needed <= set(SOURCES)


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = dockerignore_patterns()
    for path in [".venv", "data", ".git", ".pytest_cache", "factcheck.egg-info"]:
        assert any(fnmatch.fnmatch(path, p) for p in patterns), path
