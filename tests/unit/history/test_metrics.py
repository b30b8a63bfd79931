"""DORA figures from constructed deploy sequences, and through the store."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conveyor.history import DeployRecord, HistoryStore
from conveyor.history.metrics import LEAD_TIME_NOTE, dora, measure
from tests.unit.history.conftest import T0, Clock, deploy

SINCE = T0
UNTIL = T0 + timedelta(days=10)


def rec(
    n: int,
    status: str,
    *,
    hours: float,
    minutes: float = 5,
    kind: str = "deploy",
    env: str = "production",
) -> DeployRecord:
    """A record started `hours` after T0 that took `minutes` (or is still running)."""
    started = T0 + timedelta(hours=hours)
    finished = None if status == "running" else started + timedelta(minutes=minutes)
    return DeployRecord(
        id=f"d-{n:04d}", environment=env, kind=kind, release=f"r{n}", version="1", commit="c",
        status=status, user="u", machine="m", started_at=started, finished_at=finished,
        message="", cause=None, hosts=(),
    )  # fmt: skip


SEQUENCE = [
    rec(1, "succeeded", hours=1),
    rec(2, "failed", hours=2),  # broken at 2:05
    rec(3, "failed", hours=3),  # same incident
    rec(4, "succeeded", hours=4),  # restored at 4:05: 2 h
    rec(5, "rolled_back", hours=30),  # broken at 30:05
    rec(6, "succeeded", hours=30.5, minutes=1, kind="rollback"),  # restored at 30:31: 26 min
    rec(7, "succeeded", hours=48),
    rec(8, "succeeded", hours=49, env="staging"),  # another environment
    rec(9, "failed", hours=-1),  # before the window
    rec(10, "running", hours=200),
]


def test_the_four_figures_of_a_known_sequence() -> None:
    figures = dora(SEQUENCE, environment="production", since=SINCE, until=UNTIL)
    assert (figures.deploys, figures.succeeded, figures.failed, figures.running) == (7, 3, 3, 1)
    assert figures.deployment_frequency == pytest.approx(3 / 10)
    assert figures.change_failure_rate == pytest.approx(3 / 6)
    assert (figures.restores, figures.unrestored) == (2, 0)
    assert figures.mean_time_to_restore == (timedelta(hours=2) + timedelta(minutes=26)) / 2


def test_an_open_incident_is_counted_but_not_averaged() -> None:
    records = [rec(1, "succeeded", hours=1), rec(2, "failed", hours=2)]
    figures = dora(records, environment="production", since=SINCE, until=UNTIL)
    assert (figures.restores, figures.unrestored, figures.mean_time_to_restore) == (0, 1, None)
    assert figures.change_failure_rate == 0.5


def test_a_failed_rollback_does_not_restore() -> None:
    records = [
        rec(1, "failed", hours=1),  # broken at 1:05
        rec(2, "failed", hours=1.5, kind="rollback"),
        rec(3, "succeeded", hours=3),  # restored at 3:05
    ]
    figures = dora(records, environment="production", since=SINCE, until=UNTIL)
    assert figures.mean_time_to_restore == timedelta(hours=2)
    assert (figures.deploys, figures.failed) == (2, 1)


def test_no_deploys_means_no_rates() -> None:
    figures = dora([], environment="production", since=SINCE, until=UNTIL)
    assert (figures.deployment_frequency, figures.change_failure_rate) == (0.0, None)
    assert figures.mean_time_to_restore is None


def test_json_view_says_lead_time_is_out_of_scope() -> None:
    view = dora(SEQUENCE, environment="production", since=SINCE, until=UNTIL).as_dict()
    assert view["lead_time"] is None
    assert view["notes"] == [LEAD_TIME_NOTE]
    assert view["mean_time_to_restore_seconds"] == (2 * 3600 + 26 * 60) / 2
    assert view["days"] == 10.0


def test_measure_reads_the_window_from_the_store(store: HistoryStore, clock: Clock) -> None:
    old = deploy(store)
    store.finish(old, status="failed", message="")
    clock.advance(40 * 86400)
    for environment, status in (
        ("production", "failed"),
        ("production", "succeeded"),
        ("staging", "succeeded"),
    ):
        deploy_id = deploy(store, environment=environment)
        clock.advance(600)
        store.finish(deploy_id, status=status, message="")
    now: datetime = clock.now
    both = measure(store, days=30, now=now)
    assert [(m.environment, m.deploys, m.failed, m.restores) for m in both] == [
        ("production", 2, 1, 1),
        ("staging", 1, 0, 0),
    ]
    assert both[0].mean_time_to_restore == timedelta(minutes=10)
    only = measure(store, "staging", days=30, now=now)
    assert [m.environment for m in only] == ["staging"]
    assert measure(store, "nowhere", now=now)[0].deploys == 0
