"""Content-addressed uploads: send only the files a host lacks, then hard-link the tree.

The host keeps a store of objects named `<sha256>-<mode>` (mode in octal: a hard
link shares its inode, so one content with two modes is two objects). An upload
is two commands whatever the size of the tree: ask which objects the store has (or
have a batch ask it with other steps: `have_argv`), then one stream with the missing
objects and the manifest that links `dest`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from conveyor.errors import HostError
from conveyor.hosts.base import Connector
from conveyor.hosts.store_helper import NO_SPACE

_HELPER = (Path(__file__).parent / "store_helper.py").read_bytes()
# The helper travels on stdin ahead of its data, so argv (and any error message
# quoting it) stays one short line instead of a page of source.
_BOOTSTRAP = "import sys;b=sys.stdin.buffer;exec(b.read(int(b.readline())))"
UPLOAD_TIMEOUT = 600.0


@dataclass(frozen=True)
class UploadStats:
    """What an upload did: files in the tree, objects sent, and their bytes."""

    files: int
    sent: int
    bytes_sent: int


@dataclass(frozen=True)
class Entry:
    """One file of a tree: where it goes, the local file, and its content's hash and mode."""

    relative: str
    local: Path
    digest: str
    mode: int

    @property
    def object(self) -> str:
        return f"{self.digest}-{self.mode:o}"


def _helper_input(data: bytes) -> bytes:
    return f"{len(_HELPER)}\n".encode() + _HELPER + data


def _check_relative(relative: str) -> str:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"upload paths must stay inside the tree, got {relative!r}")
    return path.as_posix()


def _hash(relative: str, local: Path) -> Entry:
    digest = hashlib.sha256()
    with local.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    mode = os.stat(local).st_mode & 0o777
    return Entry(_check_relative(relative), local, digest.hexdigest(), mode)


def _tar(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.object)
            info.size = entry.local.stat().st_size
            info.mode = entry.mode
            with entry.local.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


# Runs on the host (standard library only): the object names among argv that the store
# (argv[1]) holds, one a line; as `have` does, for a batch that asks it with other steps.
_HAVE = (
    "import os, sys\n"
    "store = sys.argv[1]\n"
    "print('\\n'.join(n for n in sys.argv[2:] if os.path.isfile(os.path.join(store, n))))\n"
)


async def hashed(files: Mapping[str, Path]) -> tuple[Entry, ...]:
    """`files` (relative path -> local file) hashed, in a thread: what `upload_tree` sends."""
    return tuple(await asyncio.to_thread(_entries, files))


def have_argv(python: str, store: str, objects: Sequence[str]) -> list[str]:
    """A script that prints which of `objects` the host's store holds (`held` reads it); in
    a batch under `python` it runs inside the batch, so the names need no command line."""
    return [python, "-c", _HAVE, store, *objects]


def held(output: str) -> frozenset[str]:
    """The object names a `have_argv` script printed."""
    return frozenset(output.split())


def _entries(files: Mapping[str, Path]) -> list[Entry]:
    return [_hash(relative, local) for relative, local in sorted(files.items())]


async def upload_tree(
    conn: Connector,
    files: Mapping[str, Path],
    dest: str,
    *,
    store: str,
    timeout: float = UPLOAD_TIMEOUT,
    python: str = "python3",
    present: frozenset[str] | None = None,
) -> UploadStats:
    """Make `dest` hold `files` (relative path -> local file), sending only content it lacks.

    `python` is the host's interpreter for the helper (standard library only). `present`:
    the objects the store was found to hold (`have_argv`, asked earlier); None: asked here.
    """
    entries = await hashed(files)
    return await send_tree(
        conn, entries, dest, store=store, timeout=timeout, python=python, present=present
    )


async def send_tree(
    conn: Connector,
    entries: Sequence[Entry],
    dest: str,
    *,
    store: str,
    timeout: float = UPLOAD_TIMEOUT,
    python: str = "python3",
    present: frozenset[str] | None = None,
) -> UploadStats:
    """`upload_tree` of files already `hashed` (a run hashes its release once, for every
    host)."""
    wanted = {entry.object: entry for entry in entries}
    if present is None:
        have = await conn.run(
            [python, "-c", _BOOTSTRAP, "have", store],
            stdin=_helper_input("\n".join(wanted).encode()),
            timeout=timeout,
        )
        present = held(have.stdout)
    missing = [entry for name, entry in wanted.items() if name not in present]
    payload = await asyncio.to_thread(_tar, missing) if missing else b""
    manifest = json.dumps([[e.relative, e.object, f"{e.mode:o}"] for e in entries]).encode()
    stored = await conn.run(
        [python, "-c", _BOOTSTRAP, "put", store, dest],
        stdin=_helper_input(f"{len(payload)}\n".encode() + payload + manifest),
        timeout=timeout,
        check=False,
    )
    if not stored.ok:
        why = (stored.stderr.strip().splitlines() or [f"exit {stored.exit_code}"])[-1]
        full = stored.exit_code == NO_SPACE
        raise HostError(
            f"upload to {conn.name} failed: {why}",
            hint=f"free space on {conn.name} (df -h {store}) or grow its disk, then deploy again"
            if full
            else f"check that {conn.name} can write to {store} and {dest}",
        )
    sent_bytes = sum(entry.local.stat().st_size for entry in missing)
    return UploadStats(files=len(entries), sent=len(missing), bytes_sent=sent_bytes)
