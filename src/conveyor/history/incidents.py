"""Which deploys needed remediation, and the incidents they made: the change failure
rate and the failed deployment recovery time, from one environment's records.

A deploy needed remediation when it failed or rolled itself back, or when a remediation
was about it. Each rollback, recovery or hotfix deploy is about one deploy, the newest
that had finished when it started (so never one before the last good deploy):
- a rollback: the newest deploy that succeeded, whose release it takes traffic from (a
  deploy that failed never kept traffic, and is counted by its own status);
- a recovery or a hotfix: the newest deploy, however it ended (a hotfix after a failed
  deploy fixes that one, not the good deploy before it).
A recovery a deploy runs first, inside its own run, is about an interrupted deploy that
is finished as failed: it blames nothing more.

An incident opens when a deploy that needed remediation finishes; a second one before it
is restored belongs to the same incident; it closes when a later deploy, rollback or
recovery succeeds without itself needing remediation. One still open at the window's
end is reported with its age, never as a recovery time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from conveyor.history.records import DeployRecord

FAILED = ("failed", "rolled_back")
REMEDIATION = ("rollback", "recover")


def in_order(records: Sequence[DeployRecord]) -> list[DeployRecord]:
    """Deploys, rollbacks and recoveries by their start (stops, starts, db commands left out)."""
    kept = (r for r in records if r.kind == "deploy" or r.kind in REMEDIATION)
    return sorted(kept, key=lambda r: (r.started_at, r.id))


def needed_remediation(records: Sequence[DeployRecord]) -> set[str]:
    """The ids of the deploys among `records` that needed remediation."""
    needed: set[str] = set()
    deploys: list[DeployRecord] = []  # so far, by start
    for record in in_order(records):
        if record.kind == "deploy" and record.status in FAILED:
            needed.add(record.id)
        if record.kind in REMEDIATION or record.hotfix:
            about = _remediated(deploys, record)
            if about is not None:
                needed.add(about.id)
        if record.kind == "deploy":
            deploys.append(record)
    return needed


def _remediated(deploys: Sequence[DeployRecord], remedy: DeployRecord) -> DeployRecord | None:
    """The deploy `remedy` (a rollback, recovery or hotfix) is about, if any."""
    start = remedy.started_at
    if remedy.kind in REMEDIATION and any(
        d.finished_at is not None and d.started_at <= start < d.finished_at for d in deploys
    ):
        return None  # run inside a deploy (its recovery first): about an interrupted one
    done = [d for d in deploys if d.finished_at is not None and d.finished_at <= start]
    if remedy.kind == "rollback":
        done = [d for d in done if d.status == "succeeded"]
    return done[-1] if done else None


@dataclass(frozen=True)
class Incidents:
    """Restored incidents' recovery times, and how long the open one has been open."""

    restored: tuple[float, ...] = ()  # seconds
    open_for: float | None = None  # seconds at the window's end; None when nothing is open

    @property
    def count(self) -> int:
        """Restored and open incidents."""
        return len(self.restored) + (self.open_for is not None)


def incidents(records: Sequence[DeployRecord], needed: set[str], *, until: datetime) -> Incidents:
    """The incidents the deploys in `needed` made, from the records of one environment."""
    restored: list[float] = []
    opened: datetime | None = None
    for record in in_order(records):
        if record.finished_at is None:
            continue
        if record.kind == "deploy" and record.id in needed:
            opened = opened or record.finished_at  # overlapping failures: one incident
            continue
        if opened is not None and record.status == "succeeded":
            # Clocks of two machines writing one history can disagree by a little.
            restored.append(max(0.0, (record.finished_at - opened).total_seconds()))
            opened = None
    open_for = None if opened is None else max(0.0, (until - opened).total_seconds())
    return Incidents(tuple(restored), open_for)
