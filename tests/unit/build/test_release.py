"""Releases from real commits: determinism, dirty trees, commit files, retention, the demo app."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

import conveyor.demo
from conveyor.build.release import (
    Release,
    build_release,
    list_releases,
    load_release,
    prune_releases,
)
from conveyor.errors import BuildError, ConfigError
from tests.unit.build.conftest import Repo

PINNED = {"requirements.txt": "fastapi==0.115.0\n", "shop/__init__.py": "VERSION = 1\n"}


def test_same_commit_twice_gives_the_same_release(repo: Repo) -> None:
    commit = repo.commit(PINNED)
    repo.git("tag", "v1.4.0")
    first = build_release(repo.project(), environment="production")
    assert (first.version, first.commit, first.reused) == ("1.4.0", commit, False)
    assert first.id.startswith("1.4.0-") and len(first.id) == len("1.4.0-") + 12
    again = build_release(repo.project(), environment="production")
    assert (again.id, again.reused, again.manifest) == (first.id, True, first.manifest)
    # Another clone of the same commit, built elsewhere, gets the same id.
    clone = repo.root.parent / "clone"
    repo.git("clone", "-q", str(repo.root), str(clone))
    elsewhere = build_release(Repo(clone).project(), environment="production")
    assert elsewhere.id == first.id


def test_layout_and_manifest(repo: Repo) -> None:
    commit = repo.commit({**PINNED, "bin/run": "#!/bin/sh\n"})
    (repo.root / "bin/run").chmod(0o755)
    os.symlink("shop/__init__.py", repo.root / "link.py")
    repo.commit()
    release = build_release(repo.project())
    assert release.path == repo.root / ".conveyor" / "releases" / release.id
    assert sorted(p.name for p in release.path.iterdir()) == [
        "app",
        "manifest.json",
        "requirements.lock",
    ]
    assert (release.path / "requirements.lock").read_text() == "fastapi==0.115.0\n"
    assert os.readlink(release.path / "app/link.py") == "shop/__init__.py"
    assert os.access(release.path / "app/bin/run", os.X_OK)
    data = json.loads((release.path / "manifest.json").read_text())
    assert data["app"] == "shop" and data["python"] == "3.11" and data["format"] == 1
    assert (
        data["lock_hash"] == release.lock_hash == hashlib.sha256(b"fastapi==0.115.0\n").hexdigest()
    )
    assert data["lock_source"] == "requirements.txt"
    assert data["commit"] != commit and data["commit_time"] == "2024-01-01T00:02:00+00:00"
    modes = {f["path"]: f["mode"] for f in data["files"]}
    assert modes == {
        "bin/run": "100755",
        ".gitignore": "100644",
        "conveyor.toml": "100644",
        "link.py": "120000",
        "requirements.txt": "100644",
        "shop/__init__.py": "100644",
    }
    entry = next(f for f in data["files"] if f["path"] == "shop/__init__.py")
    assert entry["sha256"] == hashlib.sha256(b"VERSION = 1\n").hexdigest() and entry["size"] == 12
    assert load_release(repo.project(), release.id) == release


def test_dirty_tree_is_refused_for_production(repo: Repo) -> None:
    repo.commit(PINNED)
    repo.write({"shop/__init__.py": "VERSION = 2\n"})
    with pytest.raises(BuildError) as raised:
        build_release(repo.project(), environment="production")
    assert str(raised.value) == (
        "the working tree has uncommitted changes to 1 tracked file(s) (shop/__init__.py); "
        'a release for "production" is built from a commit only, so nothing was built\n'
        "commit or stash your changes, or build for development"
    )
    assert not (repo.root / ".conveyor" / "releases").exists()


def test_dirty_tree_is_allowed_for_development_and_the_files_are_the_commits(repo: Repo) -> None:
    commit = repo.commit(PINNED)
    repo.write({"shop/__init__.py": "VERSION = 2\n", "untracked.py": "x = 1\n"})
    release = build_release(repo.project(), environment="development")
    assert release.notes == (
        "uncommitted changes to 1 tracked file(s) (shop/__init__.py) are not in the release: "
        f"it is built from commit {commit[:7]}",
    )
    assert (release.path / "app/shop/__init__.py").read_text() == "VERSION = 1\n"
    assert not (release.path / "app/untracked.py").exists()
    assert build_release(repo.project()).id == release.id  # no environment: development too


def test_an_older_ref_ignores_the_dirty_tree(repo: Repo) -> None:
    first = repo.commit(PINNED)
    repo.commit({"shop/__init__.py": "VERSION = 2\n"})
    repo.write({"shop/__init__.py": "VERSION = 3\n"})
    release = build_release(repo.project(), ref=first[:10], environment="production")
    assert release.commit == first and release.notes == ()
    assert (release.path / "app/shop/__init__.py").read_text() == "VERSION = 1\n"


def test_unpinned_requirements(repo: Repo) -> None:
    repo.commit({"requirements.txt": "fastapi\n"})
    with pytest.raises(BuildError, match=r"^requirements.txt:1: fastapi is not pinned"):
        build_release(repo.project(), environment="production")
    release = build_release(repo.project(), environment="development")
    assert release.warnings == (
        "requirements.txt:1: fastapi is not pinned (use fastapi==X.Y.Z); "
        "a staging or production release would refuse it",
    )


def test_retention_keeps_the_newest(repo: Repo) -> None:
    ids = []
    for n in range(4):
        repo.commit({**PINNED, "shop/__init__.py": f"VERSION = {n}\n"})
        ids.append(build_release(repo.project(), keep=3).id)
    assert [r.id for r in list_releases(repo.project())] == ids[:0:-1]
    # Building an old commit again does not delete it, even when it is the oldest.
    repo.git("checkout", "-q", "HEAD~3")
    rebuilt = build_release(repo.project(), keep=2)
    assert rebuilt.id == ids[0] and not rebuilt.reused
    assert rebuilt.notes == (f"removed 2 old release(s), keeping 2: {ids[2]}, {ids[1]}",)
    assert [r.id for r in list_releases(repo.project())] == [ids[0], ids[3]]
    assert prune_releases(repo.project(), keep=1) == (ids[3],)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"ref": "nope"},
            BuildError,
            '"nope" does not name a commit in {root}\ngive a branch, tag or commit hash with --ref (default: HEAD)',
        ),
        ({"keep": 0}, BuildError, "keep must be at least 1, got 0\nnothing was built"),
        (
            {"environment": "prodution"},
            ConfigError,
            'unknown environment "prodution" (did you mean "production"?); known: "development", "production"',
        ),
    ],
)
def test_errors(
    repo: Repo, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    repo.commit(PINNED)
    with pytest.raises(error) as raised:
        build_release(repo.project(), **kwargs)  # type: ignore[arg-type]
    assert str(raised.value) == message.format(root=repo.root)


def test_not_a_git_repository(repo: Repo) -> None:
    shutil.rmtree(repo.root / ".git")
    with pytest.raises(
        BuildError, match=r"^git rev-parse failed in .*: fatal: not a git repository"
    ):
        build_release(repo.project())


def test_unknown_release(repo: Repo) -> None:
    repo.commit(PINNED)
    with pytest.raises(BuildError) as raised:
        load_release(repo.project(), "1.0.0-abc")
    assert str(raised.value) == 'no release "1.0.0-abc" in .conveyor/releases\nrun: conveyor build'
    built = build_release(repo.project())
    with pytest.raises(BuildError) as raised:
        load_release(repo.project(), "../x")
    assert str(raised.value).endswith(f"highest versions: {built.version} ({built.id})")


def test_a_release_by_its_version_or_its_hash_listed_by_version(repo: Repo) -> None:
    repo.commit(PINNED)
    repo.git("tag", "v1.10.0")
    ten = build_release(repo.project())
    repo.commit({"x.py": ""})
    repo.git("tag", "v1.9.0")
    nine = build_release(repo.project())  # built later, a lower version
    project = repo.project()
    assert (ten.version, nine.version) == ("1.10.0", "1.9.0")
    assert load_release(project, "1.10.0").id == ten.id == f"1.10.0-{ten.id[-12:]}"
    assert load_release(project, ten.id[-12:]).id == ten.id
    assert load_release(project, nine.id).id == nine.id
    with pytest.raises(BuildError) as raised:
        load_release(project, "1.11.0")
    assert str(raised.value) == (
        'no release "1.11.0" in .conveyor/releases\n'
        f"highest versions: 1.10.0 ({ten.id}), 1.9.0 ({nine.id})"
    )
    twin = ten.path.with_name("1.10.0-000000000000")
    shutil.copytree(ten.path, twin)
    with pytest.raises(BuildError) as raised:
        load_release(project, "1.10.0")
    first, second = sorted([ten.id, twin.name])
    assert str(raised.value) == (
        f'"1.10.0" names 2 releases in .conveyor/releases: {first}, {second}\n'
        "give one of these release ids"
    )


def test_project_in_a_subdirectory_takes_only_its_files(repo: Repo) -> None:
    repo.write({"services/api/conveyor.toml": (repo.root / "conveyor.toml").read_text()})
    (repo.root / "conveyor.toml").unlink()
    repo.commit({"services/api/requirements.txt": "fastapi==0.115.0\n", "other/x.py": ""})
    release = build_release(Repo(repo.root / "services/api").project())
    assert [f.path for f in release.manifest.files] == ["conveyor.toml", "requirements.txt"]


def test_committed_conveyor_state_is_left_out(repo: Repo) -> None:
    repo.commit({**PINNED, ".gitignore": "", ".conveyor/releases/old/manifest.json": "{}"})
    release = build_release(repo.project())
    assert ".conveyor/releases/old/manifest.json" not in {f.path for f in release.manifest.files}
    assert release.notes == ("1 file(s) under .conveyor/ are committed; left out of the release",)


def test_the_bundled_demo_app(repo: Repo) -> None:
    source = Path(conveyor.demo.__file__).parent / "app"
    shutil.copytree(
        source,
        repo.root,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"),
    )
    commit = repo.commit(message="movies")
    repo.git("tag", "v1.0.0")
    release = build_release(repo.project(), environment="production")
    manifest = release.manifest
    assert (manifest.app, manifest.version, manifest.commit) == ("shop", "1.0.0", commit)
    assert manifest.lock_source == "requirements.txt"
    lock = (release.path / "requirements.lock").read_text().splitlines()
    assert "fastapi==0.165.0" in lock and "psycopg[binary]==3.3.9" in lock
    paths = {f.path for f in manifest.files}
    assert {"movies/main.py", "alembic.ini", "requirements.txt", "movies/data/movies.csv"} <= paths
    for entry in manifest.files:
        data = (release.path / "app" / entry.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256


def test_a_build_waits_for_one_under_way_and_reuses_its_release(repo: Repo) -> None:
    """Builds of one project take turns (a real flock): the second waits, then finds the
    release the first wrote and writes nothing of its own, so neither removes the other's
    files."""
    repo.commit(PINNED)
    project = repo.project()
    first = build_release(project, environment="production")
    releases = first.path.parent
    results: list[Release] = []
    with (releases / ".build.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another build of this project is writing or pruning
        waiting = threading.Thread(
            target=lambda: results.append(build_release(project, environment="production"))
        )
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive(), "the second build did not wait for the first"
    waiting.join(timeout=60)
    assert [(r.id, r.reused) for r in results] == [(first.id, True)]
    assert sorted(p.name for p in releases.iterdir()) == [".build.lock", first.id]


def test_a_release_in_use_is_never_pruned(repo: Repo) -> None:
    """The oldest release, still served by a host (the history says so), outlives `keep`."""
    ids = []
    for n in range(3):
        repo.commit({**PINNED, "shop/__init__.py": f"VERSION = {n}\n"})
        ids.append(build_release(repo.project(), keep=1, protect={ids[0]} if ids else ()).id)
    assert {r.id for r in list_releases(repo.project())} == {ids[0], ids[2]}
