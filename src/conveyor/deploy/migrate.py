"""The deploy's migrate step: the project's Alembic migrations, once, on one host, through
conveyor's runner (`migrations/host_alembic.py`): under a PostgreSQL advisory lock, with
`lock_timeout` and a bounded retry, and the database's revision read back afterwards.

The step says what the database showed: the revision it was at under the lock, the
revisions that ran, the revision it is at now; and it fails the deploy, before any host
switches, when that is not the head of the release's own revisions.
"""

from __future__ import annotations

import posixpath
import time
from typing import TYPE_CHECKING

import httpx

from conveyor.deploy import hostops
from conveyor.deploy.batch import batch
from conveyor.deploy.health import Probe, probe
from conveyor.deploy.layout import ports, services_by_kind
from conveyor.errors import ConveyorError, DeployFailed
from conveyor.migrations import record, runner
from conveyor.migrations.lint import BLOCKING, refusal
from conveyor.project.fields import format_duration

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from conveyor.deploy.engine import Engine
    from conveyor.deploy.hostops import Target
    from conveyor.deploy.journal import HostRun
    from conveyor.deploy.plan import Step
    from conveyor.deploy.serve import Serve
    from conveyor.deploy.state import Colour, HostState
    from conveyor.project.model import ConveyorConfig, MigrationsConfig

TIMEOUT = 1800.0  # a migration may rewrite a large table; the step waits half an hour


async def migrate(engine: Engine, host: HostRun, step: Step, to: Serve) -> None:
    """Run the release's migrations on `host`; fail the deploy unless the database reads
    back at the release's head (`step.op.how`, when the release has revisions). Then ask
    the release serving there whether it still answers, and record both (schema.json)."""
    target = host.target
    migrations = engine.config.migrations
    assert migrations is not None and step.op is not None
    wait = format_duration(migrations.lock_timeout)
    engine.say(target, step.action, "start", f"alembic upgrade head ({migrations.config})")
    result = await hostops.run_in_release(
        target,
        step.argv,
        release_id=to.release,
        venv_key=to.venv,
        timeout=TIMEOUT,
        what="migrations",
        check=False,
    )
    done = runner.parse(result.stdout)
    tail = "\n".join([*done.extra, *result.stderr.strip().splitlines()][-15:])
    if result.exit_code == runner.LOCKED:
        raise DeployFailed(
            f"migrations on {target.spec} waited longer than lock_timeout ({wait}) for a "
            f"table lock on each of {done.locked} attempts and were rolled back; the database "
            f"is at {done.at}; nothing switched",
            cause=tail,
            hint="a long transaction holds a lock the migration needs: look for it in "
            "pg_stat_activity (a long query, or 'idle in transaction'), end it and deploy "
            "again; or raise [migrations] lock_timeout or attempts",
        )
    if result.exit_code == runner.BLOCKED:
        refused = [f for f in engine.lint.findings if f"{f.revision}:{f.rule}" in done.blocked]
        said, hint = refusal(refused, engine.lint.environment)
        raise DeployFailed(
            f"the pending migrations are refused on {target.spec}: {said}; nothing ran; "
            "nothing switched",
            cause=tail,
            hint=hint,
        )
    if result.exit_code == runner.REHEARSAL:
        raise DeployFailed(
            f"rehearsal on {target.spec}: {done.rehearsal_failed}; nothing ran on the "
            f"database, which is at {runner.revisions(done.before)}; nothing switched",
            cause=tail,
            hint="fix the migration (it failed on the copy as it would on the database)"
            if done.rehearsal_failed.startswith("the pending migrations failed")
            else "build an index CONCURRENTLY (in autocommit_block), add a constraint NOT "
            "VALID and validate it later, or backfill in batches; or, with a maintenance "
            "window, raise [migrations] rehearse_lock_limit",
        )
    if result.exit_code == runner.NO_BACKUP:
        raise DeployFailed(
            f"no backup on {target.spec}: {done.no_backup}; the database stays at "
            f"{runner.revisions(done.before)}; nothing switched",
            cause=tail,
            hint="fix what it names and deploy again, or turn [migrations] backup off",
        )
    if not result.ok:
        why = done.error or f"exit {result.exit_code}"
        raise DeployFailed(
            f"migrations failed on {target.spec}: {why}; nothing switched", cause=tail
        )
    head = step.op.how
    if head and done.after != (head,):
        raise DeployFailed(
            f"after the migrations the database on {target.spec} is at {done.at}, not at "
            f"this release's head {head}; nothing switched",
            cause=tail,
            hint="does the release's env.py connect to the database its values name?",
        )
    for finding in engine.lint.among(done.ran):
        accepted = engine.lint.is_accepted(finding) and finding.kind in BLOCKING
        note = f" — accepted: {engine.lint.why}" if accepted else ""
        engine.say(target, "lint", "warn", finding.describe() + note, rule=finding.rule)
    proven, answer = None, ""
    if host.before.release is not None and host.before.colour is not None:
        try:
            asked = await colour_probes(engine.config, engine.roles, target, host.before.colour)
            answer = unhealthy(asked)
        except (ConveyorError, OSError) as error:  # no proof; the migrations did run
            asked, answer = {}, f"could not ask: {error}"
        proven = host.before.release if asked and not answer else None
    said = runner.summary(done)
    serving = host.before.version or host.before.release
    if proven:
        said += f"; {serving} (serving) answers healthy against it"
    elif answer:
        said += (
            f"; {serving} (serving) does not answer against it ({answer}): a rollback to it "
            "will have to run the downgrades first (--downgrade)"
        )
    await _record(host, to.release, done, proven, engine.lint.versions)
    engine.say(
        target,
        step.action,
        "ok",
        said,
        before=",".join(done.before or ()),
        after=",".join(done.after or ()),
        ran=" ".join(done.ran),
        retries=done.retries,
        works_with=proven or "",
        backup=done.backup.id if done.backup else "",
        rehearsed=done.rehearsed,
        held="; ".join(done.held),
        versions=engine.lint.versions,
    )


async def colour_probes(
    config: ConveyorConfig, roles: Mapping[str, Sequence[str]], target: Target, colour: Colour
) -> dict[str, Probe]:
    """Ask each web service of `colour` on `target` its health check, directly, up to the
    first that does not answer healthy (empty: no web service with a health check there).
    After a migration this proves, or not, that the release serving there works with the
    new schema."""
    web = services_by_kind(config, roles, target.spec).http
    checked = {name: s.health for name, s in web.items() if s.health}
    answers: dict[str, Probe] = {}
    async with httpx.AsyncClient() as client:
        for name, path in checked.items():
            port = ports(config, name)[colour]
            address, local = await target.conn.forward("127.0.0.1", port)
            url = f"http://{address}:{local}{path}"
            answers[name] = await probe(client, url, started=time.monotonic(), timeout=5.0)
            if not answers[name].ok:
                break
    return answers


def unhealthy(answers: Mapping[str, Probe]) -> str:
    """What the first service that did not answer healthy answered ("" when all did)."""
    for name, answer in answers.items():
        if not answer.ok:
            return f"{name}: {answer.status or answer.error or 'no answer'}"
    return ""


async def _record(
    host: HostRun, release: str, done: runner.Migrated, proven: str | None, versions: str
) -> None:
    """The migration host's schema record, with this release's migrations."""
    schema = record.migrated(
        await load_record(host.target),
        release,
        before=done.before or (),
        after=done.after or (),
        ran=done.ran,
        proven=[proven] if proven else [],
        backup=done.backup.id if done.backup else "",
        versions=versions,
    )
    await save_record(host.target, schema)


def migration_host(
    config: ConveyorConfig, targets: Sequence[Target], roles: Mapping[str, Sequence[str]]
) -> Target | None:
    """The host that runs the migrations: the first of `[migrations] run_on` (as the deploy's
    migrate step chooses it); None without migrations or such a host."""
    migrations = config.migrations
    if migrations is None:
        return None
    return next((t for t in targets if migrations.run_on in roles[t.spec]), None)


async def load_record(target: Target) -> record.Schema:
    """The host's schema record (an empty one where there is none)."""
    path = target.paths.schema
    try:
        data: bytes | None = await target.conn.get(path)
    except FileNotFoundError:
        data = None
    return record.loads(data, f"{target.spec}:{path}")


async def save_record(target: Target, schema: record.Schema) -> None:
    """Write the host's schema record."""
    await target.conn.put(record.dumps(schema), target.paths.schema, mode=0o644)


async def run_runner(
    target: Target,
    state: HostState,
    migrations: MigrationsConfig,
    command: str,
    *,
    what: str = "the downgrade",
    revision: str | None = None,
    dry_run: bool = False,
    backups: tuple[str, int] | None = None,
    allow_loss: bool = False,
) -> runner.Migrated:
    """The runner on the host, with the serving release (put in place first: a host set up
    by an older conveyor may not have it)."""
    assert state.release is not None and state.venv is not None
    paths = target.paths
    await batch(target.conn, target.python, hostops.runner_files(paths))
    python = posixpath.join(paths.venv(state.venv), "bin", "python")
    argv = runner.argv(
        python,
        paths.migrator,
        migrations.config,
        command,
        revision=revision,
        lock_timeout=migrations.lock_timeout if command != "current" else None,
        attempts=migrations.attempts if command != "current" else None,
        dry_run=dry_run,
        backups=backups,
        allow_loss=allow_loss,
    )
    result = await hostops.run_in_release(
        target,
        argv,
        release_id=state.release,
        venv_key=state.venv,
        timeout=1800.0,
        what=what,
        check=False,
    )
    said = runner.parse(result.stdout)
    if said.refused is not None:
        rev, why = said.refused
        raise ConveyorError(
            f"going down to {revision} would run revision {rev}'s downgrade, but {why}; "
            "nothing was changed",
            hint="roll forward instead: deploy a release whose new revision undoes the change"
            + (
                '; or, if that loss is fine, add --accept-loss --why "..." (recorded)'
                if "is lost" in why
                else "; or write that downgrade() and deploy it first"
            ),
        )
    if result.exit_code == runner.NO_BACKUP:
        raise ConveyorError(f"{what} on {target.spec}: {said.no_backup}; nothing was changed")
    if result.exit_code == runner.LOCKED:
        raise ConveyorError(
            f"the downgrade on {target.spec} waited longer than lock_timeout for a table "
            f"lock on each of {said.locked} attempts and was rolled back; nothing was changed",
            hint="a long transaction holds a lock it needs: look for it in pg_stat_activity",
        )
    if not result.ok:
        if said.error:
            raise ConveyorError(f"{what} failed on {target.spec}: {said.error}")
        tail = (result.stdout + result.stderr).strip().splitlines()[-12:]
        raise ConveyorError(
            f"{what} failed on {target.spec} (exit {result.exit_code}):\n" + "\n".join(tail)
        )
    return said
