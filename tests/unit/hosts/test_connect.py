"""connector_for and the remote command string: pure, no host needed."""

from __future__ import annotations

from pathlib import Path

from conveyor.hosts.connect import connector_for
from conveyor.hosts.local import LocalConnector
from conveyor.hosts.ssh import SshConnector, remote_command


def test_local_gives_the_local_connector() -> None:
    conn = connector_for("local")
    assert isinstance(conn, LocalConnector)
    assert conn.name == "local"


def test_user_at_host_gives_an_ssh_connector_named_as_written() -> None:
    conn = connector_for("deploy@app-1:2222", known_hosts=Path("/kh"), identity=Path("/id"))
    assert isinstance(conn, SshConnector)
    assert conn.name == "deploy@app-1:2222"


def test_remote_command_quotes_once_and_wraps_in_timeout() -> None:
    command = remote_command(["echo", "a b", "$HOME"], timeout=5)
    assert command == "exec timeout -s KILL 5 echo 'a b' '$HOME'"


def test_remote_command_passes_env_through_env_and_cds_first() -> None:
    command = remote_command(["run"], timeout=0.5, env={"K": "v w"}, cwd="/srv/my app")
    assert command == "cd '/srv/my app' && exec timeout -s KILL 0.5 env 'K=v w' run"
