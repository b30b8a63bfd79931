"""`conveyor db status ENV` and `conveyor db downgrade ENV --to REV`: the environment's
database, through the release that serves on its migration host."""

from __future__ import annotations

from pathlib import Path

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.deploy import access_options
from conveyor.cli.output import out
from conveyor.cli.progress import Progress
from conveyor.project.load import load_project

app = typer.Typer(
    help="The environment's database: its revision, a downgrade, its backups, a restore.",
    no_args_is_help=True,
)

KNOWN_HOSTS = typer.Option(None, "--known-hosts", help="known_hosts file.")
IDENTITY = typer.Option(None, "--identity", "-i", help="SSH private key.")


@app.command("status")
def status_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment."),
    known_hosts: Path | None = KNOWN_HOSTS,
    identity: Path | None = IDENTITY,
) -> None:
    """The database's migration revision, the serving release's head, what is not applied."""
    from conveyor.deploy.database import describe, status

    project = load_project(project_dir(ctx))
    seen = status(project, environment, access=access_options(known_hosts, identity))
    out().print(
        f"{environment} (migrations on {seen.host}, release {seen.release}): {describe(seen.said)}",
        markup=False,
    )


@app.command("downgrade")
def downgrade_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment."),
    to: str = typer.Option(..., "--to", metavar="REV", help="The revision to go down to."),
    known_hosts: Path | None = KNOWN_HOSTS,
    identity: Path | None = IDENTITY,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say which downgrades would run (each checked); run none."
    ),
    accept_loss: bool = typer.Option(
        False, "--accept-loss", help="Let a downgrade drop a column or table; needs --why."
    ),
    why: str = typer.Option("", "--why", help="Why that loss is fine (recorded)."),
) -> None:
    """Run the serving release's downgrade()s down to REV, under the environment's lock;
    refused when one of them is missing, empty, or drops data (unless --accept-loss)."""
    from conveyor.cli.rollback import accepted_loss
    from conveyor.deploy.database import downgrade
    from conveyor.migrations.runner import revisions

    project = load_project(project_dir(ctx))
    progress = Progress()
    try:
        done = downgrade(
            project,
            environment,
            to,
            access=access_options(known_hosts, identity),
            emit=progress,
            dry_run=dry_run,
            accept_loss=accepted_loss(accept_loss, why),
        )
    finally:
        progress.close()
    took = progress.elapsed()
    if dry_run:
        ran = " → ".join(done.said.ran) or "nothing"
        out().print(
            f"dry run: going down to {to} on {done.host} would run the downgrade of {ran} "
            f"(the database is at {revisions(done.said.before)}); "
            "nothing was changed",
            markup=False,
        )
        return
    out().print(
        f"{environment}'s database: {done.said_line} in {took} (recorded as {done.record_id})",
        markup=False,
    )
    if done.said.ran:
        out().print(
            f"release {done.release} still serves: if its code needs what was undone, roll "
            f"back (conveyor rollback {environment}) or deploy a release that works with {to}",
            markup=False,
        )


@app.command("backups")
def backups_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment."),
    known_hosts: Path | None = KNOWN_HOSTS,
    identity: Path | None = IDENTITY,
) -> None:
    """The verified dumps on the migration host (migrations.backup), oldest first."""
    from conveyor.deploy.database import backups

    project = load_project(project_dir(ctx))
    host, found = backups(project, environment, access=access_options(known_hosts, identity))
    if not found:
        out().print(f"no backups on {host}", markup=False)
        return
    for backup_id, size in found:
        out().print(f"{backup_id}  {size / 1024:.0f} KiB  ({host})", markup=False)


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment."),
    backup_id: str = typer.Argument(..., metavar="BACKUP", help="A backup's id (db backups)."),
    yes: bool = typer.Option(False, "--yes", help="Replace the database's tables; no question."),
    known_hosts: Path | None = KNOWN_HOSTS,
    identity: Path | None = IDENTITY,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check the locks and that the backup is there; restore nothing."
    ),
) -> None:
    """Put the database back as BACKUP holds it, in one transaction, under the environment's
    lock: tables it does not hold are dropped; what was written since is lost."""
    from conveyor.deploy.database import restore
    from conveyor.errors import ConveyorError

    if not yes and not dry_run:
        raise ConveyorError(
            f"a restore puts {environment}'s database back as {backup_id} holds it: "
            "what was written since is lost; nothing was changed",
            hint=f"conveyor db restore {environment} {backup_id} --yes, once you are sure",
        )
    project = load_project(project_dir(ctx))
    progress = Progress()
    try:
        done = restore(
            project,
            environment,
            backup_id,
            access=access_options(known_hosts, identity),
            emit=progress,
            dry_run=dry_run,
        )
    finally:
        progress.close()
    if dry_run:
        out().print(f"dry run: {done.said_line} on {done.host}; nothing was changed", markup=False)
        return
    out().print(
        f"{environment}'s database: {done.said_line} in {progress.elapsed()} "
        f"(recorded as {done.record_id})",
        markup=False,
    )
    out().print(
        f"release {done.release} still serves: if it needs a newer schema, roll back to the "
        f"release of this one (conveyor rollback {environment}) or deploy one",
        markup=False,
    )
