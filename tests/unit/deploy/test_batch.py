"""Several writes and commands on a (local) host in one round trip."""

from __future__ import annotations

import asyncio
import stat
import subprocess
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
    # One, and the start of the interpreter's agent (hosts/agent.py), once per connection.
    assert conn.round_trips.by_command == {f"{Path(sys.executable).name} -c": 1, "agent start": 1}


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


def test_scripts_for_the_batchs_own_python_run_inside_it_with_their_output_caught(
    tmp_path: Path,
) -> None:
    """No Python is started for them (the same process answers twice), yet each has its own
    stdout, stderr, exit code and cwd, and what a process it starts prints is caught too."""
    pid = "import os; print(os.getpid())"
    noisy = (
        "import subprocess, sys; print('mine'); sys.stdout.flush(); "
        "subprocess.run(['echo', 'child']); print('to err', file=sys.stderr); sys.exit(4)"
    )
    where_am_i = "import os, sys; print(os.getcwd(), sys.argv[1:])"
    results = asyncio.run(
        batch(
            LocalConnector(),
            sys.executable,
            [
                Run([sys.executable, "-c", pid]),
                Run([sys.executable, "-c", pid]),
                Run([sys.executable, "-c", noisy], check=False),
                Run([sys.executable, "-c", where_am_i, "a"], cwd=str(tmp_path)),
                Run([sys.executable, "-c", "raise SystemExit('no such thing')"], check=False),
                Run([sys.executable, "-c", "1 / 0"], check=False),
            ],
        )
    )
    first, second, loud, where, told, broken = results
    assert first.stdout == second.stdout  # one interpreter ran both
    assert (loud.exit_code, loud.stdout, loud.stderr) == (4, "mine\nchild\n", "to err\n")
    assert where.stdout == f"{tmp_path} ['a']\n"
    assert (told.exit_code, told.stderr) == (1, "no such thing\n")
    assert broken.exit_code == 1 and "ZeroDivisionError" in broken.stderr


def test_a_failing_inline_script_stops_the_batch_as_a_command_would(tmp_path: Path) -> None:
    after = tmp_path / "after"
    with pytest.raises(CommandFailed, match="exit 2"):
        asyncio.run(
            batch(
                LocalConnector(),
                sys.executable,
                [
                    Run([sys.executable, "-c", "import sys; sys.exit(2)"]),
                    Put(str(after), b"never"),
                ],
            )
        )
    assert not after.exists()


@pytest.mark.parametrize(
    "code",
    [
        "import sys; print(__name__, sys.argv, 'x' in globals()); x = 1; raise ValueError('no')",
        "import sys; sys.exit('a message, exit 1')",
        "import sys; print('bye'); sys.exit(3)",
    ],
)
def test_a_script_run_inside_the_batch_does_what_python_c_does(code: str) -> None:
    """Same output, same traceback (from the script's own frame), same exit code, and a
    fresh __main__ each time, as the agent gives it (hosts/as_c.py)."""
    argv = [sys.executable, "-c", code, "arg"]
    alone = subprocess.run(argv, capture_output=True, text=True, check=False)
    runs = [Run(argv, check=False), Run(argv, check=False)]
    inside = asyncio.run(batch(LocalConnector(), sys.executable, runs))
    for result in inside:
        assert (result.exit_code, result.stdout, result.stderr) == (
            alone.returncode,
            alone.stdout,
            alone.stderr,
        )
