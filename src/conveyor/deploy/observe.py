"""What a host shows right now, read back from the host: state.json, Caddy, supervisor, health.

A report of what a job did is built from this, never from what its own steps
assumed: after a recovery, each host is read again and its problems are listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from conveyor.deploy import hostops, programs
from conveyor.deploy.health import wait_healthy
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.layout import loopback_port, ports, services_by_kind
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError
from conveyor.project.model import ConveyorConfig

RUNNING = ("running",)


@dataclass(frozen=True)
class Observed:
    """One host as read back: its state file, where Caddy routes, what runs, what answers."""

    host: str
    state: HostState
    routes: dict[str, int | None] = field(default_factory=dict)  # http service -> Caddy port
    answering: dict[str, bool] = field(default_factory=dict)  # http service -> health via Caddy
    programs: dict[str, str] = field(default_factory=dict)  # expected program -> its state

    def problems(self, config: ConveyorConfig) -> list[str]:
        """What keeps this host from serving one release cleanly; [] when it does."""
        state = self.state
        found: list[str] = []
        if state.pending_release is not None:
            found.append(f"state.json still records a pending switch to {state.pending_release}")
        for name, port in self.routes.items():
            wanted = ports(config, name)[state.colour] if state.colour else None
            if port is None:
                found.append(f"Caddy of {name} is not running or unreadable")
            elif wanted is None:
                found.append(f"Caddy routes {name} to port {port}; state.json records no colour")
            elif port != wanted:
                found.append(f"Caddy routes {name} to port {port}, not {state.colour} ({wanted})")
            elif not self.answering.get(name, False):
                found.append(f"{name} does not answer its health check through Caddy")
        for prog, status in self.programs.items():
            if status not in RUNNING:
                found.append(f"{prog} is not running ({status})")
        return found

    def serving(self) -> str:
        """`r-1` when the host serves its recorded release cleanly, else what it shows."""
        release = self.state.release or "nothing"
        if not self.routes or all(self.answering.get(name) for name in self.routes):
            return release
        return f"{release} by its state.json, but not answering through Caddy"


async def observe(
    target: Target,
    config: ConveyorConfig,
    roles: Mapping[str, Sequence[str]],
    *,
    interval: float = 0.15,
    deadline: float = 10.0,
) -> Observed:
    """Read one host back: state.json, each web service's Caddy route and health through it,
    and the state of every program the recorded colour should run."""
    state = await hostops.read_state(target)
    found = services_by_kind(config, roles, target.spec)
    routes: dict[str, int | None] = {}
    answering: dict[str, bool] = {}
    for name, service in found.http.items():
        proxy = target.proxy(name)
        result = await target.conn.run(proxy.upstream_argv(), check=False)
        try:
            routes[name] = proxy.parse_upstream(result.stdout) if result.ok else None
        except ValueError:
            routes[name] = None
        wanted = ports(config, name)[state.colour] if state.colour else None
        if routes[name] != wanted or service.health is None:
            answering[name] = False  # routed elsewhere (or nowhere): no need to wait on it
            continue
        host, public = loopback_port(target.listen_for(name, service))
        address, port = await target.conn.forward(host, public)
        health = await wait_healthy(
            f"http://{address}:{port}{service.health}",
            threshold=2,
            deadline=deadline,
            interval=interval,
        )
        answering[name] = health.healthy
    programs: dict[str, str] = {}
    if state.colour is not None:
        status = await target.conn.run(target.runtime.status_argv(), check=False)
        parsed = target.runtime.parse_status(status.stdout)
        for name in {**found.http, **found.workers, **found.singletons}:
            prog = program_name(name, state.colour)
            seen = parsed.get(prog)
            programs[prog] = seen.state if seen is not None else "not defined"
    return Observed(target.spec, state, routes, answering, programs)


async def observe_all(
    targets: Sequence[Target], config: ConveyorConfig, roles: Mapping[str, Sequence[str]]
) -> dict[str, Observed | str]:
    """Every host read back at once; a host that cannot be read says why instead."""

    async def one(target: Target) -> Observed | str:
        try:
            return await observe(target, config, roles)
        except ConveyorError as error:
            return f"could not be read back: {error.message.splitlines()[0]}"

    results = await asyncio.gather(*(one(t) for t in targets))
    return {t.spec: r for t, r in zip(targets, results, strict=True)}


async def already_live(
    config: ConveyorConfig,
    roles: Mapping[str, Sequence[str]],
    targets: Sequence[Target],
    states: Mapping[str, HostState],
    release_id: str,
    env_text: str,
) -> set[str]:
    """The hosts that serve `release_id` with this `.env` and whose web colour runs: a
    deploy has nothing to do there."""

    async def live(target: Target) -> bool:
        state = states[target.spec]
        if state.release != release_id or state.colour is None:
            return False
        try:
            env = await target.conn.get(target.paths.env_file)
        except FileNotFoundError:
            return False
        if env != env_text.encode():
            return False
        for name in services_by_kind(config, roles, target.spec).http:
            if await programs.running(target, program_name(name, state.colour)):
                return False
        return True

    found = await asyncio.gather(*(live(t) for t in targets))
    return {t.spec for t, ok in zip(targets, found, strict=True) if ok}
