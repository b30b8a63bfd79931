"""The one edit the e2e tests make to what `conveyor init` wrote: ports of their own."""

from __future__ import annotations

from pathlib import Path

from conveyor.demo.ports import free_pair


def own_ports(toml: Path) -> int:
    """Give the web service free ports and the local host a free listen address, so that a
    test never meets another one's on a shared machine; returns the listen port."""
    listen, port = free_pair(), free_pair()
    text = toml.read_text().replace(
        'roles = ["backend"]\n', f'roles = ["backend"]\nport = {port}\n', 1
    )
    toml.write_text(
        text.replace(
            'hosts = { backend = ["local"] }',
            f'hosts = {{ backend = [{{ host = "local", listen = "127.0.0.1:{listen}" }}] }}',
        )
    )
    return listen
