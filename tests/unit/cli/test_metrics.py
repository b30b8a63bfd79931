"""`conveyor metrics` through main()."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from conveyor.history import HistoryStore
from conveyor.history.metrics import LEAD_TIME_NOTE
from tests.conftest import Project
from tests.unit.cli.test_history import CONFIG
from tests.unit.history.conftest import Clock


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    """Production: ok, failed, ok 10 minutes later; staging: ok; all within the last hours."""
    made = make_project(CONFIG)
    made.root.joinpath(".conveyor").mkdir()
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=5))
    with HistoryStore(f"sqlite:///{made.root / '.conveyor' / 'history.db'}", clock=clock) as store:
        for environment, status in (
            ("production", "succeeded"),
            ("production", "failed"),
            ("production", "succeeded"),
            ("staging", "succeeded"),
        ):
            deploy_id = store.start(
                environment=environment, kind="deploy", release="r", version="1", commit="c",
                hosts=[], user="u", machine="m",
            )  # fmt: skip
            clock.advance(600)
            store.finish(deploy_id, status=status, message="")
    return made


def test_a_row_per_environment(project: Project) -> None:
    result = project.run("metrics", "--days", "10")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].strip() == "last 10 days"
    assert lines[2].split() == [
        "production",
        "0.20",
        "33%",
        "10m00s",
        "2",
        "ok,",
        "1",
        "failed",
        "1",
        "restored",
    ]
    assert lines[3].split()[:3] == ["staging", "0.10", "0%"]
    assert lines[-1] == f"note: {LEAD_TIME_NOTE}"


def test_json_for_one_environment(project: Project) -> None:
    result = project.run("metrics", "production", "--json")
    [figures] = json.loads(result.out)
    assert (figures["environment"], figures["days"], figures["mean_time_to_restore_seconds"]) == (
        "production",
        30.0,
        600.0,
    )
    assert figures["lead_time"] is None and figures["notes"] == [LEAD_TIME_NOTE]


def test_nothing_in_the_window(make_project: Callable[..., Project], project: Project) -> None:
    assert project.run("metrics", "qa").out == "no deploys of qa in the last 30 days\n"
    assert project.run("metrics", "--days", "0").code == 2


def test_no_history_at_all(make_project: Callable[..., Project]) -> None:
    fresh = make_project(CONFIG)
    assert fresh.run("metrics").out == "no deploys in the last 30 days\n"
    assert json.loads(fresh.run("metrics", "--json").out) == []
    assert not (fresh.root / ".conveyor").exists()
