"""One deploy per environment at a time: a lock directory on the host, with its owner.

Taking the lock is one command on the host: `mkdir` is atomic, and the owner is
written inside it in the same process, so a second deploy always learns who
holds the lock, since when, and from which machine. The holder refreshes the
owner file's mtime every HEARTBEAT_INTERVAL seconds; its age is measured on the
host, by the host's clock, so clock skew between laptops never makes a live
lock look stale. A stale lock (no heartbeat for STALE_AFTER seconds, or its
owner's pid is dead on this very machine) is never broken silently: acquire
raises StaleLock, and only a caller that asks (`conveyor recover`) takes it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

from conveyor.deploy.lock_scripts import BEAT, RELEASE, SHOW, TAKE
from conveyor.errors import ConveyorError, HostError, LockHeld
from conveyor.hosts.base import Connector

T = TypeVar("T")
HEARTBEAT_INTERVAL = 5.0  # seconds between two refreshes of a held lock
STALE_AFTER = 30.0  # a lock whose heartbeat is older than this (host clock) is stale

HELD = 3


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock."""

    deploy_id: str
    user: str
    machine: str
    pid: int
    since: float

    @classmethod
    def here(cls, deploy_id: str) -> LockOwner:
        """The owner for a deploy started by this process."""
        return cls(deploy_id, getpass.getuser(), socket.gethostname(), os.getpid(), time.time())

    def describe(self) -> str:
        """`alice on laptop (pid 1234) since 2026-11-23 14:02:11 UTC, deploy d-1`."""
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        return (
            f"{self.user} on {self.machine} (pid {self.pid}) since {since}, deploy {self.deploy_id}"
        )


@dataclass(frozen=True)
class LockInfo:
    """A lock as found on one host: its owner (None before it is written) and heartbeat age."""

    owner: LockOwner | None
    age: float  # seconds since the last heartbeat, by the host's clock
    token: str = ""  # names this very lock: a newer lock or a heartbeat has another
    stale: bool = False

    def describe(self) -> str:
        """`alice on laptop (pid 1234) since ..., deploy d-1; last heartbeat 3s ago`."""
        who = self.owner.describe() if self.owner else "an unknown owner (no owner record yet)"
        return f"{who}; last heartbeat {ago(self.age)}"


class StaleLock(LockHeld):
    """The lock's holder stopped: no heartbeat for STALE_AFTER s, or its pid is dead here."""

    def __init__(self, message: str, *, hint: str, host: str, info: LockInfo) -> None:
        super().__init__(message, hint=hint)
        self.host = host
        self.info = info


class LockLost(ConveyorError):
    """The lock this deploy held was broken or taken over by someone else."""


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


def is_stale(
    owner: LockOwner | None,
    age: float,
    *,
    machine: str,
    alive: Callable[[int], bool] = pid_alive,
    after: float = STALE_AFTER,
) -> bool:
    """A lock is stale when its heartbeat is old, or its owner ran here and its pid is gone."""
    if age > after:
        return True
    # Without an owner record the lock is between mkdir and write: live unless old.
    return owner is not None and owner.machine == machine and not alive(owner.pid)


def lock_path(app_dir: str) -> str:
    """Where the lock lives on a host."""
    return f"{app_dir.rstrip('/')}/deploy.lock"


async def inspect(conn: Connector, app_dir: str) -> LockInfo | None:
    """The lock on this host, judged live or stale; None when it is not locked."""
    result = await conn.run(["python3", "-c", SHOW, lock_path(app_dir)], timeout=30)
    return _info(result.stdout)


async def acquire(
    conn: Connector,
    app_dir: str,
    owner: LockOwner,
    *,
    environment: str,
    take_stale: LockInfo | None = None,
    read: str | None = None,
) -> str | None:
    """Take the environment's lock on this host, or raise LockHeld (StaleLock) naming the holder.

    `take_stale` is a stale lock found earlier by `inspect`: it is taken over only if it
    is still that very lock (not a newer one, and no heartbeat since); a live lock is never
    taken. `read`: a file read once the lock is held, in the same round trip; returns its
    text (None when it is absent, or nothing was to be read).
    """
    expected = take_stale.token if take_stale and take_stale.stale else ""
    argv = ["python3", "-c", TAKE, lock_path(app_dir), json.dumps(asdict(owner)), expected]
    result = await conn.run([*argv, *([read] if read else [])], check=False, timeout=30)
    if result.exit_code == 0:
        found = json.loads(result.stdout.strip().splitlines()[-1])
        if found.get("error"):
            # Taken, but what it was to read cannot be: given back, so that nothing is left.
            await release(conn, app_dir, owner.deploy_id)
            raise HostError(
                f"cannot read {read} on {conn.name}: {found['error']}; nothing was changed",
                hint="make it readable by the deploy user, or move it aside",
            )
        text: str | None = found["read"]
        return text
    if result.exit_code != HELD:
        raise ConveyorError(f"{conn.name}: cannot take the deploy lock: {result.stderr.strip()}")
    raise held(environment, conn.name, _info(result.stdout) or LockInfo(None, 0.0))


async def take_all(
    items: Sequence[T], take: Callable[[T], Awaitable[object]]
) -> dict[int, ConveyorError]:
    """Take every item's lock with `take`: one at a time, in the given order, until one is
    taken (of two deploys started at once, the one that loses that first lock stops there),
    then all the others at once. A LockHeld is raised once every attempt has ended (`take`
    records what it took, so the caller can give it back); other failures are returned, by
    the item's index."""
    failed: dict[int, ConveyorError] = {}
    first = 0
    for first, item in enumerate(items):
        try:
            await take(item)
            break
        except LockHeld:
            raise
        except ConveyorError as error:
            failed[first] = error
    else:
        return failed
    rest = list(enumerate(items))[first + 1 :]
    results = await asyncio.gather(*(take(item) for _, item in rest), return_exceptions=True)
    for (index, _), result in zip(rest, results, strict=True):
        if isinstance(result, LockHeld):
            raise result
        if isinstance(result, ConveyorError):
            failed[index] = result
        elif isinstance(result, BaseException):
            raise result
    return failed


async def release_all(
    locks: Sequence[tuple[Connector, str]], deploy_id: str
) -> dict[str, ConveyorError]:
    """Give back `deploy_id`'s lock on each (connector, app_dir) at once; failures by host."""
    results = await asyncio.gather(
        *(release(conn, app_dir, deploy_id) for conn, app_dir in locks), return_exceptions=True
    )
    failed: dict[str, ConveyorError] = {}
    for (conn, _), result in zip(locks, results, strict=True):
        if isinstance(result, ConveyorError):
            failed[conn.name] = result
        elif isinstance(result, BaseException):
            raise result
    return failed


def held(environment: str, host: str, info: LockInfo) -> LockHeld:
    """The error for a lock found on `host`: StaleLock when its holder stopped."""
    where = f"{environment} is locked on {host} by {info.describe()}"
    if info.stale:
        return StaleLock(
            f"{where}: that deploy stopped (no heartbeat for {STALE_AFTER:g}s or its process "
            "is gone)",
            hint=f"bring every host to one release and take the lock: conveyor recover "
            f"{environment}",
            host=host,
            info=info,
        )
    return LockHeld(
        where,
        hint=f"a deploy is running: wait for it (conveyor status {environment}); if you are sure "
        f"its process is gone, break the lock: conveyor unlock {environment} --force",
    )


async def heartbeat(conn: Connector, app_dir: str, deploy_id: str) -> None:
    """Refresh this deploy's lock (one round trip); LockLost if it is no longer ours."""
    argv = ["python3", "-c", BEAT, lock_path(app_dir), deploy_id]
    result = await conn.run(argv, check=False, timeout=30)
    if result.exit_code == 0:
        return
    if result.exit_code != HELD:
        raise ConveyorError(f"{conn.name}: cannot refresh the deploy lock: {result.stderr.strip()}")
    holder = _owner(result.stdout)
    who = holder.describe() if holder else "nobody (it was broken)"
    raise LockLost(
        f"{conn.name}: the deploy lock of {deploy_id} is now held by {who}",
        hint="someone broke or took over this deploy's lock; check conveyor status",
    )


@contextlib.asynccontextmanager
async def heartbeats(
    held: Sequence[tuple[Connector, str]], deploy_id: str, *, every: float = HEARTBEAT_INTERVAL
) -> AsyncIterator[list[LockLost]]:
    """Refresh `deploy_id`'s lock on each (connector, app_dir) in the background while inside.

    For work that takes its locks itself (a rollback): a host not locked yet is skipped.
    Yields a list that gains a LockLost for each host where someone else took the lock: the
    work should stop before it changes anything more there.
    """
    lost: list[LockLost] = []

    async def one(conn: Connector, app_dir: str) -> None:
        try:
            await asyncio.wait_for(heartbeat(conn, app_dir, deploy_id), HEARTBEAT_INTERVAL)
        except LockLost as error:
            lost.append(error)
        except (ConveyorError, OSError):
            pass  # an unreachable or slow host: the work itself will find out

    async def beat() -> None:
        # Every host at once, each given at most HEARTBEAT_INTERVAL: one dead host never
        # makes the others' heartbeats late enough to look stale.
        while True:
            await asyncio.sleep(every)
            await asyncio.gather(*(one(conn, app_dir) for conn, app_dir in list(held)))

    task = asyncio.create_task(beat())
    try:
        yield lost
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def release(conn: Connector, app_dir: str, deploy_id: str) -> LockOwner | None:
    """Give the lock back if this deploy holds it; `deploy_id="*"` breaks anyone's lock."""
    result = await conn.run(release_argv(app_dir, deploy_id), timeout=30)
    return _owner(result.stdout)


def release_argv(app_dir: str, deploy_id: str, python: str = "python3") -> list[str]:
    """The script that gives the lock back (see `release`); it prints the owner it found."""
    return [python, "-c", RELEASE, lock_path(app_dir), deploy_id]


def ago(seconds: float) -> str:
    """`4s ago`, `3 min ago`, `2 h ago`."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def _owner(text: str) -> LockOwner | None:
    try:
        return LockOwner(**json.loads(text))
    except (ValueError, TypeError):
        return None


def _info(text: str) -> LockInfo | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    raw = found.get("owner")
    owner = _owner(json.dumps(raw)) if isinstance(raw, dict) else None
    age = float(found.get("age") or 0.0)
    stale = is_stale(owner, age, machine=socket.gethostname())
    return LockInfo(owner, age, str(found.get("token") or ""), stale)
