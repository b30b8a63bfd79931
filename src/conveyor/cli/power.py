"""`conveyor stop ENV` and `conveyor start ENV`: every host's programs, Caddy and supervisord."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from conveyor.cli.context import project_dir
from conveyor.cli.deploy import access_options
from conveyor.cli.output import err, out
from conveyor.cli.progress import Progress
from conveyor.project.load import load_project

if TYPE_CHECKING:
    from conveyor.deploy.power import Action


def register(app: typer.Typer) -> None:
    """Add stop and start."""
    app.command("stop")(stop_command)
    app.command("start")(start_command)


def _run(
    ctx: typer.Context,
    environment: str,
    action: Action,
    *,
    known_hosts: Path | None,
    identity: Path | None,
    dry_run: bool,
) -> None:
    from conveyor.deploy.power import power, summary

    project = load_project(project_dir(ctx))
    progress = Progress()
    try:
        result = power(
            project,
            environment,
            action,
            access=access_options(known_hosts, identity),
            emit=progress,
            dry_run=dry_run,
        )
    finally:
        progress.close()
    took = progress.elapsed()
    if dry_run:
        out().print(
            f"dry run: {action} would change {len(result.done)} host(s) of {environment}; "
            "nothing was changed",
            markup=False,
        )
    elif result.failed:
        left = ", ".join(sorted(result.failed))
        err().print(
            Text.assemble(
                (f"{action} incomplete", "bold red"),
                f" after {took}: {summary(environment, result)}; fix what is named above for "
                f"{left}, then run conveyor {action} {environment} again "
                f"(recorded as {result.record_id})",
            )
        )
    else:
        out().print(
            f"{summary(environment, result)} in {took} (recorded as {result.record_id})",
            markup=False,
        )
    if result.failed:
        raise typer.Exit(1)


def stop_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment to stop."),
    known_hosts: Path | None = typer.Option(None, "--known-hosts", help="known_hosts file."),
    identity: Path | None = typer.Option(None, "--identity", "-i", help="SSH private key."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what would stop on each host (hosts only read)."
    ),
) -> None:
    """Stop every program, Caddy and supervisord on each host, gracefully; status says stopped."""
    _run(ctx, environment, "stop", known_hosts=known_hosts, identity=identity, dry_run=dry_run)


def start_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment to start."),
    known_hosts: Path | None = typer.Option(None, "--known-hosts", help="known_hosts file."),
    identity: Path | None = typer.Option(None, "--identity", "-i", help="SSH private key."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what would start on each host (hosts only read)."
    ),
) -> None:
    """Start supervisord, the live release's programs and Caddy on each host, health-checked."""
    _run(ctx, environment, "start", known_hosts=known_hosts, identity=identity, dry_run=dry_run)
