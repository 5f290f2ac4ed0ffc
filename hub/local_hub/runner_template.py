"""A `ProjectRunner` for projects that something else runs (one pod per project, …).

The hub neither starts nor stops these projects: an orchestrator does (see
deploy/README.md). The hub only needs to find them and to know their tokens:

- the address comes from a template, e.g.
  `project-{project_id}.projects.svc.cluster.local:6000`, where `{project_id}` is
  the project's UUID (the only placeholder);
- each project's secret token is HMAC-SHA256(key, project_id) in hex, from one key
  file the operator gives the hub. The project's own init step writes the same
  token to HOME/.smc/secret_token (mode 0600) before the local hub starts, which
  keeps a sane existing token. The key never enters a project: whoever has it can
  reach every project.

`python -m hub.local_hub.runner_template --key-file KEY PROJECT_ID` prints the
token for one project, for that init step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import structlog

from hub.errors import HubError
from hub.local_hub.runner_protocol import ProjectAddress, ProjectStartFailed, ProjectStatus

log = structlog.get_logger(__name__)

MIN_KEY_BYTES = 16
_SAMPLE_ID = UUID("00000000-0000-4000-8000-000000000000")


class RunnerConfigError(ValueError):
    """The template or the key file cannot be used; the hub does not start."""


class ProjectStopUnsupported(HubError):
    """This runner cannot stop a project: its orchestrator does."""

    http_status = 501


def derive_token(key: bytes, project_id: UUID) -> str:
    """The secret token of one project: HMAC-SHA256(key, str(project_id)), 64 hex digits."""
    return hmac.new(key, str(project_id).encode("ascii"), hashlib.sha256).hexdigest()


def read_key(path: Path) -> bytes:
    """The key file's bytes without surrounding white space (so a trailing newline is harmless)."""
    try:
        with open(path, "rb") as f:
            key = f.read(65536).strip()
    except OSError as exc:
        raise RunnerConfigError(f"cannot read the project token key file {path}: {exc}") from None
    if len(key) < MIN_KEY_BYTES:
        raise RunnerConfigError(
            f"the project token key file {path} holds {len(key)} bytes; at least"
            f" {MIN_KEY_BYTES} are needed (e.g. `head -c 32 /dev/urandom | base64`)"
        )
    return key


def parse_template(template: str) -> tuple[str, str]:
    """Split `host:port` (`[v6]:port` too) and check that it formats; returns (host, port)
    templates. Raises `RunnerConfigError` with what is wrong."""
    if not template:
        raise RunnerConfigError("the template runner needs project_address_template (HOST:PORT)")
    try:
        sample = template.format(project_id=_SAMPLE_ID)
    except (KeyError, IndexError, ValueError) as exc:
        raise RunnerConfigError(
            f"project_address_template {template!r}: only {{project_id}} may be used ({exc})"
        ) from None
    host, sep, port = template.rpartition(":")
    sample_host, _, sample_port = sample.rpartition(":")
    if not sep or not sample_host or not sample_port.isdigit() or not 0 < int(sample_port) < 65536:
        raise RunnerConfigError(
            f"project_address_template {template!r} must be HOST:PORT with a port 1-65535"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


class TemplateRunner:
    """Finds projects at a templated address with HMAC-derived tokens; starts nothing.

    `start` checks that the project answers and raises `ProjectStartFailed` when it
    does not; `stop` raises `ProjectStopUnsupported`; `status` tries the address
    (a TCP connect within `probe_timeout_s`); `address` is cheap and does not probe.
    Idle projects are the orchestrator's business, so `touch` and
    `set_idle_timeout` only record nothing.
    """

    def __init__(
        self, address_template: str, key_file: Path, *, probe_timeout_s: float = 2.0
    ) -> None:
        self._host_template, self._port_template = parse_template(address_template)
        self._key = read_key(Path(key_file))
        with contextlib.suppress(OSError):
            if stat.S_IMODE(os.stat(key_file).st_mode) & 0o007:
                log.warning(
                    "the project token key file is readable by everyone", path=str(key_file)
                )
        self._probe_timeout_s = probe_timeout_s
        log.info("projects are found by address template", template=address_template)

    def address_now(self, project_id: UUID) -> ProjectAddress:
        host = self._host_template.format(project_id=project_id)
        port = int(self._port_template.format(project_id=project_id))
        return ProjectAddress(host, port, derive_token(self._key, project_id))

    async def address(self, project_id: UUID) -> ProjectAddress:
        return self.address_now(project_id)

    async def start(self, project_id: UUID) -> ProjectAddress:
        address = self.address_now(project_id)
        problem = await self._probe(address)
        if problem is not None:
            raise ProjectStartFailed(
                f"project {project_id} is not running at {address.host}:{address.port}"
                f" ({problem}); this hub does not start projects, their orchestrator does"
            )
        return address

    async def stop(self, project_id: UUID) -> None:
        raise ProjectStopUnsupported(
            f"project {project_id} cannot be stopped by this hub; its orchestrator stops it"
        )

    async def status(self, project_id: UUID) -> ProjectStatus:
        address = self.address_now(project_id)
        if await self._probe(address) is None:
            return ProjectStatus("running", address)
        return ProjectStatus("stopped")

    def touch(self, project_id: UUID) -> None:
        return None

    def set_idle_timeout(self, project_id: UUID, seconds: float | None) -> None:
        return None

    def start_reaper(self) -> None:
        """Nothing to reap: the orchestrator stops idle projects."""

    async def close(self) -> None:
        return None

    async def _probe(self, address: ProjectAddress) -> str | None:
        """None when something accepts a TCP connection at the address, else why not."""
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address.host, address.port), self._probe_timeout_s
            )
        except TimeoutError:
            return f"no answer within {self._probe_timeout_s:g} s"
        except OSError as exc:
            return exc.strerror or str(exc) or type(exc).__name__
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hub.local_hub.runner_template",
        description="Print a project's secret token as the template runner derives it.",
    )
    parser.add_argument("--key-file", required=True, type=Path, help="the hub's token key file")
    parser.add_argument("project_id", type=UUID, help="the project's UUID")
    args = parser.parse_args(argv)
    try:
        key = read_key(args.key_file)
    except RunnerConfigError as exc:
        print(f"runner_template: {exc}", file=sys.stderr)
        return 1
    print(derive_token(key, args.project_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
