"""conveyor check with real tools: the coverage gate, the benchmark gate, the Python matrix."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import Project

CALC = """
def add(a: int, b: int) -> int:
    return a + b


def sub(a: int, b: int) -> int:
    return a - b


def mul(a: int, b: int) -> int:
    return a * b
"""
PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["."]

[tool.coverage.run]
source = ["calc"]
"""


def test_the_coverage_gate_fails_below_the_floor_and_passes_above(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        {
            "conveyor.toml": '[app]\nname = "calc"\n[checks]\nuse = ["pytest"]\ncoverage = 90\n',
            "pyproject.toml": PYPROJECT,
            "calc.py": CALC,
            "tests/test_calc.py": "from calc import add\n\n\ndef test_add() -> None:\n    assert add(1, 2) == 3\n",
        }
    )
    result = project.run("check")
    assert result.code == 1
    assert "--- pytest failed (exit 0): " in result.out
    assert "coverage 66.67% is below the floor of 90% (checks.coverage)\n" in result.out
    reports = project.root / ".conveyor/reports"
    assert (reports / "junit.xml").is_file() and (reports / "coverage.xml").is_file()
    assert (reports / "htmlcov/index.html").is_file()
    assert not (project.root / ".coverage").exists()
    project.write(
        {
            "tests/test_more.py": "from calc import mul, sub\n\n\ndef test_rest() -> None:\n    assert sub(3, 1) == mul(2, 1)\n"
        }
    )
    result = project.run("check")
    assert result.code == 0, result.out
    assert "coverage 100.00% (floor 90%)" in result.out
    again = project.run("check")
    assert "pytest: cached" in again.out


BENCH_TEST = """
from slow import work


def test_work(benchmark) -> None:
    benchmark.pedantic(work, rounds=20, iterations=1, warmup_rounds=2)
"""


def test_the_benchmark_gate_fails_a_slowed_function_and_not_a_rerun(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        {
            # 50%: a machine busy with other tests once measured the same code 12% slower
            # (p = 0.000); the slowed function below is 100% slower.
            "conveyor.toml": (
                '[app]\nname = "calc"\n[checks]\nuse = ["benchmark"]\nbenchmark_threshold = 50.0\n'
            ),
            "pyproject.toml": PYPROJECT,
            "slow.py": "import time\n\n\ndef work() -> None:\n    time.sleep(0.003)\n",
            "tests/test_bench.py": BENCH_TEST,
        }
    )
    first = project.run("check")
    assert first.code == 0, first.out
    assert "benchmark: baseline for branch default recorded" in first.out
    baseline = json.loads((project.root / ".conveyor/benchmarks/default.json").read_text())
    assert len(baseline["tests/test_bench.py::test_work"]) == 20
    # The same code again: the difference is noise and the gate passes.
    same = project.run("check", "--no-cache")
    assert same.code == 0, same.out
    assert "benchmark: compared with the baseline of branch default" in same.out
    project.write({"slow.py": "import time\n\n\ndef work() -> None:\n    time.sleep(0.006)\n"})
    slowed = project.run("check")
    assert slowed.code == 1, slowed.out
    assert "tests/test_bench.py::test_work: " in slowed.out
    assert ") REGRESSION\n" in slowed.out
    assert "benchmark: 1 regression(s) slower than 50% beyond the noise (p < 0.05)" in slowed.out


MATRIX = """
[app]
name = "calc"

[checks]
use = []
python = ["3.12", "3.99"]

[checks.steps.version]
run = ["{python}", "-c", "import sys; print(sys.version_info[:2])"]
matrix = true
"""
MISSING = (
    "Python 3.99 not found (looked in uv, pyenv, PATH); missing interpreters are an error "
    "in CI and a warning locally ({}); install with: uv python install 3.99 or pyenv install 3.99"
)


def test_the_matrix_warns_locally_about_a_missing_interpreter(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    project = make_project({"conveyor.toml": MATRIX})
    result = project.run("check")
    assert result.code == 0, result.out
    assert result.out.startswith(
        "warning: " + MISSING.format("not in CI: a warning, the tests skip them") + "\n"
    )
    assert "version@3.12: passed" in result.out
    assert "(3, 12)" in (project.root / ".conveyor/logs/version@3.12.log").read_text()


def test_the_matrix_fails_in_ci_on_a_missing_interpreter(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    project = make_project({"conveyor.toml": MATRIX})
    result = project.run("check")
    assert result.code == 1
    assert result.out.startswith("error: " + MISSING.format("CI=true: an error") + "\n")
    assert "version@3.12: passed" in result.out
    assert "FAILED: 1 passed, 0 cached, 0 failed in " in result.out
    only = project.run("check", "--python", "3.12")
    assert only.code == 0


def test_presets_on_a_clean_project(make_project: Callable[..., Project]) -> None:
    project = make_project(
        {
            "conveyor.toml": '[app]\nname = "calc"\n[checks]\nuse = ["ruff-format", "ruff", "black", "isort", "flake8", "mypy", "bandit"]\n',
            "pyproject.toml": '[tool.black]\nline-length = 100\n[tool.isort]\nprofile = "black"\n',
            "src/calc/__init__.py": '"""Calc."""\n\n\ndef add(a: int, b: int) -> int:\n    """Add."""\n    return a + b\n',
        }
    )
    result = project.run("check")
    assert result.code == 0, result.out
    assert "ok: 7 passed, 0 cached, 0 failed" in result.out
    project.write({"src/calc/bad.py": "import os\nx=1\n"})
    result = project.run("check", "--json")
    states = {s["name"]: s["state"] for s in json.loads(result.out)["steps"]}
    assert states == {
        "ruff-format": "failed",
        "ruff": "failed",
        "black": "failed",
        "isort": "failed",
        "flake8": "failed",
        "mypy": "passed",
        "bandit": "passed",
    }


def test_the_secrets_preset_runs_conveyor_scan(make_project: Callable[..., Project]) -> None:
    project = make_project({"conveyor.toml": '[app]\nname = "calc"\n[checks]\nuse = ["secrets"]\n'})
    result = project.run("check", "--dry-run")
    assert result.out.endswith(" -m conveyor scan\n")
