"""`conveyor notify status | send | retry | test` through main(), against a local receiver;
and the few seconds a deploy, rollback or recover gives its notifications on the way out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import typer

from conveyor.cli.notify import notifying
from conveyor.history import HistoryStore
from conveyor.notify.notices import announcer
from conveyor.project.load import load_project
from tests.conftest import Project
from tests.unit.notify.receiver import Receiver, Reply, receiving

SECRET = "hook-Zx8kq2LmP0vR7tY3wQ9nB4cH"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as started:
        yield started


@pytest.fixture
def project(make_project: Callable[..., Project], receiver: Receiver) -> Project:
    """Staging notifies the receiver of every deploy's start and end; its path is a secret."""
    return make_project(
        {
            "conveyor.toml": f"""\
                [app]
                name = "shop"

                [notify]
                targets = ["json://127.0.0.1:{receiver.port}/$HOOK"]
                on = ["started", "succeeded", "failed"]

                [environments.staging]
                hosts = {{ app = ["local"] }}

                [environments.production]
                hosts = {{ app = ["local"] }}
                notify = []
            """,
            ".env.staging": f"HOOK={SECRET}\n",
        }
    )


def deployed(project: Project, status: str = "failed") -> str:
    """A staging deploy recorded as the deploy commands record it: started, then finished."""
    config = load_project(project.root).config
    with HistoryStore.for_project(project.root, announce=announcer(config)) as store:
        deploy_id = store.start(
            environment="staging", kind="deploy", release="r-7", version="1.2.0",
            commit="3f2a9c1", hosts=["deploy@app-1"], user="alice", machine="laptop",
        )  # fmt: skip
        store.finish(deploy_id, status=status, message=f"deploy of 1.2.0 {status}")
    return deploy_id


def test_status_of_a_project_that_recorded_nothing_makes_no_history(project: Project) -> None:
    shown = project.run("notify", "status")
    assert (shown.code, shown.out) == (0, "sent: 0\npending: 0\ndead letters: 0\n")
    assert not (project.root / ".conveyor").exists()
    assert project.run("notify", "send").out == "nothing to send\n"


def test_a_dead_letter_is_shown_with_its_error_and_retried(
    project: Project, receiver: Receiver
) -> None:
    deploy_id = deployed(project)
    target = f"json://127.0.0.1:{receiver.port}/$HOOK"
    receiver.script = [Reply(404)]
    sent = project.run("notify", "send")
    assert sent.code == 1
    assert sent.out == (
        f"0 sent, 1 pending, 1 dead letter(s) (last error: {target}: answered HTTP "
        "404 Not Found); conveyor notify retry --all sends them again once fixed\n"
    )
    shown = project.run("notify", "status")
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[:2] == ["sent: 0", "pending: 1"]
    assert lines[2] == f"  #2 {deploy_id}:2 staging failed to {target} (0 attempt(s)), after #1"
    assert lines[3:] == [
        "dead letters: 1",
        f"  #1 {deploy_id}:1 staging started to {target} (1 attempt(s))",
        f"    last error: {target}: answered HTTP 404 Not Found",
        "conveyor notify retry ID (or --all) sends them again",
    ]
    data = json.loads(project.run("notify", "status", "--json").out)
    assert data["sent"] == 0
    assert [(d["id"], d["status"], d["held_by"]) for d in data["pending"] + data["dead"]] == [
        (2, "pending", 1),
        (1, "dead", None),
    ]
    retried = project.run("notify", "retry", "--all")
    assert (retried.code, retried.out) == (0, "back to pending: #1\n2 sent\n")
    assert receiver.keys_in_order() == [f"{deploy_id}:1", f"{deploy_id}:2"]
    assert project.run("notify", "status").out.startswith("sent: 2\npending: 0\n")
    said = sent.out + sent.err + shown.out + retried.out + json.dumps(data)
    assert SECRET not in said
    assert receiver.received[0].path == f"/{SECRET}"


def test_retry_needs_ids_or_all_and_names_only_dead_letters(project: Project) -> None:
    neither = project.run("notify", "retry")
    assert neither.code == 1
    assert neither.err == (
        "error: name the dead letters to retry, or --all (not both)\n"
        "conveyor notify status lists them with their ids\n"
    )
    assert project.run("notify", "retry", "3", "--all").code == 1
    assert project.run("notify", "retry", "3").out == "no dead letters\n"  # no history yet
    deployed(project)
    pending = project.run("notify", "retry", "1")
    assert (pending.code, pending.err.splitlines()[0]) == (
        1,
        "error: notification 1 is pending, not a dead letter; nothing was changed",
    )


def test_a_test_message_goes_to_every_target(project: Project, receiver: Receiver) -> None:
    tried = project.run("notify", "test", "staging")
    assert tried.code == 0, tried.err
    assert tried.out.startswith("test t-") and tried.out.endswith(": 1 sent\n")
    [got] = receiver.received
    assert got.title == "staging: test" and "a test message from conveyor" in got.message
    none = project.run("notify", "test", "production")
    assert none.code == 1
    assert none.err.splitlines()[0] == "error: production has no notify targets; nothing was sent"


def test_a_command_s_notifications_go_on_its_way_out_whatever_its_exit(
    project: Project, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_id = deployed(project, status="succeeded")
    loaded = load_project(project.root)
    with pytest.raises(typer.Exit) as exited, notifying(loaded):
        raise typer.Exit(1)
    assert exited.value.exit_code == 1
    assert receiver.keys_in_order() == [f"{deploy_id}:1", f"{deploy_id}:2"]
    assert capsys.readouterr().err == "notifications: 2 sent\n"
    # Ctrl-C: nothing is sent on the way out.
    later = deployed(project)
    with pytest.raises(KeyboardInterrupt), notifying(loaded):
        raise KeyboardInterrupt
    assert f"{later}:1" not in receiver.keys_in_order()


def test_a_notification_that_cannot_be_sent_never_changes_the_exit(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed(project)
    loaded = load_project(project.root)
    monkeypatch.setenv("CONVEYOR_HISTORY_URL", "sqlite:////nonexistent/dir/h.db")
    with notifying(loaded):
        pass
    err = capsys.readouterr().err
    assert err.startswith("notifications: not sent (cannot open history database ")
    assert err.endswith("; conveyor notify status\n")
