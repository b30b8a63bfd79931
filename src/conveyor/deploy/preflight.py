"""What a deploy is given, checked before it touches a host: the hosts a limit selects,
their roles and connections, the environment's values, the release, and the timing.
`conveyor deploy` and its dry run make the same checks (`preflight`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conveyor.build import Prepared, load_release, prepare_release
from conveyor.build import Release as Built
from conveyor.build.release import APP
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import HostPaths, app_dir_for, has_work
from conveyor.errors import ConfigError
from conveyor.hosts.base import Connector
from conveyor.hosts.connect import connector_for
from conveyor.migrations.lint import Acceptance, Verdicts, lint
from conveyor.migrations.revisions import graph_of, single_head, version_dirs, versions_digest
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
    idle = idle_hosts(project, environment)  # they run nothing: not "left out"
    left_out = [h for h in everyone if h not in chosen and h not in idle]
    return [h for h in everyone if h in chosen], left_out


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
    head: str | None = None  # the head revision of the release's migrations
    lint: Verdicts = field(default_factory=Verdicts)  # the migrations' lint, what it refuses


def preflight(
    project: Project,
    environment: str,
    *,
    ref: str = "HEAD",
    release_id: str | None = None,
    limit: Limit | None = None,
    overrides: Mapping[str, str] | None = None,
    accept: Acceptance | None = None,
) -> Preflight:
    """Every check a deploy makes before it touches a host; the dry run makes the same ones.
    `accept`: the migration lint's findings the user accepted, and why."""
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
    head, verdicts = None, Verdicts()
    if project.config.migrations is not None:
        # Several heads would fail `alembic upgrade head` on the host, after the upload.
        ini = project.config.migrations.config
        files = _migration_files(release, ini)
        head = single_head(ini, files)
        accept = accept or Acceptance()
        graph = graph_of(ini, files)
        verdicts = Verdicts(
            tuple(lint(graph, files)),
            project.config.environment(environment).is_production_like,
            frozenset(accept.rules),
            accept.why,
            environment,
            graph,
            versions_digest(graph, files),
        )
    return Preflight(only, left_out, rendered, release, idle, head, verdicts)


def _migration_files(release: Built | Prepared, ini: str) -> dict[str, bytes]:
    """The release's files its migrations' graph is read from (`ini`, and the .py files of
    the directories it names), by their path in the project."""
    if isinstance(release, Prepared):
        return {f.path: f.data for f in release.files if f.path == ini or f.path.endswith(".py")}
    app = release.path / APP
    if not (app / ini).is_file():
        return {}
    files = {ini: (app / ini).read_bytes()}
    for folder in version_dirs(ini, files[ini].decode("utf-8", "replace")):
        for path in sorted((app / folder).glob("*.py")):
            files[f"{folder}/{path.name}"] = path.read_bytes()
    return files


def venv_key(project: Project, release: Built | Prepared) -> str:
    """The venv a release runs in on a host: its lock's hash and the app's Python."""
    lock_hash = release.manifest.lock_hash if isinstance(release, Prepared) else release.lock_hash
    return f"{lock_hash[:16]}-py{project.config.app.python or '3'}"
