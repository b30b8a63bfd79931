"""A real git repository for the gates' tests, and the project they share."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
SHOP = """\
[app]
name = "shop"

[services.web]
command = "serve --port $PORT"
health = "/"
roles = ["app"]

[environments.production]
hosts = { app = ["local"] }
"""


def commit(root: Path, files: Mapping[str, str]) -> str:
    """Write `files`, commit everything, and return the commit's hash."""
    for name, content in files.items():
        (root / name).write_text(content)
    if not (root / ".git").exists():
        subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "c", "--allow-empty"], cwd=root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return head.stdout.strip()
