"""`conveyor scan [PATH...] [--fix]`: hard-coded configuration, found, grouped, rewritten."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.output import err, out
from conveyor.errors import ConfigError
from conveyor.project.load import CONFIG_NAME, Project, load_config_file
from conveyor.project.tools import detect_checks
from conveyor.settings.scan import report
from conveyor.settings.scan.engine import scan as run_scan
from conveyor.settings.scan.model import ScanResult, rank
from conveyor.settings.scan.suppress import BASELINE_NAME, read_baseline, write_baseline
from conveyor.settings.scan.walk import MAX_BYTES


class Format(str, Enum):
    """Output formats."""

    text = "text"
    json = "json"
    sarif = "sarif"


class FailOn(str, Enum):
    """The lowest severity that makes the exit code 1."""

    low = "low"
    medium = "medium"
    high = "high"
    never = "never"


def register(app: typer.Typer) -> None:
    """Add the scan command."""
    app.command("scan")(scan)


def scan(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        None, metavar="PATH", help="Files or directories (default: the project)."
    ),
    fmt: Format = typer.Option(Format.text, "--format", help="text, json or sarif."),
    fail_on: FailOn = typer.Option(FailOn.medium, "--fail-on", help="low, medium, high or never."),
    fix: bool = typer.Option(False, "--fix", help="Rewrite findings to settings references."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --fix: print the diff only."),
    split_urls: bool = typer.Option(
        False, "--split-urls", help="With --fix: split URLs with credentials into DB_* fields."
    ),
    groups: list[str] = typer.Option(
        [],
        "--group",
        metavar="GROUP",
        help="With --fix: only this group id or setting name (repeatable).",
    ),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        metavar="FILE",
        help=f"Baseline file (default: {BASELINE_NAME} if present).",
    ),
    write: bool = typer.Option(
        False, "--write-baseline", help="Record every current finding in the baseline."
    ),
    max_bytes: int = typer.Option(
        MAX_BYTES, "--max-size", metavar="BYTES", help="Skip files larger than this."
    ),
) -> None:
    """Find hard-coded URLs, hosts, ports and secrets; --fix rewrites them to settings."""
    root = project_dir(ctx)
    baseline_path = root / (baseline or BASELINE_NAME)
    known = read_baseline(baseline_path) if baseline or baseline_path.exists() else frozenset()
    if write:
        result = run_scan(root, paths or (), max_bytes=max_bytes)
        count = write_baseline(baseline_path, result.findings())
        out().print(f"wrote {baseline_path} ({count} fingerprints)", markup=False, emoji=False)
        raise typer.Exit(0)
    result = run_scan(root, paths or (), baseline=known, max_bytes=max_bytes)
    if fix:
        threshold = rank(fail_on.value)
        _fix(root, result, groups, threshold=threshold, split_urls=split_urls, dry_run=dry_run)
        if dry_run:
            raise typer.Exit(0)
        result = run_scan(root, paths or (), baseline=known, max_bytes=max_bytes)
    _render(result, fmt)
    threshold = rank(fail_on.value)
    failing = [f for f in result.findings() if rank(f.severity) >= threshold]
    raise typer.Exit(1 if failing else 0)


def _render(result: ScanResult, fmt: Format) -> None:
    if fmt is Format.json:
        out().print(report.dumps(report.to_json(result)), markup=False, emoji=False)
    elif fmt is Format.sarif:
        out().print(report.dumps(report.to_sarif(result)), markup=False, emoji=False)
    else:
        out().print(report.render_text(result), markup=False, emoji=False)
    if fmt is not Format.text:
        for item in result.skipped:
            err().print(f"{item.path}: skipped ({item.reason})", markup=False, emoji=False)


def _project(root: Path) -> Project | None:
    """The project's configuration when it has a conveyor.toml; scan works without one."""
    path = root / CONFIG_NAME
    return load_config_file(path) if path.is_file() else None


def _fix(
    root: Path,
    result: ScanResult,
    groups: list[str],
    *,
    threshold: int,
    split_urls: bool,
    dry_run: bool,
) -> None:
    """Plan the fix, then print its diff (--dry-run) or write it and list every file."""
    # libcst's codemod machinery takes about a second to import; a plain scan never needs it.
    from conveyor.settings.scan.apply import apply, diff
    from conveyor.settings.scan.fix import plan_fix
    from conveyor.settings.scan.target import find_target

    project = _project(root)
    spec = project.config.settings.class_ if project else None
    example = project.config.settings.example if project else ".env.example"
    # Imports are sorted by the project's own sorter: the one its gates run.
    use = project.config.checks.use if project else detect_checks(root).use
    target = find_target(root, spec)
    plan = plan_fix(
        root,
        result,
        target,
        only=groups,
        threshold=threshold,
        split_urls=split_urls,
        example=example,
        use=use,
    )
    if groups and not plan.fixed:
        raise ConfigError(
            f"no fixable group matches {', '.join(groups)}",
            hint="run conveyor scan to see the groups (the id or the setting name)",
        )
    console = out()
    if dry_run:
        console.print(diff(plan, root) or "nothing to fix", markup=False, emoji=False, end="")
        return
    apply(plan)
    for change in plan.changes:
        action = "created" if change.old is None else "changed"
        console.print(
            f"{action} {change.path.relative_to(root).as_posix()}", markup=False, emoji=False
        )
    if not plan.changes:
        # "nothing to fix" would contradict the findings listed next; say what --fix did.
        count = len(result.findings())
        text = "nothing to fix"
        if count:
            text = (
                f"--fix changed nothing: the {count} findings below are under --fail-on "
                "or need a person; --group GROUP fixes one group whatever its severity"
            )
        console.print(text, markup=False, emoji=False)
    for note in plan.notes:
        console.print(note, markup=False, emoji=False)
    for finding in plan.left:
        console.print(f"{finding.location()}: left as is; fix by hand", markup=False, emoji=False)
