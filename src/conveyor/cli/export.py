"""`conveyor export github|pre-commit|docker`: files generated from conveyor.toml."""

from __future__ import annotations

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.output import out
from conveyor.errors import ExportError
from conveyor.export.base import REGISTRY, BaseImage, fetch_digest, image_tag
from conveyor.export.compose import usage
from conveyor.export.docker import (
    docker_export,
    python_of,
    refuse_foreign,
    stale_files,
    write_files,
)
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
    help="Write GitHub Actions workflows, pre-commit config, Dockerfile and compose files.",
    no_args_is_help=True,
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
    conveyor_source: str | None = typer.Option(
        None,
        "--conveyor-source",
        help='The pip requirement CI installs Conveyor from, e.g. "git+https://...@<commit>" '
        "(default: [export] conveyor, else where this Conveyor was installed from git).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the files, write nothing."),
) -> None:
    """.github/workflows/ci.yml (the pipeline) and deploy.yml (push to a branch deploys)."""
    project = load_project(project_dir(ctx))
    files = [ci_workflow(project, install=install, conveyor_source=conveyor_source)]
    deploy = deploy_workflow(project, install=install, conveyor_source=conveyor_source)
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


@app.command("docker")
def docker(
    ctx: typer.Context,
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 when the files are missing or stale."
    ),
    update_base: bool = typer.Option(
        False, "--update-base", help="Ask the registry for the base image's current digest."
    ),
    registry: str = typer.Option(REGISTRY, "--registry", help="Registry --update-base asks."),
    force: bool = typer.Option(False, "--force", help="Overwrite files conveyor did not write."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the files, write nothing."),
) -> None:
    """Dockerfile, .dockerignore, requirements.lock, docker-compose.yml and one per environment."""
    project = load_project(project_dir(ctx))
    console = out()
    if check and update_base:
        raise ExportError("--check and --update-base cannot be used together; nothing was done")
    base = None
    if update_base:
        tag = image_tag(python_of(project))
        base = BaseImage(tag, fetch_digest(tag, registry=registry))
    export = docker_export(project, base=base)
    if check:
        problems = stale_files(project, export)
        if problems:
            raise ExportError("\n".join(problems), hint="run: conveyor export docker")
        console.print("docker files are up to date", markup=False)
        return
    if dry_run:
        refuse_foreign(project.root, export, force=force)  # as the real export would
        for generated in export.files:
            console.print(f"# {generated.path}\n{generated.text}", markup=False)
        return
    written = write_files(project.root, export, force=force)
    for generated in export.files:
        done = "wrote {}" if generated.path in written else "{} is up to date"
        console.print(done.format(generated.path), markup=False)
    if update_base:
        console.print(f"base image: {export.base.reference}", markup=False)
    for note in export.notes:
        console.print(note, markup=False)
    console.print(f"run: {usage(next(reversed(project.config.environments)))}", markup=False)
