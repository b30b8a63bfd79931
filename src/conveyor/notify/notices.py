"""What is told to whom: from conveyor.toml and a record (or an approval) to `Notice`s.

Which record makes which event:

| record              | started     | succeeded     | failed   | rolled_back   |
|---------------------|-------------|---------------|----------|---------------|
| deploy              | started     | succeeded     | failed   | rolled_back   |
| rollback            | started     | rolled_back   | failed   | failed        |
| recover             | recovery    | recovery      | failed   | -             |

Records of kind stop, start and migrate notify no one. Approvals are told by whoever
records them, with `approval_notices` and `conveyor.notify.outbox.enqueue`.
"""

from __future__ import annotations

import getpass
import secrets
import socket
from collections.abc import Callable, Sequence
from datetime import timezone
from typing import TYPE_CHECKING

from conveyor.history.records import DeployRecord, utcnow
from conveyor.notify.messages import approval_text, record_text
from conveyor.notify.notice import TEST_EVENT, Notice
from conveyor.notify.targets import every_target, subscribed

if TYPE_CHECKING:
    from conveyor.project.model import ConveyorConfig

NOTIFYING_KINDS = ("deploy", "rollback", "recover")
# The history store calls it in the transaction that starts or finishes a record.
Announce = Callable[[DeployRecord, Sequence[str]], list[Notice]]


def event_of(record: DeployRecord) -> str | None:
    """The event a record's start or end is (see the table above), or None."""
    if record.kind not in NOTIFYING_KINDS:
        return None
    if record.status == "running":
        return "recovery" if record.kind == "recover" else "started"
    if record.status == "failed":
        return "failed"
    if record.kind == "rollback":  # a rollback --to that was itself undone did not roll back
        return "rolled_back" if record.status == "succeeded" else "failed"
    if record.kind == "recover":
        return "recovery"
    return "succeeded" if record.status == "succeeded" else "rolled_back"


def announcer(config: ConveyorConfig) -> Announce | None:
    """What the history store enqueues when a record starts or finishes (`failed_on`: the
    hosts whose steps failed); None when no environment has a target."""
    if not config.notify.targets and not any(
        env.notify is not None and env.notify.targets for env in config.environments.values()
    ):
        return None

    def announce(record: DeployRecord, failed_on: Sequence[str]) -> list[Notice]:
        event = event_of(record)
        if event is None:
            return []
        targets = subscribed(config, record.environment, event)
        if not targets:
            return []
        text = record_text(record, event, failed_on=failed_on)
        return [
            Notice(record.id, record.environment, event, text.title, text.body, targets, text.level)
        ]

    return announce


def approval_notices(
    config: ConveyorConfig,
    *,
    event: str,
    approval_id: str,
    environment: str,
    version: str,
    who: str,
    why: str | None = None,
) -> list[Notice]:
    """The notices of an approval request's event ("approval_requested", "approval_given" or
    "approval_rejected"): give them to `outbox.enqueue` in the transaction that records it."""
    targets = subscribed(config, environment, event)
    if not targets:
        return []
    text = approval_text(
        event,
        approval_id=approval_id,
        environment=environment,
        version=version,
        who=who,
        why=why,
    )
    return [Notice(approval_id, environment, event, text.title, text.body, targets, text.level)]


def trial_notice(config: ConveyorConfig, environment: str) -> Notice | None:
    """A message to every target of `environment` (`conveyor notify test`), or None."""
    config.environment(environment)  # a ConfigError naming the known ones
    targets = every_target(config, environment)
    if not targets:
        return None
    now = utcnow()
    subject = f"t-{now.astimezone(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    body = (
        f"a test message from conveyor, sent by {who}\nenvironment: {environment}\ntest: {subject}"
    )
    return Notice(subject, environment, TEST_EVENT, f"{environment}: test", body, targets)
