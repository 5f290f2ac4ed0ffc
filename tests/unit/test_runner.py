"""Runner pieces without daemons: names, commands, /proc parsing, state files, and
how HOME's files are read without trusting them."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from hub.local_hub.home_files import read_project_file
from hub.local_hub.processes import parse_proc_stat
from hub.local_hub.runner import LocalProcessRunner, RunnerRecord
from hub.local_hub.runner_protocol import ProjectAddress
from hub.local_hub.unix_users import project_user_name, useradd_argv

PROJECT = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")


def make_runner(tmp_path: Path, **options: object) -> LocalProcessRunner:
    return LocalProcessRunner(
        tmp_path / "projects",
        tmp_path / "state",
        isolate_users=False,
        **options,  # type: ignore[arg-type]
    )


def test_project_user_name_is_p_and_31_hex_digits() -> None:
    name = project_user_name(PROJECT)
    assert name == "p0f1e2d3c4b5a69788796a5b4c3d2e1f"
    assert len(name) == 32


def test_useradd_command() -> None:
    home = Path("/data/projects") / str(PROJECT)
    argv = useradd_argv(PROJECT, home)
    assert argv[:2] == ["useradd", "--system"]
    for flag in ("--no-create-home", "--user-group"):
        assert flag in argv
    assert argv[argv.index("--shell") + 1] == "/usr/sbin/nologin"
    assert argv[argv.index("--home-dir") + 1] == str(home)
    assert argv[-1] == project_user_name(PROJECT)
    assert "-K" not in argv

    ranged = useradd_argv(PROJECT, home, (200_000, 299_999))
    pairs = [ranged[i + 1] for i, v in enumerate(ranged) if v == "-K"]
    assert pairs == [
        "SYS_UID_MIN=200000",
        "SYS_GID_MIN=200000",
        "SYS_UID_MAX=299999",
        "SYS_GID_MAX=299999",
    ]


def test_parse_proc_stat_survives_odd_command_names() -> None:
    # fields 3 (state), 4 (ppid), 5 (pgrp), then 6..52 numbered by their position
    rest = " ".join(["S", "1", "777", *(str(n) for n in range(6, 53))])
    parsed = parse_proc_stat(f"1234 (evil) (name) with spaces) {rest}")
    assert (parsed.state, parsed.pgid, parsed.start_ticks) == ("S", 777, 22)


def test_parse_proc_stat_of_this_process() -> None:
    parsed = parse_proc_stat(Path("/proc/self/stat").read_text())
    assert parsed.state == "R"
    assert parsed.pgid == os.getpgid(0)


def test_the_address_hides_its_token_from_repr() -> None:
    address = ProjectAddress("127.0.0.1", 4000, "s3cret-token")
    assert "s3cret-token" not in repr(address)
    assert address.secret_token == "s3cret-token"


def test_daemon_command_line(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, python="/opt/py/bin/python3")
    home = runner.home(PROJECT)
    assert home == tmp_path / "projects" / str(PROJECT)
    assert runner.daemon_argv(home) == [
        "/opt/py/bin/python3",
        "-P",
        "-m",
        "hub.local_hub",
        "--home",
        str(home),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]


def test_state_records_round_trip_and_are_checked(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    runner.state_dir.mkdir(parents=True)
    assert runner._read_record(PROJECT) is None
    record = RunnerRecord(
        project_id=str(PROJECT), home="/h", uid=1, gid=2, pid=3, start_ticks=4, port=5
    )
    runner._write_record(record)
    assert runner._read_record(PROJECT) == record
    assert oct(runner.state_path(PROJECT).stat().st_mode & 0o777) == "0o600"
    assert list(runner.state_dir.iterdir()) == [runner.state_path(PROJECT)]  # no temp left

    other = uuid.uuid4()
    runner.state_path(other).write_bytes(runner.state_path(PROJECT).read_bytes())
    assert runner._read_record(other) is None  # a record names its own project
    runner.state_path(other).write_text("{not json")
    assert runner._read_record(other) is None


def test_idle_timeouts(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, idle_timeout_s=60.0)
    assert runner.idle_timeout(PROJECT) == 60.0
    runner.set_idle_timeout(PROJECT, 7200.0)
    assert runner.idle_timeout(PROJECT) == 7200.0
    assert runner.idle_timeout(uuid.uuid4()) == 60.0
    runner.set_idle_timeout(PROJECT, None)
    assert runner.idle_timeout(PROJECT) == 60.0


async def test_status_of_an_unknown_project_creates_nothing(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    status = await runner.status(PROJECT)
    assert (status.state, status.address, status.pid, status.since) == (
        "stopped",
        None,
        None,
        None,
    )
    await runner.stop(PROJECT)
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "projects").exists()
    await runner.close()


# --- HOME's .smc files ------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".smc").mkdir(parents=True)
    (home / ".smc" / "hub-server.port").write_text("4321\n")
    (home / ".smc" / "secret_token").write_text("t" * 64)
    return home


def read(home: Path, name: str = "secret_token", owner: int | None = None) -> bytes | None:
    found = read_project_file(home, name, os.geteuid() if owner is None else owner)
    return None if found is None else found.data


def test_a_plain_file_is_read(home: Path, tmp_path: Path) -> None:
    assert read(home) == b"t" * 64
    runner = make_runner(tmp_path)
    address = runner._read_address(home, os.geteuid())
    assert address == ProjectAddress("127.0.0.1", 4321, "t" * 64)


def test_a_file_owned_by_someone_else_is_not_read(home: Path) -> None:
    assert read(home, owner=os.geteuid() + 1) is None


def test_a_symlinked_file_is_not_followed(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "someone-elses-secret"
    elsewhere.write_text("do not send me anywhere")
    token = home / ".smc" / "secret_token"
    token.unlink()
    token.symlink_to(elsewhere)
    assert read(home) is None


def test_a_symlinked_smc_directory_is_not_followed(home: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-home" / ".smc"
    other.mkdir(parents=True)
    (other / "secret_token").write_text("other project's token")
    for entry in (home / ".smc").iterdir():
        entry.unlink()
    (home / ".smc").rmdir()
    (home / ".smc").symlink_to(other)
    assert read(home) is None


def test_a_fifo_does_not_block_the_hub(home: Path) -> None:
    token = home / ".smc" / "secret_token"
    token.unlink()
    os.mkfifo(token)
    assert read(home) is None


def test_directories_huge_files_and_junk_are_refused(home: Path, tmp_path: Path) -> None:
    token = home / ".smc" / "secret_token"
    token.write_bytes(b"x" * 10_000)
    assert read(home) is None
    token.unlink()
    token.mkdir()
    assert read(home) is None
    token.rmdir()
    token.write_text("ok")
    (home / ".smc" / "hub-server.port").write_text("not a port")
    assert make_runner(tmp_path)._read_address(home, os.geteuid()) is None
    (home / ".smc" / "hub-server.port").write_text("70000")
    assert make_runner(tmp_path)._read_address(home, os.geteuid()) is None


def test_a_port_file_from_an_earlier_run_is_not_taken_for_a_new_one(
    home: Path, tmp_path: Path
) -> None:
    runner = make_runner(tmp_path)
    before = read_project_file(home, "hub-server.port", os.geteuid())
    assert before is not None
    assert runner._read_address(home, os.geteuid(), not_identity=before) is None
    fresh = home / ".smc" / ".port.tmp"
    fresh.write_text("4322")
    fresh.replace(home / ".smc" / "hub-server.port")
    address = runner._read_address(home, os.geteuid(), not_identity=before)
    assert address is not None and address.port == 4322
