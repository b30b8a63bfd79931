"""`conveyor metrics [ENV] [--days N] [--json]`: DORA's five figures from the history.

Without ENV: the environments of tier "production" in conveyor.toml; when none is, each
environment deployed in the window. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from conveyor.cli.context import project_dir
from conveyor.cli.history import duration, open_store, print_table
from conveyor.cli.output import out
from conveyor.history.metrics import Metrics, Spread, measure
from conveyor.project.load import Project, load_project

NO_BAND = {"deployment_rework_rate": "no DORA band"}


def register(app: typer.Typer) -> None:
    """Add the metrics command."""
    app.command("metrics")(metrics)


def metrics(
    ctx: typer.Context,
    environment: str | None = typer.Argument(
        None,
        metavar="[ENV]",
        help='One environment (default: those of tier "production", else each one deployed).',
    ),
    days: int = typer.Option(30, "--days", min=1, help="The window, in days up to now."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """DORA metrics: deployment frequency, lead time, failure rate, recovery time, rework."""
    project = load_project(project_dir(ctx))
    names = [environment] if environment else production(project)
    store = open_store(ctx, project.root)
    try:
        figures = measure(store, names, days=days)
    finally:
        if store is not None:
            store.close()
    if as_json:
        out().print_json(json.dumps([m.as_dict() for m in figures]))
        return
    console = out()
    if not any(m.deploys for m in figures):
        where = f" of {', '.join(names)}" if names else ""
        console.print(f"no deploys{where} in the last {days} days", markup=False)
        return
    for n, m in enumerate(figures):
        if n:
            console.print()
        console.print(heading(m, days), markup=False)
        if not m.deploys:
            continue
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("  figure", "value", "DORA band"):
            table.add_column(name, no_wrap=True)
        for cells in rows(m):
            table.add_row(*cells)
        print_table(table)


def production(project: Project) -> list[str] | None:
    """The environments of tier "production"; None (each one deployed) when there is none."""
    names = [
        name
        for name, env in project.config.environments.items()
        if env.resolved_tier == "production"
    ]
    return names or None


def heading(m: Metrics, days: int) -> str:
    """`production, last 30 days: 7 deploys (5 succeeded, 1 failed, 1 rolled back), 1 hotfix`."""
    if not m.deploys:
        return f"{m.environment}, last {days} days: no deploys"
    counts = [f"{m.succeeded} succeeded"]
    counts += [f"{m.failed} failed"] * bool(m.failed)
    counts += [f"{m.rolled_back} rolled back"] * bool(m.rolled_back)
    counts += [f"{m.running} running"] * bool(m.running)
    hotfixes = f", {plural(m.hotfixes, 'hotfix')}" if m.hotfixes else ""
    deploys = plural(m.deploys, "deploy")
    return f"{m.environment}, last {days} days: {deploys} ({', '.join(counts)}){hotfixes}"


def rows(m: Metrics) -> list[tuple[str, str, str]]:
    """Each figure as (name, value, band) cells; the lead time's parts indented under it."""
    bands = {k: v or NO_BAND.get(k, "not enough data") for k, v in m.bands().items()}
    lead, spans = m.lead_time, m.incidents
    unchecked = bool(lead.checks_unknown)
    rate = m.change_failure_rate
    rework = m.rework_rate
    of_deploys = plural(m.finished, "finished deploy")
    recovered = f"{len(spans.restored)} restored"
    if spans.open_for is not None:
        recovered += f", 1 open for {duration(spans.open_for)}"
    return [
        (
            "  deployment frequency",
            f"{m.per_day:.2f} a day, {m.per_day * 7:.2f} a week",
            bands["deployment_frequency"],
        ),
        (
            "  change lead time",
            spread(
                lead.changes,
                f"{plural(lead.changes.count, 'commit')}, {plural(lead.deploys, 'deploy')}",
            ),
            bands["change_lead_time"],
        ),
        (
            "    waiting for checks",
            spread(lead.checks, f"{lead.checks_unknown} without a passed check" * unchecked),
            "",
        ),
        ("    waiting for approval", spread(lead.approval, f"{lead.approved} approved"), ""),
        ("    deploying", spread(lead.deploying, ""), ""),
        (
            "  change failure rate",
            "-" if rate is None else f"{rate:.0%} ({m.failed_changes} of {of_deploys})",
            bands["change_failure_rate"],
        ),
        (
            "  failed deployment recovery time",
            spread(m.recovery, recovered, mean=True),
            bands["failed_deployment_recovery_time"],
        ),
        (
            "  deployment rework rate",
            "-" if rework is None else f"{rework:.0%} ({m.hotfixes} of {of_deploys})",
            bands["deployment_rework_rate"],
        ),
    ]


def spread(values: Spread, note: str, *, mean: bool = False) -> str:
    """`p50 3h12m, p90 2d04h (note)`, or `- (note)` without values."""
    if values.p50 is None or values.p90 is None:
        text = "-"
    else:
        text = f"p50 {duration(values.p50)}, p90 {duration(values.p90)}"
        if mean and values.mean is not None:
            text += f", mean {duration(values.mean)}"
    return f"{text} ({note})" if note else text


def plural(count: int, word: str) -> str:
    """`1 deploy`, `2 deploys`, `2 hotfixes`."""
    if count == 1:
        return f"1 {word}"
    return f"{count} {word}{'es' if word.endswith(('x', 's')) else 's'}"
