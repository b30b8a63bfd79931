"""How the deploy reads supervisor's answers about its programs: started, stopped, running.

On an in-memory host (tests/unit/deploy/memhost.py), a fake used on purpose: what is
tested is how `deploy/programs.py` reads the control and status scripts' words into
facts (pids, a stop's outcome, a start that failed), which needs no real supervisor. The
scripts themselves run against a real supervisord in tests/integration/test_runtime_proxy.py.
"""

from __future__ import annotations

import asyncio

import pytest

from conveyor.deploy import programs
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import HostPaths
from conveyor.errors import StartFailed
from conveyor.hosts.base import RunResult
from conveyor.runtime.base import Program
from tests.unit.deploy.memhost import MemoryHost

SPEC = "deploy@app-1"


def target() -> tuple[Target, MemoryHost]:
    host = MemoryHost(SPEC)
    return Target(SPEC, host, HostPaths("/srv/shop"), "python3"), host


@pytest.mark.parametrize(
    ("said", "how", "message"),
    [
        ("stopped", "graceful", "worker-green stopped gracefully"),
        ("ERROR (not running)", "not running", "worker-green was not running: nothing to stop"),
        ("ERROR (no such process)", "absent", "worker-green did not exist: nothing to stop"),
    ],
)
def test_a_drain_tells_what_the_stop_did_in_supervisors_words(
    said: str, how: str, message: str
) -> None:
    tgt, host = target()
    stop = f"worker-green: {said}\n"  # the control script's words (test_engine: the stop)
    drained = asyncio.run(programs.drained(tgt, "worker-green", stop, 0.1, seconds=30))
    assert (drained.how, drained.message) == (how, message)
    assert host.log == []  # from its words alone: nothing more is asked of the host


def test_started_programs_give_their_pids() -> None:
    tgt, _ = target()
    out = "web-blue: started (pid 41)\nworker-blue: started (pid 42)\n"
    result = RunResult(SPEC, ("python",), 0, out, "")
    pids = asyncio.run(programs._started(tgt, ["web-blue", "worker-blue"], result))
    assert pids == {"web-blue": 41, "worker-blue": 42}


def test_an_already_running_program_with_its_definition_is_started() -> None:
    """A redeploy of a warm release: supervisor says ALREADY_STARTED, which is no failure."""
    tgt, _ = target()
    out = "web-blue: ERROR (already started)\n"
    result = RunResult(SPEC, ("python",), 7, out, "")
    assert asyncio.run(programs._started(tgt, ["web-blue"], result)) == {}


def test_a_program_that_did_not_stay_up_fails_the_start_naming_it_with_its_log() -> None:
    tgt, host = target()
    host.files["/srv/shop/logs/worker-blue.log"] = b"boom\n"
    out = "web-blue: started (pid 41)\nworker-blue: ERROR (spawn error)\n"
    result = RunResult(SPEC, ("python",), 7, out, "")
    with pytest.raises(StartFailed) as caught:
        asyncio.run(programs._started(tgt, ["web-blue", "worker-blue"], result))
    assert caught.value.programs == ("worker-blue",)
    assert "worker-blue did not start on deploy@app-1" in caught.value.message
    assert host.log[-1] == "tail"  # the failed program's log, read for the message


def test_a_program_not_running_is_said_so_with_its_log() -> None:
    tgt, host = target()
    said = asyncio.run(programs.running(tgt, "web-blue"))
    assert said is not None and said.startswith("web-blue is unknown\n")
    assert host.log[-1] == "tail"


def test_a_program_still_starting_is_not_taken_as_running_its_definition() -> None:
    """A crash loop's retries go STARTING, BACKOFF, STARTING: a recovery that took such a
    program as running would clear its pending mark with the program down."""
    tgt, host = target()
    for state, expected in (("STARTING", False), ("BACKOFF", False), ("RUNNING", True)):
        host.status = f"worker-blue                      {state}   pid 7, uptime 0:00:01\n"
        prog = _worker(tgt)
        host.files[tgt.runtime.program_path(prog.name)] = tgt.runtime.render_program(prog).encode()
        assert asyncio.run(programs.defined_and_running(tgt, prog)) is expected, state


def _worker(tgt: Target) -> Program:
    return programs.service_program(
        tgt,
        service="worker",
        command="python -m app.worker",
        colour="blue",
        port=8102,
        release_id="r1",
        version="1.0",
        venv_key="v1",
        drain=2,
    )
