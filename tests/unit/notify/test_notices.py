"""Which record makes which event, and which notices the store and approvals enqueue."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conveyor.notify.notice import Notice
from conveyor.notify.notices import announcer, approval_notices, event_of, trial_notice
from tests.unit.notify.conftest import PRODUCTION, config_of
from tests.unit.notify.test_messages import STARTED


@pytest.mark.parametrize(
    ("kind", "status", "event"),
    [
        ("deploy", "running", "started"),
        ("deploy", "succeeded", "succeeded"),
        ("deploy", "failed", "failed"),
        ("deploy", "rolled_back", "rolled_back"),
        ("rollback", "running", "started"),
        ("rollback", "succeeded", "rolled_back"),
        ("rollback", "failed", "failed"),
        ("rollback", "rolled_back", "failed"),  # a rollback --to that was itself undone
        ("recover", "running", "recovery"),
        ("recover", "succeeded", "recovery"),
        ("recover", "failed", "failed"),
        ("stop", "running", None),
        ("start", "succeeded", None),
        ("migrate", "failed", None),
    ],
)
def test_the_event_of_each_record(kind: str, status: str, event: str | None) -> None:
    assert event_of(replace(STARTED, kind=kind, status=status)) == event


def test_a_project_without_targets_announces_nothing(tmp_path: Path) -> None:
    assert announcer(config_of(tmp_path, 'on = ["started"]\n')) is None


def test_a_record_is_announced_to_the_targets_subscribed_to_its_event(tmp_path: Path) -> None:
    config = config_of(tmp_path, 'targets = ["json://h/$P", "slack://$S"]\non = ["started"]\n')
    announce = announcer(config)
    assert announce is not None
    [notice] = announce(STARTED, [])
    assert notice == Notice(
        "d-20261123-150102-ab12",
        "production",
        "started",
        "production: deploying 1.4.0",
        notice.body,
        ("json://h/$P", "slack://$S"),
        "info",
    )
    assert announce(replace(STARTED, status="failed"), ["deploy@app-1"]) == []  # not in `on`
    assert announce(replace(STARTED, kind="stop"), []) == []


def test_approval_notices_for_whoever_records_approvals(tmp_path: Path) -> None:
    config = config_of(tmp_path, 'targets = ["json://h/x"]\non = ["failed"]\n')
    assert approval_notices(
        config, event="approval_requested", approval_id="a-1", environment="production",
        version="1.4.0", who="alice",
    ) == []  # fmt: skip
    subscribed = config.model_copy(
        update={"notify": config.notify.model_copy(update={"on": ["approval_given"]})}
    )
    [notice] = approval_notices(
        subscribed, event="approval_given", approval_id="a-1", environment="production",
        version="1.4.0", who="bob",
    )  # fmt: skip
    assert (notice.subject, notice.event, notice.title, notice.level, notice.targets) == (
        "a-1",
        "approval_given",
        "production: 1.4.0 approved by bob",
        "success",
        ("json://h/x",),
    )


def test_a_trial_goes_to_every_target_whatever_its_events(tmp_path: Path) -> None:
    config = config_of(tmp_path, 'targets = ["json://h/x"]\non = ["failed"]\n')
    notice = trial_notice(config, "production")
    assert notice is not None and notice.event == "test" and notice.targets == ("json://h/x",)
    assert notice.subject.startswith("t-") and notice.title == "production: test"
    assert trial_notice(config_of(tmp_path, "", PRODUCTION), "production") is None


def test_a_notice_refuses_what_the_outbox_could_not_send() -> None:
    with pytest.raises(ValueError, match="unknown notification event 'deployed'"):
        Notice("d-1", "production", "deployed", "t", "b", ("json://h/x",))
    with pytest.raises(ValueError, match="unknown notification level 'red'"):
        Notice("d-1", "production", "failed", "t", "b", ("json://h/x",), "red")
    with pytest.raises(ValueError, match="subject must be 1 to 64 characters"):
        Notice("", "production", "failed", "t", "b", ("json://h/x",))
