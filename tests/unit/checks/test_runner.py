"""The runner on real commands: failing commands, commands that cannot start, events."""

from __future__ import annotations

import sys
from pathlib import Path

from conveyor.checks.runner import Options, StepResult, failed, run_plan
from conveyor.checks.step import Plan, Step


def test_exit_2_is_a_failure(tmp_path: Path) -> None:
    step = Step("secrets", (sys.executable, "-c", "raise SystemExit(2)"))
    seen: list[str] = []
    [result] = run_plan(Plan((step,)), tmp_path, Options(), lambda r: seen.append(r.state))
    assert (result.state, result.exit_code, result.note) == ("failed", 2, "")
    assert seen == ["running", "failed"]
    assert failed([result]) == [result]


def test_a_command_that_cannot_start_fails_with_127(tmp_path: Path) -> None:
    step = Step("x", ("/no/such/tool",))
    [result] = run_plan(Plan((step,)), tmp_path, Options(jobs=1), lambda r: None)
    assert (result.state, result.exit_code) == ("failed", 127)
    assert result.output == "cannot run /no/such/tool: No such file or directory\n"


def test_uncacheable_steps_always_run(tmp_path: Path) -> None:
    step = Step("audit", (sys.executable, "-c", ""), cacheable=False)
    results: list[StepResult] = []
    for _ in range(2):
        results += run_plan(Plan((step,)), tmp_path, Options(), lambda r: None)
    assert [r.state for r in results] == ["passed", "passed"]
