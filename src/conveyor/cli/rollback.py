"""`conveyor rollback ENV`: back to the release before, switched in a second while it is
warm, with the schema checked first (`deploy/schema_guard.py`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from conveyor.cli.context import project_dir
from conveyor.cli.deploy import access_options, failure_lines
from conveyor.cli.notify import notifying
from conveyor.cli.output import err, out
from conveyor.cli.progress import Progress
from conveyor.errors import ConfigError
from conveyor.project.load import load_project


def register(app: typer.Typer) -> None:
    """Add rollback."""
    app.command("rollback")(rollback_command)


def accepted_loss(accept_loss: bool, why: str) -> str:
    """The recorded reason a downgrade may drop data ("" when not accepted)."""
    if accept_loss and not why.strip():
        raise ConfigError(
            "--accept-loss needs --why: the reason is recorded",
            hint='e.g. --why "the notes column was added an hour ago and is empty"',
        )
    return why.strip() if accept_loss else ""


def rollback_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment to roll back."),
    to: str | None = typer.Option(
        None,
        "--to",
        help="Deploy this built release instead: its version, id or id's hash.",
    ),
    known_hosts: Path | None = typer.Option(None, "--known-hosts", help="known_hosts file."),
    identity: Path | None = typer.Option(None, "--identity", "-i", help="SSH private key."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan (hosts only read) and change nothing."
    ),
    batch: int = typer.Option(
        0,
        "--batch",
        min=0,
        metavar="N",
        help="Switch N hosts at a time, one batch after another (default: every host at once).",
    ),
    downgrade: bool = typer.Option(
        False,
        "--downgrade",
        help="Where the release going back was never seen working with the database's "
        "schema, first run the serving release's downgrades back to its schema.",
    ),
    accept_loss: bool = typer.Option(
        False,
        "--accept-loss",
        help="With --downgrade: let a downgrade drop a column or table (what was written "
        "there since is lost); needs --why.",
    ),
    why: str = typer.Option("", "--why", help="Why that loss is fine (recorded)."),
) -> None:
    """Back to the previous release: a switch to its warm colour, else a restart of it."""
    from conveyor.deploy.ops import plan_rollback, rollback

    project = load_project(project_dir(ctx))
    if batch and to is not None:
        raise ConfigError(
            "--batch is for a rollback to the previous release; a rollback --to deploys that "
            "release in the environment's own batches (strategy.batch)",
            hint="leave out --batch, or --to",
        )
    loss = accepted_loss(accept_loss, why)
    if loss and not downgrade:
        raise ConfigError(
            "--accept-loss is about the downgrades --downgrade runs; a rollback without it "
            "changes no schema",
            hint=f"conveyor rollback {environment} --downgrade --accept-loss --why ...",
        )
    if downgrade and to is not None:
        raise ConfigError(
            "--downgrade is for a rollback to the previous release; a rollback --to deploys "
            "that release, and a deploy never downgrades",
            hint=f"conveyor db downgrade {environment} --to REV first, then rollback --to",
        )
    if dry_run and to is None:
        access = access_options(known_hosts, identity)
        plan = plan_rollback(
            project, environment, access=access, batch=batch, downgrade=downgrade, accept_loss=loss
        )
        out().print(plan.render(), markup=False)
        return
    if dry_run:
        from conveyor.deploy.run import plan_deploy
        from conveyor.gates.flow import no_rollback_to

        no_rollback_to(project, environment, str(to))

        access = access_options(known_hosts, identity)
        plan = plan_deploy(project, environment, release_id=to, access=access)
        out().print(plan.render(), markup=False)
        return
    with notifying(project):
        progress = Progress()
        try:
            access = access_options(known_hosts, identity)
            deploy_id, result = rollback(
                project,
                environment,
                to=to,
                access=access,
                emit=progress,
                batch=batch,
                downgrade=downgrade,
                accept_loss=loss,
            )
        finally:
            progress.close()
        if isinstance(result, list):
            releases = ", ".join(sorted({r.release for r in result}))
            slowest = max(r.seconds for r in result)
            out().print(
                f"rolled back: {environment} runs {releases} again on {len(result)} host(s) "
                f"(traffic back {slowest:.2f}s after the start, in {progress.elapsed()}, "
                f"deploy {deploy_id})",
                markup=False,
            )
            return
        if result.status != "succeeded":
            for line in failure_lines(result.message, result.cause):
                err().print(line, markup=False)
            err().print(
                Text.assemble(
                    ("rollback failed", "bold red"),
                    f" after {progress.elapsed()}: {result.message}",
                )
            )
            raise typer.Exit(1)
        out().print(
            f"rolled back: {result.message} in {progress.elapsed()} (deploy {deploy_id})",
            markup=False,
        )
