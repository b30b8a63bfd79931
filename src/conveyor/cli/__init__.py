"""The `conveyor` command: parses arguments, calls one function, renders the result."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.text import Text

from conveyor import __version__
from conveyor.cli import (
    approve,
    build,
    check,
    config,
    db,
    demo,
    deploy,
    export,
    history,
    init,
    metrics,
    notify,
    pending,
    power,
    rollback,
    scan,
    schema,
)
from conveyor.cli.output import err
from conveyor.errors import ConveyorError
from conveyor.hosts import agent

app = typer.Typer(
    name="conveyor",
    help="Continuous delivery for Python services on your own Linux servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"conveyor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    directory: Path | None = typer.Option(
        None, "-C", "--directory", help="Run as if started in this directory.", file_okay=False
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Continuous delivery for Python services on your own Linux servers."""
    agent.enabled()  # CONVEYOR_AGENT other than 0 or 1 is refused before anything runs
    ctx.obj = directory.resolve() if directory else None


init.register(app)
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(notify.app, name="notify")
schema.register(app)
demo.register(app)
build.register(app)
check.register(app)
export.register(app)
scan.register(app)
deploy.register(app)
rollback.register(app)
power.register(app)
history.register(app)
metrics.register(app)
approve.register(app)
# Each built command group registers here, one line per module, above this comment.
pending.register(app)  # last: placeholders for groups not registered above


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return the exit code (tests call this)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Standalone mode: usage errors are printed by the parser and exit 2.
        app(args=args, prog_name="conveyor", standalone_mode=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if code == 130:  # typer turns Ctrl-C into a silent exit 130
            err().print("interrupted", markup=False)
        return code
    except ConveyorError as error:
        err().print(Text.assemble(("error: ", "bold red"), error.message))
        if error.hint:
            err().print(error.hint, markup=False)
        return error.exit_code
    except Exception:
        traceback.print_exc()
        err().print(
            "conveyor hit an unexpected error (a bug, not your fault); please report it "
            "with the traceback above.",
            markup=False,
        )
        return 3
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
