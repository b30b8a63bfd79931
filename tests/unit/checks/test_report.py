"""Trimming failing output, status lines and the summary."""

from __future__ import annotations

from conveyor.checks.report import as_json, status_line, summary, trim
from conveyor.checks.runner import StepResult
from conveyor.checks.step import Step

STEP = Step("mypy", ("python", "-m", "mypy"))


def test_trim_keeps_short_output_and_cuts_the_middle_of_long_output() -> None:
    assert trim("a\nb\n") == "a\nb"
    long = "\n".join(str(i) for i in range(50))
    assert trim(long, head=2, tail=3) == "0\n1\n... 45 lines not shown ...\n47\n48\n49"


def test_trim_starts_at_pytests_summary() -> None:
    output = "collected 3 items\n...F\n=== FAILURES ===\ntest_x failed\n=== short test summary info ===\nFAILED x\n"
    assert (
        trim(output) == "=== FAILURES ===\ntest_x failed\n=== short test summary info ===\nFAILED x"
    )


def test_status_lines() -> None:
    assert status_line(StepResult(STEP, "passed", 1.234)) == "mypy: passed in 1.23s"
    cached = StepResult(STEP, "cached", key="0123456789abcdef")
    assert (
        status_line(cached)
        == "mypy: cached (passed before with the same key 0123456789ab), skipped"
    )
    assert status_line(StepResult(STEP, "running")) == "mypy: running"
    assert status_line(StepResult(STEP, "blocked", note="not run: x")) == "mypy: not run: x"


def test_summary_and_json() -> None:
    results = [
        StepResult(STEP, "passed"),
        StepResult(STEP, "cached"),
        StepResult(STEP, "failed", output="boom"),
    ]
    assert summary(results) == "1 passed, 1 cached, 1 failed"
    report = as_json(results, warnings=["w"], errors=[])
    assert report["ok"] is False and report["warnings"] == ["w"]
    assert [s["output"] for s in report["steps"]] == ["", "", "boom"]
    assert as_json(results[:2], warnings=[], errors=["missing"])["ok"] is False
    assert as_json(results[:2], warnings=[], errors=[])["ok"] is True
