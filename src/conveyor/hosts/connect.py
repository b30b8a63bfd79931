"""From a host as written in conveyor.toml to the connector that reaches it."""

from __future__ import annotations

from pathlib import Path

from conveyor.hosts.base import Connector
from conveyor.hosts.local import LocalConnector
from conveyor.hosts.ssh import SshConnector
from conveyor.project.fields import parse_host


def connector_for(
    host_spec: str,
    *,
    known_hosts: Path | None = None,
    identity: Path | None = None,
    ask_home: bool = False,
) -> Connector:
    """ "local" gives a LocalConnector, "user@host[:port]" an SshConnector (not yet connected;
    with `ask_home` it reads the host's $HOME when it connects)."""
    address = parse_host(host_spec)
    if address.is_local:
        return LocalConnector()
    assert address.user is not None
    return SshConnector(
        host_spec,
        user=address.user,
        host=address.host,
        port=address.port or 22,
        known_hosts=known_hosts,
        identity=identity,
        ask_home=ask_home,
    )
