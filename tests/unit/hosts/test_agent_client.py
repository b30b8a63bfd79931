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
