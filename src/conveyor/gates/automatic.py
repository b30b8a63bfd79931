"""The automatic gates, evaluated when a request is made, when it is approved and again
before it runs: a passing `conveyor check` on the exact commit with the `[checks]`
configuration that commit holds, the release's soak on staging, and the migrations' lint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from conveyor.checks.record import checks_digest_at
from conveyor.errors import ConveyorError
from conveyor.history.store import HistoryStore
from conveyor.project.environment import ApprovalConfig
from conveyor.project.fields import format_duration
from conveyor.project.load import Project


@dataclass(frozen=True)
class Gate:
    """One automatic gate's verdict, for a person."""

    name: str
    passed: bool
    said: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def evaluate(
    project: Project,
    policy: ApprovalConfig,
    environment: str,
    store: HistoryStore,
    *,
    plan: Mapping[str, Any],
    commit: str,
    now: datetime,
) -> list[Gate]:
    """The gates `policy` (the one in force, `gates/trust.py`) asks for, each with what it
    found."""
    gates = []
    if policy.checks:
        gates.append(_checks(project, store, commit))
    if policy.staging_soak is not None:
        gates.append(_soak(project, store, str(plan["release"]), policy.staging_soak, now))
    gates.append(_migrations(plan))
    return gates


def _checks(project: Project, store: HistoryStore, commit: str) -> Gate:
    if not commit:
        return Gate("checks", False, "the release names no commit, so no check result can hold")
    try:
        config = checks_digest_at(project, commit)
    except ConveyorError as unread:
        return Gate("checks", False, f"{unread.message}: no check result can hold")
    passed = store.check_passed(commit, config)
    if passed is None:
        return Gate(
            "checks",
            False,
            f"no passing conveyor check on {commit[:12]} with its [checks] configuration: "
            "run conveyor check on that commit",
        )
    return Gate(
        "checks", True, f"conveyor check passed on {commit[:12]} at {passed.finished_at:%F %T}Z"
    )


def _soak(project: Project, store: HistoryStore, release: str, soak: Any, now: datetime) -> Gate:
    staging = [
        name for name, env in project.config.environments.items() if env.resolved_tier == "staging"
    ]
    best = None
    for name in staging:
        latest = store.deploys(name, limit=1)
        if not latest:
            continue
        record = latest[0]
        if (
            record.kind == "deploy"
            and record.status == "succeeded"
            and record.release == release
            and record.finished_at is not None
        ):
            served = now - record.finished_at
            if best is None or served > best[1]:
                best = (name, served)
    wanted = format_duration(soak)
    if best is None:
        where = ", ".join(staging) or "no staging-tier environment"
        return Gate(
            "soak",
            False,
            f"this release is not what serves on staging ({where}) after a succeeded deploy; "
            f"it must serve there for {wanted} first",
        )
    name, served = best
    shown = span(served)
    if served < soak:
        return Gate("soak", False, f"served on {name} for {shown}, less than {wanted}")
    return Gate("soak", True, f"served on {name} for {shown} (at least {wanted})")


def _migrations(plan: Mapping[str, Any]) -> Gate:
    steps = [
        s for s in plan.get("steps", []) if s.get("action") == "migrate" and s.get("op") is not None
    ]
    if not steps:
        return Gate("migrations", True, "no migrations to run")
    # The plan exists only when the lint refused nothing pending, or what it refused was
    # accepted with --accept --why: the migrate step says which.
    return Gate("migrations", True, str(steps[0].get("description", "")))


def span(value: timedelta) -> str:
    """A time served, to the minute: 45s, 31m, 2h05m, 3d04h."""
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // 1440}d{minutes % 1440 // 60:02d}h"
