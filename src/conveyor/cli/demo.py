"""`conveyor demo`: the whole story on the bundled example app."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.rule import Rule

from conveyor.cli.context import project_dir
from conveyor.cli.output import out


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
    deploys: bool = typer.Option(
        True, "--deploys/--no-deploys", help="Also deploy it to a local staging."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Leave staging running at the end (the demo says how to stop it)."
    ),
) -> None:
    """Run conveyor on a copy of the bundled example app and show what it finds and does."""
    from conveyor.cli import main  # the demo drives the same CLI a user types
    from conveyor.demo.deploys import run_deploys, stop_everything
    from conveyor.demo.driver import prepare, run_story

    base = workdir or project_dir(ctx) / ".conveyor" / "demo"
    app_dir = prepare(base)
    console = out()
    console.print(f"example app copied to {app_dir}", markup=False)

    def say(text: str) -> None:
        console.print(Rule(text, align="left"))

    def show(text: str) -> None:
        console.print(f"  {text}", markup=False)

    results = run_story(app_dir, main, say)
    if deploys:
        try:
            results += run_deploys(app_dir, main, say, show)
        finally:
            if not keep:
                stop_everything(app_dir)
    surprises = [(title, want, got) for title, want, got in results if want != got]
    console.print(Rule())
    for title, want, got in surprises:
        console.print(f"unexpected: {title}: exit {got}, expected {want}", markup=False)
    if not surprises:
        console.print("demo finished: every step did what it should.", markup=False)
    if deploys and keep:
        console.print(
            f"staging is still running; stop it with: {app_dir}/.conveyor/hosts/staging/tools/bin/"
            f"supervisorctl -c {app_dir}/.conveyor/hosts/staging/runtime/supervisord.conf shutdown",
            markup=False,
        )
    raise typer.Exit(1 if surprises else 0)
