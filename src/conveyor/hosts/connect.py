"""From a host as written in conveyor.toml to the connector that reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conveyor.hosts.base import Connector
from conveyor.hosts.local import LocalConnector
from conveyor.hosts.ssh import SshConnector
from conveyor.project.fields import parse_host

# The lists open `collecting()` blocks fill; empty unless a benchmark or a test asks.
_collecting: list[list[LocalConnector | SshConnector]] = []


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
    conn: LocalConnector | SshConnector
    if address.is_local:
        conn = LocalConnector()
    else:
        assert address.user is not None
        conn = SshConnector(
            host_spec,
            user=address.user,
            host=address.host,
            port=address.port or 22,
            known_hosts=known_hosts,
            identity=identity,
            ask_home=ask_home,
        )
    for found in _collecting:
        found.append(conn)
    return conn


@contextmanager
def collecting() -> Iterator[list[LocalConnector | SshConnector]]:
    """Every connector `connector_for` makes inside the block, in order: how a benchmark reads
    the round trips of a whole command (`conn.round_trips`) without reaching into it."""
    found: list[LocalConnector | SshConnector] = []
    _collecting.append(found)
    try:
        yield found
    finally:
        # By identity: two lists that are both empty compare equal.
        _collecting[:] = [other for other in _collecting if other is not found]
