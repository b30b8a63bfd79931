"""Shared fixtures: a project made from a dict of files, run through the CLI's main()."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from conveyor.cli import main
from conveyor.demo import ports

# Speed is measured in bench/, never asserted: hypothesis's 200 ms deadline per example
# failed a property test on a loaded CI machine (327 ms once, 62 ms on the rerun).
settings.register_profile("conveyor", deadline=None)
settings.load_profile("conveyor")


def _own_ports() -> None:
    """Each xdist worker takes its ports (for local hosts, Caddy, the apps) from a slice of
    its own, in order: two tests running at once never pick the same free port."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    every = ports.below_ephemeral()
    share = len(every) // max(count, 1)
    first = int(worker.removeprefix("gw") or 0) * share
    ports.use(every[first : first + share])


_own_ports()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first (those marked slow, then the integration and end-to-end ones), each
    group in the order pytest chose. Under `--dist worksteal` (the Makefile) each worker gets
    a contiguous share and runs it from the front: the first worker starts on the longest
    tests at once, and the others, done with their short ones, steal halves of what it has
    not started, from the back. A run thus does not end with one worker on a minute-long
    test while the others have nothing left."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is not None:
            return 0
        return 1 if item.nodeid.startswith(("tests/integration/", "tests/e2e/")) else 2

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the real home directory or inherits the caller's settings."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for key in list(os.environ):
        if (
            key.startswith(("CONVEYOR_", "DB_", "JWT_", "API_", "DATABASE_"))
            or key == "ENVIRONMENT"
        ):
            monkeypatch.delenv(key)


@dataclass(frozen=True)
class Result:
    """What a CLI run printed and returned."""

    code: int
    out: str
    err: str


class Project:
    """A project on disk, built from a dict of files, driven through `main()`."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self._capsys = capsys

    def write(self, files: Mapping[str, str], *, mode: int | None = None) -> None:
        """Write files (dedented); `mode` applies to each."""
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
            if mode is not None:
                path.chmod(mode)

    def run(self, *argv: str) -> Result:
        """`conveyor -C root ARGV...` in-process."""
        self._capsys.readouterr()
        code = main(["-C", str(self.root), *argv])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def make_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Project]]:
    """`make_project({"conveyor.toml": ..., ".env.example": ...})` -> Project."""

    def make(files: Mapping[str, str] | None = None, *, mode: int | None = 0o600) -> Project:
        project = Project(tmp_path / "project", capsys)
        project.root.mkdir(exist_ok=True)
        project.write(files or {}, mode=mode)
        return project

    yield make
