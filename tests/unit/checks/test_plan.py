"""Plans from [checks]: preset commands, options, the matrix, selection."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conveyor.checks.matrix import find_python, in_ci
from conveyor.checks.plan import build_plan
from conveyor.errors import ConfigError
from conveyor.project.model import ChecksConfig

PY = sys.executable


def _pyenv(tmp_path: Path, *versions: str) -> dict[str, str]:
    for version in versions:
        minor = ".".join(version.split(".")[:2])
        python = tmp_path / "pyenv/versions" / version / "bin" / f"python{minor}"
        python.parent.mkdir(parents=True)
        python.write_text("")
    return {"PYENV_ROOT": str(tmp_path / "pyenv"), "PATH": ""}


def test_presets_become_commands_with_their_inputs(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    checks = ChecksConfig(use=["ruff-format", "mypy", "bandit", "pytest"], coverage=80)
    plan = build_plan(checks, tmp_path, environ={"PATH": ""})
    assert [s.name for s in plan.steps] == ["ruff-format", "mypy", "bandit", "pytest"]
    ruff_format = (PY, "-m", "ruff", "format", "--check", "--extend-exclude", ".conveyor", ".")
    assert plan.step("ruff-format").argv == ruff_format
    assert plan.step("mypy").argv == (PY, "-m", "mypy", "--exclude", r"(^|/)\.conveyor/", "src")
    bandit = plan.step("bandit")
    assert bandit.argv[3:7] == ("-q", "-r", "src", "-x")
    assert bandit.inputs[0] == "src/**/*.py"
    pytest_step = plan.step("pytest")
    assert "--junitxml=.conveyor/reports/junit.xml" in pytest_step.argv
    assert "--cov-report=xml:.conveyor/reports/coverage.xml" in pytest_step.argv
    assert pytest_step.gate is not None and pytest_step.gate.minimum == 80
    assert pytest_step.inputs == ()  # every file: tests may read anything


def test_fix_mode_makes_formatters_writers(tmp_path: Path) -> None:
    plan = build_plan(ChecksConfig(use=["black", "isort", "ruff"]), tmp_path, fix=True)
    assert all(s.writes for s in plan.steps)
    black = (PY, "-m", "black", "-q", "--extend-exclude", r"/\.conveyor/", ".")
    assert plan.step("black").argv == black
    ruff = (PY, "-m", "ruff", "check", "--fix", "--extend-exclude", ".conveyor", ".")
    assert plan.step("ruff").argv == ruff


def test_preset_options_add_arguments_and_replace_inputs(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mypy]\nfiles = ['app']\n")
    checks = ChecksConfig.model_validate(
        {"use": ["mypy"], "presets": {"mypy": {"args": ["--strict"], "inputs": ["app/**/*.py"]}}}
    )
    step = build_plan(checks, tmp_path).step("mypy")
    assert step.argv == (PY, "-m", "mypy", "--strict")
    assert step.inputs == ("app/**/*.py",)


def test_the_project_virtualenv_runs_the_tools(tmp_path: Path) -> None:
    python = tmp_path / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    step = build_plan(ChecksConfig(use=["flake8"]), tmp_path).step("flake8")
    assert step.argv[0] == str(python)
    assert step.python == str(python)


def test_matrix_expands_tests_and_their_dependants(tmp_path: Path) -> None:
    env = _pyenv(tmp_path, "3.11.2", "3.11.10", "3.12.1")
    checks = ChecksConfig.model_validate(
        {
            "use": ["ruff", "pytest"],
            "python": ["3.11", "3.12"],
            "steps": {"report": {"run": ["echo"], "needs": ["pytest"]}},
        }
    )
    plan = build_plan(checks, tmp_path, environ=env)
    assert [s.name for s in plan.steps] == ["ruff", "pytest@3.11", "pytest@3.12", "report"]
    assert plan.step("pytest@3.11").argv[0].endswith("versions/3.11.10/bin/python3.11")
    assert "--junitxml=.conveyor/reports/py3.12/junit.xml" in plan.step("pytest@3.12").argv
    assert plan.step("report").needs == ("pytest@3.11", "pytest@3.12")
    assert (plan.warnings, plan.errors) == ((), ())
    only = build_plan(checks, tmp_path, environ=env, versions=["3.12"])
    assert [s.name for s in only.steps] == ["ruff", "pytest@3.12", "report"]


def test_a_missing_interpreter_is_a_warning_locally_and_an_error_in_ci(tmp_path: Path) -> None:
    env = _pyenv(tmp_path, "3.12.1")
    checks = ChecksConfig.model_validate({"use": ["pytest"], "python": ["3.12", "3.13"]})
    local = build_plan(checks, tmp_path, environ=env)
    assert [s.name for s in local.steps] == ["pytest@3.12"]
    assert local.warnings[0].startswith("Python 3.13 not found (looked in uv, pyenv, PATH); ")
    ci = build_plan(checks, tmp_path, environ={**env, "CI": "true"})
    assert ci.warnings == () and ci.errors[0].endswith(
        "(CI=true: an error); install with: uv python install 3.13 or pyenv install 3.13"
    )


def test_selection_and_fast(tmp_path: Path) -> None:
    checks = ChecksConfig.model_validate(
        {"use": ["ruff", "mypy", "secrets"], "steps": {"docs": {"run": ["x"], "needs": ["mypy"]}}}
    )
    assert [s.name for s in build_plan(checks, tmp_path, fast=True).steps] == ["ruff", "secrets"]
    alone = build_plan(checks, tmp_path, only=["docs"])
    assert [(s.name, s.needs) for s in alone.steps] == [("docs", ())]
    with pytest.raises(
        ConfigError,
        match=r'^unknown step "mpy" \(did you mean "mypy"\?\); steps: ruff, mypy, secrets, docs$',
    ):
        build_plan(checks, tmp_path, only=["mpy"])


def test_secrets_runs_conveyor_scan_and_pip_audit_is_never_cached(tmp_path: Path) -> None:
    plan = build_plan(ChecksConfig(use=["secrets", "pip-audit"]), tmp_path)
    assert plan.step("secrets").argv == (PY, "-m", "conveyor", "scan")
    assert plan.step("pip-audit").cacheable is False


def test_find_python_on_path_skips_pyenv_shims(tmp_path: Path) -> None:
    shims, bin_ = tmp_path / "shims", tmp_path / "bin"
    for folder in (shims, bin_):
        folder.mkdir()
        (folder / "python3.42").write_text("#!/bin/sh\n")
        (folder / "python3.42").chmod(0o755)
    found = find_python("3.42", environ={"PATH": f"{shims}:{bin_}"})
    assert found is not None and (found.python, found.source) == (str(bin_ / "python3.42"), "PATH")
    assert find_python("3.42", environ={"PATH": str(shims)}) is None


def test_find_python_asks_uv_first(tmp_path: Path) -> None:
    uv = tmp_path / "uv"
    uv.write_text('#!/bin/sh\n[ "$4" = 3.40 ] && echo /opt/uv/python3.40 && exit 0\nexit 2\n')
    uv.chmod(0o755)
    found = find_python("3.40", environ={"PATH": str(tmp_path)})
    assert found is not None and (found.python, found.source) == ("/opt/uv/python3.40", "uv")
    assert find_python("3.41", environ={"PATH": str(tmp_path)}) is None


def test_in_ci() -> None:
    assert in_ci({"CI": "true"}) and in_ci({"CI": "1"}) and not in_ci({})


def test_an_unknown_preset_in_presets_is_refused() -> None:
    with pytest.raises(ValueError, match=r'unknown preset "mpy" \(did you mean "mypy"\?\)'):
        ChecksConfig.model_validate({"presets": {"mpy": {"args": []}}})
