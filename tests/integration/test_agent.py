"""The host agent (hosts/agent.py) over a real sshd: a `python -c` script run by it does what
the same command run on its own does, and ends as it would (timeout, cancel, close)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from conveyor.errors import CommandTimeout
from conveyor.hosts.agent import Agent
from conveyor.hosts.base import RunResult
from conveyor.hosts.local import LocalConnector
from conveyor.hosts.ssh import SshConnector
from tests.integration.sshd import Sshd

# A script per behaviour of `python -c` that a deploy's host scripts lean on.
SCRIPTS = {
    "args, stdout, stderr, exit code": (
        "import sys; print(sys.argv[1:]); print('err', file=sys.stderr); sys.exit(3)",
        ["a b", "c"],
    ),
    "a string given to sys.exit": ("import sys; sys.exit('gone wrong')", []),
    "an uncaught exception": ("def f():\n    raise ValueError('bad')\nf()", []),
    "cwd, env, stdin": (
        "import os, sys; print(os.getcwd(), os.environ['CV_A'], sys.stdin.read())",
        [],
    ),
    "a child process's output": ("import subprocess; subprocess.run(['echo', 'child'])", []),
    "binary output, unflushed at exit": (
        "import sys; sys.stdout.write('x' * 100000); sys.stdout.buffer.write(b'\\xff')",
        [],
    ),
    "__name__ and sys.argv[0]": ("import sys; print(__name__, sys.argv[0])", []),
}


# Writes the time to a file every 0.05 s, forever: alive as long as the file changes.
BEAT = (
    "import sys, time\n"
    "while True:\n"
    "    open(sys.argv[1], 'w').write(str(time.time()))\n"
    "    time.sleep(0.05)\n"
)


def _connector(sshd: Sshd) -> SshConnector:
    return sshd.connector()


async def _each(conn: SshConnector, tmp_path: Path) -> list[RunResult]:
    return [
        await conn.run(
            ["python3", "-c", code, *args],
            check=False,
            cwd=str(tmp_path),
            env={"CV_A": "x y"},
            stdin=b"piped",
        )
        for code, args in SCRIPTS.values()
    ]


@pytest.mark.parametrize("where", ["ssh", "local"])
def test_a_script_run_by_the_agent_does_what_it_does_on_its_own(
    where: str, sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(agent: bool) -> tuple[list[RunResult], int]:
        monkeypatch.setenv("CONVEYOR_AGENT", "1" if agent else "0")
        conn: SshConnector | LocalConnector = (
            _connector(sshd) if where == "ssh" else LocalConnector()
        )
        try:
            results = await _each(conn, tmp_path)
        finally:
            await conn.close()
        trips = conn.round_trips.by_command
        return results, trips["python3 -c"] + trips["agent start"]

    by_agent, agent_trips = asyncio.run(scenario(True))
    alone, alone_trips = asyncio.run(scenario(False))
    for name, a, b in zip(SCRIPTS, by_agent, alone, strict=True):
        assert (a.exit_code, a.stdout, a.stderr) == (b.exit_code, b.stdout, b.stderr), name
    assert by_agent[0].exit_code == 3 and by_agent[0].stdout == "['a b', 'c']\n"
    assert "ValueError: bad" in by_agent[2].stderr and "line 2, in f" in by_agent[2].stderr
    assert by_agent[3].stdout == f"{tmp_path} x y piped\n"
    # One round trip per script, and one to start the agent.
    assert (agent_trips, alone_trips) == (len(SCRIPTS) + 1, len(SCRIPTS))


def test_a_script_past_its_timeout_is_killed_with_its_children(sshd: Sshd, tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    code = (
        "import subprocess, sys, time; print('started', flush=True); "
        f"subprocess.Popen(['sh', '-c', 'sleep 1; touch {marker}']); time.sleep(30)"
    )

    async def scenario() -> None:
        conn = _connector(sshd)
        try:
            await conn.run(["python3", "-c", code], timeout=0.5)
        finally:
            await conn.close()

    began = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        asyncio.run(scenario())
    assert time.monotonic() - began < 5
    assert "timed out after 0.5 s" in str(caught.value) and "| started" in str(caught.value)
    time.sleep(1.2)
    assert not marker.exists(), "a child of the timed-out script kept running"


def test_a_script_its_caller_gave_up_on_is_killed_and_the_next_one_runs(
    sshd: Sshd, tmp_path: Path
) -> None:
    """As a start gate's watch is cancelled when the probes pass: it must not run on."""
    beat = tmp_path / "beat"
    code = BEAT

    async def scenario() -> str:
        conn = _connector(sshd)
        try:
            task = asyncio.ensure_future(conn.run(["python3", "-c", code, str(beat)]))
            while not beat.exists():
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.5)
            return (await conn.run(["python3", "-c", "print('next')"])).stdout
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == "next\n"
    last = beat.stat().st_mtime
    time.sleep(0.3)
    assert beat.stat().st_mtime == last, "the cancelled script still runs"


def test_a_daemon_a_script_starts_keeps_neither_the_script_nor_the_close_waiting(
    sshd: Sshd, tmp_path: Path
) -> None:
    """A script that starts a long-lived process (as supervisord daemonizes) returns at once,
    and closing the connection does not wait for that process, which lives on."""
    pid_file = tmp_path / "daemon.pid"
    code = (
        "import subprocess, sys; "
        "p = subprocess.Popen(['sleep', '30'], start_new_session=True); "
        "open(sys.argv[1], 'w').write(str(p.pid)); print('started')"
    )

    async def scenario() -> str:
        conn = _connector(sshd)
        try:
            return (await conn.run(["python3", "-c", code, str(pid_file)], timeout=10)).stdout
        finally:
            await conn.close()

    began = time.monotonic()
    assert asyncio.run(scenario()) == "started\n"
    assert time.monotonic() - began < 5
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)  # still alive: the agent's end did not take it along
    finally:
        os.kill(pid, 9)


def test_closing_the_connection_ends_the_scripts_still_running(sshd: Sshd, tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    code = BEAT

    async def scenario() -> None:
        conn = _connector(sshd)
        task = asyncio.ensure_future(conn.run(["python3", "-c", code, str(beat)], check=False))
        while not beat.exists():
            await asyncio.sleep(0.05)
        await conn.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    time.sleep(0.5)
    last = beat.stat().st_mtime
    time.sleep(0.3)
    assert beat.stat().st_mtime == last, "a script outlived its connection"


def test_a_local_script_sees_the_environment_and_directory_of_when_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a subprocess started then would: not as they were when the agent started."""
    code = "import os; print(os.environ.get('CV_LATE'), os.getcwd())"

    async def scenario() -> list[str]:
        conn = LocalConnector()
        try:
            first = (await conn.run(["python3", "-c", code])).stdout
            monkeypatch.setenv("CV_LATE", "set after")
            monkeypatch.chdir(tmp_path)
            return [first, (await conn.run(["python3", "-c", code])).stdout]
        finally:
            await conn.close()

    monkeypatch.delenv("CV_LATE", raising=False)
    first, later = asyncio.run(scenario())
    assert first.startswith("None ")
    assert later == f"set after {tmp_path}\n"


@pytest.mark.parametrize("where", ["ssh", "local"])
def test_megabytes_in_and_out_at_once_arrive_whole(where: str, sshd: Sshd) -> None:
    """A script's output over SSH's window (2 MiB) while another's input is sent: both whole,
    neither end waiting on the other."""
    out = "import sys; sys.stdout.write('x' * (3 << 20))"
    count = "import sys; print(len(sys.stdin.buffer.read()))"

    async def scenario() -> tuple[RunResult, RunResult]:
        conn: SshConnector | LocalConnector = (
            sshd.connector() if where == "ssh" else LocalConnector()
        )
        try:
            big, counted = await asyncio.gather(
                conn.run(["python3", "-c", out]),
                conn.run(["python3", "-c", count], stdin=b"y" * (3 << 20)),
            )
            return big, counted
        finally:
            await conn.close()

    big, counted = asyncio.run(scenario())
    assert len(big.stdout) == 3 << 20
    assert counted.stdout == f"{3 << 20}\n"


def test_a_script_whose_caller_says_nothing_more_ends_at_its_deadline_on_the_host(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As timeout(1) did: the host kills a script a second after its timeout even when no
    kill reaches it (the caller died, the network went quiet)."""
    marker = tmp_path / "survived"
    code = f"import time; time.sleep(2.5); open({str(marker)!r}, 'w')"
    send = Agent._send

    def no_kills(self: Agent, request: dict[str, object]) -> None:
        if "kill" not in request:
            send(self, request)

    monkeypatch.setattr(Agent, "_send", no_kills)
    monkeypatch.setattr("conveyor.hosts.agent.KILL_GRACE", 3.0)

    async def scenario() -> None:
        conn = sshd.connector()
        try:
            await conn.run(["python3", "-c", code], timeout=0.5)
        finally:
            await conn.close()

    with pytest.raises(CommandTimeout):
        asyncio.run(scenario())
    time.sleep(1.5)  # past the script's own end, had it not been killed
    assert not marker.exists(), "the script ran past its deadline"
