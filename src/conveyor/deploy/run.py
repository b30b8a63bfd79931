"""From a project and an environment's name to a planned, or a finished and recorded, deploy.

What a deploy is given and checks first is `deploy/preflight.py`."""

from __future__ import annotations

import asyncio
import getpass
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace

from conveyor.build import Prepared, write_release
from conveyor.deploy.changes import is_hotfix_ref, record_changes
from conveyor.deploy.events import Bus, Emit, Event
from conveyor.deploy.execute import (
    Executor,
    Outcome,
    Planner,
    RecoverFirst,
    Release,
    stops_deploy,
)
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target, check_python, closing, read_state
from conveyor.deploy.interrupted import interrupted_check
from conveyor.deploy.layout import idle_reason
from conveyor.deploy.plan import Inputs, Plan, views
from conveyor.deploy.preflight import (
    Access,
    Limit,
    Preflight,
    preflight,
    settings_for,
    targets_for,
    venv_key,
)
from conveyor.deploy.saved import digest
from conveyor.deploy.state import HostState
from conveyor.deploy.strategy import strategy
from conveyor.errors import ConveyorError
from conveyor.history.store import HistoryStore, releases_in_use
from conveyor.migrations.lint import Acceptance
from conveyor.project.load import Project


def deploy(
    project: Project,
    environment: str,
    *,
    ref: str = "HEAD",
    release_id: str | None = None,
    access: Access | None = None,
    watch: float | None = None,
    emit: Emit | None = None,
    kind: str = "deploy",
    force: bool = False,
    limit: Limit | None = None,
    overrides: Mapping[str, str] | None = None,
    saved: Inputs | None = None,
    accept: Acceptance | None = None,
    started: Callable[[str], None] | None = None,
    hotfix: bool = False,
) -> tuple[str, Outcome]:
    """Build (or load) a release, deploy it, and record the deploy; returns (deploy id, outcome).

    `saved`: what a saved plan was built from. The release, the values and the config this
    deploy uses must be those; once the hosts are locked, their states must be those the
    plan saw; and an interrupted deploy is not recovered first. Else nothing changes.
    `started`: told the deploy's id once it is recorded (before any host is touched).
    `hotfix`: an unplanned deploy made because of an incident; a deploy of a branch named
    hotfix/* or hotfix-* is one too."""
    checked = preflight(
        project,
        environment,
        ref=ref,
        release_id=release_id,
        limit=limit,
        overrides=overrides,
        accept=accept,
    )
    if saved is not None:
        now = {
            "release": checked.release.id,
            "values": digest(checked.rendered.text),
            "config": digest(project.config.model_dump_json()),
        }
        changed = [what for what, value in now.items() if getattr(saved, what) != value]
        if changed:
            raise ConveyorError(
                f"the saved plan no longer holds: its {', '.join(changed)} changed just now; "
                "nothing was done",
                hint=f"make a new plan: conveyor deploy {environment} --plan-out FILE",
            )
    only, left_out, env_text = checked.only, checked.left_out, checked.rendered.text
    built = checked.release
    if isinstance(built, Prepared):
        built = write_release(project, built, protect=releases_in_use(project.root))
    release = Release(
        id=built.id, version=built.version, path=built.path, venv_key=venv_key(project, built)
    )
    targets, roles = targets_for(project, environment, access or Access(), only=only)
    timing = settings_for(project, environment, watch=watch)
    # A saved plan was made for the hosts as they were: never recover under it.
    limited = bool(left_out) or saved is not None
    if kind == "deploy" and not hotfix and release_id is None:
        hotfix = is_hotfix_ref(project.root, ref)
    store, deploy_id = open_record(
        project,
        environment,
        kind=kind,
        hosts=[t.spec for t in targets],
        release=release.id,
        version=release.version,
        commit=built.commit,
        hotfix=hotfix and kind == "deploy",
    )
    if started is not None:
        started(deploy_id)
    executor = Executor(
        config=project.config,
        environment=environment,
        targets=targets,
        roles=roles,
        release=release,
        env_text=env_text,
        deploy_id=deploy_id,
        settings=timing,
        emit=recording(store, deploy_id, emit),
        planner=planner_for(
            project,
            environment,
            checked,
            ref=ref,
            targets=targets,
            roles=roles,
            timing=timing,
            limit=limit or Limit(),
            force=force,
            recover_first=not limited,
        ),
        expect=saved.hosts if saved is not None else None,
        interrupted=interrupted_check(project.root),
        lint=checked.lint,
    )
    if left_out:
        assert limit is not None
        said = f"{limit.describe()}: left out {', '.join(left_out)} (they keep what they run)"
        executor.emit(Event(None, "limit", "info", said))
    if kind == "deploy":  # a rollback --to brings no change: it goes back to one
        note = record_changes(
            store,
            deploy_id,
            root=project.root,
            environment=environment,
            commit=built.commit,
            commit_time=built.manifest.commit_time,
        )
        if note is not None:
            executor.emit(Event(None, "changes", "info", note))
    for given in checked.rendered.overrides:
        executor.emit(Event(None, "set", "info", f"--set {given}"))
    for spec, its_roles in checked.idle.items():
        executor.emit(Event(spec, "skip", "info", idle_reason(its_roles)))
    try:
        outcome = asyncio.run(
            closing(
                _recover_then_deploy(project, executor, emit, limited=limited),
                targets,
            )
        )
    except BaseException as error:
        # The record tells the truth even when conveyor itself is stopped or a host vanishes.
        store.finish(deploy_id, status="failed", message=f"deploy stopped: {error}")
        store.close()
        raise
    store.finish(deploy_id, status=outcome.status, message=outcome.message, cause=outcome.cause)
    store.close()
    return deploy_id, outcome


def open_record(
    project: Project,
    environment: str,
    *,
    kind: str,
    hosts: Sequence[str],
    release: str,
    version: str = "",
    commit: str = "",
    hotfix: bool = False,
) -> tuple[HistoryStore, str]:
    """The project's history, with a running record of this deploy or rollback by us, here.

    The store enqueues the record's notifications (conveyor.toml's `notify`) as it starts
    and finishes it, in the same transactions."""
    from conveyor.notify.notices import announcer

    store = HistoryStore.for_project(project.root, announce=announcer(project.config))
    deploy_id = store.start(
        environment=environment,
        kind=kind,
        release=release,
        version=version,
        commit=commit,
        hosts=hosts,
        user=getpass.getuser(),
        machine=socket.gethostname(),
        hotfix=hotfix,
    )
    return store, deploy_id


async def _recover_then_deploy(
    project: Project, executor: Executor, emit: Emit | None, *, limited: bool
) -> Outcome:
    """Deploy; when the locked hosts show an interrupted deploy, recover it first (on the
    same connections: or refuse, when the deploy is limited), then deploy."""
    from conveyor.deploy.recover import recover_before_deploy

    def show(event: Event) -> None:
        if emit is not None:
            emit(event)

    try:
        # The deploy's own locks read every host's state: most of the time nothing was
        # interrupted, and no look of recovery's own is needed.
        return await executor.run()
    except RecoverFirst:
        pass  # a stale lock, or what an interrupted deploy left: its locks are given back
    said = await recover_before_deploy(
        project, executor.environment, executor.targets, executor.roles, show, limited=limited
    )
    if said is not None:
        executor.emit(Event(None, "recover", "info", said))
    return await replace(executor, interrupted=None).run()


def recording(store: HistoryStore, deploy_id: str, emit: Emit | None) -> Bus:
    """The run's event bus: every event into the deploy's history (starts too: a deploy
    killed mid-step shows which step was running; written off the event loop), then `emit`."""

    def record(event: Event) -> None:
        store.event_later(
            deploy_id,
            kind=f"{event.step}:{event.status}",
            message=event.message,
            host=event.host,
            fields={"event": event.kind, **event.fields},
            seconds=event.seconds,
        )

    return Bus(record, *([emit] if emit is not None else []))


def plan_deploy(
    project: Project,
    environment: str,
    *,
    ref: str = "HEAD",
    release_id: str | None = None,
    access: Access | None = None,
    watch: float | None = None,
    limit: Limit | None = None,
    overrides: Mapping[str, str] | None = None,
    force: bool = False,
    saving: bool = False,
    accept: Acceptance | None = None,
) -> Plan:
    """The deploy's plan, after the deploy's own checks (failing as it fails), with what it
    was built from (a saved plan's digest covers it); hosts are only read. `saving`: the
    plan of a saved run, which never recovers an interrupted deploy first."""
    checked = preflight(
        project,
        environment,
        ref=ref,
        release_id=release_id,
        limit=limit,
        overrides=overrides,
        accept=accept,
    )
    commit = checked.release.commit if isinstance(checked.release, Prepared) else ""
    targets, roles = targets_for(project, environment, access or Access(), only=checked.only)
    timing = settings_for(project, environment, watch=watch)
    states = asyncio.run(closing(_read_states(targets, timing.max_failures), targets))
    inputs = Inputs(
        release=checked.release.id,
        commit=commit,
        values=digest(checked.rendered.text),
        config=digest(project.config.model_dump_json()),
        hosts={spec: s if isinstance(s, str) else asdict(s) for spec, s in states.items()},
        watch=watch,
        roles=(limit or Limit()).roles,
        limit_hosts=(limit or Limit()).hosts,
    )
    planner = planner_for(
        project,
        environment,
        checked,
        ref=ref,
        targets=targets,
        roles=roles,
        timing=timing,
        limit=limit or Limit(),
        inputs=inputs,
        force=force,
        recover_first=not checked.left_out and not saving,
    )
    plan = planner(states)
    if any(s.action == "migrate" and s.op for s in plan.steps):
        from conveyor.deploy.database import pending_in_plan  # it records with this module

        plan = pending_in_plan(project, environment, checked.lint, plan, access=access or Access())
    return plan


def planner_for(
    project: Project,
    environment: str,
    checked: Preflight,
    *,
    ref: str,
    targets: Sequence[Target],
    roles: Mapping[str, Sequence[str]],
    timing: Settings,
    limit: Limit,
    inputs: Inputs | None = None,
    force: bool = False,
    recover_first: bool = False,
) -> Planner:
    """The deploy's planner, from the hosts' states: the dry run and the deploy plan with it."""
    release = checked.release
    version = release.manifest.version if isinstance(release, Prepared) else release.version
    label = release.id
    if isinstance(release, Prepared):
        label = f"{version} ({ref} = {release.commit[:7]}, built at deploy)"

    def plan(states: Mapping[str, HostState | str]) -> Plan:
        hosts = views(
            [(t.spec, t.paths) for t in targets if t.spec in states],  # those still in it
            roles,
            states,
            listens={t.spec: t.listen for t in targets},
        )
        planner = strategy(project.config.environment(environment).strategy.kind)
        return planner(
            project.config,
            environment,
            release=label,
            release_id=release.id,
            version=version,
            venv_key=venv_key(project, release),
            hosts=hosts,
            env_keys=checked.rendered.keys,
            watch=timing.watch,
            keep_warm=timing.keep_warm,
            batch=timing.batch,
            max_failures=timing.max_failures,
            left_out={spec: roles[spec] for spec in checked.left_out if spec in roles},
            idle=checked.idle,
            limit=limit.describe(),
            overrides=checked.rendered.overrides,
            inputs=inputs,
            force=force,
            recover_first=recover_first,
            migrations_head=checked.head,
            migrations_refuse=sorted({f"{f.revision}:{f.rule}" for f in checked.lint.refused()}),
        )

    return plan


async def _read_states(targets: Sequence[Target], max_failures: int) -> dict[str, HostState | str]:
    """Each host's state; a host the deploy could not reach fails the dry run the same way."""

    async def connect(target: Target) -> ConveyorError | None:
        try:
            await target.conn.connect()
            await target.conn.open_files()  # as the deploy's connect: SFTP, or refused here
        except ConveyorError as error:
            return error
        return None

    refused = await asyncio.gather(*(connect(t) for t in targets))
    failed = [(t, e) for t, e in zip(targets, refused, strict=True) if e is not None]
    # The deploy's own rule, host by host: the error of the host that crossed the line.
    for number, (_, error) in enumerate(failed, start=1):
        if stops_deploy(number, len(targets) - number, max_failures):
            raise error
    up = [t for t, e in zip(targets, refused, strict=True) if e is None]
    # A host whose Python is older than the project needs fails here as the deploy would.
    await asyncio.gather(*(check_python(t) for t in up))
    read = await asyncio.gather(*(read_state(t) for t in up))
    states: dict[str, HostState | str] = {t.spec: s for t, s in zip(up, read, strict=True)}
    states.update({t.spec: f"connect: {e.message.splitlines()[0]}" for t, e in failed})
    return {t.spec: states[t.spec] for t in targets}
