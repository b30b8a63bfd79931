"""The automatic gates read the history (a real SQLite store): a passing check on the exact
commit with the [checks] configuration it holds, and the release's soak on staging."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from conveyor.checks.record import checks_digest
from conveyor.gates.automatic import evaluate
from conveyor.history.store import HistoryStore
from conveyor.project.environment import ApprovalConfig
from conveyor.project.load import load_project
from tests.unit.gates import repo
from tests.unit.gates.repo import SHOP

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
TOML = (
    SHOP
    + """approval = { staging_soak = "30m" }

[environments.staging]
hosts = { app = ["local"] }
"""
)
POLICY = ApprovalConfig(staging_soak="30m")
PLAN = {"release": "r-2", "steps": [{"action": "migrate", "op": {}, "description": "0002"}]}


def commit(root: Path, toml: str) -> str:
    return repo.commit(root, {"conveyor.toml": toml})


def test_a_check_holds_for_the_checks_configuration_of_the_commit_it_ran_on(
    tmp_path: Path,
) -> None:
    """Deploying an older commit after [checks] changed: its own check still holds, judged by
    the [checks] that commit has, not the working tree's."""
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}", clock=lambda: T0)
    older = commit(tmp_path, TOML)
    store.record_check(
        commit=older,
        config=checks_digest(load_project(tmp_path)),
        passed=True,
        started_at=T0,
        finished_at=T0,
        summary="",
    )
    newer = commit(tmp_path, TOML + '\n[checks]\nuse = ["ruff"]\n')
    shop = load_project(tmp_path)

    def said(at: str) -> tuple[bool, str]:
        found = evaluate(shop, POLICY, "production", store, plan=PLAN, commit=at, now=T0)
        return next((g.passed, g.said) for g in found if g.name == "checks")

    assert said(older) == (True, f"conveyor check passed on {older[:12]} at 2026-12-06 09:00:00Z")
    assert said(newer) == (
        False,
        f"no passing conveyor check on {newer[:12]} with its [checks] configuration: run "
        "conveyor check on that commit",
    )
    unknown = "0" * 40
    assert said(unknown) == (
        False,
        f"conveyor.toml at {unknown[:12]}: cannot be read from git: no check result can hold",
    )
    store.close()


def test_the_gates_hold_until_a_check_passed_and_the_release_soaked(tmp_path: Path) -> None:
    clock = [T0]
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}", clock=lambda: clock[0])
    sha = commit(tmp_path, TOML)
    shop = load_project(tmp_path)

    def gates(at: datetime) -> dict[str, tuple[bool, str]]:
        found = evaluate(shop, POLICY, "production", store, plan=PLAN, commit=sha, now=at)
        return {g.name: (g.passed, g.said) for g in found}

    first = gates(T0)
    assert first["checks"] == (
        False,
        f"no passing conveyor check on {sha[:12]} with its [checks] configuration: run "
        "conveyor check on that commit",
    )
    assert first["soak"][0] is False and "not what serves on staging" in first["soak"][1]
    assert first["migrations"] == (True, "0002")

    for passed, config in ((False, checks_digest(shop)), (True, "sha256:other")):
        store.record_check(
            commit=sha,
            config=config,
            passed=passed,
            started_at=T0,
            finished_at=T0,
            summary="",
        )
    # A failed check, and a pass under other [checks]: neither holds.
    assert gates(T0)["checks"][0] is False
    store.record_check(
        commit=sha,
        config=checks_digest(shop),
        passed=True,
        started_at=T0,
        finished_at=T0,
        summary="",
    )
    assert gates(T0)["checks"] == (
        True,
        f"conveyor check passed on {sha[:12]} at 2026-12-06 09:00:00Z",
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
