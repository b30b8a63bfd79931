"""`conveyor export github|pre-commit`: generated files that call conveyor."""

from __future__ import annotations

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.output import out
from conveyor.export.github import (
    Workflow,
    ci_workflow,
    deploy_workflow,
    secret_notes,
    write,
)
from conveyor.export.precommit import precommit_config
from conveyor.project.load import load_project

app = typer.Typer(
    help="Write GitHub Actions workflows and pre-commit config.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    """Add `conveyor export`."""
    root.add_typer(app, name="export")


def _emit(ctx: typer.Context, files: list[Workflow], *, dry_run: bool) -> None:
    root = load_project(project_dir(ctx)).root
    console = out()
    for generated in files:
        if dry_run:
            console.print(f"# {generated.path}\n{generated.text}", markup=False)
        elif write(root, generated):
            console.print(f"wrote {generated.path}", markup=False)
        else:
            console.print(f"{generated.path} is up to date", markup=False)


@app.command("github")
def github(
    ctx: typer.Context,
    install: str | None = typer.Option(
        None, "--install", help="The install command CI runs (default: detected)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the files, write nothing."),
) -> None:
    """.github/workflows/ci.yml (the pipeline) and deploy.yml (push to a branch deploys)."""
    project = load_project(project_dir(ctx))
    files = [ci_workflow(project, install=install)]
    deploy = deploy_workflow(project, install=install)
    if deploy is not None:
        files.append(deploy)
    _emit(ctx, files, dry_run=dry_run)
    if deploy is None:
        out().print("deploy.yml not written: no environment has a branch", markup=False)
    for note in secret_notes(project.config):
        out().print(note, markup=False)


@app.command("pre-commit")
def pre_commit(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the file, write nothing."),
) -> None:
    """.pre-commit-config.yaml with a local hook running `conveyor check --fast`."""
    _emit(ctx, [precommit_config()], dry_run=dry_run)
