"""conveyor check end to end: DAG, parallelism, cache and --why, failures, --json, masking."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Project

STAMP = "import sys, time; open(sys.argv[1], 'a').write(f'{time.time()}\\n'); time.sleep(float(sys.argv[2]))"

PIPELINE = """
[app]
name = "shop"

[checks]
use = []

[checks.steps.first]
run = ["{python}", "stamp.py", "first.log", "0.6"]
inputs = ["src/**/*.py"]

[checks.steps.second]
run = ["{python}", "stamp.py", "second.log", "0.6"]
inputs = ["src/**/*.py"]

[checks.steps.last]
run = ["{python}", "stamp.py", "last.log", "0"]
needs = ["first", "second"]
inputs = ["tests/**/*.py"]
fast = true
"""


@pytest.fixture
def pipeline(make_project: Callable[..., Project]) -> Project:
    return make_project(
        {
            "conveyor.toml": PIPELINE,
            "stamp.py": STAMP + "\n",
            "src/shop/__init__.py": "X = 1\n",
            "tests/test_shop.py": "def test_x() -> None:\n    assert True\n",
        }
    )


def _start(project: Project, name: str) -> float:
    return float((project.root / f"{name}.log").read_text().split()[-1])


def test_independent_steps_run_side_by_side_and_needs_wait(pipeline: Project) -> None:
    result = pipeline.run("check", "--jobs", "2")
    assert result.code == 0, result.out
    first, second, last = (_start(pipeline, n) for n in ("first", "second", "last"))
    assert abs(first - second) < 0.4  # both started at once on two slots
    assert last >= max(first, second) + 0.6  # after both finished
    assert "ok: 3 passed, 0 cached, 0 failed" in result.out


def test_one_slot_runs_one_step_at_a_time(pipeline: Project) -> None:
    assert pipeline.run("check", "--jobs", "1").code == 0
    first, second = _start(pipeline, "first"), _start(pipeline, "second")
    assert abs(first - second) >= 0.6


def test_a_second_run_is_cached_and_a_change_reruns_only_the_readers(pipeline: Project) -> None:
    assert pipeline.run("check").code == 0
    again = pipeline.run("check")
    assert again.code == 0
    assert again.out.count("cached (passed before with the same key") == 3
    assert "ok: 0 passed, 3 cached, 0 failed" in again.out
    (pipeline.root / "tests/test_shop.py").write_text("def test_x() -> None:\n    assert 1\n")
    changed = pipeline.run("check")
    assert "first: cached" in changed.out and "second: cached" in changed.out
    assert "last: passed in" in changed.out
    why = pipeline.run("check", "--why", "first")
    assert why.out.startswith("first: cache hit: the same key passed at ")
    (pipeline.root / "src/shop/__init__.py").write_text("X = 2\n")
    (pipeline.root / "src/shop/new.py").write_text("Y = 1\n")
    why = pipeline.run("check", "--why", "first")
    assert why.out.splitlines() == [
        "first: cache miss: it runs because",
        "  input changed: src/shop/__init__.py",
        "  input added: src/shop/new.py",
    ]


def test_why_before_any_run_and_for_an_unknown_step(pipeline: Project) -> None:
    assert pipeline.run("check", "--why", "last").out == (
        "last: no passing run recorded in .conveyor/cache: it runs\n"
    )
    unknown = pipeline.run("check", "--why", "lats")
    assert unknown.code == 1
    assert (
        'error: unknown step "lats" (did you mean "last"?); steps: first, second, last'
        in unknown.err
    )


def test_fast_runs_only_fast_steps_and_dry_run_runs_nothing(pipeline: Project) -> None:
    dry = pipeline.run("check", "--dry-run")
    assert dry.code == 0
    assert "last (after first, second): " in dry.out
    assert not (pipeline.root / "first.log").exists()
    fast = pipeline.run("check", "--fast")
    assert fast.code == 0
    assert "last: passed in" in fast.out and "first" not in fast.out


FAILING = """
[app]
name = "shop"

[checks]
use = []

[checks.steps.lint]
run = ["{python}", "-c", "import os; print('\\\\n'.join(f'noise {i}' for i in range(80))); print('token is', os.environ['API_TOKEN']); raise SystemExit('lint: 1 problem')"]

[checks.steps.after]
run = ["{python}", "-c", "print('never')"]
needs = ["lint"]
"""


def test_a_failing_step_shows_trimmed_masked_output_and_how_to_rerun_it(
    make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value-1234")
    project = make_project({"conveyor.toml": FAILING})
    result = project.run("check")
    assert result.code == 1
    assert "s3cr3t-value-1234" not in result.out
    assert "token is ********" in result.out
    assert "--- lint failed (exit 1): " in result.out
    assert (
        "noise 0\nnoise 1\nnoise 2\nnoise 3\nnoise 4\n... 47 lines not shown ...\nnoise 52\n"
        in result.out
    )
    assert (
        "lint: 1 problem\nfull output: .conveyor/logs/lint.log\nrerun alone: conveyor check lint\n"
        in result.out
    )
    assert "after: not run: needs lint, which did not pass" in result.out
    assert "FAILED: 0 passed, 0 cached, 1 failed, 1 not run in " in result.out
    log = (project.root / ".conveyor/logs/lint.log").read_text()
    assert "noise 30" in log and "s3cr3t" not in log
    # A failure is not cached: the next run tries again.
    assert project.run("check").out.count("lint: failed") == 1


def test_json_output(make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value-1234")
    project = make_project({"conveyor.toml": FAILING})
    result = project.run("check", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False
    lint, after = report["steps"]
    assert (lint["name"], lint["state"], lint["exit_code"]) == ("lint", "failed", 1)
    assert lint["rerun"] == "conveyor check lint"
    assert "token is ********" in lint["output"]
    assert (after["state"], after["note"]) == ("blocked", "not run: needs lint, which did not pass")


def test_running_one_step_alone(pipeline: Project) -> None:
    result = pipeline.run("check", "last")
    assert result.code == 0
    assert not (pipeline.root / "first.log").exists()
    assert (pipeline.root / "last.log").exists()


def test_fix_mode_runs_a_writer_before_its_readers(make_project: Callable[..., Project]) -> None:
    project = make_project(
        {
            "conveyor.toml": """
            [app]
            name = "shop"
            [checks]
            use = []
            [checks.steps.reader]
            run = ["{python}", "-c", "import pathlib, sys; sys.exit(pathlib.Path('a.py').read_text() != 'fixed\\\\n')"]
            inputs = ["*.py"]
            [checks.steps.writer]
            run = ["{python}", "-c", "import pathlib, time; time.sleep(0.3); pathlib.Path('a.py').write_text('fixed\\\\n')"]
            inputs = ["*.py"]
            writes = true
            """,
            "a.py": "broken\n",
        }
    )
    result = project.run("check")
    assert result.code == 0, result.out
    assert result.out.index("writer: passed") < result.out.index("reader: passed")
    assert Path(project.root / "a.py").read_text() == "fixed\n"


def test_a_terminal_gets_a_live_table(pipeline: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    result = pipeline.run("check", "--fast")
    assert result.code == 0
    assert "conveyor check" in result.out and "last" in result.out and "passed" in result.out
    cached = pipeline.run("check", "--fast")
    assert "cached" in cached.out
