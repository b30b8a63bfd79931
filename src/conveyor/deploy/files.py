"""Files a sync service puts into place on a host from a release, and its `after` command."""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.deploy.hostops import Target, run_in_release
from conveyor.errors import CommandFailed
from conveyor.project.model import ServiceConfig

# Runs on the host: copy a release's directory into place, file by file, each atomically.
# Only files an earlier sync wrote are ever removed (the manifest lists them).
_SYNC = r"""
import filecmp, json, os, shutil, sys
src, dest, missing_ok = sys.argv[1], sys.argv[2], sys.argv[3] == "missing-ok"
missing = not os.path.isdir(src)
if missing and not missing_ok:
    sys.exit(f"{src} is not a directory in the release")
os.makedirs(dest, exist_ok=True)
manifest = os.path.join(dest, ".conveyor-sync.json")
try:
    with open(manifest) as f:
        before = set(json.load(f))
except (OSError, ValueError):
    before = set()
now, copied = [], 0
for root, dirs, files in os.walk(src):
    dirs.sort()
    for name in sorted(files):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, src)
        now.append(rel)
        out = os.path.join(dest, rel)
        if os.path.isfile(out) and filecmp.cmp(path, out, shallow=False):
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(path, out + ".conveyor-tmp")
        os.replace(out + ".conveyor-tmp", out)
        copied += 1
removed = 0
for rel in sorted(before - set(now)):
    try:
        os.unlink(os.path.join(dest, rel))
        removed += 1
    except FileNotFoundError:
        pass
with open(manifest + ".tmp", "w") as f:
    json.dump(sorted(now), f)
os.replace(manifest + ".tmp", manifest)
if missing:
    said = f"none in this release: removed the {removed} file(s) a later sync wrote to {dest}"
else:
    said = f"{len(now)} file(s) in {dest}: {copied} copied, {removed} removed"
print(json.dumps({"missing": missing, "message": said}))
"""


@dataclass(frozen=True)
class Synced:
    """What a sync did: `missing` when the release has no such directory."""

    message: str
    missing: bool


async def sync(
    target: Target, *, release_id: str, source: str, dest: str, missing_ok: bool = False
) -> Synced:
    """Copy the release's `source` directory to `dest` on the host; returns what changed.

    `missing_ok`: a release without `source` counts as an empty directory (the files an
    earlier sync wrote are removed) instead of an error, and the answer says it was missing.
    """
    src = posixpath.join(target.paths.release(release_id), "app", source)
    flag = "missing-ok" if missing_ok else "strict"
    result = await target.conn.run([target.python, "-c", _SYNC, src, dest, flag], check=False)

    def failed(what: str, output: str) -> CommandFailed:
        return CommandFailed(
            f"sync of {source} to {dest} {what} on {target.spec}: {output.strip()[-300:]}",
            host=target.spec,
            argv=("sync", src, dest),
            exit_code=result.exit_code,
            output=output,
        )

    if not result.ok:
        raise failed("failed", result.stderr or result.stdout)
    try:
        verdict = json.loads(result.stdout.strip().splitlines()[-1])
        return Synced(str(verdict["message"]), bool(verdict["missing"]))
    except (IndexError, ValueError, KeyError, TypeError):
        raise failed("gave no verdict", result.stdout) from None


async def put_files(
    target: Target, service: ServiceConfig, *, release_id: str, venv_key: str, missing_ok: bool
) -> list[str]:
    """A sync service's files from the release into place, then its `after` command (not
    when the release has no such files); returns what was done, for the user."""
    assert service.sync is not None
    synced = await sync(
        target,
        release_id=release_id,
        source=service.sync.from_,
        dest=service.sync.to,
        missing_ok=missing_ok,
    )
    done = [synced.message]
    if service.after_argv and not synced.missing:
        command = service.after_argv
        done.append(
            await run_after(target, command=command, release_id=release_id, venv_key=venv_key)
        )
    return done


async def run_after(
    target: Target, *, command: Sequence[str], release_id: str, venv_key: str
) -> str:
    """A sync's `after` command, with the release's venv and values, in its app directory."""
    what = shlex.join(command)
    await run_in_release(
        target, command, release_id=release_id, venv_key=venv_key, timeout=600, what=what
    )
    return f"{what}: ok"
