"""`conveyor config check|diff|show|render`: per-environment configuration."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from conveyor.cli.context import project_dir
from conveyor.cli.output import out
from conveyor.errors import ConfigError
from conveyor.project.load import load_project
from conveyor.settings.check import Finding, check_environment, create_hint
from conveyor.settings.context import checked_render, open_environment
from conveyor.settings.diff import diff_environments
from conveyor.settings.envfile import EnvFile
from conveyor.settings.render import write_private
from conveyor.settings.resolve import Environment, parse_overrides, read_optional, resolve
from conveyor.settings.schema import SettingsSchema
from conveyor.settings.secrets import mask

app = typer.Typer(
    help="Per-environment configuration: check, diff, show, render.", no_args_is_help=True
)


def set_option() -> Any:
    """`--set KEY=VALUE`, repeatable: a value that replaces the environment file's."""
    return typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        help="Use this value instead of the environment file's (repeatable); "
        "checked against the schema like the file's values.",
    )


class Format(str, Enum):
    """Output formats."""

    text = "text"
    json = "json"


@app.command("check")
def check(
    ctx: typer.Context,
    environment: str = typer.Argument(
        ..., metavar="ENV", help="Environment name, e.g. production."
    ),
    fmt: Format = typer.Option(Format.text, "--format", help="text or json."),
    sets: list[str] = set_option(),
) -> None:
    """Check an environment's .env file against the schema; exit 1 on any error."""
    project = load_project(project_dir(ctx))
    schema, env = open_environment(project, environment, overrides=parse_overrides(sets))
    findings = check_environment(schema, env)
    errors = [f for f in findings if f.severity == "error"]
    if fmt is Format.json:
        out().print_json(json.dumps([asdict(f) for f in findings]))
        raise typer.Exit(1 if errors else 0)
    console = out()
    for finding in findings:
        console.print(_finding_line(finding))
    warnings = len(findings) - len(errors)
    if not findings:
        console.print(
            Text.assemble(
                ("ok", "green"),
                f": {env.display()} matches {schema.source} ({len(schema.fields)} keys)",
            )
        )
    else:
        console.print(
            f"{env.display()}: {len(errors)} error(s), {warnings} warning(s)", markup=False
        )
    raise typer.Exit(1 if errors else 0)


def _finding_line(finding: Finding) -> Text:
    style = "red" if finding.severity == "error" else "yellow"
    return Text.assemble(
        (finding.location(), "bold"),
        ": ",
        (finding.severity, style),
        f": {finding.message} [{finding.code}]",
    )


@app.command("diff")
def diff(
    ctx: typer.Context,
    a: str = typer.Argument(..., metavar="A", help="First environment."),
    b: str = typer.Argument(..., metavar="B", help="Second environment."),
    fmt: Format = typer.Option(Format.text, "--format", help="text or json."),
) -> None:
    """Keys only in A, only in B, and values that differ; secrets are never shown."""
    project = load_project(project_dir(ctx))
    schema, env_a = open_environment(project, a)
    _, env_b = open_environment(project, b)
    files = []
    for env in (env_a, env_b):
        files.append(_read_existing(schema, env))
    differences = diff_environments(schema, files[0], files[1])
    shared = [d for d in differences if d.kind == "shared-secret"]
    if fmt is Format.json:
        out().print_json(json.dumps([asdict(d) for d in differences]))
        raise typer.Exit(1 if shared else 0)
    table = Table(
        "key",
        a,
        b,
        "difference",
        title=f"{env_a.display()} vs {env_b.display()}",
        title_justify="left",
    )
    labels: dict[str, str | Text] = {
        "only-a": f"only in {a}",
        "only-b": f"only in {b}",
        "differs": "differs",
        "shared-secret": Text("same secret", "red"),
    }
    for d in differences:
        table.add_row(d.key, d.a or "-", d.b or "-", labels[d.kind])
    console = out()
    console.print(table if differences else f"{a} and {b} set the same keys to the same values")
    for d in shared:
        console.print(
            Text.assemble(
                ("finding", "red"),
                f": {d.key} holds the same secret in {a} and {b}; give each its own",
            )
        )
    raise typer.Exit(1 if shared else 0)


def _read_existing(schema: SettingsSchema, env: Environment) -> EnvFile:
    parsed = read_optional(env.env_file)
    if parsed is None:
        raise ConfigError(f"{env.display()} does not exist", hint=create_hint(schema, env))
    return parsed


@app.command("show")
def show(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment name."),
    fmt: Format = typer.Option(Format.text, "--format", help="text or json."),
    sets: list[str] = set_option(),
) -> None:
    """Resolved values (secrets masked) and where each came from."""
    project = load_project(project_dir(ctx))
    schema, env = open_environment(project, environment, overrides=parse_overrides(sets))
    values = resolve(schema, env, _read_existing(schema, env))
    rows = [
        {"key": r.key, "value": mask(r.key, r.value, declared=r.secret), "source": r.source}
        for r in values.values()
    ]
    missing = [f.name for f in schema.fields if f.name not in values]
    if fmt is Format.json:
        out().print_json(json.dumps({"values": rows, "unset": missing}))
        return
    table = Table(
        "key", "value", "source", title=f"{environment} ({env.display()})", title_justify="left"
    )
    for row in rows:
        table.add_row(row["key"], row["value"], row["source"])
    for name in missing:
        table.add_row(name, Text("<unset>", "red"), "-")
    out().print(table)
    return


@app.command("render")
def render(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment name."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to write (default: .conveyor/env/ENV.env)."
    ),
    sets: list[str] = set_option(),
) -> None:
    """Write the exact .env a host will get (mode 0600); refuses while config check fails."""
    project = load_project(project_dir(ctx))
    rendered = checked_render(project, environment, overrides=parse_overrides(sets))
    if rendered.errors:
        raise ConfigError(
            f"{rendered.env.display()} has {len(rendered.errors)} error(s); nothing was written",
            hint=f"run: conveyor config check {environment}",
        )
    target = output or project.root / ".conveyor" / "env" / f"{environment}.env"
    write_private(target, rendered.text)
    out().print(f"wrote {target} ({rendered.keys} keys, mode 0600)", markup=False)
    return
