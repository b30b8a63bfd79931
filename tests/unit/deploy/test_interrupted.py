"""An interrupted deploy as the hosts and this machine's history show it, and its record
finished once recovery has run.

No host is needed: the hosts are given as what recovery reads from them (`Seen`), and the
history is a real store on SQLite under tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.deploy.interrupted import (
    Interrupted,
    Seen,
    decide,
    describe,
    find_interrupted,
    finish_interrupted,
    interrupted_in,
    pending_cleared,
    summary,
)
from conveyor.deploy.lock import LockInfo, LockOwner
from conveyor.deploy.state import HostState
from conveyor.history.store import HistoryStore

OLD = HostState(release="r-1", colour="blue", deploy_id="d-0", venv="v")
HOSTS = ("deploy@app-1", "deploy@app-2", "deploy@app-3")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}")
    yield opened
    opened.close()


def start(store: HistoryStore, hosts: tuple[str, ...] = HOSTS) -> str:
    return store.start(
        environment="production",
        kind="deploy",
        release="r-2",
        version="2.0",
        commit="abc1234",
        hosts=hosts,
        user="alice",
        machine="laptop",
    )


def on_new(deploy_id: str, *, pending: bool = False) -> HostState:
    """A host the deploy `deploy_id` reached: switched to r-2, or about to."""
    if pending:
        return HostState(
            release="r-1", colour="blue", deploy_id=deploy_id, pending_release="r-2", venv="v"
        )
    return OLD.switched("r-2", version="2.0", venv="v", at=1.0, deploy_id=deploy_id, warm_for=60)


def test_a_deploy_the_history_still_calls_running_is_found_with_every_host_it_planned(
    store: HistoryStore,
) -> None:
    deploy_id = start(store)
    seen = [Seen(HOSTS[0], on_new(deploy_id)), Seen(HOSTS[1], OLD), Seen(HOSTS[2], OLD)]
    found = interrupted_in(seen, store)
    assert found is not None
    assert found.deploy_id == deploy_id and found.release == "r-2"
    # Only app-1 carries it, but the record planned all three: all three are made consistent.
    assert found.targeted == HOSTS
    assert found.switched == (HOSTS[0],)
    assert decide(found, seen, dict.fromkeys(HOSTS, True)) == "back"


def test_a_deploy_that_finished_leaves_hosts_on_different_releases_alone(
    store: HistoryStore,
) -> None:
    deploy_id = start(store, hosts=(HOSTS[0],))
    store.finish(deploy_id, status="succeeded", message="deployed r-2 to app-1 (--host app-1)")
    seen = [Seen(HOSTS[0], on_new(deploy_id)), Seen(HOSTS[1], OLD)]
    assert interrupted_in(seen, store) is None


def test_a_deploy_started_on_another_machine_is_found_from_the_hosts_alone(
    store: HistoryStore,
) -> None:
    seen = [Seen(HOSTS[0], on_new("d-elsewhere", pending=True)), Seen(HOSTS[1], OLD)]
    found = interrupted_in(seen, store)
    assert found is not None
    assert found.deploy_id == "d-elsewhere" and found.targeted == (HOSTS[0],)


def test_a_stale_lock_without_an_owner_is_found_without_asking_the_history(
    store: HistoryStore,
) -> None:
    seen = [Seen(HOSTS[0], OLD, LockInfo(None, 900.0, "t", stale=True))]
    found = interrupted_in(seen, store)
    assert found is not None and found.deploy_id is None
    assert found.stale_locks == (HOSTS[0],) and found.age == 900.0


def test_recovery_finishes_the_interrupted_record_as_failed_saying_where_it_stopped(
    store: HistoryStore,
) -> None:
    deploy_id = start(store)
    store.event(deploy_id, kind="upload:ok", message="uploaded", host=None)
    store.event(deploy_id, kind="switch:start", message="Caddy -> green", host=HOSTS[1])
    found = Interrupted(deploy_id, None, None, "r-2", HOSTS)
    finish_interrupted(store, found, "d-recover")
    record = store.get(deploy_id)
    assert record.status == "failed"
    assert record.message == (
        f"interrupted: conveyor stopped during switch on {HOSTS[1]}; recovered by d-recover"
    )


def test_a_record_without_events_says_the_deploy_stopped_during_its_start(
    store: HistoryStore,
) -> None:
    deploy_id = start(store)
    finish_interrupted(store, Interrupted(deploy_id, None, None, None, HOSTS), "d-recover")
    assert store.get(deploy_id).message == (
        "interrupted: conveyor stopped during its start (no step recorded); recovered by d-recover"
    )


def test_a_record_already_finished_or_unknown_here_is_left_as_it_is(
    store: HistoryStore,
) -> None:
    deploy_id = start(store)
    store.finish(deploy_id, status="failed", message="deploy stopped: KeyboardInterrupt")
    finish_interrupted(store, Interrupted(deploy_id, None, None, "r-2", HOSTS), "d-recover")
    assert store.get(deploy_id).message == "deploy stopped: KeyboardInterrupt"
    # Neither an id this history does not hold nor no id at all is an error.
    finish_interrupted(store, Interrupted("d-elsewhere", None, None, "r-2", HOSTS), "d-recover")
    finish_interrupted(store, Interrupted(None, None, None, None, HOSTS), "d-recover")
    assert [r.id for r in store.deploys()] == [deploy_id]


def test_a_pending_host_put_back_keeps_what_it_served_and_loses_only_the_mark() -> None:
    state = on_new("d-9", pending=True)
    cleared = pending_cleared(state)
    assert cleared.pending_release is None
    assert (cleared.release, cleared.colour, cleared.deploy_id) == ("r-1", "blue", "d-9")


def test_what_a_person_reads_of_an_interrupted_deploy_with_little_known() -> None:
    bare = Interrupted(None, None, None, None, (HOSTS[0],))
    assert describe(bare, "staging") == (
        "interrupted deploy (unknown id): run conveyor recover staging"
    )
    aged = Interrupted("d-9", None, 45.0, "r-2", (HOSTS[0],), stale_locks=(HOSTS[0],))
    assert describe(aged, "production") == (
        "interrupted deploy d-9 (last heartbeat 45s ago): run conveyor recover production"
    )


def test_a_summary_names_each_host_when_they_differ_or_there_is_one() -> None:
    assert summary({"a": "r-1", "b": "r-2"}) == "a serves r-1, b serves r-2"
    assert summary({"a": "nothing", "b": "nothing"}) == "every host serves nothing"
    assert summary({}) == ""


def test_hosts_on_one_release_with_different_deploy_ids_are_not_interrupted() -> None:
    # A redeploy of the same release (--force) to one host: same release everywhere.
    again = HostState(release="r-1", colour="green", deploy_id="d-5", venv="v")
    seen = [Seen(HOSTS[0], again), Seen(HOSTS[1], OLD)]
    assert find_interrupted(seen, unfinished=lambda d: True) is None


def test_the_newest_stale_heartbeat_gives_the_age_and_the_pending_release_its_release() -> None:
    owner = LockOwner("d-9", "alice", "laptop", 123, 1.0)
    seen = [
        Seen(HOSTS[0], on_new("d-9", pending=True), LockInfo(owner, 400.0, "t", stale=True)),
        Seen(HOSTS[1], OLD, LockInfo(owner, 300.0, "t", stale=True)),
    ]
    found = find_interrupted(seen)
    assert found is not None
    assert (found.age, found.release, found.pending) == (300.0, "r-2", (HOSTS[0],))
    assert found.stale_locks == HOSTS[:2] and found.switched == ()
