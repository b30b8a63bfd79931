"""`conveyor rollback`: back to the previous release, by a switch when it is still warm.

The previous colour's programs are still defined on each host (release, venv,
port); when they still run, a rollback is only Caddy's upstream file being
rewritten. When they have gone cold, they start again from the host's
`releases/`, pass the health gate, and then traffic switches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.deploy import hostops
from conveyor.deploy.execute import Emit, Event, Settings, gate
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.layout import ports, services_by_kind, syncs_on
from conveyor.deploy.lock import LockOwner, acquire, release
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError
from conveyor.project.model import ConveyorConfig, ServiceConfig


@dataclass(frozen=True)
class RolledBack:
    """One host after a rollback."""

    host: str
    release: str
    warm: bool  # True: a switch to the running colour; False: it had to start again
    seconds: float
    version: str = ""


@dataclass
class Rollback:
    """Puts every host of an environment back on its previous release."""

    config: ConveyorConfig
    environment: str
    targets: Sequence[Target]
    roles: dict[str, list[str]]
    deploy_id: str
    settings: Settings
    emit: Emit

    async def run(self) -> list[RolledBack]:
        """Lock, check every host can go back, then switch each; returns what happened."""
        for target in self.targets:
            await target.conn.connect()
        owner = LockOwner.here(self.deploy_id)
        locked: list[Target] = []
        try:
            for target in sorted(self.targets, key=lambda t: t.spec):
                await acquire(
                    target.conn, target.paths.app_dir, owner, environment=self.environment
                )
                locked.append(target)
            states = {t.spec: await hostops.read_state(t) for t in self.targets}
            stuck = [t.spec for t in self.targets if states[t.spec].previous_release is None]
            if stuck:
                raise ConveyorError(
                    f"{', '.join(stuck)}: no previous release to roll back to; nothing was changed",
                    hint=f"deploy a release: conveyor deploy {self.environment} --release ID",
                )
            return [await self.back_one(t, states[t.spec]) for t in self.targets]
        finally:
            for target in locked:
                await release(target.conn, target.paths.app_dir, self.deploy_id)

    async def back_one(self, target: Target, state: HostState) -> RolledBack:
        began = time.monotonic()
        assert state.previous_colour is not None and state.previous_release is not None
        old, new = state.previous_colour, state.colour
        found = services_by_kind(self.config, self.roles, target.spec)
        http, others = found.http, {**found.workers, **found.singletons}
        # Traffic first: the web colours (warm: nothing to do; cold: start and gate), the switch.
        await hostops.cancel_retire(target, old)
        warm = True
        for name, service in http.items():
            warm = await self._ensure(target, state, name, service) and warm
        for name in http:
            await hostops.switch(target, name, ports(self.config, name)[old])
        seconds = time.monotonic() - began
        # Then the workers: the previous colour starts before the current one stops
        # (a singleton the other way round: never two at once).
        for name, service in others.items():
            if service.resolved_kind == "singleton" and new is not None:
                await hostops.stop(target, program_name(name, new))
            await self._ensure(target, state, name, service)
            if service.resolved_kind != "singleton" and new is not None:
                await hostops.stop(target, program_name(name, new))
        # Synced files (e.g. DAGs) as the previous release had them, then its `after`.
        assert state.previous_venv is not None
        for name, service in syncs_on(self.config, self.roles, target.spec).items():
            for said in await hostops.put_files(
                target,
                service,
                release_id=state.previous_release,
                venv_key=state.previous_venv,
                missing_ok=True,
            ):
                self.emit(Event(target.spec, "rollback", "ok", f"{name}: {said}"))
        back = state.rolled_back(at=time.time())
        await hostops.write_state(target, back)
        await hostops.link_current(target, state.previous_release)
        how = "switched to the warm" if warm else "restarted the cold"
        message = f"{how} {old} colour: {back.release} (traffic back in {seconds:.2f}s)"
        self.emit(Event(target.spec, "rollback", "ok", message))
        version = back.version or ""
        return RolledBack(target.spec, state.previous_release, warm, seconds, version)

    async def _ensure(
        self, target: Target, state: HostState, name: str, service: ServiceConfig
    ) -> bool:
        """Make the previous colour of `name` run the previous release; True if it already did."""
        assert service.command is not None and state.previous_venv is not None
        assert state.previous_colour is not None and state.previous_release is not None
        port = ports(self.config, name)[state.previous_colour]
        # Warm only when that colour still runs exactly the previous release: a failed
        # deploy since then may have redefined (and even left running) this colour.
        prog = await hostops.ensure_started(
            target,
            self.config,
            name,
            colour=state.previous_colour,
            release_id=state.previous_release,
            version=state.previous_version or state.previous_release,
            venv_key=state.previous_venv,
        )
        if prog is None:
            return True
        if service.resolved_kind == "http" and service.health:
            result = await gate(target, prog.name, port, service.health, self.settings)
            if not result.healthy:
                await hostops.stop(target, prog.name)
                raise ConveyorError(
                    f"{target.spec}: {prog.name} ({state.previous_release}) is not healthy: "
                    f"{result.reason}; traffic stays on {state.release}"
                )
        return False
