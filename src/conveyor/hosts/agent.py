"""A host's Python scripts run by one long-lived process per interpreter: no start-up each.

Most of what a deploy does on a host is a short `python -c SCRIPT ARGS` (the lock,
supervisor's control, the state file, Caddy's admin socket). Over SSH each costs a
channel, a shell, timeout(1) and a Python start-up; on a busy host the start-up
alone is more than the round trip. The agent is started once per interpreter and
connection (`python -c AGENT`, its stdin and stdout a channel of JSON lines): for
each script it is sent, it forks, and the child runs the script as `python -c` would
(its own process group, stdin, stdout and stderr as files, `sys.argv`, cwd, env,
`SystemExit` as the exit code), so the script's imports are the only start-up left.

Still one round trip per script: the connectors count it as one. A script's process
group is killed on timeout or when its caller gives up (a cancelled watch), and every
running script's when the channel closes (the connection ended): as SSH would. Where
the agent cannot start (no such interpreter, an old Python), the command runs as it
always did. `CONVEYOR_AGENT=0` turns it off (to compare, or to rule it out).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from conveyor.errors import ConfigError, HostUnreachable
from conveyor.hosts.agent_host import AGENT
from conveyor.hosts.base import RunResult
from conveyor.hosts.failures import checked, command_timeout, decode
from conveyor.hosts.trips import RoundTrips

START_TIMEOUT = 10.0
KILL_GRACE = 5.0  # after a kill, how long the killed script's output is waited for
MAX_AGENTS = 3  # interpreters with an agent, per connection (each holds an SSH session)


class Channel(Protocol):
    """Both ends of a long-lived command: its stdin to write, its stdout to read."""

    def write(self, data: bytes) -> None:
        """Send bytes to the command's stdin (buffered: never blocks the event loop)."""
        ...

    async def read(self) -> bytes:
        """Some of the command's stdout, as it comes; b"" once it has ended."""
        ...

    async def close(self) -> None:
        """End the command (its stdin closes: the agent kills what still runs and exits)."""
        ...

    def abandon(self) -> None:
        """End the command without waiting (its event loop has gone, or it stopped making
        sense)."""
        ...


def enabled() -> bool:
    """Off with CONVEYOR_AGENT=0; any value but 0 or 1 is refused, naming it."""
    value = os.environ.get("CONVEYOR_AGENT", "1").strip()
    if value not in ("0", "1", ""):
        raise ConfigError(
            f"CONVEYOR_AGENT is {value!r}: set it to 0 (each host script runs as its own "
            "command) or 1 (through the host agent, the default), or unset it"
        )
    return value != "0"


def script(argv: Sequence[str]) -> bool:
    """`python… -c CODE ARGS…`: what an agent can run."""
    return len(argv) >= 3 and argv[1] == "-c" and os.path.basename(argv[0]).startswith("python")


class Lines:
    """A channel's output cut into lines, however it arrives."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._buffer = bytearray()
        self._scanned = 0  # no newline before this offset: a long line is scanned once

    async def next(self) -> bytes:
        """The next whole line; b"" once the channel has ended (a cut-off line is dropped)."""
        while (end := self._buffer.find(b"\n", self._scanned)) < 0:
            self._scanned = len(self._buffer)
            chunk = await self._channel.read()
            if not chunk:
                return b""
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        self._scanned = 0
        return line


class Agent:
    """The connector's end of one host agent."""

    def __init__(self, host: str, channel: Channel, lines: Lines, *, local: bool = False) -> None:
        self.host = host
        self._channel = channel
        self._lines = lines
        self._local = local
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.alive = True

    @classmethod
    async def start(cls, host: str, channel: Channel, *, local: bool = False) -> Agent | None:
        """The agent once it said it is ready; None (its channel closed) when it did not."""
        lines = Lines(channel)
        try:
            line = await asyncio.wait_for(lines.next(), START_TIMEOUT)
            ready = "ready" in json.loads(line) if line else False
        except (asyncio.TimeoutError, ValueError, OSError):
            ready = False
        except BaseException:
            channel.abandon()  # cancelled while it started: nothing of it stays behind
            raise
        if not ready:
            await channel.close()
            return None
        agent = cls(host, channel, lines, local=local)
        agent._reader = asyncio.ensure_future(agent._read())
        return agent

    async def _read(self) -> None:
        try:
            while line := await self._lines.next():
                reply = json.loads(line)
                future = self._pending.pop(reply.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (OSError, ValueError):
            pass
        finally:
            if self.alive:
                # It ended, or said something that is not an answer: let it go, with the
                # scripts it runs (its stdin closes), and tell every caller still waiting.
                self.abandon()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        HostUnreachable(f"{self.host}: the connection ended mid-command")
                    )
            self._pending.clear()

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        cwd: str | None = None,
        check: bool = True,
    ) -> RunResult:
        """`argv` (a `python -c` script) run by the agent, as the connector's `run` would."""
        args = tuple(argv)
        if not self.alive:
            raise HostUnreachable(f"{self.host}: the connection ended")
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        request: dict[str, Any] = {
            "id": rid,
            "code": args[2],
            "args": list(args[3:]),
            "cwd": cwd,
            "timeout": timeout,
        }
        if self._local:
            # As a subprocess of ours would have them now, not as when the agent started.
            request.update(
                env={**os.environ, **(env or {})}, whole_env=True, cwd=cwd or os.getcwd()
            )
        elif env:
            request["env"] = dict(env)
        if stdin:
            request["stdin"] = base64.b64encode(stdin).decode()
        self._send(request)
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            self._send({"kill": rid})
            out = err = ""
            with contextlib.suppress(asyncio.TimeoutError, HostUnreachable):
                late = await asyncio.wait_for(future, KILL_GRACE)
                out, err = _text(late["out"]), _text(late["err"])
            raise command_timeout(
                self.host, args, timeout=timeout, stdout=out, stderr=err
            ) from None
        except asyncio.CancelledError:
            self._send({"kill": rid})  # the caller gave up: so does the script
            raise
        finally:
            self._pending.pop(rid, None)
        result = RunResult(
            self.host, args, int(reply["exit"]), _text(reply["out"]), _text(reply["err"])
        )
        return checked(result, check=check)

    def _send(self, request: dict[str, Any]) -> None:
        """Never raises: a request to an agent that is gone fails its caller by the reader."""
        if self.alive:
            with contextlib.suppress(OSError, RuntimeError):
                self._channel.write(json.dumps(request).encode() + b"\n")

    def abandon(self) -> None:
        """Let the agent go without a word (its event loop has gone, or it stopped making
        sense)."""
        self.alive = False
        self._channel.abandon()

    async def close(self) -> None:
        """End the agent: what still runs there is killed."""
        self.alive = False
        await self._channel.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class Agents:
    """A connector's agents, one per interpreter, started on first use (or `warm`)."""

    def __init__(
        self,
        host: str,
        spawn: Callable[[Sequence[str]], Awaitable[Channel | None]],
        trips: RoundTrips,
        *,
        local: bool = False,
    ) -> None:
        self._host = host
        self._spawn = spawn
        self._trips = trips
        self._local = local
        self._agents: dict[str, Agent | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}  # one per interpreter: they start at once
        self._warming: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def get(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Agent | None:
        """The agent for `argv`'s interpreter, when `argv` is a script one can run: not with
        PYTHON* variables of its own (an interpreter reads those when it starts)."""
        if not script(argv) or not enabled() or any(k.startswith("PYTHON") for k in env or ()):
            return None
        return await self._agent(argv[0], remember=True)

    def warm(self, pythons: Sequence[str]) -> None:
        """Start the agents of `pythons` now, in the background, so that the first script of
        each finds its agent ready. One that cannot start is not remembered (the interpreter
        may be installed later in the run): its first script tries again."""
        if not enabled():
            return
        self._bind()
        for python in pythons:
            task = asyncio.ensure_future(self._warm(python))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)

    async def _warm(self, python: str) -> None:
        with contextlib.suppress(Exception):  # its first script says what is wrong, if anything
            await self._agent(python, remember=False)

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A connector used again under a new event loop (asyncio.run once more): the
            # agents of the old one cannot be talked to any more.
            for old in self._agents.values():
                if old is not None:
                    old.abandon()
            self._agents, self._locks, self._warming = {}, {}, set()
            self._loop = loop

    async def _agent(self, python: str, *, remember: bool) -> Agent | None:
        self._bind()
        agent = self._agents.get(python)
        if agent is not None and agent.alive:
            return agent
        if python in self._agents and agent is None:
            return None  # it could not start: commands run as they always did
        async with self._locks.setdefault(python, asyncio.Lock()):
            agent = self._agents.get(python)
            if python in self._agents and (agent is None or agent.alive):
                return agent  # started (or found unable to) while this one waited
            starting = sum(lock.locked() for key, lock in self._locks.items() if key != python)
            if python not in self._agents and len(self._agents) + starting >= MAX_AGENTS:
                return None
            self._trips.started()
            channel = await self._spawn([python, "-c", AGENT])
            if channel is None:
                # No channel (the connection is gone: the command itself will say so and
                # a new one is opened); not remembered, so the next command tries again.
                self._agents.pop(python, None)
                return None
            agent = await Agent.start(self._host, channel, local=self._local)
            if agent is not None or remember:
                self._agents[python] = agent
        return agent

    async def close(self) -> None:
        """End every agent (and stop starting any)."""
        for task in list(self._warming):
            task.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        agents, self._agents = self._agents, {}
        for agent in agents.values():
            if agent is not None:
                await agent.close()


def _text(data: str) -> str:
    return decode(base64.b64decode(data))
