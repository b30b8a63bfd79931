"""The undo journal: each host's record of what a run changed there, and its playback.

Every completed step that changed a host appends its inverse (`Undo`) to the
host's journal (`HostRun.journal`, filled by `deploy/engine.py`). `play_back`
undoes a host: traffic first, then programs, then files, then the host's
records, each tried even when an earlier one failed. A host whose traffic could
not be routed back keeps a pending mark in its `state.json`, so `conveyor
recover` finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from conveyor.deploy import files, hostops, programs
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import ports
from conveyor.deploy.plan import Op, Step
from conveyor.deploy.serve import Serve
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError, HostUnreachable

if TYPE_CHECKING:
    from conveyor.deploy.engine import Engine

# Undo order: traffic goes back first, then programs, files, and the host's records last.
TRAFFIC, PROGRAMS, FILES, RECORDS = range(4)


@dataclass(frozen=True)
class Undo:
    """The inverse of a completed step, in the host's journal."""

    stage: int  # TRAFFIC, PROGRAMS, FILES or RECORDS: the order undo goes in
    op: Op


@dataclass
class HostRun:
    """One host's part in a run: what it served before, and the journal of what changed."""

    target: Target
    before: HostState
    journal: list[Undo] = field(default_factory=list)
    warm: bool = True  # every web colour a ready step asked for was already running
    cold: list[str] = field(default_factory=list)  # programs a ready step had to start
    spawned: set[str] = field(default_factory=set)  # started, their start not waited for yet
    touched: bool = False  # its pending mark was written: the switch began here
    routed: bool = False  # its Caddy was pointed at the new colour
    after: HostState | None = None  # its record once the switch finished
    back_at: float | None = None  # when its traffic moved (monotonic)
    done: list[Step] = field(default_factory=list)  # the steps carried out here, in order
    have: frozenset[str] | None = None  # the release's objects its store held when prepared
    unlocked: bool = False  # its lock was given back by an unlock step


async def play_back(engine: Engine, host: HostRun) -> bool:
    """Play the host's journal back; True when its traffic went back to a colour that
    served before. Every entry is tried; the failures are raised together at the end
    (a host that cannot be reached raises at once)."""
    target, before = host.target, host.before
    problems: list[str] = []
    routed_back, restore, pending = True, False, ""
    journal = sorted(enumerate(host.journal), key=lambda e: (e[1].stage, -e[0]))
    host.journal = []
    for _, entry in journal:
        op = entry.op
        if op.kind == "restore":
            restore, pending = True, pending or op.release
            continue
        try:
            await _inverse(engine, host, op)
        except HostUnreachable:
            raise
        except ConveyorError as error:
            problems.append(
                f"{op.kind} {op.program or op.service}: {error.message.splitlines()[0]}"
            )
            routed_back = routed_back and op.kind != "route"
    if restore:
        try:
            if not routed_back:
                # Traffic is still on the new colour: recover finds the host by this mark.
                mark = replace(before, pending_release=pending, deploy_id=engine.deploy_id)
                await hostops.write_state(target, mark)
            else:
                await hostops.write_state(target, before)
                if before.release:
                    await hostops.link_current(target, before.release)
        except HostUnreachable:
            raise
        except ConveyorError as error:
            problems.append(f"state.json: {error.message.splitlines()[0]}")
    if problems:
        raise ConveyorError(f"{target.spec}: put back only in part: {'; '.join(problems)}")
    return host.routed and before.colour is not None


async def _inverse(engine: Engine, host: HostRun, op: Op) -> None:
    target = host.target
    if op.kind == "route":
        colour = Serve.of(op).colour
        await hostops.switch(target, op.service, ports(engine.config, op.service)[colour])
        said = f"Caddy routes to {colour} again"
        engine.say(target, "rollback", "ok", said, kind="undone", op="route", colour=colour)
    elif op.kind == "stop":
        await programs.stop(target, op.program)
        engine.say(target, "rollback", "info", f"stopped {op.program}", kind="undone", op="stop")
    elif op.kind == "start":
        await target.conn.run(target.runtime.start_argv(op.program))
    elif op.kind == "sync":
        if not op.release or not op.venv:
            engine.say(target, "rollback", "info", f"{op.service}: no earlier files to put back")
            return
        await files.put_files(
            target,
            engine.config.services[op.service],
            release_id=op.release,
            venv_key=op.venv,
            missing_ok=True,
        )
