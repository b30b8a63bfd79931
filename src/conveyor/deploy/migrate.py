"""The deploy's migrate step: the project's Alembic migrations, once, on one host, through
conveyor's runner (`migrations/host_alembic.py`): under a PostgreSQL advisory lock, with
`lock_timeout` and a bounded retry, and the database's revision read back afterwards.

The step says what the database showed: the revision it was at under the lock, the
revisions that ran, the revision it is at now; and it fails the deploy, before any host
switches, when that is not the head of the release's own revisions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.deploy import hostops
from conveyor.errors import DeployFailed
from conveyor.migrations import runner
from conveyor.project.fields import format_duration

if TYPE_CHECKING:
    from conveyor.deploy.engine import Engine
    from conveyor.deploy.hostops import Target
    from conveyor.deploy.plan import Step
    from conveyor.deploy.serve import Serve

TIMEOUT = 1800.0  # a migration may rewrite a large table; the step waits half an hour


async def migrate(engine: Engine, target: Target, step: Step, to: Serve) -> None:
    """Run the release's migrations on `target`; fail the deploy unless the database reads
    back at the release's head (`step.op.how`, when the release has revisions)."""
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
            f"stays at {runner.revisions(done.before)}; nothing switched",
            cause=tail,
            hint="a long transaction holds a lock the migration needs: look for it in "
            "pg_stat_activity (a long query, or 'idle in transaction'), end it and deploy "
            "again; or raise [migrations] lock_timeout or attempts",
        )
    if not result.ok:
        raise DeployFailed(
            f"migrations failed on {target.spec} (exit {result.exit_code}); nothing switched",
            cause=tail,
        )
    head = step.op.how
    if head and done.after != (head,):
        raise DeployFailed(
            f"after the migrations the database on {target.spec} is at {done.at}, not at "
            f"this release's head {head}; nothing switched",
            cause=tail,
            hint="does the release's env.py connect to the database its values name?",
        )
    engine.say(
        target,
        step.action,
        "ok",
        runner.summary(done),
        before=",".join(done.before or ()),
        after=",".join(done.after or ()),
        ran=" ".join(done.ran),
        retries=done.retries,
    )
