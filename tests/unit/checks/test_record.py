"""What a check run is about (the commit, or why none) and the digest of its configuration."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.checks.record import Subject, checks_digest, record, subject
from conveyor.project.load import load_project
from tests.conftest import Project
from tests.unit.history.conftest import T0

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
CONFIG = """\
    [app]
    name = "shop"

    [checks]
    use = ["ruff"]
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def test_the_digest_is_of_the_checks_section_only(make_project: Callable[..., Project]) -> None:
    project = make_project({"conveyor.toml": CONFIG})
    digest = checks_digest(load_project(project.root))
    text = load_project(project.root).config.checks.model_dump_json()
    assert digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    project.write(
        {"conveyor.toml": CONFIG + '\n[environments.staging]\nhosts = { app = ["local"] }\n'}
    )
    assert checks_digest(load_project(project.root)) == digest  # not a [checks] change
    project.write({"conveyor.toml": CONFIG.replace('"ruff"', '"ruff", "mypy"')})
    assert checks_digest(load_project(project.root)) != digest


def test_the_subject_is_heads_commit_only_while_the_tree_is_clean(tmp_path: Path) -> None:
    assert subject(tmp_path) == Subject(None)  # not a repository: nothing to say
    git(tmp_path, "init", "-q")
    assert subject(tmp_path) == Subject(None)  # no commit yet
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.py").write_text("a = 1\n")
    (tmp_path / "notes.txt").write_text("outside the project\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert subject(app) == Subject(head)
    (app / "new.py").write_text("untracked files do not count\n")
    (tmp_path / "notes.txt").write_text("a change outside the project does not count\n")
    assert subject(app) == Subject(head)
    (app / "a.py").write_text("a = 2\n")
    changed = subject(app)
    assert changed.commit is None
    assert changed.why_not.startswith(f"not recorded as a check of {head[:12]}: ")
    assert "uncommitted changes to app/a.py;" in changed.why_not  # git names it


def test_a_history_that_cannot_be_opened_is_a_warning(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = load_project(make_project({"conveyor.toml": CONFIG}).root)
    monkeypatch.setenv("CONVEYOR_HISTORY_URL", f"sqlite:///{tmp_path}/missing/dir/history.db")
    warning = record(
        project, commit="a" * 40, passed=True, started_at=T0, finished_at=T0, summary="ok"
    )
    assert warning is not None
    assert warning.startswith(
        "the check result was not recorded in the history: cannot open history database"
    )
    assert "\n" not in warning
