"""The commits a deploy brings and the hotfix mark, read from a real git repository."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conveyor.deploy.changes import brought, is_hotfix_ref, record_changes
from conveyor.history import Change, HistoryStore
from tests.unit.history.conftest import T0, Clock, deploy

GIT = ["git", "-c", "user.name=Ann", "-c", "user.email=ann@example.com"]


def git(root: Path, *args: str, when: datetime | None = None) -> str:
    env = {**os.environ}
    if when is not None:  # committer time (and author time) of a new commit
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = when.isoformat()
    done = subprocess.run(
        [*GIT, *args], cwd=root, check=True, capture_output=True, text=True, env=env
    )
    return done.stdout.strip()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[HistoryStore]:
    """A history on SQLite with the test's clock (as in tests/unit/history)."""
    with HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", clock=clock) as opened:
        yield opened


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    """Four commits an hour apart on main, ending 1 h before T0; their hashes, oldest first."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shas = []
    for n in range(4):
        (root / "n.txt").write_text(f"{n}\n")
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", f"commit {n}", when=T0 - timedelta(hours=4 - n))
        shas.append(git(root, "rev-parse", "HEAD"))
    return root, shas


def test_a_first_deploy_brings_its_own_commit_only(repo: tuple[Path, list[str]]) -> None:
    root, shas = repo
    found = brought(root, shas[3], previous=None)
    assert found.changes == (Change(shas[3], T0 - timedelta(hours=1), "Ann <ann@example.com>"),)
    assert found.note is None


def test_a_deploy_brings_what_the_previous_one_lacked_newest_first(
    repo: tuple[Path, list[str]],
) -> None:
    root, shas = repo
    found = brought(root, shas[3], previous=shas[0])
    assert [c.sha for c in found.changes] == [shas[3], shas[2], shas[1]]
    assert [c.committed_at for c in found.changes] == [T0 - timedelta(hours=h) for h in (1, 2, 3)]
    assert found.changes[0].committed_at.tzinfo is not None


def test_the_same_commit_again_or_an_older_one_brings_nothing(
    repo: tuple[Path, list[str]],
) -> None:
    root, shas = repo
    assert brought(root, shas[2], previous=shas[2]).changes == ()
    assert brought(root, shas[1], previous=shas[3]) == brought(root, "", previous=None)
    assert brought(root, "", previous=None).changes == ()


def test_a_long_range_is_cut_to_the_newest_and_says_so(repo: tuple[Path, list[str]]) -> None:
    root, shas = repo
    found = brought(root, shas[3], previous=shas[0], cap=2)
    assert [c.sha for c in found.changes] == [shas[3], shas[2]]
    assert found.note == (
        f"changes: more than 2 commits since {shas[0][:12]}; recorded the newest 2"
    )


def test_a_range_git_cannot_read_keeps_the_manifests_time(repo: tuple[Path, list[str]]) -> None:
    root, shas = repo
    unknown = "0" * 40  # a previous deploy's commit this clone does not have
    found = brought(root, shas[3], previous=unknown, commit_time="2026-11-23T14:01:02+00:00")
    assert found.changes == (Change(shas[3], T0 - timedelta(hours=1), ""),)
    assert found.note is not None
    assert found.note.startswith("changes: git could not list the commits (git log failed in ")
    assert found.note.endswith("); recorded the deployed commit only")
    lost = brought(root, "1" * 40, previous=None, commit_time="")
    assert lost.changes == () and lost.note is not None and lost.note.endswith("recorded no commit")


def test_hotfix_branches_are_hotfixes(repo: tuple[Path, list[str]]) -> None:
    root, shas = repo
    assert not is_hotfix_ref(root, "HEAD")  # on main
    git(root, "branch", "hotfix/login")
    git(root, "branch", "hotfix-42")
    git(root, "branch", "hotfixes")  # neither hotfix/ nor hotfix-
    git(root, "tag", "hotfix-tag")
    git(root, "update-ref", "refs/remotes/origin/hotfix/pay", shas[2])
    assert is_hotfix_ref(root, "hotfix/login") and is_hotfix_ref(root, "hotfix-42")
    assert is_hotfix_ref(root, "origin/hotfix/pay")
    assert not is_hotfix_ref(root, "hotfixes") and not is_hotfix_ref(root, "hotfix-tag")
    assert not is_hotfix_ref(root, shas[1]) and not is_hotfix_ref(root, "no-such-ref")
    assert not is_hotfix_ref(root, "--all")
    git(root, "checkout", "-q", "hotfix/login")
    assert is_hotfix_ref(root, "HEAD")
    git(root, "checkout", "-q", "--detach")
    assert not is_hotfix_ref(root, "HEAD")
    assert not is_hotfix_ref(root / "not-a-repo", "hotfix/login")


def test_a_deploy_records_what_it_brings_since_the_last_succeeded_deploy(
    repo: tuple[Path, list[str]], store: HistoryStore, clock: Clock
) -> None:
    root, shas = repo
    first = deploy(store, commit=shas[0])
    assert record_changes(store, first, root=root, environment="production", commit=shas[0]) is None
    store.finish(first, status="succeeded", message="ok")
    clock.advance(60)
    failed = deploy(store, commit=shas[2])  # failed: its commits come again with the next one
    record_changes(store, failed, root=root, environment="production", commit=shas[2])
    store.finish(failed, status="failed", message="unhealthy")
    back = deploy(store, kind="rollback", commit="")  # not a deploy: never the base
    store.finish(back, status="succeeded", message="ok")
    clock.advance(60)
    third = deploy(store, commit=shas[3])
    record_changes(store, third, root=root, environment="production", commit=shas[3])
    found = store.changes([first, failed, third])
    assert [c.sha for c in found[first]] == [shas[0]]
    assert [c.sha for c in found[failed]] == [shas[2], shas[1]]
    assert [c.sha for c in found[third]] == [shas[3], shas[2], shas[1]]


def test_a_history_that_cannot_take_the_changes_is_a_note(
    repo: tuple[Path, list[str]], store: HistoryStore
) -> None:
    root, shas = repo
    note = record_changes(store, "d-none", root=root, environment="production", commit=shas[0])
    assert note == "changes: not recorded (no deploy 'd-none' in the history at " + (
        f"{store.shown})"
    )


def test_committer_times_keep_their_instant(repo: tuple[Path, list[str]]) -> None:
    root, _ = repo
    (root / "n.txt").write_text("east\n")
    git(
        root,
        "commit",
        "-qam",
        "east",
        when=datetime(2026, 11, 24, 9, tzinfo=timezone(timedelta(hours=9))),
    )
    [change] = brought(root, git(root, "rev-parse", "HEAD"), previous=None).changes
    assert change.committed_at == datetime(2026, 11, 24, 0, tzinfo=timezone.utc)
