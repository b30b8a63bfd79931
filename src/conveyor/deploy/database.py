"""`conveyor db status ENV` and `conveyor db downgrade ENV --to REV`: the environment's
database as its migration host sees it, through the release that serves there.

Both run conveyor's Alembic runner (`migrations/host_alembic.py`) on the first host of
`[migrations] run_on`, with the serving release's venv, values and scripts, the way the
deploy's migrate step does. A downgrade holds the environment's lock on every host (no
deploy or rollback meanwhile) and PostgreSQL's advisory lock, refuses a revision whose
`downgrade()` is missing or empty before anything runs, and is recorded in the history
(kind "migrate") with the revisions before and after, read back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from conveyor.deploy import hostops
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.hostops import Target
from conveyor.deploy.lock import LockOwner, acquire, heartbeats, inspect, release_all
from conveyor.deploy.migrate import load_record, migration_host, run_runner, save_record
from conveyor.deploy.plan import Plan
from conveyor.deploy.preflight import Access, targets_for
from conveyor.deploy.run import open_record, recording
from conveyor.deploy.state import HostState
from conveyor.errors import ConfigError, ConveyorError, LockHeld
from conveyor.hosts.base import Connector
from conveyor.migrations import record, runner
from conveyor.migrations.lint import Verdicts, pending, refusal
from conveyor.migrations.runner import Migrated
from conveyor.project.load import Project
from conveyor.project.model import MigrationsConfig


@dataclass(frozen=True)
class Database:
    """What the migration host showed: where, through which release, and the runner's word."""

    host: str
    release: str
    said: Migrated
    record_id: str = ""
    said_line: str = ""  # what it did, in one line


def status(project: Project, environment: str, *, access: Access) -> Database:
    """The database's revision, the serving release's head and what it would still run."""
    target, _ = _migration_host(project, environment, access)

    async def run() -> Database:
        await hostops.connect(target)
        state = await _serving(target, environment)
        said = await run_runner(
            target, state, migrations(project), "current", what="reading the revision"
        )
        return Database(target.spec, state.release or "", said)

    return asyncio.run(hostops.closing(run(), [target]))


def downgrade(
    project: Project,
    environment: str,
    revision: str,
    *,
    access: Access,
    emit: Emit,
    dry_run: bool = False,
    accept_loss: str = "",
) -> Database:
    """Run the serving release's `downgrade()`s down to `revision`, under the environment's
    lock; `dry_run` checks the same (locks free, each downgrade real) and runs nothing. One
    that drops a column or table runs only with `accept_loss` (why: recorded)."""

    async def work(target: Target, state: HostState) -> tuple[Migrated, str]:
        said = await run_runner(
            target,
            state,
            migrations(project),
            "downgrade",
            revision=revision,
            dry_run=dry_run,
            allow_loss=bool(accept_loss),
        )

        if dry_run:
            return said, f"would run the downgrade of {' '.join(said.ran) or 'nothing'}"
        loss = f"; data loss accepted: {accept_loss}" if accept_loss and said.ran else ""
        return said, runner.summary(said, "undone") + loss

    return _locked(project, environment, access, emit, work, dry_run=dry_run, what="downgrade")


def restore(
    project: Project,
    environment: str,
    backup_id: str,
    *,
    access: Access,
    emit: Emit,
    dry_run: bool = False,
) -> Database:
    """Put the database back as backup `backup_id` holds it (every table dropped and
    restored, in one transaction), under the environment's lock and the advisory lock;
    `dry_run` checks the locks and that the backup is there, and restores nothing."""

    async def work(target: Target, state: HostState) -> tuple[Migrated, str]:
        known = {b for b, _ in await _backups(target)}
        if backup_id not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ConveyorError(
                f"{target.spec} has no backup {backup_id} (it has: {listed}); nothing was changed",
                hint=f"conveyor db backups {environment} lists them",
            )
        if dry_run:
            return Migrated(), f"would restore {backup_id} over the database"
        said = await run_runner(
            target,
            state,
            migrations(project),
            "restore",
            revision=backup_id,
            backups=(target.paths.backups, migrations(project).keep_backups),
            what="the restore",
        )
        return said, f"restored {backup_id}: the database is at revision {said.at}"

    return _locked(project, environment, access, emit, work, dry_run=dry_run, what="restore")


def backups(
    project: Project, environment: str, *, access: Access
) -> tuple[str, list[tuple[str, int]]]:
    """The migration host, and its verified dumps (id, bytes), oldest first."""
    target, _ = _migration_host(project, environment, access)

    async def run() -> list[tuple[str, int]]:
        await target.conn.connect()
        return await _backups(target)

    return target.spec, asyncio.run(hostops.closing(run(), [target]))


async def _backups(target: Target) -> list[tuple[str, int]]:
    listed = await target.conn.run(
        ["find", target.paths.backups, "-maxdepth", "1", "-name", "*.dump", "-printf", "%f %s\\n"],
        check=False,
    )
    found = []
    for line in sorted(listed.stdout.splitlines()):
        name, _, size = line.rpartition(" ")
        if name.endswith(".dump") and size.isdigit():
            found.append((name[: -len(".dump")], int(size)))
    return found


Work = Callable[[Target, HostState], Awaitable[tuple[Migrated, str]]]


def _locked(
    project: Project,
    environment: str,
    access: Access,
    emit: Emit,
    work: Work,
    *,
    dry_run: bool,
    what: str,
) -> Database:
    """`work` on the migration host, with the serving release, while this holds the
    environment's lock on every host (the dry run: while no one does); recorded in the
    history as kind "migrate", and the schema record updated with what the database shows."""
    target, targets = _migration_host(project, environment, access)

    async def run(say: Emit, record_id: str) -> Database:
        await asyncio.gather(*(t.conn.connect() for t in targets))
        await hostops.connect(target)
        locked: list[tuple[Connector, str]] = []
        try:
            # Kept fresh while the work runs (a restore can take minutes): a lock whose
            # heartbeat stops looks stale, and a deploy would take it over.
            async with heartbeats(locked, record_id) as lost:
                for each in sorted(targets, key=lambda t: t.spec):
                    if dry_run:
                        await _free(each, environment)
                        continue
                    owner = LockOwner.here(record_id)
                    await acquire(each.conn, each.paths.app_dir, owner, environment=environment)
                    locked.append((each.conn, each.paths.app_dir))
                state = await _serving(target, environment)
                if lost:
                    raise ConveyorError(f"{lost[0]}; nothing was changed")
                said, line = await work(target, state)
                if not dry_run and said.after is not None:
                    changed = record.moved(await load_record(target), said.after)
                    await save_record(target, changed)
                say(Event(target.spec, "db", "ok", line, fields=facts(said)))
                return Database(target.spec, state.release or "", said, record_id, line)
        finally:
            for spec, error in (await release_all(locked, record_id)).items():
                say(Event(spec, "unlock", "fail", f"lock left in place: {error.message}"))

    every = [target, *(t for t in targets if t is not target)]
    if dry_run:
        return asyncio.run(hostops.closing(run(emit, ""), every))
    store, record_id = open_record(
        project, environment, kind="migrate", hosts=[target.spec], release=""
    )
    try:
        done = asyncio.run(
            hostops.closing(run(recording(store, record_id, emit), record_id), every)
        )
    except BaseException as error:
        store.finish(record_id, status="failed", message=f"{what} failed: {error}")
        store.close()
        raise
    store.finish(
        record_id, status="succeeded", message=f"{environment}'s database: {done.said_line}"
    )
    store.close()
    return done


def pending_in_plan(
    project: Project, environment: str, lint: Verdicts, plan: Plan, *, access: Access
) -> Plan:
    """The dry run's look at the database: the revisions it has not run (read through the
    release serving on the migration host; all of them before the first deploy), said in
    the migrate step with their lint findings; ConveyorError, as the deploy would fail,
    when one of them is refused."""
    try:
        seen = status(project, environment, access=access).said
    except NotServing:
        seen = None
    at = seen.after if seen is not None else None

    def noted(note: str) -> Plan:
        steps = [
            replace(s, description=s.description + note) if s.action == "migrate" and s.op else s
            for s in plan.steps
        ]
        return replace(plan, steps=tuple(steps))

    if at and any(rev not in lint.graph for rev in at):
        return noted(
            f"; the database is at {runner.revisions(at)}, which this release's revisions do "
            "not hold (a newer release migrated it): alembic will refuse to run"
        )
    todo = pending(lint.graph, at or ())
    refused = [f for f in lint.refused() if f.revision in todo]
    if refused:
        said, hint = refusal(refused, environment)
        raise ConveyorError(
            f"the pending migrations would be refused: {said}; nothing was changed",
            hint=hint,
        )
    where = "no release serves there yet" if at is None else f"at {runner.revisions(at)}"
    note = f"; the database ({where}) has not run: {', '.join(todo) or 'nothing'}"
    for finding in lint.among(todo):
        note += f"\nlint: {finding.describe()}"
    return noted(note)


def describe(said: Migrated) -> str:
    """`db status` in one line."""
    line = f"database at {said.at}; the serving release's head is {runner.revisions(said.head)}"
    if said.ahead:
        return line + "; the database is at a revision this release's scripts do not know"
    if said.ran:
        return line + f"; not yet applied: {' '.join(said.ran)}"
    return line + "; nothing to apply"


def facts(said: Migrated) -> dict[str, str | int]:
    """The runner's word as an event's structured values."""
    return {
        "before": ",".join(said.before or ()),
        "after": ",".join(said.after or ()),
        "ran": " ".join(said.ran),
    }


def migrations(project: Project) -> MigrationsConfig:
    """The project's [migrations] (checked by `_migration_host` first)."""
    assert project.config.migrations is not None
    return project.config.migrations


def _migration_host(
    project: Project, environment: str, access: Access
) -> tuple[Target, Sequence[Target]]:
    """The host that runs the migrations (the first of `run_on`), and every host."""
    migrations = project.config.migrations
    if migrations is None:
        raise ConfigError(
            "conveyor.toml has no [migrations]: conveyor does not run this project's "
            "migrations, so it has no database to look at",
            hint='add [migrations] with run_on = "ROLE" (conveyor init detects Alembic)',
        )
    targets, roles = targets_for(project, environment, access)
    host = migration_host(project.config, targets, roles)
    if host is None:
        raise ConfigError(
            f"{environment} has no host of role {migrations.run_on} ([migrations] run_on)",
            hint=f"give a host that role in [environments.{environment}] hosts",
        )
    return host, targets


class NotServing(ConveyorError):
    """No release serves on the migration host (before the first deploy)."""


async def _serving(target: Target, environment: str) -> HostState:
    """The host's state; NotServing when no release serves there."""
    state = await hostops.read_state(target)
    if state.release is None or state.venv is None:
        raise NotServing(
            f"{target.spec}: no release serves there, so there is no release to run the "
            "migrations' scripts with",
            hint=f"deploy first: conveyor deploy {environment}",
        )
    return state


async def _free(target: Target, environment: str) -> None:
    """The dry run's lock check: LockHeld when a deploy (or anything) holds it."""
    lock = await inspect(target.conn, target.paths.app_dir)
    if lock is not None:
        raise LockHeld(
            f"{environment} is locked on {target.spec} by {lock.describe()}; nothing was "
            "changed (dry run)",
            hint=f"conveyor status {environment} shows who holds it",
        )
