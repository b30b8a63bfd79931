"""Finding the project's environment: its venv, or one to make from its requirements."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conveyor.checks.plan import build_plan
from conveyor.checks.venv import VENVS, declared, find_env
from conveyor.project.model import ChecksConfig


def test_a_project_venv_without_the_tools_runs_conveyors_mypy_against_it(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True
    )
    python = str(tmp_path / ".venv/bin/python")
    env = find_env(tmp_path, ["mypy", "pytest", "ruff"], environ={})
    assert (env.python, env.origin, env.make) == (python, ".venv/", ())
    assert env.missing == {"mypy", "pytest", "ruff"}
    plan = build_plan(ChecksConfig(use=["ruff", "mypy", "pytest"]), tmp_path, environ={})
    assert plan.step("ruff").argv[0] == sys.executable
    assert plan.step("mypy").argv[:5] == (
        sys.executable,
        "-m",
        "mypy",
        "--python-executable",
        python,
    )
    assert plan.step("pytest").argv[0] == python
    assert plan.warnings == (
        "pytest is not installed in the project's environment .venv/; "
        "add it to the project's dev dependencies",
    )


def test_requirements_make_an_environment_named_by_their_hash(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["celery"]\n'
        '[project.optional-dependencies]\ndev = ["pytest>=8"]\n'
        '[dependency-groups]\ntest = ["mypy"]\n'
    )
    assert declared(tmp_path) == (["pyproject.toml"], ["celery", "pytest>=8", "mypy"])
    env = find_env(tmp_path, ["pytest", "mypy", "ruff"], environ={})
    assert env.origin.startswith(f"{VENVS}/") and env.origin.endswith(" (from pyproject.toml)")
    pip = env.make[env.make.index("--") + 1 :]
    # The project's own pins win; a tool it does not list comes at conveyor's version.
    assert pip[:3] == ("celery", "pytest>=8", "mypy") and pip[3].startswith("ruff==")
    (tmp_path / "requirements.txt").write_text("redis\n")
    assert find_env(tmp_path, ["pytest"], environ={}).python != env.python
    plan = build_plan(ChecksConfig(use=["mypy"]), tmp_path, environ={})
    assert [s.name for s in plan.steps] == ["venv", "mypy"]
    assert plan.step("mypy").needs == ("venv",)
    only = build_plan(ChecksConfig(use=["mypy"]), tmp_path, only=["mypy"], environ={})
    assert [s.name for s in only.steps] == ["venv", "mypy"]


def test_no_requirements_means_conveyors_own_interpreter(tmp_path: Path) -> None:
    env = find_env(tmp_path, ["pytest"], environ={})
    assert (env.python, env.make) == (sys.executable, ())


def test_an_edited_requirements_file_makes_a_new_environment(tmp_path: Path) -> None:
    """The digest is over what the files say (their includes too), not over their paths."""
    (tmp_path / "requirements.txt").write_text("-r base.txt\ncelery==5.4.0\n")
    (tmp_path / "base.txt").write_text("redis==5.0.0\n")
    first = find_env(tmp_path, ["pytest"], environ={})
    assert find_env(tmp_path, ["pytest"], environ={}).python == first.python
    (tmp_path / "requirements.txt").write_text("-r base.txt\ncelery==5.5.3\n")
    second = find_env(tmp_path, ["pytest"], environ={})
    assert second.python != first.python
    (tmp_path / "base.txt").write_text("redis==5.2.1\n")
    assert find_env(tmp_path, ["pytest"], environ={}).python != second.python
