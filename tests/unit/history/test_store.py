"""HistoryStore on SQLite: recording, reading back, validation, trimming, the unknown id."""

from __future__ import annotations

import re
from datetime import timezone
from pathlib import Path

import pytest

from conveyor.errors import ConveyorError
from conveyor.history import DeployEvent, DeployRecord, HistoryStore
from conveyor.history.engine import MAX_TEXT
from tests.unit.history.conftest import T0, Clock, deploy


def test_start_records_a_running_deploy_with_exactly_what_was_passed(store: HistoryStore) -> None:
    deploy_id = deploy(store, message="first one")
    assert re.fullmatch(r"d-20261123-150102-[0-9a-f]{4}", deploy_id)
    assert store.get(deploy_id) == DeployRecord(
        id=deploy_id,
        environment="production",
        kind="deploy",
        release="r-2026-1",
        version="1.4.0",
        commit="3f2a9c1",
        status="running",
        user="alice",
        machine="laptop",
        started_at=T0,
        finished_at=None,
        message="first one",
        cause=None,
        hosts=("deploy@app-1", "deploy@app-2"),
    )


def test_finish_sets_status_time_message_and_cause(store: HistoryStore, clock: Clock) -> None:
    deploy_id = deploy(store)
    finished = clock.advance(42.5)
    store.finish(deploy_id, status="failed", message="health check failed", cause="HTTP 500")
    record = store.get(deploy_id)
    assert (record.status, record.finished_at, record.message, record.cause) == (
        "failed",
        finished,
        "health check failed",
        "HTTP 500",
    )
    assert record.duration == 42.5
    assert record.started_at.tzinfo is timezone.utc


def test_a_deploy_finishes_once(store: HistoryStore) -> None:
    deploy_id = deploy(store)
    store.finish(deploy_id, status="succeeded", message="ok")
    with pytest.raises(ConveyorError) as raised:
        store.finish(deploy_id, status="failed", message="late")
    assert (
        raised.value.message
        == f"deploy {deploy_id} already finished as succeeded; not recording failed"
    )
    assert store.get(deploy_id).status == "succeeded"


def test_events_come_back_in_order_with_their_hosts(store: HistoryStore, clock: Clock) -> None:
    deploy_id = deploy(store)
    other = deploy(store, environment="staging")
    store.event(deploy_id, kind="upload", message="12 files", host="deploy@app-1")
    clock.advance(1)
    store.event(other, kind="upload", message="not this one")
    store.event(deploy_id, kind="switch", message="green live")
    assert store.events(deploy_id) == [
        DeployEvent(deploy_id, T0, "deploy@app-1", "upload", "12 files"),
        DeployEvent(deploy_id, clock.now, None, "switch", "green live"),
    ]


def test_deploys_newest_first_filtered_and_limited(store: HistoryStore, clock: Clock) -> None:
    ids = []
    for environment in ("staging", "production", "staging", "production"):
        ids.append(deploy(store, environment=environment))
        clock.advance(60)
    assert [r.id for r in store.deploys()] == ids[::-1]
    assert [r.id for r in store.deploys("staging")] == [ids[2], ids[0]]
    assert [r.id for r in store.deploys(limit=1)] == [ids[3]]
    assert store.deploys("nowhere") == []


def test_last_by_status(store: HistoryStore, clock: Clock) -> None:
    good = deploy(store)
    store.finish(good, status="succeeded", message="ok")
    clock.advance(60)
    bad = deploy(store)
    store.finish(bad, status="rolled_back", message="unhealthy")
    clock.advance(60)
    deploy(store)  # running
    assert store.last("production") == store.get(good)
    assert store.last("production", status="rolled_back") == store.get(bad)
    assert store.last("staging") is None


def test_unknown_id_says_where_it_looked(store: HistoryStore, tmp_path: Path) -> None:
    for call in (
        lambda: store.get("d-1"),
        lambda: store.events("d-1"),
        lambda: store.event("d-1", kind="x", message="y"),
        lambda: store.finish("d-1", status="failed", message="y"),
    ):
        with pytest.raises(ConveyorError) as raised:
            call()
        assert str(raised.value) == (
            f"no deploy 'd-1' in the history at sqlite:///{tmp_path / 'history.db'}\n"
            '"conveyor history" lists recent deploys and their ids'
        )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s: deploy(s, kind="redeploy"),
            "kind must be one of deploy, rollback, recover, stop, start, migrate; got 'redeploy'",
        ),
        (
            lambda s: s.finish(deploy(s), status="running", message=""),
            "status must be one of succeeded, failed, rolled_back; got 'running'",
        ),
        (
            lambda s: s.last("production", status="ok"),
            "status must be one of running, succeeded, failed, rolled_back; got 'ok'",
        ),
        (lambda s: deploy(s, environment=""), "cannot record a deploy without an environment name"),
        (
            lambda s: s.event(deploy(s), kind="", message=""),
            "event kind must be 1 to 64 characters, got ''",
        ),
        (lambda s: s.deploys(limit=-1), "limit must be 0 or more, got -1"),
    ],
)
def test_values_are_validated(store: HistoryStore, call: object, message: str) -> None:
    with pytest.raises(ConveyorError) as raised:
        call(store)  # type: ignore[operator]
    assert raised.value.message == message


def test_long_texts_keep_head_and_tail(store: HistoryStore) -> None:
    output = "first line\n" + "x" * 10_000 + "\nTraceback: the real reason"
    deploy_id = deploy(store, message=output)
    store.event(deploy_id, kind="install", message=output)
    store.finish(deploy_id, status="failed", message=output, cause=output)
    record = store.get(deploy_id)
    for text in (record.message, record.cause, store.events(deploy_id)[0].message):
        assert text is not None
        assert len(text) == MAX_TEXT
        assert text.startswith("first line\n")
        assert text.endswith("\nTraceback: the real reason")
        marker = re.search(r"\n\.\.\. \[(\d+) characters trimmed\] \.\.\.\n", text)
        assert marker is not None
        # The count is exactly what is missing: the original minus what was kept.
        assert int(marker.group(1)) == len(output) - (MAX_TEXT - len(marker.group(0)))


def test_naive_times_are_refused(tmp_path: Path) -> None:
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}", clock=lambda: T0.replace(tzinfo=None))
    with pytest.raises(Exception, match="must be timezone-aware"):
        deploy(store)
    store.close()


def test_two_deploys_in_one_second_get_distinct_ids(store: HistoryStore) -> None:
    ids = {deploy(store) for _ in range(50)}
    assert len(ids) == 50


def test_for_project_uses_dot_conveyor(tmp_path: Path) -> None:
    with HistoryStore.for_project(tmp_path / "app") as store:
        deploy(store)
    assert (tmp_path / "app" / ".conveyor" / "history.db").is_file()


def test_for_project_prefers_the_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_HISTORY_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    with HistoryStore.for_project(tmp_path / "app") as store:
        deploy(store)
    assert (tmp_path / "shared.db").is_file()
    assert not (tmp_path / "app").exists()


def test_unusable_urls_are_errors_for_a_person(tmp_path: Path) -> None:
    with pytest.raises(ConveyorError, match="cannot read history database URL 'nonsense'"):
        HistoryStore("nonsense")
    with pytest.raises(ConveyorError) as raised:
        HistoryStore(f"sqlite:///{tmp_path / 'missing' / 'h.db'}")
    assert raised.value.message == (
        f"cannot open history database sqlite:///{tmp_path / 'missing' / 'h.db'}: "
        "unable to open database file"
    )


def test_the_releases_in_use_are_each_environments_two_newest_made_live(
    store: HistoryStore, clock: Clock
) -> None:
    """What hosts serve or would roll back to, which local pruning must keep: failed deploys
    and other kinds never count; a rollback counts with the release it went back to."""
    ended = [
        ("production", "deploy", "r1", "succeeded"),
        ("production", "deploy", "r2", "succeeded"),
        ("production", "deploy", "r3", "failed"),
        ("staging", "deploy", "s1", "succeeded"),
        ("production", "deploy", "r4", "succeeded"),
        ("production", "rollback", "", "succeeded"),  # went back to r2
        ("production", "stop", "", "succeeded"),
    ]
    for environment, kind, release, status in ended:
        clock.advance(60)
        deploy_id = deploy(store, environment, kind=kind, release=release)
        back = "r2" if kind == "rollback" else None
        store.finish(deploy_id, status=status, message="-", release=back)
    assert store.in_use() == {"r2", "r4", "s1"}
