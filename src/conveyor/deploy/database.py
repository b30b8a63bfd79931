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
from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.deploy import hostops
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.hostops import Target
from conveyor.deploy.lock import LockOwner, acquire, inspect, release
from conveyor.deploy.migrate import load_record, run_runner, save_record
from conveyor.deploy.preflight import Access, targets_for
from conveyor.deploy.run import open_record, recording
from conveyor.deploy.state import HostState
from conveyor.errors import ConfigError, ConveyorError, LockHeld
from conveyor.migrations import record, runner
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
) -> Database:
    """Run the serving release's `downgrade()`s down to `revision`, under the environment's
    lock; `dry_run` checks the same (locks free, each downgrade real) and runs nothing."""
    target, targets = _migration_host(project, environment, access)

    async def run(say: Emit, record_id: str) -> Database:
        await asyncio.gather(*(t.conn.connect() for t in targets))
        await hostops.connect(target)
        locked = []
        try:
            for each in sorted(targets, key=lambda t: t.spec):
                if dry_run:
                    await _free(each, environment)
                    continue
                owner = LockOwner.here(record_id)
                await acquire(each.conn, each.paths.app_dir, owner, environment=environment)
                locked.append(each)
            state = await _serving(target, environment)
            said = await run_runner(
                target, state, migrations(project), "downgrade", revision=revision, dry_run=dry_run
            )
            said_line = runner.summary(said, "undone")
            if not dry_run and said.after is not None:
                await save_record(target, record.moved(await load_record(target), said.after))
            if dry_run:
                said_line = f"would run the downgrade of {' '.join(said.ran) or 'nothing'}"
            say(Event(target.spec, "db", "ok", said_line, fields=facts(said)))
            return Database(target.spec, state.release or "", said, record_id)
        finally:
            for each in locked:
                await release(each.conn, each.paths.app_dir, record_id)

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
        store.finish(record_id, status="failed", message=f"downgrade failed: {error}")
        store.close()
        raise
    store.finish(
        record_id,
        status="succeeded",
        message=f"{environment}'s database: {runner.summary(done.said, 'undone')}",
    )
    store.close()
    return done


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
    chosen = [t for t in targets if migrations.run_on in roles[t.spec]]
    if not chosen:
        raise ConfigError(
            f"{environment} has no host of role {migrations.run_on} ([migrations] run_on)",
            hint=f"give a host that role in [environments.{environment}] hosts",
        )
    return chosen[0], targets


async def _serving(target: Target, environment: str) -> HostState:
    """The host's state; ConveyorError when no release serves there."""
    state = await hostops.read_state(target)
    if state.release is None or state.venv is None:
        raise ConveyorError(
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
