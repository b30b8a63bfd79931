"""Locks: the source a commit has, unpinned requirements, the hash, pyproject resolution."""

from __future__ import annotations

import hashlib
import json
import socket
import textwrap
from pathlib import Path

import pytest

from conveyor.build.lock import Lock, lock_requirements, make_lock
from conveyor.build.requirements import Pin
from conveyor.build.resolve import pins_from_report, resolve_dependencies
from conveyor.errors import BuildError

UNPINNED = """\
    fastapi==0.115.0
    uvicorn[standard]>=0.30
    httpx
"""


PRODUCTION = 'production (tier "production")'


def lock(files: dict[str, str], *, strict: str | None, cache: Path | None = None) -> Lock:
    texts = {name: textwrap.dedent(text) for name, text in files.items()}
    return lock_requirements(
        texts.get, strict=strict, python="3.11", cache=cache or Path("/nonexistent")
    )


def test_unpinned_requirements_fail_for_production() -> None:
    with pytest.raises(BuildError) as raised:
        lock({"requirements.txt": UNPINNED}, strict=PRODUCTION)
    assert str(raised.value) == (
        "requirements.txt:2: uvicorn is not pinned (use uvicorn[standard]==X.Y.Z); "
        'a release for production (tier "production") must be reproducible\n'
        "requirements.txt:3: httpx is not pinned (use httpx==X.Y.Z); "
        'a release for production (tier "production") must be reproducible\n'
        "nothing was built; pin every requirement, or build for a development environment"
    )


def test_unpinned_requirements_warn_otherwise() -> None:
    made = lock({"requirements.txt": UNPINNED}, strict=None)
    assert made.lines == ("fastapi==0.115.0", "httpx", "uvicorn[standard]>=0.30")
    assert made.warnings == (
        "requirements.txt:2: uvicorn is not pinned (use uvicorn[standard]==X.Y.Z); "
        "a staging or production release would refuse it",
        "requirements.txt:3: httpx is not pinned (use httpx==X.Y.Z); "
        "a staging or production release would refuse it",
    )


def test_hash_is_sha256_of_the_sorted_lines() -> None:
    made = lock(
        {"requirements.txt": "pydantic-settings==2.0\nPydantic==2.8\npydantic==2.8\n"},
        strict=PRODUCTION,
    )
    assert made.text == "pydantic==2.8\npydantic-settings==2.0\n"
    assert made.hash == hashlib.sha256(made.text.encode()).hexdigest()
    again = lock(
        {"requirements.txt": "# same pins, other order\npydantic==2.8\npydantic_settings==2.0\n"},
        strict=PRODUCTION,
    )
    assert again.hash == made.hash


def test_one_package_pinned_twice_is_an_error() -> None:
    with pytest.raises(BuildError) as raised:
        make_lock(
            "requirements.txt",
            (Pin("fastapi", "==1.0", where="a.txt:1"), Pin("fastapi", "==2.0", where="b.txt:4")),
            strict=PRODUCTION,
        )
    assert str(raised.value) == (
        "b.txt:4: fastapi is required as 'fastapi==2.0' here and as 'fastapi==1.0' at a.txt:1\n"
        "keep one of them"
    )


def test_uv_lock_wins_over_requirements(uv_lock_text: str) -> None:
    made = lock({"uv.lock": uv_lock_text, "requirements.txt": "httpx\n"}, strict=PRODUCTION)
    assert made.source == "uv.lock"


def test_no_source_is_an_empty_lock_with_a_warning() -> None:
    made = lock({"pyproject.toml": "[tool.ruff]\n"}, strict=PRODUCTION)
    assert (made.source, made.lines, made.text) == ("none", (), "")
    assert made.warnings == (
        "no uv.lock, requirements.txt or [project] dependencies: the lock is empty",
    )


def test_dynamic_dependencies_are_an_error() -> None:
    pyproject = '[project]\nname = "x"\ndynamic = ["dependencies"]\n'
    with pytest.raises(BuildError) as raised:
        lock({"pyproject.toml": pyproject}, strict=PRODUCTION)
    assert str(raised.value) == (
        "pyproject.toml: dependencies are dynamic, so conveyor cannot read them\n"
        "pin them in requirements.txt or commit a uv.lock"
    )


def test_pyproject_is_resolved_once_then_cached(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "x"\ndependencies = ["six"]\n'
    key = hashlib.sha256(json.dumps(["3.11", ["six"]]).encode()).hexdigest()[:16]
    (tmp_path / f"{key}.json").write_text('[{"name": "six", "spec": "==1.16.0"}]')
    made = lock({"pyproject.toml": pyproject}, strict=PRODUCTION, cache=tmp_path)
    assert (made.source, made.lines) == ("pyproject.toml", ("six==1.16.0",))
    assert made.warnings == (
        "this release is not locked: no uv.lock or requirements.txt, so its pins were resolved "
        "now from the version ranges in pyproject.toml and a later build may get others; "
        "run: uv lock, and commit uv.lock",
    )


WORKSPACE_LOCK = """\
version = 1
[manifest]
members = ["backend", "worker"]

[[package]]
name = "backend"
version = "0.1.0"
source = { editable = "backend" }
dependencies = [{ name = "fastapi" }]

[[package]]
name = "worker"
version = "0.1.0"
source = { editable = "worker" }
dependencies = [{ name = "celery" }]

[[package]]
name = "fastapi"
version = "0.115.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "celery"
version = "5.4.0"
source = { registry = "https://pypi.org/simple" }
"""


def test_a_workspace_member_takes_its_part_of_the_root_lock() -> None:
    """A member directory without its own lock: the workspace's root uv.lock, its part only."""
    texts = {"pyproject.toml": '[project]\nname = "backend"\ndependencies = ["fastapi"]\n'}
    made = lock_requirements(
        texts.get,
        strict=PRODUCTION,
        python="3.11",
        cache=Path("/nonexistent"),
        workspace=("../uv.lock", WORKSPACE_LOCK),
    )
    assert (made.source, made.lines, made.warnings) == (
        "../uv.lock (workspace member backend)",
        ("fastapi==0.115.0",),
        (),
    )


def test_a_directory_that_is_no_member_of_the_workspace_lock() -> None:
    texts = {"pyproject.toml": '[project]\nname = "api"\ndependencies = ["fastapi"]\n'}
    with pytest.raises(BuildError) as raised:
        lock_requirements(
            texts.get,
            strict=None,
            python="3.11",
            cache=Path("/nonexistent"),
            workspace=("../uv.lock", WORKSPACE_LOCK),
        )
    assert str(raised.value) == (
        '../uv.lock: the uv workspace lock has no member named "api" (members: backend, worker); '
        "nothing was built\n"
        "add this directory to [tool.uv.workspace] members in the workspace's pyproject.toml, "
        "then run: uv lock"
    )


def test_the_root_of_a_virtual_workspace_says_where_to_run() -> None:
    with pytest.raises(BuildError) as raised:
        lock({"uv.lock": WORKSPACE_LOCK}, strict=None)
    assert str(raised.value) == (
        "uv.lock: a uv workspace lock (members: backend, worker) with no package for this "
        "directory itself; nothing was built\n"
        "run conveyor in the directory of the member to deploy (e.g. cd backend && conveyor "
        "init): a member's release uses its part of this lock"
    )


def test_pins_from_pip_report() -> None:
    report = {
        "install": [
            {"metadata": {"name": "Six", "version": "1.16.0"}, "is_direct": False},
            {
                "metadata": {"name": "pkg", "version": "1.0"},
                "is_direct": True,
                "download_info": {"url": "https://example.invalid/pkg-1.0.tar.gz"},
            },
        ]
    }
    assert [p.line() for p in pins_from_report(report)] == [
        "six==1.16.0",
        "pkg @ https://example.invalid/pkg-1.0.tar.gz",
    ]


def test_missing_interpreter_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as raised:
        resolve_dependencies(("six",), python="3.99", cache=tmp_path)
    assert str(raised.value) == (
        "pyproject.toml: the dependencies are resolved for Python 3.99 (app.python), "
        "but python3.99 is not on PATH\n"
        "install that Python, or pin the dependencies in requirements.txt or a uv.lock"
    )


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _pypi_reachable(), reason="PyPI is not reachable")
def test_pip_resolves_for_real(tmp_path: Path) -> None:
    pins = resolve_dependencies(("six==1.16.0",), python="3.11", cache=tmp_path)
    assert [p.line() for p in pins] == ["six==1.16.0"]
    assert len(list(tmp_path.glob("*.json"))) == 1
