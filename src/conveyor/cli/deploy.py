"""`conveyor deploy ENV`: build, ship, switch, watch — or put everything back."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from conveyor.cli.config import set_option
from conveyor.cli.context import project_dir
from conveyor.cli.notify import notifying
from conveyor.cli.output import err, out
from conveyor.cli.progress import Progress
from conveyor.errors import ConveyorError
from conveyor.project.load import Project, load_project
from conveyor.settings.resolve import parse_overrides

if TYPE_CHECKING:  # the deploy engine (asyncssh, SQLAlchemy) loads only when a command runs
    from conveyor.deploy.execute import Outcome
    from conveyor.deploy.preflight import Access
    from conveyor.gates.trust import Trust


def register(app: typer.Typer) -> None:
    """Add deploy, status, unlock and recover."""
    app.command("deploy")(deploy_command)
    app.command("status")(status_command)
    app.command("unlock")(unlock_command)
    app.command("recover")(recover_command)


def failure_lines(message: str, cause: str | None) -> list[str]:
    """The cause under a failure's summary, without the line the summary already says."""
    lines = (cause or "").splitlines()
    if lines and lines[0] in message:
        lines = lines[1:]
    return lines


def approval_in_force(project: Project, environment: str, resume: str | None) -> Trust | None:
    """The approval policy in force when deploys to `environment` wait for approvals;
    --resume elsewhere is refused."""
    from conveyor.gates.trust import in_force_here

    trust = in_force_here(project, environment)
    if trust is not None:
        return trust
    if resume is not None:
        raise ConveyorError(
            f"{environment} needs no approval: --resume {resume} runs an approval request",
            hint=f"deploy it with conveyor deploy {environment}",
        )
    return None


def given_flags(*flags: tuple[str, object]) -> list[str]:
    """The flags of `flags` (name, value) that were given, in order."""
    return [name for name, value in flags if value]


def carried(
    ref: str, release: str | None, watch: float | None, role: list[str], host: list[str]
) -> list[str]:
    """The options a saved plan or an approval request carries itself, where given."""
    return given_flags(
        ("--ref", ref != "HEAD"),
        ("--release", release),
        ("--watch", watch is not None),
        ("--role", role),
        ("--host", host),
    )


def access_options(known_hosts: Path | None, identity: Path | None) -> Access:
    """SSH access from the command line."""
    from conveyor.deploy.preflight import Access

    return Access(known_hosts=known_hosts, identity=identity)


def deploy_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment to deploy to."),
    ref: str = typer.Option("HEAD", "--ref", help="Git commit, branch or tag to build."),
    release: str | None = typer.Option(
        None, "--release", help="Deploy this built release: its version, id or id's hash."
    ),
    watch: float | None = typer.Option(
        None, "--watch", help="Seconds to watch after the switch (default: the strategy's)."
    ),
    known_hosts: Path | None = typer.Option(None, "--known-hosts", help="known_hosts file."),
    identity: Path | None = typer.Option(None, "--identity", "-i", help="SSH private key."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan (hosts only read) and change nothing."
    ),
    force: bool = typer.Option(
        False, "--force", help="Redeploy even when this release already serves everywhere."
    ),
    role: list[str] = typer.Option(
        [], "--role", metavar="ROLE", help="Deploy only to the hosts of this role (repeatable)."
    ),
    host: list[str] = typer.Option(
        [], "--host", metavar="HOST", help='Deploy only to this host, e.g. "app-2" (repeatable).'
    ),
    sets: list[str] = set_option(),
    plan_out: Path | None = typer.Option(
        None,
        "--plan-out",
        metavar="FILE",
        help="A dry run that also saves the plan (JSON with a digest) for --plan.",
    ),
    plan_file: Path | None = typer.Option(
        None,
        "--plan",
        metavar="FILE",
        help="Deploy exactly the saved plan: refused, naming what changed, unless planning "
        "again gives the same plan (release, values, config, every host's state).",
    ),
    accept: list[str] = typer.Option(
        [],
        "--accept",
        metavar="RULE",
        help="Go ahead with a pending migration the lint refuses: a rule (drop-column) or "
        "REVISION:RULE (repeatable); needs --why.",
    ),
    why: str = typer.Option("", "--why", help="Why the accepted findings are fine (recorded)."),
    resume: str | None = typer.Option(
        None,
        "--resume",
        metavar="ID",
        help="Run the approved request ID: refused, naming what changed, unless planning "
        "again gives the plan its approvers signed.",
    ),
    hotfix: bool = typer.Option(
        False,
        "--hotfix",
        help="Record an unplanned deploy made because of an incident (so is a deploy of a "
        "hotfix/* or hotfix-* branch); counted in the rework and change failure rates.",
    ),
) -> None:
    """Deploy a release: health-gated blue-green switch behind Caddy, automatic rollback."""
    from conveyor.deploy.preflight import Limit
    from conveyor.deploy.run import deploy, plan_deploy
    from conveyor.deploy.saved import check_saved
    from conveyor.migrations.lint import Acceptance

    accepted = Acceptance(tuple(accept), why)
    project = load_project(project_dir(ctx))
    limit = Limit(tuple(role), tuple(host))
    overrides = parse_overrides(sets)
    access = access_options(known_hosts, identity)
    trust = approval_in_force(project, environment, resume)
    if trust is not None and plan_out is None:
        from conveyor.cli.approve import approved_deploy
        from conveyor.gates.flow import Asked

        if plan_file is not None:
            raise ConveyorError(
                f"{environment} needs approvals: a saved plan runs once its request is approved",
                hint=f"drop --plan: conveyor deploy {environment} records this plan as a request",
            )
        if resume is not None:
            given = carried(ref, release, watch, role, host) + given_flags(
                ("--force", force), ("--accept", accept), ("--hotfix", hotfix)
            )
            if given:
                raise ConveyorError(
                    f"--resume {resume} runs the request's plan as it was approved: drop "
                    + ", ".join(given)
                )
        if not dry_run or resume is not None:
            asked = Asked(ref, release, watch, limit, overrides, access, accepted, force, hotfix)
            approved_deploy(project, environment, asked, resume=resume, dry_run=dry_run)
            return
    saved_inputs = None
    if plan_file is not None:
        given = carried(ref, release, watch, role, host) + given_flags(
            ("--dry-run", dry_run), ("--plan-out", plan_out is not None)
        )
        if given:
            raise ConveyorError(
                f"--plan {plan_file} carries the release, the watch and the hosts, and runs: "
                f"drop {', '.join(given)}"
            )
        saved = check_saved(
            project, environment, plan_file, access=access, overrides=overrides, accept=accepted
        )
        ref, release, watch, limit = saved.ref, saved.release_id, saved.watch, saved.limit
        saved_inputs = saved.inputs
        out().print(
            f"the saved plan {plan_file} holds ({saved.digest}): deploying it", markup=False
        )
    if dry_run or plan_out is not None:
        plan = plan_deploy(
            project,
            environment,
            ref=ref,
            release_id=release,
            access=access,
            watch=watch,
            limit=limit,
            overrides=overrides,
            force=force,
            saving=plan_out is not None,
            accept=accepted,
        )
        out().print(plan.render(), markup=False)
        if trust is not None:
            from conveyor.cli.approve import dry_run_note

            dry_run_note(project, environment, plan, trust)
        if plan_out is not None:
            from conveyor.deploy.saved import write

            out().print(
                f"\nsaved the plan to {plan_out} ({write(plan_out, plan)}); deploy exactly it "
                f"with conveyor deploy {environment} --plan {plan_out}",
                markup=False,
            )
        return
    with notifying(project):
        progress = Progress()
        try:
            deploy_id, outcome = deploy(
                project,
                environment,
                ref=ref,
                release_id=release,
                access=access,
                watch=watch,
                emit=progress,
                force=force,
                limit=limit,
                overrides=overrides,
                saved=saved_inputs,
                accept=accepted,
                hotfix=hotfix,
            )
        finally:
            progress.close()
        report(deploy_id, outcome, progress.elapsed())


def report(deploy_id: str, outcome: Outcome, took: str) -> None:
    """A finished deploy's summary; exit 1 unless it succeeded."""
    if outcome.status == "succeeded":
        for spec, why in outcome.left_out.items():
            err().print(f"warning: {spec} stays on its previous release: {why}", markup=False)
        out().print(f"deployed: {outcome.message} in {took} (deploy {deploy_id})", markup=False)
        return
    for line in failure_lines(outcome.message, outcome.cause):
        err().print(line, markup=False)
    err().print(
        Text.assemble(
            ("deploy failed", "bold red"),
            f" after {took}: {outcome.message}; recorded as {outcome.status}: "
            f"conveyor history show {deploy_id}",
        )
    )
    if outcome.hint:
        err().print(outcome.hint, markup=False)
    raise typer.Exit(1)


def status_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment."),
    known_hosts: Path | None = typer.Option(None, "--known-hosts", help="known_hosts file."),
    identity: Path | None = typer.Option(None, "--identity", "-i", help="SSH private key."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    check: bool = typer.Option(
        False, "--check", help="Exit 1 when a host is down (a program or supervisord not running)."
    ),
) -> None:
    """What each host runs, read from the hosts themselves; who holds the lock; never changes."""
    from conveyor.deploy.ops import age, interrupted, status

    project = load_project(project_dir(ctx))
    hosts = status(project, environment, access=access_options(known_hosts, identity))
    if as_json:
        rows = [
            {
                "host": host.host,
                "state": asdict(host.state) if host.state else None,
                "programs": dict(host.programs),
                "error": host.error,
                "lock": asdict(host.lock) if host.lock else None,
                "down": list(host.down),
                "services": dict(host.services),
            }
            for host in hosts
        ]
        out().print_json(json.dumps(rows))
        down = check and any(host.down for host in hosts)
        raise typer.Exit(1 if down or any(host.state is None for host in hosts) else 0)
    table = Table("host", "release", "colour", "previous", "switched", "health", "services")
    failed = False
    for host in hosts:
        if host.state is None:
            failed = True
            table.add_row(host.host, Text(host.error or "unreachable", "red"), "", "", "", "", "")
            continue
        state = host.state
        if host.down:
            failed = failed or check
            health = Text("stopped" if state.stopped_at else "down", "red")
        else:
            health = Text("up" if state.colour else "-", "green")
        shared = {st for st in host.services.values()} == {health.plain}
        services = Text(", ").join(  # "web, worker" when the health column says it all
            Text(name, "green" if st == "running" else "red")
            if st == "running" or shared
            else Text(f"{name} {st}", "red")
            for name, st in host.services.items()
        )
        release = state.version or state.release or "(never deployed)"
        if state.pending_release:
            release += f" (switch to {state.pending_release} pending)"
        table.add_row(
            host.host,
            release,
            state.colour or "-",
            state.previous_version or state.previous_release or "-",
            age(state.switched_at),
            health,
            services if host.services else Text("-"),
        )
    out().print(table)
    for host in hosts:
        if host.down:
            out().print(f"{host.host}: down: {'; '.join(host.down)}", markup=False)
        if host.lock is not None:
            what = "stale lock" if host.lock.stale else "locked"
            out().print(f"{host.host}: {what} by {host.lock.describe()}", markup=False)
    line = interrupted(project, environment, hosts)
    if line:
        err().print(Text(line, "bold red"))
    if failed:
        raise typer.Exit(1)


def unlock_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment."),
    known_hosts: Path | None = typer.Option(None, "--known-hosts", help="known_hosts file."),
    identity: Path | None = typer.Option(None, "--identity", "-i", help="SSH private key."),
    force: bool = typer.Option(
        False, "--force", help="Break the lock even while its deploy still heartbeats."
    ),
) -> None:
    """Break a deploy lock whose deploy stopped (a live one only with --force)."""
    from conveyor.deploy.ops import unlock

    project = load_project(project_dir(ctx))
    access = access_options(known_hosts, identity)
    for line in unlock(project, environment, access=access, force=force):
        out().print(line, markup=False)


def recover_command(
    ctx: typer.Context,
    environment: str = typer.Argument(..., metavar="ENV", help="Environment to recover."),
    known_hosts: Path | None = typer.Option(None, "--known-hosts", help="known_hosts file."),
    identity: Path | None = typer.Option(None, "--identity", "-i", help="SSH private key."),
) -> None:
    """After conveyor stopped mid-deploy: bring every host to one release, forward or back."""
    from conveyor.deploy.recover import recover

    project = load_project(project_dir(ctx))
    with notifying(project):
        progress = Progress()
        try:
            result = recover(
                project, environment, access=access_options(known_hosts, identity), emit=progress
            )
        finally:
            progress.close()
        if result.failed:
            err().print(Text.assemble(("recovery incomplete: ", "bold red"), result.message))
            left = ", ".join(result.failed)
            err().print(
                f"left to do on {left}: fix what is named above (conveyor status {environment} "
                f"shows the programs), then run conveyor recover {environment} again",
                markup=False,
            )
            raise typer.Exit(1)
        suffix = f" (recorded as {result.recover_id})" if result.recover_id else ""
        out().print(f"{result.message} in {progress.elapsed()}{suffix}", markup=False)
