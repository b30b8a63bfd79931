"""`conveyor notify status | send | retry | test`: the notifications' outbox; and the few
seconds a deploy, rollback or recover gives its notifications before it exits."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.output import err, out
from conveyor.errors import ConveyorError
from conveyor.history.records import URL_VARIABLE, default_path
from conveyor.project.load import Project, load_project

if TYPE_CHECKING:
    from conveyor.notify.outbox import Letter
    from conveyor.notify.sender import Drained

app = typer.Typer(
    help="Notifications: what waits to be sent, dead letters, sending now, a test message.",
    no_args_is_help=True,
)

# What a deploy, rollback or recover waits for its notifications, at most (plus one attempt).
AFTER_COMMAND = 5.0
WAIT = typer.Option(30.0, "--wait", min=1.0, metavar="SECONDS", help="Send for at most this long.")


@contextmanager
def notifying(project: Project) -> Iterator[None]:
    """Around a deploy, rollback or recover: afterwards, however it ended (but Ctrl-C), what
    the outbox holds is sent for a few seconds. It never changes how the command exits."""
    stopped = False
    try:
        yield
    except KeyboardInterrupt:
        stopped = True
        raise
    finally:
        if not stopped:
            _send_quietly(project)


def _send_quietly(project: Project) -> None:
    try:
        done = drain(project, AFTER_COMMAND)
    except KeyboardInterrupt:
        err().print("notifications: left for later (conveyor notify send)", markup=False)
        return
    except Exception as error:  # a notification must never change how a deploy ends
        line = str(error).splitlines()[0] if str(error) else type(error).__name__
        err().print(f"notifications: not sent ({line}); conveyor notify status", markup=False)
        return
    if done is not None and (done.sent or done.left or done.dead):
        err().print(f"notifications: {summary(done)}", markup=False)


def drain(project: Project, budget: float) -> Drained | None:
    """Send what the project's outbox holds for at most `budget` seconds; None when there
    is no history yet (none is made for asking) or nothing waits."""
    if not _recorded(project):
        return None
    from conveyor.history.store import HistoryStore
    from conveyor.notify.outbox import count_pending
    from conveyor.notify.sender import Sender
    from conveyor.notify.targets import values_for

    with HistoryStore.for_project(project.root) as store:
        with store.transaction() as session:
            if not count_pending(session):
                return None
        return Sender(store, values_for(project).expand).drain(budget)


def summary(done: Drained) -> str:
    """`2 sent, 1 pending (last error: json://...: answered HTTP 500 ...); ...` for a person."""
    parts = [f"{done.sent} sent"]
    if done.left:
        parts.append(f"{done.left} pending")
    if done.dead:
        parts.append(f"{done.dead} dead letter(s)")
    line = ", ".join(parts)
    if done.errors:
        line += f" (last error: {done.errors[-1]})"
    if done.dead:
        line += "; conveyor notify retry --all sends them again once fixed"
    elif done.left:
        line += "; conveyor notify send tries again, conveyor notify status shows them"
    return line


@app.command("status")
def status_command(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """What waits to be sent (oldest first), the dead letters with their last error, and how
    many were sent. Targets are shown as written: their $VARS are never expanded here."""
    project = load_project(project_dir(ctx))
    from conveyor.notify.outbox import Report, report

    found = Report((), (), 0)
    if _recorded(project):
        from conveyor.history.store import HistoryStore

        with HistoryStore.for_project(project.root) as store, store.transaction() as session:
            found = report(session)
    if as_json:
        data = {
            "sent": found.sent,
            "pending": [_letter_dict(letter) for letter in found.pending],
            "dead": [_letter_dict(letter) for letter in found.dead],
        }
        out().print_json(json.dumps(data))
        return
    console = out()
    console.print(f"sent: {found.sent}", markup=False)
    console.print(f"pending: {len(found.pending)}", markup=False)
    for letter in found.pending:
        if letter.held_by is not None:
            when = f"after #{letter.held_by}"
        else:
            when = f"next try {letter.next_at:%Y-%m-%d %H:%M:%S} UTC"
        console.print(f"  {_line(letter)}, {when}", markup=False)
        if letter.last_error:
            console.print(f"    last error: {letter.last_error}", markup=False)
    console.print(f"dead letters: {len(found.dead)}", markup=False)
    for letter in found.dead:
        console.print(f"  {_line(letter)}", markup=False)
        console.print(f"    last error: {letter.last_error}", markup=False)
    if found.dead:
        console.print("conveyor notify retry ID (or --all) sends them again", markup=False)


@app.command("send")
def send_command(ctx: typer.Context, wait: float = WAIT) -> None:
    """Send what is pending now, waiting for what falls due; exit 1 when some is left."""
    project = load_project(project_dir(ctx))
    done = drain(project, wait)
    if done is None:
        out().print("nothing to send", markup=False)
        return
    _finish(done)


@app.command("retry")
def retry_command(
    ctx: typer.Context,
    ids: list[int] | None = typer.Argument(None, metavar="[ID]...", help="Dead letters' ids."),
    every: bool = typer.Option(False, "--all", help="Every dead letter."),
    wait: float = WAIT,
) -> None:
    """Put dead letters back to pending (attempts counted again from 0) and send now."""
    if bool(ids) == every:
        raise ConveyorError(
            "name the dead letters to retry, or --all (not both)",
            hint="conveyor notify status lists them with their ids",
        )
    project = load_project(project_dir(ctx))
    revived = _revive(project, ids or None)
    if not revived:
        out().print("no dead letters", markup=False)
        return
    out().print(f"back to pending: {', '.join(f'#{i}' for i in revived)}", markup=False)
    done = drain(project, wait)
    if done is not None:
        _finish(done)


@app.command("test")
def test_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment."),
    wait: float = WAIT,
) -> None:
    """Send a test message to every target of ENV (whatever its `on`), through the outbox."""
    from conveyor.history.store import HistoryStore
    from conveyor.notify.notices import trial_notice
    from conveyor.notify.outbox import enqueue

    project = load_project(project_dir(ctx))
    notice = trial_notice(project.config, environment)
    if notice is None:
        raise ConveyorError(
            f"{environment} has no notify targets; nothing was sent",
            hint='add to conveyor.toml: [notify] targets = ["slack://$SLACK_WEBHOOK"] (or '
            f"environments.{environment}.notify)",
        )
    with HistoryStore.for_project(project.root) as store, store.transaction() as session:
        enqueue(session, [notice])
    done = drain(project, wait)
    out().print(f"test {notice.subject}: {summary(done) if done else 'nothing sent'}", markup=False)
    if done is None or done.left or done.dead:
        raise typer.Exit(1)


def _finish(done: Drained) -> None:
    out().print(summary(done), markup=False)
    if done.left or done.dead:
        raise typer.Exit(1)


def _revive(project: Project, ids: Sequence[int] | None) -> list[int]:
    if not _recorded(project):
        return []
    from conveyor.history.records import utcnow
    from conveyor.history.store import HistoryStore
    from conveyor.notify.outbox import revive

    with HistoryStore.for_project(project.root) as store, store.transaction() as session:
        return revive(session, ids, now=utcnow())


def _recorded(project: Project) -> bool:
    return bool(os.environ.get(URL_VARIABLE)) or default_path(project.root).exists()


def _line(letter: Letter) -> str:
    return (
        f"#{letter.id} {letter.key} {letter.environment} {letter.event} to {letter.target} "
        f"({letter.attempts} attempt(s))"
    )


def _letter_dict(letter: Letter) -> dict[str, object]:
    data = asdict(letter)
    data["created_at"] = letter.created_at.isoformat()
    data["next_at"] = letter.next_at.isoformat()
    return data
