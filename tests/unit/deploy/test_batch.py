"""Several writes and commands on a (local) host in one round trip."""

from __future__ import annotations

import asyncio
import stat
import sys
from pathlib import Path

import pytest

from conveyor.deploy.batch import Put, Run, batch
from conveyor.errors import CommandFailed, HostError
from conveyor.hosts.local import LocalConnector


def test_files_are_written_with_their_modes_then_commands_run_in_order(tmp_path: Path) -> None:
    conn = LocalConnector()
    env, log = tmp_path / "shared" / ".env", tmp_path / "logs" / "web.log"
    results = asyncio.run(
        batch(
            conn,
            sys.executable,
            [
                Put(str(env), b"SECRET=s3cr3t\n", 0o600),
                Put(str(log), b""),
                Run(["cat", str(env)]),
                Run(["sh", "-c", "echo two; exit 3"], check=False),
                Run(["ls", str(log.parent)]),
            ],
        )
    )
    assert env.read_bytes() == b"SECRET=s3cr3t\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.stat().st_mode) == 0o644
    assert [(r.exit_code, r.stdout) for r in results] == [
        (0, "SECRET=s3cr3t\n"),
        (3, "two\n"),
        (0, "web.log\n"),  # no temp file left beside it
    ]
    assert conn.round_trips.total == 1


def test_a_failed_command_stops_the_batch_and_says_what_failed(tmp_path: Path) -> None:
    after = tmp_path / "after"
    with pytest.raises(
        CommandFailed, match=r"sh -c 'echo broken >&2; exit 4' failed .*exit 4.*broken"
    ):
        asyncio.run(
            batch(
                LocalConnector(),
                sys.executable,
                [Run(["sh", "-c", "echo broken >&2; exit 4"]), Put(str(after), b"x")],
            )
        )
    assert not after.exists()  # nothing after the failure was done


def test_a_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a directory")
    with pytest.raises(HostError, match=f"cannot write {blocked}/x on local"):
        asyncio.run(batch(LocalConnector(), sys.executable, [Put(str(blocked / "x"), b"x")]))
