"""Fixtures for integration tests: real services started as children of the test process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.deployed import DeployProject, shared_tools
from tests.integration.sshd import Sshd, start_sshd


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sshd]]:
    """Starts more real sshds on demand (each its own 127.0.0.N:port and host key);
    keyword arguments go to start_sshd (e.g. `sftp=False`)."""
    started: list[Sshd] = []

    def start(**options: Any) -> Sshd:
        sshd = start_sshd(tmp_path_factory.mktemp("sshd"), **options)
        started.append(sshd)
        return sshd

    yield start
    for sshd in started:
        sshd.stop()


@pytest.fixture(scope="session")
def sshd(sshd_factory: Callable[[], Sshd]) -> Sshd:
    """One real sshd shared by the session: `spec`, `known_hosts`, `identity`, `connector()`."""
    return sshd_factory()


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tools(tmp_path_factory.mktemp("tools"))


@pytest.fixture
def make_deploy_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tools: Path
) -> Iterator[Callable[..., DeployProject]]:
    made: list[DeployProject] = []

    def make(
        hosts: list[str] | None = None, ssh_args: tuple[str, ...] = (), keep_warm: str = "15m"
    ) -> DeployProject:
        project = DeployProject(
            tmp_path / f"project{len(made)}",
            capsys,
            hosts=hosts or ["local"],
            tools=tools,
            ssh_args=ssh_args,
            keep_warm=keep_warm,
        )
        made.append(project)
        return project

    yield make
    for project in made:
        project.shutdown()


@pytest.fixture
def local(make_deploy_project: Callable[..., DeployProject]) -> DeployProject:
    project = make_deploy_project()
    project.app_dir("localhost")
    return project
