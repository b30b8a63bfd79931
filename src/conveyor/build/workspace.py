"""The lock of a uv workspace whose member the project is: a `uv.lock` above it in the commit."""

from __future__ import annotations

from pathlib import Path

from conveyor.build.git import git, text
from conveyor.build.uvlock import UV_LOCK
from conveyor.errors import BuildError


def workspace_lock(root: Path, commit: str) -> tuple[str, str] | None:
    """(the path as shown from the project, its text) of the nearest `uv.lock` in a directory
    above the project in `commit`, or None when the project is at the top or none has one."""
    prefix = text(root, "rev-parse", "--show-prefix").strip("/")
    if not prefix:
        return None
    parts = prefix.split("/")
    for depth in range(len(parts) - 1, -1, -1):
        path = "/".join([*parts[:depth], UV_LOCK])
        try:
            data = git(root, "cat-file", "blob", f"{commit}:{path}")
        except BuildError:
            continue  # no lock at this level
        shown = "../" * (len(parts) - depth) + UV_LOCK
        return shown, data.decode("utf-8", "replace")
    return None
