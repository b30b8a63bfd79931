"""Histories written through a real HistoryStore with the test's clock, in minutes from T0
(or another `origin`).

`Story(store, clock).deploy(60, 70, commits={"a1": 10, "a2": 40})` records a deploy that
started 60 minutes after T0, finished at 70, brought commits a1 and a2 (committed at 10
and 40) and deployed the last one named. Golden tests compute their answers by hand
from these minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from conveyor.history import Change, HistoryStore
from tests.unit.history.conftest import T0, Clock


def sha(name: str) -> str:
    """A 40-hex commit hash that reads as its short name in a failing assertion."""
    return name.encode().hex().ljust(40, "0")[:40]


@dataclass
class Story:
    """Writes deploys, rollbacks, checks and approvals of one environment at given minutes."""

    store: HistoryStore
    clock: Clock
    environment: str = "production"
    origin: datetime = T0

    def at(self, minutes: float) -> datetime:
        """The origin plus `minutes`."""
        return self.origin + timedelta(minutes=minutes)

    def iso(self, minutes: float) -> str:
        """The origin plus `minutes`, as the approval gate writes a time."""
        return self.at(minutes).isoformat()

    def deploy(
        self,
        start: float,
        end: float | None,
        status: str = "succeeded",
        *,
        commits: Mapping[str, float] | None = None,
        kind: str = "deploy",
        hotfix: bool = False,
        approval: tuple[str, str] | None = None,
    ) -> str:
        """A record from `start` to `end` (None: still running) and what it brought."""
        commits = commits or {}
        deployed = sha(list(commits)[-1]) if commits else ""
        self.clock.now = self.at(start)
        deploy_id = self.store.start(
            environment=self.environment, kind=kind, release=f"r-{start:g}", version="1",
            commit=deployed, hosts=["local"], user="u", machine="m", hotfix=hotfix,
        )  # fmt: skip
        if commits:
            changes = [
                Change(sha(name), self.at(when), "Ann <ann@example.com>")
                for name, when in commits.items()
            ]
            self.store.record_changes(deploy_id, changes)
        if approval is not None:
            fields = {"requested_at": approval[0], "approved_at": approval[1]}
            self.store.event(deploy_id, kind="approval", message="approved", fields=fields)
        if end is not None:
            self.clock.now = self.at(end)
            self.store.finish(deploy_id, status=status, message=status)
        return deploy_id

    def check(
        self, name: str, end: float, *, passed: bool = True, config: str = "sha256:c"
    ) -> None:
        """A `conveyor check` of commit `name` that took a minute and ended at `end`."""
        self.store.record_check(
            commit=sha(name), config=config, passed=passed, started_at=self.at(end - 1),
            finished_at=self.at(end), summary="1 passed" if passed else "1 failed",
        )  # fmt: skip
