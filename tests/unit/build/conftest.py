"""Real git repositories in tmp_path, with a fixed identity and fixed dates."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from conveyor.project.load import Project, load_project

CONVEYOR_TOML = """\
[app]
name = "shop"
python = "3.11"

[environments.development]
hosts = { app = ["local"] }

[environments.production]
hosts = { app = ["local"] }
"""


class Repo:
    """A git working tree: write files, commit, tag, and load it as a conveyor project."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.commits = 0

    def git(self, *args: str) -> str:
        """Run git in the repository and return its stripped output."""
        done = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def write(self, files: Mapping[str, str]) -> None:
        """Write files (dedented) into the working tree."""
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")

    def commit(self, files: Mapping[str, str] | None = None, message: str = "change") -> str:
        """Write `files`, commit everything, and return the commit's hash."""
        self.write(files or {})
        self.commits += 1
        # Fixed, increasing dates: the same history gives the same hashes in every run.
        date = f"2024-01-01T00:{self.commits:02d}:00+00:00"
        self.git("add", "-A")
        subprocess.run(
            ["git", "-C", str(self.root), "commit", "-q", "--allow-empty", "-m", message],
            check=True,
            env={**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
        )
        return self.git("rev-parse", "HEAD")

    def project(self) -> Project:
        """The repository loaded as a conveyor project."""
        return load_project(self.root)


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Who commits in test repositories; HOME is already a temporary directory."""
    for key, value in {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """An empty repository with a conveyor.toml written (not committed)."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    made = Repo(root)
    made.write({"conveyor.toml": CONVEYOR_TOML, ".gitignore": ".conveyor/\n"})
    return made


UV_LOCK = """\
version = 1
requires-python = ">=3.10"

[[package]]
name = "shop"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "fastapi" },
    { name = "psycopg", extra = ["binary"] },
    { name = "numpy", version = "1.26.4", source = { registry = "https://pypi.org/simple" }, marker = "python_version < '3.12'" },
    { name = "numpy", version = "2.0.0", source = { registry = "https://pypi.org/simple" }, marker = "python_version >= '3.12'" },
    { name = "lib" },
    { name = "tools" },
]

[package.dev-dependencies]
dev = [{ name = "pytest" }]

[[package]]
name = "tools"
version = "0.1.0"
source = { editable = "packages/tools" }
dependencies = [{ name = "colorama", marker = "sys_platform == 'win32'" }]

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "sniffio", marker = "python_version < '3.13'" }]

[[package]]
name = "fastapi"
version = "0.115.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "anyio" }]

[[package]]
name = "anyio"
version = "4.4.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "fastapi" }]

[[package]]
name = "sniffio"
version = "1.3.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "numpy"
version = "1.26.4"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "numpy"
version = "2.0.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "psycopg"
version = "3.2.1"
source = { registry = "https://pypi.org/simple" }

[package.optional-dependencies]
binary = [{ name = "psycopg-binary", marker = "implementation_name != 'pypy'" }]
pool = [{ name = "psycopg-pool" }]

[[package]]
name = "psycopg-binary"
version = "3.2.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "psycopg-pool"
version = "3.2.2"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "lib"
version = "1.0.0"
source = { git = "https://github.com/example/lib?rev=main#0123456789abcdef" }

[[package]]
name = "pytest"
version = "8.3.2"
source = { registry = "https://pypi.org/simple" }
"""


@pytest.fixture
def uv_lock_text() -> str:
    """A uv.lock with a workspace member, extras, markers, a fork, a git source and dev deps."""
    return UV_LOCK
