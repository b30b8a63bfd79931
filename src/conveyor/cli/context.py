"""Options shared by every command, kept on the click context."""

from __future__ import annotations

from pathlib import Path

import typer


def project_dir(ctx: typer.Context) -> Path:
    """The directory given with `conveyor -C DIR`, or the current directory."""
    root = ctx.find_root()
    value = root.obj if isinstance(root.obj, Path) else None
    return value or Path.cwd()
