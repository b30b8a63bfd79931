"""DORA delivery figures from the deploy history of an environment over a window of days.

- deployment frequency: succeeded deploys per day;
- change failure rate: failed or rolled-back deploys / all finished deploys;
- mean time to restore: from the end of a failed or rolled-back deploy to the end of the
  next succeeded deploy or rollback (consecutive failures are one incident).
Rollback records are remediation, not changes: they restore, but are not counted as deploys.
Lead time for changes is out of scope: it needs commit times, which the history does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.history.records import DeployRecord, utcnow

if TYPE_CHECKING:
    from conveyor.history.store import HistoryStore

FAILED = ("failed", "rolled_back")
LEAD_TIME_NOTE = (
    "lead time for changes is not measured: it needs each commit's time, "
    "which the deploy history does not record"
)


@dataclass(frozen=True)
class Metrics:
    """The figures for one environment over the window (since, until]."""

    environment: str
    since: datetime
    until: datetime
    deploys: int
    succeeded: int
    failed: int
    running: int
    deployment_frequency: float
    change_failure_rate: float | None
    mean_time_to_restore: timedelta | None
    restores: int
    unrestored: int

    @property
    def days(self) -> float:
        """Length of the window in days."""
        return (self.until - self.since) / timedelta(days=1)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view: times ISO 8601, MTTR in seconds, lead time null with a note."""
        mttr = self.mean_time_to_restore
        return {
            "environment": self.environment,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "days": self.days,
            "deploys": self.deploys,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": self.running,
            "deployment_frequency_per_day": self.deployment_frequency,
            "change_failure_rate": self.change_failure_rate,
            "mean_time_to_restore_seconds": None if mttr is None else mttr.total_seconds(),
            "restores": self.restores,
            "unrestored": self.unrestored,
            "lead_time": None,
            "notes": [LEAD_TIME_NOTE],
        }


def dora(
    records: Sequence[DeployRecord], *, environment: str, since: datetime, until: datetime
) -> Metrics:
    """The figures from `records` of `environment` that started in (since, until]."""
    if until <= since:
        raise ValueError(f"empty window: {since} to {until}")
    mine = [r for r in records if r.environment == environment and since < r.started_at <= until]
    deploys = [r for r in mine if r.kind == "deploy"]
    succeeded = sum(r.status == "succeeded" for r in deploys)
    failed = sum(r.status in FAILED for r in deploys)
    finished = succeeded + failed
    restored, unrestored = _restores(mine)
    return Metrics(
        environment=environment,
        since=since,
        until=until,
        deploys=len(deploys),
        succeeded=succeeded,
        failed=failed,
        running=len(deploys) - finished,
        deployment_frequency=succeeded / ((until - since) / timedelta(days=1)),
        change_failure_rate=failed / finished if finished else None,
        mean_time_to_restore=sum(restored, timedelta()) / len(restored) if restored else None,
        restores=len(restored),
        unrestored=unrestored,
    )


def _restores(records: Sequence[DeployRecord]) -> tuple[list[timedelta], int]:
    """Each incident's time to restore, and 1 if the last incident is still open."""
    done = sorted(
        (r for r in records if r.finished_at is not None), key=lambda r: (r.finished_at, r.id)
    )
    times: list[timedelta] = []
    broken_since: datetime | None = None
    for record in done:
        assert record.finished_at is not None
        if record.kind == "deploy" and record.status in FAILED:
            # A second failure before any success belongs to the same incident.
            broken_since = broken_since or record.finished_at
        elif record.status == "succeeded" and broken_since is not None:
            times.append(record.finished_at - broken_since)
            broken_since = None
    return times, int(broken_since is not None)


def measure(
    store: HistoryStore,
    environment: str | None = None,
    *,
    days: int = 30,
    now: datetime | None = None,
) -> list[Metrics]:
    """Figures for `environment`, or for each environment deployed in the window."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, got {days}")
    until = now or utcnow()
    since = until - timedelta(days=days)
    records = store.between(environment, since=since, until=until)
    names = [environment] if environment else sorted({r.environment for r in records})
    return [dora(records, environment=n, since=since, until=until) for n in names]
