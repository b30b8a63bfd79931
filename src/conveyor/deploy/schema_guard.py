"""A rollback and the database's schema: code only where the migration host's record
(`migrations/record.py`) shows the release going back works with the schema as it is;
otherwise refused, or (`--downgrade`) the serving release's downgrades first.

The downgrade runs on the migration host with the serving release (whose scripts hold the
revisions to undo), under the rollback's own locks and PostgreSQL's advisory lock, before
any host switches; a downgrade that is missing or empty is refused before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conveyor.deploy.events import Emit, Event
from conveyor.deploy.hostops import Target
from conveyor.deploy.migrate import (
    colour_probes,
    load_record,
    migration_host,
    run_runner,
    save_record,
    unhealthy,
)
from conveyor.deploy.plan import Step
from conveyor.deploy.serve import Serve
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError
from conveyor.migrations import record, runner
from conveyor.project.model import ConveyorConfig


@dataclass(frozen=True)
class Guard:
    """What the rollback does about the schema: nothing (`down_to` None) or a downgrade on
    `host` first; `why` in words."""

    host: str
    why: str
    down_to: str | None = None

    def step(self, would: str = "") -> Step:
        """The plan's step for it (`--dry-run`); `would`: what the downgrade would run."""
        if self.down_to is None:
            return Step(self.host, "schema", self.why)
        what = f"{self.why}; first the serving release's downgrades down to {self.down_to}"
        return Step(self.host, "schema", what + (f": {would}" if would else ""))


async def check(
    config: ConveyorConfig,
    environment: str,
    targets: Sequence[Target],
    roles: Mapping[str, Sequence[str]],
    states: Mapping[str, HostState],
    *,
    downgrade: bool,
) -> Guard | None:
    """The rollback's verdict on the schema (None without migrations or their host);
    ConveyorError, nothing changed, when the release going back was never seen working with
    the database as it is and `downgrade` was not asked for."""
    host = migration_host(config, targets, roles)
    if host is None:
        return None
    to = states[host.spec].previous_release
    if to is None:
        return None  # the rollback refuses this host itself
    verdict = record.verdict(await load_record(host), to)
    if verdict.code_only:
        return Guard(host.spec, verdict.why)
    assert verdict.down_to is not None
    if len(verdict.down_to) != 1:
        raise ConveyorError(
            f"rolling back to {to}: {verdict.why}, and {to}'s schema has "
            f"{len(verdict.down_to)} heads; nothing was changed",
            hint=f"conveyor db downgrade {environment} --to REV for each, then roll back",
        )
    down = verdict.down_to[0]
    if not downgrade:
        raise ConveyorError(
            f"rolling back to {to}: {verdict.why}; nothing was changed",
            hint=f"conveyor rollback {environment} --downgrade runs the serving release's "
            f"downgrades down to {down} first (--dry-run shows which), then switches; or "
            "deploy a fix forward",
        )
    return Guard(host.spec, verdict.why, down)


async def carry_out(
    guard: Guard | None,
    config: ConveyorConfig,
    targets: Sequence[Target],
    roles: Mapping[str, Sequence[str]],
    states: Mapping[str, HostState],
    emit: Emit,
    *,
    dry_run: bool = False,
    accept_loss: str = "",
) -> str:
    """Say the verdict; run the downgrade it asks for (`dry_run`: check each downgrade
    exists and does something, run none, and return what would run). ConveyorError when
    the downgrade fails or is refused; one that drops a column or table only with
    `accept_loss` (why the loss is fine: recorded)."""
    if guard is None:
        return ""
    if guard.down_to is None:
        emit(Event(guard.host, "schema", "ok", guard.why))
        return ""
    assert config.migrations is not None
    target = next(t for t in targets if t.spec == guard.host)
    emit(Event(guard.host, "schema", "start", f"downgrade to {guard.down_to}: {guard.why}"))
    said = await run_runner(
        target,
        states[guard.host],
        config.migrations,
        "downgrade",
        revision=guard.down_to,
        dry_run=dry_run,
        allow_loss=bool(accept_loss),
    )
    if accept_loss and not dry_run and said.ran:
        emit(Event(guard.host, "schema", "warn", f"data loss accepted: {accept_loss}"))
    if dry_run:
        return f"would run the downgrade of {' → '.join(said.ran) or 'nothing'}"
    try:  # from here on, anything that stops the rollback puts the schema forward again
        if said.after is not None:
            await save_record(target, record.moved(await load_record(target), said.after))
        emit(Event(guard.host, "schema", "ok", runner.summary(said, "undone")))
        why = ""
        if said.after != (guard.down_to,):
            why = f"after the downgrade the database is at {said.at}, not at {guard.down_to}"
        else:
            # A warm colour is switched to without a gate: ask it now, against the old
            # schema. (A cold one is started and gated by the rollback itself.)
            back = Serve.previous(states[guard.host]).colour
            answers = await colour_probes(config, roles, target, back)
            if any(a.status is not None for a in answers.values()) and unhealthy(answers):
                why = f"after the downgrade, {back} does not answer ({unhealthy(answers)})"
        if why:
            raise ConveyorError(f"rolling back on {guard.host}: {why}; nothing switched")
    except BaseException:
        await forward_again(guard, config, targets, states, emit)
        raise
    return ""


async def forward_again(
    guard: Guard | None,
    config: ConveyorConfig,
    targets: Sequence[Target],
    states: Mapping[str, HostState],
    emit: Emit,
) -> None:
    """After a rollback that ran its downgrade and then failed (its hosts went forward again,
    to the release that serves): that release's migrations again, so that it does not serve
    against the schema it was rolled back from. Said, never raised: the rollback's own
    failure is what the caller reports."""
    if guard is None or guard.down_to is None:
        return
    assert config.migrations is not None
    target = next(t for t in targets if t.spec == guard.host)
    try:
        said = await run_runner(target, states[guard.host], config.migrations, "upgrade")
        if said.after is not None:
            await save_record(target, record.moved(await load_record(target), said.after))
    except (ConveyorError, OSError) as error:
        why = error.message if isinstance(error, ConveyorError) else str(error)
        emit(Event(guard.host, "schema", "fail", f"could not upgrade again: {why}"))
        return
    emit(Event(guard.host, "schema", "ok", f"the rollback failed: {runner.summary(said)}"))
