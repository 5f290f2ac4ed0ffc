"""deploy/systemd/hub.service: `systemd-analyze verify` finds nothing to say about it,
its offline security exposure stays at most 6.0 ("medium"), and what it runs and
sets is what the hub understands. (Not run under a real systemd here: the container
has no systemd as PID 1.)"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli import _parser
from hub.config import Settings
from tests.fixtures.timeouts import seconds

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "hub.service"
ANALYZE = shutil.which("systemd-analyze")
INSTALLED_HUB = "/opt/hub/bin/hub"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def local_copy(directory: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's `hub` (verify checks it exists)."""
    hub = Path(sys.executable).with_name("hub")
    assert hub.exists(), hub
    text = UNIT.read_text()
    assert INSTALLED_HUB in text
    copy = directory / "hub.service"
    copy.write_text(text.replace(INSTALLED_HUB, str(hub)))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, timeout=seconds(60), check=False
    )


needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


@needs_analyze
def test_systemd_analyze_verify_has_nothing_to_say(tmp_path: Path) -> None:
    result = analyze("verify", str(local_copy(tmp_path)))
    if result.returncode != 0 and "hub.service" not in result.stderr:
        pytest.skip(f"systemd-analyze cannot run in this container: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    # Unknown keys and sections only warn; a clean file prints nothing about itself.
    assert "hub.service" not in result.stderr, result.stderr


@needs_analyze
def test_verify_catches_a_mistake(tmp_path: Path) -> None:
    """The check above means something: a misspelt key is reported."""
    copy = local_copy(tmp_path)
    copy.write_text(copy.read_text().replace("TimeoutStopSec=", "TimeoutStopSecs="))
    result = analyze("verify", str(copy))
    assert "Unknown key" in result.stderr and "TimeoutStopSecs" in result.stderr


@needs_analyze
def test_security_exposure_is_at_most_medium(tmp_path: Path) -> None:
    result = analyze("security", "--offline=true", "--threshold=60", str(local_copy(tmp_path)))
    if "Unknown option" in result.stderr or "unrecognized option" in result.stderr:
        pytest.skip("this systemd-analyze has no offline security check")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_the_unit_serves_with_a_data_dir_and_stops_gracefully() -> None:
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED_HUB
    args = _parser().parse_args(argv[1:])
    assert args.command == "serve" and args.data_dir == "/var/lib/hub"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"

    # RawConfigParser keeps the last of repeated keys; read them all from the text.
    settings_env = dict(
        line.removeprefix("Environment=").split("=", 1)
        for line in UNIT.read_text().splitlines()
        if line.startswith("Environment=")
    )
    for name in settings_env:
        assert name.startswith("HUB_") and name[4:].lower() in Settings.docs(), name
    settings = Settings.load(environ=settings_env)
    # The stop timeout covers the hub's grace for handlers plus closing and PostgreSQL.
    timeout_s = float(service["TimeoutStopSec"].removesuffix("s"))
    assert timeout_s >= settings.shutdown_grace_s + 10
