"""`conveyor history` and `conveyor history show` through main()."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from conveyor.cli.history import release_label
from conveyor.history import Change, HistoryStore
from tests.conftest import Project
from tests.unit.history.conftest import T0, Clock

CONFIG = {
    "conveyor.toml": """\
        [app]
        name = "shop"
        python = "3.11"

        [environments.staging]
        hosts = { app = ["local"] }
    """
}


@pytest.fixture
def recorded(make_project: Callable[..., Project]) -> tuple[Project, list[str]]:
    """A project with three deploys: staging ok, production rolled back, production running."""
    project = make_project(CONFIG)
    clock = Clock()
    project.root.joinpath(".conveyor").mkdir(exist_ok=True)
    store = HistoryStore(f"sqlite:///{project.root / '.conveyor' / 'history.db'}", clock=clock)
    ids = []
    for environment, status in (
        ("staging", "succeeded"),
        ("production", "rolled_back"),
        ("production", None),
    ):
        deploy_id = store.start(
            environment=environment, kind="deploy", release="r-7", version="1.2.0",
            commit="3f2a9c1", hosts=["deploy@app-1"], user="alice", machine="laptop",
            message="fix the search\nsecond line",
        )  # fmt: skip
        clock.advance(2)
        store.event(deploy_id, kind="upload", message="12 files", host="deploy@app-1")
        clock.advance(123)
        if status:
            store.finish(
                deploy_id,
                status=status,
                message=f"{status} in the end",
                cause="HTTP 502" if status == "rolled_back" else None,
            )
        clock.advance(3600)
        ids.append(deploy_id)
    store.close()
    return project, ids


def test_lists_newest_first(recorded: tuple[Project, list[str]]) -> None:
    project, ids = recorded
    result = project.run("history")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    positions = [next(n for n, line in enumerate(lines) if i in line) for i in ids]
    assert positions == sorted(positions, reverse=True)
    row = lines[positions[1]]
    for cell in (
        "production",
        "rolled_back",
        "2m05s",
        "alice@laptop",
        "r-7 (1.2.0)",
        "2026-11-23 16:03:07",
    ):
        assert cell in row
    assert "fix the search" in lines[positions[2]] and "second line" not in result.out


def test_filters_by_environment_and_limits(recorded: tuple[Project, list[str]]) -> None:
    project, ids = recorded
    result = project.run("history", "production", "--limit", "1", "--json")
    assert result.code == 0, result.err
    [only] = json.loads(result.out)
    assert (only["id"], only["status"], only["finished_at"], only["hosts"]) == (
        ids[2],
        "running",
        None,
        ["deploy@app-1"],
    )
    assert only["started_at"] == (T0 + timedelta(seconds=2 * 3725)).isoformat()


def test_show_prints_the_record_and_the_timeline(recorded: tuple[Project, list[str]]) -> None:
    project, ids = recorded
    result = project.run("history", "show", ids[1])
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"{ids[1]}  rolled_back",
        "  env:     production (deploy)",
        "  release: r-7  version 1.2.0  commit 3f2a9c1",
        "  hosts:   deploy@app-1",
        "  by:      alice@laptop",
        "  started: 2026-11-23 16:03:07 UTC, took 2m05s",
        "  message: rolled_back in the end",
        "  cause:   HTTP 502",
        "events:",
        "      +2.0s  deploy@app-1  upload: 12 files",
    ]


def test_show_prints_event_kinds_as_words_never_emoji(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG)
    project.root.joinpath(".conveyor").mkdir(exist_ok=True)
    clock = Clock()
    with HistoryStore(f"sqlite:///{project.root / '.conveyor/history.db'}", clock=clock) as store:
        deploy_id = store.start(
            environment="staging", kind="deploy", release="r-7", version="1.2.0",
            commit="3f2a9c1", hosts=["local"], user="alice", machine="laptop", message="",
        )  # fmt: skip
        clock.advance(0.1)
        store.event(deploy_id, kind="lock:ok", message="locked staging on 1 host(s)")
        store.event(deploy_id, kind="venv:ok", message="built :smile:", host="local")
    result = project.run("history", "show", deploy_id)
    assert result.out.splitlines()[-2:] == [
        "      +0.1s  -  lock ok: locked staging on 1 host(s)",
        "      +0.1s  local  venv ok: built :smile:",
    ]


def test_show_json(recorded: tuple[Project, list[str]]) -> None:
    project, ids = recorded
    data = json.loads(project.run("history", "show", ids[0], "--json").out)
    assert data["deploy"]["duration_seconds"] == 125.0
    assert data["events"] == [
        {
            "at": (T0 + timedelta(seconds=2)).isoformat(),
            "host": "deploy@app-1",
            "kind": "upload",
            "message": "12 files",
            "fields": {},  # recorded without structured values or a duration
            "seconds": None,
        }
    ]


def test_show_an_unknown_id(recorded: tuple[Project, list[str]]) -> None:
    project, _ = recorded
    result = project.run("history", "show", "d-nope")
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: no deploy 'd-nope' in the history at sqlite:///{project.root / '.conveyor' / 'history.db'}",
        '"conveyor history" lists recent deploys and their ids',
    ]


def test_nothing_recorded_creates_nothing(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG)
    assert project.run("history").out == "no deploys recorded yet\n"
    assert project.run("history", "--json").out.strip() == "[]"
    result = project.run("history", "show", "d-1")
    assert result.code == 1
    assert "error: no deploy 'd-1': nothing has been recorded in this project yet" in result.err
    assert not (project.root / ".conveyor").exists()


def test_the_url_from_the_environment(
    make_project: Callable[..., Project], tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(CONFIG)
    url = f"sqlite:///{project.root.parent / 'shared.db'}"
    monkeypatch.setenv("CONVEYOR_HISTORY_URL", url)
    with HistoryStore(url) as store:
        store.start(
            environment="qa",
            kind="rollback",
            release="r",
            version="1",
            commit="c",
            hosts=[],
            user="bob",
            machine="ci",
        )
    result = project.run("history", "qa")
    assert result.code == 0 and "bob@ci" in result.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "show"], "Invalid value for [ENV | show DEPLOY_ID]: show takes one DEPLOY_ID"),
        (["history", "a", "b"], "Invalid value for [ENV | show DEPLOY_ID]: expected one, got: a b"),
    ],
)
def test_usage_errors(make_project: Callable[..., Project], argv: list[str], message: str) -> None:
    result = make_project(CONFIG).run(*argv)
    assert result.code == 2
    assert message in result.err


def test_help(make_project: Callable[..., Project]) -> None:
    result = make_project(CONFIG).run("history", "--help")
    assert result.code == 0
    assert "[ENV | show DEPLOY_ID]" in result.out and "--limit" in result.out


def test_the_release_is_its_version_and_its_id_s_hash() -> None:
    assert release_label("1.4.0_3.g1a2b3c4-3f2a9c1b2d4e", "1.4.0+3.g1a2b3c4") == (
        "1.4.0+3.g1a2b3c4 (3f2a9c1b2d4e)"
    )
    assert release_label("r-7", "1.2.0") == "r-7 (1.2.0)"
    assert release_label("r-7", "") == "r-7"
    assert release_label("", "") == "-"


def test_a_hotfix_and_the_commits_it_brought(make_project: Callable[..., Project]) -> None:
    project = make_project(CONFIG)
    project.root.joinpath(".conveyor").mkdir(exist_ok=True)
    clock = Clock()
    with HistoryStore(f"sqlite:///{project.root / '.conveyor/history.db'}", clock=clock) as store:
        deploy_id = store.start(
            environment="production", kind="deploy", release="r-8", version="1.2.1",
            commit="b" * 40, hosts=["local"], user="alice", machine="laptop", hotfix=True,
        )  # fmt: skip
        store.record_changes(
            deploy_id,
            [
                Change("a" * 40, T0 - timedelta(hours=2), "Ann <ann@example.com>"),
                Change("b" * 40, T0 - timedelta(minutes=30), "Bo <bo@example.com>"),
            ],
        )
    listed = project.run("history").out.splitlines()[1]
    assert listed.split()[1:4] == ["production", "deploy", "(hotfix)"]
    shown = project.run("history", "show", deploy_id).out.splitlines()
    assert shown[1] == "  env:     production (deploy, hotfix)"
    assert (
        shown[-1] == "  changes: 2 commit(s), newest bbbbbbbbbbbb committed 2026-11-23 14:31:02 UTC"
    )
    data = json.loads(project.run("history", "show", deploy_id, "--json").out)
    assert data["deploy"]["hotfix"] is True
    assert data["changes"][1] == {
        "sha": "a" * 40,
        "committed_at": (T0 - timedelta(hours=2)).isoformat(),
        "author": "Ann <ann@example.com>",
    }
