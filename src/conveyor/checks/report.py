"""What a run says: one line per step, the failing output trimmed, the rerun command, JSON."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from conveyor.checks.runner import StepResult

HEAD = 5
TAIL = 30
# Where pytest's own summary starts: everything a person needs is below it.
_PYTEST_SUMMARY = re.compile(r"^=+ (FAILURES|ERRORS|short test summary info) =+$", re.MULTILINE)


def trim(output: str, *, head: int = HEAD, tail: int = TAIL) -> str:
    """The part of a failing step's output that matters: pytest's summary, or head and tail."""
    match = _PYTEST_SUMMARY.search(output)
    if match:
        output = output[match.start() :]
    lines = output.rstrip("\n").splitlines()
    if len(lines) <= head + tail + 1:
        return "\n".join(lines)
    hidden = len(lines) - head - tail
    return "\n".join([*lines[:head], f"... {hidden} lines not shown ...", *lines[-tail:]])


def status_line(result: StepResult) -> str:
    """`ruff  passed  0.41s`, `mypy  cached (passed before with the same inputs)`, ..."""
    name = result.step.name
    if result.state == "cached":
        return f"{name}: cached (passed before with the same key {result.key[:12]}), skipped"
    if result.state == "blocked":
        return f"{name}: {result.note}"
    if result.state == "running":
        return f"{name}: running"
    return f"{name}: {result.state} in {result.duration:.2f}s"


def failure_text(result: StepResult, *, log: str) -> str:
    """The failing step's trimmed output, its gate's lines and how to run it alone."""
    parts = [f"--- {result.step.name} failed (exit {result.exit_code}): {result.step.command}"]
    if result.note:
        parts.append(result.note)
    if result.output.strip():
        parts.append(trim(result.output))
    parts.extend(result.gate)
    parts.append(f"full output: {log}")
    parts.append(f"rerun alone: {result.step.rerun}")
    return "\n".join(parts)


def summary(results: Sequence[StepResult]) -> str:
    """`4 passed, 1 cached, 1 failed, 1 not run in 3.20s`."""
    counts = {
        state: sum(r.state == state for r in results)
        for state in ("passed", "cached", "failed", "blocked")
    }
    words = [
        f"{counts['passed']} passed",
        f"{counts['cached']} cached",
        f"{counts['failed']} failed",
    ]
    if counts["blocked"]:
        words.append(f"{counts['blocked']} not run")
    return ", ".join(words)


def as_json(
    results: Sequence[StepResult], *, warnings: Sequence[str], errors: Sequence[str]
) -> dict[str, Any]:
    """The run for machines: every step with state, timing, key and, on failure, output."""
    steps = []
    for r in results:
        steps.append(
            {
                "name": r.step.name,
                "state": r.state,
                "duration": round(r.duration, 3),
                "exit_code": r.exit_code,
                "command": list(r.step.argv),
                "key": r.key,
                "gate": list(r.gate),
                "note": r.note,
                "output": trim(r.output) if r.state == "failed" else "",
                "rerun": r.step.rerun,
            }
        )
    ok = not errors and all(r.ok for r in results)
    return {"ok": ok, "steps": steps, "warnings": list(warnings), "errors": list(errors)}
