"""The automatic gates read the history (a real SQLite store): a passing check on the exact
commit with this [checks] configuration, and the release's soak on staging."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from conveyor.checks.record import checks_digest
from conveyor.gates.automatic import evaluate
from conveyor.history.store import HistoryStore
from conveyor.project.load import Project, load_project

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
TOML = """\
[app]
name = "shop"

[services.web]
command = "serve --port $PORT"
health = "/"
roles = ["app"]

[environments.staging]
hosts = { app = ["local"] }

[environments.production]
hosts = { app = ["local"] }
approval = { staging_soak = "30m" }
"""
PLAN = {"release": "r-2", "steps": [{"action": "migrate", "op": {}, "description": "0002"}]}


def project(tmp_path: Path) -> Project:
    (tmp_path / "conveyor.toml").write_text(TOML)
    return load_project(tmp_path)


def test_the_gates_hold_until_a_check_passed_and_the_release_soaked(tmp_path: Path) -> None:
    clock = [T0]
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}", clock=lambda: clock[0])
    shop = project(tmp_path)

    def gates(at: datetime) -> dict[str, tuple[bool, str]]:
        found = evaluate(shop, "production", store, plan=PLAN, commit="c0ffee" * 6, now=at)
        return {g.name: (g.passed, g.said) for g in found}

    first = gates(T0)
    assert first["checks"] == (
        False,
        "no passing conveyor check on c0ffeec0ffee with this [checks] configuration: run "
        "conveyor check on that commit",
    )
    assert first["soak"][0] is False and "not what serves on staging" in first["soak"][1]
    assert first["migrations"] == (True, "0002")

    for passed, config in ((False, checks_digest(shop)), (True, "sha256:other")):
        store.record_check(
            commit="c0ffee" * 6,
            config=config,
            passed=passed,
            started_at=T0,
            finished_at=T0,
            summary="",
        )
    # A failed check, and a pass under other [checks]: neither holds.
    assert gates(T0)["checks"][0] is False
    store.record_check(
        commit="c0ffee" * 6,
        config=checks_digest(shop),
        passed=True,
        started_at=T0,
        finished_at=T0,
        summary="",
    )
    assert gates(T0)["checks"] == (
        True,
        "conveyor check passed on c0ffeec0ffee at 2026-12-06 09:00:00Z",
    )

    served = store.start(
        environment="staging",
        kind="deploy",
        release="r-2",
        version="2",
        commit="c",
        hosts=["local"],
        user="u",
        machine="m",
    )
    store.finish(served, status="succeeded", message="ok")
    assert gates(T0 + timedelta(minutes=10))["soak"] == (
        False,
        "served on staging for 10m, less than 30m",
    )
    assert gates(T0 + timedelta(minutes=31))["soak"] == (
        True,
        "served on staging for 31m (at least 30m)",
    )
    clock[0] = T0 + timedelta(minutes=20)
    another = store.start(
        environment="staging",
        kind="deploy",
        release="r-3",
        version="3",
        commit="d",
        hosts=["local"],
        user="u",
        machine="m",
    )
    store.finish(another, status="succeeded", message="ok")
    # Staging moved on to another release: the soak no longer holds.
    assert gates(T0 + timedelta(hours=2))["soak"][0] is False
    store.close()
