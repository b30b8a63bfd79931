"""`conveyor check` records its result in the history, by commit and checks configuration.

A project with one quick step (a Python one-liner) in a real git repository; the history
is the project's own SQLite file, or $CONVEYOR_HISTORY_URL.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.checks.record import checks_digest
from conveyor.history import HistoryStore
from conveyor.history.models import CheckRow
from conveyor.project.load import load_project
from tests.conftest import Project

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
CONFIG = """\
    [app]
    name = "shop"

    [checks]
    use = []

    [checks.steps.gate]
    run = ["{python}", "gate.py"]
    inputs = ["gate.py"]
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(make_project: Callable[..., Project]) -> Project:
    """A committed project whose one check step passes."""
    project = make_project(
        {"conveyor.toml": CONFIG, "gate.py": "pass\n", ".gitignore": ".conveyor/\n"}, mode=None
    )
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", ".")
    git(project.root, "commit", "-q", "-m", "first")
    return project


def checks(project: Project) -> list[CheckRow]:
    with HistoryStore.for_project(project.root) as store:
        from sqlalchemy import select

        with store._session() as session:
            return list(session.scalars(select(CheckRow).order_by(CheckRow.id)))


def test_a_check_of_a_clean_commit_is_recorded(repo: Project) -> None:
    result = repo.run("check")
    assert result.code == 0, result.out + result.err
    assert result.err == ""
    head = git(repo.root, "rev-parse", "HEAD")
    [row] = checks(repo)
    digest = checks_digest(load_project(repo.root))
    assert (row.commit, row.config, row.passed, row.summary) == (
        head,
        digest,
        True,
        "1 passed, 0 cached, 0 failed",
    )
    assert row.started_at <= row.finished_at
    with HistoryStore.for_project(repo.root) as store:
        found = store.check_passed(head, digest)
    assert found is not None and found.id == row.id


def test_a_failed_check_is_recorded_as_failed_and_json_runs_count(repo: Project) -> None:
    repo.write({"gate.py": "raise SystemExit(3)\n"})
    git(repo.root, "commit", "-q", "-am", "break the gate")
    assert repo.run("check", "--json").code == 1
    [row] = checks(repo)
    assert (row.passed, row.summary) == (False, "0 passed, 0 cached, 1 failed")
    with HistoryStore.for_project(repo.root) as store:
        assert store.check_passed(row.commit, row.config) is None


def test_a_dirty_tree_is_not_recorded_and_says_so(repo: Project) -> None:
    repo.write({"gate.py": "x = 1\n"})
    result = repo.run("check")
    assert result.code == 0
    head = git(repo.root, "rev-parse", "HEAD")
    assert result.err == (
        f"note: not recorded as a check of {head[:12]}: uncommitted changes to gate.py; "
        "commit, then run conveyor check again (cached steps take no time)\n"
    )
    assert checks(repo) == []


def test_only_a_run_of_the_whole_pipeline_is_recorded(repo: Project) -> None:
    for partial in (["gate"], ["--fast"], ["--python", "3.11"], ["--dry-run"]):
        repo.run("check", *partial)
    assert not (repo.root / ".conveyor" / "history.db").exists()


def test_a_project_outside_git_records_nothing(make_project: Callable[..., Project]) -> None:
    project = make_project({"conveyor.toml": CONFIG, "gate.py": "pass\n"}, mode=None)
    result = project.run("check")
    assert (result.code, result.err) == (0, "")
    assert not (project.root / ".conveyor" / "history.db").exists()


def test_a_history_that_cannot_be_written_warns_and_the_check_passes(
    repo: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_HISTORY_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:1/x")
    result = repo.run("check")
    assert result.code == 0, result.err
    assert result.err.startswith(
        "warning: the check result was not recorded in the history: "
        "cannot open history database postgresql+psycopg://nobody:***@127.0.0.1:1/x"
    )
    assert "secret" not in result.err and len(result.err.splitlines()) == 1
