"""The start gate's verdicts, from the watch script's output (pure logic, no host)."""

from __future__ import annotations

import json

import pytest

from conveyor.deploy.startgate import Crash, parse_crash
from conveyor.runtime.control import parse_started


def _crash(**fields: object) -> Crash:
    base: dict[str, object] = {
        "program": "web-green",
        "state": "exited",
        "pid": 0,
        "expected_pid": 41,
        "exit_status": 0,
        "spawn_error": "",
        "workers_died": 0,
    }
    return parse_crash("..." + json.dumps(base | fields) + "\n")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "web-green exited (exit status 0)"),
        (
            {"state": "starting", "pid": 52, "exit_status": 3},
            "web-green exited (exit status 3) and was restarted (a crash loop)",
        ),
        (
            {"state": "fatal", "exit_status": 1, "spawn_error": "Exited too quickly"},
            "web-green exited (exit status 1) and could not be started again (Exited too quickly)",
        ),
        ({"state": "stopped"}, "web-green was stopped"),
        (
            {"state": "running", "pid": 41, "workers_died": 3},
            "web-green keeps losing its worker processes (3 exited and were replaced)",
        ),
    ],
)
def test_a_crash_says_what_the_program_did(fields: dict[str, object], reason: str) -> None:
    crash = _crash(**fields)
    assert crash.reason() == reason
    assert crash.message("deploy@app-1") == f"{reason} during its start gate on deploy@app-1"


def test_pids_come_from_the_start_scripts_lines() -> None:
    output = (
        "web-green: started (pid 4242)\nworker-green: started (pid 77)\nx: ERROR (spawn error)\n"
    )
    assert parse_started(output) == {"web-green": 4242, "worker-green": 77}


def test_whether_supervisord_saw_it_exit_is_kept() -> None:
    """A program still in its start was never seen to exit: told apart from a crash loop."""
    assert _crash(state="starting", exited=False).exited is False
    assert _crash(state="backoff", exited=True).exited is True
    assert _crash().exited is True  # a verdict from before the field: as it always read
