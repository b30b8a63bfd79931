"""What a notification says: the environment, the version, who, how long it took, what failed
and where, and which deploy (or approval) it is about.

Plain text, the same for every service. A service apprise sends to cannot have a sent
message edited, so a deploy is told in one message per event, each naming the deploy's id.
There is no link yet: there is no dashboard to link to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.build.manifest import id_digest
from conveyor.history.records import DeployRecord

# Enough of a failure's cause to say why; the rest is in `conveyor history show`.
CAUSE_LINES = 8
MESSAGE_LINES = 3
_SUBJECT = {"deploy": "deploy", "rollback": "rollback", "recover": "recovery"}


@dataclass(frozen=True)
class Text:
    """A message's title, body and apprise level (info, success, warning, failure)."""

    title: str
    body: str
    level: str


def record_text(record: DeployRecord, event: str, *, failed_on: Sequence[str] = ()) -> Text:
    """The message for a deploy, rollback or recovery record at `event` (notices.event_of)."""
    lines = _head(record.message, MESSAGE_LINES) if record.status != "running" else []
    lines.append(f"environment: {record.environment}")
    release = release_label(record)
    if release:
        lines.append(f"release: {release}")
    lines.append(f"by: {record.user}@{record.machine}")
    if record.duration is not None:
        lines.append(f"took: {duration(record.duration)}")
    if failed_on:
        lines.append(f"failed on: {', '.join(failed_on)}")
    if record.cause and record.status != "succeeded":
        lines.append("cause:")
        lines += [f"  {line}" for line in _head(record.cause, CAUSE_LINES)]
    lines.append(f"{_SUBJECT.get(record.kind, record.kind)}: {record.id}")
    return Text(_title(record, event), "\n".join(lines), _level(record, event))


def approval_text(
    event: str,
    *,
    approval_id: str,
    environment: str,
    version: str,
    who: str,
    why: str | None = None,
) -> Text:
    """The message for an approval request (`event`: approval_requested, _given, _rejected)."""
    title, level = {
        "approval_requested": (f"{environment}: {version} waits for approval", "info"),
        "approval_given": (f"{environment}: {version} approved by {who}", "success"),
        "approval_rejected": (f"{environment}: {version} rejected by {who}", "warning"),
    }[event]
    lines = [f"environment: {environment}", f"version: {version}"]
    lines.append(f"{'requested' if event == 'approval_requested' else 'decided'} by: {who}")
    if why:
        lines.append(f"why: {why}")
    lines.append(f"approval: {approval_id}")
    return Text(title, "\n".join(lines), level)


def release_label(record: DeployRecord) -> str:
    """As `conveyor history` shows it: `1.4.0 (3f2a9c1b2d4e)` (the version and its id's
    hash, which `rollback --to` takes), `r-1 (1.4.0)`, or "" while not known (a rollback's,
    before it reads the hosts)."""
    release, version = record.release, record.version
    digest = id_digest(release, version)
    if digest is not None:
        return f"{version} ({digest})"
    if release and version and release != version:
        return f"{release} ({version})"
    return release or version


def duration(seconds: float) -> str:
    """4.2s, 3m05s, 2h03m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _title(record: DeployRecord, event: str) -> str:
    env, version = record.environment, record.version or record.release
    of = f" of {version}" if version else ""
    if record.kind == "rollback":
        to = f" to {version}" if version else ""
        return {
            "started": f"{env}: rolling back{to}",
            "rolled_back": f"{env}: rolled back{to}",
        }.get(event, f"{env}: rollback{to} failed")
    if record.kind == "recover":
        if event == "failed":
            return f"{env}: recovery failed"
        if record.status == "running":
            return f"{env}: recovering an interrupted deploy"
        return f"{env}: recovered"
    return {
        "started": f"{env}: deploying{' ' + version if version else ''}",
        "succeeded": f"{env}: {version} deployed",
        "rolled_back": f"{env}: deploy{of} failed and was rolled back",
    }.get(event, f"{env}: deploy{of} failed")


def _level(record: DeployRecord, event: str) -> str:
    if event == "failed":
        return "failure"
    if event == "rolled_back":
        return "success" if record.kind == "rollback" else "warning"
    if event == "recovery":
        return "warning" if record.status == "running" else "success"
    return "success" if event == "succeeded" else "info"


def _head(text: str, count: int) -> list[str]:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) > count:
        return [*lines[:count], f"... ({len(lines) - count} more line(s))"]
    return lines
