"""The executor's order, failure policies and use of the undo journal, on a scripted engine.

A fake is used on purpose here, and only for this: `Scripted` stands in for
`deploy/engine.py` (it records each step it is given and fails the ones a test
names) and `Memory` for a host's connection, because what is tested is the
executor's own logic: that it follows the plan phase by phase and host by host,
reads each phase's failure policy (bounded, fail-fast, reported, one after the
other), lets `max_failures` hosts go and puts every other host back. What a step
does on a real host is tested against real sshd, supervisor and Caddy in
tests/integration (test_deploy, test_faults, test_recover).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from conveyor.deploy.events import Event
from conveyor.deploy.execute import Executor, Outcome, Release
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target
from conveyor.deploy.journal import PROGRAMS, HostRun, Undo
from conveyor.deploy.layout import HostPaths
from conveyor.deploy.plan import Op, Plan, Step
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError, DeployFailed
from conveyor.hosts.base import RunResult
from tests.unit.deploy.test_plan_cases import deploy_plan, project_of

HOSTS = ["deploy@app-1", "deploy@app-2", "deploy@app-3", "deploy@app-4"]


def config(*, batch: int = 1, max_failures: int = 0, hosts: Sequence[str] = HOSTS) -> str:
    listed = ", ".join(f'"{h}"' for h in hosts)
    return f"""
[app]
name = "shop"

[services.web]
command = "uvicorn shop.main:app --port $PORT"
health = "/health"
roles = ["backend"]

[services.worker]
command = "celery -A shop worker"
roles = ["backend"]

[environments.production]
hosts = {{ backend = [{listed}] }}
strategy = {{ batch = {batch}, max_failures = {max_failures}, watch = "1s" }}
"""


class Memory:
    """A host's connection kept in memory: files in a dict, every command answered "ok"."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.home: str | None = None
        self.files: dict[str, bytes] = {}
        self.ran: list[tuple[str, ...]] = []

    async def connect(self) -> None:
        return None

    async def open_files(self) -> None:
        pass

    def warm(self, interpreters: Sequence[str]) -> None:
        return None

    async def run(self, argv: Sequence[str], **_: Any) -> RunResult:
        self.ran.append(tuple(argv))
        return RunResult(self.name, tuple(argv), 0, "", "")

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        self.files[path] = data

    async def get(self, path: str) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    async def close(self) -> None:
        return None


@dataclass
class Scripted:
    """Stands in for the engine: records every step, fails those named in `fail`
    (host, action) with `error`, and holds those in `hold` until released."""

    fail: set[tuple[str, str]] = field(default_factory=set)
    error: BaseException = field(default_factory=lambda: DeployFailed("the gate said no", cause=""))
    hold: set[tuple[str, str]] = field(default_factory=set)
    began: list[tuple[str, str, str]] = field(default_factory=list)  # (phase, host, action)
    ended: list[tuple[str, str, str]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # ("begin" or "end", phase)
    undone: list[str] = field(default_factory=list)
    watched: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    busy: int = 0
    most: dict[str, int] = field(default_factory=dict)  # phase -> most steps at once

    async def do_all(self, host: HostRun, steps: Sequence[Step]) -> None:
        for step in steps:
            await self.do(host, step)

    async def do(self, host: HostRun, step: Step) -> None:
        spec, key = host.target.spec, (host.target.spec, step.action)
        self.began.append((step.phase, spec, step.action))
        self.log.append(("begin", step.phase))
        self.busy += 1
        self.most[step.phase] = max(self.most.get(step.phase, 0), self.busy)
        try:
            # Two turns of the loop: every host the phase lets run at once gets here first.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if key in self.hold:
                await asyncio.Event().wait()  # until cancelled
            if key in self.fail:
                raise self.error
        except asyncio.CancelledError:
            self.cancelled.append(spec)
            raise
        finally:
            self.busy -= 1
        if step.op is not None and step.op.kind == "launch":
            host.journal.append(Undo(PROGRAMS, Op("stop", program="web-blue")))
        if step.op is not None and step.op.kind == "record":
            host.after = HostState(release="r2", version="2.0", colour="blue")
        host.done.append(step)
        self.ended.append((step.phase, spec, step.action))
        self.log.append(("end", step.phase))

    async def undo(self, host: HostRun) -> bool:
        self.undone.append(host.target.spec)
        host.journal.clear()
        return True

    async def watch(self, target: Target) -> None:
        self.watched.append(target.spec)


# Every host serves release r1 on green; the plan deploys r2 to blue.
LIVE = {"release": "r1", "version": "1.0", "colour": "green", "venv": "v1"}


def plan_for(text: str, hosts: Sequence[str] = HOSTS) -> Plan:
    case = {"config": text, "hosts": [{"spec": h, "state": LIVE} for h in hosts]}
    return deploy_plan({**case, "deploy": {"watch": 1}})


def executor(text: str, plan: Plan, events: list[Event], **settings: Any) -> Executor:
    project = project_of(text)
    specs = [s.host for s in plan.steps if s.action == "connect"]
    targets = [Target(spec, Memory(spec), HostPaths(f"/srv/{spec}"), "python3") for spec in specs]
    return Executor(
        config=project.config,
        environment="production",
        targets=targets,
        roles={spec: ["backend"] for spec in specs},
        release=Release("r2", "2.0", Path("/nowhere"), "v2"),
        env_text="",
        deploy_id="d-1",
        settings=Settings(watch=1, **settings),
        emit=events.append,
        planner=lambda states: plan,
    )


def play(ex: Executor, plan: Plan, engine: Scripted) -> Outcome:
    states = {t.spec: HostState(**LIVE) for t in ex.targets}  # type: ignore[arg-type]
    return asyncio.run(asyncio.wait_for(ex.play(plan, states, engine), 10))  # type: ignore[arg-type]


def host_order(plan: Plan, spec: str) -> list[str]:
    return [s.action for s in plan.steps if s.host == spec and s.op is not None]


def test_every_step_runs_in_the_plans_order_and_each_phase_ends_before_the_next() -> None:
    text = config(batch=2)
    plan, engine, events = plan_for(text), Scripted(), []
    outcome = play(executor(text, plan, events), plan, engine)
    assert outcome.status == "succeeded", outcome.message
    for spec in HOSTS:
        assert [a for _, h, a in engine.ended if h == spec] == host_order(plan, spec)
    # A phase's first step starts only once every step of the phase before it has ended.
    order = [phase for phase, _ in plan.phases() if ("end", phase) in engine.log]
    assert len(order) >= 7
    for earlier, later in itertools.pairwise(order):
        last_end = max(i for i, e in enumerate(engine.log) if e == ("end", earlier))
        assert last_end < engine.log.index(("begin", later)), (earlier, later)
    assert engine.watched == HOSTS  # the watch is the environment's: every host's Caddy
    assert engine.undone == []
    assert set(outcome.states) == set(HOSTS)


def test_a_batch_switches_only_after_the_batch_before_it_finished() -> None:
    text = config(batch=2)
    plan, engine = plan_for(text), Scripted()
    play(executor(text, plan, []), plan, engine)
    switched = [h for phase, h, a in engine.ended if a == "switch"]
    assert switched == HOSTS
    first = max(i for i, e in enumerate(engine.ended) if e[0] == "batch 1")
    assert all(i > first for i, b in enumerate(engine.began) if b[0] == "batch 2")


def test_a_failed_start_puts_every_host_back_and_nothing_switches() -> None:
    text = config()
    plan, events = plan_for(text), []
    engine = Scripted(fail={("deploy@app-3", "start")})
    outcome = play(executor(text, plan, events), plan, engine)
    assert outcome.status == "rolled_back"
    assert "the gate said no" in outcome.message
    assert sorted(engine.undone) == HOSTS  # every host whose new colour started
    assert not [a for _, _, a in engine.began if a in ("switch", "retire")]


def test_max_failures_lets_a_host_go_and_the_others_switch() -> None:
    text = config(max_failures=1)
    plan, events = plan_for(text), []
    engine = Scripted(fail={("deploy@app-2", "start")})
    outcome = play(executor(text, plan, events, max_failures=1), plan, engine)
    assert outcome.status == "succeeded", outcome.message
    assert list(outcome.left_out) == ["deploy@app-2"]
    assert engine.undone == ["deploy@app-2"]  # it alone played its journal back
    assert "deploy@app-2" not in [h for _, h, a in engine.began if a == "switch"]
    assert [h for _, h, a in engine.ended if a == "switch"] == [
        h for h in HOSTS if h != "deploy@app-2"
    ]
    dropped = [e for e in events if e.kind == "dropped"]
    assert [(e.host, e.fields["failures"], e.fields["max_failures"]) for e in dropped] == [
        ("deploy@app-2", 1, 1)
    ]
    assert "1 host(s) failed and stay on their previous release" in outcome.message


def test_the_run_after_a_recovery_starts_afresh() -> None:
    """A deploy that met an interrupted one runs again, as a copy (dataclasses.replace), once
    recovery is done: what the first attempt found (a host it let go) is not carried over."""
    text = config(max_failures=1)
    plan, events = plan_for(text), []
    first = executor(text, plan, events, max_failures=1)
    play(first, plan, Scripted(fail={("deploy@app-2", "start")}))
    assert first._failed and len(first._active) == 3
    again = replace(first, interrupted=None)
    outcome = play(again, plan, Scripted())
    assert outcome.status == "succeeded", outcome.message
    assert outcome.left_out == {} and len(again._active) == 4
    assert "failed" not in outcome.message


def test_one_failure_more_than_max_failures_puts_every_host_back() -> None:
    text = config(max_failures=1)
    plan = plan_for(text)
    engine = Scripted(fail={("deploy@app-2", "start"), ("deploy@app-4", "start")})
    outcome = play(executor(text, plan, [], max_failures=1), plan, engine)
    assert outcome.status == "rolled_back"
    assert sorted(engine.undone) == HOSTS


def test_a_failure_in_a_later_batch_puts_the_switched_batches_back_too() -> None:
    text = config(batch=1)
    plan = plan_for(text)
    engine = Scripted(fail={("deploy@app-3", "switch")})
    outcome = play(executor(text, plan, []), plan, engine)
    assert outcome.status == "rolled_back"
    assert sorted(engine.undone) == HOSTS
    assert [h for _, h, a in engine.ended if a == "switch"] == HOSTS[:2]
    assert "deploy@app-4" not in [h for _, h, a in engine.began if a == "switch"]


def test_a_failed_start_cancels_the_other_hosts_gates_at_once() -> None:
    """app-1's gate would wait for ever: app-2's failure must end it (fail fast)."""
    text = config()
    plan = plan_for(text)
    engine = Scripted(fail={("deploy@app-2", "start")}, hold={("deploy@app-1", "start")})
    outcome = play(executor(text, plan, []), plan, engine)  # within the 10 s guard
    assert outcome.status == "rolled_back"
    assert engine.cancelled == ["deploy@app-1"]


def test_preparing_runs_at_most_concurrency_hosts_at_once_and_starting_every_host() -> None:
    text = config()
    plan, engine = plan_for(text), Scripted()
    play(executor(text, plan, [], concurrency=2), plan, engine)
    assert engine.most["prepare"] == 2
    assert engine.most["upload"] == 2
    assert engine.most["start"] == len(HOSTS)


def test_a_failed_retire_is_told_and_the_deploy_still_succeeds() -> None:
    text = config()
    plan, events = plan_for(text), []
    engine = Scripted(fail={("deploy@app-1", "retire")}, error=ConveyorError("no supervisor"))
    outcome = play(executor(text, plan, events), plan, engine)
    assert outcome.status == "succeeded"
    assert engine.undone == []
    said = [e.message for e in events if e.host == "deploy@app-1" and e.status == "fail"]
    assert said == ["the old colour keeps running: no supervisor"]


def test_an_interruption_still_puts_every_host_back_then_propagates() -> None:
    text = config()
    plan = plan_for(text)
    engine = Scripted(fail={("deploy@app-2", "switch")}, error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        play(executor(text, plan, []), plan, engine)
    assert sorted(engine.undone) == HOSTS


def test_the_steps_it_ran_are_the_plans_steps_with_an_operation() -> None:
    text = config(batch=2)
    plan = plan_for(text)
    outcome = play(executor(text, plan, []), plan, Scripted())
    ran = [s for s in outcome.ran if s.op is not None]
    assert sorted(map(repr, ran)) == sorted(repr(s) for s in plan.steps if s.op is not None)


def test_steps_of_a_once_phase_run_one_after_the_other() -> None:
    text = config().replace(
        "[environments.production]",
        '[migrations]\nrun_on = "backend"\n\n'
        '[release]\ncommand = "python -m shop.seed"\nrun_on = "backend"\n\n'
        "[environments.production]",
    )
    plan, engine = plan_for(text), Scripted()
    outcome = play(executor(text, plan, []), plan, engine)
    assert outcome.status == "succeeded", outcome.message
    assert engine.most["once"] == 1
    assert [a for p, _, a in engine.ended if p == "once"] == ["migrate", "release"]
