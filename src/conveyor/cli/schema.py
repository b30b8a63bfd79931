"""`conveyor schema`: the JSON schema of conveyor.toml, and the reference docs made from it."""

from __future__ import annotations

import json

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.output import out
from conveyor.project.docs import json_schema, write_docs


def register(app: typer.Typer) -> None:
    """Add the schema command."""
    app.command("schema")(schema)


def schema(
    ctx: typer.Context,
    write: bool = typer.Option(
        False, "--write", help="Write docs/configuration.md and docs/conveyor.schema.json."
    ),
) -> None:
    """Print the JSON schema of conveyor.toml, or --write the generated reference docs."""
    if write:
        for path in write_docs(project_dir(ctx)):
            out().print(f"wrote {path}", markup=False)
        return
    out().print(json.dumps(json_schema(), indent=2), markup=False)
    return
