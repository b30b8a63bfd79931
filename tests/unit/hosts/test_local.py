"""LocalConnector: argv, env, cwd, stdin, timeouts that kill the group, atomic put, get."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from conveyor.errors import CommandFailed, CommandTimeout, HostError
from conveyor.hosts.local import LocalConnector


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _run(argv: list[str], **options: object) -> object:
    conn = LocalConnector()
    await conn.connect()
    try:
        return await conn.run(argv, **options)  # type: ignore[arg-type]
    finally:
        await conn.close()


def test_run_captures_stdout_stderr_and_exit_code() -> None:
    result = run(_run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False))
    assert result.host == "local"
    assert result.argv == ("sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr, result.ok) == (
        3,
        "out\n",
        "err\n",
        False,
    )


def test_argv_is_not_a_shell_string() -> None:
    result = run(_run(["echo", "a b", "$HOME", "; rm -rf /"]))
    assert result.stdout == "a b $HOME ; rm -rf /\n"


def test_env_is_added_to_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_INHERITED", "yes")
    result = run(
        _run(["sh", "-c", 'echo "$GREETING/$CONVEYOR_INHERITED"'], env={"GREETING": "hi there"})
    )
    assert result.stdout == "hi there/yes\n"


def test_cwd_and_stdin(tmp_path: Path) -> None:
    result = run(_run(["sh", "-c", "pwd; cat"], cwd=str(tmp_path), stdin=b"from stdin"))
    assert result.stdout == f"{tmp_path}\nfrom stdin"


def test_a_command_that_ignores_its_stdin_is_fine() -> None:
    result = run(_run(["true"], stdin=b"x" * 1_000_000))
    assert result.ok


def test_check_raises_command_failed_with_host_argv_code_and_tail() -> None:
    script = "for i in $(seq 1 30); do echo line $i; done; echo boom >&2; exit 4"
    with pytest.raises(CommandFailed) as caught:
        run(_run(["sh", "-c", script]))
    tail = "\n".join(f"  | line {i}" for i in range(12, 31))
    assert str(caught.value) == (
        "command failed on local with exit code 4: sh -c 'for i in $(seq 1 30); do echo line $i; done; echo boom >&2; exit 4'\n"
        f"Last lines of its output:\n{tail}\n  | boom"
    )
    assert caught.value.exit_code_on_host == 4
    assert caught.value.argv == ("sh", "-c", script)


def test_a_silent_failure_says_it_printed_nothing() -> None:
    with pytest.raises(CommandFailed) as caught:
        run(_run(["false"]))
    assert (
        str(caught.value) == "command failed on local with exit code 1: false\nIt printed nothing."
    )


def test_a_missing_program_is_exit_127_like_a_shell() -> None:
    result = run(_run(["conveyor-no-such-program"], check=False))
    assert result.exit_code == 127
    assert result.stderr == "conveyor-no-such-program: No such file or directory\n"
    with pytest.raises(CommandFailed):
        run(_run(["conveyor-no-such-program"]))


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    script = f"echo started; (sleep 1; touch {marker}) & sleep 30"
    began = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        run(_run(["sh", "-c", script], timeout=0.3, check=False))
    assert time.monotonic() - began < 2
    assert str(caught.value) == (
        f"command timed out after 0.3 s on local and was killed: sh -c '{script}'\n"
        "Last lines of its output:\n  | started"
    )
    time.sleep(1.2)
    assert not marker.exists(), "a child of the timed-out command kept running"


def test_put_writes_atomically_with_mode_and_creates_parents(tmp_path: Path) -> None:
    target = tmp_path / "shared" / "deep" / ".env"
    conn = LocalConnector()
    run(conn.put(b"SECRET=1\n", str(target), mode=0o600))
    assert target.read_bytes() == b"SECRET=1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    run(conn.put(b"SECRET=2\n", str(target), mode=0o640))
    assert run(conn.get(str(target))) == b"SECRET=2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(target.parent)) == [".env"], "no temp file is left behind"


def test_put_replaces_by_rename_so_readers_never_see_half_a_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    inode = target.stat().st_ino
    run(LocalConnector().put(b"new", str(target)))
    assert target.stat().st_ino != inode


def test_get_of_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run(LocalConnector().get(str(tmp_path / "nope")))


def test_put_where_it_cannot_write_is_a_host_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HostError) as caught:
        run(LocalConnector().put(b"x", str(blocker / "child")))
    assert str(caught.value) == f"cannot write {blocker / 'child'} on local: File exists"
