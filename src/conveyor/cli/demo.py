"""`conveyor demo`: the whole story so far on the bundled example app."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.rule import Rule

from conveyor.cli.context import project_dir
from conveyor.cli.output import out
from conveyor.demo.driver import prepare, run_story


def register(app: typer.Typer) -> None:
    """Add the demo command."""
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    workdir: Path | None = typer.Option(
        None,
        "--workdir",
        help="Where to put the copy of the example app (default: .conveyor/demo).",
    ),
) -> None:
    """Run conveyor on a copy of the bundled example app and show what it finds."""
    from conveyor.cli import main  # the demo drives the same CLI a user types

    base = workdir or project_dir(ctx) / ".conveyor" / "demo"
    app_dir = prepare(base)
    console = out()
    console.print(f"example app copied to {app_dir}", markup=False)

    def say(text: str) -> None:
        console.print(Rule(text, align="left"))

    results = run_story(app_dir, main, say)
    surprises = [(title, want, got) for title, want, got in results if want != got]
    console.print(Rule())
    for title, want, got in surprises:
        console.print(f"unexpected: {title}: exit {got}, expected {want}", markup=False)
    if not surprises:
        console.print(
            "demo finished: production's hand-kept file was caught before any deploy.", markup=False
        )
    raise typer.Exit(1 if surprises else 0)
