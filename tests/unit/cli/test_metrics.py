"""`conveyor metrics` through main(): which environments, the table with DORA's bands, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from conveyor.history import HistoryStore
from tests.conftest import Project
from tests.unit.cli.test_history import CONFIG
from tests.unit.history.conftest import Clock
from tests.unit.history.story import Story

WITH_PRODUCTION = {
    "conveyor.toml": CONFIG["conveyor.toml"]
    + """
        [environments.live]
        hosts = { app = ["local"] }
    """
}


def write_history(project: Project) -> None:
    """Production, in the last hours: ok, failed, then a hotfix restoring it; staging: ok."""
    project.root.joinpath(".conveyor").mkdir(exist_ok=True)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock = Clock(now)
    url = f"sqlite:///{project.root / '.conveyor' / 'history.db'}"
    with HistoryStore(url, clock=clock) as store:
        story = Story(store, clock, origin=now - timedelta(hours=5))
        story.deploy(0, 10, commits={"a1": -50})  # lead 60 minutes
        story.check("a1", -40)  # 10 minutes after the commit
        story.deploy(20, 30, "failed", commits={"a2": 15})  # an incident from 30
        story.deploy(  # restores at 40: 10 minutes; a2 15 -> 40, a3 32 -> 40
            35,
            40,
            commits={"a2": 15, "a3": 32},
            hotfix=True,
            approval=(story.iso(33), story.iso(34)),
        )
        Story(store, clock, "staging", story.origin).deploy(60, 70, commits={"s": 0})


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    made = make_project(CONFIG)
    write_history(made)
    return made


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_each_environment_deployed_with_its_bands(project: Project) -> None:
    result = project.run("metrics", "--days", "10")
    assert result.code == 0, result.err
    # Production: 2 of 10 days succeeded (0.2 a day); lead a1 10 -> 60, a2 40 - 15 = 25,
    # a3 40 - 32 = 8: p50 25, p90 25 + 0.8 * 35 = 53; approval 0 and 1 minute; one failed
    # deploy of three, restored by the hotfix 10 minutes later.
    assert lines(result.out) == [
        "production, last 10 days: 3 deploys (2 succeeded, 1 failed), 1 hotfix",
        "  figure                           value                                              DORA band",
        "  deployment frequency             0.20 a day, 1.40 a week                            high",
        "  change lead time                 p50 25m00s, p90 53m00s (3 commits, 2 deploys)      elite",
        "    waiting for checks             p50 10m00s, p90 10m00s (1 without a passed check)",
        "    waiting for approval           p50 30.0s, p90 54.0s (1 approved)",
        "    deploying                      p50 7m30s, p90 9m30s",
        "  change failure rate              33% (1 of 3 finished deploys)                      low",
        "  failed deployment recovery time  p50 10m00s, p90 10m00s, mean 10m00s (1 restored)   elite",
        "  deployment rework rate           33% (1 of 3 finished deploys)                      no DORA band",
        "",
        "staging, last 10 days: 1 deploy (1 succeeded)",
        "  figure                           value                                      DORA band",
        "  deployment frequency             0.10 a day, 0.70 a week                    medium",
        "  change lead time                 p50 1h10m, p90 1h10m (1 commit, 1 deploy)  elite",
        "    waiting for checks             - (1 without a passed check)",
        "    waiting for approval           p50 0.0s, p90 0.0s (0 approved)",
        "    deploying                      p50 10m00s, p90 10m00s",
        "  change failure rate              0% (0 of 1 finished deploy)                elite",
        "  failed deployment recovery time  - (0 restored)                             not enough data",
        "  deployment rework rate           0% (0 of 1 finished deploy)                no DORA band",
    ]


def test_production_tier_environments_by_default(make_project: Callable[..., Project]) -> None:
    project = make_project(WITH_PRODUCTION)  # staging, and "live" (tier production)
    write_history(project)  # its records say "production": not configured, not asked for
    assert project.run("metrics").out == "no deploys of live in the last 30 days\n"
    [live] = json.loads(project.run("metrics", "--json").out)
    assert (live["environment"], live["deploys"]["total"]) == ("live", 0)
    named = json.loads(project.run("metrics", "production", "--json").out)
    assert [m["environment"] for m in named] == ["production"]


def test_json_has_stable_keys_and_seconds(project: Project) -> None:
    result = project.run("metrics", "production", "--json")
    assert result.code == 0, result.err
    [figures] = json.loads(result.out)
    assert list(figures) == [
        "environment",
        "since",
        "until",
        "days",
        "deploys",
        "deployment_frequency",
        "change_lead_time",
        "change_failure_rate",
        "failed_deployment_recovery_time",
        "deployment_rework_rate",
    ]
    assert figures["days"] == 30.0
    assert figures["change_lead_time"]["p50_seconds"] == 25 * 60.0
    assert figures["change_lead_time"]["waiting_for_checks"]["unknown"] == 1
    assert figures["failed_deployment_recovery_time"]["mean_seconds"] == 600.0
    assert figures["failed_deployment_recovery_time"]["open_for_seconds"] is None
    assert figures["deployment_rework_rate"] == {
        "rate": 1 / 3,
        "hotfixes": 1,
        "deploys": 3,
        "band": None,
    }


def test_nothing_in_the_window(project: Project) -> None:
    assert project.run("metrics", "qa").out == "no deploys of qa in the last 30 days\n"
    assert project.run("metrics", "--days", "0").code == 2


def test_no_history_at_all(make_project: Callable[..., Project]) -> None:
    fresh = make_project(CONFIG)
    assert fresh.run("metrics").out == "no deploys in the last 30 days\n"
    assert json.loads(fresh.run("metrics", "--json").out) == []
    assert not (fresh.root / ".conveyor").exists()  # asking makes no history
