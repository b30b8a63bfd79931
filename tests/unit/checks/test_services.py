"""Where a check step's services are, from a key's URL or host:port (pure, and one real socket)."""

from __future__ import annotations

import socket

import pytest

from conveyor.checks.services import ServiceProblem, address, unreachable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("postgresql://u:p@db.internal/app", ("db.internal", 5432)),
        ("postgresql+asyncpg://u:p@10.0.0.5:5435/app", ("10.0.0.5", 5435)),
        ("redis://cache:6380/0", ("cache", 6380)),
        ("amqp://guest:guest@localhost//", ("localhost", 5672)),
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
    ],
)
def test_a_key_names_where_its_service_listens(value: str, expected: tuple[str, int]) -> None:
    assert address("URL", {"URL": value}) == ("URL", *expected)


def test_a_host_and_port_may_be_given_as_they_are() -> None:
    assert address("localhost:6379", {}) == ("localhost:6379", "localhost", 6379)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "needs DATABASE_URL, which is not set"),
        ({"DATABASE_URL": ""}, "needs DATABASE_URL, which is not set"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "whose value names no host and port"),
        ({"DATABASE_URL": "unknown://host/x"}, "whose value names no host and port"),
        ({"DATABASE_URL": "postgresql://app:12#45@db/app"}, "must be percent-encoded"),
        ({"DATABASE_URL": "app:Secr3t@db:5432"}, "is no URL or host:port it can read"),
    ],
)
def test_a_key_that_names_no_service_is_said(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ServiceProblem, match=message) as raised:
        address("DATABASE_URL", environ)
    assert "12#45" not in str(raised.value) and "Secr3t" not in str(raised.value)


def test_a_listening_port_answers_and_a_closed_one_is_named() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert unreachable(("LIVE",), {"LIVE": f"redis://127.0.0.1:{port}/0"}) is None
    said = unreachable(("LIVE",), {"LIVE": f"redis://:secret@127.0.0.1:{port}/0"})
    assert said is not None and said.startswith(f"needs LIVE (127.0.0.1:{port}), which does")
    assert "secret" not in said
