"""`conveyor history [ENV]` and `conveyor history show DEPLOY_ID`: the record of deploys."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from conveyor.build.manifest import id_digest
from conveyor.cli.context import project_dir
from conveyor.cli.output import out
from conveyor.errors import ConveyorError
from conveyor.history.records import URL_VARIABLE, DeployEvent, DeployRecord, default_path
from conveyor.project.load import load_project

if TYPE_CHECKING:
    from conveyor.history.store import HistoryStore

USAGE = "[ENV | show DEPLOY_ID]"
STYLES = {"succeeded": "green", "failed": "red", "rolled_back": "yellow", "running": "cyan"}


def register(app: typer.Typer) -> None:
    """Add the history command."""
    app.command("history")(history)


def history(
    ctx: typer.Context,
    words: list[str] | None = typer.Argument(
        None, metavar="ENV | show DEPLOY_ID", help="An environment, or: show DEPLOY_ID."
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many deploys to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List past deploys, newest first; "history show DEPLOY_ID" prints one deploy's timeline."""
    args = list(words or [])
    if args[:1] == ["show"]:
        if len(args) != 2:
            raise typer.BadParameter("show takes one DEPLOY_ID", param_hint=USAGE)
        show(ctx, args[1], as_json=as_json)
        return
    if len(args) > 1:
        raise typer.BadParameter(f"expected one, got: {' '.join(args)}", param_hint=USAGE)
    store = open_store(ctx)
    records = [] if store is None else store.deploys(args[0] if args else None, limit=limit)
    if store is not None:
        store.close()
    if as_json:
        out().print_json(json.dumps([record_dict(r) for r in records]))
        return
    if not records:
        where = f" of {args[0]}" if args else ""
        out().print(f"no deploys{where} recorded yet", markup=False)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("id", "env", "kind", "release", "status", "started (UTC)", "took", "by"):
        table.add_column(name, no_wrap=True)
    table.add_column("message", no_wrap=True, overflow="ellipsis")
    for r in records:
        table.add_row(
            r.id,
            r.environment,
            kind_label(r),
            release_label(r.release, r.version),
            Text(r.status, STYLES[r.status]),
            when(r.started_at),
            "-" if r.duration is None else duration(r.duration),
            f"{r.user}@{r.machine}",
            first_line(r.message),
        )
    print_table(table)


def show(ctx: typer.Context, deploy_id: str, *, as_json: bool) -> None:
    """One deploy: its record, then its events as a timeline from its start."""
    store = open_store(ctx)
    if store is None:
        raise ConveyorError(
            f"no deploy {deploy_id!r}: nothing has been recorded in this project yet",
            hint='"conveyor deploy ENV" records each deploy',
        )
    try:
        record, events = store.get(deploy_id), store.events(deploy_id)
        changes = store.changes([deploy_id]).get(deploy_id, [])
    finally:
        store.close()
    if as_json:
        data = {
            "deploy": record_dict(record),
            "events": [event_dict(e) for e in events],
            "changes": [
                {"sha": c.sha, "committed_at": c.committed_at.isoformat(), "author": c.author}
                for c in changes
            ],
        }
        out().print_json(json.dumps(data))
        return
    console = out()
    console.print(Text.assemble((record.id, "bold"), "  ", (record.status, STYLES[record.status])))
    took = "running" if record.duration is None else duration(record.duration)
    rows = [
        ("env", f"{record.environment} ({record.kind}{', hotfix' * record.hotfix})"),
        ("release", release_detail(record)),
        ("hosts", ", ".join(record.hosts) or "-"),
        ("by", f"{record.user}@{record.machine}"),
        ("started", f"{when(record.started_at)} UTC, took {took}"),
        ("message", record.message or "-"),
    ]
    if record.cause is not None:
        rows.append(("cause", record.cause))
    if changes:
        newest = changes[0]
        rows.append(
            (
                "changes",
                f"{len(changes)} commit(s), newest {newest.sha[:12]} committed "
                f"{when(newest.committed_at)} UTC",
            )
        )
    for key, value in rows:
        console.print(f"  {key + ':':<9}{value}", markup=False)
    if events:
        console.print("events:", markup=False)
    for e in events:
        offset = f"+{duration((e.at - record.started_at).total_seconds())}"
        kind = e.kind.replace(":", " ")  # "lock:ok" -> "lock ok"
        console.print(f"  {offset:>9}  {e.host or '-'}  {kind}: {e.message}", markup=False)


def print_table(table: Table) -> None:
    """One row per line: a terminal fits the table to its width; a pipe gets every cell."""
    console = out()
    if not console.is_terminal:
        console.width = 1000
    console.print(table)


def open_store(ctx: typer.Context, root: Path | None = None) -> HistoryStore | None:
    """The project's history store (`root`: the project's, if loaded already); None when
    nothing was ever recorded (no file made)."""
    root = root or load_project(project_dir(ctx)).root
    from conveyor.history.store import HistoryStore  # SQLAlchemy loads only here

    if not os.environ.get(URL_VARIABLE) and not default_path(root).exists():
        return None
    return HistoryStore.for_project(root)


def record_dict(record: DeployRecord) -> dict[str, object]:
    """A record for JSON: times in ISO 8601, duration in seconds."""
    return {
        **{k: getattr(record, k) for k in record.__dataclass_fields__},
        "hosts": list(record.hosts),
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "duration_seconds": record.duration,
    }


def event_dict(event: DeployEvent) -> dict[str, object]:
    """An event for JSON."""
    return {
        "at": event.at.isoformat(),
        "host": event.host,
        "kind": event.kind,
        "message": event.message,
        "fields": event.fields,
        "seconds": event.seconds,
    }


def when(moment: datetime) -> str:
    """A UTC time to the second."""
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def duration(seconds: float) -> str:
    """12.3s, 4m05s, 2h03m, 3d04h."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def kind_label(record: DeployRecord) -> str:
    """`deploy`, `rollback`, ...; `deploy (hotfix)` for an unplanned deploy."""
    return f"{record.kind} (hotfix)" if record.hotfix else record.kind


def release_label(release: str, version: str) -> str:
    """`1.2.0 (3f2a9c1b2d4e)`: the version and its id's hash, each of which `rollback --to`
    takes; `r-1 (1.2.0)` for an id of another shape, `r-1`, or `-` when never known."""
    if not release:
        return "-"
    digest = id_digest(release, version)
    if digest is not None:
        return f"{version} ({digest})"
    return f"{release} ({version})" if version else release


def release_detail(record: DeployRecord) -> str:
    """The release line of `history show`, naming only what is known."""
    parts = [record.release or "-"]
    parts += [f"version {record.version}"] if record.version else []
    parts += [f"commit {record.commit}"] if record.commit else []
    return "  ".join(parts)


def first_line(message: str, width: int = 60) -> str:
    """The message's first line, cut to `width`."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."
