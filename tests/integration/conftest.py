"""Fixtures for integration tests: real services started as children of the test process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.sshd import Sshd, start_sshd


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Sshd]]:
    """Starts more real sshds on demand (each its own 127.0.0.N:port and host key)."""
    started: list[Sshd] = []

    def start() -> Sshd:
        sshd = start_sshd(tmp_path_factory.mktemp("sshd"))
        started.append(sshd)
        return sshd

    yield start
    for sshd in started:
        sshd.stop()


@pytest.fixture(scope="session")
def sshd(sshd_factory: Callable[[], Sshd]) -> Sshd:
    """One real sshd shared by the session: `spec`, `known_hosts`, `identity`, `connector()`."""
    return sshd_factory()
