"""The deploy lock on a (local) host: exactly one holder, and a clear message for the rest."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.deploy.lock import (
    STALE_AFTER,
    LockLost,
    LockOwner,
    StaleLock,
    acquire,
    heartbeat,
    inspect,
    is_stale,
    lock_path,
    release,
    release_all,
    take_all,
)
from conveyor.errors import ConveyorError, HostError, LockHeld
from conveyor.hosts.local import LocalConnector


def owner(deploy_id: str, *, user: str = "alice") -> LockOwner:
    return LockOwner(deploy_id, user, "laptop", 4242, 1_795_000_000.0)


def test_second_deploy_is_told_who_holds_the_lock(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="production"))
    with pytest.raises(LockHeld) as caught:
        asyncio.run(acquire(conn, app_dir, owner("d-2", user="bob"), environment="production"))
    # The heartbeat's age is the host's clock: a loaded machine may take a second.
    said = re.sub(r"last heartbeat [01]s ago", "last heartbeat 0s ago", str(caught.value))
    assert said == (
        "production is locked on local by alice on laptop (pid 4242) since 2026-11-18 "
        "11:06:40 UTC, deploy d-1; last heartbeat 0s ago\n"
        "a deploy is running: wait for it (conveyor status production); if you are sure its "
        "process is gone, break the lock: conveyor unlock production --force"
    )
    assert not isinstance(caught.value, StaleLock)


def test_release_only_frees_our_own_lock(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))
    held = asyncio.run(release(conn, app_dir, "d-2"))
    assert held == owner("d-1")
    assert Path(lock_path(app_dir)).is_dir()
    asyncio.run(release(conn, app_dir, "d-1"))
    assert not Path(lock_path(app_dir)).exists()
    asyncio.run(acquire(conn, app_dir, owner("d-3"), environment="staging"))


def test_breaking_a_lock_returns_its_owner(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))
    assert asyncio.run(release(conn, app_dir, "*")) == owner("d-1")
    assert not Path(lock_path(app_dir)).exists()


def test_concurrent_deploys_exactly_one_wins(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")

    async def race() -> list[BaseException | None]:
        attempts = [
            acquire(conn, app_dir, owner(f"d-{n}"), environment="staging") for n in range(8)
        ]
        return list(await asyncio.gather(*attempts, return_exceptions=True))

    outcomes = asyncio.run(race())
    assert outcomes.count(None) == 1
    assert all(isinstance(o, LockHeld) for o in outcomes if o is not None)


def test_a_lock_without_owner_record_is_still_held(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    Path(lock_path(app_dir)).mkdir(parents=True)
    with pytest.raises(LockHeld, match="by an unknown owner"):
        asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))


def dead_pid() -> int:
    """The pid of a process of ours that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def age(path: Path, seconds: float) -> None:
    """Make a file look `seconds` old (its mtime is the heartbeat)."""
    then = path.stat().st_mtime - seconds
    os.utime(path, (then, then))


def test_staleness_is_judged_by_heartbeat_age_and_local_pids() -> None:
    here = socket.gethostname()
    mine = LockOwner("d-1", "alice", here, 123, 0.0)
    theirs = LockOwner("d-1", "alice", "laptop", 123, 0.0)
    assert not is_stale(mine, 1.0, machine=here, alive=lambda pid: True)
    assert is_stale(mine, 1.0, machine=here, alive=lambda pid: False)
    # Another machine's pid means nothing here: only its heartbeat counts.
    assert not is_stale(theirs, 1.0, machine=here, alive=lambda pid: False)
    assert is_stale(theirs, STALE_AFTER + 1, machine=here, alive=lambda pid: True)
    # Between mkdir and the owner record: live unless old.
    assert not is_stale(None, 1.0, machine=here)
    assert is_stale(None, STALE_AFTER + 1, machine=here)


def test_a_dead_local_owner_makes_a_stale_lock_that_only_a_takeover_takes(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    dead = LockOwner("d-1", "alice", socket.gethostname(), dead_pid(), 1_795_000_000.0)
    asyncio.run(acquire(conn, app_dir, dead, environment="staging"))
    with pytest.raises(StaleLock) as caught:
        asyncio.run(acquire(conn, app_dir, owner("d-2"), environment="staging"))
    assert caught.value.info.owner == dead
    assert "conveyor recover staging" in str(caught.value)
    found = asyncio.run(inspect(conn, app_dir))
    assert found is not None and found.stale
    asyncio.run(acquire(conn, app_dir, owner("d-2"), environment="staging", take_stale=found))
    assert asyncio.run(release(conn, app_dir, "d-2")) == owner("d-2")


def test_an_old_heartbeat_is_stale_and_a_fresh_one_is_live(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))
    owner_file = Path(lock_path(app_dir)) / "owner.json"
    age(owner_file, STALE_AFTER + 5)
    found = asyncio.run(inspect(conn, app_dir))
    assert found is not None and found.stale and found.age > STALE_AFTER
    asyncio.run(heartbeat(conn, app_dir, "d-1"))
    found = asyncio.run(inspect(conn, app_dir))
    assert found is not None and not found.stale and found.age < STALE_AFTER


def test_a_live_lock_is_never_taken_over(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))
    found = asyncio.run(inspect(conn, app_dir))
    assert found is not None and not found.stale
    with pytest.raises(LockHeld) as caught:
        asyncio.run(acquire(conn, app_dir, owner("d-2"), environment="staging", take_stale=found))
    assert not isinstance(caught.value, StaleLock)
    assert asyncio.run(release(conn, app_dir, "d-1")) == owner("d-1")


def test_two_recoverers_take_a_stale_lock_exactly_once(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))
    age(Path(lock_path(app_dir)) / "owner.json", STALE_AFTER + 5)
    found = asyncio.run(inspect(conn, app_dir))
    assert found is not None and found.stale

    async def race() -> list[BaseException | None]:
        attempts = [
            acquire(conn, app_dir, owner(f"r-{n}"), environment="staging", take_stale=found)
            for n in range(6)
        ]
        return list(await asyncio.gather(*attempts, return_exceptions=True))

    outcomes = asyncio.run(race())
    assert outcomes.count(None) == 1
    assert all(type(o) is LockHeld for o in outcomes if o is not None)
    winner = asyncio.run(inspect(conn, app_dir))
    assert winner is not None and winner.owner is not None
    assert winner.owner.deploy_id == f"r-{outcomes.index(None)}"


def test_a_heartbeat_for_a_lock_we_lost_says_who_holds_it(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))
    with pytest.raises(LockLost, match="now held by alice on laptop"):
        asyncio.run(heartbeat(conn, app_dir, "d-2"))
    asyncio.run(release(conn, app_dir, "*"))
    with pytest.raises(LockLost, match="nobody"):
        asyncio.run(heartbeat(conn, app_dir, "d-1"))


def test_the_background_heartbeat_reports_a_lock_taken_by_someone_else(tmp_path: Path) -> None:
    """A deploy whose lock was broken and taken by another learns it before switching more."""
    from conveyor.deploy.lock import heartbeats

    conn, app_dir = LocalConnector(), str(tmp_path / "app")

    async def story() -> list[LockLost]:
        await acquire(conn, app_dir, owner("d-1"), environment="staging")
        async with heartbeats([(conn, app_dir)], "d-1", every=0.05) as lost:
            await asyncio.sleep(0.2)
            assert lost == []  # ours, refreshed
            await release(conn, app_dir, "*")  # someone breaks it...
            await acquire(conn, app_dir, owner("d-2", user="bob"), environment="staging")
            for _ in range(400):  # ...and takes it; a loaded machine may take a while to see
                if lost:
                    break
                await asyncio.sleep(0.025)
            return list(lost)

    lost = asyncio.run(story())
    assert lost
    # A heartbeat between the break and the take finds no lock at all; one after it, bob's.
    assert any(
        "held by bob on laptop" in error.message or "nobody" in error.message for error in lost
    )


def test_taking_the_lock_reads_the_state_in_the_same_round_trip(tmp_path: Path) -> None:
    """The deploy reads each host's state.json once it holds the lock, with the lock's own
    command; before the first deploy there is none."""
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    state = tmp_path / "app" / "state.json"
    read = asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="e", read=str(state)))
    assert read is None
    asyncio.run(release(conn, app_dir, "d-1"))
    state.write_text('{"release": "r1"}\n')
    read = asyncio.run(acquire(conn, app_dir, owner("d-2"), environment="e", read=str(state)))
    assert read == '{"release": "r1"}\n'
    asyncio.run(release(conn, app_dir, "d-2"))


def test_of_two_deploys_over_three_hosts_the_loser_of_the_first_lock_takes_none(
    tmp_path: Path,
) -> None:
    """`take_all` on real lock files (a local host per app dir): the first lock is taken
    alone, in order, so two deploys started together never split the hosts between them."""
    conn = LocalConnector()
    apps = [str(tmp_path / f"app-{n}") for n in range(3)]

    async def deploy(deploy_id: str) -> list[str]:
        taken: list[str] = []

        async def take(app_dir: str) -> None:
            await acquire(conn, app_dir, owner(deploy_id), environment="production")
            taken.append(app_dir)

        with contextlib.suppress(LockHeld):
            await take_all(apps, take)
        return taken

    async def both() -> list[list[str]]:
        return list(await asyncio.gather(deploy("d-1"), deploy("d-2")))

    first, second = asyncio.run(both())
    assert sorted([len(first), len(second)]) == [0, 3]


def test_take_all_tries_the_next_host_when_one_fails_and_gives_the_failures_back() -> None:
    """The order logic alone (no host is needed for it): an unreachable first host is passed
    over, the next one taken in turn, then the rest at once; a held lock is raised after
    every attempt has ended."""
    order: list[str] = []
    running = 0
    most = 0

    async def take(name: str) -> None:
        nonlocal running, most
        order.append(name)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        if name == "a":
            raise ConveyorError("a: unreachable")
        if name == "held":
            raise LockHeld("held: locked by d-9")

    failed = asyncio.run(take_all(["a", "b", "c", "d"], take))
    assert order == ["a", "b", "c", "d"]
    assert list(failed) == [0] and "unreachable" in failed[0].message
    assert most == 2  # c and d together, after b alone
    order.clear()
    with pytest.raises(LockHeld):
        asyncio.run(take_all(["b", "held", "c"], take))
    assert order == ["b", "held", "c"]  # c was still tried: the caller gives back what it took


def test_release_all_gives_every_lock_back_and_names_the_host_that_failed(
    tmp_path: Path,
) -> None:
    conn = LocalConnector()
    apps = [str(tmp_path / f"app-{n}") for n in range(2)]
    for app_dir in apps:
        asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging"))
    assert asyncio.run(release_all([(conn, a) for a in apps], "d-1")) == {}
    assert [asyncio.run(inspect(conn, a)) for a in apps] == [None, None]


def test_a_lock_taken_with_a_file_it_cannot_read_is_given_back_and_the_file_named(
    tmp_path: Path,
) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    with pytest.raises(HostError, match=f"^cannot read {tmp_path} on local: Is a directory"):
        asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="staging", read=str(tmp_path)))
    assert not Path(lock_path(app_dir)).exists()  # the next deploy finds no lock of ours
