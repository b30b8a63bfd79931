"""`conveyor check`: the quality pipeline, the same on a laptop and in CI."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from conveyor.checks.plan import build_plan
from conveyor.checks.record import Subject, record, subject
from conveyor.checks.report import as_json, failure_text, status_line, summary
from conveyor.checks.runner import LOGS, Options, StepResult, run_plan
from conveyor.checks.step import Plan
from conveyor.checks.values import step_environ, with_values
from conveyor.checks.why import why as explain_why
from conveyor.cli.context import project_dir
from conveyor.cli.output import err, out
from conveyor.history.records import utcnow
from conveyor.project.load import Project, load_project

_STYLE = {
    "passed": "green",
    "cached": "cyan",
    "failed": "red",
    "blocked": "yellow",
    "running": "blue",
}


def register(app: typer.Typer) -> None:
    """Add `conveyor check`."""
    app.command("check")(check)


def check(
    ctx: typer.Context,
    steps: list[str] = typer.Argument(None, metavar="[STEP]...", help="Run only these steps."),
    fast: bool = typer.Option(False, "--fast", help="Only the fast steps (for pre-commit)."),
    as_json_: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    why: str | None = typer.Option(None, "--why", metavar="STEP", help="Explain a cache miss."),
    fix: bool = typer.Option(False, "--fix", help="Let formatters and linters rewrite files."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, cached or not."),
    python: list[str] = typer.Option(
        [], "--python", metavar="VERSION", help="Only these versions of the matrix."
    ),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="Parallel steps (cores)."),
    save_baseline: bool = typer.Option(
        False, "--save-baseline", help="Store this run's benchmarks as the branch's baseline."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and run nothing."),
) -> None:
    """Run the quality pipeline: format, lint, types, security, tests; exit 1 when a gate fails."""
    project = load_project(project_dir(ctx))
    root = project.root
    plan = build_plan(
        project.config.checks, root, only=steps or (), fast=fast, fix=fix, versions=python
    )
    console = out()
    # Read before the dry run stops, so that a missing or broken file fails both alike.
    environ = step_environ(project)
    plan = with_values(plan, project)
    if why is not None:
        asked = with_values(build_plan(project.config.checks, root, only=[why], fix=fix), project)
        lines = explain_why(asked, root, why)
        console.print("\n".join(lines), markup=False)
        return
    if dry_run:
        _print_notes(plan, err())
        console.print(plan.render() or "no steps to run", markup=False)
        return
    options = Options(use_cache=not no_cache, save_baseline=save_baseline, environ=environ)
    if jobs is not None:
        options = replace(options, jobs=jobs)
    # Only a run of the whole pipeline says something about a commit (checks/record.py).
    about = subject(root) if not (steps or fast or python) else Subject(None)
    started_at = utcnow()
    if as_json_:
        results = run_plan(plan, root, options, lambda result: None)
        report = as_json(results, warnings=plan.warnings, errors=plan.errors)
        console.print_json(json.dumps(report))
        _keep(project, about, ok=bool(report["ok"]), started_at=started_at, said=summary(results))
        raise typer.Exit(0 if report["ok"] else 1)
    _print_notes(plan, console)
    started = time.perf_counter()
    results = _run_with_display(plan, root, options, console)
    for result in results:
        if result.state == "failed":
            log = Path(LOGS) / f"{result.step.name}.log"
            console.print(failure_text(result, log=str(log)), markup=False, highlight=False)
    for result in results:
        for line in result.gate if result.state != "failed" else ():
            console.print(line, markup=False)
    ok = not plan.errors and all(r.ok for r in results)
    verdict = Text("ok" if ok else "FAILED", style="green" if ok else "bold red")
    elapsed = time.perf_counter() - started
    console.print(Text.assemble(verdict, f": {summary(results)} in {elapsed:.2f}s"))
    _keep(project, about, ok=ok, started_at=started_at, said=summary(results))
    raise typer.Exit(0 if ok else 1)


def _keep(project: Project, about: Subject, *, ok: bool, started_at: datetime, said: str) -> None:
    """Record the run in the history when it was about a commit; warn, never fail, when the
    history cannot be written."""
    finished_at = utcnow()
    if about.commit is not None:
        after = subject(project.root)  # --fix may have rewritten files, or a person did
        if after.commit != about.commit:
            about = Subject(None, after.why_not)
    if about.commit is None:
        if ok and about.why_not:  # a failed run's reason to re-run is the failure itself
            err().print(f"note: {about.why_not}", markup=False, style="dim")
        return
    warning = record(
        project,
        commit=about.commit,
        passed=ok,
        started_at=started_at,
        finished_at=finished_at,
        summary=said,
    )
    if warning is not None:
        err().print(f"warning: {warning}", markup=False)


def _print_notes(plan: Plan, console: Console) -> None:
    for warning in plan.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    for error in plan.errors:
        console.print(Text.assemble(("error: ", "bold red"), error))


def _run_with_display(
    plan: Plan, root: Path, options: Options, console: Console
) -> list[StepResult]:
    """A live table on a terminal; one line per finished step anywhere else (logs, CI)."""
    if not console.is_terminal:

        def line(result: StepResult) -> None:
            if result.state != "running":
                style = _STYLE[result.state]
                console.print(Text(status_line(result), style=style), markup=False)

        return run_plan(plan, root, options, line)
    states: dict[str, StepResult] = {}
    begun: dict[str, float] = {}

    def table() -> Table:
        grid = Table("step", "state", "time", title="conveyor check", title_justify="left")
        for step in plan.steps:
            result = states.get(step.name)
            if result is None:
                grid.add_row(step.name, Text("waiting", "dim"), "")
                continue
            if result.state == "running":
                seconds = time.perf_counter() - begun[step.name]
            else:
                seconds = result.duration
            shown = "" if result.state in ("cached", "blocked") else f"{seconds:.1f}s"
            grid.add_row(step.name, Text(result.state, _STYLE[result.state]), shown)
        return grid

    with Live(table(), console=console, refresh_per_second=8) as live:

        def update(result: StepResult) -> None:
            states[result.step.name] = result
            if result.state == "running":
                begun[result.step.name] = time.perf_counter()
            live.update(table())

        results = run_plan(plan, root, options, update)
        live.update(table())
    return results
