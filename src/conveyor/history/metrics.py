"""DORA's five delivery figures from Conveyor's own records, for one environment over a
window of days (since, until]: deployment frequency, change lead time (split into
waiting for checks, waiting for approval and deploying), change failure rate, failed
deployment recovery time and deployment rework rate, each next to DORA's band.

The exact definitions are in docs/metrics.md; `incidents.py` decides which deploys
needed remediation and the incidents they made, `bands.py` holds DORA's thresholds.
Deploys are records of kind "deploy" that started in the window; rollback and recover
records are remediation, never deploys. Percentiles interpolate linearly between the
closest ranks (numpy's default): p50 of 1, 2, 3, 4 is 2.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.history.bands import Band, band
from conveyor.history.incidents import FAILED, Incidents, incidents, needed_remediation
from conveyor.history.records import Change, DeployEvent, DeployRecord, utcnow

if TYPE_CHECKING:
    from conveyor.history.store import HistoryStore

APPROVAL_STEP = "approval"  # the event the approval gate writes on the deploy it let go


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0 to 1) of `values`, linear between the closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


@dataclass(frozen=True)
class Spread:
    """A distribution of seconds: how many values, p50, p90 and mean (None when empty)."""

    values: tuple[float, ...] = ()

    @property
    def count(self) -> int:
        """How many values."""
        return len(self.values)

    @property
    def p50(self) -> float | None:
        """The median."""
        return percentile(self.values, 0.5)

    @property
    def p90(self) -> float | None:
        """The 90th percentile."""
        return percentile(self.values, 0.9)

    @property
    def mean(self) -> float | None:
        """The arithmetic mean."""
        return sum(self.values) / len(self.values) if self.values else None

    def as_dict(self) -> dict[str, object]:
        """count, p50_seconds, p90_seconds, mean_seconds."""
        return {
            "count": self.count,
            "p50_seconds": self.p50,
            "p90_seconds": self.p90,
            "mean_seconds": self.mean,
        }


@dataclass(frozen=True)
class LeadTime:
    """Change lead time per commit, and per deploy that brought commits, its three parts."""

    changes: Spread = Spread()  # each commit: its deploy's end - its committer time
    deploys: int = 0  # succeeded deploys that brought at least one new commit
    checks: Spread = Spread()  # deployed commit's time -> the end of its first passing check
    checks_unknown: int = 0  # deploys whose commit never passed a recorded check
    approval: Spread = Spread()  # approval requested -> approved; 0 without an approval
    approved: int = 0  # deploys that waited for an approval
    deploying: Spread = Spread()  # the deploy's start -> its end


@dataclass(frozen=True)
class Metrics:
    """The figures for one environment over the window (since, until]."""

    environment: str
    since: datetime
    until: datetime
    succeeded: int = 0
    failed: int = 0
    rolled_back: int = 0
    running: int = 0
    hotfixes: int = 0  # finished hotfix deploys
    failed_changes: int = 0  # finished deploys that needed remediation
    lead_time: LeadTime = LeadTime()
    incidents: Incidents = field(default_factory=Incidents)

    @property
    def days(self) -> float:
        """Length of the window in days."""
        return (self.until - self.since) / timedelta(days=1)

    @property
    def finished(self) -> int:
        """Deploys that ended, however."""
        return self.succeeded + self.failed + self.rolled_back

    @property
    def deploys(self) -> int:
        """Every deploy in the window, running ones included."""
        return self.finished + self.running

    @property
    def per_day(self) -> float:
        """Deployment frequency: succeeded deploys per day."""
        return self.succeeded / self.days

    @property
    def change_failure_rate(self) -> float | None:
        """Finished deploys that needed remediation / finished deploys."""
        return self.failed_changes / self.finished if self.finished else None

    @property
    def rework_rate(self) -> float | None:
        """Finished hotfix deploys / finished deploys."""
        return self.hotfixes / self.finished if self.finished else None

    @property
    def recovery(self) -> Spread:
        """Restored incidents' recovery times."""
        return Spread(self.incidents.restored)

    def bands(self) -> dict[str, Band | None]:
        """DORA's band of each figure; None: not enough data (or, for rework, no band)."""
        if not self.deploys:
            return dict.fromkeys(BAND_KEYS)
        return {
            "deployment_frequency": band("deployment_frequency", self.per_day),
            "change_lead_time": band("change_lead_time", self.lead_time.changes.p50),
            "change_failure_rate": band("change_failure_rate", self.change_failure_rate),
            "failed_deployment_recovery_time": band(
                "failed_deployment_recovery_time", self.recovery.p50
            ),
            "deployment_rework_rate": None,
        }

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view with stable keys: seconds as numbers, null where unknown."""
        bands, lead = self.bands(), self.lead_time
        return {
            "environment": self.environment,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "days": self.days,
            "deploys": {
                "total": self.deploys,
                "finished": self.finished,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "rolled_back": self.rolled_back,
                "running": self.running,
                "hotfix": self.hotfixes,
            },
            "deployment_frequency": {
                "per_day": self.per_day,
                "per_week": self.per_day * 7,
                "band": bands["deployment_frequency"],
            },
            "change_lead_time": {
                **lead.changes.as_dict(),
                "deploys": lead.deploys,
                "band": bands["change_lead_time"],
                "waiting_for_checks": {**lead.checks.as_dict(), "unknown": lead.checks_unknown},
                "waiting_for_approval": {**lead.approval.as_dict(), "approved": lead.approved},
                "deploying": lead.deploying.as_dict(),
            },
            "change_failure_rate": {
                "rate": self.change_failure_rate,
                "failed_changes": self.failed_changes,
                "deploys": self.finished,
                "band": bands["change_failure_rate"],
            },
            "failed_deployment_recovery_time": {
                **self.recovery.as_dict(),
                "incidents": self.incidents.count,
                "open": self.incidents.open_for is not None,
                "open_for_seconds": self.incidents.open_for,
                "band": bands["failed_deployment_recovery_time"],
            },
            "deployment_rework_rate": {
                "rate": self.rework_rate,
                "hotfixes": self.hotfixes,
                "deploys": self.finished,
                "band": None,
            },
        }


BAND_KEYS = (
    "deployment_frequency",
    "change_lead_time",
    "change_failure_rate",
    "failed_deployment_recovery_time",
    "deployment_rework_rate",
)


def dora(
    records: Sequence[DeployRecord],
    *,
    environment: str,
    since: datetime,
    until: datetime,
    changes: Mapping[str, Sequence[Change]] | None = None,
    checked: Mapping[str, datetime] | None = None,
    approvals: Mapping[str, Sequence[DeployEvent]] | None = None,
) -> Metrics:
    """The figures from `records` of `environment` that started in (since, until].

    `changes`: the commits each deploy brought, by deploy id; `checked`: when each commit
    first passed `conveyor check`; `approvals`: each deploy's approval events."""
    if until <= since:
        raise ValueError(f"empty window: {since} to {until}")
    mine = [r for r in records if r.environment == environment and since < r.started_at <= until]
    deploys = [r for r in mine if r.kind == "deploy"]
    finished = [r for r in deploys if r.finished_at is not None and r.status != "running"]
    needed = needed_remediation(mine)
    ok = [r for r in finished if r.status == "succeeded"]
    return Metrics(
        environment=environment,
        since=since,
        until=until,
        succeeded=len(ok),
        failed=sum(r.status == "failed" for r in finished),
        rolled_back=sum(r.status == "rolled_back" for r in finished),
        running=len(deploys) - len(finished),
        hotfixes=sum(r.hotfix for r in finished),
        failed_changes=sum(r.id in needed for r in finished),
        lead_time=lead_time(ok, changes or {}, checked or {}, approvals or {}),
        incidents=incidents(mine, needed, until=until),
    )


def lead_time(
    succeeded: Sequence[DeployRecord],
    changes: Mapping[str, Sequence[Change]],
    checked: Mapping[str, datetime],
    approvals: Mapping[str, Sequence[DeployEvent]],
) -> LeadTime:
    """Lead time of each commit the first time a succeeded deploy brought it, and the three
    parts of each such deploy's own commit's way there."""
    seen: set[str] = set()
    per_change: list[float] = []
    checks: list[float] = []
    approval: list[float] = []
    deploying: list[float] = []
    unknown = approved = 0
    for deploy in sorted(succeeded, key=lambda r: (r.started_at, r.id)):
        assert deploy.finished_at is not None
        brought = [c for c in changes.get(deploy.id, ()) if c.sha not in seen]
        if not brought:
            continue  # a redeploy: no commit reached production through it
        seen.update(c.sha for c in brought)
        per_change += [_seconds(c.committed_at, deploy.finished_at) for c in brought]
        deploying.append(_seconds(deploy.started_at, deploy.finished_at))
        own = next((c for c in brought if c.sha == deploy.commit), None)
        passed = checked.get(deploy.commit)
        if own is None or passed is None:
            unknown += 1
        else:
            checks.append(_seconds(own.committed_at, passed))
        waited = approval_wait(approvals.get(deploy.id, ()))
        approved += waited is not None
        approval.append(waited or 0.0)
    return LeadTime(
        changes=Spread(tuple(per_change)),
        deploys=len(deploying),
        checks=Spread(tuple(checks)),
        checks_unknown=unknown,
        approval=Spread(tuple(approval)),
        approved=approved,
        deploying=Spread(tuple(deploying)),
    )


def approval_wait(events: Sequence[DeployEvent]) -> float | None:
    """Seconds from `requested_at` to `approved_at` of the last approval event that has both
    (ISO 8601 strings); None when the deploy waited for no approval."""
    for event in reversed(events):
        requested, approved = event.fields.get("requested_at"), event.fields.get("approved_at")
        if isinstance(requested, str) and isinstance(approved, str):
            try:
                return _seconds(_instant(requested), _instant(approved))
            except ValueError:
                continue  # not a time: as if the event had not said
    return None


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))  # Python 3.10 knows no Z
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


def _seconds(start: datetime, end: datetime) -> float:
    """Seconds from `start` to `end`, never below 0 (a committer's clock may run ahead)."""
    return max(0.0, (end - start).total_seconds())


def measure(
    store: HistoryStore | None,
    environments: Sequence[str] | None = None,
    *,
    days: int = 30,
    now: datetime | None = None,
) -> list[Metrics]:
    """Figures for each of `environments`, or (None) for each environment deployed in the
    window; a store of None is a project without history."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, got {days}")
    until = now or utcnow()
    since = until - timedelta(days=days)
    records = [] if store is None else store.between(None, since=since, until=until)
    names = list(environments) if environments is not None else None
    if names is None:
        names = sorted({r.environment for r in records if r.kind == "deploy"})
    records = [r for r in records if r.environment in names]
    delivered = [r.id for r in records if r.kind == "deploy" and r.status == "succeeded"]
    changes: dict[str, list[Change]] = {}
    checked: dict[str, datetime] = {}
    approvals: dict[str, list[DeployEvent]] = {}
    if store is not None and delivered:
        changes = store.changes(delivered)
        commits = {r.commit for r in records if r.id in changes and r.commit}
        checked = store.checks_passed_at(commits)
        approvals = store.step_events(delivered, APPROVAL_STEP)
    return [
        dora(
            records,
            environment=name,
            since=since,
            until=until,
            changes=changes,
            checked=checked,
            approvals=approvals,
        )
        for name in names
    ]


__all__ = ["FAILED", "LeadTime", "Metrics", "Spread", "dora", "measure", "percentile"]
