"""Putting the hosts an interrupted deploy touched on one release: forward, or back.

`deploy/recover.py` decides which and records it; this is the part that acts on
the hosts. Going back makes a host serve a release with the steps every host is
made to serve one with (`serve.host_steps`), run by the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.deploy import hostops, programs
from conveyor.deploy.engine import Engine
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.interrupted import (
    Interrupted,
    program_release,
    should_stop_idle,
)
from conveyor.deploy.journal import HostRun
from conveyor.deploy.layout import (
    ports,
    services_by_kind,
    services_on,
)
from conveyor.deploy.observe import observe
from conveyor.deploy.rollback import Rollback
from conveyor.deploy.serve import Serve, host_steps
from conveyor.deploy.state import Colour, HostState
from conveyor.errors import ConveyorError
from conveyor.project.model import ConveyorConfig


@dataclass
class Recovery:
    """Puts the hosts an interrupted deploy touched on one release, forward or back."""

    config: ConveyorConfig
    environment: str
    targets: Sequence[Target]
    roles: dict[str, list[str]]
    recover_id: str
    settings: Settings
    emit: Emit

    async def healthy(self, target: Target, state: HostState) -> bool:
        """Caddy routes every web service to the state's colour and it answers there now."""
        if state.colour is None:
            return False
        seen = await observe(target, self.config, self.roles, interval=self.settings.probe_interval)
        return all(
            seen.routes[name] == ports(self.config, name)[state.colour] and seen.answering[name]
            for name in seen.routes
        )

    async def forward(self, target: Target, state: HostState) -> str:
        """Finish a switched host as the deploy would have: current, then retire the old colour."""
        assert state.release is not None
        await hostops.link_current(target, state.release)
        old = state.previous_colour
        http = services_by_kind(self.config, self.roles, target.spec).http
        names = [program_name(name, old) for name in http] if old else []
        if old and names and self.settings.keep_warm > 0:
            await programs.schedule_retire(target, old, names, self.settings.keep_warm)
        else:
            for name in names:
                await programs.stop(target, name)
        self._say(target, "ok", f"finished forward: serves {state.release} on {state.colour}")
        return state.release

    async def back(self, target: Target, state: HostState, interrupted: Interrupted) -> str:
        """Put one host back on what it served before the interrupted deploy.

        Every step is tried; what could not be done is raised at the end, after the
        interrupted release's idle programs are stopped. The caller reads the host back.
        """
        keep: set[str | None] = {state.release, state.previous_release}
        problems: list[str] = []
        if state.pending_release is not None:
            state, problems = await self._back_pending(target, state)
            keep = {state.release, state.previous_release}
        elif state.deploy_id == interrupted.deploy_id and state.release == interrupted.release:
            if state.previous_release is None:
                raise ConveyorError(
                    f"{target.spec}: serves {state.release} from the interrupted deploy and has "
                    "no previous release to go back to; it was left as it is",
                    hint=f"finish the deploy instead: conveyor deploy {self.environment}",
                )
            rollback = Rollback(
                config=self.config,
                environment=self.environment,
                targets=self.targets,
                roles=self.roles,
                deploy_id=self.recover_id,
                settings=self.settings,
                emit=self.emit,
            )
            # The rollback's per-host switch (warm colour, or a cold restart); we hold the locks.
            await rollback.back_one(target, state)
            state = await hostops.read_state(target)
            keep = {state.release}
        await self._stop_idle(target, state, interrupted.release, keep)
        if problems:
            raise ConveyorError(f"{target.spec}: " + "; ".join(problems))
        return state.release or "nothing"

    async def _back_pending(self, target: Target, state: HostState) -> tuple[HostState, list[str]]:
        """The switch may or may not have happened: serve the state's colour again, with the
        steps any host is made to serve a release with (`serve.host_steps`).

        Every step is tried; a web colour that could not be made to run and answer gets no
        traffic. The pending mark is cleared (current, then the record) only when everything
        is back, so that `conveyor recover` finds the host again otherwise; returns the
        problems.
        """
        if state.colour is None or state.release is None or state.venv is None:
            return state, []
        engine = Engine(self.config, self.roles, self.recover_id, self.settings, self.emit)
        engine.voice = "recover"
        host, problems, dark = HostRun(target, state), list[str](), set[str]()
        steps = host_steps(
            self.config,
            self.roles,
            target.spec,
            Serve.current(state),
            away=state.idle_colour,
            listen=target.listen,
            mark=False,
            record="cleared",
            afresh=True,
        )
        for step in steps:
            op = step.op
            assert op is not None
            if op.kind in ("link", "record") and problems:
                break
            if op.kind == "route" and op.service in dark:
                continue  # never route traffic to a colour that does not run
            try:
                await engine.do(host, step)
            except ConveyorError as error:
                what = op.service or op.program or op.kind
                problems.append(f"{what}: {error.message.splitlines()[0]}")
                self._say(target, "fail", f"{what}: {error.message}")
                dark.update([op.service] if op.kind == "ready" else [])
        return host.after or state, problems

    async def _stop_idle(
        self, target: Target, state: HostState, release: str | None, keep: set[str | None]
    ) -> None:
        """Stop the idle colour's programs that run the interrupted release (never `keep`)."""
        if state.colour is None and state.release is None:
            colours: tuple[Colour, ...] = ("blue", "green")  # nothing serves: both are idle
        else:
            colours = (state.idle_colour,)
        for name in services_on(self.config, self.roles, target.spec):
            for colour in colours:
                prog = program_name(name, colour)
                try:
                    text = await target.conn.get(target.runtime.program_path(prog))
                except FileNotFoundError:
                    continue
                runs = program_release(text.decode("utf-8", "replace"))
                if should_stop_idle(runs, interrupted_release=release, keep=keep):
                    await programs.stop(target, prog)
                    self._say(target, "ok", f"stopped {prog} (it ran {runs})")

    def _say(self, target: Target, status: str, message: str) -> None:
        self.emit(Event(target.spec, "recover", status, message))
