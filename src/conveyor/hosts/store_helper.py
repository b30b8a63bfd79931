"""The host side of uploads: which objects the store has, receive new ones, link a tree.

This file runs on the host under its own `python3` (standard library only), sent
on stdin ahead of its data by `upload.py`; conveyor imports it only for NO_SPACE.

    have STORE       stdin: object names, one a line -> prints the ones STORE holds
    put STORE DEST   stdin: "<n>\\n", an n-byte tar of new objects, then a JSON
                     manifest [[relative path, object, mode], ...] -> DEST
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
from typing import BinaryIO

NO_SPACE = 3  # exit code: the host's disk (or quota) is full


def have(store: str, names: list[str]) -> list[str]:
    """The objects among `names` that the store already holds."""
    return [name for name in names if os.path.isfile(os.path.join(store, name))]


def receive(store: str, tar_bytes: bytes) -> int:
    """Store each object of the tar under its name, after checking its hash; returns a count."""
    os.makedirs(store, exist_ok=True)
    count = 0
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as archive:
        for member in archive:
            source = archive.extractfile(member)
            if source is None or "/" in member.name or member.name.startswith("."):
                raise SystemExit(f"unexpected member in upload: {member.name!r}")
            data = source.read()
            digest, _, mode = member.name.partition("-")
            if hashlib.sha256(data).hexdigest() != digest:
                raise SystemExit(f"object {member.name} arrived damaged (hash differs)")
            # Temp + rename: a half-written object must never look present to `have`.
            temp = os.path.join(store, f".{member.name}.{os.getpid()}")
            with open(temp, "wb") as handle:
                handle.write(data)
            os.chmod(temp, int(mode, 8))
            os.replace(temp, os.path.join(store, member.name))
            count += 1
    return count


def link_tree(store: str, dest: str, manifest: list[list[str]]) -> None:
    """Build `dest` from hard links into the store, then swap it in whole."""
    dest = dest.rstrip("/")
    temp = f"{dest}.incoming-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    for relative, name, _mode in manifest:
        if relative.startswith("/") or ".." in relative.split("/"):
            raise SystemExit(f"refusing path outside the tree: {relative!r}")
        target = os.path.join(temp, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(os.path.join(store, name), target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.copy2(os.path.join(store, name), target)  # store on another filesystem
    os.makedirs(temp, exist_ok=True)
    old = f"{dest}.old-{os.getpid()}"
    if os.path.lexists(dest):
        os.rename(dest, old)
    os.rename(temp, dest)
    shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str], stdin: BinaryIO) -> int:
    """Dispatch on the first argument; errors go to stderr with exit code 1."""
    command, store = argv[0], argv[1]
    if command == "have":
        names = stdin.read().decode().split()
        sys.stdout.write("".join(f"{name}\n" for name in have(store, names)))
        return 0
    size = int(stdin.readline())
    tar_bytes = stdin.read(size)
    received = receive(store, tar_bytes) if size else 0
    link_tree(store, argv[2], json.loads(stdin.read()))
    sys.stdout.write(f"received {received}\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:], sys.stdin.buffer))
    except OSError as exc:  # one line for conveyor to show, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(f"{exc.strerror or exc}{where}\n")
        sys.exit(NO_SPACE if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 1)
