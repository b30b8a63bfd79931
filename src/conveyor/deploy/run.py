"""From a project and an environment's name to a finished, recorded deploy."""

from __future__ import annotations

import asyncio
import getpass
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from conveyor.build import Prepared, load_release, prepare_release, write_release
from conveyor.build import Release as Built
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.execute import Executor, Outcome, Planner, Release, stops_deploy
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target, check_python, closing, read_state
from conveyor.deploy.layout import HostPaths, app_dir_for, has_work, idle_reason
from conveyor.deploy.plan import Inputs, Plan, views
from conveyor.deploy.planner import build_plan
from conveyor.deploy.saved import differences, digest, document
from conveyor.deploy.saved import read as read_plan
from conveyor.deploy.state import HostState
from conveyor.errors import ConfigError, ConveyorError
from conveyor.history.store import HistoryStore
from conveyor.hosts.base import Connector
from conveyor.hosts.connect import connector_for
from conveyor.project.environment import EnvironmentConfig
from conveyor.project.fields import parse_host
from conveyor.project.load import Project
from conveyor.project.python import requires_python_text
from conveyor.settings.context import Rendered, checked_render
from conveyor.suggest import suggestion_suffix


@dataclass(frozen=True)
class Access:
    """How to reach SSH hosts: known_hosts and an identity (defaults: ~/.ssh)."""

    known_hosts: Path | None = None
    identity: Path | None = None


def rendered_env(
    project: Project, environment: str, *, overrides: Mapping[str, str] | None = None
) -> Rendered:
    """The environment's `.env` for the hosts (`overrides`: --set); refuses while `config check`
    finds errors."""
    rendered = checked_render(project, environment, overrides=overrides)
    if rendered.errors:
        first = rendered.errors[0]
        raise ConfigError(
            f"{rendered.env.display()} has {len(rendered.errors)} error(s), e.g. "
            f"{first.location()}: {first.message}; nothing was deployed",
            hint=f"run: conveyor config check {environment}",
        )
    return rendered


@dataclass(frozen=True)
class Limit:
    """`--role` / `--host`: the part of the environment a deploy is limited to."""

    roles: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()

    def describe(self) -> str:
        """`--role backend --host app-2`."""
        return " ".join(
            [*(f"--role {r}" for r in self.roles), *(f"--host {h}" for h in self.hosts)]
        )


def select_hosts(project: Project, environment: str, limit: Limit) -> tuple[list[str], list[str]]:
    """(hosts in the deploy, hosts left out): those with a role in `limit.roles` or named in
    `limit.hosts` ("app-2" matches "deploy@app-2:22"); everything without a limit."""
    env = project.config.environment(environment)
    everyone = list(dict.fromkeys(h for hosts in env.hosts.values() for h in hosts))
    if not limit.roles and not limit.hosts:
        return everyone, []
    chosen: set[str] = set()
    for role in limit.roles:
        if role not in env.hosts:
            known = ", ".join(env.hosts)
            raise ConfigError(
                f'--role {role}: {environment} has no role "{role}"'
                f"{suggestion_suffix(role, env.hosts)}; its roles: {known}",
                hint=f"the roles are the keys of [environments.{environment}.hosts]",
            )
        chosen.update(env.hosts[role])
    for wanted in limit.hosts:
        found = [h for h in everyone if wanted in (h, parse_host(h).host)]
        if not found:
            names = [parse_host(h).host for h in everyone]
            raise ConfigError(
                f"--host {wanted}: {environment} has no such host"
                f"{suggestion_suffix(wanted, names)}; its hosts: {', '.join(everyone)}",
                hint=f"the hosts are listed in [environments.{environment}.hosts]",
            )
        chosen.update(found)
    return [h for h in everyone if h in chosen], [h for h in everyone if h not in chosen]


def host_roles(project: Project, environment: str) -> dict[str, list[str]]:
    """Each distinct host of the environment with its roles, in the config's order."""
    roles: dict[str, list[str]] = {}
    for role, hosts in project.config.environment(environment).hosts.items():
        for host in hosts:
            roles.setdefault(host, []).append(role)
    return roles


def idle_hosts(project: Project, environment: str) -> dict[str, list[str]]:
    """Hosts with nothing to run (no service, sync or migrations of their roles), by roles."""
    roles = host_roles(project, environment)
    return {h: r for h, r in roles.items() if not has_work(project.config, roles, h)}


def targets_for(
    project: Project, environment: str, access: Access, *, only: Sequence[str] = ()
) -> tuple[list[Target], dict[str, list[str]]]:
    """One target per distinct host of the environment that has something to run (others
    get nothing: no tools, no release), and each host's roles."""
    config = project.config
    env = config.environment(environment)
    roles = host_roles(project, environment)
    python = f"python{config.app.python}" if config.app.python else "python3"
    requires = requires_python_text(project.root)
    targets = [
        Target(
            spec=spec,
            conn=(conn := _connector(project, env, spec, access)),
            # "~" in the app_dir is the home the host reports when connecting.
            paths=HostPaths(app_dir_for(config, env, spec, project.root), conn),
            python=python,
            requires=requires,
            listen=_listen(project, env, spec),
        )
        for spec in roles
        if (not only or spec in only) and has_work(config, roles, spec)
    ]
    return targets, roles


def _connector(project: Project, env: EnvironmentConfig, spec: str, access: Access) -> Connector:
    """The host's connector; one whose app_dir starts with "~" reads $HOME at connect."""
    app_dir = app_dir_for(project.config, env, spec, project.root)
    return connector_for(
        spec,
        known_hosts=access.known_hosts,
        identity=access.identity,
        ask_home=app_dir.startswith("~"),
    )


def _listen(project: Project, env: EnvironmentConfig, spec: str) -> dict[str, str]:
    """The host's own Caddy address per http service, from its table in `hosts`."""
    options = env.host_options(spec)
    found = {name: options.listen_for(name) for name in project.config.services}
    return {name: address for name, address in found.items() if address is not None}


def settings_for(project: Project, environment: str, *, watch: float | None = None) -> Settings:
    """The deploy's timing from the environment's strategy."""
    strategy = project.config.environment(environment).strategy
    return Settings(
        healthy_threshold=strategy.healthy_threshold,
        unhealthy_threshold=strategy.unhealthy_threshold,
        health_timeout=strategy.health_timeout.total_seconds(),
        watch=strategy.watch.total_seconds() if watch is None else watch,
        keep_warm=strategy.keep_previous_warm.total_seconds(),
        batch=strategy.batch,
        max_failures=strategy.max_failures,
    )


@dataclass(frozen=True)
class Preflight:
    """What the checks before touching any host found: hosts, values, the release to ship."""

    only: list[str]
    left_out: list[str]
    rendered: Rendered
    release: Built | Prepared  # Prepared: checked, written only by a real deploy
    idle: dict[str, list[str]]  # hosts with nothing to run, by roles: they get nothing


def preflight(
    project: Project,
    environment: str,
    *,
    ref: str = "HEAD",
    release_id: str | None = None,
    limit: Limit | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Preflight:
    """Every check a deploy makes before it touches a host; the dry run makes the same ones."""
    only, left_out = select_hosts(project, environment, limit or Limit())
    idle = idle_hosts(project, environment)
    if all(h in idle for h in only):
        raise ConfigError(
            f"{environment}: none of {', '.join(only)} has anything to run: no service, "
            "sync, migrations or release command names their roles; nothing was deployed",
            hint="give a service the roles of these hosts (services.NAME.roles)",
        )
    rendered = rendered_env(project, environment, overrides=overrides)
    if release_id:
        release: Built | Prepared = load_release(project, release_id)
    else:
        # The build's own checks (dirty tree, pins, tracked env files), nothing written yet.
        release = prepare_release(project, ref=ref, environment=environment)
    return Preflight(only, left_out, rendered, release, idle)


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
) -> tuple[str, Outcome]:
    """Build (or load) a release, deploy it, and record the deploy; returns (deploy id, outcome).

    `saved`: what a saved plan was built from. The release, the values and the config this
    deploy uses must be those; once the hosts are locked, their states must be those the
    plan saw; and an interrupted deploy is not recovered first. Else nothing changes."""
    checked = preflight(
        project, environment, ref=ref, release_id=release_id, limit=limit, overrides=overrides
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
        built = write_release(project, built)
    release = Release(
        id=built.id, version=built.version, path=built.path, venv_key=venv_key(project, built)
    )
    targets, roles = targets_for(project, environment, access or Access(), only=only)
    timing = settings_for(project, environment, watch=watch)
    # A saved plan was made for the hosts as they were: never recover under it.
    limited = bool(left_out) or saved is not None
    store, deploy_id = open_record(
        project,
        environment,
        kind=kind,
        hosts=[t.spec for t in targets],
        release=release.id,
        version=release.version,
        commit=built.commit,
    )
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
    )
    if left_out:
        assert limit is not None
        said = f"{limit.describe()}: left out {', '.join(left_out)} (they keep what they run)"
        executor.emit(Event(None, "limit", "info", said))
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
) -> tuple[HistoryStore, str]:
    """The project's history, with a running record of this deploy or rollback by us, here."""
    store = HistoryStore.for_project(project.root)
    deploy_id = store.start(
        environment=environment,
        kind=kind,
        release=release,
        version=version,
        commit=commit,
        hosts=hosts,
        user=getpass.getuser(),
        machine=socket.gethostname(),
    )
    return store, deploy_id


async def _recover_then_deploy(
    project: Project, executor: Executor, emit: Emit | None, *, limited: bool
) -> Outcome:
    """Finish an interrupted deploy first (on the same connections), then deploy."""
    from conveyor.deploy.recover import recover_before_deploy

    def show(event: Event) -> None:
        if emit is not None:
            emit(event)

    said = await recover_before_deploy(
        project, executor.environment, executor.targets, executor.roles, show, limited=limited
    )
    if said is not None:
        executor.emit(Event(None, "recover", "info", said))
    return await executor.run()


def recording(store: HistoryStore, deploy_id: str, emit: Emit | None) -> Callable[[Event], None]:
    """Every event into the deploy's history (starts too: a deploy killed mid-step shows
    which step was running), then to `emit`."""

    def record(event: Event) -> None:
        store.event_later(
            deploy_id,
            kind=f"{event.step}:{event.status}",
            message=event.message,
            host=event.host,
        )
        if emit is not None:
            emit(event)

    return record


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
) -> Plan:
    """The deploy's plan, after the deploy's own checks (failing as it fails), with what it
    was built from (a saved plan's digest covers it); hosts are only read. `saving`: the
    plan of a saved run, which never recovers an interrupted deploy first."""
    checked = preflight(
        project, environment, ref=ref, release_id=release_id, limit=limit, overrides=overrides
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
    return planner(states)


def venv_key(project: Project, release: Built | Prepared) -> str:
    """The venv a release runs in on a host: its lock's hash and the app's Python."""
    lock_hash = release.manifest.lock_hash if isinstance(release, Prepared) else release.lock_hash
    return f"{lock_hash[:16]}-py{project.config.app.python or '3'}"


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
        return build_plan(
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
        )

    return plan


@dataclass(frozen=True)
class SavedRun:
    """How to run a saved plan that still holds: its options and what it was built from."""

    ref: str
    release_id: str | None
    watch: float | None
    limit: Limit
    inputs: Inputs
    digest: str


def check_saved(
    project: Project,
    environment: str,
    path: Path,
    *,
    access: Access | None = None,
    overrides: Mapping[str, str] | None = None,
) -> SavedRun:
    """Plan again from what is true now; the saved plan runs only when the two are one plan,
    else the error names what changed (nothing is touched)."""
    saved = read_plan(path)
    was = saved["inputs"]
    # A release the plan would build comes from its commit; a built one by its id.
    ref, release_id = (str(was["commit"]), None) if was["commit"] else ("HEAD", str(was["release"]))
    limit = Limit(tuple(was["roles"]), tuple(was["limit_hosts"]))
    plan = plan_deploy(
        project,
        environment,
        ref=ref,
        release_id=release_id,
        access=access,
        watch=was["watch"],
        limit=limit,
        overrides=overrides,
        saving=True,
    )
    changed = differences(saved, document(plan))
    if changed:
        raise ConveyorError(
            f"{path}: the saved plan no longer holds: {'; '.join(changed)}; nothing was done",
            hint=f"make a new plan: conveyor deploy {environment} --plan-out {path}",
        )
    return SavedRun(ref, release_id, was["watch"], limit, Inputs(**was), str(saved["digest"]))


async def _read_states(targets: Sequence[Target], max_failures: int) -> dict[str, HostState | str]:
    """Each host's state; a host the deploy could not reach fails the dry run the same way."""

    async def connect(target: Target) -> ConveyorError | None:
        try:
            await target.conn.connect()
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
