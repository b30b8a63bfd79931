"""DORA's five figures from generated histories, against answers computed by hand.

Times are minutes after T0 (story.py); the window is the 10 days after T0. Percentiles
interpolate between the closest ranks: with n sorted values, p at position (n - 1) * p.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from conveyor.history import HistoryStore
from conveyor.history.metrics import Metrics, dora, measure, percentile
from tests.unit.history.conftest import T0, Clock
from tests.unit.history.story import Story

UNTIL = T0 + timedelta(days=10)  # minute 14400
MIN = 60.0  # seconds in a minute


@pytest.fixture
def story(store: HistoryStore, clock: Clock) -> Story:
    return Story(store, clock)


def figures(store: HistoryStore, environment: str = "production") -> Metrics:
    [found] = measure(store, [environment], days=10, now=UNTIL)
    return found


@pytest.fixture
def golden(story: Story) -> Story:
    """Five stretches of production's life, a day apart, and what must not count."""
    # A: two good deploys. D1 brings a1 and a2 (deployed); a2 passed its check at 50.
    story.deploy(60, 70, commits={"a1": 10, "a2": 40})
    story.check("a2", 50)
    # D2 waited 10 minutes for an approval; a4 failed its only check: its wait is unknown.
    story.deploy(
        200, 212, commits={"a3": 150, "a4": 180}, approval=(story.iso(185), story.iso(195))
    )
    story.check("a4", 190, passed=False)
    # B (day 1): D3 fails; D4 brings b1 again with b2 and restores: incident 1505 -> 1570.
    story.deploy(1500, 1505, "failed", commits={"b1": 1450})
    story.deploy(1560, 1570, commits={"b1": 1450, "b2": 1530})
    story.check("b2", 1545)
    # C (day 2): D5 succeeds, then is rolled back: it needed remediation; 2950 -> 3001.
    story.deploy(2940, 2950, commits={"c1": 2900})
    story.check("c1", 2930)
    story.deploy(3000, 3001, kind="rollback")
    # D (day 3), overlapping: D6 rolls itself back, the hotfix D7 fails too, a db command
    # (kind migrate) comes between, D8 restores: one incident, 4390 -> 4510.
    story.deploy(4380, 4390, "rolled_back", commits={"d1": 4350})
    story.deploy(4400, 4405, "failed", commits={"d1": 4350, "d2": 4395}, hotfix=True)
    story.deploy(4450, 4451, kind="migrate")
    d8_approval = (story.iso(4494).replace("+00:00", "Z"), story.iso(4499))  # the gate may write Z
    story.deploy(4500, 4510, commits={"d1": 4350, "d2": 4395, "d3": 4480}, approval=d8_approval)
    story.check("d3", 4485, config="sha256:other")
    story.check("d3", 4482)  # the earliest pass, whatever the checks' configuration
    # E (day 4): a hotfix D10 after D9: D9 needed remediation; 5830 -> 5905.
    story.deploy(5820, 5830, commits={"e1": 5800})
    story.check("e1", 5810)
    story.deploy(5900, 5905, commits={"e2": 5890}, hotfix=True)
    # F (day 5): D11 good, D12 fails and is never restored, D13 still runs.
    story.deploy(7260, 7270, commits={"f1": 7250})
    story.check("f1", 7255)
    story.deploy(7300, 7310, "failed", commits={"f2": 7290})
    story.deploy(7400, None, commits={"f3": 7390})
    # Not production's, or before the window.
    Story(story.store, story.clock, "staging").deploy(100, 110, commits={"s1": 90})
    story.deploy(-60, -50, "failed")
    return story


def test_the_golden_history(golden: Story) -> None:
    view = figures(golden.store).as_dict()
    assert view["deploys"] == {
        "total": 13,  # D1..D13
        "finished": 12,  # D13 runs
        "succeeded": 8,  # D1 D2 D4 D5 D8 D9 D10 D11
        "failed": 3,  # D3 D7 D12
        "rolled_back": 1,  # D6
        "running": 1,
        "hotfix": 2,  # D7 D10
    }
    assert view["deployment_frequency"] == {
        "per_day": 0.8,  # 8 succeeded / 10 days
        "per_week": pytest.approx(5.6),  # 0.8 * 7
        "band": "high",  # under 1 a day, at least 1 a week
    }
    lead = view["change_lead_time"]
    # Each commit's first succeeded deploy's end - its time, in minutes:
    # D1 70-10=60 70-40=30; D2 212-150=62 212-180=32; D4 1570-1450=120 1570-1530=40;
    # D5 2950-2900=50; D8 4510-4350=160 4510-4395=115 4510-4480=30; D9 5830-5800=30;
    # D10 5905-5890=15; D11 7270-7250=20. D3 D6 D7 D12 D13 did not succeed.
    # Sorted: 15 20 30 30 30 32 40 50 60 62 115 120 160 (13, sum 764).
    assert {k: lead[k] for k in ("count", "p50_seconds", "p90_seconds", "deploys", "band")} == {
        "count": 13,
        "p50_seconds": 40 * MIN,  # position 6
        "p90_seconds": 119 * MIN,  # position 10.8: 115 + 0.8 * (120 - 115)
        "deploys": 8,
        "band": "elite",  # p50 under a day
    }
    assert lead["mean_seconds"] == pytest.approx(764 * MIN / 13)
    # Deployed commit's time -> end of its first passing check: D1 50-40=10, D4 1545-1530=15,
    # D5 2930-2900=30, D8 4482-4480=2, D9 5810-5800=10, D11 7255-7250=5; D2 (a4 only
    # failed) and D10 (e2 never checked) unknown. Sorted: 2 5 10 10 15 30.
    assert lead["waiting_for_checks"] == {
        "count": 6,
        "p50_seconds": 10 * MIN,  # position 2.5: 10 + 0.5 * (10 - 10)
        "p90_seconds": 22.5 * MIN,  # position 4.5: 15 + 0.5 * (30 - 15)
        "mean_seconds": 12 * MIN,  # 72 / 6
        "unknown": 2,
    }
    # D2 waited 195-185=10, D8 4499-4494=5, the six others 0. Sorted: 0 0 0 0 0 0 5 10.
    assert lead["waiting_for_approval"] == {
        "count": 8,
        "p50_seconds": 0.0,  # position 3.5
        "p90_seconds": pytest.approx(6.5 * MIN),  # position 6.3: 5 + 0.3 * (10 - 5)
        "mean_seconds": pytest.approx(15 * MIN / 8),
        "approved": 2,
    }
    # Start -> end of the eight: D1 10, D2 12, D4 10, D5 10, D8 10, D9 10, D10 5, D11 10.
    # Sorted: 5 10 10 10 10 10 10 12.
    assert lead["deploying"] == {
        "count": 8,
        "p50_seconds": 10 * MIN,  # position 3.5
        "p90_seconds": pytest.approx(10.6 * MIN),  # position 6.3: 10 + 0.3 * (12 - 10)
        "mean_seconds": pytest.approx(77 * MIN / 8),
    }
    # Needed remediation: D3 (failed), D5 (the rollback followed it), D6 (rolled back),
    # D7 (failed), D9 (the hotfix D10 followed it), D12 (failed): 6 of 12 finished.
    assert view["change_failure_rate"] == {
        "rate": 0.5,
        "failed_changes": 6,
        "deploys": 12,
        "band": "low",  # over 15%
    }
    # Incidents: D3 1505 -> D4 1570 = 65; D5 2950 -> rollback 3001 = 51; D6 4390 (D7 joins)
    # -> D8 4510 = 120; D9 5830 -> D10 5905 = 75; D12 7310 still open at 14400: 7090.
    # Restored, sorted: 51 65 75 120 (sum 311).
    assert view["failed_deployment_recovery_time"] == {
        "count": 4,
        "p50_seconds": 70 * MIN,  # position 1.5: 65 + 0.5 * (75 - 65)
        "p90_seconds": pytest.approx(106.5 * MIN),  # position 2.7: 75 + 0.7 * (120 - 75)
        "mean_seconds": 77.75 * MIN,  # 311 / 4
        "incidents": 5,
        "open": True,
        "open_for_seconds": 7090 * MIN,  # 14400 - 7310
        "band": "high",  # p50 over an hour, under a day
    }
    assert view["deployment_rework_rate"] == {
        "rate": pytest.approx(2 / 12),  # D7 and D10 of the 12 finished
        "hotfixes": 2,
        "deploys": 12,
        "band": None,  # DORA publishes none
    }
    assert (view["since"], view["until"], view["days"]) == (T0.isoformat(), UNTIL.isoformat(), 10.0)


def test_staging_is_measured_apart(golden: Story) -> None:
    staging = figures(golden.store, "staging")
    assert (staging.deploys, staging.succeeded, staging.lead_time.changes.values) == (
        1,
        1,
        (20 * MIN,),  # 110 - 90
    )


def test_no_deploys_means_no_figures_and_no_bands(store: HistoryStore) -> None:
    view = figures(store).as_dict()
    assert view["deploys"]["total"] == 0
    assert view["deployment_frequency"] == {"per_day": 0.0, "per_week": 0.0, "band": None}
    assert view["change_failure_rate"]["rate"] is None
    assert view["deployment_rework_rate"]["rate"] is None
    assert view["change_lead_time"]["p50_seconds"] is None
    assert view["failed_deployment_recovery_time"]["open_for_seconds"] is None
    assert not any(value for value in figures(store).bands().values())
    assert measure(None, ["production"], days=10, now=UNTIL)[0].deploys == 0
    assert measure(None, days=10, now=UNTIL) == []


def test_all_failed_is_one_open_incident(story: Story) -> None:
    story.deploy(60, 65, "failed", commits={"a1": 10})
    story.deploy(120, 130, "rolled_back", commits={"a1": 10, "a2": 100})
    story.deploy(200, 201, "failed", kind="rollback")  # a failed rollback restores nothing
    story.deploy(300, 310, "failed", commits={"a1": 10, "a2": 100})
    m = figures(story.store)
    assert (m.finished, m.failed_changes, m.change_failure_rate) == (3, 3, 1.0)
    assert m.per_day == 0.0 and m.lead_time.changes.count == 0
    assert m.incidents.restored == ()
    assert m.incidents.open_for == (14400 - 65) * MIN  # open since the first failure
    assert m.bands() == {
        "deployment_frequency": "low",  # deploys, none succeeded
        "change_lead_time": None,
        "change_failure_rate": "low",
        "failed_deployment_recovery_time": None,  # nothing restored yet
        "deployment_rework_rate": None,
    }


def test_elite_figures(story: Story) -> None:
    # Ten good deploys 12 minutes apart on each of 10 days: 1 a day is elite.
    for day in range(10):
        story.deploy(day * 1440 + 1, day * 1440 + 3, commits={f"c{day}": day * 1440})
    m = figures(story.store)
    assert m.per_day == 1.0 and m.lead_time.changes.p50 == 3 * MIN
    assert m.bands()["deployment_frequency"] == m.bands()["change_lead_time"] == "elite"
    assert m.bands()["change_failure_rate"] == "elite"  # 0 of 10
    assert m.bands()["failed_deployment_recovery_time"] is None  # no incident


def test_a_recovery_a_deploy_runs_first_is_not_about_that_deploy(story: Story) -> None:
    # D1 was interrupted: recorded as failed only when D2's recovery ends (at 130). D2
    # started at 100 and recovered it first, in a recover record from 101 to 130. The good
    # D0 before them is not what the recovery was about.
    story.deploy(30, 40)
    story.deploy(60, 130, "failed", commits={"a1": 10})
    d2 = story.deploy(100, None, commits={"a1": 10})
    story.deploy(101, 130, kind="recover")
    story.clock.now = T0 + timedelta(minutes=140)
    story.store.finish(d2, status="succeeded", message="ok")
    m = figures(story.store)
    assert (m.failed_changes, m.finished) == (1, 3)  # D1 only
    assert m.incidents.restored == (10 * MIN,)  # D1's end (130) -> D2's end (140)
    assert m.lead_time.changes.values == (130 * MIN,)  # a1: 140 - 10


def test_the_window_and_its_edges(store: HistoryStore, clock: Clock) -> None:
    story = Story(store, clock)
    story.deploy(0, 1)  # started at the window's start: outside (since, until]
    story.deploy(14400, 14401)  # started at its end: inside
    [m] = measure(store, ["production"], days=10, now=UNTIL)
    assert m.deploys == 1
    with pytest.raises(ValueError, match="days must be 1 or more"):
        measure(store, days=0)
    with pytest.raises(ValueError, match="empty window"):
        dora([], environment="production", since=UNTIL, until=T0)


def test_each_environment_deployed_when_none_is_named(golden: Story) -> None:
    names = [m.environment for m in measure(golden.store, days=10, now=UNTIL)]
    assert names == ["production", "staging"]


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.1
