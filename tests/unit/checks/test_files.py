"""Project files, glob patterns and hashes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conveyor.checks.files import glob_regex, hash_files, project_files, select


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/pkg/deep/a.py", True),
        ("src/**/*.py", "tests/a.py", False),
        ("*.py", "deep/down/a.py", True),
        ("*.toml", "pyproject.toml", True),
        ("docs/*.md", "docs/a/b.md", False),
        ("migrations/**", "migrations/versions/1.py", True),
        ("a?.txt", "ab.txt", True),
        ("a?.txt", "a/.txt", False),
    ],
)
def test_glob_regex(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


def test_select_without_patterns_is_everything() -> None:
    files = ("a.py", "b.md")
    assert select(files, []) == files
    assert select(files, ["*.md"]) == ("b.md",)


def _tree(root: Path) -> None:
    for name in (
        "src/a.py",
        ".venv/lib/x.py",
        ".conveyor/cache/a.json",
        "pkg.egg-info/PKG-INFO",
        ".coverage",
        "sub/__pycache__/a.cpython-311.pyc",
        "ignored.log",
        "README.md",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)


def test_project_files_leave_out_caches_and_virtualenvs(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert project_files(tmp_path) == ("README.md", "ignored.log", "src/a.py")


def test_project_files_follow_gitignore_in_a_repository(tmp_path: Path) -> None:
    _tree(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("*.log\n")
    assert project_files(tmp_path) == (".gitignore", "README.md", "src/a.py")


def test_hash_files_skips_vanished_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    assert hash_files(tmp_path, ["a", "gone"]) == {"a": "2d711642b726b044"}
