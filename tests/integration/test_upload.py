"""upload_tree to a local and an SSH host: only missing content travels, modes survive."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from conveyor.deploy.batch import Run, batch
from conveyor.hosts.base import Connector
from conveyor.hosts.local import LocalConnector
from conveyor.hosts.upload import UploadStats, hashed, have_argv, held, upload_tree
from tests.integration.sshd import Sshd


def _tree(root: Path) -> dict[str, Path]:
    files = {
        "app/__init__.py": b"",
        "app/main.py": b"print('v1')\n",
        "app/copy_of_main.py": b"print('v1')\n",
        "bin/run": b"#!/bin/sh\necho run\n",
        "data/blob.bin": bytes(range(256)) * 400,
    }
    mapping = {}
    for relative, content in files.items():
        path = root / relative.replace("/", "__")
        path.write_bytes(content)
        mapping[relative] = path
    mapping["bin/run"].chmod(0o755)
    return mapping


async def _two_releases(
    conn: Connector, files: dict[str, Path], app_dir: Path
) -> list[UploadStats]:
    store = str(app_dir / "objects")
    try:
        first = await upload_tree(conn, files, str(app_dir / "releases/r1"), store=store)
        again = await upload_tree(conn, files, str(app_dir / "releases/r1"), store=store)
        files["app/main.py"].write_bytes(b"print('v2')\n")
        second = await upload_tree(conn, files, str(app_dir / "releases/r2"), store=store)
    finally:
        await conn.close()
    return [first, again, second]


def _check_hosts_tree(app_dir: Path) -> None:
    r1, r2 = app_dir / "releases/r1", app_dir / "releases/r2"
    assert (r1 / "app/main.py").read_text() == "print('v1')\n"
    assert (r2 / "app/main.py").read_text() == "print('v2')\n"
    assert (r2 / "data/blob.bin").read_bytes() == bytes(range(256)) * 400
    assert stat.S_IMODE((r2 / "bin/run").stat().st_mode) == 0o755
    assert stat.S_IMODE((r2 / "app/main.py").stat().st_mode) == 0o644
    # Unchanged files are the same inode in both releases: linked, not copied.
    assert (r1 / "data/blob.bin").stat().st_ino == (r2 / "data/blob.bin").stat().st_ino
    assert sorted(p.name for p in (app_dir / "releases").iterdir()) == ["r1", "r2"]


@pytest.mark.parametrize("kind", ["local", "ssh"])
def test_only_missing_content_is_sent(kind: str, sshd: Sshd, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    files = _tree(tmp_path / "src")
    for path in files.values():
        if path.name != "bin__run":
            path.chmod(0o644)
    conn: Connector = LocalConnector() if kind == "local" else sshd.connector()
    first, again, second = asyncio.run(_two_releases(conn, files, tmp_path / "host"))
    # Two files share one content: four objects for five files.
    assert first == UploadStats(files=5, sent=4, bytes_sent=12 + 19 + 102400)
    assert again == UploadStats(files=5, sent=0, bytes_sent=0)
    assert second == UploadStats(files=5, sent=1, bytes_sent=12)
    _check_hosts_tree(tmp_path / "host")


def test_paths_outside_the_tree_are_refused(tmp_path: Path) -> None:
    local = tmp_path / "f"
    local.write_text("x")
    with pytest.raises(ValueError, match=r"upload paths must stay inside the tree, got '../evil'"):
        asyncio.run(
            upload_tree(
                LocalConnector(), {"../evil": local}, str(tmp_path / "d"), store=str(tmp_path / "o")
            )
        )


@pytest.mark.parametrize("kind", ["local", "ssh"])
def test_a_batch_asks_what_the_store_holds_and_the_upload_sends_only_the_rest(
    kind: str, sshd: Sshd, tmp_path: Path
) -> None:
    """The deploy's prepare asks which objects the host holds in its own round trip; the
    upload then sends the rest without asking again, and the release is whole."""
    (tmp_path / "src").mkdir()
    files = _tree(tmp_path / "src")
    app_dir = tmp_path / "host"
    store, python = str(app_dir / "objects"), "python3"

    async def run() -> tuple[frozenset[str], frozenset[str], UploadStats]:
        conn: Connector = LocalConnector() if kind == "local" else sshd.connector()
        try:
            first = dict(list(files.items())[:2])
            await upload_tree(conn, first, str(app_dir / "releases/r0"), store=store)
            objects = [entry.object for entry in await hashed(files)]
            (answer,) = await batch(conn, python, [Run(have_argv(python, store, objects))])
            present = held(answer.stdout)
            trips = conn.round_trips.total
            stats = await upload_tree(
                conn, files, str(app_dir / "releases/r1"), store=store, present=present
            )
            assert conn.round_trips.total == trips + 1  # the send alone
            return frozenset(objects), present, stats
        finally:
            await conn.close()

    objects, present, stats = asyncio.run(run())
    assert len(objects) == 4 and len(present) == 2 and present < objects
    assert stats == UploadStats(files=5, sent=2, bytes_sent=19 + 102400)
    assert (app_dir / "releases/r1/data/blob.bin").read_bytes() == bytes(range(256)) * 400
