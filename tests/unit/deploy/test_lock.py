"""The deploy lock on a (local) host: exactly one holder, and a clear message for the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conveyor.deploy.lock import LockOwner, acquire, lock_path, release
from conveyor.errors import LockHeld
from conveyor.hosts.local import LocalConnector


def owner(deploy_id: str, *, user: str = "alice") -> LockOwner:
    return LockOwner(deploy_id, user, "laptop", 4242, 1_795_000_000.0)


def test_second_deploy_is_told_who_holds_the_lock(tmp_path: Path) -> None:
    conn, app_dir = LocalConnector(), str(tmp_path / "app")
    asyncio.run(acquire(conn, app_dir, owner("d-1"), environment="production"))
    with pytest.raises(LockHeld) as caught:
        asyncio.run(acquire(conn, app_dir, owner("d-2", user="bob"), environment="production"))
    assert str(caught.value) == (
        "production is locked on local by alice on laptop (pid 4242) since 2026-11-18 "
        "11:06:40 UTC, deploy d-1\n"
        "if that deploy is no longer running, break the lock: conveyor unlock production"
    )


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
