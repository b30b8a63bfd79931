"""`conveyor metrics [ENV] [--days N] [--json]`: DORA figures from the deploy history."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from conveyor.cli.history import duration, open_store, print_table
from conveyor.cli.output import out
from conveyor.history.metrics import LEAD_TIME_NOTE, Metrics, measure


def register(app: typer.Typer) -> None:
    """Add the metrics command."""
    app.command("metrics")(metrics)


def metrics(
    ctx: typer.Context,
    environment: str | None = typer.Argument(
        None, metavar="[ENV]", help="One environment (default: each one deployed)."
    ),
    days: int = typer.Option(30, "--days", min=1, help="The window, in days up to now."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delivery (DORA) metrics: deploy frequency, change failure rate, time to restore."""
    store = open_store(ctx)
    figures: list[Metrics] = []
    if store is not None:
        try:
            figures = measure(store, environment, days=days)
        finally:
            store.close()
    if as_json:
        out().print_json(json.dumps([m.as_dict() for m in figures]))
        return
    console = out()
    if not any(m.deploys for m in figures):
        where = f" of {environment}" if environment else ""
        console.print(f"no deploys{where} in the last {days} days", markup=False)
        return
    table = Table(box=None, pad_edge=False, header_style="bold", title=f"last {days} days")
    for name in ("env", "deploys/day", "failure rate", "time to restore", "deploys", "incidents"):
        table.add_column(name, no_wrap=True)
    for m in figures:
        table.add_row(*row(m))
    print_table(table)
    console.print(f"note: {LEAD_TIME_NOTE}", markup=False, style="dim")


def row(m: Metrics) -> tuple[str, ...]:
    """One environment's figures as table cells."""
    rate = "-" if m.change_failure_rate is None else f"{m.change_failure_rate:.0%}"
    mttr = m.mean_time_to_restore
    counts = f"{m.succeeded} ok, {m.failed} failed" + (
        f", {m.running} running" if m.running else ""
    )
    incidents = f"{m.restores} restored" + (", 1 open" if m.unrestored else "")
    return (
        m.environment,
        f"{m.deployment_frequency:.2f}",
        rate,
        "-" if mttr is None else duration(mttr.total_seconds()),
        counts,
        incidents,
    )
