"""The template runner: projects run elsewhere (a pod each in deploy/k8s), found at a
templated address, with tokens derived from one key. Here "elsewhere" is a real local
hub process on a loopback port that the test starts itself, as a project pod's init
step and command would."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.app import choose_runner
from hub.config import Settings
from hub.local_hub.runner_protocol import ProjectStartFailed
from hub.local_hub.runner_template import (
    ProjectStopUnsupported,
    RunnerConfigError,
    TemplateRunner,
    derive_token,
    main,
    parse_template,
)
from tests.fixtures.local_hub import start_local_hub
from tests.fixtures.timeouts import seconds

KEY = b"k8s-secret-0123456789abcdef"
OTHER_KEY = b"another-key-0123456789abcdef"
PASSWORD = "template-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def key_file(directory: Path, key: bytes = KEY) -> Path:
    path = directory / "project-token-key"
    path.write_bytes(key + b"\n")  # a trailing newline, as `echo` or a Secret may leave
    path.chmod(0o600)
    return path


def write_token(home: Path, token: str) -> None:
    """What a project pod's init step does before the local hub starts."""
    smc = home / ".smc"
    smc.mkdir(parents=True, mode=0o700)
    fd = os.open(smc / "secret_token", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")


# --- the runner on its own ---------------------------------------------------------------


def test_token_is_hmac_sha256_of_the_project_id_in_hex() -> None:
    project = uuid.UUID("6a1c1b8e-2f4b-4c1a-9a49-5d0c6f1a2b3c")
    expected = hmac.new(KEY, str(project).encode(), hashlib.sha256).hexdigest()
    assert derive_token(KEY, project) == expected
    assert len(expected) == 64
    assert derive_token(OTHER_KEY, project) != expected


def test_address_comes_from_the_template(tmp_path: Path) -> None:
    runner = TemplateRunner(
        "project-{project_id}.projects.svc.cluster.local:6000", key_file(tmp_path)
    )
    project = uuid.uuid4()
    address = runner.address_now(project)
    assert address.host == f"project-{project}.projects.svc.cluster.local"
    assert address.port == 6000
    assert address.secret_token == derive_token(KEY, project)
    assert "secret_token" not in repr(address)
    assert parse_template("[::1]:6000") == ("::1", "6000")


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("", "needs project_address_template"),
        ("project-{project_id}", "HOST:PORT"),
        ("project-{project_id}:http", "HOST:PORT"),
        ("project-{project_id}:70000", "HOST:PORT"),
        ("project-{name}:6000", "only {project_id}"),
        ("project-{project_id:6000", "only {project_id}"),
    ],
)
def test_a_bad_template_is_refused_at_start(tmp_path: Path, template: str, complaint: str) -> None:
    with pytest.raises(RunnerConfigError, match=complaint.replace("{", r"\{").replace("}", r"\}")):
        TemplateRunner(template, key_file(tmp_path))


def test_a_missing_or_short_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(RunnerConfigError, match="cannot read"):
        TemplateRunner("h:1", tmp_path / "nope")
    with pytest.raises(RunnerConfigError, match="at least 16"):
        TemplateRunner("h:1", key_file(tmp_path, b"short\n"))


def test_the_command_line_prints_a_projects_token(tmp_path: Path, capsys: Any) -> None:
    project = uuid.uuid4()
    assert main(["--key-file", str(key_file(tmp_path)), str(project)]) == 0
    assert capsys.readouterr().out == derive_token(KEY, project) + "\n"
    assert main(["--key-file", str(tmp_path / "missing"), str(project)]) == 1
    assert "cannot read" in capsys.readouterr().err


async def test_status_start_and_stop_try_the_address(tmp_path: Path) -> None:
    port = free_port()
    runner = TemplateRunner(f"127.0.0.1:{port}", key_file(tmp_path), probe_timeout_s=seconds(2))
    project = uuid.uuid4()
    assert (await runner.status(project)).state == "stopped"
    with pytest.raises(ProjectStartFailed, match=f"not running at 127.0.0.1:{port}"):
        await runner.start(project)
    home = tmp_path / "home"
    write_token(home, derive_token(KEY, project))
    async with start_local_hub(home, "--port", str(port)) as daemon:
        status = await runner.status(project)
        assert status.state == "running"
        assert status.address == runner.address_now(project)
        assert await runner.start(project) == runner.address_now(project)
        link = await daemon.hub.connect()  # the daemon kept the token the init step wrote
        link.close()
        assert daemon.hub.token == derive_token(KEY, project)
        with pytest.raises(ProjectStopUnsupported, match="orchestrator"):
            await runner.stop(project)
    await runner.close()


# --- through a real hub ------------------------------------------------------------------


@pytest.fixture
def project_port() -> int:
    return free_port()


@pytest.fixture
def hub_overrides(tmp_path: Path, project_port: int) -> dict[str, Any]:
    return {
        "project_runner": "template",
        "project_address_template": f"127.0.0.1:{project_port}",
        "project_token_key_file": str(key_file(tmp_path)),
        "project_connect_timeout_s": seconds(3),
    }


async def new_project(client: Any, email: str) -> str:
    await client.call(
        "create_account", email_address=email, password=PASSWORD, agreed_to_terms=True
    )
    reply = await client.call("create_project", title="pod", description="runs elsewhere")
    assert reply["event"] == "project_created"
    return str(reply["project_id"])


async def test_a_hub_relays_to_a_project_found_by_template(
    connect: Any, tmp_path: Path, project_port: int
) -> None:
    async with connect() as client:
        project = await new_project(client, "pod@example.com")
        home = tmp_path / "pod-home"
        write_token(home, derive_token(KEY, uuid.UUID(project)))
        async with start_local_hub(home, "--port", str(project_port)):
            out = await client.call("project_exec", project_id=project, command="pwd")
            assert out["event"] == "project_exec_output", out
            assert out["stdout"].strip() == str(home.resolve())
            out = await client.call("project_exec", project_id=project, command="echo", args=["hi"])
            assert out["stdout"] == "hi\n"


async def test_a_project_with_a_token_from_another_key_is_a_clear_error(
    connect: Any, tmp_path: Path, project_port: int
) -> None:
    async with connect() as client:
        project = await new_project(client, "wrong-key@example.com")
        home = tmp_path / "pod-home"
        write_token(home, derive_token(OTHER_KEY, uuid.UUID(project)))
        async with start_local_hub(home, "--port", str(project_port)):
            out = await client.call(
                "project_exec", project_id=project, command="pwd", raise_errors=False
            )
            assert out["event"] == "error"
            assert "invalid secret token" in out["error"], out


async def test_a_project_that_is_not_running_is_a_clear_error(connect: Any) -> None:
    async with connect() as client:
        project = await new_project(client, "no-pod@example.com")
        out = await client.call(
            "project_exec", project_id=project, command="pwd", raise_errors=False
        )
        assert out["event"] == "error"
        assert f"could not connect to project {project}" in out["error"], out


def test_the_setting_chooses_the_runner(tmp_path: Path) -> None:
    template = Settings.load(
        environ={
            "HUB_PROJECT_RUNNER": "template",
            "HUB_PROJECT_ADDRESS_TEMPLATE": "p-{project_id}:6000",
            "HUB_PROJECT_TOKEN_KEY_FILE": str(key_file(tmp_path)),
        }
    )
    assert isinstance(choose_runner(template), TemplateRunner)
    with pytest.raises(ValueError, match="local or template, not 'pods'"):
        choose_runner(Settings.load(environ={"HUB_PROJECT_RUNNER": "pods"}))
    with pytest.raises(RunnerConfigError, match="needs project_address_template"):
        choose_runner(Settings.load(environ={"HUB_PROJECT_RUNNER": "template"}))
