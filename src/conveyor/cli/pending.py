"""Command groups from the design that are not built yet: they say so and exit 2."""

from __future__ import annotations

from collections.abc import Callable

import typer

from conveyor import __version__
from conveyor.errors import NotAvailable

# name -> what it will do, in the words of --help.
PENDING = {
    "scan": "Find hard-coded URLs, hosts and passwords; --fix rewrites them to settings.",
    "check": "Run the quality pipeline: format, lint, types, security, tests.",
    "build": "Build an immutable release from a git commit.",
    "deploy": "Deploy a release to an environment, blue-green, health-gated.",
    "rollback": "Switch an environment back to its previous release.",
    "unlock": "Break a stale deploy lock.",
    "status": "Show what runs where.",
    "history": "List past deploys.",
    "metrics": "Delivery (DORA) metrics.",
    "approve": "Approve a pending production deploy.",
    "serve": "Web dashboard and webhook receiver.",
    "export": "Write GitHub Actions workflows and pre-commit config.",
}

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def register(app: typer.Typer) -> None:
    """Add one placeholder command per pending group that no module has registered yet."""
    available = ", ".join(_built(app))
    for name in unbuilt(app):
        what = PENDING[name]
        app.command(
            name,
            help=f"{what} (not available yet)",
            short_help=f"(not available yet) {what}",
            context_settings=_EXTRA,
        )(_placeholder(name, available))


def unbuilt(app: typer.Typer) -> list[str]:
    """The pending groups no module has registered (yet)."""
    built = set(_built(app))
    return [name for name in PENDING if name not in built]


def _built(app: typer.Typer) -> list[str]:
    names = [command.name for command in app.registered_commands]
    names += [group.name for group in app.registered_groups]
    return sorted(name for name in names if name)


def _placeholder(name: str, available: str) -> Callable[[typer.Context], None]:
    def command(ctx: typer.Context) -> None:
        raise NotAvailable(
            f'"conveyor {name}" is not available yet in conveyor {__version__}.',
            hint=f"Nothing was done. Available now: {available}.",
        )

    command.__name__ = f"{name}_pending"
    return command
