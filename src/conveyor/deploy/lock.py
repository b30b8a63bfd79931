"""One deploy per environment at a time: a lock directory on the host, with its owner.

Taking the lock is one command on the host: `mkdir` is atomic, and the owner is
written inside it in the same process, so a second deploy always learns who
holds the lock, since when, and from which machine.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from dataclasses import asdict, dataclass

from conveyor.errors import ConveyorError, LockHeld
from conveyor.hosts.base import Connector

# Runs on the host with its python3: take (or report) the lock in one round trip.
_TAKE = r"""
import json, os, sys
path, owner = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(path), exist_ok=True)
try:
    os.mkdir(path, 0o700)
except FileExistsError:
    try:
        with open(os.path.join(path, "owner.json")) as f:
            print(f.read())
    except OSError:
        print("{}")
    sys.exit(3)
with open(os.path.join(path, "owner.json"), "w") as f:
    f.write(owner)
"""
_RELEASE = r"""
import json, os, shutil, sys
path, deploy_id = sys.argv[1], sys.argv[2]
try:
    with open(os.path.join(path, "owner.json")) as f:
        owner = json.load(f)
except (OSError, ValueError):
    owner = {}
if deploy_id == "*" or owner.get("deploy_id") == deploy_id:
    shutil.rmtree(path, ignore_errors=True)
print(json.dumps(owner))
"""
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


def lock_path(app_dir: str) -> str:
    """Where the lock lives on a host."""
    return f"{app_dir.rstrip('/')}/deploy.lock"


async def acquire(conn: Connector, app_dir: str, owner: LockOwner, *, environment: str) -> None:
    """Take the environment's lock on this host, or raise LockHeld naming the holder."""
    argv = ["python3", "-c", _TAKE, lock_path(app_dir), json.dumps(asdict(owner))]
    result = await conn.run(argv, check=False, timeout=30)
    if result.exit_code == 0:
        return
    if result.exit_code != HELD:
        raise ConveyorError(f"{conn.name}: cannot take the deploy lock: {result.stderr.strip()}")
    holder = _parse(result.stdout)
    who = holder.describe() if holder else "an unknown owner (the lock has no owner record)"
    raise LockHeld(
        f"{environment} is locked on {conn.name} by {who}",
        hint=f"if that deploy is no longer running, break the lock: conveyor unlock {environment}",
    )


async def release(conn: Connector, app_dir: str, deploy_id: str) -> LockOwner | None:
    """Give the lock back if this deploy holds it; `deploy_id="*"` breaks anyone's lock."""
    argv = ["python3", "-c", _RELEASE, lock_path(app_dir), deploy_id]
    result = await conn.run(argv, timeout=30)
    return _parse(result.stdout)


def _parse(text: str) -> LockOwner | None:
    try:
        return LockOwner(**json.loads(text))
    except (ValueError, TypeError):
        return None
