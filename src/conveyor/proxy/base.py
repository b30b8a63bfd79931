"""The proxy protocol: builders that route a service's public address to one colour's port.

A proxy renders its boot config and returns argv lists; the deploy executor runs
them on the host. A switch must be graceful: requests in flight on the old
colour finish there, new ones go to the new colour, none fail.
"""

from __future__ import annotations

from typing import Protocol

from conveyor.runtime.base import Program


class Proxy(Protocol):
    """Builders for one app's proxy on one host."""

    @property
    def config_path(self) -> str:
        """Where the boot config is written on the host."""
        ...

    @property
    def upstream_path(self) -> str:
        """The file naming the live upstream, which the proxy reads on every request."""
        ...

    def render_config(self, listen: str) -> bytes:
        """The boot config routing `listen` to the upstream named in `upstream_path`."""
        ...

    def render_upstream(self, upstream_port: int) -> bytes:
        """The content of `upstream_path` for 127.0.0.1:`upstream_port`."""
        ...

    def program(self) -> Program:
        """The proxy as a runtime program (it runs under the app's supervisor)."""
        ...

    def ready_argv(self) -> list[str]:
        """Argv that exits 0 once the proxy is up (poll it after a start)."""
        ...

    def switch_argv(self, upstream_port: int) -> list[str]:
        """Argv that routes new requests to 127.0.0.1:`upstream_port` (none in flight fail),
        then prints the live upstream as `upstream_argv` does."""
        ...

    def upstream_argv(self) -> list[str]:
        """Argv that prints the live upstream; `parse_upstream` reads its output."""
        ...

    def parse_upstream(self, output: str) -> int:
        """The port the proxy routes to, from the output of `upstream_argv`."""
        ...
