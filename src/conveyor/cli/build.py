"""`conveyor build`: an immutable release of a git commit in .conveyor/releases/."""

from __future__ import annotations

import json

import typer
from rich.text import Text

from conveyor.build.release import Release, build_release
from conveyor.cli.context import project_dir
from conveyor.cli.output import err, out
from conveyor.project.load import load_project


def register(app: typer.Typer) -> None:
    """Add the build command."""
    app.command("build")(build)


def build(
    ctx: typer.Context,
    ref: str = typer.Option("HEAD", "--ref", help="Branch, tag or commit to build."),
    environment: str | None = typer.Option(
        None,
        "--env",
        metavar="ENV",
        help="Environment the release is for; all but development ones refuse a dirty "
        "tree and unpinned requirements.",
    ),
    keep: int = typer.Option(10, "--keep", min=1, help="How many releases to keep."),
    as_json: bool = typer.Option(False, "--json", help="Print the release as JSON."),
) -> None:
    """Build an immutable release from a git commit."""
    project = load_project(project_dir(ctx))
    from conveyor.history.store import releases_in_use  # SQLAlchemy loads only here

    # What hosts serve or would roll back to is never pruned, however old.
    in_use = releases_in_use(project.root)
    release = build_release(project, ref=ref, environment=environment, keep=keep, protect=in_use)
    if as_json:
        out().print_json(json.dumps(summary(release)))
        return
    console = err()
    for warning in release.warnings:
        console.print(Text.assemble(("warning", "yellow"), f": {warning}"))
    for note in release.notes:
        console.print(Text.assemble(("note", "cyan"), f": {note}"))
    render(release)


def summary(release: Release) -> dict[str, object]:
    """What `--json` prints: the release's facts, its notes and warnings."""
    return {
        "id": release.id,
        "version": release.version,
        "commit": release.commit,
        "files": len(release.manifest.files),
        "lock_hash": release.lock_hash,
        "lock_source": release.manifest.lock_source,
        "path": str(release.path),
        "already_built": release.reused,
        "notes": list(release.notes),
        "warnings": list(release.warnings),
    }


def render(release: Release) -> None:
    """The release as aligned `key: value` lines on stdout."""
    console = out()
    state = "already built" if release.reused else "built"
    console.print(Text.assemble((state, "green"), f" release {release.id}"))
    rows = [
        ("version", release.version),
        ("commit", release.commit),
        ("files", str(len(release.manifest.files))),
        ("lock", f"{release.lock_hash} (from {release.manifest.lock_source})"),
        ("path", str(release.path)),
    ]
    for key, value in rows:
        console.print(f"  {key + ':':<9}{value}", markup=False)
