"""Ports handed out for local services: below the ephemeral range, in turn, skipping any
that something listens on (real sockets on 127.0.0.1)."""

from __future__ import annotations

import socket

from conveyor.demo.ports import RANGE_FILE, Pairs, below_ephemeral, free_pair


def test_pairs_come_below_the_ephemeral_range_and_skip_a_busy_one() -> None:
    low = int(RANGE_FILE.read_text().split()[0])
    start = free_pair()
    assert start + 1 < low and start in below_ephemeral()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", start + 1))  # the second port of the first pair
        pairs = Pairs(range(start, start + 6, 2), shuffle=False)
        taken = pairs.take()
    assert taken != start and taken in (start + 2, start + 4)
