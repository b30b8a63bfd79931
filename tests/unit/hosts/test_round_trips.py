"""Round trips: what a connector counts (run, put, get) and how a benchmark collects them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from conveyor.errors import CommandFailed
from conveyor.hosts.connect import collecting, connector_for
from conveyor.hosts.local import LocalConnector
from conveyor.hosts.trips import RoundTrips, command_label
from conveyor.hosts.upload import upload_tree


def test_each_run_put_and_get_is_one_round_trip_failed_or_not(tmp_path: Path) -> None:
    async def session() -> LocalConnector:
        conn = LocalConnector()
        await conn.connect()
        await conn.run(["true"])
        await conn.run(["sh", "-c", "exit 3"], check=False)
        with pytest.raises(CommandFailed):
            await conn.run(["false"])
        await conn.run(["no-such-command-here"], check=False)
        await conn.put(b"SECRET=1\n", str(tmp_path / "shared" / ".env"), mode=0o600)
        assert await conn.get(str(tmp_path / "shared" / ".env")) == b"SECRET=1\n"
        with pytest.raises(FileNotFoundError):
            await conn.get(str(tmp_path / "nope"))
        await conn.forward("127.0.0.1", 80)  # a tunnel, not a round trip
        await conn.close()
        return conn

    conn = asyncio.run(session())
    assert conn.round_trips.total == 7
    assert conn.round_trips.by_kind == {"run": 4, "put": 1, "get": 2}
    assert conn.round_trips.by_command == {
        "true": 1,
        "sh -c": 1,
        "false": 1,
        "no-such-command-here": 1,
        "put": 1,
        "get": 2,
    }
    # Only counts: neither a path nor the file's contents is kept.
    assert "SECRET" not in repr(conn.round_trips) and ".env" not in repr(conn.round_trips)


def test_an_upload_is_two_round_trips_whatever_the_size_of_the_tree(tmp_path: Path) -> None:
    files = {}
    for index in range(20):
        local = tmp_path / "src" / f"f{index}.txt"
        local.parent.mkdir(exist_ok=True)
        local.write_text(f"file {index}\n")
        files[f"pkg/f{index}.txt"] = local
    conn = LocalConnector()
    stats = asyncio.run(
        upload_tree(
            conn,
            files,
            str(tmp_path / "release"),
            store=str(tmp_path / "store"),
            python=sys.executable,
        )
    )
    assert stats.sent == 20
    label = f"{Path(sys.executable).name} -c"
    # And the start of the interpreter's agent (hosts/agent.py), once per connection.
    assert conn.round_trips.by_kind == {"run": 2, "session": 1}
    assert conn.round_trips.by_command == {label: 2, "agent start": 1}
    assert (conn.round_trips.total, conn.round_trips.commands) == (3, 2)


@pytest.mark.parametrize(
    ("argv", "label"),
    [
        (
            ["/srv/app/tools/bin/supervisorctl", "-c", "/srv/app/supervisord.conf", "status"],
            "supervisorctl",
        ),
        (["python3", "-c", "import sys; print(sys.argv)", "a"], "python3 -c"),
        (
            ["/srv/app/venvs/k/bin/python3.11", "-m", "alembic", "-c", "alembic.ini"],
            "python3.11 -m alembic",
        ),
        (["sha256sum", "-c", "SUMS"], "sha256sum"),
        (["printenv", "HOME"], "printenv"),
        ([], "?"),
    ],
)
def test_a_command_is_counted_by_its_program_never_its_arguments(
    argv: list[str], label: str
) -> None:
    assert command_label(argv) == label


def test_counts_add_up_over_one_hosts_connectors() -> None:
    first, second = RoundTrips(), RoundTrips()
    first.ran(["supervisorctl", "status"])
    second.ran(["supervisorctl", "update"])
    second.moved("put")
    first.add(second)
    assert first.by_kind == {"run": 2, "put": 1}
    assert first.by_command == {"supervisorctl": 2, "put": 1}
    assert first.total == 3


def test_collecting_sees_the_connectors_made_inside_the_block_only() -> None:
    before = connector_for("local")
    with collecting() as outer:
        local = connector_for("local")
        with collecting() as inner:
            ssh = connector_for("deploy@app-1:2222")
        assert inner == [ssh]
    after = connector_for("local")
    assert outer == [local, ssh]
    assert before not in outer and after not in outer
    assert all(conn.round_trips.total == 0 for conn in outer)
