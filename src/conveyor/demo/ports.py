"""Ports for the services the demo (and conveyor's own tests and benchmarks) run on this
machine: pairs (a colour's port and the next one), chosen below the kernel's ephemeral range.

A port picked by binding port 0 comes from that range, and so does the local end of every
outgoing connection: between the moment such a port is chosen and the deploy that binds
it, a connection elsewhere on the machine may take it ("Address already in use"). Below
the range only listeners compete, and a free one is checked for before it is handed out.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

from conveyor.errors import ConveyorError

LOWEST = 10000
RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def below_ephemeral() -> range:
    """Even ports from LOWEST up to the start of the ephemeral range (32768 by default)."""
    try:
        low = int(RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(LOWEST, max(min(low, 65000) - 2, LOWEST + 2), 2)


class Pairs:
    """Hands out pairs from `ports` in turn, from a random place (or the first)."""

    def __init__(self, ports: range, *, shuffle: bool = True) -> None:
        self.ports = ports
        self.next = random.randrange(len(ports)) if shuffle else 0

    def take(self) -> int:
        """A port p with p and p + 1 free on 127.0.0.1."""
        for _ in range(len(self.ports)):
            port = self.ports[self.next % len(self.ports)]
            self.next += 1
            if _free(port) and _free(port + 1):
                return port
        raise ConveyorError(
            f"no two free ports side by side on 127.0.0.1 in {self.ports.start}-"
            f"{self.ports.stop}; stop what listens there and run again"
        )


_pairs = Pairs(below_ephemeral())


def use(ports: range) -> None:
    """Take pairs from `ports` only, in order: processes running at once (test workers)
    each given their own slice never hand out the same port."""
    global _pairs
    _pairs = Pairs(ports, shuffle=False)


def free_pair() -> int:
    """A port p with p and p + 1 free on 127.0.0.1, below the ephemeral range."""
    return _pairs.take()


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
