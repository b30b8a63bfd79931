"""The agent's connector side: its answers cut into lines however the channel delivers
them, which commands go to an agent, and the switch that turns it off.

A fake channel (a list of chunks) is enough here: this is the framing and the choosing
alone, with nothing of a host; tests/integration/test_agent.py runs the real thing over
sshd and locally."""

from __future__ import annotations

import asyncio

import pytest

from conveyor.cli import main
from conveyor.errors import ConfigError
from conveyor.hosts.agent import Agents, Lines, enabled, script
from conveyor.hosts.trips import RoundTrips


class Chunks:
    """A channel that delivers the given chunks, then its end."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.reads = 0

    async def read(self) -> bytes:
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""

    def write(self, data: bytes) -> None:
        raise AssertionError("nothing is written here")

    async def close(self) -> None:
        pass

    def abandon(self) -> None:
        pass


def _all(channel: Chunks) -> list[bytes]:
    async def read() -> list[bytes]:
        lines = Lines(channel)
        found = []
        while line := await lines.next():
            found.append(line)
        return found

    return asyncio.run(read())


def test_lines_split_across_chunks_and_several_in_one_chunk_come_out_whole() -> None:
    channel = Chunks(b'{"id": 1', b', "exit": 0}\n{"id": 2}\n{"id"', b": 3}\n")
    assert _all(channel) == [b'{"id": 1, "exit": 0}', b'{"id": 2}', b'{"id": 3}']


def test_a_line_cut_off_by_the_end_of_the_channel_is_not_an_answer() -> None:
    assert _all(Chunks(b'{"id": 1}\n{"id": 2, "ex')) == [b'{"id": 1}']


def test_a_line_of_megabytes_in_small_chunks_is_read_once_per_chunk() -> None:
    body = b"x" * (4 << 20)
    chunks = [body[i : i + (64 << 10)] for i in range(0, len(body), 64 << 10)]
    channel = Chunks(*chunks, b"\n")
    assert _all(channel) == [body]
    assert channel.reads == len(chunks) + 2  # each chunk, the newline, the end


def test_only_python_c_scripts_go_to_an_agent() -> None:
    assert script(["python3", "-c", "print(1)"])
    assert script(["/srv/app/tools/bin/python", "-c", "pass", "arg"])
    assert not script(["supervisorctl", "-c", "/srv/app/runtime/supervisord.conf", "status"])
    assert not script(["python3", "-m", "alembic", "-c", "alembic.ini", "upgrade", "head"])
    assert not script(["python3", "-c"])


def test_a_script_given_python_variables_of_its_own_runs_as_its_own_command() -> None:
    """PYTHONPATH and friends are read when an interpreter starts: a forked agent never would."""

    async def agents() -> tuple[object, object]:
        spawned: list[object] = []

        async def spawn(argv: object) -> None:
            spawned.append(argv)  # no channel: the command would run as its own
            return None

        chosen = Agents("h", spawn, RoundTrips())
        with_path = await chosen.get(["python3", "-c", "pass"], {"PYTHONPATH": "/srv/app"})
        return with_path, spawned

    with_path, spawned = asyncio.run(agents())
    assert with_path is None and spawned == []


def test_conveyor_agent_takes_0_or_1_and_refuses_anything_else_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONVEYOR_AGENT", "0")
    assert not enabled()
    monkeypatch.setenv("CONVEYOR_AGENT", "1")
    assert enabled()
    monkeypatch.setenv("CONVEYOR_AGENT", "false")
    with pytest.raises(ConfigError, match="CONVEYOR_AGENT is 'false': set it to 0"):
        enabled()


def test_the_cli_refuses_a_conveyor_agent_it_does_not_know_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONVEYOR_AGENT", "off")
    assert main(["history"]) == 1
    assert capsys.readouterr().err.startswith("error: CONVEYOR_AGENT is 'off': set it to 0")


class Ready:
    """A channel whose agent says it is ready, then stays quiet until closed."""

    def __init__(self) -> None:
        self.said = False
        self.closed = asyncio.Event()

    async def read(self) -> bytes:
        if not self.said:
            self.said = True
            return b'{"ready": 1}\n'
        await self.closed.wait()
        return b""

    def write(self, data: bytes) -> None:
        raise AssertionError("nothing is written here")

    async def close(self) -> None:
        self.closed.set()

    def abandon(self) -> None:
        self.closed.set()


def test_warmed_agents_start_side_by_side_and_one_that_could_not_start_is_tried_again() -> None:
    """The host's Python and the tools venv's start at once; the tools venv's may not exist
    yet (a first deploy installs it), so its failed warm start is not remembered: its first
    script tries again, and only that failure is final."""

    async def scenario() -> tuple[bool, list[str], bool, list[str]]:
        spawned: list[str] = []
        both = asyncio.Event()

        async def spawn(argv: object) -> Ready | Chunks:
            assert isinstance(argv, list)
            spawned.append(argv[0])
            if len(spawned) == 2:
                both.set()
            # Each start waits for the other's: one after the other, this times out.
            await asyncio.wait_for(both.wait(), 2)
            return Ready() if argv[0] == "python3" else Chunks()

        agents = Agents("h", spawn, RoundTrips())
        agents.warm(["python3", "/srv/tools/bin/python"])
        host = await agents.get(["python3", "-c", "pass"])
        await asyncio.sleep(0)  # the tools venv's warm start ends (not ready)
        warmed = list(spawned)
        tools = await agents.get(["/srv/tools/bin/python", "-c", "pass"])
        again = await agents.get(["/srv/tools/bin/python", "-c", "pass"])
        await agents.close()
        return host is not None, warmed, tools is None and again is None, spawned

    host_ready, warmed, tools_none, spawned = asyncio.run(scenario())
    assert host_ready
    assert sorted(warmed) == ["/srv/tools/bin/python", "python3"]
    assert tools_none
    # Tried once more by its first script, then remembered as unable to start.
    assert spawned.count("/srv/tools/bin/python") == 2 and spawned.count("python3") == 1
