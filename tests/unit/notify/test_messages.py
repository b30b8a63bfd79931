"""What a message says, word for word: environment, version, who, how long, what failed,
where, and which deploy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from conveyor.history.records import DeployRecord
from conveyor.notify.messages import approval_text, duration, record_text, release_label
from tests.unit.history.conftest import T0

STARTED = DeployRecord(
    id="d-20261123-150102-ab12",
    environment="production",
    kind="deploy",
    release="1.4.0-3f2a9c1b2d4e",
    version="1.4.0",
    commit="3f2a9c1",
    status="running",
    user="alice",
    machine="laptop",
    started_at=T0,
    finished_at=None,
    message="",
    cause=None,
    hosts=("deploy@app-1", "deploy@app-2"),
)


def finished(status: str, message: str, cause: str | None = None, **fields: str) -> DeployRecord:
    end = T0 + timedelta(seconds=63)
    return replace(STARTED, status=status, finished_at=end, message=message, cause=cause, **fields)


def test_a_deploy_that_starts() -> None:
    text = record_text(STARTED, "started")
    assert (text.title, text.level) == ("production: deploying 1.4.0", "info")
    assert text.body == (
        "environment: production\n"
        "release: 1.4.0 (3f2a9c1b2d4e)\n"
        "by: alice@laptop\n"
        "deploy: d-20261123-150102-ab12"
    )


def test_a_deploy_undone_says_what_failed_where_and_why() -> None:
    cause = "\n".join(
        ["web-green on deploy@app-2 is not healthy", "probes:"] + [f"  {n}" for n in range(12)]
    )
    record = finished(
        "rolled_back",
        "deploy of 1.4.0 to production failed: health; traffic is back on r-2026-0",
        cause,
    )
    text = record_text(record, "rolled_back", failed_on=["deploy@app-2"])
    assert (text.title, text.level) == (
        "production: deploy of 1.4.0 failed and was rolled back",
        "warning",
    )
    assert text.body == (
        "deploy of 1.4.0 to production failed: health; traffic is back on r-2026-0\n"
        "environment: production\n"
        "release: 1.4.0 (3f2a9c1b2d4e)\n"
        "by: alice@laptop\n"
        "took: 1m03s\n"
        "failed on: deploy@app-2\n"
        "cause:\n"
        "  web-green on deploy@app-2 is not healthy\n"
        "  probes:\n"
        "    0\n    1\n    2\n    3\n    4\n    5\n"
        "  ... (6 more line(s))\n"
        "deploy: d-20261123-150102-ab12"
    )  # fmt: skip


def test_titles_and_levels_of_every_record_and_event() -> None:
    rollback = replace(STARTED, kind="rollback", release="", version="")
    recover = replace(STARTED, kind="recover")
    cases = [
        (finished("succeeded", "production now runs 1.4.0"), "succeeded",
         "production: 1.4.0 deployed", "success"),
        (finished("failed", "deploy stopped: KeyboardInterrupt"), "failed",
         "production: deploy of 1.4.0 failed", "failure"),
        (rollback, "started", "production: rolling back", "info"),
        (replace(rollback, status="succeeded", version="1.3.0", release="r-0",
                 finished_at=T0), "rolled_back", "production: rolled back to 1.3.0", "success"),
        (replace(rollback, status="failed", finished_at=T0), "failed",
         "production: rollback failed", "failure"),
        (recover, "recovery", "production: recovering an interrupted deploy", "warning"),
        (replace(recover, status="succeeded", finished_at=T0), "recovery",
         "production: recovered", "success"),
        (replace(recover, status="failed", finished_at=T0), "failed",
         "production: recovery failed", "failure"),
    ]  # fmt: skip
    for record, event, title, level in cases:
        text = record_text(record, event)
        assert (text.title, text.level) == (title, level), (record.kind, event)
    body = record_text(rollback, "started").body
    assert "release:" not in body and body.endswith("rollback: d-20261123-150102-ab12")
    assert record_text(recover, "recovery").body.endswith("recovery: d-20261123-150102-ab12")


def test_approval_messages() -> None:
    text = approval_text(
        "approval_requested", approval_id="a-1", environment="production", version="1.4.0",
        who="alice",
    )  # fmt: skip
    assert (text.title, text.level) == ("production: 1.4.0 waits for approval", "info")
    assert text.body == (
        "environment: production\nversion: 1.4.0\nrequested by: alice\napproval: a-1"
    )
    text = approval_text(
        "approval_rejected", approval_id="a-1", environment="production", version="1.4.0",
        who="bob", why="not on a Friday",
    )  # fmt: skip
    assert (text.title, text.level) == ("production: 1.4.0 rejected by bob", "warning")
    assert "decided by: bob\nwhy: not on a Friday\n" in text.body


def test_durations() -> None:
    assert [duration(s) for s in (4.24, 63, 7380)] == ["4.2s", "1m03s", "2h03m"]


def test_a_release_is_labelled_as_conveyor_history_labels_it() -> None:
    assert release_label(STARTED) == "1.4.0 (3f2a9c1b2d4e)"
    assert release_label(replace(STARTED, release="r-7")) == "r-7 (1.4.0)"
    assert release_label(replace(STARTED, release="", version="")) == ""
