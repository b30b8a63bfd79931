"""A host's steps that need no answer in between, sent in one round trip.

Marking a switch pending, pointing Caddy at a colour, stopping a program, linking
`current` and recording the host's state are each a file write or a short script on the
host. `run` sends a host's consecutive such steps as one batch (deploy/batch.py): the
host carries them out in order and stops at the first that fails; then each step reads
its own answers, journals its inverse and says how it went, as `Engine.do` does for one
step. A step after a failed one did not run: it says nothing. These operations are
written here only; `Engine.do` runs one of them as a group of one.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from conveyor.deploy import hostops, programs
from conveyor.deploy.batch import Answer, Put, Run, carry_out
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.journal import PROGRAMS, RECORDS, TRAFFIC, HostRun, Undo
from conveyor.deploy.layout import ports, services_by_kind, services_on
from conveyor.deploy.lock import release_argv
from conveyor.deploy.plan import Op, Step
from conveyor.deploy.serve import Serve
from conveyor.deploy.state import dumps
from conveyor.errors import ConveyorError

if TYPE_CHECKING:
    from conveyor.deploy.engine import Engine

# Operations that are a write or a short script on the host, whose answers only the step
# itself reads.
KINDS = frozenset(
    {"env", "venv", "mark", "route", "stop", "link", "record", "cancel_retire", "retire", "unlock"}
)


@dataclass
class Part:
    """One step's share of a batch: its actions, and what reads their answers."""

    step: Step
    actions: list[Put | Run]
    finish: Callable[[list[Answer]], Awaitable[None]]
    # Journalled before the batch is sent: a step cut off with its answer may have happened.
    undo: tuple[Undo, ...] = ()
    begin: Callable[[], None] | None = None  # what it says as it begins (a group's first)
    # A check made before the batch is sent (one that fails leaves the host untouched).
    check: Callable[[], Awaitable[None]] | None = None
    unrun: Callable[[], None] | None = None  # puts back what it assumed, had it not run
    timeout: float = 60.0  # its share of the round trip's timeout


def groups(steps: Sequence[Step]) -> Iterator[list[Step]]:
    """`steps` in order, each run of consecutive grouped operations as one list."""
    group: list[Step] = []
    for step in steps:
        if step.op is not None and step.op.kind in KINDS:
            if step.op.kind == "stop" and group:
                # A stop may take its whole drain time: it begins a group, so that it is
                # said to begin when it does.
                yield group
                group = []
            group.append(step)
            if step.op.kind == "route":
                # A route ends one: whether it took (or Caddy must be started) is known from
                # its answer, before anything after it (`current`, the record) may happen.
                yield group
                group = []
            continue
        if group:
            yield group
            group = []
        yield [step]
    if group:
        yield group


async def run(engine: Engine, host: HostRun, steps: Sequence[Step]) -> None:
    """Carry out `steps` (grouped operations, in order) on `host` in one round trip."""
    target = host.target
    began = time.monotonic()
    parts = [_part(engine, host, step) for step in steps]
    actions = [action for part in parts for action in part.actions]
    for part in parts:
        host.journal.extend(part.undo)
    engine.step_said(host, parts[0].step, "start", parts[0].step.description)
    if parts[0].begin is not None:
        parts[0].begin()
    timeout = sum(part.timeout for part in parts)
    failing = parts[0]
    try:
        for part in parts:
            if part.check is not None:
                failing = part  # its check refused: nothing was sent, the failure is its own
                await part.check()
        failing = parts[0]
        answers = await carry_out(target.conn, _python(target, actions), actions, timeout=timeout)
    except BaseException as error:
        if failing is not parts[0]:
            engine.step_said(host, failing.step, "start", failing.step.description)
        engine.step_failed(host, failing.step, error, time.monotonic() - began)
        raise
    shares = []
    for part in parts:
        shares.append(answers[: len(part.actions)])
        answers = answers[len(part.actions) :]
    # The host stops at the first failure: the steps after it did not run, and a step whose
    # atomic write failed did not happen either: nothing of theirs to undo.
    for part, mine in zip(parts, shares, strict=True):
        failed_write = any(isinstance(a.action, Put) and a.error for a in mine)
        if (not mine and part.actions) or failed_write:
            for undo in part.undo:
                host.journal.remove(undo)
            if part.unrun is not None:
                part.unrun()
    for part, mine in zip(parts, shares, strict=True):
        if not mine and part.actions:
            return
        if part is not parts[0]:
            engine.step_said(host, part.step, "start", part.step.description)
            if part.begin is not None:
                part.begin()
        seconds = sum(answer.seconds for answer in mine)
        try:
            for answer in mine:
                answer.check(target.conn)
            if len(mine) < len(part.actions):  # pragma: no cover - a failure is checked
                raise ConveyorError(f"{target.spec}: {part.step.description} did not finish")
            await part.finish(mine)
        except BaseException as error:
            engine.step_failed(host, part.step, error, seconds)
            raise
        engine.step_said(host, part.step, "ok", part.step.description, seconds)
        host.done.append(part.step)


def _python(target: Target, actions: Sequence[Put | Run]) -> str:
    """The interpreter a batch runs under: that of its first script (`python -c`), which then
    runs inside it (deploy/batch.py); supervisor's (the tools venv's) when there is none."""
    for action in actions:
        if isinstance(action, Run) and list(action.argv[1:2]) == ["-c"]:
            return action.argv[0]
    return hostops.tools_python(target)


def _part(engine: Engine, host: HostRun, step: Step) -> Part:
    """The actions of one step, and what it does with their answers."""
    op = step.op
    assert op is not None
    to = Serve.of(op)
    make = {
        "env": _env,
        "venv": _venv,
        "mark": _mark,
        "route": _route,
        "stop": _stop,
        "link": _link,
        "record": _record,
        "cancel_retire": _cancel_retire,
        "retire": _retire,
        "unlock": _unlock,
    }[op.kind]
    return make(engine, host, step, op, to)


def _env(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """The release's values, written with mode 0600 and linked into its app directory."""
    target = host.target

    async def finish(_: list[Answer]) -> None:
        engine.say(target, step.action, "ok", f"wrote {target.paths.env_file} (mode 0600)")

    return Part(step, hostops.env_actions(target, engine.env_text, to.release), finish)


def _venv(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """The venv of the release's lock, built once per host (the host's Python must meet the
    project's requires-python, asked first), reused after."""
    target = host.target

    async def finish(answers: list[Answer]) -> None:
        result = answers[0].result
        assert result is not None
        engine.say(target, step.action, "ok", result.stdout.strip())

    built = Run(hostops.venv_argv(target, to.venv, to.release))
    check = functools.partial(hostops.check_python, target)
    return Part(step, [built], finish, check=check, timeout=900.0)


def _mark(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    # Killed from here on, `conveyor recover` finishes the switch from this mark.
    touched, host.touched = host.touched, True
    mark = replace(host.before, pending_release=to.release, deploy_id=engine.deploy_id)

    def unrun() -> None:
        host.touched = touched

    undo = Undo(RECORDS, Op("restore", release=to.release))
    written = Put(host.target.paths.state, dumps(mark).encode())
    return Part(step, [written], _nothing, (undo,), unrun=unrun)


def _route(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """Point the host's Caddy for a service at `to.colour` (started first if it is not
    running: a first deploy); in-flight requests finish on the old colour."""
    target, name = host.target, op.service
    proxy = target.proxy(name)
    port = ports(engine.config, name)[to.colour]
    listen = target.listen_for(name, engine.config.services[name])
    routed, host.routed = host.routed, True  # from here on, undo must route back
    before = host.before.colour

    def unrun() -> None:
        host.routed = routed

    back = Undo(TRAFFIC, Op("route", service=name, colour=before or ""))
    # "proxy": whether Caddy answers is asked in the same round trip, before the switch.
    asked = [Run(proxy.ready_argv(), check=False)] if op.how == "proxy" else []

    async def finish(answers: list[Answer]) -> None:
        *ready, switched = answers
        up = not ready or (ready[0].result is not None and ready[0].result.ok)
        if not up and await hostops.ensure_proxy(target, name, listen=listen, port=port):
            said = f"Caddy on {listen} started, routing to port {port}"
        else:
            assert switched.result is not None
            hostops.check_switched(target, name, port, switched.result.stdout)
            said = f"Caddy on {listen} now routes to port {port}"
        host.back_at = time.monotonic()
        engine.say(
            target, "switch", "ok", said, kind="switched", service=name, port=port, colour=to.colour
        )

    undo = (back,) if before is not None and before != to.colour else ()
    return Part(step, [*asked, Run(proxy.switch_argv(port))], finish, undo, unrun=unrun)


def _stop(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """A graceful stop within the service's drain time; undo starts it again."""
    target = host.target
    seconds = engine.config.services[op.service].drain.total_seconds()
    began = time.monotonic()

    def begin() -> None:
        engine.say(target, "stop", "start", f"stopping {op.program} (drain {seconds:g}s)")

    async def finish(answers: list[Answer]) -> None:
        result = answers[0].result
        assert result is not None
        said, took = result.stdout + result.stderr, time.monotonic() - began
        drained = await programs.drained(target, op.program, said, took, seconds=seconds)
        if drained.how not in ("absent", "not running"):  # undo starts only what ran before
            host.journal.append(Undo(PROGRAMS, Op("start", program=op.program)))
        engine.say(target, "stop", "info" if drained.how == "killed" else "ok", drained.message)

    stopping = Run(target.runtime.stop_argv(op.program), check=False)
    # Its whole drain (supervisor kills it then), and a minute (as a stop on its own had).
    return Part(step, [stopping], finish, begin=begin, timeout=seconds + 60)


def _link(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    target = host.target
    link = hostops.link_argv(target, to.release, hostops.tools_python(target))
    return Part(step, [Run(link)], _nothing, (Undo(RECORDS, Op("restore")),))


def _record(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """The host's state.json: switched to the new release, rolled back, or as before."""
    target, before = host.target, host.before
    if op.how == "switched":
        after = before.switched(
            to.release,
            version=to.version,
            venv=to.venv,
            at=time.time(),
            deploy_id=engine.deploy_id,
            warm_for=engine.settings.keep_warm,
        )
        names = services_on(engine.config, engine.roles, target.spec)
        assigned = {n: {str(c): p for c, p in ports(engine.config, n).items()} for n in names}
        after = replace(after, ports=assigned)
    elif op.how == "rolled_back":
        after = replace(before.rolled_back(at=time.time()), deploy_id=engine.deploy_id)
    elif op.how == "cleared":
        after = replace(before, pending_release=None)
    else:
        after = before

    async def finish(_: list[Answer]) -> None:
        host.after = after
        if op.how == "switched":
            engine.say(target, "state", "ok", f"serving {to.version} on {to.colour}")

    written = Put(target.paths.state, dumps(after).encode())
    return Part(step, [written], finish, (Undo(RECORDS, Op("restore")),))


def _cancel_retire(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """Call off a pending stop of `to.colour` (it is about to serve)."""
    stopping = host.target.runtime.stop_argv(programs.retire_name(to.colour))
    return Part(step, [Run(stopping, check=False)], _nothing)


def _retire(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """The colour a host left keeps serving nothing but stays warm for a rollback for
    `keep_warm`, then a program on the host stops it (0: it stops now)."""
    target, keep_warm = host.target, engine.settings.keep_warm
    http = services_by_kind(engine.config, engine.roles, target.spec).http
    names = [program_name(name, to.colour) for name in http]
    if keep_warm <= 0:

        async def stopped(_: list[Answer]) -> None:
            engine.say(target, "retire", "ok", f"stopped {', '.join(names)}")

        stops: list[Put | Run] = [Run(target.runtime.stop_argv(n), check=False) for n in names]
        drains = sum(engine.config.services[n].drain.total_seconds() + 60 for n in http)
        return Part(step, stops, stopped, timeout=drains)
    retirer = programs.retirer(target, to.colour, names, keep_warm)

    async def scheduled(answers: list[Answer]) -> None:
        result = answers[-1].result
        assert result is not None
        await programs.started(target, [retirer], result)
        said = f"{to.colour} stays warm for {keep_warm / 60:g} min, then stops"
        engine.say(target, "retire", "ok", said)

    return Part(step, programs.start_actions(target, [retirer]), scheduled)


def _unlock(engine: Engine, host: HostRun, step: Step, op: Op, to: Serve) -> Part:
    """This run's deploy lock on the host given back (a run gives back what is left)."""
    target = host.target
    argv = release_argv(target.paths.app_dir, engine.deploy_id, hostops.tools_python(target))

    async def finish(_: list[Answer]) -> None:
        host.unlocked = True

    return Part(step, [Run(argv)], finish)


def retire_unfinished(host: HostRun, steps: Sequence[Step]) -> bool:
    """Whether a retirement of `steps` planned for `host` did not happen (not an unlock that
    failed alone after it: the run gives that lock back itself)."""
    spec = host.target.spec
    return any(s.host == spec and s.action == "retire" and s not in host.done for s in steps)


async def _nothing(_: list[Answer]) -> None:
    """A step whose answer, once checked, says nothing more."""
