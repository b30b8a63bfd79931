"""`conveyor build` through main(): the summary, --json, already built, a refused dirty tree."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import Project

FILES = {
    "conveyor.toml": """\
        [app]
        name = "shop"
        python = "3.11"

        [environments.staging]
        hosts = { app = ["local"] }
    """,
    ".gitignore": ".conveyor/\n",
    "requirements.txt": "fastapi==0.115.0\n",
    "shop/main.py": "app = None\n",
}


@pytest.fixture
def committed(make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project in a git repository with one commit tagged v2.0.0."""
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.invalid")
        monkeypatch.setenv(f"GIT_{who}_DATE", "2024-01-01T00:00:00+00:00")
    project = make_project(FILES, mode=0o644)
    for argv in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-qm", "one"],
        ["tag", "v2.0.0"],
    ):
        subprocess.run(["git", "-C", str(project.root), *argv], check=True)
    return project


def test_build_prints_the_release(committed: Project) -> None:
    first = committed.run("build", "--env", "staging")
    assert first.code == 0, first.err
    lines = first.out.splitlines()
    assert lines[0].startswith("built release 2.0.0-")
    release_id = lines[0].split()[-1]
    commit = subprocess.run(
        ["git", "-C", str(committed.root), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert lines[1:4] == ["  version: 2.0.0", f"  commit:  {commit}", "  files:   4"]
    assert lines[4].startswith("  lock:    ") and lines[4].endswith(" (from requirements.txt)")
    assert lines[5] == f"  path:    {committed.root / '.conveyor' / 'releases' / release_id}"
    again = committed.run("build", "--env", "staging")
    assert again.out.splitlines()[0] == f"already built release {release_id}"


def test_build_json(committed: Project) -> None:
    result = committed.run("build", "--json")
    data = json.loads(result.out)
    assert data["version"] == "2.0.0" and data["files"] == 4 and data["already_built"] is False
    assert set(data) == {
        "id",
        "version",
        "commit",
        "files",
        "lock_hash",
        "lock_source",
        "path",
        "already_built",
        "notes",
        "warnings",
    }


def test_dirty_tree_refused_for_staging_noted_for_development(committed: Project) -> None:
    committed.write({"shop/main.py": "app = 1\n"})
    refused = committed.run("build", "--env", "staging")
    assert refused.code == 1 and refused.out == ""
    assert refused.err == (
        "error: the working tree has uncommitted changes to 1 tracked file(s) (shop/main.py); "
        'a release for "staging" is built from a commit only, so nothing was built\n'
        "commit or stash your changes, or build for development\n"
    )
    allowed = committed.run("build")
    assert allowed.code == 0
    assert allowed.err.startswith("note: uncommitted changes to 1 tracked file(s) (shop/main.py)")


def test_unpinned_requirement_warns_for_development(committed: Project) -> None:
    committed.write({"requirements.txt": "fastapi\n"})
    subprocess.run(["git", "-C", str(committed.root), "commit", "-qam", "unpin"], check=True)
    result = committed.run("build")
    assert result.code == 0
    assert result.err == (
        "warning: requirements.txt:1: fastapi is not pinned (use fastapi==X.Y.Z); "
        "a staging or production release would refuse it\n"
    )


def test_keep_must_be_positive(committed: Project) -> None:
    result = committed.run("build", "--keep", "0")
    assert result.code == 2
    assert (
        "Error: Invalid value for '--keep': Input should be greater than or equal to 1"
        in result.err
    )


def test_unpinned_requirement_refused_for_staging_names_staging(committed: Project) -> None:
    committed.write({"requirements.txt": "fastapi\n"})
    subprocess.run(["git", "-C", str(committed.root), "commit", "-qam", "unpin"], check=True)
    result = committed.run("build", "--env", "staging")
    assert result.code == 1 and result.out == ""
    assert result.err == (
        "error: requirements.txt:1: fastapi is not pinned (use fastapi==X.Y.Z); "
        'a release for staging (tier "staging") must be reproducible\n'
        "nothing was built; pin every requirement, or build for a development environment\n"
    )


@pytest.mark.parametrize("env", ["staging", None])
def test_a_tracked_environment_file_is_never_built_into_a_release(
    committed: Project, env: str | None
) -> None:
    committed.write({".env.production": "API_TOKEN=Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g\n"})
    committed.write({".env.example": "API_TOKEN=\n", "config/.env": "A=1\n"})
    # Templates and test data are not values files: they build (and ship) as they are.
    templates = [".env.sample", "deploy/.env.staging.template", "tests/fixtures/.env.test"]
    committed.write({name: "API_TOKEN=changeme\n" for name in templates})
    subprocess.run(
        ["git", "-C", str(committed.root), "add", "-f", ".env.production", ".env.example"],
        check=True,
    )
    subprocess.run(["git", "-C", str(committed.root), "add", "-f", *templates], check=True)
    subprocess.run(["git", "-C", str(committed.root), "add", "-f", "config/.env"], check=True)
    subprocess.run(["git", "-C", str(committed.root), "commit", "-qm", "oops"], check=True)
    commit = subprocess.run(
        ["git", "-C", str(committed.root), "rev-parse", "--short=7", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result = committed.run("build", *(["--env", env] if env else []))
    assert result.code == 1 and result.out == ""
    assert result.err == (
        f"error: .env.production, config/.env are tracked by git (commit {commit}): a release "
        "never ships an environment file (its values go to each host's shared/.env), so "
        "nothing was built\n"
        "run: git rm --cached .env.production config/.env and add them to .gitignore, "
        "then commit\n"
    )
    assert not (committed.root / ".conveyor" / "releases").exists() or not any(
        p for p in (committed.root / ".conveyor" / "releases").iterdir() if p.name[0] != "."
    )


def test_build_refuses_a_python_the_project_does_not_support(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyproject's requires-python is met by the release's Python, or nothing is built."""
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.invalid")
    pyproject = '[project]\nname = "shop"\nversion = "1"\nrequires-python = ">=3.12"\n'
    project = make_project({**FILES, "pyproject.toml": pyproject}, mode=0o644)
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run(["git", "-C", str(project.root), *argv], check=True)
    result = project.run("build", "--env", "staging")
    assert result.code == 1
    assert result.err == (
        "error: the project requires Python >=3.12 (pyproject.toml requires-python), but the "
        "release would be for Python 3.11 ([app] python in conveyor.toml); nothing was built\n"
        'set [app] python in conveyor.toml to a version that meets >=3.12, e.g. "3.12"\n'
    )


def test_build_of_a_uv_workspace_member_uses_the_root_lock(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    """backend/ in a uv workspace, with the one uv.lock at the repository's top."""
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.invalid")
    top = make_project(
        {
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["backend"]\n',
            "uv.lock": (
                'version = 1\n[manifest]\nmembers = ["backend"]\n\n'
                '[[package]]\nname = "backend"\nversion = "0.1.0"\n'
                'source = { editable = "backend" }\ndependencies = [{ name = "six" }]\n\n'
                '[[package]]\nname = "six"\nversion = "1.16.0"\n'
                'source = { registry = "https://pypi.org/simple" }\n'
            ),
            ".gitignore": ".conveyor/\n",
            "backend/conveyor.toml": FILES["conveyor.toml"],
            "backend/pyproject.toml": '[project]\nname = "backend"\ndependencies = ["six"]\n',
            "backend/shop/main.py": "app = None\n",
        },
        mode=0o644,
    )
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run(["git", "-C", str(top.root), *argv], check=True)
    backend = Project(top.root / "backend", top._capsys)
    result = backend.run("build", "--env", "staging", "--json")
    assert result.code == 0, result.err
    built = json.loads(result.out)
    assert built["lock_source"] == "../uv.lock (workspace member backend)", built
    assert built["warnings"] == []
