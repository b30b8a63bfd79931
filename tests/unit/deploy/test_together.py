"""A host's steps that need no answer in between go in one round trip, and each still
says how it went and journals its inverse; after a failure, the rest say nothing.

On an in-memory host (memhost.py), a fake used on purpose: what is tested is how the
answers of one batch are shared out among its steps, which needs no real host; the
same switch over real sshd, supervisor and Caddy is in tests/integration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from conveyor.deploy import together
from conveyor.deploy.journal import PROGRAMS, RECORDS, TRAFFIC, Undo
from conveyor.deploy.plan import Op, Step
from conveyor.errors import CommandFailed, HostError
from conveyor.hosts.base import RunResult
from tests.unit.deploy.test_engine import SPEC, TO, setup, state_of


def step(action: str, kind: str, **op: Any) -> Step:
    return Step(SPEC, action, f"{kind} for a test", op=Op(kind, **{**TO, **op}), phase="switch")


SWITCH = [
    step("state", "mark"),
    step("switch", "route", service="web"),
    step("stop", "stop", service="worker", program="worker-green"),
    step("link", "link"),
    step("state", "record", how="switched"),
]


def counted(host: Any, timeouts: list[float] | None = None) -> list[int]:
    """Count the host's round trips (and keep each one's timeout)."""
    trips = [0]
    run = host.run

    async def counting(argv: Sequence[str], **options: Any) -> RunResult:
        trips[0] += 1
        if timeouts is not None:
            timeouts.append(options.get("timeout", 0))
        result: RunResult = await run(argv, **options)
        return result

    host.run = counting
    return trips


def test_a_hosts_switch_is_two_round_trips_and_each_step_says_how_it_went() -> None:
    """The mark with Caddy's switch, then the stop with the link and the record: a stop
    begins a round trip of its own, so that it is said to begin when it does."""
    engine, run, host, events = setup()
    timeouts: list[float] = []
    trips = counted(host, timeouts)
    asyncio.run(engine.do_all(run, SWITCH))
    assert trips == [2]
    assert timeouts[1] >= 30 + 60  # the stop's whole drain (30 s) and a minute, at least
    assert host.log == [
        "put state.json",
        "route 127.0.0.1:8100",
        "supervisor stop worker-green",
        "link r2",
        "put state.json",
    ]
    steps = [(e.step, e.status) for e in events if e.kind == "step"]
    assert steps == [(s.action, status) for s in SWITCH for status in ("start", "ok")]
    said = [e.message for e in events]
    stopping = said.index("stopping worker-green (drain 30s)")
    assert said.index("stop for a test") < stopping < said.index("worker-green stopped gracefully")
    assert "Caddy on :8080 now routes to port 8100" in [e.message for e in events]
    assert state_of(host)["release"] == "r2" and state_of(host)["pending_release"] is None
    assert run.done == SWITCH and run.after is not None and run.touched and run.routed
    assert run.journal == [
        Undo(RECORDS, Op("restore", release="r2")),
        Undo(TRAFFIC, Op("route", service="web", colour="green")),
        Undo(RECORDS, Op("restore")),
        Undo(RECORDS, Op("restore")),
        Undo(PROGRAMS, Op("start", program="worker-green")),
    ]


def test_after_a_failed_step_the_rest_did_not_run_say_nothing_and_have_nothing_to_undo() -> None:
    engine, run, host, events = setup()
    host.refuse = "upstream"
    with pytest.raises(CommandFailed, match=r"^python -c failed on deploy@app-1 \(exit 1\)"):
        asyncio.run(engine.do_all(run, SWITCH))
    said = [(e.step, e.status) for e in events if e.kind == "step"]
    assert said == [("state", "start"), ("state", "ok"), ("switch", "start"), ("switch", "fail")]
    assert host.log == [
        "put state.json",
        "refused route 127.0.0.1:8100",
    ]  # nothing after the route ran
    assert state_of(host)["pending_release"] == "r2"  # the mark stays for recover
    # The mark, and the route back (the switch may have happened before it failed).
    assert run.journal == [
        Undo(RECORDS, Op("restore", release="r2")),
        Undo(TRAFFIC, Op("route", service="web", colour="green")),
    ]
    assert run.done == SWITCH[:1]


def test_steps_that_need_an_answer_in_between_split_the_round_trips() -> None:
    steps = [SWITCH[0], SWITCH[1], step("health", "verify", service="web"), *SWITCH[2:]]
    assert [len(group) for group in together.groups(steps)] == [2, 1, 3]
    assert [len(group) for group in together.groups([steps[2]])] == [1]
    assert [len(group) for group in together.groups([SWITCH[3], *SWITCH[2:]])] == [1, 3]


def test_a_mark_that_cannot_be_written_leaves_nothing_to_undo_and_no_traffic_moved() -> None:
    """A full disk: the mark's atomic write failed, so the switch after it never ran: the
    run neither routed nor touched the host, and its journal is empty."""
    engine, run, host, events = setup()
    host.unwritable = "/srv/shop/state.json"
    with pytest.raises(HostError, match=r"cannot write /srv/shop/state\.json on deploy@app-1"):
        asyncio.run(engine.do_all(run, SWITCH))
    assert host.log == []  # nothing ran after the failed write
    assert not run.routed and not run.touched and run.journal == []
    said = [(e.step, e.status) for e in events if e.kind == "step"]
    assert said == [("state", "start"), ("state", "fail")]


def test_a_route_ends_its_round_trip_so_nothing_after_it_happens_before_its_check() -> None:
    """A host with web services only: the mark and the switch, then `current` and the record
    once the switch is known to have taken."""
    steps = [SWITCH[0], SWITCH[1], SWITCH[3], SWITCH[4]]
    assert [len(group) for group in together.groups(steps)] == [2, 2]


def test_a_hosts_values_and_venv_are_one_round_trip_under_the_hosts_python() -> None:
    """The .env (mode 0600, linked into the release) and the venv script go together, to the
    host's own Python: the venv is built by the interpreter the project asked for, not by the
    tools venv's."""
    engine, run, host, events = setup()
    engine.env_text = "DATABASE_URL=postgresql://app:s3cret@db/app\n"
    sent: list[Sequence[str]] = []
    batch = host._batch

    def recording(argv: Sequence[str], stdin: bytes) -> RunResult:
        sent.append(argv)
        return batch(argv, stdin)

    host._batch = recording  # type: ignore[method-assign]
    trips = counted(host)
    ship = [step("env", "env"), step("venv", "venv")]
    asyncio.run(engine.do_all(run, ship))
    assert trips == [1]
    assert [argv[0] for argv in sent] == ["python3"]
    assert host.log == ["put .env", "ln", "python3"]
    assert host.files["/srv/shop/shared/.env"] == engine.env_text.encode()
    said = [(e.step, e.message) for e in events if e.kind != "step"]
    assert said == [("env", "wrote /srv/shop/shared/.env (mode 0600)"), ("venv", "reused")]
    assert "s3cret" not in repr(events)


def test_a_host_python_the_project_does_not_allow_stops_before_anything_is_written() -> None:
    """requires-python is asked first: a host whose Python does not meet it gets neither its
    values nor a venv."""
    engine, run, host, events = setup()
    run.target.requires = ">=3.12"
    trips = counted(host)
    with pytest.raises(HostError, match=r"python3 is Python 3\.11\.2, but the project requires"):
        asyncio.run(engine.do_all(run, [step("env", "env"), step("venv", "venv")]))
    assert trips == [1]  # the version, nothing else
    assert "/srv/shop/shared/.env" not in host.files
    failed = [(e.step, e.status) for e in events if e.kind == "step" and e.status == "fail"]
    assert failed == [("venv", "fail")]  # the venv's check refused, not the .env


def test_the_retirement_and_the_unlock_are_one_round_trip() -> None:
    """After a deploy: the old colour's stop is scheduled and the lock given back together;
    the run then knows not to give it back again."""
    engine, run, host, events = setup()
    trips = counted(host)
    done = [step("retire", "retire", colour="blue"), step("unlock", "unlock")]
    asyncio.run(engine.do_all(run, done))
    assert trips == [1]
    assert host.log[-2:] == ["supervisor update, retire-blue", "python"]
    assert run.unlocked
    assert "blue stays warm for 15 min, then stops" in [e.message for e in events]


def test_a_retirement_that_fails_is_raised_and_the_run_gives_its_lock_back_itself() -> None:
    """supervisor's answer to a start is read by the step, not by the host: the release of the
    lock after it ran too, but the run, told of the failure, gives the lock back again (which
    finds nothing to do)."""
    engine, run, host, _ = setup()
    host.refuse = "retire-blue"
    done = [step("retire", "retire", colour="blue"), step("unlock", "unlock")]
    with pytest.raises(CommandFailed, match="retire-blue did not start"):
        asyncio.run(engine.do_all(run, done))
    started = host.log.index("refused supervisor update, retire-blue")
    assert host.log[started + 1] == "python"  # the release of the lock, in the same batch
    assert not run.unlocked and run.done == []
